"""Hidden suite for lab 2.3.6, decoding (instructor only).

Every case draws fresh inputs from `rng` (a new seed each run, replayable with ``--seed``) and
compares the implementation under test with the reference through `judge`, which names the
known mistake a wrong output matches. Besides the random cases, each mistake of the contract
has a deterministic case built so that it shows for every seed:

- temperature_multiply: temperatures away from 1 on non-zero logits;
- top_k_strict: logits with a tie that straddles the k-th place;
- top_p_drops_crossing: a nucleus of two tokens whose second token crosses p;
- repetition_sign: seen tokens with negative logits;
- greedy_no_pad: a batch in which one row emits EOS at step 1 and another does not, with a pad
  id that differs from both EOS and the token the finished row would otherwise get;
- beam_no_length_penalty: hypotheses of length >= 2 under length_penalty=2 (the scores differ
  by a factor len**2), plus a case chosen so that the ranking itself changes.

Models are :class:`autograder.tinylm.TinyLM` instances; sampling gets a torch.Generator on the
suite's device. Case construction uses the reference or the model only, never the code under
test.
"""
from __future__ import annotations

import pytest
import torch

from autograder.checking import CheckFailure
from autograder.inputs import draw, randn
from autograder.tinylm import TinyLM

DTYPES = [torch.float64, torch.float32, torch.bfloat16]
NEG_INF = float("-inf")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: intra-op threads cost more than they save on a busy grading machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def uniform(rng, low, high):
    return low + (high - low) * float(torch.rand((), generator=rng, dtype=torch.float64))


def tiny_lm(rng, vocab_size, **kwargs):
    return TinyLM.random(vocab_size=vocab_size, dim=8, generator=rng, **kwargs)


def prompts(rng, batch, length, vocab_size, device, avoid=None):
    ids = torch.randint(0, vocab_size, (batch, length), generator=rng)
    if avoid is not None:  # replace the EOS id so that no prompt starts finished
        ids = ids.masked_fill(ids == avoid, (avoid + 1) % vocab_size)
    return ids.to(device)


def check_unchanged(before, after, name):
    if not torch.equal(before.cpu(), after.cpu()):
        raise CheckFailure(f"{name} was modified in place; build a new tensor instead")


# --- apply_temperature ----------------------------------------------------------------------

TEMPERATURE = "decoding.apply_temperature"


@pytest.mark.function(TEMPERATURE)
@pytest.mark.parametrize("dtype", DTYPES)
def test_temperature_random(judge, rng, device, dtype):
    shape = [draw(rng, 1, 3) for _ in range(draw(rng, 0, 2))] + [draw(rng, 2, 40)]
    logits = randn(rng, *shape, scale=3.0, dtype=dtype, device=device)
    cold, hot = uniform(rng, 0.2, 0.8), uniform(rng, 1.25, 4.0)
    judge.compare(TEMPERATURE, logits, cold)
    judge.compare(TEMPERATURE, logits, hot)


@pytest.mark.function(TEMPERATURE)
def test_temperature_fixed_example(judge, device):
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.25, 3.0, -4.0]], device=device)
    judge.compare(TEMPERATURE, logits, 0.5)
    judge.compare(TEMPERATURE, logits, 1.0)
    judge.compare(TEMPERATURE, logits, 3)  # an int temperature is a number too


@pytest.mark.function(TEMPERATURE)
@pytest.mark.parametrize("temperature", [0.0, -0.7])
def test_temperature_not_positive_raises(judge, device, temperature):
    judge.raises(TEMPERATURE, ValueError, torch.zeros(2, 5, device=device), temperature)


@pytest.mark.function(TEMPERATURE)
def test_temperature_leaves_input_unchanged(impl, rng, device):
    logits = randn(rng, 3, 9, device=device)
    before = logits.clone()
    impl.decoding.apply_temperature(logits, 0.6)
    check_unchanged(before, logits, "logits")


# --- top_k_filter ---------------------------------------------------------------------------

TOP_K = "decoding.top_k_filter"


@pytest.mark.function(TOP_K)
@pytest.mark.parametrize("dtype", DTYPES)
def test_top_k_random_with_ties(judge, rng, device, dtype):
    vocab = draw(rng, 4, 30)
    shape = [draw(rng, 1, 4) for _ in range(draw(rng, 1, 2))] + [vocab]
    logits = torch.randint(-3, 4, shape, generator=rng).to(dtype).to(device)  # frequent ties
    for k in (1, draw(rng, 2, vocab - 1), vocab, vocab + draw(rng, 1, 5)):
        judge.compare(TOP_K, logits, k)


@pytest.mark.function(TOP_K)
@pytest.mark.parametrize("dtype", DTYPES)
def test_top_k_random_continuous(judge, rng, device, dtype):
    vocab = draw(rng, 8, 60)
    logits = randn(rng, draw(rng, 1, 5), vocab, scale=2.0, dtype=dtype, device=device)
    judge.compare(TOP_K, logits, draw(rng, 1, vocab))


@pytest.mark.function(TOP_K)
def test_top_k_tie_at_the_kth_place(judge, device):
    # the 2nd largest value (2.0) appears twice: both copies stay
    judge.compare(TOP_K, torch.tensor([1.0, 3.0, 2.0, 2.0, 0.5], device=device), 2)
    # the 3rd largest value (1.0) appears twice: 4 survivors
    judge.compare(TOP_K, torch.tensor([[0.0, 4.0, 1.0, -1.0, 1.0, 2.0]], device=device), 3)


@pytest.mark.function(TOP_K)
@pytest.mark.parametrize("k", [0, -3])
def test_top_k_not_positive_raises(judge, device, k):
    judge.raises(TOP_K, ValueError, torch.zeros(2, 5, device=device), k)


@pytest.mark.function(TOP_K)
def test_top_k_leaves_input_unchanged(impl, rng, device):
    logits = randn(rng, 3, 9, device=device)
    before = logits.clone()
    impl.decoding.top_k_filter(logits, 3)
    check_unchanged(before, logits, "logits")


# --- top_p_filter ---------------------------------------------------------------------------

TOP_P = "decoding.top_p_filter"
# how far p must stay from every row's cumulative masses: float rounding of the softmax and
# the cumulative sum (float32: ~1e-6; bfloat16 computed in bfloat16: up to ~2e-2 for 8 tokens)
P_MARGIN = {torch.float64: 1e-4, torch.float32: 1e-4, torch.bfloat16: 4e-2}


def nucleus_case(rng, rows, vocab, dtype, device):
    """Tie-free logits and a p far from every row's cumulative masses (the decision points).

    The masses are computed in float64 from the logits as stored in `dtype`; p is picked on a
    grid to maximise its distance to all of them, and the draw is repeated until the distance
    exceeds the rounding any correct implementation may add (HF's ascending cumulative sum,
    a descending one, float32 or bfloat16 arithmetic all decide alike then). p also exceeds
    every row's largest probability, so each nucleus holds at least two tokens and the token
    that crosses p is never one that min_tokens_to_keep=1 would keep anyway.
    """
    grid = torch.linspace(0.02, 0.98, 97, dtype=torch.float64)
    for _ in range(50):
        logits = randn(rng, rows, vocab, scale=2.0, dtype=dtype)
        if any(row.unique().numel() < vocab for row in logits):
            continue
        sorted_probs = logits.double().softmax(-1).sort(-1, descending=True).values
        masses = sorted_probs.cumsum(-1)[:, :-1].reshape(-1)  # (rows * (vocab - 1),)
        distance = (grid[:, None] - masses[None, :]).abs().min(dim=1).values  # (97,)
        # p above every row's top probability: the nucleus has >= 2 tokens in each row
        distance[grid <= sorted_probs[:, 0].max()] = 0.0
        best = int(distance.argmax())
        if distance[best] > P_MARGIN[dtype]:
            return logits.to(device), float(grid[best])
    raise RuntimeError("could not draw a top-p case with a safe p")


@pytest.mark.function(TOP_P)
@pytest.mark.parametrize("dtype", DTYPES)
def test_top_p_random(judge, rng, device, dtype):
    rows, vocab = (2, 8) if dtype == torch.bfloat16 else (draw(rng, 1, 4), draw(rng, 5, 40))
    logits, p = nucleus_case(rng, rows, vocab, dtype, device)
    judge.compare(TOP_P, logits, p)
    judge.compare(TOP_P, logits, p, min_tokens_to_keep=draw(rng, 2, 4))


@pytest.mark.function(TOP_P)
def test_top_p_keeps_the_crossing_token(judge, device):
    # sorted masses before each token: row 0 [0, 0.5, 0.8, 0.95], row 1 [0, 0.6, 0.85, 0.95]
    # p = 0.7 keeps two tokens per row; the second one crosses p
    probs = torch.tensor([[0.15, 0.5, 0.05, 0.3], [0.1, 0.6, 0.25, 0.05]], device=device)
    judge.compare(TOP_P, probs.log(), 0.7)
    judge.compare(TOP_P, probs.log().double(), 0.9)


@pytest.mark.function(TOP_P)
def test_top_p_extremes(judge, rng, device):
    logits = randn(rng, 3, 12, device=device)  # moderate logits: no probability underflows
    judge.compare(TOP_P, logits, 1.0)
    judge.compare(TOP_P, logits, 1e-4)
    judge.compare(TOP_P, logits, 1e-4, min_tokens_to_keep=3)
    judge.compare(TOP_P, logits, 0.5, min_tokens_to_keep=20)


@pytest.mark.function(TOP_P)
@pytest.mark.parametrize("p", [0.0, 1.2, -0.3])
def test_top_p_outside_unit_interval_raises(judge, device, p):
    judge.raises(TOP_P, ValueError, torch.zeros(2, 5, device=device), p)


# --- apply_repetition_penalty ---------------------------------------------------------------

PENALTY = "decoding.apply_repetition_penalty"


@pytest.mark.function(PENALTY)
@pytest.mark.parametrize("dtype", DTYPES)
def test_repetition_penalty_random(judge, rng, device, dtype):
    batch, vocab = draw(rng, 1, 4), draw(rng, 5, 30)
    logits = randn(rng, batch, vocab, scale=3.0, dtype=dtype, device=device)  # both signs
    input_ids = torch.randint(0, vocab, (batch, draw(rng, 1, 2 * vocab)), generator=rng).to(device)
    for penalty in (uniform(rng, 1.05, 3.0), uniform(rng, 0.3, 0.95)):
        judge.compare(PENALTY, logits, input_ids, penalty)


@pytest.mark.function(PENALTY)
def test_repetition_penalty_negative_logits(judge, device):
    logits = torch.tensor([[2.0, -1.0, 0.5, -3.0, -0.25], [-2.0, 1.0, -0.5, 3.0, 0.0]], device=device)
    input_ids = torch.tensor([[1, 0, 1, 4], [2, 2, 0, 4]], device=device)
    judge.compare(PENALTY, logits, input_ids, 2.0)
    judge.compare(PENALTY, logits, input_ids, 1.0)


@pytest.mark.function(PENALTY)
def test_repetition_penalty_leaves_inputs_unchanged(impl, rng, device):
    logits = randn(rng, 2, 7, device=device)
    input_ids = torch.randint(0, 7, (2, 5), generator=rng).to(device)
    before_logits, before_ids = logits.clone(), input_ids.clone()
    impl.decoding.apply_repetition_penalty(logits, input_ids, 1.5)
    check_unchanged(before_logits, logits, "logits")
    check_unchanged(before_ids, input_ids, "input_ids")


# --- greedy_decode --------------------------------------------------------------------------

GREEDY = "decoding.greedy_decode"


@pytest.mark.function(GREEDY)
def test_greedy_random_without_eos(judge, rng, device):
    vocab = draw(rng, 10, 30)
    model = tiny_lm(rng, vocab)
    input_ids = prompts(rng, draw(rng, 1, 4), draw(rng, 1, 5), vocab, device)
    judge.compare(GREEDY, model, input_ids, draw(rng, 1, 8))


@pytest.mark.function(GREEDY)
@pytest.mark.parametrize("default_pad", [False, True], ids=["pad", "pad=eos"])
def test_greedy_random_with_eos(judge, rng, device, default_pad):
    vocab = draw(rng, 10, 30)
    eos = draw(rng, 0, vocab - 1)
    model = tiny_lm(rng, vocab, bias={eos: uniform(rng, 0.5, 2.0)})  # EOS fires at some steps
    input_ids = prompts(rng, draw(rng, 2, 5), draw(rng, 1, 5), vocab, device, avoid=eos)
    pad = None if default_pad else (eos + draw(rng, 1, vocab - 1)) % vocab
    judge.compare(GREEDY, model, input_ids, draw(rng, 2, 9), eos_token_id=eos, pad_token_id=pad)


@pytest.mark.function(GREEDY)
def test_greedy_pads_finished_rows(judge, rng, device):
    """Row 0 emits EOS at step 1 while another row does not, so the loop goes on and row 0
    must be padded; the pad id differs from what row 0 would generate after EOS."""
    vocab = 16
    for _ in range(100):
        model = tiny_lm(rng, vocab)
        input_ids = prompts(rng, 3, 4, vocab, "cpu")
        first = model(input_ids)[:, -1].argmax(-1)  # (3,) step-1 tokens
        if bool((first[1:] != first[0]).any()):
            break
    else:
        raise RuntimeError("could not build a batch whose rows finish at different steps")
    eos = int(first[0])
    after_eos = int(model(torch.cat([input_ids[:1], first[:1, None]], 1))[0, -1].argmax())
    pad = next(t for t in range(vocab) if t not in (eos, after_eos))
    judge.compare(GREEDY, model, input_ids.to(device), 4, eos_token_id=eos, pad_token_id=pad)


@pytest.mark.function(GREEDY)
def test_greedy_one_step_and_input_unchanged(impl, judge, rng, device):
    model = tiny_lm(rng, 12)
    input_ids = prompts(rng, 2, 3, 12, device)
    before = input_ids.clone()
    judge.compare(GREEDY, model, input_ids, 1)
    impl.decoding.greedy_decode(model, input_ids, 3)
    check_unchanged(before, input_ids, "input_ids")


@pytest.mark.function(GREEDY)
@pytest.mark.parametrize("max_new_tokens", [0, -2])
def test_greedy_max_new_tokens_not_positive_raises(judge, rng, device, max_new_tokens):
    judge.raises(GREEDY, ValueError, tiny_lm(rng, 8), prompts(rng, 1, 2, 8, device), max_new_tokens)


# --- sample ---------------------------------------------------------------------------------

SAMPLE = "decoding.sample"
SAMPLE_SETTINGS = {
    "plain": dict(),
    "temperature": dict(temperature=0.6),
    "top_k": dict(top_k=4),
    "top_k_0": dict(top_k=0, top_p=1.0),
    "top_p": dict(top_p=0.7),
    "penalty": dict(repetition_penalty=1.5),
    "everything": dict(temperature=0.8, top_k=8, top_p=0.8, repetition_penalty=1.3),
    "greedy_like": dict(top_k=1, temperature=2.0),
}


@pytest.mark.function(SAMPLE)
@pytest.mark.parametrize("name", SAMPLE_SETTINGS)
def test_sample_random(judge, rng, device, name):
    vocab = draw(rng, 10, 30)
    eos = draw(rng, 0, vocab - 1)
    model = tiny_lm(rng, vocab, bias={eos: uniform(rng, 0.0, 1.5)})
    input_ids = prompts(rng, draw(rng, 1, 5), draw(rng, 1, 4), vocab, device, avoid=eos)
    generator = torch.Generator(device=device).manual_seed(draw(rng, 0, 2**31 - 2))
    pad = (eos + 1) % vocab if draw(rng, 0, 1) else None
    judge.compare(SAMPLE, model, input_ids, draw(rng, 1, 8), eos_token_id=eos,
                  pad_token_id=pad, generator=generator, **SAMPLE_SETTINGS[name])


@pytest.mark.function(SAMPLE)
def test_sample_without_eos(judge, rng, device):
    model = tiny_lm(rng, 20, scale=1.5)
    input_ids = prompts(rng, 3, 2, 20, device)
    generator = torch.Generator(device=device).manual_seed(draw(rng, 0, 2**31 - 2))
    judge.compare(SAMPLE, model, input_ids, 6, temperature=1.3, top_p=0.9, generator=generator)


@pytest.mark.function(SAMPLE)
@pytest.mark.parametrize("bad", [dict(max_new_tokens=0), dict(temperature=0.0), dict(top_p=0.0),
                                 dict(top_p=1.5)], ids=["max_new_tokens", "temperature", "top_p0", "top_p1.5"])
def test_sample_invalid_arguments_raise(judge, rng, device, bad):
    kwargs = {"max_new_tokens": 3, **bad}
    judge.raises(SAMPLE, ValueError, tiny_lm(rng, 8), prompts(rng, 1, 2, 8, device), **kwargs)


# --- beam_search ----------------------------------------------------------------------------

BEAM = "decoding.beam_search"
BEAM_CASES = [  # (num_beams, length_penalty, early_stopping, num_return_sequences)
    (2, 1.0, False, 1),
    (2, 0.5, True, 2),
    (3, 2.0, False, 3),
    (3, 1.0, True, 1),
    (4, 0.5, False, 4),
    (4, 2.0, True, 2),
    (3, 0.0, False, 2),
]


@pytest.mark.function(BEAM)
@pytest.mark.parametrize("num_beams, length_penalty, early_stopping, num_return", BEAM_CASES)
def test_beam_search_random(judge, rng, device, num_beams, length_penalty, early_stopping, num_return):
    vocab = draw(rng, 12, 30)
    eos = draw(rng, 0, vocab - 1)
    model = tiny_lm(rng, vocab, bias={eos: uniform(rng, 0.5, 2.5)})  # EOS ends some hypotheses
    input_ids = prompts(rng, 1, draw(rng, 1, 4), vocab, device, avoid=eos)
    judge.compare(BEAM, model, input_ids, num_beams, draw(rng, 2, 7), length_penalty=length_penalty,
                  eos_token_id=eos, early_stopping=early_stopping, num_return_sequences=num_return)


@pytest.mark.function(BEAM)
def test_beam_search_without_eos_scores(judge, rng, device):
    """Every hypothesis has max_new_tokens >= 2 tokens: with length_penalty=2 the scores are
    the sums divided by len**2, which a missing length penalty always gets wrong."""
    vocab = draw(rng, 12, 24)
    model = tiny_lm(rng, vocab)
    input_ids = prompts(rng, 1, 3, vocab, device)
    judge.compare(BEAM, model, input_ids, 3, draw(rng, 2, 5), length_penalty=2.0,
                  num_return_sequences=2)


@pytest.mark.function(BEAM)
def test_beam_search_length_penalty_changes_the_ranking(judge, ref, rng, device):
    """An EOS id (found with the reference alone) for which length_penalty 2 and 0 return
    different sequences, so the ranking itself depends on the length penalty."""
    vocab = 12
    model = tiny_lm(rng, vocab)
    input_ids = prompts(rng, 1, 3, vocab, "cpu")
    chosen = None
    for eos in range(vocab):
        args = (model, input_ids, 3, 5)
        long_first = ref.decoding.beam_search(*args, length_penalty=2.0, eos_token_id=eos, num_return_sequences=3)
        raw_sums = ref.decoding.beam_search(*args, length_penalty=0.0, eos_token_id=eos, num_return_sequences=3)
        if not torch.equal(long_first[0], raw_sums[0]):
            chosen = eos
            break
    judge.compare(BEAM, model, input_ids.to(device), 3, 5, length_penalty=2.0, eos_token_id=chosen,
                  num_return_sequences=3)


@pytest.mark.function(BEAM)
def test_beam_search_leaves_input_unchanged(impl, rng, device):
    model = tiny_lm(rng, 12)
    input_ids = prompts(rng, 1, 3, 12, device)
    before = input_ids.clone()
    impl.decoding.beam_search(model, input_ids, 2, 3)
    check_unchanged(before, input_ids, "input_ids")


@pytest.mark.function(BEAM)
@pytest.mark.parametrize("num_beams, num_return", [(0, 1), (2, 3)])
def test_beam_search_invalid_arguments_raise(judge, rng, device, num_beams, num_return):
    judge.raises(BEAM, ValueError, tiny_lm(rng, 8), prompts(rng, 1, 2, 8, device), num_beams, 3,
                 num_return_sequences=num_return)

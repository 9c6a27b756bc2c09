"""Public checks for lab 2.3.6, decoding (run: pytest exercises/checks/test_decoding.py).

Your functions are checked against small examples worked out by hand (the numbers are in the
comments), against properties every correct implementation has (top-k keeps the k largest,
top-p keeps the smallest set with mass >= p, greedy takes the argmax, sampling with the same
seed gives the same tokens), and for the errors the exercise asks for. The decoding loops run
on two kinds of model: tiny hand-made models whose next-token probabilities are written out
below, and ``TinyLM``, a small random causal language model (``autograder.tinylm``).
"""
from __future__ import annotations

import math

import pytest
import torch

from autograder.checking import CheckFailure, assert_close, expect_error
from autograder.tinylm import TinyLM

NEG_INF = float("-inf")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tensors are tiny: starting worker threads costs more than the work itself."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def check_unchanged(before, after, name):
    if not torch.equal(before, after):
        raise CheckFailure(f"{name} was modified in place; build a new tensor instead")


def kept(filtered):
    """Which entries a filter kept (those not set to -inf)."""
    return filtered != NEG_INF


class CountingModel:
    """Always predicts ``(last token + 1) % vocab_size`` with certainty (hand-checkable)."""

    def __init__(self, vocab_size=6):
        self.vocab_size = vocab_size

    def __call__(self, input_ids):
        following = (input_ids + 1) % self.vocab_size  # (B, T)
        logits = torch.full((*input_ids.shape, self.vocab_size), -10.0, device=input_ids.device)
        return logits.scatter(-1, following[..., None], 10.0)  # (B, T, V)


class TableModel:
    """Next-token probabilities looked up by the whole prefix; unknown prefixes are uniform."""

    def __init__(self, table, vocab_size=4):
        self.table = {prefix: torch.tensor(probs).log() for prefix, probs in table.items()}
        self.vocab_size = vocab_size

    def __call__(self, input_ids):
        batch, length = input_ids.shape
        uniform = torch.full((self.vocab_size,), -math.log(self.vocab_size))
        logits = torch.empty(batch, length, self.vocab_size)
        for b in range(batch):
            for t in range(length):
                prefix = tuple(input_ids[b, : t + 1].tolist())
                logits[b, t] = self.table.get(prefix, uniform)
        return logits.to(input_ids.device)


def tiny_lm(rng, vocab_size=12, **kwargs):
    return TinyLM.random(vocab_size=vocab_size, dim=8, generator=rng, **kwargs)


def check_long_sequences(got, batch, min_len, max_len, prompt, name="output"):
    if type(got) is not torch.Tensor:
        raise CheckFailure(f"{name}: got a {type(got).__name__}, expected a torch.Tensor")
    if got.dtype != torch.long:
        raise CheckFailure(f"{name}: got dtype {got.dtype}, expected torch.int64 (a LongTensor)")
    if got.dim() != 2 or got.shape[0] != batch or not min_len <= got.shape[1] <= max_len:
        raise CheckFailure(f"{name}: got shape {tuple(got.shape)}, expected ({batch}, L) with "
                           f"{min_len} <= L <= {max_len}")
    if not torch.equal(got[:, : prompt.shape[1]].cpu(), prompt.cpu()):
        raise CheckFailure(f"{name}: the prompt is not at the start of every row")


# --- apply_temperature ----------------------------------------------------------------------


@pytest.mark.function("decoding.apply_temperature")
def test_temperature_divides_the_logits(impl):
    logits = torch.tensor([2.0, -1.0, 0.5])
    # by hand: [2, -1, 0.5] / 0.5 = [4, -2, 1] and / 2 = [1, -0.5, 0.25]
    assert_close(impl.decoding.apply_temperature(logits, 0.5), torch.tensor([4.0, -2.0, 1.0]),
                 name="apply_temperature(x, 0.5)")
    assert_close(impl.decoding.apply_temperature(logits, 2.0), torch.tensor([1.0, -0.5, 0.25]),
                 name="apply_temperature(x, 2.0)")
    assert_close(impl.decoding.apply_temperature(logits, 1.0), logits, name="apply_temperature(x, 1.0)")


@pytest.mark.function("decoding.apply_temperature")
def test_low_temperature_sharpens(impl, rng):
    logits = torch.randn(4, 10, generator=rng)
    top = logits.softmax(-1).max(-1).values
    cold = impl.decoding.apply_temperature(logits, 0.5).softmax(-1).max(-1).values
    hot = impl.decoding.apply_temperature(logits, 2.0).softmax(-1).max(-1).values
    if not bool((cold > top).all() and (hot < top).all()):
        raise CheckFailure("temperature 0.5 must make the most likely token likelier and "
                           "temperature 2.0 less likely: got the opposite")


@pytest.mark.function("decoding.apply_temperature")
@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_temperature_keeps_dtype_and_input(impl, rng, dtype):
    logits = torch.randn(2, 3, 7, generator=rng).to(dtype)
    before = logits.clone()
    got = impl.decoding.apply_temperature(logits, 0.7)
    assert_close(got, before / 0.7, name="apply_temperature(x, 0.7)")  # shape, dtype, values
    check_unchanged(before, logits, "logits")


@pytest.mark.function("decoding.apply_temperature")
@pytest.mark.parametrize("temperature", [0.0, -1.0])
def test_temperature_must_be_positive(impl, temperature):
    exc = expect_error(ValueError, impl.decoding.apply_temperature, torch.zeros(3), temperature,
                       what=f"apply_temperature(x, {temperature})")
    if "greedy" not in str(exc).lower():
        raise CheckFailure(f"the error message should point to greedy decoding (temperature 0 "
                           f"means always taking the argmax); got: {exc}")


# --- top_k_filter ---------------------------------------------------------------------------


@pytest.mark.function("decoding.top_k_filter")
def test_top_k_keeps_ties_at_the_kth_value(impl):
    logits = torch.tensor([1.0, 3.0, 2.0, 2.0, 0.5])
    # the 2nd largest value is 2.0 and it appears twice: both copies are kept
    expected = torch.tensor([NEG_INF, 3.0, 2.0, 2.0, NEG_INF])
    assert_close(impl.decoding.top_k_filter(logits, 2), expected, name="top_k_filter(x, k=2)")
    expected = torch.tensor([NEG_INF, 3.0, NEG_INF, NEG_INF, NEG_INF])
    assert_close(impl.decoding.top_k_filter(logits, 1), expected, name="top_k_filter(x, k=1)")


@pytest.mark.function("decoding.top_k_filter")
@pytest.mark.parametrize("k", [5, 6, 50])
def test_top_k_at_least_vocab_keeps_everything(impl, k):
    logits = torch.tensor([[1.0, 3.0, 2.0, 2.0, 0.5], [0.0, -1.0, 4.0, 4.0, 4.0]])
    assert_close(impl.decoding.top_k_filter(logits, k), logits, name=f"top_k_filter(x, k={k}), V=5")


@pytest.mark.function("decoding.top_k_filter")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_top_k_keeps_the_largest_values(impl, rng, dtype):
    # small integers: ties are frequent, also at the k-th value
    logits = torch.randint(-3, 4, (2, 3, 12), generator=rng).to(dtype)
    before = logits.clone()
    k = 4
    got = impl.decoding.top_k_filter(logits, k)
    if type(got) is not torch.Tensor or got.shape != logits.shape or got.dtype != dtype:
        raise CheckFailure(f"top_k_filter: got {type(got).__name__} {getattr(got, 'shape', '')} "
                           f"{getattr(got, 'dtype', '')}, expected a {dtype} tensor of shape "
                           f"{tuple(logits.shape)}")
    check_unchanged(before, logits, "logits")
    keep = kept(got)
    if not torch.equal(got[keep], logits[keep]):
        raise CheckFailure("top_k_filter changed the value of a kept logit")
    kth = logits.sort(dim=-1, descending=True).values[..., k - 1 : k]  # the k-th largest
    for name, bad in (("dropped a logit >= the k-th largest", (logits >= kth) & ~keep),
                      ("kept a logit below the k-th largest", (logits < kth) & keep)):
        if bool(bad.any()):
            where = tuple(bad.nonzero()[0].tolist())
            raise CheckFailure(f"top_k_filter(k={k}) {name} at index {where} "
                               f"(row {logits[where[:-1]].tolist()})")


@pytest.mark.function("decoding.top_k_filter")
@pytest.mark.parametrize("k", [0, -2])
def test_top_k_must_be_positive(impl, k):
    expect_error(ValueError, impl.decoding.top_k_filter, torch.zeros(5), k, what=f"top_k_filter(x, k={k})")


# --- top_p_filter ---------------------------------------------------------------------------


@pytest.mark.function("decoding.top_p_filter")
def test_top_p_keeps_the_token_that_crosses_p(impl):
    logits = torch.tensor([0.5, 0.3, 0.15, 0.05]).log()
    # mass of the strictly more likely tokens: [0, 0.5, 0.8, 0.95]
    # p = 0.6: tokens 0 and 1 (0.5 < 0.6; token 1 brings the total to 0.8 >= 0.6)
    expected = logits.masked_fill(torch.tensor([False, False, True, True]), NEG_INF)
    assert_close(impl.decoding.top_p_filter(logits, 0.6), expected, name="top_p_filter(x, p=0.6)")
    # p = 0.9: tokens 0, 1, 2 (0.8 < 0.9)
    expected = logits.masked_fill(torch.tensor([False, False, False, True]), NEG_INF)
    assert_close(impl.decoding.top_p_filter(logits, 0.9), expected, name="top_p_filter(x, p=0.9)")
    # p = 0.3: token 0 alone already holds 0.5
    expected = logits.masked_fill(torch.tensor([False, True, True, True]), NEG_INF)
    assert_close(impl.decoding.top_p_filter(logits, 0.3), expected, name="top_p_filter(x, p=0.3)")


@pytest.mark.function("decoding.top_p_filter")
def test_top_p_works_on_each_row_and_any_order(impl):
    # the same probabilities as above, shuffled, plus a second row [0.1, 0.6, 0.25, 0.05]
    logits = torch.tensor([[0.15, 0.5, 0.05, 0.3], [0.1, 0.6, 0.25, 0.05]]).log()
    # p = 0.7, row 0: masses [0, 0.5, 0.8, 0.95] in sorted order -> keep 0.5 and 0.3
    #          row 1: masses [0, 0.6, 0.85, 0.95] -> keep 0.6 and 0.25
    drop = torch.tensor([[True, False, True, False], [True, False, False, True]])
    assert_close(impl.decoding.top_p_filter(logits, 0.7), logits.masked_fill(drop, NEG_INF),
                 name="top_p_filter(x, p=0.7)")


@pytest.mark.function("decoding.top_p_filter")
def test_top_p_min_tokens_to_keep(impl):
    logits = torch.tensor([0.5, 0.3, 0.15, 0.05]).log()
    # p = 0.1 alone keeps 1 token; min_tokens_to_keep=3 keeps the 3 most likely
    expected = logits.masked_fill(torch.tensor([False, False, False, True]), NEG_INF)
    assert_close(impl.decoding.top_p_filter(logits, 0.1, min_tokens_to_keep=3), expected,
                 name="top_p_filter(x, p=0.1, min_tokens_to_keep=3)")
    assert_close(impl.decoding.top_p_filter(logits, 1.0), logits, name="top_p_filter(x, p=1.0)")


@pytest.mark.function("decoding.top_p_filter")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_top_p_keeps_the_smallest_nucleus(impl, rng, dtype):
    logits = (2 * torch.randn(3, 16, generator=rng, dtype=torch.float64)).to(dtype)
    before = logits.clone()
    p = 0.75
    got = impl.decoding.top_p_filter(logits, p)
    if type(got) is not torch.Tensor or got.shape != logits.shape or got.dtype != dtype:
        raise CheckFailure(f"top_p_filter: expected a {dtype} tensor of shape {tuple(logits.shape)}")
    check_unchanged(before, logits, "logits")
    keep = kept(got)
    if not torch.equal(got[keep], logits[keep]):
        raise CheckFailure("top_p_filter changed the value of a kept logit")
    probs = logits.double().softmax(-1)
    for row in range(3):
        row_keep, row_probs = keep[row], probs[row]
        if row_keep.any() and (~row_keep).any() and row_probs[~row_keep].max() > row_probs[row_keep].min():
            raise CheckFailure(f"row {row}: a dropped token is more likely than a kept one")
        mass = row_probs[row_keep].sum().item()
        smallest = row_probs[row_keep].min().item()
        if mass < p - 1e-6:
            raise CheckFailure(f"row {row}: the kept tokens hold {mass:.4f} of the mass, expected >= p = {p}")
        if mass - smallest >= p + 1e-6:
            raise CheckFailure(f"row {row}: kept one token too many: without the least likely kept "
                               f"token the mass is still {mass - smallest:.4f} >= p = {p}")


@pytest.mark.function("decoding.top_p_filter")
@pytest.mark.parametrize("p", [0.0, 1.5, -0.2])
def test_top_p_must_be_a_probability(impl, p):
    expect_error(ValueError, impl.decoding.top_p_filter, torch.zeros(4), p, what=f"top_p_filter(x, p={p})")


# --- apply_repetition_penalty ---------------------------------------------------------------


@pytest.mark.function("decoding.apply_repetition_penalty")
def test_repetition_penalty_by_hand(impl):
    logits = torch.tensor([[2.0, -1.0, 0.5, -3.0]])
    input_ids = torch.tensor([[1, 0, 1]])
    # tokens 0 and 1 were seen: 2.0 / 2 = 1.0 and -1.0 * 2 = -2.0; tokens 2, 3 unchanged
    expected = torch.tensor([[1.0, -2.0, 0.5, -3.0]])
    assert_close(impl.decoding.apply_repetition_penalty(logits, input_ids, 2.0), expected,
                 name="apply_repetition_penalty(penalty=2.0)")
    # penalty 0.5 rewards repetition: 2.0 / 0.5 = 4.0 and -1.0 * 0.5 = -0.5
    expected = torch.tensor([[4.0, -0.5, 0.5, -3.0]])
    assert_close(impl.decoding.apply_repetition_penalty(logits, input_ids, 0.5), expected,
                 name="apply_repetition_penalty(penalty=0.5)")


@pytest.mark.function("decoding.apply_repetition_penalty")
def test_repetition_penalty_per_row_once_per_id(impl):
    logits = torch.tensor([[2.0, -1.0, 0.5, -3.0], [2.0, -1.0, 0.5, -3.0]])
    input_ids = torch.tensor([[3, 3, 3, 3], [2, 0, 2, 2]])
    before_logits, before_ids = logits.clone(), input_ids.clone()
    # row 0 saw token 3 (four times, penalised once): -3.0 * 1.5 = -4.5
    # row 1 saw tokens 0 and 2: 2.0 / 1.5 and 0.5 / 1.5
    expected = torch.tensor([[2.0, -1.0, 0.5, -4.5], [2.0 / 1.5, -1.0, 0.5 / 1.5, -3.0]])
    got = impl.decoding.apply_repetition_penalty(logits, input_ids, 1.5)
    assert_close(got, expected, name="apply_repetition_penalty(penalty=1.5)")
    check_unchanged(before_logits, logits, "logits")
    check_unchanged(before_ids, input_ids, "input_ids")


@pytest.mark.function("decoding.apply_repetition_penalty")
@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_repetition_penalty_lowers_seen_tokens(impl, rng, dtype):
    logits = (3 * torch.randn(3, 10, generator=rng)).to(dtype)
    input_ids = torch.randint(0, 10, (3, 6), generator=rng)
    got = impl.decoding.apply_repetition_penalty(logits, input_ids, 1.3)
    if type(got) is not torch.Tensor or got.shape != logits.shape or got.dtype != dtype:
        raise CheckFailure(f"apply_repetition_penalty: expected a {dtype} tensor of shape (3, 10)")
    seen = torch.zeros(3, 10, dtype=torch.bool)
    seen[torch.arange(3)[:, None], input_ids] = True
    if not torch.equal(got[~seen], logits[~seen]):
        raise CheckFailure("apply_repetition_penalty changed the logit of a token that was never seen")
    lowered = got[seen] < logits[seen]
    if not bool(lowered[logits[seen] != 0].all()):
        raise CheckFailure("with penalty > 1 every seen token's logit must go down (negative ones "
                           "too: multiply them by the penalty)")


# --- greedy_decode --------------------------------------------------------------------------


@pytest.mark.function("decoding.greedy_decode")
def test_greedy_pads_after_eos_and_stops_early(impl):
    model = CountingModel(vocab_size=6)  # next token = (last + 1) % 6
    input_ids = torch.tensor([[1], [3]])
    # row 0: 2, 3, 4=EOS (finishes at step 3); row 1: 4=EOS at step 1, then the pad id 0
    # every row has finished after step 3, so the loop stops before max_new_tokens=5
    expected = torch.tensor([[1, 2, 3, 4], [3, 4, 0, 0]])
    got = impl.decoding.greedy_decode(model, input_ids, 5, eos_token_id=4, pad_token_id=0)
    assert_close(got, expected, name="greedy_decode(eos=4, pad=0)")
    # without a pad id, finished rows are filled with the EOS id
    expected = torch.tensor([[1, 2, 3, 4], [3, 4, 4, 4]])
    got = impl.decoding.greedy_decode(model, input_ids, 5, eos_token_id=4)
    assert_close(got, expected, name="greedy_decode(eos=4, pad=None)")


@pytest.mark.function("decoding.greedy_decode")
def test_greedy_without_eos_runs_max_new_tokens(impl):
    model = CountingModel(vocab_size=6)
    got = impl.decoding.greedy_decode(model, torch.tensor([[1]]), 7)
    assert_close(got, torch.tensor([[1, 2, 3, 4, 5, 0, 1, 2]]), name="greedy_decode(no EOS)")


@pytest.mark.function("decoding.greedy_decode")
def test_greedy_takes_the_argmax_of_each_prefix(impl, rng):
    model = tiny_lm(rng)
    input_ids = torch.randint(0, 12, (3, 4), generator=rng)
    before = input_ids.clone()
    got = impl.decoding.greedy_decode(model, input_ids, 6)
    check_long_sequences(got, 3, 10, 10, input_ids, name="greedy_decode output")
    check_unchanged(before, input_ids, "input_ids")
    for t in range(4, 10):
        best = model(got[:, :t])[:, -1].argmax(-1)  # the argmax after each prefix
        if not torch.equal(got[:, t], best):
            raise CheckFailure(f"greedy_decode: token {t} is {got[:, t].tolist()}, but the argmax "
                               f"of the model's logits for the prefix is {best.tolist()}")


@pytest.mark.function("decoding.greedy_decode")
def test_greedy_needs_a_positive_max_new_tokens(impl):
    expect_error(ValueError, impl.decoding.greedy_decode, CountingModel(), torch.tensor([[1]]), 0,
                 what="greedy_decode(max_new_tokens=0)")


# --- sample ---------------------------------------------------------------------------------


def next_token_logits(model, prefix):
    return model(prefix)[:, -1].float()


@pytest.mark.function("decoding.sample")
def test_sample_is_reproducible_with_a_generator(impl, rng):
    model = tiny_lm(rng)
    input_ids = torch.randint(0, 12, (4, 3), generator=rng)
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=rng))
    torch.manual_seed(0)  # the global generator must not matter
    first = impl.decoding.sample(model, input_ids, 6, generator=torch.Generator().manual_seed(seed))
    torch.manual_seed(1)
    second = impl.decoding.sample(model, input_ids, 6, generator=torch.Generator().manual_seed(seed))
    check_long_sequences(first, 4, 9, 9, input_ids, name="sample output")
    assert_close(second, first, name="sample with the same generator seed")


@pytest.mark.function("decoding.sample")
def test_sample_with_top_k_1_is_greedy(impl, rng):
    model = tiny_lm(rng)
    input_ids = torch.randint(0, 12, (3, 2), generator=rng)
    got = impl.decoding.sample(model, input_ids, 5, temperature=1.7, top_k=1,
                               generator=torch.Generator().manual_seed(0))
    check_long_sequences(got, 3, 7, 7, input_ids, name="sample(top_k=1) output")
    for t in range(2, 7):
        best = next_token_logits(model, got[:, :t]).argmax(-1)
        if not torch.equal(got[:, t], best):
            raise CheckFailure(f"sample(top_k=1): token {t} is {got[:, t].tolist()}, expected the "
                               f"argmax {best.tolist()} (top-k with k=1 leaves one token)")


@pytest.mark.function("decoding.sample")
def test_sample_draws_only_from_the_top_k(impl, rng):
    model = tiny_lm(rng, vocab_size=20)
    input_ids = torch.randint(0, 20, (8, 2), generator=rng)
    got = impl.decoding.sample(model, input_ids, 5, top_k=3, generator=torch.Generator().manual_seed(1))
    check_long_sequences(got, 8, 7, 7, input_ids, name="sample(top_k=3) output")
    for t in range(2, 7):
        top3 = next_token_logits(model, got[:, :t]).topk(3, dim=-1).indices  # (B, 3)
        if not bool((top3 == got[:, t, None]).any(-1).all()):
            raise CheckFailure(f"sample(top_k=3): token {t} is not among the 3 most likely tokens")


@pytest.mark.function("decoding.sample")
def test_sample_follows_the_temperature(impl, rng):
    # 4000 one-step draws from one prompt: the frequencies estimate softmax(logits / T)
    # (standard error < 0.008 per token, so 0.05 leaves a wide margin)
    model = tiny_lm(rng, vocab_size=6, scale=1.0)
    prompt = torch.randint(0, 6, (1, 3), generator=rng).expand(4000, 3)
    logits = next_token_logits(model, prompt[:1])[0]
    for temperature in (0.5, 2.0):
        got = impl.decoding.sample(model, prompt, 1, temperature=temperature,
                                   generator=torch.Generator().manual_seed(7))
        check_long_sequences(got, 4000, 4, 4, prompt, name="sample output")
        freq = torch.bincount(got[:, -1], minlength=6).double() / 4000
        expected = (logits.double() / temperature).softmax(-1)
        if (freq - expected).abs().max() > 0.05:
            raise CheckFailure(f"sample(temperature={temperature}): token frequencies "
                               f"{[round(f, 3) for f in freq.tolist()]}, expected about "
                               f"{[round(e, 3) for e in expected.tolist()]}")


@pytest.mark.function("decoding.sample")
def test_sample_pads_after_eos(impl):
    model = CountingModel(vocab_size=6)  # certain next token: sampling equals greedy here
    got = impl.decoding.sample(model, torch.tensor([[1], [3]]), 5, eos_token_id=4, pad_token_id=0,
                               generator=torch.Generator().manual_seed(0))
    assert_close(got, torch.tensor([[1, 2, 3, 4], [3, 4, 0, 0]]), name="sample(eos=4, pad=0)")


@pytest.mark.function("decoding.sample")
def test_sample_rejects_bad_arguments(impl):
    ids = torch.tensor([[1]])
    expect_error(ValueError, impl.decoding.sample, CountingModel(), ids, 0, what="sample(max_new_tokens=0)")
    expect_error(ValueError, impl.decoding.sample, CountingModel(), ids, 3, temperature=0.0,
                 what="sample(temperature=0)")
    expect_error(ValueError, impl.decoding.sample, CountingModel(), ids, 3, top_p=0.0,
                 what="sample(top_p=0)")


# --- beam_search ----------------------------------------------------------------------------

# Prompt [3], vocabulary {0, 1, 2, 3}, EOS = 0 where used. Keys are whole prefixes.
TWO_STEP_TABLE = {
    (3,): [0.04, 0.5, 0.4, 0.06],
    (3, 1): [0.4, 0.3, 0.2, 0.1],
    (3, 2): [0.1, 0.8, 0.06, 0.04],
    (3, 2, 1): [0.5, 0.25, 0.15, 0.1],
    (3, 1, 1): [0.4, 0.3, 0.2, 0.1],
}


def unpack_beams(result, count):
    if not isinstance(result, tuple) or len(result) != 2:
        raise CheckFailure(f"beam_search: got {type(result).__name__}, expected a tuple (sequences, scores)")
    sequences, scores = result
    if type(scores) is not torch.Tensor or scores.dtype != torch.float32 or scores.shape != (count,):
        raise CheckFailure(f"beam_search scores: expected a float32 tensor of shape ({count},), got "
                           f"{getattr(scores, 'dtype', type(scores).__name__)} {tuple(getattr(scores, 'shape', ()))}")
    return sequences, scores


@pytest.mark.function("decoding.beam_search")
def test_beam_search_finds_what_greedy_misses(impl):
    model = TableModel(TWO_STEP_TABLE)
    # step 1: beams [3,1] (0.5) and [3,2] (0.4)
    # step 2 (last): [3,2,1] 0.4*0.8 = 0.32, [3,1,0] 0.5*0.4 = 0.2, [3,1,1] 0.15, ...
    # ranks 0 and 1 are finished by the length limit; score = log(prob) / 2 ** 1.0
    sequences, scores = unpack_beams(
        impl.decoding.beam_search(model, torch.tensor([[3]]), 2, 2, num_return_sequences=2), 2)
    assert_close(sequences, torch.tensor([[3, 2, 1], [3, 1, 0]]), name="beam_search sequences")
    assert_close(scores, torch.tensor([math.log(0.32) / 2, math.log(0.2) / 2]), name="beam_search scores")
    # length_penalty=2.0 divides by 2 ** 2 instead
    sequences, scores = unpack_beams(
        impl.decoding.beam_search(model, torch.tensor([[3]]), 2, 2, length_penalty=2.0), 1)
    assert_close(sequences, torch.tensor([[3, 2, 1]]), name="beam_search(length_penalty=2) sequences")
    assert_close(scores, torch.tensor([math.log(0.32) / 4]), name="beam_search(length_penalty=2) scores")


@pytest.mark.function("decoding.beam_search")
def test_beam_search_ranks_by_length_normalised_score(impl):
    model = TableModel(TWO_STEP_TABLE)
    # EOS = 0, num_beams = 2, max_new_tokens = 3, length_penalty = 1.0
    # step 1: top 4 = 1 (0.5), 2 (0.4), 3 (0.06), EOS (0.04): EOS has rank 3 >= 2, not finished
    # step 2: [3,2,1] 0.32, [3,1,0] 0.2 (EOS, rank 1: finished, score log(0.2)/2 = -0.805),
    #         [3,1,1] 0.15, [3,1,2] 0.1 -> running [3,2,1], [3,1,1]
    # step 3 (last): [3,2,1,0] 0.16, [3,2,1,1] 0.08, [3,1,1,0] 0.06 (rank 2: dropped), ...
    #         finished: [3,2,1,0] log(0.16)/3 = -0.611, [3,2,1,1] log(0.08)/3 = -0.842
    # best two: [3,2,1,0] (-0.611) and [3,1,0] (-0.805), padded with EOS.
    # (Raw sums would rank [3,1,0] first: log 0.2 = -1.61 > log 0.16 = -1.83.)
    result = impl.decoding.beam_search(model, torch.tensor([[3]]), 2, 3, eos_token_id=0,
                                       num_return_sequences=2)
    sequences, scores = unpack_beams(result, 2)
    assert_close(sequences, torch.tensor([[3, 2, 1, 0], [3, 1, 0, 0]]), name="beam_search sequences")
    assert_close(scores, torch.tensor([math.log(0.16) / 3, math.log(0.2) / 2]), name="beam_search scores")


EARLY_STOP_TABLE = {
    (3,): [0.5, 0.3, 0.15, 0.05],
    (3, 1): [0.5, 0.4, 0.07, 0.03],
    (3, 2): [0.1, 0.7, 0.12, 0.08],
    (3, 1, 1): [0.6, 0.2, 0.12, 0.08],
    (3, 2, 1): [0.3, 0.5, 0.15, 0.05],
    (3, 2, 1, 1): [0.25, 0.45, 0.2, 0.1],
    (3, 1, 1, 1): [0.7, 0.1, 0.12, 0.08],
}


@pytest.mark.function("decoding.beam_search")
def test_beam_search_early_stopping(impl):
    model = TableModel(EARLY_STOP_TABLE)
    # EOS = 0, num_beams = 2, max_new_tokens = 4, length_penalty = 2.0 (score = sum / len**2)
    # step 1: [3,0] 0.5 is EOS at rank 0: finished, log(0.5)/1 = -0.693; running [3,1], [3,2]
    # step 2: [3,1,0] 0.15 EOS rank 0: finished, log(0.15)/4 = -0.474; the pool is full
    #         running [3,1,1] 0.12 and [3,2,1] 0.105
    # early_stopping=True stops here: [3,1,0] (-0.474), then [3,0] padded with EOS (-0.693)
    result = impl.decoding.beam_search(model, torch.tensor([[3]]), 2, 4, length_penalty=2.0,
                                       eos_token_id=0, early_stopping=True, num_return_sequences=2)
    sequences, scores = unpack_beams(result, 2)
    assert_close(sequences, torch.tensor([[3, 1, 0], [3, 0, 0]]), name="early_stopping=True sequences")
    assert_close(scores, torch.tensor([math.log(0.15) / 4, math.log(0.5)]), name="early_stopping=True scores")
    # early_stopping=False: the best running beam could still win, log(0.12)/4 = -0.530 > -0.693
    # step 3: [3,1,1,0] 0.072 EOS rank 0: log(0.072)/9 = -0.292; [3,2,1,1] 0.0525 runs on,
    #         [3,2,1,0] 0.0315 is EOS at rank 2 (not pooled). Pool: -0.292, -0.474.
    #         log(0.0525)/9 = -0.328 > -0.474: continue
    # step 4 (last): [3,2,1,1,1] 0.023625 -> -0.234 and [3,1,1,1,0] 0.0168 -> -0.255
    result = impl.decoding.beam_search(model, torch.tensor([[3]]), 2, 4, length_penalty=2.0,
                                       eos_token_id=0, early_stopping=False, num_return_sequences=2)
    sequences, scores = unpack_beams(result, 2)
    assert_close(sequences, torch.tensor([[3, 2, 1, 1, 1], [3, 1, 1, 1, 0]]),
                 name="early_stopping=False sequences")
    assert_close(scores, torch.tensor([math.log(0.023625) / 16, math.log(0.0168) / 16]),
                 name="early_stopping=False scores")


@pytest.mark.function("decoding.beam_search")
def test_beam_search_output_shapes(impl, rng):
    model = tiny_lm(rng, vocab_size=16)
    input_ids = torch.randint(0, 16, (1, 3), generator=rng)
    before = input_ids.clone()
    sequences, scores = unpack_beams(
        impl.decoding.beam_search(model, input_ids, 3, 4, num_return_sequences=3), 3)
    check_long_sequences(sequences, 3, 7, 7, input_ids.expand(3, 3), name="beam_search sequences")
    check_unchanged(before, input_ids, "input_ids")
    if not bool((scores[:-1] >= scores[1:]).all()):
        raise CheckFailure(f"beam_search scores must be sorted best first, got {scores.tolist()}")


@pytest.mark.function("decoding.beam_search")
def test_beam_search_rejects_bad_arguments(impl):
    model, ids = CountingModel(), torch.tensor([[1]])
    expect_error(ValueError, impl.decoding.beam_search, model, ids, 0, 3, what="beam_search(num_beams=0)")
    expect_error(ValueError, impl.decoding.beam_search, model, ids, 2, 3, num_return_sequences=3,
                 what="beam_search(num_beams=2, num_return_sequences=3)")

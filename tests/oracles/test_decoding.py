"""The reference decoding functions equal Hugging Face ``transformers`` 5.x.

Oracles:

- ``TemperatureLogitsWarper``, ``TopKLogitsWarper``, ``TopPLogitsWarper`` and
  ``RepetitionPenaltyLogitsProcessor`` for the logits processors;
- ``GPT2LMHeadModel(GPT2Config(tiny sizes)).generate(...)`` with random weights for the decoding
  loops: ``do_sample=False`` (greedy), ``do_sample=True`` (sampling) and ``num_beams=...``
  (beam search, sequences and ``sequences_scores``). The reference calls the same GPT-2 as a
  plain ``model(input_ids) -> logits`` callable, recomputing the whole prefix every step,
  while ``generate`` uses its KV cache: the two agree to float rounding, and token choices are
  compared exactly.

GPT-2's random weights (std 0.02) give nearly flat logits; the output projection is scaled by 8
so that next-token distributions are peaked as a trained model's are and near-ties are rare.
To make EOS actually fire, the final layer norm's first feature is pinned to 1 and the output
projection reads it only for EOS: a constant bias on the EOS logit.

The beam-search grid (num_beams x length_penalty x early_stopping x num_return_sequences, the
contract's whole parameter space) runs in CI: each case is one tiny generate call.
"""
from __future__ import annotations

import functools
import math

import pytest
import torch

from reference import decoding as ref

transformers = pytest.importorskip("transformers")
from transformers import (  # noqa: E402
    GPT2Config,
    GPT2LMHeadModel,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

SEEDS = [0, 1, 2, 3]
DTYPES = [torch.float64, torch.float32, torch.bfloat16]
VOCAB = 50
EOS = 7


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: intra-op threads cost more than they save (10x slower on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope="module")
def quiet_transformers():
    """generate() logs a line per call when it sets pad_token_id to the EOS id."""
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    yield
    transformers.logging.set_verbosity(verbosity)


def draw(seed, *shape, scale=1.0):
    """Standard normal float64 values from a private generator."""
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def tie_free_logits(seed, rows, vocab, dtype, device):
    """Random logits whose entries are distinct within each row once cast to `dtype`."""
    for attempt in range(100):
        logits = draw(1000 * seed + attempt, rows, vocab, scale=2.0).to(dtype)
        if all(row.unique().numel() == vocab for row in logits):
            return logits.to(device)
    raise AssertionError("could not draw tie-free logits")


# --- apply_temperature ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("temperature", [0.3, 0.7, 1.0, 1.5, 4.0])
def test_temperature_equals_hf_warper(temperature, dtype, device):
    """Oracle: TemperatureLogitsWarper. Same elementwise division in the same dtype: exact."""
    logits = draw(int(10 * temperature), 2, 3, 17, scale=3.0).to(dtype).to(device)
    before = logits.clone()
    expected = TemperatureLogitsWarper(temperature)(None, logits.reshape(6, 17)).reshape(2, 3, 17)
    got = ref.apply_temperature(logits, temperature)
    assert got.dtype == dtype and got.device == logits.device
    assert torch.equal(got, expected)
    assert torch.equal(logits, before)


@pytest.mark.parametrize("temperature", [0.0, -0.5])
def test_temperature_not_positive_points_to_greedy(temperature):
    """Contract: temperature <= 0 -> ValueError whose message points to greedy decoding."""
    with pytest.raises(ValueError, match="greedy"):
        ref.apply_temperature(torch.zeros(3), temperature)


# --- top_k_filter ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_top_k_equals_hf_warper_with_ties(seed, dtype, device):
    """Oracle: TopKLogitsWarper, whose `scores < topk[..., -1]` keeps ties at the k-th value.

    Logits are small integers, so ties at the k-th value occur; masking is exact in any dtype.
    """
    logits = torch.randint(-3, 4, (5, 20), generator=torch.Generator().manual_seed(seed))
    logits = logits.to(dtype).to(device)
    ties_kept = 0
    for k in (1, 2, 5, 13, 19, 20, 25):
        expected = TopKLogitsWarper(k)(None, logits)
        got = ref.top_k_filter(logits, k)
        assert got.dtype == dtype and got.device == logits.device
        assert torch.equal(got, expected), f"k={k}"
        ties_kept += int(((expected != float("-inf")).sum(-1) > k).sum())
    assert ties_kept > 0  # the case really has more than k survivors somewhere


def test_top_k_leading_dims_and_hand_example():
    """Hand-worked: [1, 3, 2, 2, 0.5], k=2 keeps both 2.0s; leading dims are batch dims."""
    logits = torch.tensor([1.0, 3.0, 2.0, 2.0, 0.5])
    inf = float("-inf")
    assert torch.equal(ref.top_k_filter(logits, 2), torch.tensor([inf, 3.0, 2.0, 2.0, inf]))
    batch = draw(5, 2, 3, 9)
    expected = TopKLogitsWarper(4)(None, batch.reshape(6, 9)).reshape(2, 3, 9)
    assert torch.equal(ref.top_k_filter(batch, 4), expected)


# --- top_p_filter ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_top_p_equals_hf_warper(seed, dtype, device):
    """Oracle: TopPLogitsWarper on tie-free logits, many p and min_tokens_to_keep.

    The reference computes the nucleus in float32 for bfloat16 input (HF would in bfloat16,
    whose cumulative sums are off by up to ~1e-2): the oracle gets the same bfloat16 values
    upcast to float32, exactly representable, so both decide on the same numbers. Masking is
    exact: compared with torch.equal.
    """
    logits = tie_free_logits(seed, 6, 24, dtype, device)
    oracle_input = logits.float() if dtype == torch.bfloat16 else logits
    partial = 0
    for p in (0.05, 0.3, 0.5, 0.77, 0.9, 0.99, 1.0):
        for min_keep in (1, 3):
            warper = TopPLogitsWarper(p, min_tokens_to_keep=min_keep)
            expected = warper(None, oracle_input).to(dtype)
            got = ref.top_p_filter(logits, p, min_tokens_to_keep=min_keep)
            assert got.dtype == dtype and got.device == logits.device
            assert torch.equal(got, expected), f"p={p}, min_tokens_to_keep={min_keep}"
            survivors = (got != float("-inf")).sum(-1)
            partial += int(((survivors > min_keep) & (survivors < 24)).sum())
    assert partial > 0  # some rows keep a proper nucleus, not just min_tokens or everything


def test_top_p_hand_example():
    """Hand-worked: probabilities [0.5, 0.3, 0.15, 0.05]; masses before = [0, 0.5, 0.8, 0.95]."""
    logits = torch.tensor([0.5, 0.3, 0.15, 0.05]).log()
    inf = float("-inf")
    assert torch.equal(ref.top_p_filter(logits, 0.6), torch.tensor([logits[0], logits[1], inf, inf]))
    assert torch.equal(ref.top_p_filter(logits, 0.9), torch.tensor([*logits[:3].tolist(), inf]))
    assert torch.equal(ref.top_p_filter(logits, 0.1, min_tokens_to_keep=2),
                       torch.tensor([logits[0], logits[1], inf, inf]))


# --- apply_repetition_penalty ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_repetition_penalty_equals_hf_processor(seed, dtype, device):
    """Oracle: RepetitionPenaltyLogitsProcessor (negative logits, ids repeated in the prompt).

    Same elementwise multiply/divide in the same dtype: exact.
    """
    logits = draw(seed, 4, 15, scale=3.0).to(dtype).to(device)  # about half are negative
    # 12 ids from 6 values: every row repeats ids
    input_ids = torch.randint(0, 6, (4, 12), generator=torch.Generator().manual_seed(seed)).to(device)
    before = logits.clone()
    for penalty in (0.5, 1.0, 1.3, 2.5):
        expected = RepetitionPenaltyLogitsProcessor(penalty)(input_ids, logits.clone())
        got = ref.apply_repetition_penalty(logits, input_ids, penalty)
        assert got.dtype == dtype and got.device == logits.device
        assert torch.equal(got, expected), f"penalty={penalty}"
    assert torch.equal(logits, before)


def test_repetition_penalty_hand_example():
    """Hand-worked: seen ids {0, 1}: 2.0 / 2 = 1.0, -1.0 * 2 = -2.0."""
    got = ref.apply_repetition_penalty(torch.tensor([[2.0, -1.0, 0.5, -3.0]]), torch.tensor([[1, 0, 1]]), 2.0)
    assert torch.equal(got, torch.tensor([[1.0, -2.0, 0.5, -3.0]]))


# --- invalid arguments ----------------------------------------------------------------------


def _model(ids):
    return torch.zeros(*ids.shape, 5)


INVALID = [
    (lambda: ref.apply_temperature(torch.zeros(3), 0.0), ValueError),
    (lambda: ref.apply_temperature(torch.zeros(3), "hot"), TypeError),
    (lambda: ref.apply_temperature(torch.zeros(3, dtype=torch.long), 1.0), TypeError),
    (lambda: ref.top_k_filter(torch.zeros(3), 0), ValueError),
    (lambda: ref.top_k_filter(torch.zeros(3), 1.5), TypeError),
    (lambda: ref.top_p_filter(torch.zeros(3), 0.0), ValueError),
    (lambda: ref.top_p_filter(torch.zeros(3), 1.01), ValueError),
    (lambda: ref.top_p_filter(torch.zeros(3), 0.5, min_tokens_to_keep=0), ValueError),
    (lambda: ref.apply_repetition_penalty(torch.zeros(1, 3), torch.tensor([[0]]), 0.0), ValueError),
    (lambda: ref.apply_repetition_penalty(torch.zeros(1, 3), torch.tensor([[3]]), 1.2), ValueError),
    (lambda: ref.apply_repetition_penalty(torch.zeros(1, 3), torch.tensor([0]), 1.2), ValueError),
    (lambda: ref.greedy_decode(_model, torch.tensor([[1]]), 0), ValueError),
    (lambda: ref.greedy_decode(_model, torch.tensor([1]), 2), ValueError),
    (lambda: ref.greedy_decode(_model, torch.tensor([[1.0]]), 2), TypeError),
    (lambda: ref.sample(_model, torch.tensor([[1]]), 0), ValueError),
    (lambda: ref.sample(_model, torch.tensor([[1]]), 2, temperature=0.0), ValueError),
    (lambda: ref.sample(_model, torch.tensor([[1]]), 2, top_p=0.0), ValueError),
    (lambda: ref.sample(_model, torch.tensor([[1]]), 2, top_k=-1), ValueError),
    (lambda: ref.beam_search(_model, torch.tensor([[1]]), 0, 3), ValueError),
    (lambda: ref.beam_search(_model, torch.tensor([[1]]), 2, 3, num_return_sequences=3), ValueError),
    (lambda: ref.beam_search(_model, torch.tensor([[1], [2]]), 2, 3), ValueError),
    (lambda: ref.beam_search(_model, torch.tensor([[1]]), 2, 0), ValueError),
]


@pytest.mark.parametrize("call, error", INVALID)
def test_invalid_arguments_raise(call, error):
    """Contract: invalid arguments raise ValueError/TypeError naming the argument."""
    with pytest.raises(error):
        call()


# --- the GPT-2 oracle -----------------------------------------------------------------------


@functools.cache
def tiny_gpt2(seed: int, eos_bias: float, dtype: torch.dtype, device: str) -> GPT2LMHeadModel:
    """A random 1-layer GPT-2 (vocab 50, width 16) with a constant bias on the EOS logit."""
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=VOCAB, n_positions=64, n_embd=16, n_layer=1, n_head=2,
                        tie_word_embeddings=False, bos_token_id=EOS, eos_token_id=EOS)
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(8.0)
        model.transformer.ln_f.weight[0] = 0.0  # feature 0 of the final hidden state is ...
        model.transformer.ln_f.bias[0] = 1.0  # ... always 1
        model.lm_head.weight[:, 0] = 0.0
        model.lm_head.weight[EOS, 0] = eos_bias  # so the EOS logit gets + eos_bias
    model.generation_config.bos_token_id = None
    return model.to(device=device, dtype=dtype)


def configure(model, eos_token_id=None, pad_token_id=None):
    """EOS on or off as the contract says: generate's EOS lives in generation_config."""
    model.generation_config.eos_token_id = eos_token_id
    model.generation_config.pad_token_id = pad_token_id
    return model


def as_callable(model):
    """The GPT-2 as the contract's ``model(input_ids) -> logits (B, T, V)``."""

    def call(input_ids):
        with torch.no_grad():
            return model(input_ids, attention_mask=torch.ones_like(input_ids)).logits

    return call


def generate(model, input_ids, **kwargs):
    with torch.no_grad():
        return model.generate(input_ids, attention_mask=torch.ones_like(input_ids), **kwargs)


def prompts(seed, batch, length, device):
    """Random prompts without the EOS id."""
    ids = torch.randint(0, VOCAB - 1, (batch, length), generator=torch.Generator().manual_seed(seed))
    return (ids + (ids >= EOS).long()).to(device)  # skip EOS


# --- greedy_decode --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_greedy_equals_generate_with_eos_and_pad(dtype, device):
    """Oracle: generate(do_sample=False) with EOS 7 and pad 3; rows finish at different steps.

    The fixed seeds are checked to cover: a row padded while another still runs, a batch
    stopping early, and a batch running to max_new_tokens.
    """
    padded = stopped_early = ran_full = 0
    for seed in range(8):
        model = configure(tiny_gpt2(seed, 0.7, dtype, device.type), EOS, pad_token_id=3)
        input_ids = prompts(seed, 4, 5, device)
        expected = generate(model, input_ids, do_sample=False, max_new_tokens=8)
        got = ref.greedy_decode(as_callable(model), input_ids, 8, eos_token_id=EOS, pad_token_id=3)
        assert got.dtype == torch.long and got.device == input_ids.device
        assert torch.equal(got, expected), f"seed {seed}"
        new = expected[:, 5:]
        eos_seen = (new == EOS).cumsum(1) > 0
        after_eos = eos_seen.roll(1, 1) & eos_seen
        after_eos[:, 0] = False
        padded += int(after_eos.any() and not eos_seen[:, -1].all())
        stopped_early += int(expected.shape[1] < 13)
        ran_full += int(expected.shape[1] == 13)
    assert padded and stopped_early and ran_full


@pytest.mark.parametrize("dtype", DTYPES)
def test_greedy_equals_generate_default_pad_and_no_eos(dtype, device):
    """Oracle: generate(do_sample=False) with pad defaulting to EOS, and with EOS turned off.

    EOS off: ``generation_config.eos_token_id = None`` (passing eos_token_id=None to generate
    would keep the config's EOS); every row then gets exactly max_new_tokens tokens.
    """
    for seed in range(4):
        model = tiny_gpt2(seed, 0.7, dtype, device.type)
        input_ids = prompts(seed, 3, 4, device)
        configure(model, EOS)
        expected = generate(model, input_ids, do_sample=False, max_new_tokens=7)
        assert torch.equal(ref.greedy_decode(as_callable(model), input_ids, 7, eos_token_id=EOS), expected)
        configure(model, None)
        expected = generate(model, input_ids, do_sample=False, max_new_tokens=7)
        assert expected.shape == (3, 11)
        assert torch.equal(ref.greedy_decode(as_callable(model), input_ids, 7), expected)


# --- sample ---------------------------------------------------------------------------------

SAMPLE_SETTINGS = [
    dict(),
    dict(temperature=0.7),
    dict(temperature=1.5, top_k=5),
    dict(top_p=0.8),
    dict(temperature=0.8, top_k=20, top_p=0.6, repetition_penalty=1.3),
    dict(repetition_penalty=0.7, top_p=0.9),
    dict(top_k=1),
]


@pytest.mark.parametrize("settings", SAMPLE_SETTINGS,
                         ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "plain")
def test_sample_equals_generate(settings, device):
    """Oracle: generate(do_sample=True, top_k=k or 0, ...) from the same random state.

    Seeding: generate draws ``torch.multinomial(probs, num_samples=1)`` from torch's global
    generator of the device. ``torch.manual_seed(s)`` seeds it; a fresh
    ``torch.Generator(device).manual_seed(s)`` starts in the same state (same algorithm, same
    seed), so the reference given that generator draws the same numbers, as does the
    reference with ``generator=None`` right after ``torch.manual_seed(s)``. Both are checked.
    top_k=0 is passed explicitly (transformers 5 defaults to 50). EOS 7 with pad 3.
    """
    kwargs = {"top_k": 0, **settings}
    finished = 0
    for seed in range(4):
        model = configure(tiny_gpt2(seed, 0.5, torch.float32, device.type), EOS, pad_token_id=3)
        input_ids = prompts(seed, 4, 4, device)
        torch.manual_seed(100 + seed)
        expected = generate(model, input_ids, do_sample=True, max_new_tokens=8, **kwargs)
        generator = torch.Generator(device).manual_seed(100 + seed)
        got = ref.sample(as_callable(model), input_ids, 8, eos_token_id=EOS, pad_token_id=3,
                         generator=generator, **kwargs)
        assert got.dtype == torch.long and got.device == input_ids.device
        assert torch.equal(got, expected), f"seed {seed}, explicit generator"
        torch.manual_seed(100 + seed)
        got = ref.sample(as_callable(model), input_ids, 8, eos_token_id=EOS, pad_token_id=3, **kwargs)
        assert torch.equal(got, expected), f"seed {seed}, global generator"
        finished += int((expected[:, 4:] == EOS).any())
    assert finished  # EOS and padding took part


# --- beam_search ----------------------------------------------------------------------------

BEAM_GRID = [
    (num_beams, length_penalty, early_stopping, num_return)
    for num_beams in (2, 3, 4)
    for length_penalty in (0.5, 1.0, 2.0)
    for early_stopping in (True, False)
    for num_return in sorted({1, num_beams})
]
BEAM_MODELS = [(0, 1.5), (1, 2.0), (2, 1.0)]  # (seed, EOS bias)
MAX_NEW = 7


@functools.cache
def hf_beams(seed, eos_bias, device, num_beams, length_penalty, early_stopping, num_return, eos=EOS):
    model = configure(tiny_gpt2(seed, eos_bias, torch.float32, device), eos)
    input_ids = prompts(seed, 1, 4, torch.device(device))
    out = generate(model, input_ids, do_sample=False, num_beams=num_beams, max_new_tokens=MAX_NEW,
                   length_penalty=length_penalty, early_stopping=early_stopping,
                   num_return_sequences=num_return, output_scores=True, return_dict_in_generate=True)
    return model, input_ids, out.sequences, out.sequences_scores


@pytest.mark.parametrize("seed, eos_bias", BEAM_MODELS)
@pytest.mark.parametrize("num_beams, length_penalty, early_stopping, num_return", BEAM_GRID)
def test_beam_search_equals_generate(seed, eos_bias, num_beams, length_penalty, early_stopping,
                                     num_return, device):
    """Oracle: generate(num_beams=..., output_scores=True, return_dict_in_generate=True).

    Sequences exactly; scores (``sequences_scores``) to 1e-5: the reference recomputes the
    whole prefix where generate uses its KV cache, so logits differ by float32 rounding and
    sums of ~7 log-probabilities by a few 1e-7.
    """
    model, input_ids, expected, expected_scores = hf_beams(
        seed, eos_bias, device.type, num_beams, length_penalty, early_stopping, num_return)
    sequences, scores = ref.beam_search(
        as_callable(model), input_ids, num_beams, MAX_NEW, length_penalty=length_penalty,
        eos_token_id=EOS, early_stopping=early_stopping, num_return_sequences=num_return)
    assert sequences.dtype == torch.long and sequences.device == input_ids.device
    assert scores.dtype == torch.float32 and scores.shape == (num_return,)
    assert torch.equal(sequences, expected)
    torch.testing.assert_close(scores, expected_scores, atol=1e-5, rtol=1e-5)


def test_beam_grid_exercises_eos_and_stop_rules(device):
    """The grid above is not vacuous: on these models EOS finishes hypotheses early, shorter
    hypotheses are padded, some searches stop before max_new_tokens, and early_stopping and
    length_penalty change results (judged on generate's outputs alone)."""
    eos_inside = short_output = early_differs = penalty_differs = 0
    for seed, eos_bias in BEAM_MODELS:
        for num_beams, length_penalty, early_stopping, num_return in BEAM_GRID:
            *_, sequences, _ = hf_beams(seed, eos_bias, device.type, num_beams, length_penalty,
                                        early_stopping, num_return)
            generated = sequences[:, 4:]
            eos_inside += int((generated[:, :-1] == EOS).any())
            short_output += int(generated.shape[1] < MAX_NEW)
            *_, other, _ = hf_beams(seed, eos_bias, device.type, num_beams, length_penalty,
                                    not early_stopping, num_return)
            early_differs += int(not torch.equal(sequences, other))
            *_, other, _ = hf_beams(seed, eos_bias, device.type, num_beams, 2.5 - length_penalty
                                    if length_penalty != 1.0 else 1.0, early_stopping, num_return)
            penalty_differs += int(not torch.equal(sequences, other))
    assert eos_inside and short_output and early_differs and penalty_differs


@pytest.mark.parametrize("num_beams, num_return", [(2, 2), (3, 1), (4, 4)])
def test_beam_search_without_eos_equals_generate(num_beams, num_return, device):
    """Oracle: generate(num_beams=...) with EOS turned off: every hypothesis hits the length
    limit and only the top num_beams candidates of the last step are finalised."""
    model, input_ids, expected, expected_scores = hf_beams(
        3, 0.0, device.type, num_beams, 1.0, False, num_return, eos=None)
    sequences, scores = ref.beam_search(as_callable(model), input_ids, num_beams, MAX_NEW,
                                        num_return_sequences=num_return)
    assert expected.shape == (num_return, 4 + MAX_NEW)
    assert torch.equal(sequences, expected)
    torch.testing.assert_close(scores, expected_scores, atol=1e-5, rtol=1e-5)
    # scores are the sums of the chosen tokens' log-probabilities over the generated length
    logprobs = as_callable(model)(sequences)[:, 3:-1].float().log_softmax(-1)  # (R, MAX_NEW, V)
    sums = logprobs.gather(-1, sequences[:, 4:, None]).sum(dim=(1, 2))
    torch.testing.assert_close(scores, sums / MAX_NEW, atol=1e-5, rtol=1e-5)
    assert math.isfinite(scores.sum().item())

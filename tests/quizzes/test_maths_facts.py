"""Keys and tolerances (issue 14, item 3), checked against torch, the installed transformers
and hand computations, never against the engine:

- `debugging-index-out-of-range`: a tiny BERT built from a config (no download) is fed each
  choice's situation; a choice is keyed correct exactly when it raises the IndexError;
- eight questions whose cited FAQ passage is wrong: the fact is re-derived here, the key agrees
  with it, and the explanation names the document it corrects;
- precision: a prompt asking for "at least N decimals" accepts every answer rounded to N
  decimals in every variant (significant digits are tested in test_quiz_safe_scoring.py).
"""
from __future__ import annotations

import math
import re

import pytest
import torch

from quizzes import formula
from quizzes.loader import DEFAULT_BANKS, find_question, load_banks
from quizzes.scoring import score_presented
from quizzes.variants import Presented

BANKS = load_banks(DEFAULT_BANKS)


def question(qid: str):
    return find_question(BANKS, qid)


def keyed(qid: str, starts_with: str) -> bool:
    """Whether the choice of ``qid`` whose text starts with ``starts_with`` is keyed correct."""
    (choice,) = [c for c in question(qid).choices if c.text.startswith(starts_with)]
    return choice.correct


def key_says(qid: str, pattern: str) -> bool:
    """Whether the keyed choice of single-choice ``qid`` says ``pattern`` (a regex; the
    distractors are reworded often, the fact in the key is what is checked)."""
    (key,) = [c.text for c in question(qid).choices if c.correct]
    return re.search(pattern, key, re.I) is not None


# ----------------------------------------------------------------------------- BERT, 600 tokens


@pytest.fixture(scope="module")
def tiny_bert():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=512)
    return transformers.BertModel(config).eval()


def raises_index_error(model, **inputs) -> bool:
    """True iff the forward pass raises ``IndexError: index out of range in self``."""
    try:
        with torch.no_grad():
            model(**inputs)
    except IndexError as exc:
        return "index out of range" in str(exc)
    except RuntimeError:
        return False
    return False


def test_index_out_of_range_key_matches_the_installed_transformers(tiny_bert):
    qid = "debugging-index-out-of-range"
    ids_600 = torch.randint(0, 100, (1, 600))
    situations = {  # choice text prefix -> what the situation raises
        "Feeding 600 tokens": raises_index_error(tiny_bert, input_ids=ids_600),
        # ids from tokenizer.add_tokens past the 100-row word embedding, no resize
        "Adding new tokens": raises_index_error(tiny_bert, input_ids=torch.tensor([[1, 100, 101, 2]])),
        "Padding every input to max_length=512": raises_index_error(
            tiny_bert, input_ids=torch.randint(0, 100, (1, 512))),
        "Passing an attention_mask": raises_index_error(
            tiny_bert, input_ids=torch.tensor([[1, 5, 0, 0]]), attention_mask=torch.tensor([[1, 1, 0, 0]])),
    }
    for prefix, raises in situations.items():
        assert keyed(qid, prefix) == raises, f"{prefix!r}: keyed {keyed(qid, prefix)}, the library says {raises}"
    # What 600 tokens do raise, as the explanation says:
    with pytest.raises(RuntimeError, match="600.*512"):
        tiny_bert(input_ids=ids_600)
    assert "TROUBLESHOOTING.md" in question(qid).explanation


# ----------------------------------------------------------------------------- FAQ errata


def test_transpose_argument_order_is_the_same_operation():
    k = torch.randn(2, 3, 5, 7)
    same = torch.equal(k.transpose(-1, -2), k.transpose(-2, -1))
    q = question("debugging-transpose-argument-order")
    assert same and q.answer is False  # "they produce different tensors" is false
    assert "FAQ.md" in q.explanation and "TROUBLESHOOTING.md" in q.explanation


def test_unscaled_score_has_mean_zero_and_variance_d_k():
    torch.manual_seed(0)
    d_k, n = 64, 200_000
    scores = (torch.randn(n, d_k) * torch.randn(n, d_k)).sum(-1)
    # standard error of the mean: sqrt(d_k / n) = 0.018; of the variance: ~ d_k * sqrt(2 / n) = 0.2
    assert abs(scores.mean().item()) < 0.1  # not "proportional to d_k"
    assert scores.var().item() == pytest.approx(d_k, rel=0.03)
    q = question("attention-scale-why")
    assert key_says(q.id, r"variance d_k|Var\(q·k\) = d_k") and not key_says(q.id, r"mean d_k")
    assert "COMMON_QUESTIONS.md" in q.explanation


def test_workshop_example_is_still_saturated_after_scaling():
    weights = torch.softmax(torch.tensor([-50.0, 100.0, 30.0]) / math.sqrt(64), dim=-1)
    assert weights.max().item() > 0.9998  # one-hot in all but name
    q = question("attention-no-scale")
    assert key_says(q.id, "one-hot")
    assert "WORKSHOP_QA.md" in q.explanation and "0.9998" in q.explanation


def test_temperature_zero_is_no_division_error():
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    scaled = logits / 0.0  # no exception: +inf, nan, -inf
    assert torch.isinf(scaled[0, 0]) and torch.isnan(scaled[0, 1])
    with pytest.raises(RuntimeError, match="probability tensor"):
        torch.multinomial(torch.softmax(scaled, dim=-1), 1)
    assert torch.argmax(logits).item() == 0  # the limit T -> 0 is greedy decoding
    q = question("generation-temperature-zero")
    assert key_says(q.id, "greed")
    assert "TROUBLESHOOTING.md" in q.explanation


def test_temperature_without_sampling_changes_nothing():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=50, n_positions=64, n_embd=16, n_layer=1, n_head=2)
    model = transformers.GPT2LMHeadModel(config).eval()
    prompt = torch.tensor([[1, 2, 3]])
    kwargs = {"max_new_tokens": 8, "pad_token_id": 0}
    greedy = model.generate(prompt, do_sample=False, **kwargs)
    warm = [model.generate(prompt, do_sample=False, temperature=0.8, **kwargs) for _ in range(2)]
    assert all(torch.equal(greedy, w) for w in warm)  # the "fix" leaves the output as it was
    # and 0.8 sharpens the distribution sampling would draw from (less random than T = 1)
    logits = torch.tensor([[2.0, 1.0, 0.0]])
    sharper = transformers.TemperatureLogitsWarper(0.8)(prompt, logits.clone())
    assert torch.softmax(sharper, -1).max() > torch.softmax(logits, -1).max()
    q = question("generation-temperature-needs-sampling")
    assert key_says(q.id, "sampling is off|do_sample")
    assert "TROUBLESHOOTING.md" in q.explanation


def test_std_formula_is_not_layer_norm():
    torch.manual_seed(0)
    x = torch.randn(4, 6)
    reference = torch.nn.functional.layer_norm(x, (6,), eps=0.0)
    unbiased = (x - x.mean(-1, keepdim=True)) / x.std(-1, keepdim=True)  # the workshop formula
    biased = (x - x.mean(-1, keepdim=True)) / x.std(-1, keepdim=True, correction=0)
    assert torch.allclose(biased, reference, atol=1e-5)
    assert torch.allclose(unbiased * math.sqrt(6 / 5), reference, atol=1e-5)  # off by sqrt(d/(d-1))
    assert not torch.allclose(unbiased, reference, atol=1e-2)
    q = question("layernorm-residuals-ln-unbiased-code")
    assert key_says(q.id, "^Line 3")
    assert "WORKSHOP_QA.md" in q.explanation


def test_attention_without_positions_is_equivariant_not_invariant():
    torch.manual_seed(0)
    attention = torch.nn.MultiheadAttention(8, 2, batch_first=True).eval()
    dog_bites_man = torch.randn(1, 3, 8)
    man_bites_dog = dog_bites_man[:, [2, 1, 0]]
    with torch.no_grad():
        a, _ = attention(dog_bites_man, dog_bites_man, dog_bites_man)
        b, _ = attention(man_bites_dog, man_bites_dog, man_bites_dog)
    assert torch.allclose(b, a[:, [2, 1, 0]], atol=1e-6)  # the same vectors, permuted
    assert not torch.allclose(a, b, atol=1e-3)  # not identical position by position
    assert torch.allclose(a.mean(1), b.mean(1), atol=1e-6)  # identical only once pooled
    q = question("positional-permutation")
    assert key_says(q.id, "permuted|different order") and not key_says(q.id, "position by position")
    assert "FAQ.md" in q.explanation


def test_full_fine_tuning_of_12b_does_not_fit_in_128_gb():
    # bf16 weights 2 + bf16 grads 2 + fp32 master 4 + Adam moments 4 + 4 bytes per parameter
    bytes_per_parameter = 2 + 2 + 4 + 4 + 4
    assert 12 * bytes_per_parameter > 128 and 16 * bytes_per_parameter > 128  # GB per billion
    q = question("hardware-full-finetune-memory")
    assert formula.evaluate(q.answer, {"N": 12}) == 12 * bytes_per_parameter
    assert "FAQ.md" in q.explanation


# ----------------------------------------------------------------------------- decimals

_DECIMALS = re.compile(r"at least (\d+) decimals")


def _decimal_questions():
    return [q for b in BANKS.values() for q in b.questions if q.type == "numeric" and _DECIMALS.search(q.prompt)]


def test_some_prompts_ask_for_decimals():
    assert _decimal_questions()


@pytest.mark.parametrize("q", _decimal_questions(), ids=lambda q: q.id)
def test_answers_rounded_to_the_stated_decimals_score_full_in_every_variant(q):
    places = int(_DECIMALS.search(q.prompt).group(1))
    for params in q.param_combinations() or [{}]:
        expected = float(formula.evaluate(q.answer, params))
        variant = Presented(q, "alice", q.id, 0, params)
        for rounded in (f"{expected:.{places}f}", str(math.floor(expected * 10**places) / 10**places),
                        str(math.ceil(expected * 10**places) / 10**places)):
            if abs(float(rounded) - expected) > 0.5 * 10**-places + 1e-12:
                continue  # floor/ceil that are not the rounding of this value
            assert score_presented(variant, rounded).score == q.points, f"{q.id} {params}: {rounded} vs {expected}"

"""Scoring every question type; expected values are worked by hand in the comments."""
import pytest
from quiz_helpers import make_question

from quizzes.normalise import normalise_text
from quizzes.scoring import lcs_length, score, score_presented
from quizzes.variants import present

CORRECT = "Keep the score variance near one (zebra)"


def letter_of(p, text):
    return next(o.letter for o in p.options if o.text == text)


def run(question, answer, student="alice"):
    p = present(question, student, "demo")
    return score(question, p, answer)


# --------------------------------------------------------------------------- single


def test_single_by_text_and_by_letter(demo_bank):
    q = demo_bank.question("demo-single")  # 2 points
    p = present(q, "alice", "demo")
    assert score(q, p, CORRECT).score == 2
    assert score(q, p, letter_of(p, CORRECT)).score == 2
    assert score(q, p, letter_of(p, CORRECT).lower() + ".").score == 2  # "c." also reads as C
    result = score(q, p, "Save memory")
    assert (result.score, result.max_score, result.correct) == (0, 2, False)
    assert result.feedback == ["No: the memory is the same."]
    assert result.explanation.startswith("Dot products")


def test_single_partial_credit(demo_bank):
    # "Normalise the values" has credit 0.5 on a 2-point question: 1 point.
    result = run(demo_bank.question("demo-single"), "Normalise the values")
    assert result.score == 1.0
    assert result.feedback == ["Close: it is the scores, not the values."]


def test_single_per_choice_feedback_lists_all_options(demo_bank):
    result = run(demo_bank.question("demo-single"), CORRECT)
    assert len(result.choices) == 4
    [picked] = [c for c in result.choices if c.picked]
    assert picked.text == CORRECT and picked.correct


@pytest.mark.parametrize("answer", ["Z", "not a choice", ["A", "B"], 3.5, {"a": 1}])
def test_single_unreadable_answers_score_zero_with_a_message(demo_bank, answer):
    result = run(demo_bank.question("demo-single"), answer)
    assert result.score == 0 and result.error


# --------------------------------------------------------------------------- multiple


def multiple(scheme):
    return make_question(
        id="t-m",
        type="multiple",
        scheme=scheme,
        choices=[
            {"text": "c1", "correct": True, "feedback": "f-c1"},
            {"text": "c2", "correct": True, "feedback": "f-c2"},
            {"text": "w1", "feedback": "f-w1"},
            {"text": "w2", "feedback": "f-w2"},
        ],
    )


# C = 2 correct of N = 4 options.
@pytest.mark.parametrize(
    "picked, all_or_nothing, net_correct, coverage",
    [
        (["c1", "c2"], 1, 1, 1),
        (["c1"], 0, 0.5, 0.5),  # net (1 - 0) / 2; coverage 1 / 2, no wrong pick
        (["c1", "w1"], 0, 0, 0),  # net (1 - 1) / 2 = 0; coverage: a wrong pick -> 0
        (["c1", "c2", "w1"], 0, 0.5, 0),  # net (2 - 1) / 2
        (["w1", "w2"], 0, 0, 0),  # net max(0, (0 - 2) / 2) = 0
        (["c1", "c2", "w1", "w2"], 0, 0, 0),  # net (2 - 2) / 2
    ],
)
def test_multiple_schemes(picked, all_or_nothing, net_correct, coverage):
    for scheme, expected in [("all_or_nothing", all_or_nothing), ("net_correct", net_correct), ("coverage", coverage)]:
        assert run(multiple(scheme), picked).score == pytest.approx(expected), scheme


def test_multiple_answer_formats_and_feedback():
    q = multiple("net_correct")
    p = present(q, "bob", "t")
    letters = [letter_of(p, "c1"), letter_of(p, "c2")]
    for answer in (letters, "|".join(letters), ", ".join(letters), " ".join(letters), "c1|c2", ["C1", "c2 "]):
        assert score(q, p, answer).score == 1, answer
    result = score(q, p, "c1|w1")
    assert f"{letter_of(p, 'c1')}: f-c1" in result.feedback
    assert f"{letter_of(p, 'w1')}: f-w1" in result.feedback
    assert f"{letter_of(p, 'c2')} (missed): f-c2" in result.feedback
    assert score(q, p, "c1|nope").error.startswith("unknown choice 'nope'")


def test_multiple_on_demo_bank(demo_bank):
    # net_correct, correct = GPT-2 and LLaMA: GPT-2 + BERT -> (1 - 1) / 2 = 0.
    q = demo_bank.question("demo-multiple")
    assert run(q, "GPT-2|LLaMA").score == 1
    assert run(q, "GPT-2|BERT").score == 0
    assert run(q, ["LLaMA"]).score == 0.5


# --------------------------------------------------------------------------- true/false


@pytest.mark.parametrize("answer, expected", [
    (True, 1), ("true", 1), ("T", 1), ("yes", 1), (" Yes ", 1),
    (False, 0), ("false", 0), ("f", 0), ("no", 0),
])
def test_truefalse(demo_bank, answer, expected):
    result = run(demo_bank.question("demo-truefalse"), answer)
    assert result.score == expected
    assert result.feedback == ["Right." if expected else "No: byte-level BPE starts from bytes."]


@pytest.mark.parametrize("answer", ["maybe", 1, "", None])
def test_truefalse_unreadable(demo_bank, answer):
    result = run(demo_bank.question("demo-truefalse"), answer)
    assert result.score == 0 and result.error


# --------------------------------------------------------------------------- numeric


def test_numeric_uses_the_students_params(demo_bank):
    q = demo_bank.question("demo-numeric")  # d_model / heads, rtol 0.01
    for student in ("alice", "bob", "carol", "dave"):
        p = present(q, student, "demo")
        expected = p.params["d_model"] / p.params["heads"]
        assert score(q, p, expected).score == 1
        assert score(q, p, str(expected)).score == 1
        assert score(q, p, f"{p.params['d_model']}/{p.params['heads']}").score == 1  # a name-free formula
        assert score(q, p, expected * 1.009).score == 1  # within rtol 1%
        assert score(q, p, expected * 1.02).score == 0
        assert score(q, p, f"{expected} dimensions").score == 1  # the unit may be typed


def test_numeric_tolerances():
    exact = make_question(id="t-n", type="numeric", answer=512)
    assert run(exact, 512).score == 1
    assert run(exact, 512.5).score == 0
    absolute = make_question(id="t-n", type="numeric", answer="0.1", atol=0.05)
    assert run(absolute, 0.149).score == 1
    assert run(absolute, 0.151).score == 0
    # rtol is relative to the key: |got - 100| <= 0.1 * 100.
    relative = make_question(id="t-n", type="numeric", answer=100, rtol=0.1)
    assert run(relative, 110).score == 1
    assert run(relative, 111).score == 0


@pytest.mark.parametrize("answer, words", [
    ("abc", "not a number"), ("0,5", "decimals with a point"), (True, "true/false"),
    ("x + 1", "not a number"), ("1/0", "division by zero"), ("nan", "finite"), ([1], "expected a number"),
])
def test_numeric_unreadable(answer, words):
    q = make_question(id="t-n", type="numeric", answer=2)
    result = run(q, answer)
    assert result.score == 0 and words in result.error


# --------------------------------------------------------------------------- text


def test_text_normalisation():
    # casefold, strip, collapse whitespace, drop . , ; : ! ? ' " ` - _
    assert normalise_text("  Layer-Norm. ") == "layernorm"
    assert normalise_text("LAYER \t  norm!") == "layer norm"
    assert normalise_text("\"soft_max\"?") == "softmax"
    assert normalise_text("(batch, seq)") == "(batch seq)"
    # separators between numbers keep shapes apart: (2,8,10,10) is not (28,10,10)
    assert normalise_text("(2,8,10,10)") == normalise_text("(2, 8, 10, 10)") == "(2 8 10 10)"
    assert normalise_text("(2,8,10,10)") != normalise_text("(28,10,10)")


@pytest.mark.parametrize("answer, expected", [
    ("layer normalization", 1), ("Layer Normalization.", 1), ("LayerNorm", 1), ("layer-norm", 1),
    ("  layer   norm ", 1), ("batch norm", 0), ("layer normalisation", 0),
])
def test_text(demo_bank, answer, expected):
    assert run(demo_bank.question("demo-text"), answer).score == expected


# --------------------------------------------------------------------------- ordering


def test_lcs_by_hand():
    # key abcde. Answer bacde: "acde" (or "bcde") is common, length 4. Answer baced: both
    # adjacent pairs swapped, so one of each pair is lost: "ace" (or "bcd", ...), length 3.
    assert lcs_length(list("bacde"), list("abcde")) == 4
    assert lcs_length(list("baced"), list("abcde")) == 3
    assert lcs_length(list("edcba"), list("abcde")) == 1
    assert lcs_length([], list("abc")) == 0


def test_ordering_partial_credit(demo_bank):
    q = demo_bank.question("demo-ordering")
    key = ["QK^T scores", "scale by sqrt(d_k)", "apply mask", "softmax", "weight the values"]
    assert run(q, key).score == 1
    swapped = [key[1], key[0], key[2], key[4], key[3]]  # LCS 3 of 5
    assert run(q, swapped).score == pytest.approx(0.6)
    assert run(q, list(reversed(key))).score == pytest.approx(0.2)
    assert run(q, "|".join(key)).score == 1
    p = present(q, "alice", "demo")
    letters = [letter_of(p, item) for item in key]
    assert score(q, p, letters).score == 1
    assert score(q, p, "|".join(letters)).score == 1
    assert score(q, p, key[:3]).score == pytest.approx(0.6)  # 3 placed in order, 2 missing
    assert score(q, p, [key[0], key[0]]).error == "an item appears twice in your order"


# --------------------------------------------------------------------------- matching


def test_matching(demo_bank):
    q = demo_bank.question("demo-matching")
    key = {"BERT": "encoder-only", "GPT-2": "decoder-only", "T5": "encoder-decoder"}
    assert run(q, key).score == 1
    assert run(q, "BERT=encoder-only|GPT-2=decoder-only|T5=encoder-decoder").score == 1
    # One of three pairs right.
    one = "BERT=encoder-only|GPT-2=encoder-decoder|T5=decoder-only"
    assert run(q, one).score == pytest.approx(1 / 3)
    p = present(q, "alice", "demo")
    by_number = "|".join(f"{n}={letter_of(p, key[left])}" for n, left in enumerate(["BERT", "GPT-2", "T5"], 1))
    assert score(q, p, by_number).score == 1
    assert score(q, p, {"BERT": "state-space"}).score == 0  # a distractor, two pairs missing
    assert score(q, p, {"ELMo": "encoder-only"}).error.startswith("unknown left item 'ELMo'")
    assert score(q, p, "BERT").error == "'BERT': expected left=right"


def test_matching_texts_may_contain_equals():
    q = make_question(
        id="t-m", type="matching",
        pairs=[{"left": "a = b", "right": "x=y"}, {"left": "c", "right": "z"}],
    )
    assert run(q, "a = b=x=y|c=z").score == 1


# --------------------------------------------------------------------------- common


def test_results_carry_key_and_max(demo_bank):
    q = demo_bank.question("demo-single")
    p = present(q, "alice", "demo")
    result = score_presented(p, "Save memory")
    assert result.max == 2
    assert result.key == f"{letter_of(p, CORRECT)}. {CORRECT}"
    assert result.to_dict()["question_id"] == "demo-single"


def test_blank_answers_score_zero(demo_bank):
    for q in demo_bank.questions:
        for blank in (None, "", "   ", []):
            result = run(q, blank)
            assert (result.score, result.error) == (0, "no answer")

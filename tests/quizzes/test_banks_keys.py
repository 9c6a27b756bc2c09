"""Every question of every real bank (quizzes/banks): the key scores full marks, wrong answers
do not. The expected answers are read from the bank data (correct flags, `answer`, `accept`,
`items`, `pairs`), not from the engine's own key helpers."""
from __future__ import annotations

import pytest

from quizzes import formula
from quizzes.loader import DEFAULT_BANKS, bank_files, load_banks
from quizzes.scoring import score
from quizzes.variants import present

STUDENTS = ["alice", "bob", "carol", "dave", "erin"]


def _questions():
    if not bank_files(DEFAULT_BANKS):
        return []
    return [q for bank in load_banks(DEFAULT_BANKS).values() for q in bank.questions]


QUESTIONS = _questions()


def test_there_are_banks():
    assert bank_files(DEFAULT_BANKS), f"no *.yaml banks in {DEFAULT_BANKS}"
    assert QUESTIONS


def run(q, answer, student="alice"):
    return score(q, present(q, student, "keys"), answer)


@pytest.mark.parametrize("q", QUESTIONS, ids=lambda q: q.id)
def test_key_scores_full_and_wrong_answers_do_not(q):
    full = q.points
    if q.type == "single":
        [right] = [c.text for c in q.choices if c.correct]
        assert run(q, right).score == full
        for c in q.choices:
            if not c.correct:
                assert run(q, c.text).score == pytest.approx((c.credit or 0) * full), c.text
    elif q.type == "multiple":
        right = [c.text for c in q.choices if c.correct]
        wrong = [c.text for c in q.choices if not c.correct]
        assert run(q, right).score == full
        for text in wrong:
            assert run(q, [text]).score == 0, text  # a wrong option alone earns nothing
            assert run(q, right + [text]).score < full, text
    elif q.type == "truefalse":
        assert run(q, q.answer).score == full
        assert run(q, not q.answer).score == 0
    elif q.type == "numeric":
        for student in STUDENTS:
            p = present(q, student, "keys")
            value = formula.evaluate(q.answer, p.params)
            assert score(q, p, value).score == full, p.params
            assert score(q, p, str(value)).score == full, p.params
            if max(q.rtol, q.atol / max(abs(value), 1e-12)) < 0.5:
                assert score(q, p, value * 2 + 1).score == 0, p.params
    elif q.type == "text":
        for text in q.accept:
            assert run(q, text).score == full, text
            assert run(q, text.upper() + " ").score == full, text
        assert run(q, "certainly not the answer").score == 0
    elif q.type == "ordering":
        assert run(q, list(q.items)).score == full
        assert run(q, list(reversed(q.items))).score < full
    elif q.type == "matching":
        key = {p.left: p.right for p in q.pairs}
        assert run(q, key).score == full
        rights = [p.right for p in q.pairs]
        if len(set(rights)) > 1:
            rotated = {p.left: rights[(i + 1) % len(rights)] for i, p in enumerate(q.pairs)}
            assert run(q, rotated).score < full
    else:
        pytest.fail(f"unknown type {q.type}")

"""Score one answer to one presented question.

Answers come from many places (a terminal line, a CSV cell, JSON, a browser form), so every
type accepts both structured values and strings (BANK_FORMAT.md "Answers a learner gives"):

======== ================================================================================
single   a choice text or its displayed letter (``"B"``)
multiple a list of texts/letters, or a string ``"A|C"`` (also ``"A, C"`` / ``"A C"``)
truefalse true/false, t/f, yes/no (any case), or a bool
numeric  a number, or a string holding a number or a name-free formula (``"1/8"``)
text     a string, compared after :func:`quizzes.normalise.normalise_text`
ordering the items (texts or letters) in the learner's order, as a list or ``"C|A|B"``
matching a mapping left -> right, or ``"left=right|left=right"``; a left may be given by its
         number (1, 2, ...), a right by its letter
======== ================================================================================

Partial credit (fraction of the question's points):

- single: 1 for the correct choice, else the wrong choice's ``credit`` (default 0);
- multiple, with C correct options out of N, having picked ``cp`` correct and ``wp`` wrong:
  ``all_or_nothing`` 1 iff the picked set is exactly the correct set;
  ``net_correct`` max(0, (cp - wp) / C);
  ``coverage`` cp / C if no wrong option is picked, else 0 (credit for an incomplete but
  clean selection; any wrong pick forfeits the question);
  e.g. C=2 of N=4: one correct picked -> 0, 0.5, 0.5; both correct plus one wrong -> 0, 0.5, 0;
  ticking every box earns 0 under every scheme as long as a question has at least as many
  wrong options as right ones (net_correct: max(0, (C - (N - C)) / C) = 0 for N >= 2C), which
  the cue audit (quizzes/cue_audit.py) requires of every bank; net_correct is also how Canvas
  and Moodle grade multiple answers, so the exports keep the rule;
- ordering: LCS(answer, key) / len(key); e.g. key abcde, answer bacde -> LCS acde = 4/5;
- matching: correct pairs / number of pairs.

An answer that cannot be read (unknown letter, not a number, wrong shape) scores 0 and
``Result.error`` says why; scoring never raises on learner input.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from quizzes import formula
from quizzes.model import (
    AnyQuestion,
    MatchingQuestion,
    MultipleQuestion,
    NumericQuestion,
    OrderingQuestion,
    SingleQuestion,
    TextQuestion,
    TrueFalseQuestion,
)
from quizzes.normalise import normalise_label, normalise_text
from quizzes.numbers import NumberError, precision_tolerance, read_number
from quizzes.variants import Option, Presented

TRUE_WORDS = {"true", "t", "yes", "y"}
FALSE_WORDS = {"false", "f", "no", "n"}
_LETTER = re.compile(r"\(?([A-Za-z]{1,2})[.)]?")
_LETTER_LIST = re.compile(r"[A-Za-z](\s*[,\s]\s*[A-Za-z])+")


class AnswerError(ValueError):
    """A learner answer that cannot be read; the message is shown to the learner."""


@dataclass
class ChoiceFeedback:
    """How one displayed option fared: picked or not, correct or not, and its feedback."""

    letter: str
    text: str
    picked: bool
    correct: bool
    feedback: str


@dataclass
class Result:
    """The outcome of scoring one answer."""

    question_id: str
    score: float
    max_score: float
    feedback: list[str] = field(default_factory=list)
    choices: list[ChoiceFeedback] = field(default_factory=list)
    explanation: str = ""
    key: str = ""  # the correct answer, as shown after submission
    error: str | None = None  # why the answer could not be read (score is then 0)

    @property
    def max(self) -> float:
        return self.max_score

    @property
    def fraction(self) -> float:
        return self.score / self.max_score if self.max_score else 0.0

    @property
    def correct(self) -> bool:
        return math.isclose(self.score, self.max_score)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- reading answers


def _is_blank(answer: Any) -> bool:
    return answer is None or (isinstance(answer, str) and not answer.strip()) or answer in ([], {}, ())


def _tokens(answer: Any) -> list[str]:
    """A list-valued answer as strings: a list, ``"a|b"``, or letters ``"A, C"``."""
    if isinstance(answer, (list, tuple)):
        if not all(isinstance(a, (str, int)) and not isinstance(a, bool) for a in answer):
            raise AnswerError("expected a list of choice letters or texts")
        return [str(a) for a in answer]
    if isinstance(answer, str):
        text = answer.strip()
        if "|" in text:
            return [part for part in (p.strip() for p in text.split("|")) if part]
        if _LETTER_LIST.fullmatch(text):
            return re.split(r"\s*[,\s]\s*", text)
        return [text] if text else []
    raise AnswerError(f"expected a list of choice letters or texts, got {type(answer).__name__}")


def _resolve(token: str, options: tuple[Option, ...], what: str = "choice") -> Option:
    """The option a token names: its displayed letter first, else its text."""
    token = str(token).strip()
    m = _LETTER.fullmatch(token)
    if m:
        for option in options:
            if option.letter == m.group(1).upper():
                return option
    key = normalise_label(token)
    for option in options:
        if normalise_label(option.text) == key:
            return option
    letters = f"{options[0].letter}-{options[-1].letter}" if options else "none"
    raise AnswerError(f"unknown {what} {token!r}: give a letter ({letters}) or the exact text")


def _number(answer: Any, unit: str | None) -> float:
    try:
        return read_number(answer, unit)
    except NumberError as exc:
        raise AnswerError(str(exc)) from None


def _matching_pairs(answer: Any, presented: Presented) -> dict[int, Option]:
    """Learner's matching as {left index: right option}."""
    if isinstance(answer, dict):
        items = [(str(k), v) for k, v in answer.items()]
    else:
        if isinstance(answer, str):
            parts = [p for p in (x.strip() for x in answer.split("|")) if p]
        elif isinstance(answer, (list, tuple)) and all(isinstance(p, str) for p in answer):
            parts = list(answer)
        else:
            raise AnswerError("expected a mapping left -> right, or 'left=right|left=right'")
        items = []
        for part in parts:
            items.append(_split_pair(part, presented))
    lefts = [normalise_label(t) for t in presented.lefts]
    pairs: dict[int, Option] = {}
    for left, right in items:
        left = left.strip()
        if left.isdigit() and 1 <= int(left) <= len(lefts):
            index = int(left) - 1
        elif normalise_label(left) in lefts:
            index = lefts.index(normalise_label(left))
        else:
            raise AnswerError(f"unknown left item {left!r}: give its number (1-{len(lefts)}) or its text")
        if not isinstance(right, str):
            raise AnswerError(f"{left!r}: expected a right-hand letter or text")
        if index in pairs:
            raise AnswerError(f"left item {presented.lefts[index]!r} is matched twice")
        pairs[index] = _resolve(right, presented.options, "right-hand option")
    return pairs


def _split_pair(part: str, presented: Presented) -> tuple[str, str]:
    """Split ``left=right``; texts may contain '=', so try each '=' until both sides resolve."""
    positions = [i for i, ch in enumerate(part) if ch == "="]
    if not positions:
        raise AnswerError(f"{part!r}: expected left=right")
    lefts = {normalise_label(t) for t in presented.lefts}
    for i in positions:
        left, right = part[:i].strip(), part[i + 1 :].strip()
        known_left = (left.isdigit() and 1 <= int(left) <= len(lefts)) or normalise_label(left) in lefts
        if known_left:
            try:
                _resolve(right, presented.options)
                return left, right
            except AnswerError:
                continue
    i = positions[0]
    return part[:i], part[i + 1 :]


# --------------------------------------------------------------------------- the key


def numeric_answer(presented: Presented) -> float:
    """The correct value of a numeric question for this variant's params."""
    question = presented.question
    assert isinstance(question, NumericQuestion)
    return formula.evaluate(question.answer, presented.params)


def numeric_tolerance(question: NumericQuestion, expected: float) -> float:
    """The absolute tolerance around ``expected``: relative to the key (as LMSs do), not to
    the larger of the two numbers, and at least what the stated precision (``digits``) needs."""
    return max(question.rtol * abs(expected), question.atol, precision_tolerance(expected, question.digits))


def format_number(value: float) -> str:
    """``8.0`` -> ``8``; other values with up to 6 significant digits."""
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


def correct_answer(presented: Presented) -> Any:
    """A full-marks answer in the learner format (letters for displayed options)."""
    q = presented.question
    if isinstance(q, SingleQuestion):
        return next(o.letter for o in presented.options if q.choices[o.index].correct)
    if isinstance(q, MultipleQuestion):
        return [o.letter for o in presented.options if q.choices[o.index].correct]
    if isinstance(q, TrueFalseQuestion):
        return q.answer
    if isinstance(q, NumericQuestion):
        return numeric_answer(presented)
    if isinstance(q, TextQuestion):
        return q.accept[0]
    if isinstance(q, OrderingQuestion):
        by_index = {o.index: o.letter for o in presented.options}
        return [by_index[i] for i in range(len(q.items))]
    if isinstance(q, MatchingQuestion):
        return {p.left: p.right for p in q.pairs}
    raise TypeError(f"unknown question type {q.type}")


def answer_key(presented: Presented) -> str:
    """The correct answer as one line of text (Markdown-safe enough for keys and feedback)."""
    q = presented.question
    if isinstance(q, (SingleQuestion, MultipleQuestion)):
        return "; ".join(f"{o.letter}. {o.text}" for o in presented.options if q.choices[o.index].correct)
    if isinstance(q, TrueFalseQuestion):
        return "true" if q.answer else "false"
    if isinstance(q, NumericQuestion):
        text = format_number(numeric_answer(presented))
        if q.unit:
            text += f" {q.unit}"
        tol = [f"{q.digits} significant digits"] if q.digits else []
        tol += [f"rtol {q.rtol:g}"] if q.rtol else []
        tol += [f"atol {q.atol:g}"] if q.atol else []
        return text + (f" ({', '.join(tol)})" if tol else "")
    if isinstance(q, TextQuestion):
        return " / ".join(q.accept)
    if isinstance(q, OrderingQuestion):
        by_index = {o.index: o for o in presented.options}
        return ", ".join(f"{by_index[i].letter}. {item}" for i, item in enumerate(q.items))
    if isinstance(q, MatchingQuestion):
        letters = {normalise_label(o.text): o.letter for o in presented.options}
        return "; ".join(
            f"{n}. {p.left} = {letters[normalise_label(p.right)]}. {p.right}" for n, p in enumerate(q.pairs, 1)
        )
    raise TypeError(f"unknown question type {q.type}")


# --------------------------------------------------------------------------- scoring


def lcs_length(a: list[Any], b: list[Any]) -> int:
    """Length of the longest common subsequence (classic O(len(a)·len(b)) table).

    >>> lcs_length(list("bacde"), list("abcde"))
    4
    """
    prev = [0] * (len(b) + 1)
    for x in a:
        row = [0]
        for j, y in enumerate(b):
            row.append(prev[j] + 1 if x == y else max(prev[j + 1], row[j]))
        prev = row
    return prev[-1]


def _fraction(presented: Presented, answer: Any, result: Result) -> float:
    """Share of the points earned; fills feedback on ``result``; raises AnswerError."""
    q = presented.question
    if isinstance(q, SingleQuestion):
        tokens = _tokens(answer) if isinstance(answer, (list, tuple)) else [str(answer)]
        if len(tokens) != 1:
            raise AnswerError(f"pick exactly one choice, got {len(tokens)}")
        picked = _resolve(tokens[0], presented.options)
        result.choices = _choice_feedback(q, presented, {picked.index})
        choice = q.choices[picked.index]
        result.feedback.append(choice.feedback)
        return 1.0 if choice.correct else (choice.credit or 0.0)
    if isinstance(q, MultipleQuestion):
        picked = {_resolve(t, presented.options).index for t in _tokens(answer)}
        result.choices = _choice_feedback(q, presented, picked)
        for c in result.choices:
            if c.picked:
                result.feedback.append(f"{c.letter}: {c.feedback}")
            elif c.correct:
                result.feedback.append(f"{c.letter} (missed): {c.feedback}")
        return _multiple_fraction(q, picked)
    if isinstance(q, TrueFalseQuestion):
        if isinstance(answer, bool):
            value = answer
        elif isinstance(answer, str) and answer.strip().casefold() in TRUE_WORDS | FALSE_WORDS:
            value = answer.strip().casefold() in TRUE_WORDS
        else:
            raise AnswerError(f"{answer!r}: answer true or false (t/f, yes/no)")
        result.feedback.append(q.feedback_true if value else q.feedback_false)
        return 1.0 if value == q.answer else 0.0
    if isinstance(q, NumericQuestion):
        got = _number(answer, q.unit)
        expected = numeric_answer(presented)
        ok = abs(got - expected) <= numeric_tolerance(q, expected)
        result.feedback.append("Correct." if ok else f"Got {format_number(got)}, expected {result.key}.")
        return 1.0 if ok else 0.0
    if isinstance(q, TextQuestion):
        if isinstance(answer, bool) or not isinstance(answer, (str, int, float)):
            raise AnswerError("expected a short text answer")
        ok = normalise_text(str(answer)) in {normalise_text(a) for a in q.accept}
        result.feedback.append("Accepted." if ok else f"Not accepted; expected {result.key}.")
        return 1.0 if ok else 0.0
    if isinstance(q, OrderingQuestion):
        order = [_resolve(t, presented.options, "item").index for t in _tokens(answer)]
        if len(set(order)) != len(order):
            raise AnswerError("an item appears twice in your order")
        common = lcs_length(order, list(range(len(q.items))))
        result.feedback.append(f"{common} of {len(q.items)} items in the right relative order.")
        return common / len(q.items)
    if isinstance(q, MatchingQuestion):
        pairs = _matching_pairs(answer, presented)
        right = sum(
            1
            for i, p in enumerate(q.pairs)
            if i in pairs and normalise_label(pairs[i].text) == normalise_label(p.right)
        )
        result.feedback.append(f"{right} of {len(q.pairs)} pairs correct.")
        return right / len(q.pairs)
    raise TypeError(f"unknown question type {q.type}")


def _choice_feedback(q: SingleQuestion | MultipleQuestion, presented: Presented, picked: set[int]):
    return [
        ChoiceFeedback(o.letter, o.text, o.index in picked, q.choices[o.index].correct, q.choices[o.index].feedback)
        for o in presented.options
    ]


def _multiple_fraction(q: MultipleQuestion, picked: set[int]) -> float:
    correct = {i for i, c in enumerate(q.choices) if c.correct}
    c = len(correct)
    cp, wp = len(picked & correct), len(picked - correct)
    if q.scheme == "all_or_nothing":
        return 1.0 if picked == correct else 0.0
    if q.scheme == "net_correct":
        return max(0.0, (cp - wp) / c)
    if q.scheme == "coverage":
        return cp / c if wp == 0 else 0.0
    raise ValueError(f"unknown scheme {q.scheme}")


def score(question: AnyQuestion, presented: Presented, answer: Any) -> Result:
    """Score ``answer`` to ``presented`` (the variant of ``question`` the learner saw)."""
    if presented.question is not question and presented.question.id != question.id:
        raise ValueError(f"presented question {presented.id} is not {question.id}")
    result = Result(
        question_id=question.id,
        score=0.0,
        max_score=float(question.points),
        explanation=presented.explanation,
        key=answer_key(presented),
    )
    if _is_blank(answer):
        result.error = "no answer"
        result.feedback.append("No answer given.")
        return result
    try:
        fraction = _fraction(presented, answer, result)
    except AnswerError as exc:
        result.error = str(exc)
        result.feedback = [str(exc)]
        result.choices = []
        return result
    result.score = round(fraction * question.points, 6)
    return result


def score_presented(presented: Presented, answer: Any) -> Result:
    """Shorthand for ``score(presented.question, presented, answer)``."""
    return score(presented.question, presented, answer)

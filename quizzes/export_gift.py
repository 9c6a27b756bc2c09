"""Export banks to Moodle GIFT (`quiz export --gift OUT.txt`).

GIFT is plain text, one question per blank-line-separated block::

    ::title::[html]prompt {
    =right answer #feedback
    ~%-50%wrong answer #feedback
    ####general feedback
    }

Text. Prompts, choices and feedback are written as HTML (``[html]``; Moodle reads answers and
feedback in the question text's format), made by the engine's Markdown renderer, with maths as
``\\(...\\)``, the delimiters of Moodle's MathJax filter (quizzes/maths.py). Not
``[markdown]``: Moodle's Markdown would eat the backslash of ``\\(`` and read ``_`` in LaTeX
as emphasis. Matching right-hand answers are plain text in Moodle, so their maths is Unicode.

Escaping. Moodle's importer (question/format/gift/format.php, ``escapedchar_pre``) turns
``\\\\`` into a backslash and ``\\: \\# \\= \\{ \\} \\~`` into the bare character, and ``\\n``
into a newline. So :func:`escape` puts a backslash before each of ``\\ ~ = # { } :`` (LaTeX
included: ``\\frac{1}{2}`` becomes ``\\\\frac\\{1\\}\\{2\\}``) and writes newlines as ``\\n``,
which keeps every question free of blank lines (a blank line ends a GIFT question).

Type mapping (what GIFT cannot say is written in a ``//`` comment above the question and
listed in the returned warnings):

- single: ``=`` the key, ``~`` the others; a wrong choice with ``credit`` gets ``~%50%``.
- multiple: ``~%w%`` on every choice, weights from the scheme (see :func:`multiple_weights`).
- truefalse: ``{T#feedback if wrong#feedback if right}`` (Moodle's order).
- numeric: ``{#value:tolerance}``. A parameterised question is exported as ONE concrete
  variant drawn with the fixed instructor seed (student ``EXPORT_STUDENT``), noted in a
  comment, since GIFT has no parameters.
- text: ``{=a =b}``, every accepted answer and its normalised form (Moodle keeps punctuation,
  the engine drops it: see :func:`accepted_variants`); ``*`` is escaped for Moodle's
  short-answer wildcard.
- matching: ``{=left -> right ...}``; distractors as ``= -> extra`` (an empty left is
  Moodle's "extra answer").
- ordering: no GIFT type; exported as matching "Position k -> item" (or skipped with a
  warning when ``ordering="skip"``).

What GIFT cannot carry (said in ``//`` comments and the warnings): points (Moodle imports
every GIFT question with a default mark of 1; ``quiz export --moodle-xml`` writes
``<defaultgrade>``, which Moodle's importer honours) and hiding answers (no per-question
flag: a ``graded: true`` question is written without its feedback and general feedback, and
the quiz's review options must hide the right answer).
"""
from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from quizzes import formula, maths
from quizzes.model import (
    AnyQuestion,
    Bank,
    MatchingQuestion,
    MultipleQuestion,
    NumericQuestion,
    OrderingQuestion,
    SingleQuestion,
    TextQuestion,
    TrueFalseQuestion,
)
from quizzes.normalise import normalise_text
from quizzes.render import markdown_html, markdown_inline_html
from quizzes.variants import present

# Fixed "student" whose variant of a parameterised question is exported; documented so an
# instructor can reproduce it with `quiz take --student`.
EXPORT_STUDENT = "instructor-export"
GIFT_SPECIAL = "\\~=#{}:"


def escape(text: str) -> str:
    r"""GIFT-escape ``text``: backslash before ``\ ~ = # { } :``, newlines as ``\n``.

    >>> escape(r"\frac{1}{2}: a=b # ~x")
    '\\\\frac\\{1\\}\\{2\\}\\: a\\=b \\# \\~x'
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    escaped = "".join("\\" + c if c in GIFT_SPECIAL else c for c in text)
    return escaped.replace("\n", "\\n")


def weight(percent: float) -> str:
    """Moodle answer weight ``%w%``; Moodle's own grade list uses 5 decimals (33.33333)."""
    text = f"{percent:.5f}".rstrip("0").rstrip(".")
    return f"%{'0' if text in ('', '-0') else text}%"


def html_block(markdown_text: str) -> str:
    """A prompt or explanation as HTML, maths in MathJax delimiters."""
    return str(markdown_html(markdown_text, math="mathjax")).strip()


def html_inline(markdown_text: str) -> str:
    """A choice or feedback as inline HTML (no <p>), maths in MathJax delimiters."""
    return str(markdown_inline_html(markdown_text, math="mathjax")).strip()


def plain(text: str) -> str:
    """Text an LMS shows as plain text (matching answers, drop-down options): maths as Unicode."""
    return maths.unicode_text(text).strip()


def accepted_variants(accept: Iterable[str]) -> list[str]:
    """Every accepted short answer as written and as the engine normalises it (quizzes/
    normalise.py), without case-insensitive repeats: Moodle and Canvas compare case-
    insensitively but keep punctuation, so "layer-norm" alone would refuse "layernorm",
    which the engine accepts."""
    seen: dict[str, str] = {}
    for answer in accept:
        for variant in (answer.strip(), normalise_text(answer)):
            seen.setdefault(variant.casefold(), variant)
    return list(seen.values())


@dataclass
class GiftExport:
    text: str
    warnings: list[str] = field(default_factory=list)
    count: int = 0  # questions written


def multiple_weights(question: MultipleQuestion) -> tuple[list[float], str | None]:
    """Per-choice Moodle weights (percent) for a multiple-select question, and a note when
    Moodle's grading differs from ours (quizzes/scoring.py).

    Moodle adds the weights of the ticked choices and clamps the sum to [0, 100]. With C
    correct choices, every correct one weighs 100/C and:
    - net_correct, max(0, (cp - wp) / C): each wrong one -100/C. Exact.
    - all_or_nothing: each wrong one -100, so any wrong tick scores 0; but a strict subset
      of the correct choices earns partial credit in Moodle where we give 0.
    - coverage, (cp + (N - C - wp)) / N: Moodle cannot credit leaving a wrong choice
      unticked, so it gets the net_correct weights (same at full marks and at zero).
    E.g. C = 2 of N = 4 under net_correct: ~%50% ~%50% ~%-50% ~%-50%.
    """
    k = sum(c.correct for c in question.choices)
    right = 100.0 / k
    note = None
    if question.scheme == "all_or_nothing":
        wrong = -100.0
        if k > 1:
            note = "all_or_nothing: Moodle gives partial credit for a subset of the correct choices"
    else:
        wrong = -right
        if question.scheme == "coverage":
            note = "coverage: exported with net_correct weights (Moodle cannot credit unticked wrong choices)"
    return [right if c.correct else wrong for c in question.choices], note


def _choice_line(sign: str, text: str, feedback: str | None, percent: float | None = None) -> str:
    if percent is None and text.startswith("%"):
        # An explicit weight stops Moodle reading "%10% of ..." as a weight of 10.
        percent = 100.0 if sign == "=" else 0.0
    line = f"{sign}{weight(percent) if percent is not None else ''}{escape(html_inline(text))}"
    return f"{line} #{escape(html_inline(feedback))}" if feedback else line


def numeric_key(question: NumericQuestion) -> tuple[float, float, dict]:
    """(value, absolute tolerance, params) of the exported variant of a numeric question.
    The scorer accepts |x - v| <= max(rtol * max(|x|, |v|), atol) (math.isclose); Moodle
    wants one absolute tolerance, so we give max(atol, rtol * |v|)."""
    params = present(question, EXPORT_STUDENT, question.id).params if question.params else {}
    value = float(formula.evaluate(question.answer, params))
    return value, max(question.atol, question.rtol * abs(value)), params


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


def question_block(question: AnyQuestion,
                   ordering: Literal["matching", "skip"] = "matching") -> tuple[str | None, list[str]]:
    """GIFT text of one question (None if skipped) and the warnings it raised."""
    points = f"{question.points:g} point{'s' if question.points != 1 else ''}"
    comments = [f"// {question.id} ({question.type}, {points})"]
    comments.append("// source: " + "; ".join(question.sources))
    warnings: list[str] = []
    if question.points != 1:
        comments.append(f"// points: {points}; GIFT cannot carry them (Moodle imports 1): set the mark in the quiz "
                        "or use quiz export --moodle-xml")
        warnings.append(f"{question.id}: {points}; GIFT imports it as 1 point (use --moodle-xml to carry points)")
    # An exam question's key must not reach students through feedback after an attempt.
    hide = question.graded
    if hide:
        comments.append("// graded: written without feedback; hide right answers in the quiz's review options")
        warnings.append(f"{question.id}: graded; feedback left out, GIFT cannot hide answers per question")
    prompt, explanation = question.prompt, question.explanation
    answers: list[str] = []

    def feedback(text: str) -> str | None:
        return None if hide else text

    if isinstance(question, SingleQuestion):
        for c in question.choices:
            if c.correct:
                answers.append(_choice_line("=", c.text, feedback(c.feedback)))
            else:
                answers.append(_choice_line("~", c.text, feedback(c.feedback), 100 * c.credit if c.credit else None))
    elif isinstance(question, MultipleQuestion):
        weights, note = multiple_weights(question)
        if note:
            comments.append(f"// note: {note}")
            warnings.append(f"{question.id}: {note}")
        answers = [_choice_line("~", c.text, feedback(c.feedback), w)
                   for c, w in zip(question.choices, weights, strict=True)]
    elif isinstance(question, TrueFalseQuestion):
        right, wrong = (question.feedback_true, question.feedback_false) if question.answer else (
            question.feedback_false, question.feedback_true)
        key = "TRUE" if question.answer else "FALSE"
        answers.append(key if hide else f"{key}#{escape(html_inline(wrong))}#{escape(html_inline(right))}")
    elif isinstance(question, NumericQuestion):
        value, tol, params = numeric_key(question)
        if params:
            drawn = ", ".join(f"{k} = {v}" for k, v in params.items())
            comments.append(f"// parameterised: one variant exported, drawn with the fixed instructor seed "
                            f"(student {EXPORT_STUDENT!r}): {drawn}")
            warnings.append(f"{question.id}: parameterised; exported one variant (instructor seed "
                            f"{EXPORT_STUDENT!r}): {drawn}")
            variant = present(question, EXPORT_STUDENT, question.id)
            prompt, explanation = variant.prompt, variant.explanation
        if question.unit:
            prompt = f"{prompt.rstrip()} ({question.unit})"
        answers.append(f"#{_number(value)}:{_number(tol)}")
    elif isinstance(question, TextQuestion):
        comments.append("// Moodle compares short answers case-insensitively but keeps punctuation: "
                        "every accepted answer is also written normalised")
        # In Moodle short answers a bare * is a wildcard; \* is a literal star.
        answers = ["=" + escape(a).replace("*", "\\*") for a in accepted_variants(question.accept)]
    elif isinstance(question, MatchingQuestion):
        answers = [f"={_left(p.left, question.id, warnings)} -> {escape(plain(p.right))}" for p in question.pairs]
        answers += [f"= -> {escape(plain(d))}" for d in question.distractors]
    elif isinstance(question, OrderingQuestion):
        msg = f"{question.id}: ordering has no GIFT type"
        if ordering == "skip":
            warnings.append(msg + "; skipped")
            return None, warnings
        warnings.append(msg + "; exported as matching 'Position k -> item' (no LCS partial credit)")
        comments.append("// ordering exported as matching: match each position to its item")
        answers = [f"=Position {k} -> {escape(plain(item))}" for k, item in enumerate(question.items, 1)]
    else:  # pragma: no cover - the model's union is closed
        raise TypeError(f"unknown question type {question.type!r}")

    head = f"::{escape(question.id)}::[html]{escape(html_block(prompt))} {{"
    lines = comments + [head, "\n".join(answers)]
    if not hide:
        lines.append(f"####{escape(html_block(explanation))}")
    return "\n".join(lines + ["}"]), warnings


def _left(text: str, qid: str, warnings: list[str]) -> str:
    # Moodle splits a pair at the first "->" and GIFT cannot escape it. The left is a
    # subquestion in the question's (HTML) format; maths as Unicode, like the answers beside it.
    if "->" in text:
        warnings.append(f"{qid}: '->' in a left item replaced by '→'")
        text = text.replace("->", "→")
    return escape(html.escape(plain(text), quote=False))


def export_gift(banks: Iterable[Bank], ordering: Literal["matching", "skip"] = "matching") -> GiftExport:
    """GIFT text for ``banks``: one ``$CATEGORY`` per topic, then its questions."""
    out = GiftExport(text="")
    parts = ["// Exported by `quiz export --gift` (nlp-transformers-autograder).",
             "// Points are not part of GIFT (Moodle imports 1 per question): questions worth more say so",
             "// below; `quiz export --moodle-xml` carries them as <defaultgrade>."]
    for bank in banks:
        parts.append(f"\n// {escape(bank.title)}\n$CATEGORY: $course$/{bank.topic}\n")
        for question in bank.questions:
            block, warnings = question_block(question, ordering)
            out.warnings.extend(warnings)
            if block is not None:
                parts.append(block + "\n")
                out.count += 1
    out.text = "\n".join(parts)
    return out

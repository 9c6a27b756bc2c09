"""Reading a learner's numeric answer, and the tolerance a stated precision implies.

Learners copy the notation the prompts print, so it is accepted (BANK_FORMAT.md "Answers"):

- ``^`` for powers (``2^-8``), ``×`` / ``·`` for products (``1.5×10^9``);
- the Unicode minus ``−`` and the en dash ``–`` the banks print, as ``-``;
- thousands separators in exact groups of three (``1,000,000``; ``1 000``; ``1_000``): a lone
  comma such as ``1,5`` is refused, since it may be a decimal comma;
- the question's unit after the number, in any case (``112 gb`` for unit ``GB``);
- a name-free formula (``1/1000``), evaluated by :mod:`quizzes.formula` within its bounds.

>>> read_number("−2^−3", None)
-0.125
>>> read_number("1,048,576 tokens", "tokens")
1048576.0
>>> round(precision_tolerance(-2.4249, 3), 9)  # half a unit in the 3rd significant digit
0.005
"""
from __future__ import annotations

import math
import re

from quizzes import formula

MAX_ANSWER_LENGTH = 200  # a numeric answer longer than this is not an answer
_DASHES = str.maketrans({"\u2212": "-", "\u2013": "-", "\u00d7": "*", "\u00b7": "*", "^": "**"})
_GROUPED = re.compile(r"(?<![\d.])\d{1,3}(?:([,\u00a0\u202f _])\d{3})(?:\1\d{3})*(?![\d,])")


class NumberError(ValueError):
    """An answer that is not a number; the message is shown to the learner."""


def _strip_unit(text: str, unit: str | None) -> str:
    if unit and text.casefold().endswith(unit.casefold()):
        return text[: -len(unit)].strip()
    return text


def _ungroup(text: str) -> str:
    """``1,000,000`` -> ``1000000`` (exact groups of three only)."""
    return _GROUPED.sub(lambda m: m.group(0).replace(m.group(1), ""), text)


def read_number(answer: object, unit: str | None) -> float:
    """The value of a learner's numeric answer; raises :class:`NumberError` with the reason."""
    if isinstance(answer, bool):
        raise NumberError("expected a number, got true/false")
    if isinstance(answer, (int, float)):
        value = float(answer) if not isinstance(answer, int) or answer.bit_length() <= 1023 else math.inf
    elif isinstance(answer, str):
        if len(answer) > MAX_ANSWER_LENGTH:
            raise NumberError(f"answer longer than {MAX_ANSWER_LENGTH} characters")
        text = _ungroup(_strip_unit(answer.strip(), unit)).translate(_DASHES).strip()
        if "," in text:
            raise NumberError(f"{answer!r}: write decimals with a point (1.5), not a comma")
        value = _evaluate(text, answer)
    else:
        raise NumberError(f"expected a number, got {type(answer).__name__}")
    if not math.isfinite(value):
        raise NumberError(f"{answer!r} is not a finite number")
    return value


def _evaluate(text: str, answer: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = formula.parse(text)
        if parsed.names:
            raise NumberError(f"{answer!r} is not a number (names such as {min(parsed.names)} are not allowed)")
        return float(parsed.evaluate({}))
    except formula.FormulaError as exc:
        raise NumberError(f"{answer!r} is not a number: {exc}") from None
    except OverflowError:
        raise NumberError(f"{answer!r} is too large") from None


def precision_tolerance(expected: float, digits: int | None) -> float:
    """Half a unit in the ``digits``-th significant digit of ``expected`` (0 when no precision
    is stated): every answer correctly rounded to ``digits`` digits is within it. A hair more
    than half, so that binary floats of decimal answers (-2.42) are not refused by 1e-16."""
    if not digits or expected == 0:
        return 0.0
    exponent = math.floor(math.log10(abs(expected))) - digits + 1
    return 0.5 * 10.0**exponent * (1 + 1e-9)

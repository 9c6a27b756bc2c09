"""Text normalisation shared by validation (accepted answers) and scoring.

BANK_FORMAT.md: casefold, strip, collapse whitespace, drop ``. , ; : ! ? ' " ` - _``;
a comma, semicolon or colon between two numbers becomes a space, so that shapes stay apart
(``(2,8,10,10)`` is ``(2 8 10 10)``, never the same as ``(28,10,10)``).

>>> normalise_text("  Layer-Norm. ")
'layernorm'
>>> normalise_text("Layer   NORM")
'layer norm'
>>> normalise_text("(2, 8,10,10)")
'(2 8 10 10)'
"""
from __future__ import annotations

import re

_DROP = str.maketrans("", "", ".,;:!?'\"`-_")
_SPACES = re.compile(r"\s+")
_NUMBER_SEPARATOR = re.compile(r"(?<=\d)\s*[,;:]\s*(?=\d)")


def normalise_text(text: str) -> str:
    """Canonical form of a short-text answer (see module docstring)."""
    # Drop punctuation before collapsing, so "a - b" becomes "a b", not "a  b".
    text = _NUMBER_SEPARATOR.sub(" ", text.casefold())
    return _SPACES.sub(" ", text.translate(_DROP)).strip()


def normalise_label(text: str) -> str:
    """Canonical form for matching a typed choice/item text against the bank: casefold and
    collapse whitespace only (punctuation can matter in a choice, e.g. code)."""
    return _SPACES.sub(" ", text.casefold()).strip()

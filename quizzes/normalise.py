"""Text normalisation shared by validation (accepted answers) and scoring.

BANK_FORMAT.md: casefold, strip, collapse whitespace, drop ``. , ; : ! ? ' " ` - _``.

>>> normalise_text("  Layer-Norm. ")
'layernorm'
>>> normalise_text("Layer   NORM")
'layer norm'
"""
from __future__ import annotations

import re

_DROP = str.maketrans("", "", ".,;:!?'\"`-_")
_SPACES = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Canonical form of a short-text answer (see module docstring)."""
    # Drop punctuation before collapsing, so "a - b" becomes "a b", not "a  b".
    return _SPACES.sub(" ", text.casefold().translate(_DROP)).strip()


def normalise_label(text: str) -> str:
    """Canonical form for matching a typed choice/item text against the bank: casefold and
    collapse whitespace only (punctuation can matter in a choice, e.g. code)."""
    return _SPACES.sub(" ", text.casefold()).strip()

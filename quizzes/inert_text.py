"""Text from a student (ids, names, answers, messages) made inert before a terminal shows it.

The rule of autograder/student_text.py, which builds on this module: every control, invisible
or undecodable character becomes a visible escape, so nothing can move the cursor, rewrite a
line, ring the bell or reorder what the reader sees, and nothing is dropped. It lives in the
quiz engine, which prints student ids and answers too and ships without the grader.
"""
from __future__ import annotations

import unicodedata

__all__ = ["UNSAFE_CATEGORIES", "escape_char", "terminal_text"]

UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_KEPT_IN_MESSAGES = frozenset("\n\t")  # multi-line messages keep their layout


def escape_char(char: str) -> str:
    """``\\xNN`` for C0/C1 controls, DEL and undecodable bytes; ``\\uNNNN`` / ``\\UNNNNNNNN`` above."""
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, as surrogateescape carries it
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _unsafe(char: str) -> bool:
    return unicodedata.category(char) in UNSAFE_CATEGORIES


def terminal_text(text: object, *, keep_newlines: bool = True) -> str:
    """`text` with every control, invisible or undecodable character escaped.

    Newlines and tabs are kept when `keep_newlines` (messages); a one-line field (a table
    cell, a name) passes ``keep_newlines=False`` and gets ``\\x0a`` instead.
    """
    text = str(text)
    kept = _KEPT_IN_MESSAGES if keep_newlines else frozenset()
    if text.isprintable():
        return text  # the common case, fast
    return "".join(escape_char(c) if c not in kept and _unsafe(c) else c for c in text)

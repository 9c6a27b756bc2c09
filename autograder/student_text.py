"""Student-controlled text made inert before a terminal shows it or a file stores it.

Names (files, folders, zip members, student ids), printed output, exception messages and
returned strings all come from the submission. On a terminal they could move the cursor,
rewrite earlier lines (ESC sequences, CR), ring the bell, reorder what the instructor reads
(bidi overrides), or inject rich markup (``[red]``); stored, a lone surrogate (an undecodable
byte of a file name) cannot be encoded as UTF-8 and would crash the writer. Every such
character becomes a visible escape::

    >>> terminal_text("ok\\x1b[2Jgone\\u202eevil")
    'ok\\\\x1b[2Jgone\\\\u202eevil'
    >>> terminal_name("al\\udcffce\\n")  # names: one line, an undecodable byte as \\xNN
    'al\\\\xffce\\\\x0a'

Escapes: ``\\xNN`` for C0/C1 controls, DEL and undecodable bytes (the surrogates U+DC80-DCFF
that ``os.fsdecode`` makes of them), ``\\uNNNN`` / ``\\UNNNNNNNN`` for other invisible or
unassigned code points (categories Cc, Cf, Cs, Co, Cn, Zl, Zp), so nothing is dropped.
"""
from __future__ import annotations

import sys
import unicodedata

from rich.markup import escape
from rich.text import Text

# The character rule has its home in the quiz engine, which prints student ids too and ships
# without the grader: terminal_text is the one escape, used here and there.
from quizzes.inert_text import escape_char as _escape
from quizzes.inert_text import terminal_text


def terminal_name(name: object) -> str:
    """A file, folder, member or student name on one line, every unsafe character escaped.

    Nothing is dropped: each code point of the name is shown, as itself or as its escape. The
    name's own backslashes are kept as they are (doubling them would make the ids that
    already carry ``\\xNN`` for an undecodable byte unreadable), so a name that literally
    contains ``\\x1b`` reads like one holding ESC: the stored id, never the shown one, is the key.
    """
    return terminal_text(name, keep_newlines=False)


def storable(text: object) -> str:
    """`text` encodable as UTF-8: lone surrogates (undecodable bytes) become escapes.

    For what is written to files and the gradebook; everything else is kept as it is (the
    HTML report escapes markup itself, and terminals get :func:`terminal_text`).
    """
    text = str(text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join(_escape(c) if unicodedata.category(c) == "Cs" else c for c in text)
    return text


def rich_text(text: object, *, style: str = "", keep_newlines: bool = True) -> Text:
    """A rich ``Text`` holding `text` escaped: markup such as ``[red]`` prints literally."""
    return Text(terminal_text(text, keep_newlines=keep_newlines), style=style)


def rich_name(name: object, *, style: str = "") -> Text:
    """A rich ``Text`` holding a name escaped losslessly (:func:`terminal_name`)."""
    return Text(terminal_name(name), style=style)


def markup_name(name: object) -> str:
    """A name for a place that reads rich markup (a progress description): escaped twice over."""
    return escape(terminal_name(name))


def safe_streams() -> None:
    """Let stdout and stderr print any text on any terminal encoding (LANG=C, ascii).

    What the encoding cannot represent is written as a backslash escape instead of raising
    UnicodeEncodeError in the middle of a report.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a closed or detached stream: nothing to protect
                pass

"""CSV cells that a spreadsheet shows as text, never runs as a formula.

Student ids, file names and messages end up in the CSV and Canvas exports an instructor opens
in Excel, LibreOffice or Google Sheets, which evaluate a cell starting with ``=``, ``+``, ``-``
or ``@`` (and, in some, a tab or carriage return) as a formula: ``=HYPERLINK(...)`` in a
student id would run in the instructor's spreadsheet. As OWASP's "CSV Injection" page
recommends, such a cell gets a leading apostrophe, which spreadsheets hide and read as
"this is text"::

    >>> formula_safe("=1+1"), formula_safe("@SUM(A1)"), formula_safe("alice")
    ("'=1+1", "'@SUM(A1)", 'alice')
    >>> formula_safe("-2.5"), formula_safe("-2+3")   # a negative number stays a number
    ('-2.5', "'-2+3")

Lone surrogates (undecodable bytes of a file name) are escaped too, so the file can be written.
"""
from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import IO, Any

from autograder.student_text import storable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


def formula_safe(value: Any) -> str:
    """One cell's text: a plain number is kept, text that could start a formula is quoted."""
    text = "" if value is None else storable(value)
    if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


class SafeWriter:
    """``csv.writer`` whose every cell goes through :func:`formula_safe` (header included)."""

    def __init__(self, handle: IO[str], **options: Any):
        self._writer = csv.writer(handle, **options)

    def writerow(self, cells: Iterable[Any]) -> None:
        self._writer.writerow([formula_safe(cell) for cell in cells])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)

"""Self-check helper for the lab notebooks in this folder.

A notebook's setup cell runs ``from labcheck import check``; its self-check cells then call
``check("<module>.<function>", globals())``, which runs that function's public checks against
the code defined in the notebook (see ``autograder/selfcheck.py``). This file only makes the
course folder (two levels up) importable, wherever Jupyter was started from.
"""
import sys
from pathlib import Path

_COURSE_ROOT = str(Path(__file__).resolve().parents[2])
if _COURSE_ROOT not in sys.path:
    sys.path.insert(0, _COURSE_ROOT)

from autograder.selfcheck import check  # noqa: E402  (needs the path above)

__all__ = ["check"]

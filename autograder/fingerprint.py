"""Fingerprints of everything that determines a grade, so no grade is stale or foreign.

- :func:`grader_fingerprint`: the grading code and the course's hidden side (the `autograder`
  package with its suites, `reference/` with its mistakes, `exercises/` stubs and checks).
  A Dask worker compares it with the client's and refuses to grade when they differ.
- :func:`grade_fingerprint`: that plus the grading.yaml text in force: a gradebook row graded
  under another one is stale (points, tolerances or limits changed).
- :class:`GradeFingerprint`: the same two facts stored apart on each gradebook row, so a
  regrade can say which one changed.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from autograder import __version__

_ROOT = Path(__file__).resolve().parents[1]
# What the grade depends on, relative to the project root (data files such as suites.ini too).
_PARTS = ("autograder", "reference", "exercises")
_SUFFIXES = (".py", ".ini", ".yaml")
_SKIP_DIRS = {"__pycache__", "notebooks", "server", "similarity", "templates"}


def _files() -> list[Path]:
    out = []
    for part in _PARTS:
        base = _ROOT / part
        for path in base.rglob("*"):
            rel = path.relative_to(_ROOT)
            if (path.is_file() and path.suffix in _SUFFIXES
                    and not _SKIP_DIRS.intersection(rel.parts)):
                out.append(path)
    return sorted(out)


@lru_cache(maxsize=1)
def grader_fingerprint() -> str:
    """sha256 over the grader version and every file the grading code and course consist of."""
    digest = hashlib.sha256(f"nlp-transformers-autograder {__version__}\n".encode())
    for path in _files():
        digest.update(str(path.relative_to(_ROOT).as_posix()).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def grade_fingerprint(config_text: str) -> str:
    """The grader's fingerprint combined with the grading.yaml text the grade is made under."""
    digest = hashlib.sha256(grader_fingerprint().encode())
    digest.update(config_text.encode("utf-8"))
    return digest.hexdigest()


def config_digest(config_text: str) -> str:
    """sha256 of the grading.yaml text (stored per gradebook row to say *why* a row is stale)."""
    return hashlib.sha256(config_text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class GradeFingerprint:
    """The two halves of :func:`grade_fingerprint`, kept apart so a stale row can say why."""

    grader: str          # grader_fingerprint()
    config_sha256: str   # config_digest(grading.yaml text)

    @classmethod
    def current(cls, config_text: str) -> GradeFingerprint:
        return cls(grader_fingerprint(), config_digest(config_text))

    def stale_reason(self, grader: str | None, config_sha256: str | None) -> str | None:
        """Why a row made under (grader, config_sha256) is stale; None when it is not."""
        if grader is None or config_sha256 is None:
            return "graded before fingerprints were recorded"
        changed = [what for what, same in (("grading.yaml", config_sha256 == self.config_sha256),
                                           ("the grader, suites or reference", grader == self.grader))
                   if not same]
        return " and ".join(changed) + " changed" if changed else None

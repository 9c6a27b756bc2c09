"""The grade of a submission that cannot be read: every function of grading.yaml at 0, with why.

A corrupt or hostile archive, a binary named ``.py`` or a broken notebook is the submission's
own failure, not the grader's: Gradescope, a batch and any script still need a results.json,
so it gets one like any graded submission (same test names ``<module>.<function>: <case>``,
every test at 0 of its points, the reason in each test's ``output``), and `autograder grade`
then exits 3. The gradebook keys it by a digest of the raw bytes, so a batch run again skips
it, and a corrected upload is a new submission.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from autograder.config import GradingConfig
from autograder.intake import student_id
from autograder.result_types import CaseResult, GradeResult
from autograder.scoring import score_cases
from autograder.student_text import storable

CASE_NAME = "submission could not be read"
DIGEST_FILE_BYTES = 16 << 20    # hashed of each file: enough to tell uploads apart, bounded
DIGEST_MAX_ENTRIES = 1000       # files of a folder taken into the digest


def unreadable_result(path: Path | str, reason: str, config: GradingConfig, *,
                      student: str | None = None, sandbox: str = "not started",
                      digest: str | None = None) -> GradeResult:
    """A GradeResult at 0 for every graded function, each case saying `reason`.

    `digest` is the submission's key when it was read (its modules would not load); by
    default the raw bytes are hashed (:func:`unreadable_digest`).
    """
    path = Path(path)
    reason = storable(reason)
    message = f"the submission could not be read: {reason}"
    cases = [CaseResult(f"{module}.{function}", CASE_NAME, 1.0, "error", message)
             for module, functions in _graded_functions(config).items() for function in functions]
    return GradeResult(
        student=storable(student or student_id(path)),
        submission=storable(os.fsdecode(path)),
        digest=digest or unreadable_digest(path),
        functions=score_cases(cases, config),
        seed=0,
        sandbox=sandbox,
        execution_time=0.0,
        error=reason,
        unreadable=True,
    )


def _graded_functions(config: GradingConfig) -> dict[str, list[str]]:
    from autograder.contract import contract

    return {module: [f for f in functions if config.points(f"{module}.{f}") > 0]
            for module, functions in contract().items()}


def unreadable_digest(path: Path | str) -> str:
    """sha256 over the raw bytes (each file's first 16 MiB and its size; a folder's names too).

    Never raises: what cannot be read is hashed by its name and the error.
    """
    path = Path(path)
    digest = hashlib.sha256(b"unreadable\0")
    if path.is_dir() and not path.is_symlink():
        entries = []
        for root, dirs, files in os.walk(path):
            dirs.sort()
            entries += [Path(root) / name for name in sorted(files)]
            if len(entries) >= DIGEST_MAX_ENTRIES:
                break
        for entry in entries[:DIGEST_MAX_ENTRIES]:
            digest.update(os.fsencode(entry.relative_to(path)) + b"\0")
            _hash_file(entry, digest)
    else:
        _hash_file(path, digest)
    return digest.hexdigest()


def _hash_file(path: Path, digest) -> None:
    try:
        if not path.is_file():  # a FIFO or device would block or never end
            digest.update(b"not a regular file\0")
            return
        digest.update(str(path.stat().st_size).encode() + b"\0")
        with path.open("rb") as handle:
            left = DIGEST_FILE_BYTES
            while left > 0 and (chunk := handle.read(min(left, 1 << 20))):
                digest.update(chunk)
                left -= len(chunk)
    except OSError as exc:
        digest.update(f"unreadable: {exc.strerror}".encode() + b"\0")

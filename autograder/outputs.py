"""Output paths checked before any work starts, and the exit codes every command shares.

A command that grades for minutes and then cannot write its report has lost the user's time:
each output path is checked (its parent created, writable, not a folder where a file is meant)
before the first submission is graded.
"""
from __future__ import annotations

import os
from pathlib import Path

# Exit codes of `autograder` and `quiz` (README "Exit codes" lists them with each command).
EXIT_OK = 0
EXIT_INTERNAL = 1     # a bug in the grader: one line, the traceback saved to a file
EXIT_USAGE = 2        # bad usage, bad grading.yaml / course file / output path
EXIT_SUBMISSION = 3   # the submission (or every submission of a batch folder) cannot be read
EXIT_ENVIRONMENT = 4  # grading could not run here: the sandbox or the gradebook is unavailable


class OutputPathError(ValueError):
    """An output path that cannot be written: the message names the option and the cause."""


def prepare_file(path: Path | None, option: str) -> Path | None:
    """Create `path`'s parent folders and check a file can be written there."""
    if path is None:
        return None
    if path.is_dir():
        raise OutputPathError(f"{option} {path}: is a folder, expected a file name")
    _make_dir(path.parent, option, path)
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputPathError(f"{option} {path}: the file exists and is not writable")
    return path


def prepare_dir(path: Path | None, option: str) -> Path | None:
    """Create the folder `path` (and its parents) and check files can be written in it."""
    if path is None:
        return None
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{option} {path}: is a file, expected a folder")
    _make_dir(path, option, path)
    return path


def _make_dir(folder: Path, option: str, named: Path) -> None:
    folder = folder if str(folder) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputPathError(f"{option} {named}: {_first_file(folder)} is a file, "
                              "not a folder") from None
    except OSError as exc:
        raise OutputPathError(f"{option} {named}: cannot create {folder}: "
                              f"{exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(f"{option} {named}: {folder} is not writable")


def _first_file(folder: Path) -> Path:
    """The first existing non-folder on the way to `folder` (what blocks mkdir)."""
    for parent in reversed([folder, *folder.parents]):
        if parent.exists() and not parent.is_dir():
            return parent
    return folder

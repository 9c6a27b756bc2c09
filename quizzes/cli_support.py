"""What both command lines (`quiz` and `autograder`) share: exit codes, output paths checked
before any work starts, and a click group that never ends in a Python traceback.

A command that works for minutes and then cannot write its report has lost the user's time:
each output path is checked (its parent created, writable, not a folder where a file is meant)
first. Failures the group knows (:meth:`GuardedGroup.known_exit_code`) print their message;
anything else is a bug: one line naming the error and a file holding the traceback to report.

It lives in the quiz engine because the engine ships alone in the student bundle and must not
import the grader; autograder/outputs.py and autograder/guard.py build on it.
"""
from __future__ import annotations

import os
import tempfile
import traceback
from pathlib import Path

import click

from quizzes.inert_text import terminal_text

# Exit codes of `autograder` and `quiz` (README lists them with each command).
EXIT_OK = 0
EXIT_INTERNAL = 1     # a bug in the grader: one line, the traceback saved to a file
EXIT_USAGE = 2        # bad usage, bad grading.yaml / course file / output path
EXIT_SUBMISSION = 3   # the submission cannot be read (a batch: its folder holds none; unreadable ones are scored 0)
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


def one_line(text: object) -> str:
    """The message's first lines joined into one (a multi-line message stays readable), every
    control character escaped (a message may quote a file name or a student's text)."""
    lines = [terminal_text(line, keep_newlines=False) for line in str(text).splitlines() if line.strip()]
    return lines[0] if len(lines) == 1 else " / ".join(lines[:3]) if lines else ""


def report_crash(prog: str, exc: BaseException, code: int | None) -> int:
    """Print one line for `exc` and return the exit code; a bug's (code None) traceback goes
    to a file."""
    if code is not None:
        click.echo(f"{prog}: error: {one_line(exc)}", err=True)
        return code
    try:
        with tempfile.NamedTemporaryFile("w", prefix=f"{prog}-crash-", suffix=".txt",
                                         delete=False, encoding="utf-8") as fh:
            traceback.print_exception(exc, file=fh)
            where = f"; the traceback is in {fh.name} (please attach it to a bug report)"
    except OSError:
        where = ""
    click.echo(f"{prog}: internal error: {type(exc).__name__}: {one_line(exc)}{where}", err=True)
    return EXIT_INTERNAL


def _prog_name(ctx: click.Context) -> str:
    """`autograder`, `quiz`: also when run as `python -m autograder.cli` or `python -m quizzes`."""
    name = (ctx.find_root().info_name or "cli").split()[-1]
    return name.rsplit(".", 1)[0] if name.endswith(".cli") else name


class GuardedGroup(click.Group):
    """A click group whose commands end in one line and an exit code, never a traceback."""

    def known_exit_code(self, exc: BaseException) -> int | None:
        """The exit code of a failure whose message is meant for the user; None for a bug."""
        return None

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit,
                KeyboardInterrupt, GeneratorExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the point of this class
            ctx.exit(report_crash(_prog_name(ctx), exc, self.known_exit_code(exc)))

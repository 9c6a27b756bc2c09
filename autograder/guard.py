"""The last line of defence of the command lines: no user ever sees a Python traceback.

Known failures become one line and their exit code (:mod:`autograder.outputs`); anything else is
a bug in the grader: one line naming the error and a file holding the traceback to report.
"""
from __future__ import annotations

import sys
import tempfile
import traceback

import click

from autograder.outputs import (EXIT_ENVIRONMENT, EXIT_INTERNAL, EXIT_SUBMISSION, EXIT_USAGE,
                                OutputPathError)


def _known(exc: BaseException) -> int | None:
    """The exit code of a failure that has a message meant for the user (None: a bug)."""
    from autograder.contract import ContractError
    from autograder.intake import SubmissionError
    from autograder.yamlsource import YamlError

    if isinstance(exc, (YamlError, ContractError, OutputPathError)):
        return EXIT_USAGE
    if isinstance(exc, SubmissionError):
        return EXIT_SUBMISSION
    sandbox = sys.modules.get("autograder.sandbox.client")
    if sandbox is not None and isinstance(exc, sandbox.SubmissionUnloadable):
        return EXIT_SUBMISSION
    if sandbox is not None and isinstance(exc, sandbox.SandboxUnavailable):
        return EXIT_ENVIRONMENT
    return None


def _one_line(text: str) -> str:
    lines = [line for line in str(text).splitlines() if line.strip()]
    return lines[0] if len(lines) == 1 else " / ".join(lines[:3]) if lines else ""


def report_crash(prog: str, exc: BaseException) -> int:
    """Print one line for `exc` and return the exit code; a bug's traceback goes to a file."""
    code = _known(exc)
    if code is not None:
        click.echo(f"{prog}: error: {_one_line(exc)}", err=True)
        return code
    try:
        with tempfile.NamedTemporaryFile("w", prefix=f"{prog}-crash-", suffix=".txt",
                                         delete=False, encoding="utf-8") as fh:
            traceback.print_exception(exc, file=fh)
            where = f"; the traceback is in {fh.name} (please attach it to a bug report)"
    except OSError:
        where = ""
    click.echo(f"{prog}: internal error: {type(exc).__name__}: {_one_line(exc)}{where}", err=True)
    return EXIT_INTERNAL


class GuardedGroup(click.Group):
    """A click group whose commands end in one line and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit,
                KeyboardInterrupt, GeneratorExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the point of this class
            name = (ctx.find_root().info_name or "autograder").split()[-1]
            ctx.exit(report_crash(name.rsplit(".", 1)[0] if name.endswith(".cli") else name, exc))

"""`autograder`'s command group: the quiz engine's :class:`~quizzes.cli_support.GuardedGroup`
with the grader's known failures and their exit codes (:mod:`autograder.outputs`)."""
from __future__ import annotations

import sys

from autograder.outputs import EXIT_ENVIRONMENT, EXIT_SUBMISSION, EXIT_USAGE, OutputPathError
from quizzes.cli_support import GuardedGroup as _QuizGuardedGroup


def known_exit_code(exc: BaseException) -> int | None:
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


class GuardedGroup(_QuizGuardedGroup):
    """The `autograder` group: one line and an exit code for every failure, never a traceback."""

    def known_exit_code(self, exc: BaseException) -> int | None:
        return known_exit_code(exc)

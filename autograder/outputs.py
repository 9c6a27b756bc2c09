"""Exit codes and output-path checks of `autograder` (their one home is the quiz engine's
quizzes/cli_support.py, which both command lines share; the engine ships without the grader)."""
from __future__ import annotations

from quizzes.cli_support import (
                                 EXIT_ENVIRONMENT,
                                 EXIT_INTERNAL,
                                 EXIT_OK,
                                 EXIT_SUBMISSION,
                                 EXIT_USAGE,
                                 OutputPathError,
                                 prepare_dir,
                                 prepare_file,
)

__all__ = ["EXIT_ENVIRONMENT", "EXIT_INTERNAL", "EXIT_OK", "EXIT_SUBMISSION", "EXIT_USAGE",
           "OutputPathError", "prepare_dir", "prepare_file"]

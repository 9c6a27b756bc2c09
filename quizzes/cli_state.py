"""What every `quiz` command shares: the group's state (banks, loaded once) and its usage error."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from quizzes.cli_support import EXIT_USAGE
from quizzes.loader import BankError, load_banks
from quizzes.model import Bank


class QuizUsageError(click.ClickException):
    """A user-facing error: printed as is, exit status 2."""

    exit_code = EXIT_USAGE


@dataclass
class State:
    """Per-invocation state: where the banks are, loaded on first use."""

    banks_dir: Path
    _banks: dict[str, Bank] | None = None

    def banks(self) -> dict[str, Bank]:
        if self._banks is None:
            try:
                self._banks = load_banks(self.banks_dir)
            except BankError as exc:
                raise QuizUsageError("invalid quiz bank(s):\n" + "\n".join(exc.messages)) from None
        return self._banks

    def bank(self, topic: str) -> Bank:
        banks = self.banks()
        if topic not in banks:
            known = ", ".join(banks) or f"none: {self.banks_dir} has no *.yaml banks"
            raise QuizUsageError(f"unknown topic {topic!r}; known topics: {known}")
        return banks[topic]


def group_state(ctx: click.Context) -> State:
    """The `quiz` group's State, from any command's context."""
    return ctx.find_root().obj

"""Command line interface ``quiz``: list banks, render variants, take a quiz, score responses.

This module holds the group and its ``list``, ``render`` and ``take`` commands; ``score`` is in
quizzes/cli_score.py, ``export``, ``stats``, ``serve`` and ``audit`` in quizzes/cli_extra.py,
and all of them are added to the group at the end of this module.

Bad input (a broken bank, an unknown topic, a malformed responses file) ends with a message
naming the file, line and what was expected, never a traceback.
"""
from __future__ import annotations

import getpass
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from quizzes.cli_extra import audit_cmd, export_cmd, serve_cmd, stats_cmd
from quizzes.cli_score import score_cmd
from quizzes.cli_state import QuizUsageError, State
from quizzes.cli_support import EXIT_USAGE, GuardedGroup, OutputPathError, prepare_file
from quizzes.loader import DEFAULT_BANKS, BankError
from quizzes.maths import unicode_text
from quizzes.render import FORMATS, RenderError, render, render_terminal, terminal_markdown
from quizzes.scoring import Result, score
from quizzes.variants import present_bank


def _default_student() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "learner"


class QuizGroup(GuardedGroup):
    """The `quiz` group: bad input and a broken environment end in one line, never a traceback."""

    def known_exit_code(self, exc: BaseException) -> int | None:
        if isinstance(exc, (BankError, OutputPathError, OSError, UnicodeError)):
            return EXIT_USAGE  # a file named on the command line (its name is in the message)
        return None


@click.group(cls=QuizGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--banks",
    "banks_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_BANKS,
    show_default="the package's quizzes/banks",
    help="Directory of bank YAML files (one per topic).",
)
@click.pass_context
def main(ctx: click.Context, banks_dir: Path) -> None:
    """Practise and grade concept quizzes built from the module's FAQ.

    \b
    quiz list                                   banks, question counts, types
    quiz take attention                         practise in the terminal
    quiz render attention --format html -o q.html --student alice
    quiz score responses.csv --out scores.json --gradebook grades.sqlite

    \b
    Exit codes: 0 done, 1 an internal error (traceback saved to a file; quiz score: rows were
    skipped), 2 bad usage, a broken bank or responses file, or an output path that cannot be
    written (checked before any work).
    """
    ctx.obj = State(banks_dir)


@main.command("list")
@click.pass_obj
def list_banks(state: State) -> None:
    """List the banks: topic, number of questions, points and question types."""
    from rich.console import Console
    from rich.table import Table

    # names and titles are shown as written: rich markup in them is text, not styling
    table = Table(title=escape(f"Quiz banks in {state.banks_dir}"))
    for column in ("topic", "questions", "points", "types", "title"):
        table.add_column(column, justify="right" if column in ("questions", "points") else "left")
    banks = state.banks()
    for topic, bank in banks.items():
        types = Counter(q.type for q in bank.questions)
        table.add_row(
            escape(topic),
            str(len(bank.questions)),
            f"{bank.total_points:g}",
            ", ".join(f"{t} {n}" for t, n in sorted(types.items())),
            escape(bank.title),
        )
    Console(width=max(100, Console().width)).print(table)
    if not banks:
        click.echo(f"No banks found in {state.banks_dir}.")


@main.command("render")
@click.argument("topic")
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(FORMATS),
    default="markdown",
    show_default=True,
    help="terminal (rich), markdown, html (standalone page), notebook (.ipynb) or key "
    "(instructor answer key with explanations).",
)
@click.option("--student", "-s", default="preview", show_default=True, help="Student id: picks the variant.")
@click.option("--quiz", default=None, help="Quiz id used for seeding (default: the topic).")
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
@click.pass_obj
def render_cmd(state: State, topic: str, fmt: str, student: str, quiz: str | None, out: Path | None) -> None:
    """Render TOPIC's quiz as STUDENT sees it (same student, same variant, every time).

    Student views (terminal, markdown, html, notebook) contain no answers; `key` does.
    """
    prepare_file(out, "--out")
    bank = state.bank(topic)
    try:
        if fmt == "terminal" and out is None:
            render_terminal(bank, present_bank(bank, student, quiz))
            return
        text = render(bank, student, fmt, quiz)
    except RenderError as exc:
        raise QuizUsageError(f"template error: {exc}") from None
    if out is None:
        click.echo(text, nl=not text.endswith("\n"))
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out} ({fmt}, student {student})", err=True)


# --------------------------------------------------------------------------- take


def _answer_lines(interactive: bool) -> Iterator[str | None]:
    """Answers typed by the learner: rich prompts on a TTY, else one line per question from
    stdin (None once stdin is exhausted)."""
    stdin = sys.stdin
    while True:
        if interactive:
            from rich.prompt import Prompt

            yield Prompt.ask("[bold]Your answer[/bold]", default="", show_default=False)
        else:
            line = stdin.readline()
            yield line.rstrip("\r\n") if line else None


def _print_result(console, result: Result) -> None:
    mark = "[green]✔[/green]" if result.correct else ("[yellow]◐[/yellow]" if result.score > 0 else "[red]✘[/red]")
    console.print(f"{mark} [bold]{result.score:g} / {result.max_score:g}[/bold]")
    for line in result.feedback:
        console.print(f"  {unicode_text(line)}", markup=False, highlight=False)
    if not result.correct:
        console.print(f"  Answer: {unicode_text(result.key)}", markup=False, highlight=False)
    console.print(f"  Why: {unicode_text(result.explanation.strip())}", markup=False, highlight=False)
    console.print()


MAX_TRIES = 3  # attempts per question at an answer that can be read, before it scores 0


@main.command("take")
@click.argument("topic")
@click.option("--student", "-s", default=None, help="Student id (default: your login name).")
@click.option("--quiz", default=None, help="Quiz id used for seeding (default: the topic).")
@click.pass_obj
def take(state: State, topic: str, student: str | None, quiz: str | None) -> None:
    """Take TOPIC's quiz in the terminal, with feedback after every question.

    Each question says how to answer it (a letter, letters separated by commas, C|A|B for an
    order, 1=B|2=A for a matching, a number, a short text). An answer that cannot be read is
    asked for again, up to 3 times, then scores 0. On a terminal it asks with prompts; when
    stdin is not a terminal it reads one answer per line, in question order, so scripts can
    drive it; the end of the input ends the quiz (unanswered questions score 0):

    \b
      printf 'B\\ntrue\\nA\\n16\\nC|A|B\\nA, C\\nB\\nD\\nlayer norm\\n' | quiz take finetuning
    """
    from rich.console import Console
    from rich.markdown import Markdown
    from rich.panel import Panel

    bank = state.bank(topic)
    student = student or _default_student()
    interactive = sys.stdin.isatty()
    console = Console(highlight=False)
    presented = present_bank(bank, student, quiz)
    console.print(f"[bold]{escape(bank.title)}[/bold] · {len(presented)} questions · "
                  f"student {escape(student)}\n")
    answers = _answer_lines(interactive)
    total = 0.0
    answered = 0
    for n, p in enumerate(presented, 1):
        try:
            console.print(Panel(Markdown(terminal_markdown(p, n, len(presented)))))
        except RenderError as exc:
            raise QuizUsageError(f"template error: {exc}") from None
        result = _ask_until_readable(console, p, answers, interactive)
        if result is None:
            console.print(f"Input ended: {answered} of {len(presented)} questions answered; "
                          "the others score 0.", markup=False)
            break
        answered += 1
        total += result.score
        _print_result(console, result)
    maximum = sum(p.points for p in presented)
    percent = 100 * total / maximum if maximum else 0
    console.print(f"[bold]Total: {total:g} / {maximum:g} points ({percent:.0f}%)[/bold]")


def _ask_until_readable(console, p, answers: Iterator[str | None], interactive: bool) -> Result | None:
    """Score the learner's answer to ``p``, asking again (MAX_TRIES in all) while it cannot be
    read. None when the input ends first."""
    for attempt in range(1, MAX_TRIES + 1):
        try:
            answer: Any = _ask_matching(p) if interactive and p.type == "matching" else next(answers)
        except EOFError:  # Ctrl-D at a rich prompt
            return None
        if answer is None:
            return None
        if not interactive:
            console.print(f"Your answer: {answer}", markup=False)
        result = score(p.question, p, answer)
        if result.error is None or attempt == MAX_TRIES:
            return result
        console.print(f"[yellow]Could not read that answer:[/yellow] {escape(result.error)}. "
                      f"Try again ({MAX_TRIES - attempt} tr{'y' if MAX_TRIES - attempt == 1 else 'ies'} left).")
    raise AssertionError("unreachable: the last attempt returns")


def _ask_matching(p) -> dict[str, str]:
    """Interactive matching: one prompt per left item."""
    from rich.prompt import Prompt

    return {
        left: Prompt.ask(f"{n}. {left} [dim]→ letter[/dim]", default="", show_default=False)
        for n, left in enumerate(p.lefts, 1)
    }


# Every command defined in another module is added here (list, render and take are above).
for _command in (score_cmd, export_cmd, stats_cmd, serve_cmd, audit_cmd):
    main.add_command(_command)

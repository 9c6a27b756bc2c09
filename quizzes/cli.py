"""Command line interface ``quiz``: list banks, render variants, take a quiz, score responses.

Bad input (a broken bank, an unknown topic, a malformed responses file) ends with a message
naming the file, line and what was expected, never a traceback.
"""
from __future__ import annotations

import csv
import datetime as dt
import getpass
import importlib
import json
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from quizzes import cli_extra
from quizzes.cli_state import QuizUsageError, State
from quizzes.cli_support import EXIT_USAGE, GuardedGroup, OutputPathError, prepare_file
from quizzes.inert_text import terminal_text
from quizzes.loader import DEFAULT_BANKS, BankError, find_question
from quizzes.maths import unicode_text
from quizzes.model import Bank
from quizzes.render import FORMATS, RenderError, render, render_terminal, terminal_markdown
from quizzes.scoring import Result, score
from quizzes.variants import present, present_bank

RESPONSE_COLUMNS = ("student", "quiz", "question", "answer")


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

    table = Table(title=f"Quiz banks in {state.banks_dir}")
    for column in ("topic", "questions", "points", "types", "title"):
        table.add_column(column, justify="right" if column in ("questions", "points") else "left")
    banks = state.banks()
    for topic, bank in banks.items():
        types = Counter(q.type for q in bank.questions)
        table.add_row(
            topic,
            str(len(bank.questions)),
            f"{bank.total_points:g}",
            ", ".join(f"{t} {n}" for t, n in sorted(types.items())),
            bank.title,
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
    console.print(f"[bold]{bank.title}[/bold] · {len(presented)} questions · student {student}\n")
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


# --------------------------------------------------------------------------- score


@dataclass
class Response:
    student: str
    quiz: str
    question: str
    answer: Any
    where: str  # "file:line" for messages


@dataclass
class QuizScore:
    student: str
    quiz: str
    score: float = 0.0
    max_score: float = 0.0
    questions: list[dict] = field(default_factory=list)


def read_responses(path: Path, fmt: str) -> list[Response]:
    """Responses from CSV (columns student,quiz,question,answer) or a JSON list of objects."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: spreadsheets write a BOM
    except (OSError, UnicodeDecodeError) as exc:
        raise QuizUsageError(f"{path}: cannot read: {exc}") from None
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise QuizUsageError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
        if not isinstance(data, list):
            raise QuizUsageError(f"{path}: expected a JSON list of {{student, quiz, question, answer}} objects")
        rows = []
        for i, item in enumerate(data):
            where = f"{path}: item {i}"
            if not isinstance(item, dict):
                raise QuizUsageError(f"{where}: expected an object with keys {', '.join(RESPONSE_COLUMNS)}")
            missing = [k for k in RESPONSE_COLUMNS if k not in item]
            if missing:
                raise QuizUsageError(f"{where}: missing key(s) {', '.join(missing)}")
            rows.append(Response(str(item["student"]), str(item["quiz"]), str(item["question"]), item["answer"], where))
        return rows
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in RESPONSE_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise QuizUsageError(
            f"{path}:1: missing column(s) {', '.join(missing)}; expected a header {','.join(RESPONSE_COLUMNS)}"
        )
    rows = []
    for row in reader:
        where = f"{path}:{reader.line_num}"
        if any(row.get(c) is None for c in RESPONSE_COLUMNS):
            raise QuizUsageError(f"{where}: expected {len(reader.fieldnames)} columns")
        rows.append(
            Response(row["student"].strip(), row["quiz"].strip(), row["question"].strip(), row["answer"], where)
        )
    return rows


def score_responses(banks: dict[str, Bank], responses: list[Response]) -> tuple[list[QuizScore], list[str]]:
    """Score every response in its (student, quiz) variant. A quiz named after a topic is out
    of that bank's total points (unanswered questions score 0); any other quiz is out of the
    points of the questions answered. Returns the scores and the problems (rows skipped)."""
    problems: list[str] = []
    latest: dict[tuple[str, str, str], Response] = {}
    for r in responses:
        if not r.student or not r.quiz:
            problems.append(f"{r.where}: empty student or quiz; row skipped")
            continue
        key = (r.student, r.quiz, r.question)
        if key in latest:
            problems.append(f"{r.where}: second answer of {r.student} to {r.question}; the later one counts")
        latest[key] = r
    quizzes: dict[tuple[str, str], QuizScore] = {}
    for (student, quiz, qid), r in latest.items():
        try:
            question = find_question(banks, qid)
        except KeyError:
            problems.append(f"{r.where}: unknown question id {qid!r}; row skipped")
            continue
        entry = quizzes.setdefault((student, quiz), QuizScore(student, quiz))
        result = score(question, present(question, student, quiz), r.answer)
        entry.score += result.score
        entry.questions.append(
            {
                "question": qid,
                "answer": r.answer,
                "score": result.score,
                "max_score": result.max_score,
                "error": result.error,
                "feedback": result.feedback,
            }
        )
    for (_student, quiz), entry in quizzes.items():
        points = {q["question"]: q["max_score"] for q in entry.questions}
        if quiz in banks:
            points.update({q.id: q.points for q in banks[quiz].questions})
        entry.max_score = round(sum(points.values()), 6)
        entry.score = round(entry.score, 6)
        entry.questions.sort(key=lambda q: q["question"])
    return sorted(quizzes.values(), key=lambda s: (s.student, s.quiz)), problems


def write_gradebook(location: Path | str, scores: list[QuizScore], scored_at: str) -> None:
    """Upsert one row per (student, quiz) into the course gradebook's ``quiz_scores`` table.

    The gradebook has one writer, autograder.gradebook (SQLite or PostgreSQL, migrations). It
    is looked up by name: the quiz engine also ships alone, in the student bundle, where
    scoring a class into a gradebook is not a student's task.
    """
    try:
        gradebook = importlib.import_module("autograder.gradebook")
    except ModuleNotFoundError:
        raise QuizUsageError("--gradebook writes the course gradebook, which needs the course project "
                             "(pip install -e . in it); use --out scores.json here") from None
    try:
        with gradebook.Gradebook(location) as book:
            book.record_quizzes([(s.student, s.quiz, s.score, s.max_score) for s in scores], scored_at)
    except gradebook.GradebookError as exc:
        raise QuizUsageError(f"--gradebook: {exc}") from None  # exc names the file


@main.command("score")
@click.argument("responses", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json"]),
    default=None,
    help="Responses format (default: from the file extension).",
)
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write per-question scores as JSON.")
@click.option(
    "--gradebook",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite file: upsert one row per (student, quiz) into table quiz_scores.",
)
@click.pass_obj
def score_cmd(state: State, responses: Path, fmt: str | None, out: Path | None, gradebook: Path | None) -> None:
    """Score a RESPONSES file and print a table per student and quiz.

    \b
    CSV: header student,quiz,question,answer; one row per answer. Multi-valued answers are
         separated by |: multiple "A|C", ordering "C|A|B", matching "1=B|2=A" or
         "left=right|left=right". Letters refer to the student's own variant.
    JSON: a list of {"student", "quiz", "question", "answer"} objects; answer may be a
          string, number, bool, list or mapping.

    A quiz named after a topic is scored out of all of that bank's points (unanswered
    questions score 0). Rows that cannot be used are listed and the exit status is 1.
    """
    from rich.console import Console
    from rich.table import Table

    prepare_file(out, "--out")
    prepare_file(gradebook, "--gradebook")
    if fmt is None:
        suffix = responses.suffix.lower().lstrip(".")
        if suffix not in ("csv", "json"):
            raise QuizUsageError(f"{responses}: cannot tell the format from the extension; pass --format csv|json")
        fmt = suffix
    banks = state.banks()
    scores, problems = score_responses(banks, read_responses(responses, fmt))
    scored_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    table = Table(title=f"Scores from {responses.name}")
    for column in ("student", "quiz", "score", "max", "%"):
        table.add_column(column, justify="left" if column in ("student", "quiz") else "right")
    for s in scores:
        percent = 100 * s.score / s.max_score if s.max_score else 0
        # ids come from the responses file: printed inert (no markup, no control characters)
        table.add_row(escape(terminal_text(s.student, keep_newlines=False)),
                      escape(terminal_text(s.quiz, keep_newlines=False)),
                      f"{s.score:g}", f"{s.max_score:g}", f"{percent:.0f}")
    Console(width=max(80, Console().width)).print(table)
    if out is not None:
        payload = [
            {"student": s.student, "quiz": s.quiz, "score": s.score, "max_score": s.max_score,
             "scored_at": scored_at, "questions": s.questions}
            for s in scores
        ]
        out.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        click.echo(f"wrote {out}", err=True)
    if gradebook is not None:
        write_gradebook(gradebook, scores, scored_at)
        click.echo(f"upserted {len(scores)} row(s) into {gradebook}:quiz_scores", err=True)
    for problem in problems:
        click.echo(f"warning: {terminal_text(problem)}", err=True)
    if any("skipped" in p for p in problems):
        sys.exit(1)


cli_extra.register(main)  # export, stats, serve

"""The `quiz score` command: read a responses file (CSV or JSON), score every answer in the
student's own variant, print a table per student and quiz, and write the scores as JSON
and/or into the course gradebook. Added to the `quiz` group in quizzes/cli.py.
"""
from __future__ import annotations

import csv
import datetime as dt
import importlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from quizzes.cli_state import QuizUsageError, State
from quizzes.cli_support import prepare_file
from quizzes.inert_text import terminal_text
from quizzes.loader import find_question
from quizzes.model import Bank
from quizzes.scoring import score
from quizzes.variants import present

RESPONSE_COLUMNS = ("student", "quiz", "question", "answer")


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


@click.command("score")
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

"""Reading scored responses for `quiz stats`: CSV, flat JSON records or the JSON that
`quiz score --out` writes, turned into one :class:`Response` per (student, question).

Every problem in the file is a :class:`ResponsesError` naming the file, the line or record,
and what was expected. The statistics themselves are in quizzes/stats.py.
"""
from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ResponsesError(ValueError):
    """Bad responses file: the message names the file, the line or record, and what was expected."""


@dataclass(frozen=True)
class Response:
    """One scored answer. `choice` is the options picked (choice texts), None if not a choice item."""

    student: str
    question: str
    score: float
    max_score: float
    choice: tuple[str, ...] | None = None
    where: str = ""  # "file:line" for error messages


ChoiceResolver = Callable[[str, str, str, Any], "tuple[str, ...] | None"]


def load_responses(path: str | Path, quiz: str | None = None, choices: ChoiceResolver | None = None) -> list[Response]:
    """Read scored responses.

    - CSV with header ``student,question,score,max_score[,choice]``; a choice cell may hold
      several options separated by ``|``. Use choice *texts*: letters are shuffled per student.
    - JSON written by ``quiz score --out``: a list of ``{student, quiz, score, max_score,
      questions: [{question, answer, score, max_score, ...}]}``. With several quizzes in
      the file, ``quiz`` picks one. ``choices(student, quiz, question, answer)`` turns a raw
      answer (letters of the student's variant) into the option texts picked; see
      :func:`bank_choices`.
    - JSON list of flat records ``{student, question, score, max_score[, choice]}``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: spreadsheets write a BOM
    except (OSError, UnicodeDecodeError) as exc:
        raise ResponsesError(f"{path}: cannot read responses file ({exc})") from exc
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("{", "[")):
        return _load_json(path, text, quiz, choices)
    if quiz is not None:
        raise ResponsesError(f"{path}: a CSV of scored responses holds one quiz; --quiz is for `quiz score --out` JSON")
    return _load_csv(path, text)


def bank_choices(banks: dict) -> ChoiceResolver:
    """A resolver from raw answers to picked option texts, by re-presenting the student's
    variant and re-scoring (quizzes.scoring reports which displayed choices were picked).
    single/multiple: the picked choice texts; truefalse: "true"/"false"; others: None."""
    from quizzes.loader import find_question
    from quizzes.scoring import score
    from quizzes.variants import present

    def resolve(student: str, quiz: str, question_id: str, answer: Any) -> tuple[str, ...] | None:
        try:
            question = find_question(banks, question_id)
        except KeyError:
            return None
        if question.type == "truefalse":
            result = score(question, present(question, student, quiz), answer)
            if result.error:
                return ()
            return (str(question.answer if result.correct else not question.answer).lower(),)
        if question.type not in ("single", "multiple"):
            return None
        result = score(question, present(question, student, quiz), answer)
        return tuple(c.text for c in result.choices if c.picked)

    return resolve


def _number(value: Any, where: str, column: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ResponsesError(f"{where}: {column} is {value!r}, expected a number") from None
    if not math.isfinite(x):
        raise ResponsesError(f"{where}: {column} is {value!r}, expected a finite number")
    return x


def _make(student: Any, question: Any, score: Any, max_score: Any, choice: Any, where: str) -> Response:
    if not student or not str(student).strip():
        raise ResponsesError(f"{where}: student is empty, expected a student id")
    if not question or not str(question).strip():
        raise ResponsesError(f"{where}: question is empty, expected a question id")
    s, m = _number(score, where, "score"), _number(max_score, where, "max_score")
    if m <= 0:
        raise ResponsesError(f"{where}: max_score is {m:g}, expected > 0")
    if not 0 <= s <= m + 1e-9:
        raise ResponsesError(f"{where}: score is {s:g}, expected between 0 and max_score {m:g}")
    if choice is None or choice == "":
        picked = None
    elif isinstance(choice, str):
        picked = tuple(c.strip() for c in choice.split("|") if c.strip())
    elif isinstance(choice, (list, tuple)):
        picked = tuple(str(c) for c in choice)
    else:
        picked = (str(choice),)
    return Response(str(student).strip(), str(question).strip(), s, m, picked, where)


CSV_COLUMNS = ("student", "question", "score", "max_score")


def _load_csv(path: Path, text: str) -> list[Response]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise ResponsesError(f"{path}:1: empty file, expected a header student,question,score,max_score[,choice]")
    header = [h.strip().lower() for h in header]
    if tuple(header[:4]) != CSV_COLUMNS or len(header) > 5 or (len(header) == 5 and header[4] != "choice"):
        raise ResponsesError(
            f"{path}:1: header is {','.join(header)!r}, expected 'student,question,score,max_score[,choice]'"
        )
    out = []
    for line_no, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        where = f"{path}:{line_no}"
        if len(row) not in (4, 5) or len(row) > len(header):
            raise ResponsesError(f"{where}: {len(row)} columns, expected {len(header)} ({','.join(header)})")
        choice = row[4] if len(row) == 5 else None
        out.append(_make(row[0], row[1], row[2], row[3], choice, where))
    return out


def _load_json(path: Path, text: str, quiz: str | None, choices: ChoiceResolver | None) -> list[Response]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResponsesError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise ResponsesError(f"{path}: top level is {type(data).__name__}, expected a list "
                             "(as `quiz score --out` writes, or flat response records)")
    if data and all(isinstance(rec, dict) and "questions" in rec for rec in data):
        return _score_out_records(path, data, quiz, choices)
    if quiz is not None:
        raise ResponsesError(f"{path}: flat response records have no quiz; --quiz is for `quiz score --out` JSON")
    out = []
    for n, rec in enumerate(data):
        where = f"{path}: record {n}"
        if not isinstance(rec, dict):
            raise ResponsesError(f"{where}: is {type(rec).__name__}, expected an object")
        missing = [k for k in CSV_COLUMNS if k not in rec]
        if missing:
            raise ResponsesError(f"{where}: missing {', '.join(missing)}; expected keys "
                                 f"{', '.join(CSV_COLUMNS)}[, choice], or the output of `quiz score --out`")
        out.append(_make(rec["student"], rec["question"], rec["score"], rec["max_score"], rec.get("choice"), where))
    return out


def _score_out_records(path: Path, data: list, quiz: str | None, choices: ChoiceResolver | None) -> list[Response]:
    """Flatten `quiz score --out` (one entry per student and quiz) for one quiz."""
    quizzes = sorted({str(entry.get("quiz")) for entry in data})
    if quiz is None:
        if len(quizzes) > 1:
            raise ResponsesError(f"{path}: responses for {len(quizzes)} quizzes ({', '.join(quizzes)}); "
                                 "pick one with --quiz")
        quiz = quizzes[0]
    elif quiz not in quizzes:
        raise ResponsesError(f"{path}: no responses for quiz {quiz!r}; the file has {', '.join(quizzes)}")
    out = []
    for n, entry in enumerate(data):
        if str(entry.get("quiz")) != quiz:
            continue
        student = entry.get("student")
        if not isinstance(entry["questions"], list):
            kind = type(entry["questions"]).__name__
            raise ResponsesError(f"{path}: entry {n}: questions is {kind}, expected a list")
        for k, q in enumerate(entry["questions"]):
            where = f"{path}: entry {n} ({student}, {quiz}) question {k}"
            if not isinstance(q, dict) or any(key not in q for key in ("question", "score", "max_score")):
                raise ResponsesError(f"{where}: expected an object with question, score, max_score")
            picked = choices(str(student), quiz, str(q["question"]), q.get("answer")) if choices else None
            out.append(_make(student, q["question"], q["score"], q["max_score"],
                             list(picked) if picked is not None else None, where))
    return out

"""`quiz serve`: practise quizzes in a browser; scoring stays on the server.

`quiz serve` is the course server's app (autograder/server, Starlette + uvicorn) in practice
mode: no roster, no login, nothing recorded, and ``graded: true`` questions (exam questions
whose keys must never reach students) are left out. Routes:

- ``GET /``                        the quizzes (banks) to pick from;
- ``GET /quiz/<topic>?student=ID`` the quiz as this student's variant, rendered
  (serve_quiz.html.j2) from :meth:`Presented.student_view` only: no answer, correct flag,
  feedback, explanation or per-choice credit; fields are named by position, not by id;
- ``POST /quiz/<topic>``           score the form server-side and show per-question feedback,
  explanation, the key and the source citation.

The variant is a pure function of (student, quiz, question id) (quizzes/variants.py), so the
POST rebuilds exactly what the GET showed; the page carries only the student id and quiz id
in hidden fields, nothing secret. Who the student is comes from, in order of precedence:
``--student-header`` (a header set by an authenticating reverse proxy; the form field is then
ignored), ``--student`` (one fixed id, for local practice), or a form field.

This module keeps the form helpers both modes use and `make_server`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quizzes.loader import DEFAULT_BANKS
from quizzes.model import Bank
from quizzes.scoring import Result, score_presented
from quizzes.variants import Presented, present

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")
@dataclass(frozen=True)
class ServeConfig:
    banks_dir: Path = DEFAULT_BANKS
    student: str | None = None  # fixed student id
    student_header: str | None = None  # take the id from this request header


def practice_questions(bank: Bank) -> list:
    """The questions served for practice: every non-graded one."""
    return [q for q in bank.questions if not q.graded]


def presented_quiz(bank: Bank, student: str) -> list[Presented]:
    """The student's variant of ``bank`` (quiz id = topic), practice questions only."""
    return [present(q, student, bank.topic) for q in practice_questions(bank)]


def form_answer(p: Presented, name: str, form: dict[str, list[str]]) -> Any:
    """The answer to ``p`` from the fields of serve_quiz.html.j2, where ``name`` is the
    question's positional field name (``q<n>``): ``q<n>`` for most types (repeated for
    multiple), ``q<n>:<k>`` per left item (matching) or per position (ordering)."""

    def first(key: str) -> str:
        return (form.get(key) or [""])[0].strip()

    if p.type == "multiple":
        return [v for v in form.get(name, []) if v]
    if p.type == "matching":
        return {str(k): first(f"{name}:{k}") for k in range(1, len(p.lefts) + 1) if first(f"{name}:{k}")}
    if p.type == "ordering":
        order = [first(f"{name}:{k}") for k in range(1, len(p.options) + 1)]
        return [letter for letter in order if letter]
    return first(name) or None


@dataclass(frozen=True)
class Scored:
    """One question after submission: the variant shown, the answer as typed, the result."""

    presented: Presented
    answer: str
    result: Result
    reveal: bool = True  # False: a graded question before its quiz closes (no key, no feedback)


def answer_text(answer: Any) -> str:
    """An answer as the learner would read it back: "A, C", "1 = B; 2 = A", "42"."""
    if answer is None:
        return ""
    if isinstance(answer, dict):
        return "; ".join(f"{k} = {v}" for k, v in answer.items())
    if isinstance(answer, list):
        return ", ".join(answer)
    return str(answer)


def score_form(bank: Bank, student: str, form: dict[str, list[str]]) -> list[Scored]:
    """Score every practice question of ``bank`` from a submitted form (fields q1, q2, ... in
    the order of :func:`presented_quiz`, which the GET used too)."""
    scored = []
    for n, p in enumerate(presented_quiz(bank, student), 1):
        answer = form_answer(p, f"q{n}", form)
        scored.append(Scored(p, answer_text(answer), score_presented(p, answer)))
    return scored


def make_server(host: str = "127.0.0.1", port: int = 8000, config: ServeConfig | None = None,
                verbose: bool = True):
    """A bound, not yet running server (port 0 picks a free port: ``server.server_address``);
    ``serve_forever()`` in the foreground, ``serve_in_thread(server)`` for tests."""
    from autograder.server.app import PracticeConfig, Settings, create_app
    from autograder.server.running import ServerHandle

    config = config or ServeConfig()
    app = create_app(Settings(banks_dir=config.banks_dir, practice=PracticeConfig(
        student=config.student, student_header=config.student_header)))
    return ServerHandle(app, host, port, verbose=verbose)


def serve_in_thread(server):
    """Run ``server`` in a daemon thread (tests); stop with ``server.shutdown()``."""
    return server.start()

"""`quiz serve`: practise quizzes in a browser; scoring stays on the server.

Routes (stdlib :class:`http.server.ThreadingHTTPServer`; a handful of pages do not justify a
web framework):

- ``GET /``                       the quizzes (banks) to pick from;
- ``GET /quiz/<topic>?student=ID`` the quiz as this student's variant: prompts, drawn params and
  options in their shuffled order, rendered (serve_quiz.html.j2) from
  :meth:`Presented.student_view` only, so the page holds no answer, correct flag, feedback,
  explanation or per-choice credit; fields are named by position, not by question id;
- ``POST /quiz/<topic>``           score the form server-side and show per-question feedback,
  explanation, the key and the source citation.

The variant is a pure function of (student, quiz, question id) (quizzes/variants.py), so the
POST rebuilds exactly what the GET showed; the page carries only the student id and quiz id
in hidden fields, nothing secret. Who the student is comes from, in order of precedence:
``--student-header`` (a header set by an authenticating reverse proxy; the form field is then
ignored), ``--student`` (one fixed id, for local practice), or a form field.

Questions marked ``graded: true`` are exam questions whose keys must never reach students,
so they are left out of the served quizzes.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from quizzes import render
from quizzes.loader import DEFAULT_BANKS, BankError, load_banks
from quizzes.model import Bank
from quizzes.scoring import Result, score_presented
from quizzes.variants import Presented, present

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")
MAX_BODY = 256 * 1024  # a quiz form is a few kB; refuse anything much larger
# Pages are self-contained: inline CSS, no scripts, images only as data: URLs.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


class HTTPError(Exception):
    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status, self.message = status, message


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


def render_quiz(bank: Bank, student: str) -> str:
    """The page before submission, built from student views only (see serve_quiz.html.j2)."""
    presented = presented_quiz(bank, student)
    return render.render_template(
        "serve_quiz.html.j2", bank=bank, student=student, quiz=bank.topic, action=f"/quiz/{quote(bank.topic)}",
        questions=[p.student_view() for p in presented], total_points=sum(p.points for p in presented))


class QuizHandler(BaseHTTPRequestHandler):
    """One request. Configuration lives on the server object (``self.server.config``)."""

    server_version = "quiz-serve"

    # ------------------------------------------------------------------ plumbing
    @property
    def config(self) -> ServeConfig:
        return self.server.config  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if getattr(self.server, "verbose", True):
            super().log_message(format, *args)

    def _send(self, status: HTTPStatus, body: str) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, exc: HTTPError) -> None:
        self._send(exc.status, render.render_template("serve_error.html.j2", status=int(exc.status),
                                                      reason=exc.status.phrase, message=exc.message))

    def _banks(self) -> dict[str, Bank]:
        try:
            return load_banks(self.config.banks_dir)
        except BankError as exc:
            # An instructor's broken bank file: say which, as the loader does.
            raise HTTPError(HTTPStatus.INTERNAL_SERVER_ERROR, str(exc)) from None

    def _bank(self, path: str) -> Bank:
        m = re.fullmatch(r"/quiz/([a-z0-9-]+)/?", path)
        banks = self._banks()
        if not m or m.group(1) not in banks or not practice_questions(banks[m.group(1)]):
            raise HTTPError(HTTPStatus.NOT_FOUND, f"no quiz at {path}")
        return banks[m.group(1)]

    def _student(self, fields: dict[str, list[str]]) -> str | None:
        """The student id (see the module docstring for precedence); None if none given."""
        if self.config.student_header:
            student = self.headers.get(self.config.student_header)
            if not student:
                raise HTTPError(HTTPStatus.UNAUTHORIZED, f"missing {self.config.student_header} header")
        elif self.config.student:
            student = self.config.student
        else:
            student = (fields.get("student") or [""])[0].strip()
            if not student:
                return None
        if not STUDENT_ID.match(student):
            raise HTTPError(HTTPStatus.BAD_REQUEST, f"student id {student!r}: expected 1-64 letters, digits or ._@+-")
        return student

    # ------------------------------------------------------------------ routes
    def do_HEAD(self) -> None:  # noqa: N802 - stdlib naming
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        try:
            if url.path == "/":
                student = self._student(query)
                banks = {t: b for t, b in self._banks().items() if practice_questions(b)}
                self._send(HTTPStatus.OK, render.render_template(
                    "serve_index.html.j2", banks=banks, student=student,
                    ask_student=not (self.config.student or self.config.student_header),
                    counts={t: len(practice_questions(b)) for t, b in banks.items()}))
            elif url.path.startswith("/quiz/"):
                bank = self._bank(url.path)
                student = self._student(query)
                if student is None:
                    raise HTTPError(HTTPStatus.BAD_REQUEST, "give a student id: /quiz/<topic>?student=ID")
                self._send(HTTPStatus.OK, render_quiz(bank, student))
            else:
                raise HTTPError(HTTPStatus.NOT_FOUND, f"no page at {url.path}")
        except HTTPError as exc:
            self._error(exc)

    def do_POST(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        try:
            bank = self._bank(url.path)
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                raise HTTPError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"form of {length} bytes; the limit is {MAX_BODY}")
            ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
            if ctype != "application/x-www-form-urlencoded":
                raise HTTPError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"Content-Type {ctype!r}; expected a form post")
            form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"), keep_blank_values=True)
            student = self._student(form)
            if student is None:
                raise HTTPError(HTTPStatus.BAD_REQUEST, "the form has no student id")
            quiz = (form.get("quiz") or [bank.topic])[0]
            if quiz != bank.topic:
                raise HTTPError(HTTPStatus.BAD_REQUEST, f"form is for quiz {quiz!r}, posted to {bank.topic!r}")
            results = score_form(bank, student, form)
            self._send(HTTPStatus.OK, render.render_template(
                "serve_result.html.j2", bank=bank, student=student, results=results,
                score=round(sum(s.result.score for s in results), 6),
                total=round(sum(s.result.max_score for s in results), 6)))
        except HTTPError as exc:
            self._error(exc)


def make_server(host: str = "127.0.0.1", port: int = 8000, config: ServeConfig | None = None,
                verbose: bool = True) -> ThreadingHTTPServer:
    """A bound, not yet running server (port 0 picks a free port: ``server.server_address``)."""
    config = config or ServeConfig()
    load_banks(config.banks_dir)  # fail at start-up, not on the first request, if a bank is broken
    server = ThreadingHTTPServer((host, port), QuizHandler)
    server.daemon_threads = True
    server.config = config  # type: ignore[attr-defined]
    server.verbose = verbose  # type: ignore[attr-defined]
    return server


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    """Run ``server`` in a daemon thread (tests); stop with ``server.shutdown()``."""
    thread = threading.Thread(target=server.serve_forever, name="quiz-serve", daemon=True)
    thread.start()
    return thread

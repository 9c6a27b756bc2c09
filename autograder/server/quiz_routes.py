"""Quiz routes: the student's seeded variant, server-side scoring, each attempt recorded.

One set of routes for both modes. In course mode (`autograder serve`) the student is the
logged-in caller, every attempt goes to the gradebook's quiz tables with its answers (so
`quiz stats` runs on real responses), the attempt limit and the recorded-score policy come
from course.yaml, and ``graded: true`` questions are served but their keys, feedback and
explanations stay hidden until the quiz closes. In practice mode (`quiz serve`) nothing is
recorded, graded questions are not served, and the student id comes from the page.

Questions are named by position (q1, q2, ...), never by bank id: an id such as
"generation-nucleus-name" can give the answer away.
"""
from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from autograder.server import store
from autograder.server.auth import HTTPProblem, check_csrf, csrf_token, require
from autograder.server.course import now
from autograder.server.grader import AST_LOCK
from quizzes import render
from quizzes.loader import BankError, load_banks
from quizzes.model import Bank
from quizzes.scoring import score_presented
from quizzes.server import STUDENT_ID, Scored, answer_text, form_answer
from quizzes.variants import Presented, present

MAX_ANSWER_CHARS = 2_000  # one answer; formulas are bounded again by quizzes.formula


BANKS_RECHECK_S = 1.0  # a bank edited on disk is served within this; no stat of each per request


def banks(request: Request) -> dict[str, Bank]:
    state = request.app.state
    checked = getattr(state, "banks_checked", None)  # (time.monotonic() of the check, banks)
    if checked is not None and time.monotonic() - checked[0] < BANKS_RECHECK_S:
        return checked[1]
    try:
        loaded = load_banks(state.banks_dir)
    except BankError as exc:  # an instructor's broken bank: say which, as the loader does
        raise HTTPProblem(500, str(exc)) from None
    state.banks_checked = (time.monotonic(), loaded)
    return loaded


def served_questions(request: Request, bank: Bank) -> list:
    course = request.app.state.practice is False
    return [q for q in bank.questions if course or not q.graded]


def bank_for(request: Request, topic: str) -> Bank:
    bank = banks(request).get(topic)
    if bank is None or not served_questions(request, bank):
        raise HTTPProblem(404, f"no quiz {topic!r}")
    return bank


def variant(request: Request, bank: Bank, student: str) -> list[Presented]:
    return [present(q, student, bank.topic) for q in served_questions(request, bank)]


def keys_visible(request: Request) -> bool:
    closes = request.app.state.course.quizzes.closes
    return closes is not None and now() >= closes


def practice_student(request: Request, fields: dict[str, Any], *, required: bool = True) -> str | None:
    """Practice mode's student: the proxy's header, the fixed --student, or the page's field."""
    config = request.app.state.practice_config
    if config.student_header:
        student = request.headers.get(config.student_header)
        if not student:
            raise HTTPProblem(401, f"missing {config.student_header} header")
    elif config.student:
        student = config.student
    else:
        student = str(fields.get("student") or "").strip()
    if not student:
        if not required:
            return None
        raise HTTPProblem(400, "give a student id: /quiz/<topic>?student=ID")
    if not STUDENT_ID.match(student):
        raise HTTPProblem(400, f"student id {student!r}: expected 1-64 letters, digits or ._@+-")
    return student


def _check_attempts(request: Request, student: str, topic: str) -> int:
    """The number of earlier attempts; 429 when the course's attempt limit is reached."""
    state = request.app.state
    state.quiz_limiter.check(student, "quiz posts")
    done = store.attempt_count(state.book, student, topic)
    limit = state.course.quizzes.max_attempts
    if limit is not None and done >= limit:
        raise HTTPProblem(403, f"quiz {topic!r}: all {limit} attempts used")
    return done


def score_attempt(request: Request, bank: Bank, student: str, answers: dict[str, Any]) -> dict[str, Any]:
    """Score answers keyed q1..qn against the student's variant; record it in course mode."""
    presented = variant(request, bank, student)
    unknown = sorted(set(answers) - {f"q{n}" for n in range(1, len(presented) + 1)})
    if unknown:
        raise HTTPProblem(400, f"no question named {', '.join(unknown[:5])} in quiz {bank.topic!r}")
    show = request.app.state.practice or keys_visible(request)
    questions, recorded = [], {}
    for n, p in enumerate(presented, 1):
        answer = answers.get(f"q{n}")
        with AST_LOCK:  # formula answers are parsed with `ast` (see grader.AST_LOCK)
            result = score_presented(p, answer)
        recorded[p.id] = answer
        item = {"name": f"q{n}", "score": result.score, "max_score": result.max_score,
                "error": result.error}
        if show or not p.question.graded:
            item.update(key=result.key, feedback=result.feedback, explanation=result.explanation)
        questions.append((p, answer, result, item))
    score = round(sum(r.score for _, _, r, _ in questions), 6)
    max_score = round(sum(r.max_score for _, _, r, _ in questions), 6)
    attempt = None
    if not request.app.state.practice:
        state = request.app.state
        attempt = store.record_attempt(
            state.book, student, bank.topic, recorded,
            [{"question": p.id, "score": r.score, "max_score": r.max_score} for p, _, r, _ in questions],
            score, max_score, state.course.quizzes.recorded)
    return {"quiz": bank.topic, "score": score, "max_score": max_score, "attempt": attempt,
            "questions": [item for *_, item in questions], "_scored": questions}


def _plain_answer(value: Any, name: str) -> Any:
    """A JSON answer as the scorer reads it: text, a list of text, or a mapping of text."""
    def text(v: Any) -> str:
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise HTTPProblem(400, f"{name}: answers are text, numbers, lists or mappings of them")
        out = str(v)
        if len(out) > MAX_ANSWER_CHARS:
            raise HTTPProblem(400, f"{name}: answer longer than {MAX_ANSWER_CHARS} characters")
        return out

    if value is None or isinstance(value, bool):
        return None if value is None else str(value).lower()
    if isinstance(value, list):
        return [text(v) for v in value[:64]]
    if isinstance(value, dict):
        return {text(k): text(v) for k, v in list(value.items())[:64]}
    return text(value)


# -- JSON ----------------------------------------------------------------------------------------


async def api_quiz(request: Request) -> Response:
    who = require(request)
    bank = bank_for(request, request.path_params["topic"])
    presented = variant(request, bank, who.student)
    done = store.attempt_count(request.app.state.book, who.student, bank.topic)
    limit = request.app.state.course.quizzes.max_attempts
    return JSONResponse({
        "quiz": bank.topic, "title": bank.title,
        "attempts": done, "attempts_left": None if limit is None else max(0, limit - done),
        "questions": [{"name": f"q{n}", **_public(p.student_view())} for n, p in enumerate(presented, 1)],
    })


def _public(view: dict[str, Any]) -> dict[str, Any]:
    """A student view without the bank id (see the module doc)."""
    return {k: v for k, v in view.items() if k != "id"}


async def api_attempt(request: Request) -> Response:
    who = require(request)
    bank = bank_for(request, request.path_params["topic"])
    body = await _json_body(request)
    answers = body.get("answers") if isinstance(body, dict) else None
    if not isinstance(answers, dict):
        raise HTTPProblem(400, 'send {"answers": {"q1": ..., ...}} (an empty mapping is a blank attempt)')
    check_csrf(request, None)
    _check_attempts(request, who.student, bank.topic)
    answers = {str(k): _plain_answer(v, str(k)) for k, v in answers.items()}
    result = score_attempt(request, bank, who.student, answers)
    result.pop("_scored")
    return JSONResponse(result)


async def _json_body(request: Request) -> Any:
    limit = request.app.state.course.limits.quiz_body_kb * 1024
    body = await read_limited(request, limit)
    try:
        return json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise HTTPProblem(400, "the body is not JSON") from None


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPProblem(413, f"body of {declared} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPProblem(413, f"body larger than the limit of {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # Starlette's own cache: request.form() and .json() then read this
    return body


# -- pages ---------------------------------------------------------------------------------------


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(render.render_template(name, **context), status_code=status)


async def quiz_index(request: Request) -> Response:
    state = request.app.state
    if state.practice:
        student = practice_student(request, dict(request.query_params), required=False)
        config = state.practice_config
        ask = not (config.student or config.student_header)
    else:
        student, ask = require(request).student, False
    shown = {t: b for t, b in banks(request).items() if served_questions(request, b)}
    return _page("serve_index.html.j2", banks=shown, student=student, ask_student=ask,
                 counts={t: len(served_questions(request, b)) for t, b in shown.items()})


async def quiz_page(request: Request) -> Response:
    bank = bank_for(request, request.path_params["topic"])
    if request.app.state.practice:
        student, csrf = practice_student(request, dict(request.query_params)), None
    else:
        student, csrf = require(request).student, csrf_token(request)
    presented = variant(request, bank, student)
    return _page("serve_quiz.html.j2", bank=bank, student=student, quiz=bank.topic, csrf=csrf,
                 action=f"/quiz/{quote(bank.topic)}", questions=[p.student_view() for p in presented],
                 total_points=sum(p.points for p in presented))


async def quiz_post(request: Request) -> Response:
    bank = bank_for(request, request.path_params["topic"])
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != "application/x-www-form-urlencoded":
        raise HTTPProblem(415, f"Content-Type {kind!r}; expected a form post")
    await read_limited(request, request.app.state.course.limits.quiz_body_kb * 1024)
    form = await request.form()
    fields = {k: form.getlist(k) for k in form}
    if request.app.state.practice:
        student = practice_student(request, {"student": (fields.get("student") or [""])[0]})
    else:
        student = require(request).student
        check_csrf(request, (fields.get("csrf") or [None])[0])
    quiz = (fields.get("quiz") or [bank.topic])[0]
    if quiz != bank.topic:
        raise HTTPProblem(400, f"form is for quiz {quiz!r}, posted to {bank.topic!r}")
    if not request.app.state.practice:
        _check_attempts(request, student, bank.topic)
    presented = variant(request, bank, student)
    answers = {f"q{n}": form_answer(p, f"q{n}", fields) for n, p in enumerate(presented, 1)}
    answers = {k: _plain_answer(v, k) for k, v in answers.items()}
    result = score_attempt(request, bank, student, answers)
    show = request.app.state.practice or keys_visible(request)
    scored = [Scored(p, answer_text(a), r, show or not p.question.graded) for p, a, r, _ in result["_scored"]]
    back = None if request.app.state.practice else "/"
    return _page("serve_result.html.j2", bank=bank, student=student, results=scored,
                 score=result["score"], total=result["max_score"], back=back)

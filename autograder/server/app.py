"""Assemble the course server (Starlette) and run it (uvicorn).

`create_app` builds one ASGI app for both modes: course mode (`autograder serve`: roster,
tokens, gradebook, grading pool) and practice mode (`quiz serve`: quizzes only, nothing
recorded). Errors are one clear message: JSON ``{"error": ...}`` under /api/, a page elsewhere.
"""
from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from autograder.server import api, instructor, pages, quiz_routes
from autograder.server.auth import SESSION_MAX_AGE, HTTPProblem, RateLimiter
from autograder.server.course import Course
from quizzes import render as quiz_render
from quizzes.loader import DEFAULT_BANKS, load_banks

HERE = Path(__file__).parent
# Self-contained pages: our one script, inline CSS, images as data: URLs (report heatmaps).
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; connect-src 'self'; "
                               "style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


@dataclass
class PracticeConfig:
    """How practice mode knows the student (see quizzes/server.py)."""

    student: str | None = None
    student_header: str | None = None


@dataclass
class Settings:
    banks_dir: Path = DEFAULT_BANKS
    course: Course = field(default_factory=Course)
    book: Any = None          # a Gradebook (course mode)
    grading: Any = None       # a started GradingService (course mode)
    students: list[str] = field(default_factory=list)
    practice: PracticeConfig | None = None  # set: practice mode
    https_only: bool = False  # Secure cookies (behind a TLS reverse proxy)


def _routes(practice: bool) -> list:
    quiz = [
        Route("/quizzes" if not practice else "/", quiz_routes.quiz_index),
        Route("/quiz/{topic:str}", quiz_routes.quiz_page, methods=["GET", "HEAD"]),
        Route("/quiz/{topic:str}", quiz_routes.quiz_post, methods=["POST"]),
    ]
    if practice:
        return quiz
    return [
        Route("/", pages.home),
        Route("/login", pages.login),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/login-needed", pages.login_needed),
        Route("/healthz", pages.health),
        Route("/submit", pages.submit_form, methods=["POST"]),
        Route("/submissions/{id:int}", pages.submission),
        Route("/submissions/{id:int}/report", pages.report),
        Route("/api/submissions", api.submit, methods=["POST"]),
        Route("/api/submissions", api.listing, methods=["GET"]),
        Route("/api/submissions/{id:int}", api.status),
        Route("/api/quizzes/{topic:str}", quiz_routes.api_quiz, methods=["GET"]),
        Route("/api/quizzes/{topic:str}", quiz_routes.api_attempt, methods=["POST"]),
        Route("/instructor", instructor.class_table),
        Route("/instructor/students/{student:str}", instructor.student),
        Route("/instructor/regrade", instructor.regrade, methods=["POST"]),
        Route("/instructor/grades.csv", instructor.grades_csv),
        Route("/instructor/canvas.csv", instructor.canvas_csv),
        Route("/instructor/summary", instructor.summary),
        Route("/instructor/quizzes/{topic:str}/responses.json", instructor.quiz_responses),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        *quiz,
    ]


def _problem(request: Request, status: int, message: str, headers: dict | None = None) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)
    reason = HTTPStatus(status).phrase
    if request.app.state.practice:
        page = quiz_render.render_template("serve_error.html.j2", status=status, reason=reason, message=message)
    else:
        page = request.app.state.templates.get_template("error.html.j2").render(
            status=status, reason=reason, message=message, who=None, csrf="")
    return HTMLResponse(page, status_code=status, headers=headers)


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPProblem)
    return _problem(request, exc.status, exc.message, exc.headers)


async def _on_http(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", "") or HTTPStatus(status).phrase
    if status == 404:
        detail = f"no page at {request.url.path}"
    return _problem(request, status, str(detail))


async def _on_bug(request: Request, exc: Exception) -> Response:
    # A bug, not the caller's fault: logged by uvicorn with its traceback, one line to the caller.
    return _problem(request, 500, f"internal error ({type(exc).__name__}); the instructor can see the log")


class SecurityHeaders:
    """Pure ASGI middleware adding SECURITY_HEADERS to every response."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k.encode() not in names]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(settings: Settings) -> Starlette:
    practice = settings.practice is not None
    load_banks(settings.banks_dir)  # a broken bank stops the start, not the first request
    middleware = [Middleware(SecurityHeaders)]
    if not practice:
        from autograder.server.store import secret_key

        middleware.append(Middleware(
            SessionMiddleware, secret_key=secret_key(settings.book), session_cookie="session",
            max_age=SESSION_MAX_AGE, same_site="lax", https_only=settings.https_only))

    @asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        if settings.grading is not None:
            settings.grading.stop()

    app = Starlette(routes=_routes(practice), middleware=middleware, lifespan=lifespan,
                    exception_handlers={HTTPProblem: _on_problem, 404: _on_http, 405: _on_http,
                                        Exception: _on_bug})
    limits = settings.course.limits
    state = {
        "practice": practice, "practice_config": settings.practice or PracticeConfig(),
        "banks_dir": settings.banks_dir, "course": settings.course, "book": settings.book,
        "grading": settings.grading, "students": settings.students,
        "templates": jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                                     autoescape=True, undefined=jinja2.StrictUndefined),
        "login_limiter": RateLimiter(limits.logins_per_minute),
        "upload_limiter": RateLimiter(limits.uploads_per_minute),
        "quiz_limiter": RateLimiter(limits.quiz_posts_per_minute),
    }
    for name, value in state.items():
        setattr(app.state, name, value)
    return app

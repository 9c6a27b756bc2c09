"""Student pages: log in with the login URL, home (upload + history), one submission, its report."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from autograder.server import api, store, tokens
from autograder.server.auth import (
    HTTPProblem,
    check_csrf,
    client_key,
    csrf_token,
    require,
)


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    env = request.app.state.templates
    who = context.pop("who", None)
    page = env.get_template(name).render(who=who, csrf=csrf_token(request) if who else "", **context)
    return HTMLResponse(page, status_code=status)


async def login(request: Request) -> Response:
    """GET /login?token=...: the token becomes a signed session cookie, then home."""
    state = request.app.state
    wait = state.login_limiter.wait_s(client_key(request))
    if wait is not None:
        raise HTTPProblem(429, f"too many failed logins; try again in {int(wait) + 1} s",
                          {"Retry-After": str(int(wait) + 1)})
    who = tokens.lookup(state.book, str(request.query_params.get("token", "")))
    if who is None:
        state.login_limiter.hit(client_key(request))
        raise HTTPProblem(401, "this login link is unknown or was revoked: ask for a new one")
    request.session.clear()  # a fresh session (and CSRF token) per login
    request.session["token_id"] = who.token_id
    return RedirectResponse("/instructor" if who.is_instructor else "/", status_code=303)


async def logout(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form.get("csrf") if isinstance(form.get("csrf"), str) else None)
    request.session.clear()
    return RedirectResponse("/login-needed", status_code=303)


async def login_needed(request: Request) -> Response:
    raise HTTPProblem(401, "you are logged out: open your login URL to log in again")


def scores_of(request: Request, uploads: list[store.Upload]) -> dict[int, tuple[float, float] | None]:
    book = request.app.state.book
    out: dict[int, tuple[float, float] | None] = {}
    for u in uploads:
        row = book.row(u.submission_id) if u.status == "graded" and u.submission_id else None
        out[u.id] = (row.score, row.max_score) if row and row.score is not None else None
    return out


async def home(request: Request) -> Response:
    who = require(request)
    state = request.app.state
    uploads = store.uploads_of(state.book, who.student)
    return render(request, "home.html.j2", who=who, uploads=uploads, scores=scores_of(request, uploads),
                  assignments=state.course.assignments, attempts=store.attempts(state.book, who.student),
                  message=request.query_params.get("message"))


async def submit_form(request: Request) -> Response:
    """The upload form without JavaScript: the API's checks, then back home."""
    await api.submit(request)
    return RedirectResponse("/", status_code=303)


async def submission(request: Request) -> Response:
    upload = api.owned(request, request.path_params["id"])
    return render(request, "submission.html.j2", who=require(request), u=upload,
                  d=api.describe(request, upload))


async def report(request: Request) -> Response:
    """The HTML report (per-function table, heatmaps, mistake hints) of a graded upload."""
    upload = api.owned(request, request.path_params["id"])
    book = request.app.state.book
    row = book.row(upload.submission_id) if upload.submission_id else None
    if upload.status != "graded" or row is None:
        raise HTTPProblem(404, f"submission {upload.id} has no report yet ({upload.status})")
    from autograder.reports import render_report

    return HTMLResponse(render_report(book.grade_result(row), "html"))


async def health(request: Request) -> Response:
    """GET /healthz (no login: for a reverse proxy or a monitor): ``{"status": "ok", "grading":
    "ready" | "warming"}``, warming while the grading processes start their workers. Says
    nothing about anyone's work."""
    grading = request.app.state.grading
    ready = grading is None or grading.ready
    return JSONResponse({"status": "ok", "grading": "ready" if ready else "warming"})

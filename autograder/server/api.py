"""The JSON API (what scripts and the tests use; the pages call the same routes):

- ``POST /api/submissions`` (multipart field ``file``, optional ``assignment``) -> ``{"id", "status"}``
- ``GET /api/submissions/{id}`` -> ``{"id", "status", "score", "max_score", "tests", ...}``;
  ``?wait=S`` long-polls (answers when the status changes, or after S <= 30 seconds)
- ``GET /api/submissions`` -> the caller's own uploads (the instructor's: everyone's)

A student only ever sees their own uploads: another's id answers 404, the same as an id that
does not exist, so ids cannot be probed.
"""
from __future__ import annotations

import hashlib
import io
import re
import tempfile
import time
import zipfile
from pathlib import Path, PurePath
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from autograder.intake import Submission, SubmissionError
from autograder.server import store
from autograder.server.auth import HTTPProblem, check_csrf, require
from autograder.server.course import now
from autograder.server.grader import read_upload
from autograder.server.waiting import MAX_WAIT_S, RECHECK_S

SUFFIXES = (".py", ".zip", ".ipynb")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str) -> str:
    """The upload's own name without any directory part or odd character (`../../x.py` -> `x.py`)."""
    base = PurePath(name.replace("\\", "/")).name
    stem, dot, suffix = base.rpartition(".")
    cleaned = _SAFE_NAME.sub("_", stem or suffix).strip("._")[:64] or "submission"
    return f"{cleaned}.{suffix.lower()}" if dot else cleaned


async def submit(request: Request) -> Response:
    who = require(request)
    state = request.app.state
    limits = state.course.limits
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limits.upload_bytes + 64 * 1024:
        raise HTTPProblem(413, f"upload of {declared} bytes; the limit is {limits.upload_mb:g} MiB")
    kind = request.headers.get("content-type", "")
    if not kind.startswith("multipart/form-data"):
        raise HTTPProblem(400, "send the file as multipart/form-data in the field `file`")
    state.upload_limiter.check(who.student, "uploads")
    async with request.form(max_files=1, max_fields=8) as form:
        check_csrf(request, form.get("csrf") if isinstance(form.get("csrf"), str) else None)
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise HTTPProblem(400, "no file: send it in the multipart field `file`")
        data = await upload.read(limits.upload_bytes + 1)
        requested = form.get("assignment") if isinstance(form.get("assignment"), str) else None
    if len(data) > limits.upload_bytes:
        raise HTTPProblem(413, f"upload larger than {limits.upload_mb:g} MiB")
    filename = safe_filename(upload.filename)
    if not filename.lower().endswith(SUFFIXES):
        raise HTTPProblem(400, f"{filename}: upload a .py, .zip or .ipynb file")
    try:
        name, assignment = state.course.assignment(requested)
    except KeyError:
        raise HTTPProblem(404, f"no assignment {requested!r}") from None
    late = assignment.is_late(now())
    if late and assignment.late == "reject":
        raise HTTPProblem(403, f"{name}: the deadline {assignment.deadline.isoformat()} has passed")
    attempts, active = store.counts(state.book, who.student, name)
    if assignment.max_attempts is not None and attempts >= assignment.max_attempts:
        raise HTTPProblem(403, f"{name}: all {assignment.max_attempts} attempts used")
    if active >= limits.queued_per_student:
        raise HTTPProblem(429, f"{active} of your uploads are still being graded; wait for them")
    submission = await run_in_threadpool(_intake, filename, data, limits.zip_members)
    upload_id = store.add_upload(state.book, who.student, name, filename, data,
                                 hashlib.sha256(data).hexdigest(), late)
    state.grading.queued(upload_id, submission)
    return JSONResponse({"id": upload_id, "status": "queued"}, status_code=202)


def _intake(filename: str, data: bytes, zip_members: int) -> Submission:
    """Refuse now what grading would refuse: the same rules as `autograder grade`."""
    if filename.endswith(".zip"):
        try:
            members = len(zipfile.ZipFile(io.BytesIO(data)).infolist())
        except zipfile.BadZipFile:
            raise HTTPProblem(400, f"{filename}: not a readable zip archive") from None
        if members > zip_members:
            raise HTTPProblem(400, f"{filename}: {members} members, at most {zip_members} allowed")
    with tempfile.TemporaryDirectory(prefix="autograder-intake-") as scratch:
        try:
            return read_upload(Path(scratch), filename, data)
        except SubmissionError as exc:
            raise HTTPProblem(400, str(exc).replace(scratch + "/", "")) from None


def describe(request: Request, upload: store.Upload) -> dict[str, Any]:
    """An upload as the API shows it: the results.json shape once graded."""
    state = request.app.state
    out: dict[str, Any] = {"id": upload.id, "status": upload.status, "student": upload.student,
                           "assignment": upload.assignment, "filename": upload.filename,
                           "late": bool(upload.late), "submitted_at": upload.submitted_at,
                           "score": None, "max_score": None, "recorded_score": None, "tests": [], "output": "",
                           "report": None, "error": upload.error}
    row = state.book.row(upload.submission_id) if upload.submission_id else None
    if upload.status == "graded" and row is not None:
        _, assignment = state.course.assignment(upload.assignment)
        out.update(score=row.score, max_score=row.max_score,
                   recorded_score=assignment.recorded_score(row.score or 0.0, bool(upload.late)),
                   tests=row.results_json.get("tests", []), output=row.results_json.get("output", ""),
                   report=f"/submissions/{upload.id}/report")
    return out


def owned(request: Request, upload_id: int) -> store.Upload:
    who = require(request)
    upload = store.upload(request.app.state.book, upload_id)
    if upload is None or (upload.student != who.student and not who.is_instructor):
        raise HTTPProblem(404, f"no submission {upload_id}")
    return upload


async def status(request: Request) -> Response:
    """``?wait=S`` (0 to 30 s) long-polls: the answer comes when the upload's status changes
    (queued -> grading -> graded or error) or after S seconds, whichever is first."""
    upload_id = request.path_params["id"]
    upload = owned(request, upload_id)  # another's id is refused before any waiting
    wait_s = _wait_seconds(request)
    first, deadline = upload.status, time.monotonic() + wait_s
    events = request.app.state.grading.events
    while upload.status == first and upload.status in ("queued", "grading"):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        await events.wait(upload_id, min(left, RECHECK_S))
        upload = owned(request, upload_id)  # a token revoked meanwhile ends it here
    return JSONResponse(describe(request, upload))


def _wait_seconds(request: Request) -> float:
    text = request.query_params.get("wait", "0")
    try:
        wait_s = float(text)
    except ValueError:
        wait_s = -1.0
    if not 0 <= wait_s <= MAX_WAIT_S:  # also refuses nan and inf
        raise HTTPProblem(400, f"wait={text[:40]!r}: expected seconds from 0 to {MAX_WAIT_S:g}")
    return wait_s


async def listing(request: Request) -> Response:
    who = require(request)
    rows = store.uploads_of(request.app.state.book, None if who.is_instructor else who.student)
    return JSONResponse([describe(request, u) for u in rows])

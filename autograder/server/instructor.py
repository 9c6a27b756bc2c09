"""Instructor pages: the class table, a student's drill-down, regrade one or all, downloads."""
from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from autograder import exports
from autograder.server import store
from autograder.server.auth import HTTPProblem, check_csrf, require
from autograder.server.pages import render, scores_of


def recorded_grades(request: Request, points: dict[str, float] | None = None
                    ) -> dict[str, dict[str, float | None]]:
    """{student: {assignment: recorded score}} under each assignment's best/last and late policy
    (every roster student, with {} for one who has none). `points` fills with the largest
    max_score graded per assignment."""
    state = request.app.state
    out: dict[str, dict[str, float | None]] = {s: {} for s in state.students}
    for upload in store.uploads_of(state.book):
        if upload.status != "graded" or not upload.submission_id:
            continue
        row = state.book.row(upload.submission_id)
        if row is None or row.score is None:
            continue
        name, assignment = state.course.assignment(upload.assignment)
        if points is not None:
            points[name] = max(points.get(name, 0.0), row.max_score or 0.0)
        counted = assignment.recorded_score(row.score, bool(upload.late))
        grades = out.setdefault(upload.student, {})
        earlier = grades.get(name)
        grades[name] = counted if earlier is None or assignment.recorded == "last" else max(earlier, counted)
    return out


def quiz_table(request: Request) -> tuple[dict[str, dict[str, float]], list[str]]:
    """({student: {quiz: recorded score}}, the quizzes sorted)."""
    scores: dict[str, dict[str, float]] = {}
    for q in request.app.state.book.quiz_scores():
        scores.setdefault(q.student, {})[q.quiz] = q.score
    return scores, sorted({q for s in scores.values() for q in s})


async def class_table(request: Request) -> Response:
    who = require(request, instructor=True)
    state = request.app.state
    grades = recorded_grades(request)
    quiz_scores, quizzes = quiz_table(request)
    counts: dict[str, int] = {}
    for u in store.uploads_of(state.book):
        counts[u.student] = counts.get(u.student, 0) + 1
    students = [{"student": s, "uploads": counts.get(s, 0),
                 "code": {a: grades.get(s, {}).get(a) for a in state.course.assignments},
                 "quiz": {q: quiz_scores.get(s, {}).get(q) for q in quizzes}}
                for s in sorted(set(grades) | set(quiz_scores))]
    return render(request, "instructor.html.j2", who=who, students=students,
                  assignments=list(state.course.assignments), quizzes=quizzes)


async def student(request: Request) -> Response:
    who = require(request, instructor=True)
    name = request.path_params["student"]
    state = request.app.state
    uploads = store.uploads_of(state.book, name)
    if name not in state.students and not uploads:
        raise HTTPProblem(404, f"no student {name!r}")
    return render(request, "instructor_student.html.j2", who=who, student=name, uploads=uploads,
                  scores=scores_of(request, uploads), attempts=store.attempts(state.book, name))


async def regrade(request: Request) -> Response:
    """Regrade one upload (form field `upload`) or every graded one under the current grading.yaml.

    A regrade records only when the fingerprint changed (the gradebook replaces the stale row);
    under an unchanged grading.yaml the upload is linked to its existing row again.
    """
    require(request, instructor=True)
    form = await request.form()
    check_csrf(request, form.get("csrf") if isinstance(form.get("csrf"), str) else None)
    book = request.app.state.book
    chosen = form.get("upload")
    if isinstance(chosen, str) and chosen:
        if not chosen.isdigit() or store.upload(book, int(chosen)) is None:
            raise HTTPProblem(404, f"no submission {chosen!r}")
        ids = [int(chosen)]
    else:
        ids = [u.id for u in store.uploads_of(book) if u.status in ("graded", "error")]
    store.requeue(book, upload_ids=ids)
    request.app.state.grading.wake()
    if request.headers.get("accept", "").startswith("application/json"):
        return JSONResponse({"requeued": ids})
    return RedirectResponse("/instructor", status_code=303)


async def grades_csv(request: Request) -> Response:
    """The class table as CSV: ``student, <assignment>..., quiz:<name>...``, each cell the
    recorded grade (best or last, late policy applied), empty where there is none."""
    require(request, instructor=True)
    state = request.app.state
    grades = recorded_grades(request)
    quiz_scores, quizzes = quiz_table(request)
    assignments = list(state.course.assignments)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["student", *assignments, *(exports.QUIZ_PREFIX + q for q in quizzes)])
    for student in sorted(set(grades) | set(quiz_scores)):
        cells = [grades.get(student, {}).get(a) for a in assignments]
        cells += [quiz_scores.get(student, {}).get(q) for q in quizzes]
        writer.writerow([student, *("" if c is None else f"{c:g}" for c in cells)])
    return Response(out.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="grades.csv"'})


async def canvas_csv(request: Request) -> Response:
    """For Canvas's Grades > Import: one column per assignment holding each student's recorded
    grade (the class table's and grades.csv's: best or last, late policy applied), its points
    possible the grader's total. Every roster student has a row; no grade is an empty cell."""
    require(request, instructor=True)
    state = request.app.state
    points: dict[str, float] = {}
    grades = recorded_grades(request, points)
    assignments = list(state.course.assignments)
    total = max(points.values(), default=0.0)  # an assignment nobody has been graded on yet
    out = io.StringIO()
    exports.write_canvas_rows(out, [(a, points.get(a, total)) for a in assignments],
                              {s: [grades[s].get(a) for a in assignments] for s in sorted(grades)})
    return Response(out.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="canvas.csv"'})


async def summary(request: Request) -> Response:
    """`autograder batch --summary`'s page over each student's latest graded upload."""
    require(request, instructor=True)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "summary.html"
        exports.class_summary_html(request.app.state.book, path)
        return HTMLResponse(path.read_text(encoding="utf-8"))


async def quiz_responses(request: Request) -> Response:
    """GET /instructor/quizzes/{topic}/responses.json: each student's counted attempt (best or
    last, as course.yaml says) in `quiz score --out`'s shape, so `quiz stats` reads it."""
    require(request, instructor=True)
    state = request.app.state
    topic = request.path_params["topic"]
    counted: dict[str, dict] = {}
    for attempt in store.attempts(state.book, quiz=topic):  # oldest first
        earlier = counted.get(attempt["student"])
        if earlier is None or state.course.quizzes.recorded == "last" or attempt["score"] > earlier["score"]:
            counted[attempt["student"]] = attempt
    if not counted:
        raise HTTPProblem(404, f"no attempts at quiz {topic!r}")
    body = [{"student": a["student"], "quiz": topic, "score": a["score"], "max_score": a["max_score"],
             "questions": [{**r, "answer": a["answers"].get(r["question"])} for r in a["results"]]}
            for _, a in sorted(counted.items())]
    return JSONResponse(body, headers={"Content-Disposition": f'attachment; filename="{topic}-responses.json"'})


__all__ = ["HTMLResponse", "canvas_csv", "class_table", "grades_csv", "quiz_responses", "regrade", "student", "summary"]

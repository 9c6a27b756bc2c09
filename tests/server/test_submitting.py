"""Submitting: .py, .zip and .ipynb uploads graded by the pool; course.yaml's deadline, late
penalty, attempt limit and best/last policy in the recorded grade; size and member limits;
a broken course.yaml stops `autograder serve` with one file:line line; attempt history."""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta, timezone

import nbformat
import pytest
from click.testing import CliRunner
from course_helpers import folder_zip, mistake_zip, reference_zip, start_course, stop_course, wait_graded

from autograder.cli import main
from autograder.config import load_config
from autograder.contract import exercise_modules
from autograder.demo import notebook_source, student_source
from autograder.server.course import Assignment, Course, Limits

PAST = datetime.now(timezone.utc) - timedelta(days=1)
TOTAL = load_config().total_points


@pytest.fixture(scope="module")
def policy_course(tmp_path_factory):
    """late_lab: deadline passed, late uploads lose half, 2 attempts, the last counts.
    open_lab: no deadline, the best counts."""
    course = Course(assignments={
        "late_lab": Assignment(deadline=PAST, late="penalty", late_penalty=0.5, max_attempts=2,
                               recorded="last"),
        "open_lab": Assignment(recorded="best"),
    }, limits=Limits(uploads_per_minute=30))
    started, server = start_course(tmp_path_factory.mktemp("policy") / "grades.sqlite", course=course)
    yield started
    stop_course(started, server)


def _upload(client, name: str, data: bytes, assignment: str) -> dict:
    answer = client.post("/api/submissions", files={"file": (name, data)}, data={"assignment": assignment})
    assert answer.status_code == 202, answer.text
    return wait_graded(client, answer.json()["id"])


def _class_cells(teacher, student: str) -> list[str]:
    page = teacher.get("/instructor").text
    row = re.search(rf'<tr id="student-{student}">(.*?)</tr>', page, re.S).group(1)
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", row, re.S)]


def test_deadline_late_penalty_attempt_limit_and_best_or_last(policy_course, tmp_path):
    full, wrong = reference_zip(tmp_path), mistake_zip(tmp_path, "attention.no_scale")
    with policy_course.client("alice") as alice:
        best = [_upload(alice, "a.zip", full, "open_lab"), _upload(alice, "b.zip", wrong, "open_lab")]
        assert best[0]["score"] == TOTAL and best[1]["score"] < TOTAL
        assert not best[0]["late"] and best[1]["recorded_score"] == best[1]["score"]

        late = [_upload(alice, "c.zip", full, "late_lab"), _upload(alice, "d.zip", wrong, "late_lab")]
        assert all(u["late"] for u in late)
        assert late[0]["recorded_score"] == pytest.approx(TOTAL * 0.5)
        assert late[1]["recorded_score"] == pytest.approx(late[1]["score"] * 0.5)
        third = alice.post("/api/submissions", files={"file": ("e.zip", full)}, data={"assignment": "late_lab"})
        assert third.status_code == 403 and "all 2 attempts used" in third.json()["error"]

        history = alice.get("/api/submissions").json()
        assert [u["filename"] for u in history] == ["a.zip", "b.zip", "c.zip", "d.zip"]
        assert [u["assignment"] for u in history] == ["open_lab"] * 2 + ["late_lab"] * 2
        home = alice.get("/").text
        assert all(f"upload-{u['id']}" in home for u in history)
        assert "late uploads: penalty" in home and "recorded grade: last" in home

        unknown = alice.post("/api/submissions", files={"file": ("a.zip", full)}, data={"assignment": "nope"})
        assert unknown.status_code == 404 and "nope" in unknown.json()["error"]
    with policy_course.client("instructor") as teacher:
        cells = _class_cells(teacher, "alice")  # student, late_lab, open_lab, uploads
        assert cells[1] == f"{late[1]['score'] * 0.5:g}"  # last, halved: not the better first one
        assert cells[2] == f"{TOTAL:g}"  # best: the full-marks first upload, not the later one
        assert cells[-1] == "4"
        download = teacher.get("/instructor/grades.csv")
        assert download.headers["content-disposition"] == 'attachment; filename="grades.csv"'
        rows = {r["student"]: r for r in csv.DictReader(io.StringIO(download.text))}
        assert rows["alice"]["late_lab"] == cells[1] and rows["alice"]["open_lab"] == cells[2]
        canvas = teacher.get("/instructor/canvas.csv")
        assert canvas.status_code == 200 and canvas.headers["content-type"].startswith("text/csv")
        header, points, *students = list(csv.reader(io.StringIO(canvas.text)))
        # Canvas's five identity columns, then one column per assignment in course.yaml's order
        assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "late_lab", "open_lab"]
        assert points == ["Points Possible", "", "", "", "", f"{TOTAL:g}", f"{TOTAL:g}"]
        by_student = {row[0]: row for row in students}
        assert by_student["alice"][3] == "alice"  # SIS Login ID: how Canvas matches the row
        assert by_student["alice"][5:] == [cells[1], cells[2]]  # the recorded grades, not the latest
        assert by_student["bob"][5:] == ["", ""]  # on the roster, nothing graded yet
        summary = teacher.get("/instructor/summary")
        assert summary.status_code == 200 and "<html" in summary.text.lower()


def test_py_and_ipynb_uploads_are_graded(policy_course, tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# My lab")] + [
        nbformat.v4.new_code_cell(notebook_source(m)) for m in exercise_modules()]
    with policy_course.client("bob") as bob:
        single = _upload(bob, "attention.py", student_source("attention").encode(), "open_lab")
        assert single["status"] == "graded" and 0 < single["score"] < TOTAL
        passed = {t["name"].split("::")[0] for t in single["tests"] if t["score"] == t["max_score"]}
        assert passed and all("attention" in name for name in passed), passed
        graded = _upload(bob, "lab.ipynb", nbformat.writes(notebook).encode(), "open_lab")
        assert graded["status"] == "graded" and graded["score"] == TOTAL


def test_late_uploads_refused_under_reject(tmp_path):
    course = Course(assignments={"closed": Assignment(deadline=PAST, late="reject")})
    started, server = start_course(tmp_path / "grades.sqlite", course=course, grading=False)
    try:
        with started.client("alice") as alice:
            answer = alice.post("/api/submissions", files={"file": ("x.py", b"x = 1\n")})
            assert answer.status_code == 403 and "deadline" in answer.json()["error"]
            assert alice.get("/api/submissions").json() == []
    finally:
        stop_course(started, server)


def test_size_and_member_limits_come_from_the_config(shared_quiet_course, tmp_path):
    assert Limits().upload_mb == 16  # the documented default
    with shared_quiet_course.client("alice") as alice:
        over = alice.post("/api/submissions", files={"file": ("big.py", b"#" * (16 * 2**20 + 1))})
        assert over.status_code == 413 and "16 MiB" in over.json()["error"]
    course = Course(limits=Limits(upload_mb=0.01, zip_members=2))
    started, server = start_course(tmp_path / "grades.sqlite", course=course, grading=False)
    try:
        with started.client("alice") as alice:
            big = alice.post("/api/submissions", files={"file": ("big.py", b"#" * 20_000)})
            assert big.status_code == 413 and "0.01 MiB" in big.json()["error"]
            for name in ("a.py", "b.py", "c.py"):
                (tmp_path / "three").mkdir(exist_ok=True)
                (tmp_path / "three" / name).write_text("x = 1\n", encoding="utf-8")
            many = alice.post("/api/submissions", files={"file": ("lab.zip", folder_zip(tmp_path / "three"))})
            assert many.status_code == 400 and "at most 2 allowed" in many.json()["error"]
            assert alice.get("/api/submissions").json() == []
    finally:
        stop_course(started, server)


def test_a_broken_course_yaml_stops_serve_with_one_line(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student\nalice\n", encoding="utf-8")
    course = tmp_path / "course.yaml"
    course.write_text("assignments:\n  lab1:\n    deadline: 2026-02-01T23:59:00+00:00\n"
                      "    late: sometimes\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["serve", "--roster", str(roster), "--course", str(course),
                                       "--gradebook", str(tmp_path / "g.sqlite"), "--port", "0"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {course}:4:"), lines
    assert "late" in lines[0] and "sometimes" in lines[0]

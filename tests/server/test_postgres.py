"""The course server on a real PostgreSQL gradebook (tests/postgres_db.py: the server `.ci/run`
starts): logins, an upload graded, a quiz attempt recorded, and two grading services on one
database (as two server processes would be) grading a shared queue, each upload once."""
from __future__ import annotations

import sys
from pathlib import Path

import sqlalchemy as sa
from course_helpers import mistake_zip, reference_zip, start_course, stop_course, wait_graded

from autograder.gradebook import Gradebook
from autograder.jobs import GradingSetup
from autograder.server import store
from autograder.server.course import Course, Limits
from autograder.server.grader import GradingService

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from postgres_db import fresh_database  # noqa: E402


def test_the_server_on_postgresql_with_two_grading_services(tmp_path):
    url, drop = fresh_database()
    course, server = start_course(url, course=Course(limits=Limits(uploads_per_minute=30)))
    second_book = Gradebook(url)
    second = GradingService(second_book, GradingSetup.from_path(None), jobs=1).start()
    try:
        uploads = [("alice", reference_zip(tmp_path)), ("alice", mistake_zip(tmp_path, "attention.no_scale")),
                   ("bob", mistake_zip(tmp_path, "masks.causal_diagonal")), ("bob", reference_zip(tmp_path))]
        ids = []
        for student, data in uploads:
            with course.client(student) as client:
                answer = client.post("/api/submissions", files={"file": ("lab.zip", data)})
                assert answer.status_code == 202, answer.text
                ids.append((student, answer.json()["id"]))
        second.wake()
        for student, upload_id in ids:
            with course.client(student) as client:
                assert wait_graded(client, upload_id)["status"] == "graded"
        with course.client("bob") as bob:
            assert bob.post("/api/quizzes/tiny", json={"answers": {"q3": "true"}}).json()["score"] == 1
            assert bob.get(f"/api/submissions/{ids[0][1]}").status_code == 404  # alice's
        rows = course.book.query(sa.text("SELECT student, submission_sha256, status FROM submissions"))
        assert len(rows) == len({r[:2] for r in rows}) == 4 and {r[2] for r in rows} == {"graded"}
        assert [a["score"] for a in store.attempts(course.book, "bob", "tiny")] == [1]
    finally:
        second.stop()
        second_book.close()
        stop_course(course, server)
        drop()

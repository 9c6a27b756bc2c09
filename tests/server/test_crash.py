"""Crash safety: a real `autograder serve` killed with SIGKILL while grading loses nothing; on
restart its queued and half-graded uploads are graded, each into one gradebook row. A grading
job that never ends is stopped and costs no one else their upload."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import sqlalchemy as sa
from click.testing import CliRunner
from course_helpers import mistake_zip, reference_zip, start_course, stop_course, wait_graded

from autograder.cli import main
from autograder.gradebook import Gradebook

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serve(roster: Path, db: Path, port: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "autograder.cli", "serve", "--roster", str(roster), "--gradebook", str(db),
               "--port", str(port), "--jobs", "1", "--quiet"]
    process = subprocess.Popen(command, cwd=REPO, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                               start_new_session=True)  # its own group: the test can reap the pool
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            httpx.get(f"http://127.0.0.1:{port}/login-needed", timeout=2)
            return process
        except httpx.TransportError:
            time.sleep(0.3)
    process.kill()
    raise AssertionError(f"autograder serve did not answer within 90 s:\n{log.read_text()}")


def _statuses(db: Path) -> dict[int, str]:
    with Gradebook(db) as book:
        return dict(book.query(sa.text("SELECT id, status FROM uploads")))


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


def test_sigkill_mid_grading_loses_nothing_and_grades_once(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student\nalice\nbob\n", encoding="utf-8")
    db = tmp_path / "grades.sqlite"
    issued = CliRunner().invoke(main, ["tokens", "--roster", str(roster), "--gradebook", str(db)])
    assert issued.exit_code == 0, issued.output
    tokens = dict(line.split(",")[:2] for line in issued.stdout.splitlines()[1:])
    port, log = _free_port(), tmp_path / "serve.log"
    uploads = [("alice", reference_zip(tmp_path)), ("alice", mistake_zip(tmp_path, "attention.no_scale")),
               ("bob", mistake_zip(tmp_path, "masks.causal_diagonal"))]

    server = _serve(roster, db, port, log)
    try:
        ids = []
        for student, data in uploads:
            answer = httpx.post(f"http://127.0.0.1:{port}/api/submissions", files={"file": ("lab.zip", data)},
                                headers={"Authorization": f"Bearer {tokens[student]}"}, timeout=30)
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["id"])
        deadline = time.monotonic() + 60
        while "grading" not in _statuses(db).values():
            assert time.monotonic() < deadline, _statuses(db)
            time.sleep(0.1)
        os.kill(server.pid, signal.SIGKILL)  # the server only: its pool processes are orphaned
        server.wait(timeout=30)  # reaped, so its pid is gone (a zombie would look alive)
    finally:
        _kill_group(server)  # the orphaned pool processes, whatever happened
    left = _statuses(db)
    assert "grading" in left.values() and set(left) == set(ids), left
    assert sum(s == "graded" for s in left.values()) < len(ids)  # killed mid-way, not after

    server = _serve(roster, db, port, log)
    try:
        for (student, _), upload_id in zip(uploads, ids, strict=True):
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                                  headers={"Authorization": f"Bearer {tokens[student]}"})
            with client:
                assert wait_graded(client, upload_id, timeout_s=240)["status"] == "graded", log.read_text()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        finally:
            _kill_group(server)
    with Gradebook(db) as book:
        rows = book.query(sa.text("SELECT student, submission_sha256, status FROM submissions"))
        linked = book.query(sa.text("SELECT submission_id FROM uploads ORDER BY id"))
    assert len(rows) == len(set(rows)) == 3 and {r[2] for r in rows} == {"graded"}  # one row each
    assert len({r[0] for r in linked}) == 3 and None not in {r[0] for r in linked}


def test_a_stuck_grading_job_is_stopped_and_the_queue_goes_on(tmp_path):
    course, server = start_course(tmp_path / "grades.sqlite")
    try:
        course.grading.deadline_s = 0.5  # a pool process cannot even start in that time
        with course.client("alice") as alice:
            first = alice.post("/api/submissions", files={"file": ("lab.zip", reference_zip(tmp_path))}).json()
            stuck = wait_graded(alice, first["id"], timeout_s=60)
            assert stuck["status"] == "error" and "longer than 0.5 s" in stuck["error"]
            course.grading.deadline_s = 300
            again = alice.post("/api/submissions", files={"file": ("lab.zip", reference_zip(tmp_path))}).json()
            assert wait_graded(alice, again["id"])["status"] == "graded"
    finally:
        stop_course(course, server)

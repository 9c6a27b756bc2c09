"""The JSON API graded by the warm pool: upload, watch the status, read the results.json-shaped
answer; a mistake gets its hint; each student sees only their own submissions."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from course_helpers import BANKS, STUDENTS, mistake_zip, reference_zip, wait_graded
from starlette.testclient import TestClient

from autograder.config import load_config
from autograder.gradebook import Gradebook
from autograder.jobs import GradingSetup
from autograder.server import store
from autograder.server.app import Settings, create_app
from autograder.server.grader import GradingService


def test_upload_is_graded_by_the_pool_and_recorded_once(graded_course, tmp_path):
    total = load_config().total_points
    with graded_course.client("alice") as alice:
        answer = alice.post("/api/submissions", files={"file": ("lab.zip", reference_zip(tmp_path))})
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "queued"
        upload_id = answer.json()["id"]
        graded = wait_graded(alice, upload_id)
        assert graded["status"] == "graded", graded
        assert graded["score"] == graded["max_score"] == total  # the reference earns every point
        assert graded["tests"] and all(t["score"] == t["max_score"] for t in graded["tests"])
        assert [u["id"] for u in alice.get("/api/submissions").json()] == [upload_id]
        report = alice.get(f"/submissions/{upload_id}/report")
        assert report.status_code == 200 and "<html" in report.text.lower()
    # the same bytes again: a second upload row, but the gradebook keeps one graded row
    with graded_course.client("alice") as alice:
        again = alice.post("/api/submissions", files={"file": ("lab.zip", reference_zip(tmp_path))}).json()
        assert wait_graded(alice, again["id"])["score"] == total
    rows = graded_course.book.query(sa.text("SELECT COUNT(*) FROM submissions WHERE student = 'alice'"))
    assert rows[0][0] == 1
    with graded_course.client("bob") as bob:  # bob sees none of it
        assert bob.get("/api/submissions").json() == []
        assert bob.get(f"/api/submissions/{upload_id}").status_code == 404
        assert bob.get(f"/submissions/{upload_id}/report").status_code == 404
    with graded_course.client() as nobody:
        assert nobody.get(f"/api/submissions/{upload_id}").status_code == 401
    with graded_course.client("instructor") as teacher:  # the instructor sees everyone's
        assert upload_id in [u["id"] for u in teacher.get("/api/submissions").json()]


def test_a_mistake_loses_its_points_and_gets_its_hint(graded_course, tmp_path):
    with graded_course.client("bob") as bob:
        upload_id = bob.post("/api/submissions",
                             files={"file": ("bob.zip", mistake_zip(tmp_path, "attention.no_scale"))}).json()["id"]
        graded = wait_graded(bob, upload_id)
    assert graded["status"] == "graded" and graded["score"] < graded["max_score"]
    failed = [t for t in graded["tests"] if t["score"] < t["max_score"]]
    assert failed and all("scaled_dot_product_attention" in t["name"] or "multi_head" in t["name"]
                          for t in failed), [t["name"] for t in failed]
    assert any("sqrt" in t["output"].lower() or "scal" in t["output"].lower() for t in failed)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def test_every_grading_process_is_warm_before_the_first_upload(tmp_path):
    """`serve` starts its grading processes and their sandbox workers at start, not on the
    first uploads: /healthz says "warming", then "ready" with both processes up, each with
    its sandbox worker (a process of its own) already running, and no upload in the queue."""
    with Gradebook(tmp_path / "grades.sqlite") as book:
        service = GradingService(book, GradingSetup.from_path(None), jobs=2)
        app = create_app(Settings(banks_dir=BANKS, book=book, grading=service, students=STUDENTS))
        service.start()
        try:
            with TestClient(app) as client:  # leaving it runs the app's shutdown: service.stop()
                states = []
                deadline = time.monotonic() + 180
                while time.monotonic() < deadline:
                    states.append(client.get("/healthz").json()["grading"])
                    if states[-1] == "ready":
                        break
                    time.sleep(0.2)
                assert states[-1] == "ready" and set(states) <= {"warming", "ready"}, states
                processes = list(service._executor._processes.values())
                assert len(processes) == 2 and all(p.is_alive() for p in processes)
                deadline = time.monotonic() + 60  # the later process's initializer may be ending
                while not all(_children(p.pid) for p in processes) and time.monotonic() < deadline:
                    time.sleep(0.2)
                assert all(_children(p.pid) for p in processes), "a grading process has no worker"
                assert book.query(sa.text("SELECT COUNT(*) FROM uploads"))[0][0] == 0
        finally:
            service.stop()


def test_a_long_poll_answers_when_the_status_changes(graded_course, tmp_path):
    """?wait=30: each answer brings a new status (queued -> grading -> graded), so the client
    sends about three requests instead of polling; a server that ignored `wait` would answer
    the same status again at once."""
    with graded_course.client("alice") as alice:
        upload_id = alice.post("/api/submissions",
                               files={"file": ("lab.zip", reference_zip(tmp_path))}).json()["id"]
        seen = []
        for _ in range(10):  # bounded: three are needed
            seen.append(alice.get(f"/api/submissions/{upload_id}?wait=30", timeout=60).json()["status"])
            if seen[-1] in ("graded", "error"):
                break
    assert seen[-1] == "graded", seen
    assert all(a != b for a, b in zip(seen, seen[1:], strict=False)), seen
    assert len(seen) <= 3, seen


def test_a_long_poll_is_bounded_and_checked_first(shared_quiet_course):
    """A never-graded upload: wait=0.5 answers "queued" when its time is up; a bad or too long
    wait is a 400 with the allowed range; another student's id is a 404 before any waiting."""
    with shared_quiet_course.client("alice") as alice:
        upload_id = alice.post("/api/submissions", files={"file": ("w.py", b"x = 1\n")}).json()["id"]
        answer = alice.get(f"/api/submissions/{upload_id}?wait=0.5")
        assert answer.status_code == 200 and answer.json()["status"] == "queued"
        for bad in ("31", "-1", "abc", "nan", "inf", ""):
            refused = alice.get(f"/api/submissions/{upload_id}", params={"wait": bad})
            assert refused.status_code == 400, (bad, refused.text)
            assert "from 0 to 30" in refused.json()["error"]
    with shared_quiet_course.client("bob") as bob:
        assert bob.get(f"/api/submissions/{upload_id}?wait=30", timeout=10).status_code == 404


def test_one_grading_process_holds_the_next_upload_while_it_grades(graded_course, tmp_path):
    """With one grading process, a second upload is handed over while the first is graded
    (both ``grading`` at once), so the process never waits for the queue between them; the
    intake kept for each upload is dropped once it is handed over."""
    data = reference_zip(tmp_path)
    clients = {who: graded_course.client(who) for who in STUDENTS}
    try:
        ids = {who: c.post("/api/submissions", files={"file": ("lab.zip", data)}).json()["id"]
               for who, c in clients.items()}
        both_grading, states = False, {}
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            states = {who: clients[who].get(f"/api/submissions/{i}").json()["status"] for who, i in ids.items()}
            both_grading |= all(s == "grading" for s in states.values())
            if all(s in ("graded", "error") for s in states.values()):
                break
            time.sleep(0.05)
        assert set(states.values()) == {"graded"}, states
        assert both_grading, "the second upload waited in the queue while the only process graded"
        assert not graded_course.grading._prepared
    finally:
        for c in clients.values():
            c.close()


def test_a_grading_process_is_warm_before_the_first_upload():
    """The pool initializer grades the reference once (unrecorded): the suites ran, so the
    process's reference cache holds their reference outputs before any upload arrives."""
    script = (
        "from autograder import jobs\n"
        "jobs.warm_process(jobs.GradingSetup.from_path(None))\n"
        "import gc\n"
        "print(gc.get_freeze_count())\n"
        "print(len(jobs._PROCESS_STATE['cache']))\n"
        "for worker in jobs._PROCESS_STATE.get('workers', []):\n"
        "    worker.close()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], timeout=300)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) > 100, done.stdout  # every suite's cases called the reference
    # what lives as long as the process is frozen: a grade's full collections skip it
    assert int(done.stdout.split()[-2]) > 10_000, done.stdout


def test_uploads_that_would_wait_are_graded_two_in_one_suite_run(tmp_path):
    """One grading process and three queued uploads: the first is handed over alone, the next
    two (which would wait anyway) as one job graded in one suite run. The pair shares its
    inputs (one seed) and each upload still gets its own grade: the mistake loses points, the
    reference next to it does not."""
    import hashlib

    uploads = {"carol": reference_zip(tmp_path / "c"), "dave": mistake_zip(tmp_path / "d", "attention.no_scale"),
               "erin": reference_zip(tmp_path / "e")}
    with Gradebook(tmp_path / "grades.sqlite") as book:
        for student, data in uploads.items():  # queued before the service starts: a backlog
            store.add_upload(book, student, "lab", "lab.zip", data, hashlib.sha256(data).hexdigest(), False)
        service = GradingService(book, GradingSetup.from_path(None), jobs=1).start()
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                states = {u.student: u.status for u in store.uploads_of(book)}
                if all(state in ("graded", "error") for state in states.values()):
                    break
                time.sleep(0.2)
        finally:
            service.stop()
        assert states == dict.fromkeys(uploads, "graded"), states
        rows = {row.student: row for row in book.latest()}
    assert sorted(rows) == sorted(uploads)
    order = sorted(rows, key=lambda student: rows[student].id)  # recorded in claim order
    first, *pair = order
    assert rows[pair[0]].seed == rows[pair[1]].seed != rows[first].seed, {s: r.seed for s, r in rows.items()}
    assert rows["carol"].score == rows["carol"].max_score == rows["erin"].score
    assert rows["dave"].score < rows["dave"].max_score


def test_the_last_uploads_of_a_burst_are_handed_over_alone(tmp_path):
    """With two grading processes, a waiting job takes two uploads only while the queue holds
    two for each process; the burst's last ones go alone, so neither process idles at the end
    while the other grades a pair."""
    import hashlib

    with Gradebook(tmp_path / "grades.sqlite") as book:
        service = GradingService(book, GradingSetup.from_path(None), jobs=2)  # not started
        try:
            def queue(n: int) -> None:
                for k in range(n):
                    data = f"upload {k} of {n}".encode()
                    store.add_upload(book, f"s{n}-{k}", "lab", "lab.py", data,
                                     hashlib.sha256(data).hexdigest(), False)

            queue(4)
            assert service._job_size(handed_over=1) == 1  # a process is free: it starts now
            assert service._job_size(handed_over=2) == 2  # four queued: a pair for each process
            store.claim_next(book)
            assert service._job_size(handed_over=2) == 1  # three left: the tail goes alone
        finally:
            service.stop()

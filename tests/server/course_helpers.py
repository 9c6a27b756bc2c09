"""A course server on 127.0.0.1 (free port) over a fresh gradebook, with tokens for two
students and the instructor; helpers to upload and to wait (bounded) for a grade.

A module of its own, not conftest.py: tests import it by name, and several test folders have
a conftest.py (importing "conftest" would find whichever came first)."""
from __future__ import annotations

import io
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/postgres_db.py

from autograder.demo import write_mistake_submission, write_reference_submission  # noqa: E402
from autograder.gradebook import Gradebook  # noqa: E402
from autograder.jobs import GradingSetup  # noqa: E402
from autograder.server import tokens  # noqa: E402
from autograder.server.app import Settings, create_app  # noqa: E402
from autograder.server.course import Course  # noqa: E402
from autograder.server.grader import GradingService  # noqa: E402
from autograder.server.running import ServerHandle  # noqa: E402
from autograder.server.waiting import UploadEvents  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "quiz_fixtures"
BANKS = FIXTURES / "serve"
STUDENTS = ["alice", "bob"]


@dataclass
class Course_:
    base: str
    book: Gradebook
    tokens: dict[str, str]
    grading: GradingService | None

    def client(self, who: str | None = None, **kwargs) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30, **kwargs)


def folder_zip(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, path.name)
    return buffer.getvalue()


def reference_zip(tmp: Path) -> bytes:
    return folder_zip(write_reference_submission(tmp / "reference"))


def mistake_zip(tmp: Path, mistake: str) -> bytes:
    return folder_zip(write_mistake_submission(tmp / mistake, mistake))


def wait_graded(client: httpx.Client, upload_id: int, timeout_s: float = 240) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = client.get(f"/api/submissions/{upload_id}").json()
        if body["status"] in ("graded", "error"):
            return body
        time.sleep(0.3)
    raise AssertionError(f"submission {upload_id} not graded within {timeout_s} s: {body}")


def start_course(location, *, course: Course | None = None, grading: bool = True,
                 banks: Path = BANKS, issue_tokens: bool = True) -> tuple[Course_, ServerHandle]:
    book = Gradebook(location)
    service = GradingService(book, GradingSetup.from_path(None), jobs=1) if grading else None
    app = create_app(Settings(banks_dir=banks, course=course or Course(), book=book,
                              grading=service or NoGrading(), students=STUDENTS))
    server = ServerHandle(app, "127.0.0.1", 0, verbose=False).start()
    if service:
        service.start()
    issued = {}
    if issue_tokens:
        issued = {s: tokens.issue(book, s) for s in STUDENTS}
        issued["instructor"] = tokens.issue(book, tokens.INSTRUCTOR, tokens.INSTRUCTOR)
    return Course_(f"http://127.0.0.1:{server.server_address[1]}", book, issued, service), server


class NoGrading:
    """For tests that never grade: uploads stay queued."""

    ready = False  # /healthz says "warming" for ever
    events = UploadEvents()  # nothing changes: a long poll runs to its time

    def wake(self) -> None:
        pass

    def queued(self, upload_id: int, submission: object) -> None:
        pass

    def stop(self) -> None:
        pass


def stop_course(course: Course_, server: ServerHandle) -> None:
    server.shutdown()
    server.server_close()
    if course.grading:
        course.grading.stop()
    course.book.close()

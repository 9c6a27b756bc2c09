"""Access control over the app's own route table: every (path, method) is requested by nobody,
by another student (bob, on alice's data) and, for instructor routes, by a student. A route
added to `autograder.server.app._routes` is in this table without editing the test; only the
PUBLIC set below is exempt from "nobody gets 401", and it must stay harmless."""
from __future__ import annotations

import re

import httpx
import pytest
from starlette.routing import Mount, Route

from autograder.server import store
from autograder.server.app import _routes

# Reachable without logging in, by design: the login itself, the logged-out page, logout
# (clears a session, needs none), the one static script and the health check (no one's data).
PUBLIC = {("/login", "GET"), ("/login-needed", "GET"), ("/logout", "POST"), ("/static/app.js", "GET"),
          ("/healthz", "GET")}
INSTRUCTOR_PREFIX = "/instructor"
ALICE_MARKER = "alice_private_marker"  # in alice's upload file name: must never reach bob
TOPIC = "tiny"


def _route_table() -> list[tuple[str, str]]:
    table = []
    for route in _routes(practice=False):
        if isinstance(route, Mount):
            table.append(("/static/app.js", "GET"))
            continue
        assert isinstance(route, Route)
        for method in sorted(route.methods or {"GET"}):
            if method != "HEAD":
                table.append((route.path, method))
    return table


ROUTES = _route_table()


def _fill(path: str, upload_id: int) -> str:
    values = {"id": str(upload_id), "student": "alice", "topic": TOPIC}
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values[m.group(1)], path)


def _request(client: httpx.Client, method: str, path: str) -> httpx.Response:
    if method == "GET":
        return client.get(path)
    if path.startswith("/api/quizzes/"):
        return client.post(path, json={"answers": {}})
    if path in ("/api/submissions", "/submit"):
        return client.post(path, files={"file": ("bob.py", b"x = 1\n")})
    if path.startswith("/quiz/"):
        return client.post(path, data={"quiz": TOPIC})
    return client.post(path, data={})


@pytest.fixture(scope="module")
def alice_data(shared_quiet_course):
    """One upload and one quiz attempt of alice's; returns her upload id."""
    course = shared_quiet_course
    with course.client("alice") as alice:
        answer = alice.post("/api/submissions", files={"file": (f"{ALICE_MARKER}.py", b"x = 1\n")})
        assert answer.status_code == 202, answer.text
        assert alice.post(f"/api/quizzes/{TOPIC}", json={"answers": {}}).status_code == 200
    return answer.json()["id"]


def _alice_rows(book) -> tuple:
    uploads = [(u.id, u.status, u.filename) for u in store.uploads_of(book, "alice")]
    return uploads, [a["id"] for a in store.attempts(book, "alice")]


def test_the_route_table_is_covered():
    paths = {p for p, _ in ROUTES}
    assert {"/api/submissions", "/api/submissions/{id:int}", "/instructor/regrade",
            "/api/quizzes/{topic:str}", "/submissions/{id:int}/report"} <= paths
    assert len(ROUTES) >= 20


@pytest.mark.parametrize(("path", "method"), ROUTES, ids=[f"{m} {p}" for p, m in ROUTES])
def test_nobody_is_refused(shared_quiet_course, alice_data, path, method):
    course = shared_quiet_course
    before = _alice_rows(course.book)
    with course.client(follow_redirects=False) as nobody:
        answer = _request(nobody, method, _fill(path, alice_data))
    assert ALICE_MARKER not in answer.text
    if (path, method) in PUBLIC:
        assert answer.status_code in (200, 303, 401, 403), answer.text  # 403: logout without its CSRF token
    else:
        assert answer.status_code == 401, (answer.status_code, answer.text)
        if path.startswith("/api/"):
            assert answer.json()["status"] == 401 and answer.json()["error"]
    assert _alice_rows(course.book) == before


@pytest.mark.parametrize(("path", "method"), ROUTES, ids=[f"{m} {p}" for p, m in ROUTES])
def test_another_student_sees_and_changes_nothing_of_alice(shared_quiet_course, alice_data, path, method):
    course = shared_quiet_course
    before = _alice_rows(course.book)
    with course.client("bob", follow_redirects=False) as bob:
        answer = _request(bob, method, _fill(path, alice_data))
    assert ALICE_MARKER not in answer.text
    if path.startswith(INSTRUCTOR_PREFIX):
        assert answer.status_code == 403, (answer.status_code, answer.text)
    elif "{id" in path:  # alice's upload: not found, the same answer as an id that does not exist
        assert answer.status_code == 404, (answer.status_code, answer.text)
    else:
        assert answer.status_code < 500, answer.text
    assert _alice_rows(course.book) == before


def test_the_instructor_reaches_alice_data(shared_quiet_course, alice_data):
    with shared_quiet_course.client("instructor") as teacher:
        assert teacher.get(f"/api/submissions/{alice_data}").json()["student"] == "alice"
        assert ALICE_MARKER in teacher.get("/instructor/students/alice").text

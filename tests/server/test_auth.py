"""Who is who: `autograder tokens` through the CLI (hash-only storage, reissue, revoke,
instructor), the login URL's session cookie (HttpOnly, SameSite, signed), forged and expired
sessions, Bearer tokens and brute-force limits."""
from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlparse

import httpx
import itsdangerous
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from course_helpers import start_course, stop_course

from autograder.cli import main
from autograder.gradebook import Gradebook
from autograder.server import store
from autograder.server.auth import SESSION_MAX_AGE


def _issue(runner: CliRunner, *args: str) -> dict[str, tuple[str, str]]:
    """{student: (token, login_url)} from `autograder tokens` output (checks the header)."""
    result = runner.invoke(main, ["tokens", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "student,token,login_url"
    out = {}
    for line in lines[1:]:
        student, token, url = line.split(",")
        out[student] = (token, url)
    return out


def test_tokens_cli_stores_hashes_only_and_reissues_and_revokes(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student,email\nalice,a@x\nbob,b@x\n", encoding="utf-8")
    db = tmp_path / "grades.sqlite"
    runner = CliRunner()
    first = _issue(runner, "--roster", str(roster), "--gradebook", str(db), "--base-url", "https://c.example/")
    assert set(first) == {"alice", "bob"}
    token, url = first["alice"]
    assert urlparse(url).netloc == "c.example" and parse_qs(urlparse(url).query)["token"] == [token]
    assert len(token) >= 40 and first["bob"][0] != token
    instructor = _issue(runner, "--instructor", "--gradebook", str(db))
    assert set(instructor) == {"instructor"}

    with Gradebook(db) as book:
        rows = book.query(sa.text("SELECT student, role, token_sha256 FROM tokens ORDER BY id"))
        assert [(r[0], r[1]) for r in rows] == [("alice", "student"), ("bob", "student"),
                                                ("instructor", "instructor")]
        assert rows[0][2] == hashlib.sha256(token.encode()).hexdigest()
    with db.open("rb") as handle:  # nowhere in the file (tables, WAL checkpointed by close)
        raw = handle.read()
    for issued, _ in [*first.values(), *instructor.values()]:
        assert issued.encode() not in raw

    again = _issue(runner, "--roster", str(roster), "--student", "alice", "--gradebook", str(db))
    assert set(again) == {"alice"} and again["alice"][0] != token
    revoked = runner.invoke(main, ["tokens", "--revoke", "--student", "bob", "--gradebook", str(db)])
    assert revoked.exit_code == 0 and "bob: 1 token(s) revoked" in revoked.output

    unknown = runner.invoke(main, ["tokens", "--roster", str(roster), "--student", "mallory",
                                   "--gradebook", str(db)])
    assert unknown.exit_code == 2 and "mallory" in unknown.output and "Traceback" not in unknown.output

    course, server = start_course(db, grading=False, issue_tokens=False)
    try:
        with httpx.Client(base_url=course.base) as client:
            def status(tok: str) -> int:
                return client.get("/api/submissions", headers={"Authorization": f"Bearer {tok}"}).status_code

            assert status(token) == 401  # alice's first token was replaced
            assert status(again["alice"][0]) == 200
            assert status(first["bob"][0]) == 401  # revoked
            assert status(instructor["instructor"][0]) == 200
    finally:
        stop_course(course, server)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course, server = start_course(tmp_path_factory.mktemp("auth") / "grades.sqlite", grading=False)
    yield course
    stop_course(course, server)


@contextmanager
def _login(course, who: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=course.base, follow_redirects=False) as client:
        answer = client.get("/login", params={"token": course.tokens[who]})
        assert answer.status_code == 303, answer.text
        yield client


def test_login_url_sets_a_signed_httponly_samesite_cookie(course):
    with _login(course, "alice") as browser:
        cookie = browser.get("/login", params={"token": course.tokens["alice"]}).headers["set-cookie"]
        assert cookie.startswith("session=")
        flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert {"httponly", "samesite", "max-age", "path"} <= flags
        assert "samesite=lax" in cookie.lower()
        assert browser.get("/").status_code == 200
        value = browser.cookies["session"]
        payload, _, _ = value.partition(".")
        assert json.loads(base64.b64decode(payload + "==")) .get("token_id")  # readable, but signed:
        tampered = value[:-2] + ("AA" if value[-2:] != "AA" else "BB")
    with httpx.Client(base_url=course.base, cookies={"session": tampered}) as forger:
        assert forger.get("/api/submissions").status_code == 401


def _session_cookie(secret: str, data: dict, signed_at: float | None = None) -> str:
    class At(itsdangerous.TimestampSigner):
        def get_timestamp(self) -> int:
            return int(signed_at if signed_at is not None else time.time())

    payload = base64.b64encode(json.dumps(data).encode())
    return At(secret).sign(payload).decode()


def test_forged_and_expired_sessions_are_refused(course):
    token_id = course.book.query(sa.text("SELECT id FROM tokens WHERE student = 'alice' "
                                         "AND revoked_at IS NULL"))[0][0]
    secret = store.secret_key(course.book)
    good = _session_cookie(secret, {"token_id": token_id})
    forged = _session_cookie("not-the-server-key", {"token_id": token_id})
    expired = _session_cookie(secret, {"token_id": token_id}, time.time() - SESSION_MAX_AGE - 60)
    for cookie, expected in [(good, 200), (forged, 401), (expired, 401)]:
        with httpx.Client(base_url=course.base, cookies={"session": cookie}) as client:
            assert client.get("/api/submissions").status_code == expected, cookie


def test_revoking_a_token_ends_its_sessions(tmp_path):
    course, server = start_course(tmp_path / "grades.sqlite", grading=False)
    try:
        with _login(course, "bob") as browser:
            assert browser.get("/").status_code == 200
            from autograder.server import tokens

            assert tokens.revoke(course.book, "bob") == 1
            assert browser.get("/").status_code == 401
    finally:
        stop_course(course, server)


def test_bearer_tokens_and_their_errors(course):
    with course.client("alice") as alice:
        assert alice.get("/api/submissions").status_code == 200
    with httpx.Client(base_url=course.base, headers={"Authorization": "Basic abc"}) as basic:
        answer = basic.get("/api/submissions")
        assert answer.status_code == 401 and "Bearer" in answer.json()["error"]

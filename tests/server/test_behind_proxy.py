"""`--behind-proxy`: the proxy's X-Forwarded-For names the client (rate limits count students,
not the proxy) and the session cookie is Secure (TLS ends at the proxy)."""
from __future__ import annotations

import httpx
from course_helpers import BANKS, STUDENTS, NoGrading

from autograder.gradebook import Gradebook
from autograder.server import tokens
from autograder.server.app import Settings, create_app
from autograder.server.course import Course, Limits
from autograder.server.running import ServerHandle


def test_behind_a_proxy_limits_count_forwarded_clients_and_cookies_are_secure(tmp_path):
    book = Gradebook(tmp_path / "grades.sqlite")
    app = create_app(Settings(banks_dir=BANKS, course=Course(limits=Limits(logins_per_minute=2)), book=book,
                              grading=NoGrading(), students=STUDENTS, https_only=True))
    server = ServerHandle(app, "127.0.0.1", 0, verbose=False, proxy_headers=True).start()
    token = tokens.issue(book, "alice")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.server_address[1]}") as proxy:
            def login(address: str, value: str) -> httpx.Response:
                return proxy.get("/login", params={"token": value}, follow_redirects=False,
                                 headers={"X-Forwarded-For": address, "X-Forwarded-Proto": "https"})

            assert [login("10.0.0.1", "guess").status_code for _ in range(2)] == [401, 401]
            assert login("10.0.0.1", "guess").status_code == 429  # this student's guesses
            answer = login("10.0.0.2", token)  # another student behind the same proxy
            assert answer.status_code == 303
            cookie = answer.headers["set-cookie"].lower()
            assert "secure" in cookie and "httponly" in cookie
    finally:
        server.shutdown()
        server.server_close()
        book.close()

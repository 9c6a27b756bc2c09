"""Who is asking: a Bearer token (scripts) or the signed session cookie the login URL sets
(browsers); CSRF tokens for cookie-authenticated posts; sliding-window rate limits.

Sessions are Starlette's SessionMiddleware: the cookie is signed (itsdangerous) with a key kept
in the gradebook, HttpOnly, SameSite=Lax, and expires after `SESSION_MAX_AGE`; it holds the
token's row id, so revoking a token ends its sessions on the next request.
"""
from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import defaultdict, deque

from starlette.requests import Request

from autograder.server import tokens
from autograder.server.tokens import Principal

SESSION_MAX_AGE = 12 * 3600
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


class HTTPProblem(Exception):
    """An error answered as JSON (API) or a page: status code and one clear message."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class RateLimiter:
    """At most `limit` events per `window_s` per key (in memory, per server process)."""

    def __init__(self, limit: int, window_s: float = 60.0):
        self.limit, self.window_s = limit, window_s
        self._events: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Count one event; None when allowed, else the seconds until the next is."""
        now = time.monotonic()
        with self._lock:
            events = self._events[key]
            while events and events[0] <= now - self.window_s:
                events.popleft()
            if len(events) >= self.limit:
                return events[0] + self.window_s - now
            events.append(now)
            return None

    def wait_s(self, key: str) -> float | None:
        """Without counting: None when an event would be allowed, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            events = [t for t in self._events.get(key, ()) if t > now - self.window_s]
            return events[0] + self.window_s - now if len(events) >= self.limit else None

    def check(self, key: str, what: str) -> None:
        wait = self.hit(key)
        if wait is not None:
            raise HTTPProblem(429, f"too many {what}; try again in {int(wait) + 1} s",
                              {"Retry-After": str(int(wait) + 1)})


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def principal(request: Request) -> Principal | None:
    """The caller, or None. A wrong Bearer token counts as a failed login (rate limited)."""
    state = request.app.state
    token = bearer(request)
    if token is not None:
        wait = state.login_limiter.wait_s(client_key(request))
        if wait is not None:  # refused before the lookup: a blocked guesser learns nothing
            raise HTTPProblem(429, f"too many failed logins; try again in {int(wait) + 1} s",
                              {"Retry-After": str(int(wait) + 1)})
        who = tokens.lookup(state.book, token)
        if who is None:
            state.login_limiter.check(client_key(request), "failed logins")
            raise HTTPProblem(401, "unknown or revoked token")
        return who
    token_id = request.session.get("token_id")
    if isinstance(token_id, int):
        return tokens.live(state.book, token_id)
    return None


def require(request: Request, *, instructor: bool = False) -> Principal:
    who = principal(request)
    if who is None:
        raise HTTPProblem(401, "log in first: open your login URL, or send Authorization: Bearer <token>")
    if instructor and not who.is_instructor:
        raise HTTPProblem(403, "instructor pages need the instructor token")
    return who


def client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def csrf_token(request: Request) -> str:
    """This session's CSRF token (made on first use); pages put it in every form."""
    if CSRF_FIELD not in request.session:
        request.session[CSRF_FIELD] = secrets.token_urlsafe(24)
    return request.session[CSRF_FIELD]


def check_csrf(request: Request, sent: str | None) -> None:
    """Cookie-authenticated posts must carry the session's CSRF token (Bearer posts need not:
    a browser never adds an Authorization header on its own)."""
    if bearer(request) is not None:
        return
    expected = request.session.get(CSRF_FIELD)
    sent = sent or request.headers.get(CSRF_HEADER)
    if not expected or not sent or not hmac.compare_digest(str(expected), str(sent)):
        raise HTTPProblem(403, "missing or wrong CSRF token: reload the page and try again")

"""Login tokens: random, stored only as sha256 hashes, revocable and reissuable.

A token is 32 random bytes (urlsafe base64): guessing one is hopeless, so a hash without salt
is enough (salts defend guessable secrets) and lets a request find its row in one lookup.
"""
from __future__ import annotations

import csv
import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from autograder.gradebook import Gradebook, now_utc
from autograder.gradebook_schema import tokens

INSTRUCTOR = "instructor"
T = tokens
# Every request looks its caller up: statements built once are compiled once (SQLAlchemy
# keys its compiled cache on the statement object), about half the cost of each lookup.
_HOLDER_OF_DIGEST = sa.select(T.c.student, T.c.role, T.c.id).where(
    T.c.token_sha256 == sa.bindparam("sha256"), T.c.revoked_at.is_(None))
_HOLDER_OF_ID = sa.select(T.c.student, T.c.role, T.c.id).where(
    T.c.id == sa.bindparam("token_id"), T.c.revoked_at.is_(None))


@dataclass(frozen=True)
class Principal:
    """Who a request is: a student id (the instructor's is "instructor") and a role."""

    student: str
    role: str  # "student" | "instructor"
    token_id: int

    @property
    def is_instructor(self) -> bool:
        return self.role == INSTRUCTOR


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def read_students(path: Path) -> list[str]:
    """The `student` column of a roster CSV (other columns, e.g. `submission`, are ignored)."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if "student" not in (reader.fieldnames or []):
            raise ValueError(f"{path}:1: the roster needs a `student` column")
        students = []
        for line, row in enumerate(reader, start=2):
            student = (row.get("student") or "").strip()
            if not student:
                raise ValueError(f"{path}:{line}: empty student")
            if student == INSTRUCTOR:
                raise ValueError(f"{path}:{line}: `{INSTRUCTOR}` is reserved for the instructor")
            if student not in students:
                students.append(student)
        return students


def issue(book: Gradebook, student: str, role: str = "student") -> str:
    """A new token for `student`; their earlier tokens are revoked (reissue = revoke + issue)."""
    token = secrets.token_urlsafe(32)
    stamp = now_utc()
    with book.transaction() as conn:
        conn.execute(T.update().where(T.c.student == student, T.c.role == role,
                                      T.c.revoked_at.is_(None)).values(revoked_at=stamp))
        conn.execute(T.insert().values(student=student, role=role, token_sha256=digest(token),
                                       created_at=stamp))
    return token


def revoke(book: Gradebook, student: str) -> int:
    with book.transaction() as conn:
        return conn.execute(T.update().where(T.c.student == student, T.c.revoked_at.is_(None))
                            .values(revoked_at=now_utc())).rowcount


def lookup(book: Gradebook, token: str) -> Principal | None:
    """The holder of a live token, or None (unknown or revoked)."""
    rows = book.query(_HOLDER_OF_DIGEST, {"sha256": digest(token)})
    return Principal(*rows[0]) if rows else None


def live(book: Gradebook, token_id: int) -> Principal | None:
    """The holder of a session's token while it is not revoked."""
    rows = book.query(_HOLDER_OF_ID, {"token_id": token_id})
    return Principal(*rows[0]) if rows else None

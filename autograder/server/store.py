"""The course server's rows in the gradebook: the upload queue, quiz attempts, settings.

The upload queue is a table, not memory, so a server killed with SIGKILL loses nothing: an
upload is committed as ``queued`` before the response says so, ``grading`` while a pool
process has it, and ``graded``/``error`` in the same transaction that links it to its
gradebook row. On start, uploads this host's dead processes held go back to ``queued``.
Claims take the gradebook's write lock, so two server processes never grade one upload.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from autograder.gradebook import Gradebook, now_utc
from autograder.gradebook_schema import quiz_attempts, settings, uploads

U, A = uploads, quiz_attempts
ACTIVE = ("queued", "grading")


def process_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Upload:
    id: int
    student: str
    assignment: str
    filename: str
    sha256: str
    status: str
    late: bool
    submitted_at: str
    submission_id: int | None
    error: str | None


_UPLOAD_COLUMNS = [U.c.id, U.c.student, U.c.assignment, U.c.filename, U.c.sha256, U.c.status,
                   U.c.late, U.c.submitted_at, U.c.submission_id, U.c.error]


def add_upload(book: Gradebook, student: str, assignment: str, filename: str, content: bytes,
               sha256: str, late: bool) -> int:
    with book.transaction() as conn:
        return conn.execute(U.insert().values(
            student=student, assignment=assignment, filename=filename, content=content,
            sha256=sha256, status="queued", late=late, submitted_at=now_utc(),
        )).inserted_primary_key[0]


def upload(book: Gradebook, upload_id: int) -> Upload | None:
    rows = book.query(sa.select(*_UPLOAD_COLUMNS).where(U.c.id == upload_id))
    return Upload(*rows[0]) if rows else None


def uploads_of(book: Gradebook, student: str | None = None, assignment: str | None = None) -> list[Upload]:
    """Uploads, oldest first: one student's, or everyone's."""
    query = sa.select(*_UPLOAD_COLUMNS).order_by(U.c.id)
    if student is not None:
        query = query.where(U.c.student == student)
    if assignment is not None:
        query = query.where(U.c.assignment == assignment)
    return [Upload(*r) for r in book.query(query)]


def counts(book: Gradebook, student: str, assignment: str) -> tuple[int, int]:
    """(uploads that still count as attempts, of which waiting or grading) for one student."""
    rows = book.query(sa.select(U.c.status, sa.func.count()).where(
        U.c.student == student, U.c.assignment == assignment).group_by(U.c.status))
    by = dict(rows)
    return sum(n for s, n in by.items() if s != "error"), sum(by.get(s, 0) for s in ACTIVE)


def content(book: Gradebook, upload_id: int) -> bytes:
    return book.query(sa.select(U.c.content).where(U.c.id == upload_id))[0][0]


def claim_next(book: Gradebook, skip_students: set[str] = frozenset()) -> Upload | None:
    """Mark the next upload ``grading`` and return it; fair across students (round robin).

    Students take turns: the waiting student served longest ago (or never) goes first, their
    oldest upload first, and a student who already has an upload grading (`skip_students` plus
    the table's own ``grading`` rows) waits behind everyone who has none. So one student's flood
    cannot starve the class: each of the others is served before the flood's next upload.
    """
    with book.transaction() as conn:
        busy = set(skip_students) | {r[0] for r in conn.execute(
            sa.select(U.c.student).where(U.c.status == "grading").distinct())}
        queued = conn.execute(sa.select(U.c.id, U.c.student).where(U.c.status == "queued")
                              .order_by(U.c.id)).all()
        if not queued:
            return None
        served = dict(conn.execute(sa.select(U.c.student, sa.func.max(U.c.started_at))
                                   .where(U.c.started_at.is_not(None)).group_by(U.c.student)).all())
        pick = min(queued, key=lambda r: (r.student in busy, served.get(r.student) or "", r.id))
        conn.execute(U.update().where(U.c.id == pick.id).values(
            status="grading", started_at=now_utc(), claimed_by=process_id()))
    return upload(book, pick.id)


_QUEUED_TOTAL = sa.select(sa.func.count()).select_from(U).where(U.c.status == "queued")


def queued_total(book: Gradebook) -> int:
    """How many uploads wait in the queue (every student's)."""
    return book.query(_QUEUED_TOTAL)[0][0]


def finish(book: Gradebook, upload_id: int, status: str, submission_id: int | None,
           error: str | None = None) -> None:
    with book.transaction() as conn:
        conn.execute(U.update().where(U.c.id == upload_id).values(
            status=status, submission_id=submission_id, error=error, finished_at=now_utc()))


def requeue(book: Gradebook, *, upload_ids: list[int] | None = None, claimed: bool = False) -> int:
    """Put uploads back in the queue: the given finished ones (a regrade; with `claimed`, the
    given ones this process holds, which it could not hand to a pool), or on start-up those held
    by this host's processes that are gone (a SIGKILLed server's half-graded uploads)."""
    with book.transaction() as conn:
        if upload_ids is not None:
            states = U.c.status == "grading" if claimed else U.c.status.notin_(ACTIVE)
            return conn.execute(U.update().where(U.c.id.in_(upload_ids), states)
                                .values(status="queued", error=None, claimed_by=None)).rowcount
        host = socket.gethostname()
        held = conn.execute(sa.select(U.c.id, U.c.claimed_by).where(U.c.status == "grading")).all()
        dead = [r.id for r in held if _dead_here(r.claimed_by, host)]
        if dead:
            conn.execute(U.update().where(U.c.id.in_(dead)).values(status="queued", claimed_by=None))
        return len(dead)


def _dead_here(claimed_by: str | None, host: str) -> bool:
    if not claimed_by:
        return True
    where, _, pid = claimed_by.rpartition(":")
    if where != host or not pid.isdigit():
        return False  # another machine's server: it requeues its own
    if int(pid) == os.getpid():
        return True  # this process just started: nothing of its own is grading yet
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


# -- quiz attempts ------------------------------------------------------------------------------


# Built once (a quiz post runs each): compiled once, see tokens._HOLDER_OF_DIGEST.
_NEW_ATTEMPT = A.insert()
_OWN_ATTEMPTS = (A.c.student == sa.bindparam("student"), A.c.quiz == sa.bindparam("quiz"))
_SCORES_OF = sa.select(A.c.score).where(*_OWN_ATTEMPTS).order_by(A.c.id)
_ATTEMPT_COUNT = sa.select(sa.func.count()).select_from(A).where(*_OWN_ATTEMPTS)


def record_attempt(book: Gradebook, student: str, quiz: str, answers: dict[str, Any],
                   results: list[dict[str, Any]], score: float, max_score: float,
                   recorded: str) -> int:
    """One attempt with its answers, and the student's quiz score under the `recorded` policy
    (best or last attempt), in one transaction."""
    stamp = now_utc()
    with book.transaction() as conn:
        attempt_id = conn.execute(_NEW_ATTEMPT, {
            "student": student, "quiz": quiz, "answers": json.dumps(answers),
            "results": json.dumps(results), "score": score, "max_score": max_score,
            "submitted_at": stamp}).inserted_primary_key[0]
        scores = [r.score for r in conn.execute(_SCORES_OF, {"student": student, "quiz": quiz})]
        counted = max(scores) if recorded == "best" else scores[-1]
        book.record_quizzes([(student, quiz, counted, max_score)], stamp, conn=conn)
    return attempt_id


def attempt_count(book: Gradebook, student: str, quiz: str) -> int:
    return book.query(_ATTEMPT_COUNT, {"student": student, "quiz": quiz})[0][0]


def attempts(book: Gradebook, student: str | None = None, quiz: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(A).order_by(A.c.id)
    if student is not None:
        query = query.where(A.c.student == student)
    if quiz is not None:
        query = query.where(A.c.quiz == quiz)
    out = []
    for row in book.query(query):
        item = dict(row._mapping)
        item["answers"], item["results"] = json.loads(item["answers"]), json.loads(item["results"])
        out.append(item)
    return out


def secret_key(book: Gradebook) -> str:
    """The session signing key, made once and shared by every server process of this gradebook."""
    statement = book.insert(settings).values(key="session_secret", value=secrets.token_urlsafe(32))
    with book.transaction() as conn:
        conn.execute(statement.on_conflict_do_nothing(index_elements=["key"]))
        return conn.execute(sa.select(settings.c.value).where(settings.c.key == "session_secret")).scalar_one()

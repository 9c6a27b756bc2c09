"""The class gradebook: every graded submission, its cases, quiz scores and the server's tables.

DESIGN "Gradebook and batch": one transaction per graded submission, keyed by
(student, submission hash, grader version), so re-running a batch resumes, never grades twice
and never loses a recorded row, even after `kill -9`. Each row also records what it was
graded under (:class:`autograder.fingerprint.GradeFingerprint`): a row made under another
grading.yaml, suite or reference is stale, and recording a fresh grade replaces it.

One storage layer (SQLAlchemy Core) over two databases:

- a path (default ``grades.sqlite``): SQLite in WAL mode. Readers (an export, the server's
  pages) never block the writer, and a commit is one append to the ``-wal`` file.
  ``synchronous=FULL`` fsyncs every commit: ``NORMAL`` survives ``kill -9`` but may drop the
  last commits on a power cut, and one fsync per grade is nothing next to grading it.
  Writes start with ``BEGIN IMMEDIATE`` (the write lock before the "already recorded?" check,
  so check and insert are one atomic step across processes); ``foreign_keys=ON``.
- ``postgresql://user@host/db``: for several server processes. Each write transaction first
  takes one advisory lock (``pg_advisory_xact_lock``), the same one-writer-at-a-time
  semantics as SQLite's write lock, so the same check-then-insert code is correct on both.

Schema versions live in ``schema_version``; opening applies the missing steps of
``gradebook_schema.MIGRATIONS`` in one transaction; a newer database is refused, not misread.

Worked example::

    gb = Gradebook("grades.sqlite")
    if not gb.is_graded("alice", digest, __version__):
        gb.record(grade_submission(...))          # -> True (a row was written)
    gb.latest()                                   # newest graded row per student
"""
from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from typing_extensions import Self

from autograder import gradebook_schema as schema
from autograder.gradebook_schema import MIGRATIONS, SCHEMA_VERSION
from autograder.result_types import CaseResult, FunctionScore, GradeResult, ScoredCase

if TYPE_CHECKING:
    from autograder.fingerprint import GradeFingerprint

__all__ = [
    "SCHEMA_VERSION",
    "CaseRow",
    "Gradebook",
    "GradebookError",
    "QuizRow",
    "SubmissionRow",
    "error_results",
    "now_utc",
]

BUSY_TIMEOUT_MS = 30_000
PG_WRITE_LOCK = 0x6772616465  # "grade": the advisory lock every PostgreSQL write takes
S, C, Q = schema.submissions, schema.cases, schema.quiz_scores


class GradebookError(RuntimeError):
    """A gradebook file that cannot be used (newer schema, not a database, ...)."""


@dataclass(frozen=True)
class SubmissionRow:
    """One row of `submissions`."""

    id: int
    student: str
    submission_sha256: str
    grader_version: str
    source_path: str | None
    score: float | None
    max_score: float | None
    status: str  # "graded" | "error"
    error: str | None
    sandbox: str | None
    seed: int | None
    execution_time: float | None
    notes: list[str]
    results_json: dict[str, Any]
    graded_at: str
    grader_fingerprint: str | None = None  # GradeFingerprint.grader it was graded under
    config_sha256: str | None = None       # GradeFingerprint.config_sha256

    @property
    def percent(self) -> float | None:
        if self.score is None or not self.max_score:
            return None
        return 100.0 * self.score / self.max_score


@dataclass(frozen=True)
class CaseRow:
    """One row of `cases`."""

    submission_id: int
    name: str
    module: str
    function: str
    case: str
    weight: float
    score: float
    max_score: float
    status: str
    mistake: str | None
    message: str
    hint: str | None
    heatmap: dict[str, Any] | None


@dataclass(frozen=True)
class QuizRow:
    student: str
    quiz: str
    score: float
    max_score: float
    scored_at: str





_SUBMISSION_COLUMNS = [S.c.id, S.c.student, S.c.submission_sha256, S.c.grader_version, S.c.source_path,
                       S.c.score, S.c.max_score, S.c.status, S.c.error, S.c.sandbox, S.c.seed,
                       S.c.execution_time, S.c.notes, S.c.results_json, S.c.graded_at,
                       S.c.grader_fingerprint, S.c.config_sha256]


def _submission(row: Any) -> SubmissionRow:
    values = list(row)
    values[12] = json.loads(values[12])
    values[13] = json.loads(values[13])
    return SubmissionRow(*values)


def now_utc() -> str:
    """An ISO 8601 UTC timestamp to the second: ``2025-01-31T09:00:00+00:00``."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def database_url(location: Path | str) -> str:
    """A SQLAlchemy URL for a gradebook location: a file path, or a postgresql:// URL."""
    text = str(location)
    if text.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    if text.startswith("postgresql+"):
        return text
    return f"sqlite:///{Path(text)}"


def error_results(student: str, sha256: str, grader_version: str, error: str) -> dict[str, Any]:
    """The results.json stored for a submission that could not be graded: score 0, no tests."""
    return {
        "score": 0.0,
        "execution_time": 0.0,
        "output": f"Grading error: {error}",
        "tests": [],
        "extra_data": {"student": student, "submission_sha256": sha256,
                       "grader_version": grader_version, "error": error},
    }



class Gradebook:
    """The class gradebook over one SQLite file (created on first use) or one PostgreSQL database.

    Several processes may open the same gradebook (each write waits up to ``BUSY_TIMEOUT_MS``
    for the write lock); one object may be shared by threads (connections come from a pool).
    """

    def __init__(self, location: Path | str):
        url = database_url(location)
        self.is_postgres = url.startswith("postgresql")
        self.path: Path | str = sa.make_url(url).render_as_string(hide_password=True) \
            if self.is_postgres else Path(location)
        if self.is_postgres:
            self.engine = sa.create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=16)
        else:
            self.engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000,
                                                              "check_same_thread": False})
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", _sqlite_begin)
        self._reader = self.engine.execution_options(gradebook_read=True)
        try:
            self._migrate()
        except GradebookError:
            self.engine.dispose()
            raise
        except sa.exc.SQLAlchemyError as exc:
            self.engine.dispose()
            cause = getattr(exc, "orig", None) or exc
            raise GradebookError(f"{self.path}: cannot open the gradebook: {cause}".strip()) from None
        except BaseException:
            self.engine.dispose()
            raise

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """One write transaction: all or nothing, one writer at a time (see the module doc)."""
        with self.engine.begin() as conn:
            if self.is_postgres:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_WRITE_LOCK})
            yield conn

    _transaction = transaction

    def query(self, statement: Any, params: dict | None = None) -> list[Any]:
        """A read in its own short transaction (deferred on SQLite: never blocks a writer)."""
        with self._reader.connect() as conn:
            return list(conn.execute(statement, params or {}))

    def insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT, which has ``on_conflict_do_nothing/do_update`` on both."""
        if self.is_postgres:
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table)

    def _migrate(self) -> None:
        with self.transaction() as conn:
            schema.schema_version.create(conn, checkfirst=True)
            version = schema.schema_version.c.version
            current = conn.execute(sa.select(sa.func.coalesce(sa.func.max(version), 0))).scalar_one()
            if current > SCHEMA_VERSION:
                raise GradebookError(
                    f"{self.path}: gradebook schema version {current} is newer than this autograder "
                    f"knows ({SCHEMA_VERSION}); upgrade the autograder")
            for number, step in MIGRATIONS:
                if number > current:
                    step(conn)
                    conn.execute(schema.schema_version.insert().values(version=number, applied_at=now_utc()))

    @property
    def schema_version(self) -> int:
        return self.query(sa.select(sa.func.max(schema.schema_version.c.version)))[0][0]

    # -- submissions -----------------------------------------------------------------------

    @staticmethod
    def _key(student: str, sha256: str, grader_version: str) -> Any:
        return sa.and_(S.c.student == student, S.c.submission_sha256 == sha256,
                       S.c.grader_version == grader_version)

    def status(self, student: str, sha256: str, grader_version: str) -> str | None:
        """"graded", "error", or None when this (student, submission, grader) has no row."""
        rows = self.query(sa.select(S.c.status).where(self._key(student, sha256, grader_version)))
        return rows[0][0] if rows else None

    def is_graded(self, student: str, sha256: str, grader_version: str) -> bool:
        """True when this exact submission was graded by this grader version.

        An ``error`` row does not count: a re-run retries it (and `record` then replaces it).
        """
        return self.status(student, sha256, grader_version) == "graded"

    def freshness(self, student: str, sha256: str, grader_version: str,
                  fingerprint: GradeFingerprint) -> tuple[str, str | None]:
        """("new", None): grade it; ("fresh", None): already graded under `fingerprint`, skip;
        ("stale", why): graded under another grading.yaml or grader, regrade it."""
        rows = self.query(sa.select(S.c.status, S.c.grader_fingerprint, S.c.config_sha256)
                          .where(self._key(student, sha256, grader_version)))
        if not rows or rows[0].status != "graded":
            return "new", None
        reason = fingerprint.stale_reason(rows[0].grader_fingerprint, rows[0].config_sha256)
        return ("stale", reason) if reason else ("fresh", None)

    def record(self, result: GradeResult, results_json: dict[str, Any] | None = None, *,
               graded_at: str | None = None, fingerprint: GradeFingerprint | None = None) -> bool:
        """Store one graded submission and its cases in ONE transaction.

        `results_json` is the Gradescope document (``results.gradescope_results(result)`` when
        omitted). Returns False, writing nothing, when (student, digest, grader_version) is
        already graded (and, given `fingerprint`, graded under it). An ``error`` row, or a row
        graded under another fingerprint, is replaced: one row per submission, never two.
        """
        if results_json is None:
            from autograder.results import gradescope_results

            results_json = gradescope_results(result)
        values = {
            "source_path": str(result.submission), "score": result.score, "max_score": result.max_score,
            "status": "graded", "error": result.error, "sandbox": result.sandbox, "seed": result.seed,
            "execution_time": result.execution_time, "notes": json.dumps(list(result.notes)),
            "results_json": json.dumps(results_json), "graded_at": graded_at or now_utc(),
            "grader_fingerprint": fingerprint.grader if fingerprint else None,
            "config_sha256": fingerprint.config_sha256 if fingerprint else None}
        key = self._key(result.student, result.digest, result.grader_version)
        with self.transaction() as conn:
            existing = conn.execute(sa.select(S.c.id, S.c.status, S.c.grader_fingerprint,
                                              S.c.config_sha256).where(key)).first()
            if existing and existing.status == "graded" and not (
                    fingerprint and fingerprint.stale_reason(existing.grader_fingerprint,
                                                             existing.config_sha256)):
                return False
            if existing:
                submission_id = existing.id
                conn.execute(S.update().where(S.c.id == submission_id).values(**values))
                conn.execute(C.delete().where(C.c.submission_id == submission_id))
            else:
                submission_id = conn.execute(S.insert().values(
                    student=result.student, submission_sha256=result.digest,
                    grader_version=result.grader_version, **values)).inserted_primary_key[0]
            self._insert_cases(conn, submission_id, result)
        return True

    def _insert_cases(self, conn: sa.Connection, submission_id: int, result: GradeResult) -> None:
        rows = []
        for function in result.functions:
            for scored in function.cases:
                case = scored.case
                rows.append({
                    "submission_id": submission_id, "name": scored.name, "module": case.module,
                    "function": case.function, "case_name": case.case, "weight": case.weight,
                    "score": scored.score, "max_score": scored.max_score, "status": case.status,
                    "mistake": case.mistake, "message": case.message, "hint": case.hint,
                    "heatmap": json.dumps(case.heatmap) if case.heatmap else None})
        if rows:
            conn.execute(C.insert(), rows)

    def record_error(self, student: str, sha256: str, grader_version: str, source_path: str,
                     error: str, *, graded_at: str | None = None,
                     fingerprint: GradeFingerprint | None = None) -> bool:
        """Store a submission that could not be graded (ONE transaction; no cases).

        Returns False, writing nothing, when this key already has a row (graded or error):
        an error never overwrites a grade.
        """
        document = json.dumps(error_results(student, sha256, grader_version, error))
        statement = self.insert(S).values(
            student=student, submission_sha256=sha256, grader_version=grader_version,
            source_path=str(source_path), score=None, max_score=None, status="error", error=error,
            results_json=document, graded_at=graded_at or now_utc(),
            grader_fingerprint=fingerprint.grader if fingerprint else None,
            config_sha256=fingerprint.config_sha256 if fingerprint else None,
        ).on_conflict_do_nothing(index_elements=["student", "submission_sha256", "grader_version"],
                                  ).returning(S.c.id)
        with self.transaction() as conn:
            return conn.execute(statement).first() is not None

    def submission_id(self, student: str, sha256: str, grader_version: str) -> int | None:
        rows = self.query(sa.select(S.c.id).where(self._key(student, sha256, grader_version)))
        return rows[0][0] if rows else None

    def row(self, submission_id: int) -> SubmissionRow | None:
        rows = self.query(sa.select(*_SUBMISSION_COLUMNS).where(S.c.id == submission_id))
        return _submission(rows[0]) if rows else None

    def latest(self, *, include_errors: bool = False) -> list[SubmissionRow]:
        """The newest graded row per student, sorted by student.

        With `include_errors`, a student who has no graded row at all appears with their newest
        error row, so exports list every student who submitted.
        """
        errors_last = sa.case((S.c.status == "graded", 0), else_=1)
        rows = self.query(sa.select(*_SUBMISSION_COLUMNS).order_by(
            S.c.student, errors_last, S.c.graded_at.desc(), S.c.id.desc()))
        chosen: dict[str, SubmissionRow] = {}
        for row in rows:
            submission = _submission(row)
            if submission.student in chosen:
                continue
            if submission.status == "graded" or include_errors:
                chosen[submission.student] = submission
        return list(chosen.values())

    def history(self, student: str) -> list[SubmissionRow]:
        """Every row of one student, oldest first."""
        rows = self.query(sa.select(*_SUBMISSION_COLUMNS).where(S.c.student == student)
                          .order_by(S.c.graded_at, S.c.id))
        return [_submission(r) for r in rows]

    def submissions(self) -> list[SubmissionRow]:
        """Every row, oldest first."""
        rows = self.query(sa.select(*_SUBMISSION_COLUMNS).order_by(S.c.graded_at, S.c.id))
        return [_submission(r) for r in rows]

    def cases(self, submission_id: int) -> list[CaseRow]:
        """The cases of one submission, in grading order."""
        rows = self.query(sa.select(
            C.c.submission_id, C.c.name, C.c.module, C.c.function, C.c.case_name, C.c.weight,
            C.c.score, C.c.max_score, C.c.status, C.c.mistake, C.c.message, C.c.hint, C.c.heatmap,
        ).where(C.c.submission_id == submission_id).order_by(C.c.id))
        return [CaseRow(*r[:12], json.loads(r[12]) if r[12] else None) for r in rows]

    def grade_result(self, submission: SubmissionRow) -> GradeResult:
        """Rebuild the GradeResult of a stored row (for reports.py): cases in grading order.

        Exact except `duration_s` (not stored). An error row gives a result with no functions
        and `error` set.
        """
        functions: dict[str, FunctionScore] = {}
        for row in self.cases(submission.id):
            qualname = f"{row.module}.{row.function}"
            function = functions.setdefault(qualname, FunctionScore(qualname, 0.0))
            function.points = round(function.points + row.max_score, 9)
            case = CaseResult(qualname, row.case, row.weight, row.status, row.message,
                              row.mistake, row.hint, heatmap=row.heatmap)
            function.cases.append(ScoredCase(case, row.score, row.max_score))
        return GradeResult(
            student=submission.student, submission=submission.source_path or "",
            digest=submission.submission_sha256, functions=list(functions.values()),
            seed=submission.seed if submission.seed is not None else 0,
            sandbox=submission.sandbox or "", execution_time=submission.execution_time or 0.0,
            notes=list(submission.notes), grader_version=submission.grader_version,
            error=submission.error,
        )

    # -- quizzes ---------------------------------------------------------------------------

    def record_quiz(self, student: str, quiz: str, score: float, max_score: float,
                    scored_at: str | None = None) -> None:
        """Upsert one (student, quiz) score: the latest scoring replaces the earlier one."""
        self.record_quizzes([(student, quiz, score, max_score)], scored_at)

    def record_quizzes(self, scores: Iterable[tuple[str, str, float, float]],
                       scored_at: str | None = None, *, conn: sa.Connection | None = None) -> None:
        """Upsert many (student, quiz, score, max_score) in one transaction (or in `conn`'s)."""
        stamp = scored_at or now_utc()
        rows = [{"student": s, "quiz": q, "score": float(sc), "max_score": float(m), "scored_at": stamp}
                for s, q, sc, m in scores]
        if not rows:
            return
        statement = self._quiz_upsert
        if conn is not None:
            conn.execute(statement, rows)
            return
        with self.transaction() as own:
            own.execute(statement, rows)

    @functools.cached_property
    def _quiz_upsert(self) -> Any:
        """The upsert of quiz scores, built once: each quiz post runs it (compiled once)."""
        statement = self.insert(Q)
        return statement.on_conflict_do_update(
            index_elements=["student", "quiz"],
            set_={"score": statement.excluded.score, "max_score": statement.excluded.max_score,
                  "scored_at": statement.excluded.scored_at})

    def quiz_scores(self) -> list[QuizRow]:
        rows = self.query(sa.select(Q.c.student, Q.c.quiz, Q.c.score, Q.c.max_score, Q.c.scored_at)
                          .order_by(Q.c.student, Q.c.quiz))
        return [QuizRow(*r) for r in rows]

    def quizzes(self) -> list[str]:
        return [r[0] for r in self.query(sa.select(Q.c.quiz).distinct().order_by(Q.c.quiz))]

    # -- checks ----------------------------------------------------------------------------

    def integrity_check(self) -> str:
        """"ok" when sound: SQLite's own verdict on the file; on PostgreSQL, no orphaned case."""
        if not self.is_postgres:
            return self.query(sa.text("PRAGMA integrity_check"))[0][0]
        orphans = self.query(sa.select(sa.func.count()).select_from(C).where(
            ~C.c.submission_id.in_(sa.select(S.c.id))))[0][0]
        return "ok" if orphans == 0 else f"{orphans} cases without a submission"


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    """Per connection: no implicit transactions (we BEGIN ourselves), WAL, FULL, foreign keys."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise GradebookError(f"journal_mode is {mode!r}, WAL could not be enabled")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    """Writes take the write lock up front; reads begin deferred and never block the writer."""
    read = conn.get_execution_options().get("gradebook_read", False)
    conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")

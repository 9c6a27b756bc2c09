"""The class gradebook: one SQLite file holding every graded submission, its cases and quiz scores.

DESIGN "Gradebook and batch": one transaction per graded submission, keyed by
(student, submission hash, grader version), so re-running a batch resumes, never grades twice
and never loses a recorded row, even after `kill -9`.

Durability, in SQLite terms:

- ``journal_mode=WAL``: readers (an export, `quiz score`) never block the batch writer, and a
  commit is one append to the ``-wal`` file.
- ``synchronous=FULL``: every commit fsyncs the WAL. ``NORMAL`` already survives ``kill -9``
  (a committed transaction sits in the OS page cache, which outlives the process), but may
  drop the last few commits on a power cut or kernel crash. A grade is a record students are
  owed, and one fsync (milliseconds) per submission is nothing next to the seconds grading
  takes, so we pay for it.
- ``BEGIN IMMEDIATE`` takes the write lock before the "already recorded?" check, so check and
  insert are one atomic step even if a second process writes the same file.
- ``foreign_keys=ON`` (per connection in SQLite): cases cannot point at a missing submission.

Schema versions live in ``schema_version`` (one row per applied migration). Opening a file
applies the missing migrations of ``MIGRATIONS`` in order, in one transaction; a file written
by a newer autograder is refused rather than misread. To change the schema, append a
``(version, sql)`` pair; never edit an applied one.

Worked example::

    gb = Gradebook("grades.sqlite")
    if not gb.is_graded("alice", digest, __version__):
        gb.record(grade_submission(...))          # -> True (a row was written)
    gb.latest()                                   # newest graded row per student
"""
from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

if TYPE_CHECKING:  # importing grading pulls in torch: keep `import gradebook` light
    from autograder.grading import GradeResult

BUSY_TIMEOUT_MS = 30_000

# Migration 1 is compatible with the `quiz_scores` table quizzes/cli.py creates on its own:
# same columns, same primary key, and CREATE ... IF NOT EXISTS keeps its rows.
MIGRATIONS: list[tuple[int, str]] = [
    (1, """
    CREATE TABLE IF NOT EXISTS submissions (
        id INTEGER PRIMARY KEY,
        student TEXT NOT NULL,
        submission_sha256 TEXT NOT NULL,
        grader_version TEXT NOT NULL,
        source_path TEXT,
        score REAL,
        max_score REAL,
        status TEXT NOT NULL CHECK (status IN ('graded', 'error')),
        error TEXT,
        sandbox TEXT,
        seed INTEGER,
        execution_time REAL,
        notes TEXT NOT NULL DEFAULT '[]',          -- JSON list of GradeResult.notes
        results_json TEXT NOT NULL,                -- Gradescope results.json, as written
        graded_at TEXT NOT NULL,                   -- ISO 8601, UTC
        UNIQUE (student, submission_sha256, grader_version)
    );
    CREATE INDEX IF NOT EXISTS submissions_by_student ON submissions (student, graded_at);
    CREATE TABLE IF NOT EXISTS cases (
        id INTEGER PRIMARY KEY,
        submission_id INTEGER NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
        name TEXT NOT NULL,                        -- "<module>.<function>: <case>"
        module TEXT NOT NULL,
        function TEXT NOT NULL,
        case_name TEXT NOT NULL,                   -- CaseResult.case
        weight REAL NOT NULL DEFAULT 1.0,
        score REAL NOT NULL,
        max_score REAL NOT NULL,
        status TEXT NOT NULL,                      -- passed | failed | not implemented | error
        mistake TEXT,
        message TEXT NOT NULL DEFAULT '',
        hint TEXT,
        heatmap TEXT                               -- JSON {"got", "expected"} or NULL
    );
    CREATE INDEX IF NOT EXISTS cases_by_submission ON cases (submission_id);
    CREATE TABLE IF NOT EXISTS quiz_scores (
        student TEXT NOT NULL, quiz TEXT NOT NULL, score REAL NOT NULL,
        max_score REAL NOT NULL, scored_at TEXT NOT NULL, PRIMARY KEY (student, quiz)
    );
    """),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


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


def now_utc() -> str:
    """An ISO 8601 UTC timestamp to the second: ``2025-01-31T09:00:00+00:00``."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


_SUBMISSION_COLUMNS = ("id, student, submission_sha256, grader_version, source_path, score, max_score,"
                       " status, error, sandbox, seed, execution_time, notes, results_json, graded_at")


def _submission(row: tuple) -> SubmissionRow:
    values = list(row)
    values[12] = json.loads(values[12])
    values[13] = json.loads(values[13])
    return SubmissionRow(*values)


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
    """The class gradebook over one SQLite file (created on first use).

    Several processes may open the same file (each waits up to ``BUSY_TIMEOUT_MS`` for the
    write lock); the batch design has one writer. One object may be shared by threads: writes
    are serialised by a lock.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._lock = threading.RLock()
        # isolation_level=None: no implicit transactions, we issue BEGIN IMMEDIATE ourselves.
        self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000,
                                     isolation_level=None, check_same_thread=False)
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise GradebookError(f"{self.path}: journal_mode is {mode!r}, WAL could not be enabled")
            self._conn.execute("PRAGMA synchronous = FULL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise GradebookError(f"{self.path}: cannot open the gradebook: {exc}") from None
        except BaseException:
            self._conn.close()
            raise

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """A read, under the lock (a thread never reads another thread's open transaction)."""
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; ROLLBACK on any exception. All or nothing."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _migrate(self) -> None:
        with self._transaction() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version ("
                         " version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
            current = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
            if current > SCHEMA_VERSION:
                raise GradebookError(
                    f"{self.path}: gradebook schema version {current} is newer than this autograder "
                    f"knows ({SCHEMA_VERSION}); upgrade the autograder")
            for version, script in MIGRATIONS:
                if version <= current:
                    continue
                # executescript() would COMMIT first: run the statements one by one instead.
                for statement in _statements(script):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                             (version, now_utc()))

    @property
    def schema_version(self) -> int:
        return self._query("SELECT MAX(version) FROM schema_version")[0][0]

    # -- submissions -----------------------------------------------------------------------

    def status(self, student: str, sha256: str, grader_version: str) -> str | None:
        """"graded", "error", or None when this (student, submission, grader) has no row."""
        rows = self._query(
            "SELECT status FROM submissions WHERE student = ? AND submission_sha256 = ?"
            " AND grader_version = ?", (student, sha256, grader_version))
        return rows[0][0] if rows else None

    def is_graded(self, student: str, sha256: str, grader_version: str) -> bool:
        """True when this exact submission was graded by this grader version.

        An ``error`` row does not count: a re-run retries it (and `record` then replaces it).
        """
        return self.status(student, sha256, grader_version) == "graded"

    def record(self, result: GradeResult, results_json: dict[str, Any] | None = None, *,
               graded_at: str | None = None) -> bool:
        """Store one graded submission and its cases in ONE transaction.

        `results_json` is the Gradescope document (``results.gradescope_results(result)`` when
        omitted). Returns False, writing nothing, when (student, digest, grader_version) is
        already graded; an earlier ``error`` row for the same key is replaced.
        """
        if results_json is None:
            from autograder.results import gradescope_results

            results_json = gradescope_results(result)
        key = (result.student, result.digest, result.grader_version)
        values = (str(result.submission), result.score, result.max_score, result.error, result.sandbox, result.seed,
                  result.execution_time, json.dumps(list(result.notes)), json.dumps(results_json),
                  graded_at or now_utc())
        with self._transaction() as conn:
            existing = conn.execute(
                "SELECT id, status FROM submissions WHERE student = ? AND submission_sha256 = ?"
                " AND grader_version = ?", key).fetchone()
            if existing and existing[1] == "graded":
                return False
            if existing:
                submission_id = existing[0]
                conn.execute(
                    "UPDATE submissions SET source_path = ?, score = ?, max_score = ?,"
                    " status = 'graded', error = ?, sandbox = ?, seed = ?, execution_time = ?,"
                    " notes = ?, results_json = ?, graded_at = ? WHERE id = ?",
                    (*values, submission_id))
                conn.execute("DELETE FROM cases WHERE submission_id = ?", (submission_id,))
            else:
                submission_id = conn.execute(
                    "INSERT INTO submissions (student, submission_sha256, grader_version, source_path,"
                    " score, max_score, status, error, sandbox, seed, execution_time, notes,"
                    " results_json, graded_at) VALUES (?, ?, ?, ?, ?, ?, 'graded', ?, ?, ?, ?, ?, ?, ?)",
                    (*key, *values)).lastrowid
            self._insert_cases(conn, submission_id, result)
        return True

    def _insert_cases(self, conn: sqlite3.Connection, submission_id: int, result: GradeResult) -> None:
        rows = []
        for function in result.functions:
            for scored in function.cases:
                case = scored.case
                rows.append((submission_id, scored.name, case.module, case.function, case.case,
                             case.weight, scored.score, scored.max_score, case.status, case.mistake,
                             case.message, case.hint,
                             json.dumps(case.heatmap) if case.heatmap else None))
        conn.executemany(
            "INSERT INTO cases (submission_id, name, module, function, case_name, weight, score,"
            " max_score, status, mistake, message, hint, heatmap)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def record_error(self, student: str, sha256: str, grader_version: str, source_path: str,
                     error: str, *, graded_at: str | None = None) -> bool:
        """Store a submission that could not be graded (ONE transaction; no cases).

        Returns False, writing nothing, when this key already has a row (graded or error):
        an error never overwrites a grade.
        """
        document = json.dumps(error_results(student, sha256, grader_version, error))
        with self._transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO submissions (student, submission_sha256, grader_version, source_path,"
                " score, max_score, status, error, results_json, graded_at)"
                " VALUES (?, ?, ?, ?, NULL, NULL, 'error', ?, ?, ?)"
                " ON CONFLICT (student, submission_sha256, grader_version) DO NOTHING",
                (student, sha256, grader_version, str(source_path), error, document,
                 graded_at or now_utc()))
            return cursor.rowcount == 1

    def latest(self, *, include_errors: bool = False) -> list[SubmissionRow]:
        """The newest graded row per student, sorted by student.

        With `include_errors`, a student who has no graded row at all appears with their newest
        error row, so exports list every student who submitted.
        """
        rows = self._query(
            f"SELECT {_SUBMISSION_COLUMNS} FROM submissions"
            " ORDER BY student, status = 'graded' DESC, graded_at DESC, id DESC")
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
        rows = self._query(
            f"SELECT {_SUBMISSION_COLUMNS} FROM submissions WHERE student = ?"
            " ORDER BY graded_at, id", (student,))
        return [_submission(r) for r in rows]

    def submissions(self) -> list[SubmissionRow]:
        """Every row, oldest first."""
        rows = self._query(f"SELECT {_SUBMISSION_COLUMNS} FROM submissions ORDER BY graded_at, id")
        return [_submission(r) for r in rows]

    def cases(self, submission_id: int) -> list[CaseRow]:
        """The cases of one submission, in grading order."""
        rows = self._query(
            "SELECT submission_id, name, module, function, case_name, weight, score, max_score,"
            " status, mistake, message, hint, heatmap FROM cases WHERE submission_id = ?"
            " ORDER BY id", (submission_id,))
        return [CaseRow(*r[:12], json.loads(r[12]) if r[12] else None) for r in rows]

    def grade_result(self, submission: SubmissionRow) -> GradeResult:
        """Rebuild the GradeResult of a stored row (for reports.py): cases in grading order.

        Exact except `duration_s` (not stored). An error row gives a result with no functions
        and `error` set.
        """
        from autograder.collect import CaseResult
        from autograder.grading import GradeResult
        from autograder.scoring import FunctionScore, ScoredCase

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
                       scored_at: str | None = None) -> None:
        """Upsert many (student, quiz, score, max_score) in one transaction."""
        stamp = scored_at or now_utc()
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO quiz_scores (student, quiz, score, max_score, scored_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (student, quiz) DO UPDATE SET"
                " score = excluded.score, max_score = excluded.max_score, scored_at = excluded.scored_at",
                [(s, q, float(sc), float(m), stamp) for s, q, sc, m in scores])

    def quiz_scores(self) -> list[QuizRow]:
        rows = self._query(
            "SELECT student, quiz, score, max_score, scored_at FROM quiz_scores ORDER BY student, quiz")
        return [QuizRow(*r) for r in rows]

    def quizzes(self) -> list[str]:
        return [r[0] for r in self._query("SELECT DISTINCT quiz FROM quiz_scores ORDER BY quiz")]

    # -- checks ----------------------------------------------------------------------------

    def integrity_check(self) -> str:
        """SQLite's own verdict on the file: "ok" when sound."""
        return self._query("PRAGMA integrity_check")[0][0]


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (our scripts have no ';' inside literals)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]

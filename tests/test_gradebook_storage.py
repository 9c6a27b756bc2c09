"""The gradebook's storage layer: migrations from the SQLite-only gradebook, fingerprinted rows
(stale ones regraded in place, never a second row), and the same API on PostgreSQL."""
import sqlite3

import pytest
import sqlalchemy as sa
from postgres_db import postgres_url  # noqa: F401 - fixture
from test_gradebook import ALICE, VERSION, make_result

from autograder.fingerprint import GradeFingerprint
from autograder.gradebook import SCHEMA_VERSION, Gradebook

# The exact DDL of the SQLite-only gradebook (schema version 1), as files in the wild have it.
V1_DDL = """
CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);
INSERT INTO schema_version VALUES (1, '2025-01-01T00:00:00+00:00');
CREATE TABLE submissions (
    id INTEGER PRIMARY KEY, student TEXT NOT NULL, submission_sha256 TEXT NOT NULL,
    grader_version TEXT NOT NULL, source_path TEXT, score REAL, max_score REAL,
    status TEXT NOT NULL CHECK (status IN ('graded', 'error')), error TEXT, sandbox TEXT,
    seed INTEGER, execution_time REAL, notes TEXT NOT NULL DEFAULT '[]',
    results_json TEXT NOT NULL, graded_at TEXT NOT NULL,
    UNIQUE (student, submission_sha256, grader_version));
CREATE TABLE cases (
    id INTEGER PRIMARY KEY, submission_id INTEGER NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    name TEXT NOT NULL, module TEXT NOT NULL, function TEXT NOT NULL, case_name TEXT NOT NULL,
    weight REAL NOT NULL DEFAULT 1.0, score REAL NOT NULL, max_score REAL NOT NULL,
    status TEXT NOT NULL, mistake TEXT, message TEXT NOT NULL DEFAULT '', hint TEXT, heatmap TEXT);
CREATE TABLE quiz_scores (student TEXT NOT NULL, quiz TEXT NOT NULL, score REAL NOT NULL,
    max_score REAL NOT NULL, scored_at TEXT NOT NULL, PRIMARY KEY (student, quiz));
INSERT INTO submissions VALUES (1, 'old', 'sha-old', '0.1.0', 'subs/old.py', 7.0, 10.0, 'graded',
    NULL, 'rlimits', 1, 1.0, '[]', '{"score": 7.0, "tests": []}', '2025-01-01T00:00:00+00:00');
"""

OLD = GradeFingerprint("grader-1", "yaml-1")


def test_a_version_1_file_is_migrated_and_keeps_its_rows(tmp_path):
    db = tmp_path / "grades.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript(V1_DDL)
    conn.close()
    with Gradebook(db) as gb:
        assert gb.schema_version == SCHEMA_VERSION == 2
        [row] = gb.latest()
        assert (row.student, row.score, row.grader_fingerprint) == ("old", 7.0, None)
        # A row from before fingerprints is stale under any fingerprint, and says so.
        assert gb.freshness("old", "sha-old", "0.1.0", OLD) == (
            "stale", "graded before fingerprints were recorded")
        tables = {r[0] for r in gb.query(sa.text("SELECT name FROM sqlite_master WHERE type = 'table'"))}
        assert {"tokens", "uploads", "quiz_attempts"} <= tables
    with Gradebook(db) as gb:  # opening again applies nothing twice
        assert [r[0] for r in gb.query(sa.text("SELECT version FROM schema_version"))] == [1, 2]


@pytest.mark.parametrize("changed,reason", [
    (GradeFingerprint("grader-1", "yaml-2"), "grading.yaml changed"),
    (GradeFingerprint("grader-2", "yaml-1"), "the grader, suites or reference changed"),
    (GradeFingerprint("grader-2", "yaml-2"), "grading.yaml and the grader, suites or reference changed"),
])
def test_a_row_graded_under_another_fingerprint_is_regraded_in_place(tmp_path, changed, reason):
    with Gradebook(tmp_path / "grades.sqlite") as gb:
        assert gb.freshness("alice", "sha-a", VERSION, OLD) == ("new", None)
        assert gb.record(make_result("alice", "sha-a", ALICE), fingerprint=OLD) is True
        assert gb.freshness("alice", "sha-a", VERSION, OLD) == ("fresh", None)
        assert gb.record(make_result("alice", "sha-a", ALICE), fingerprint=OLD) is False
        assert gb.freshness("alice", "sha-a", VERSION, changed) == ("stale", reason)
        # 5 + 5 of the 10 masks points only: the regrade's score replaces the stale one.
        regraded = [ALICE[0][:1] + ([("basic", "failed", 0.0, 5.0, None),
                                     ("batched", "failed", 0.0, 5.0, None)],), ALICE[1]]
        assert gb.record(make_result("alice", "sha-a", regraded), fingerprint=changed) is True
        [row] = gb.history("alice")
        assert (row.score, row.grader_fingerprint, row.config_sha256) == (10.0, changed.grader,
                                                                          changed.config_sha256)
        assert [c.status for c in gb.cases(row.id)] == ["failed", "failed", "passed", "passed"]
        assert gb.freshness("alice", "sha-a", VERSION, changed) == ("fresh", None)


def test_the_same_api_on_postgresql(postgres_url):  # noqa: F811 - fixture
    with Gradebook(postgres_url) as gb:
        assert gb.is_postgres and gb.schema_version == SCHEMA_VERSION
        assert gb.record(make_result("alice", "sha-a", ALICE), fingerprint=OLD) is True
        assert gb.record(make_result("alice", "sha-a", ALICE), fingerprint=OLD) is False
        assert gb.record_error("bob", "sha-b", VERSION, "subs/bob.zip", "zip bomb") is True
        assert gb.record_error("bob", "sha-b", VERSION, "subs/bob.zip", "zip bomb") is False
        assert [(r.student, r.status) for r in gb.latest(include_errors=True)] == [
            ("alice", "graded"), ("bob", "error")]
        row = gb.latest()[0]
        assert (row.score, row.max_score) == (15.0, 20.0) and len(gb.cases(row.id)) == 4
        gb.record_quiz("alice", "attention", 3, 5)
        gb.record_quiz("alice", "attention", 4.5, 5)
        assert [(q.quiz, q.score) for q in gb.quiz_scores()] == [("attention", 4.5)]
        assert gb.integrity_check() == "ok"
    with Gradebook(postgres_url) as again:  # a second process's open migrates nothing twice
        assert again.schema_version == SCHEMA_VERSION and len(again.submissions()) == 2


def test_unreachable_postgresql_is_one_clear_error():
    from autograder.gradebook import GradebookError

    with pytest.raises(GradebookError, match=r"^postgresql\+psycopg://nobody:\*\*\*@127.0.0.1:1/x: cannot open"):
        Gradebook("postgresql://nobody:secret@127.0.0.1:1/x")

"""The class gradebook: recording, idempotence, history, crash safety (kill -9), quiz upserts."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from autograder.gradebook import SCHEMA_VERSION, Gradebook, GradebookError
from autograder.result_types import CaseResult, FunctionScore, GradeResult, ScoredCase

VERSION = "0.1.0"


def make_result(student, digest, functions, version=VERSION):
    """functions: [(qualname, [(case, status, score, max_score, mistake), ...]), ...]."""
    scores = []
    for qualname, cases in functions:
        function = FunctionScore(qualname, sum(c[3] for c in cases))
        for case, status, score, max_score, mistake in cases:
            message = "" if status == "passed" else f"got X, expected Y ({case})"
            hint = "scale by 1/sqrt(d_k)" if mistake else None
            function.cases.append(ScoredCase(CaseResult(qualname, case, 1.0, status, message, mistake, hint),
                                             score, max_score))
        scores.append(function)
    return GradeResult(student=student, submission=f"subs/{student}.py", digest=digest, functions=scores,
                       seed=1234, sandbox="rlimits", execution_time=1.5, notes=["a note"],
                       grader_version=version)


# alice: attention 5 + 0 (mistake no-scaling), masks 5 + 5 -> 15 / 20
ALICE = [
    ("attention.scaled_dot_product_attention",
     [("basic", "passed", 5.0, 5.0, None), ("batched", "failed", 0.0, 5.0, "no-scaling")]),
    ("masks.causal_mask", [("square", "passed", 5.0, 5.0, None), ("rect", "passed", 5.0, 5.0, None)]),
]


def count(path, table):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def gb(tmp_path):
    with Gradebook(tmp_path / "grades.sqlite") as book:
        yield book


def test_pragmas_and_schema_version(gb):
    with gb.engine.connect() as conn:  # every pooled connection is set up the same way
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert gb.schema_version == SCHEMA_VERSION == 2


def test_record_hand_built_result(gb):
    result = make_result("alice", "sha-a", ALICE)
    assert (result.score, result.max_score) == (15.0, 20.0)  # 5 + 0 + 5 + 5 out of 4 * 5
    assert not gb.is_graded("alice", "sha-a", VERSION)
    assert gb.record(result, graded_at="2025-01-31T09:00:00+00:00") is True
    assert gb.is_graded("alice", "sha-a", VERSION)
    assert not gb.is_graded("alice", "sha-a", "0.2.0")  # a new grader grades again

    [row] = gb.latest()
    assert (row.student, row.submission_sha256, row.grader_version) == ("alice", "sha-a", VERSION)
    assert (row.score, row.max_score, row.percent, row.status) == (15.0, 20.0, 75.0, "graded")
    assert (row.seed, row.sandbox, row.execution_time, row.source_path) == (1234, "rlimits", 1.5, "subs/alice.py")
    assert row.notes == ["a note"] and row.graded_at == "2025-01-31T09:00:00+00:00"
    assert row.results_json["score"] == 15.0 and len(row.results_json["tests"]) == 4

    cases = gb.cases(row.id)
    assert [(c.name, c.score, c.max_score, c.status, c.mistake) for c in cases] == [
        ("attention.scaled_dot_product_attention: basic", 5.0, 5.0, "passed", None),
        ("attention.scaled_dot_product_attention: batched", 0.0, 5.0, "failed", "no-scaling"),
        ("masks.causal_mask: square", 5.0, 5.0, "passed", None),
        ("masks.causal_mask: rect", 5.0, 5.0, "passed", None),
    ]
    assert {(c.module, c.function) for c in cases} == {
        ("attention", "scaled_dot_product_attention"), ("masks", "causal_mask")}


def test_grade_result_round_trip_gives_the_same_report(gb):
    from autograder.reports import render_report

    result = make_result("alice", "sha-a", ALICE)
    gb.record(result)
    rebuilt = gb.grade_result(gb.latest()[0])
    assert [f.qualname for f in rebuilt.functions] == [f.qualname for f in result.functions]
    assert [f.points for f in rebuilt.functions] == [10.0, 10.0]
    assert render_report(rebuilt, "md") == render_report(result, "md")


def test_recording_twice_is_a_no_op(gb, tmp_path):
    result = make_result("alice", "sha-a", ALICE)
    assert gb.record(result) is True
    assert gb.record(result) is False
    assert gb.record_error("alice", "sha-a", VERSION, "subs/alice.py", "boom") is False  # never over a grade
    assert count(tmp_path / "grades.sqlite", "submissions") == 1
    assert count(tmp_path / "grades.sqlite", "cases") == 4


def test_changed_submission_keeps_history(gb):
    old = make_result("alice", "sha-1", ALICE)
    new_functions = [(q, [(c, "passed", m, m, None) for c, _, _, m, _ in cases]) for q, cases in ALICE]
    new = make_result("alice", "sha-2", new_functions)
    gb.record(old, graded_at="2025-01-31T09:00:00+00:00")
    gb.record(new, graded_at="2025-02-01T09:00:00+00:00")
    assert [(r.submission_sha256, r.score) for r in gb.history("alice")] == [("sha-1", 15.0), ("sha-2", 20.0)]
    assert [(r.student, r.submission_sha256) for r in gb.latest()] == [("alice", "sha-2")]


def test_error_rows_are_retried_and_replaced(gb, tmp_path):
    assert gb.record_error("bob", "sha-b", VERSION, "subs/bob.zip", "zip bomb refused") is True
    assert gb.status("bob", "sha-b", VERSION) == "error"
    assert not gb.is_graded("bob", "sha-b", VERSION)  # a re-run grades it again
    assert gb.latest() == []
    [row] = gb.latest(include_errors=True)
    assert (row.status, row.error, row.score) == ("error", "zip bomb refused", None)
    assert row.results_json["tests"] == [] and "zip bomb refused" in row.results_json["output"]

    assert gb.record(make_result("bob", "sha-b", ALICE)) is True
    assert gb.is_graded("bob", "sha-b", VERSION)
    assert count(tmp_path / "grades.sqlite", "submissions") == 1
    assert count(tmp_path / "grades.sqlite", "cases") == 4
    assert gb.latest()[0].error is None


def test_latest_prefers_a_graded_row_over_a_newer_error(gb):
    gb.record(make_result("carol", "sha-1", ALICE), graded_at="2025-01-31T09:00:00+00:00")
    gb.record_error("carol", "sha-2", VERSION, "subs/carol.py", "syntax error", graded_at="2025-02-01T09:00:00+00:00")
    assert [r.submission_sha256 for r in gb.latest(include_errors=True)] == ["sha-1"]
    assert [r.status for r in gb.history("carol")] == ["graded", "error"]


def test_failed_transaction_leaves_nothing(gb, tmp_path, monkeypatch):
    def broken(*args):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(gb, "_insert_cases", broken)
    with pytest.raises(RuntimeError):
        gb.record(make_result("alice", "sha-a", ALICE))
    assert count(tmp_path / "grades.sqlite", "submissions") == 0
    monkeypatch.undo()
    assert gb.record(make_result("alice", "sha-a", ALICE)) is True


CRASH_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from test_gradebook import ALICE, make_result
    from autograder.gradebook import Gradebook

    gb = Gradebook({db!r})
    original = gb._insert_cases

    def stall(conn, submission_id, result):
        original(conn, submission_id, result)  # the submission row and its cases are written...
        print("inside", flush=True)            # ...but not committed: the parent kills us here
        time.sleep(120)

    for i in range({total}):
        if i == {crash_at}:
            gb._insert_cases = stall
        if not gb.is_graded(f"s{{i}}", f"sha{{i}}", "0.1.0"):
            gb.record(make_result(f"s{{i}}", f"sha{{i}}", ALICE))
            print(f"recorded s{{i}}", flush=True)
""")


def test_kill_9_inside_a_transaction_loses_nothing_and_resumes(tmp_path):
    db = tmp_path / "grades.sqlite"
    n, total = 3, 5
    script = tmp_path / "crash.py"
    script.write_text(CRASH_SCRIPT.format(tests=str(Path(__file__).parent), db=str(db), total=total, crash_at=n))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        while (line := proc.stdout.readline()) and line.strip() != "inside":
            lines.append(line.strip())
        assert line.strip() == "inside", f"child ended early: {lines} {proc.stderr.read()}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert lines == ["recorded s0", "recorded s1", "recorded s2"]

    with Gradebook(db) as gb:
        assert gb.integrity_check() == "ok"
        assert [r.student for r in gb.latest()] == ["s0", "s1", "s2"]  # exactly N, s3 rolled back
        assert count(db, "cases") == 3 * 4
        # the re-run: skip what is recorded, record the rest, never twice
        recorded = [i for i in range(total) if not gb.is_graded(f"s{i}", f"sha{i}", VERSION)
                    and gb.record(make_result(f"s{i}", f"sha{i}", ALICE))]
        assert recorded == [3, 4]
        assert all(gb.record(make_result(f"s{i}", f"sha{i}", ALICE)) is False for i in range(total))
        assert gb.integrity_check() == "ok"
    assert count(db, "submissions") == total and count(db, "cases") == total * 4


def test_quiz_upsert(gb):
    gb.record_quiz("alice", "attention", 3, 5, scored_at="2025-01-31T09:00:00+00:00")
    gb.record_quiz("alice", "masking", 2, 4, scored_at="2025-01-31T09:00:00+00:00")
    gb.record_quiz("alice", "attention", 4.5, 5, scored_at="2025-02-01T09:00:00+00:00")  # retake replaces
    assert [(q.student, q.quiz, q.score, q.max_score, q.scored_at) for q in gb.quiz_scores()] == [
        ("alice", "attention", 4.5, 5.0, "2025-02-01T09:00:00+00:00"),
        ("alice", "masking", 2.0, 4.0, "2025-01-31T09:00:00+00:00"),
    ]
    assert gb.quizzes() == ["attention", "masking"]


def test_compatible_with_quiz_cli_gradebook(tmp_path):
    from quizzes.cli_score import write_gradebook

    class Score:  # what write_gradebook reads from a QuizScore
        def __init__(self, student, quiz, score, max_score):
            self.student, self.quiz, self.score, self.max_score = student, quiz, score, max_score

    db = tmp_path / "grades.sqlite"
    write_gradebook(db, [Score("bob", "bpe", 1.0, 2.0)], "2025-01-30T09:00:00+00:00")  # quiz CLI first
    with Gradebook(db) as gb:
        assert [(q.student, q.quiz, q.score) for q in gb.quiz_scores()] == [("bob", "bpe", 1.0)]
        gb.record(make_result("alice", "sha-a", ALICE))
    write_gradebook(db, [Score("bob", "bpe", 2.0, 2.0)], "2025-01-31T09:00:00+00:00")  # and after
    with Gradebook(db) as gb:
        assert [(q.student, q.quiz, q.score) for q in gb.quiz_scores()] == [("bob", "bpe", 2.0)]
        assert len(gb.latest()) == 1


def test_two_connections_see_each_other(tmp_path):
    db = tmp_path / "grades.sqlite"
    with Gradebook(db) as writer, Gradebook(db) as reader:
        writer.record(make_result("alice", "sha-a", ALICE))
        assert reader.is_graded("alice", "sha-a", VERSION)


def test_newer_schema_is_refused(tmp_path):
    db = tmp_path / "grades.sqlite"
    Gradebook(db).close()
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO schema_version VALUES (99, 'later')")
    conn.commit()
    conn.close()
    with pytest.raises(GradebookError, match="schema version 99 is newer"):
        Gradebook(db)


def test_not_a_database_is_a_clear_error(tmp_path):
    db = tmp_path / "grades.sqlite"
    db.write_text("not sqlite " * 100)
    with pytest.raises(GradebookError, match="cannot open the gradebook"):
        Gradebook(db)


def test_results_json_is_stored_verbatim(gb):
    document = {"score": 1.0, "tests": [], "output": "x"}
    gb.record(make_result("alice", "sha-a", ALICE), document)
    assert gb.latest()[0].results_json == document
    assert json.loads(gb.query(sa.text("SELECT results_json FROM submissions"))[0][0]) == document

"""Batch grading: scores equal single grading, a hostile neighbour changes nothing, `kill -9`
loses nothing and duplicates nothing, and the Dask path fills the same gradebook."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.batch import discover, run_batch
from autograder.config import load_config
from autograder.demo import write_mistake_submission, write_reference_submission
from autograder.gradebook import Gradebook
from autograder.grading import grade_submission

HOSTILE_EXIT = "import sys\n\ndef scaled_dot_product_attention(q, k, v, mask=None):\n    sys.exit(0)\n"
HOSTILE_LOOP = "def causal_mask(q_len, k_len=None, device=None):\n    while True:\n        pass\n"


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    write_reference_submission(root / "alice")
    write_mistake_submission(root / "bob", "masks.padding_inverted")
    (root / "mallory").mkdir()
    (root / "mallory" / "attention.py").write_text(HOSTILE_EXIT)
    (root / "mallory" / "masks.py").write_text(HOSTILE_LOOP)
    return root


def scores(gradebook_path: Path) -> dict[str, float]:
    with Gradebook(gradebook_path) as book:
        return {row.student: row.score for row in book.latest()}


@pytest.mark.parametrize("group_size", [1, 3], ids=["one per process", "hostile in the same group"])
def test_batch_scores_equal_single_grading_despite_a_hostile_neighbour(klass, tmp_path, group_size):
    book_path = tmp_path / "grades.sqlite"
    with Gradebook(book_path) as book:
        summary = run_batch(discover(klass), book, jobs=2, seed=11, group_size=group_size)
    assert sorted(summary.graded) == ["alice", "bob", "mallory"] and not summary.errors
    config = load_config()
    batch_scores = scores(book_path)
    for student in ("alice", "bob"):
        alone = grade_submission(klass / student, config, seed=11)
        assert batch_scores[student] == pytest.approx(alone.score), student
    assert batch_scores["alice"] == pytest.approx(config.total_points)
    assert batch_scores["mallory"] == 0
    # resuming grades nothing twice
    with Gradebook(book_path) as book:
        again = run_batch(discover(klass), book, jobs=2, seed=11)
        assert again.graded == [] and sorted(again.skipped) == ["alice", "bob", "mallory"]
        assert len(book.submissions()) == 3


def test_kill_9_mid_batch_loses_nothing_and_duplicates_nothing(tmp_path):
    folder = tmp_path / "class"
    for index in range(4):
        write_reference_submission(folder / f"student{index}")
    book_path = tmp_path / "grades.sqlite"
    command = [sys.executable, "-m", "autograder.cli", "batch", str(folder), "--gradebook", str(book_path),
               "--jobs", "1", "--group", "1", "--seed", "5"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 240
    recorded = 0
    while time.monotonic() < deadline and process.poll() is None:
        if book_path.exists():
            with sqlite3.connect(book_path) as db:
                try:
                    recorded = db.execute("select count(*) from submissions").fetchone()[0]
                except sqlite3.OperationalError:
                    recorded = 0
            if recorded >= 1:
                break
        time.sleep(0.2)
    assert process.poll() is None, "the batch finished before it could be interrupted"
    os.killpg(process.pid, signal.SIGKILL)  # the batch and its grading processes, mid-batch
    process.wait()
    with Gradebook(book_path) as book:
        kept = {row.student for row in book.submissions()}
        assert book.integrity_check() == "ok"
    assert 1 <= len(kept) < 4
    finished = subprocess.run(command, capture_output=True, text=True, timeout=400)
    assert finished.returncode == 0, finished.stderr[-2000:]
    with Gradebook(book_path) as book:
        rows = book.submissions()
    assert sorted(row.student for row in rows) == [f"student{i}" for i in range(4)]  # no duplicates
    assert all(row.status == "graded" for row in rows)
    assert f"{len(kept)} already in" in finished.stdout


def test_dask_cluster_fills_the_same_gradebook_as_the_local_pool(klass, tmp_path):
    pytest.importorskip("dask.distributed")
    local, dask = tmp_path / "local.sqlite", tmp_path / "dask.sqlite"
    items = [item for item in discover(klass) if item.student != "mallory"]
    with Gradebook(local) as book:
        run_batch(items, book, jobs=2, seed=21)
    with Gradebook(dask) as book:
        summary = run_batch(items, book, seed=21, cluster="local")
    assert not summary.errors
    assert scores(dask) == pytest.approx(scores(local))
    with Gradebook(local) as a, Gradebook(dask) as b:
        cases_a = {(r.student, c.name, c.score, c.mistake) for r in a.latest() for c in a.cases(r.id)}
        cases_b = {(r.student, c.name, c.score, c.mistake) for r in b.latest() for c in b.cases(r.id)}
    assert cases_a == cases_b

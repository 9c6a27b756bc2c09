"""`autograder batch` notices a changed grading.yaml: rows graded under another fingerprint are
regraded in place (never a second row) and the summary says how many and why."""
from __future__ import annotations

import subprocess
import sys

import yaml

from autograder.batch import discover, run_batch
from autograder.config import DEFAULT_PATH, load_config
from autograder.demo import write_reference_submission
from autograder.gradebook import Gradebook


def test_changed_grading_yaml_regrades_and_says_why(tmp_path):
    klass = tmp_path / "class"
    write_reference_submission(klass / "alice")
    book_path = tmp_path / "grades.sqlite"
    total = load_config().total_points
    with Gradebook(book_path) as book:
        first = run_batch(discover(klass), book, jobs=1, seed=3)
        assert first.graded == ["alice"] and not first.regraded
        assert book.latest()[0].score == total
        again = run_batch(discover(klass), book, jobs=1, seed=3)  # same everything: skipped
        assert again.skipped == ["alice"] and again.graded == [] and not again.regraded

    # The instructor doubles the points of one function: alice's stored grade is stale.
    data = yaml.safe_load(DEFAULT_PATH.read_text())
    functions = data["modules"]["attention"]["functions"]
    functions["scaled_dot_product_attention"] *= 2
    changed = tmp_path / "grading.yaml"
    changed.write_text(yaml.safe_dump(data))
    done = subprocess.run([sys.executable, "-m", "autograder.cli", "batch", str(klass), "--gradebook",
                           str(book_path), "--config", str(changed), "--jobs", "1", "--seed", "3"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "1 regraded because grading.yaml changed: alice" in done.stdout
    with Gradebook(book_path) as book:
        [row] = book.submissions()  # regraded in place, not a second row
        assert row.score == total + functions["scaled_dot_product_attention"] / 2
    with Gradebook(book_path) as book:  # and under the new file it is fresh again
        summary = run_batch(discover(klass), book, jobs=1, seed=3, config_path=changed)
        assert summary.skipped == ["alice"] and not summary.regraded

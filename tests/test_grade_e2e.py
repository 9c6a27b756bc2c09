"""`autograder grade` end to end: the sandboxed worker, the hidden suites, scores and diagnosis.

The reference as a submission (folder, zip, notebook) earns full marks; each mistake variant as
a submission loses points only in its own function, diagnosed with its id; submissions that
try to cheat gain nothing.
"""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import nbformat
import pytest

from autograder.config import load_config
from autograder.contract import exercise_modules
from autograder.demo import (
    notebook_source,
    student_source,
    write_mistake_submission,
    write_reference_submission,
)
from autograder.grading import grade_submission, worker_from_config
from reference.mistakes import MISTAKES

CONFIG = load_config()


@pytest.fixture(scope="module")
def worker():
    """One warm worker for the module, as batch grading uses it."""
    with worker_from_config(CONFIG) as warm:
        yield warm


def scores_by_function(result):
    return {f.qualname: (f.score, f.points) for f in result.functions}


def assert_full_marks(result):
    lost = {q: s for q, s in scores_by_function(result).items() if s[0] != pytest.approx(s[1])}
    details = [f"{c.case.qualname}: {c.case.case}: {c.case.message}" for f in result.functions
               for c in f.cases if c.case.status != "passed"]
    assert not lost, "\n".join(details)
    assert result.score == pytest.approx(CONFIG.total_points)


def test_reference_folder_scores_full_marks(tmp_path, worker, seed):
    result = grade_submission(write_reference_submission(tmp_path / "alice"), CONFIG, seed=seed, worker=worker)
    assert_full_marks(result)
    assert result.student == "alice"


def test_reference_zip_scores_full_marks(tmp_path, worker, seed):
    archive = tmp_path / "bob.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for module in exercise_modules():
            zf.writestr(f"bob/{module}.py", student_source(module))
    assert_full_marks(grade_submission(archive, CONFIG, seed=seed, worker=worker))


def test_reference_notebook_scores_full_marks(tmp_path, worker, seed):
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_markdown_cell("# Lab submission"))
    for module in exercise_modules():
        notebook.cells.append(nbformat.v4.new_code_cell(notebook_source(module)))
        # demo code after the definitions never runs
        notebook.cells.append(nbformat.v4.new_code_cell("%timeit 1\nprint(undefined_name)\nwhile True: pass"))
    path = tmp_path / "carol.ipynb"
    nbformat.write(notebook, path)
    assert_full_marks(grade_submission(path, CONFIG, seed=seed, worker=worker))


@pytest.mark.parametrize("mistake_id", sorted(MISTAKES))
def test_mistake_submission_loses_only_its_function(mistake_id, tmp_path, worker, seed):
    wrong = MISTAKES[mistake_id]
    target = f"{wrong.module}.{wrong.function}"
    result = grade_submission(write_mistake_submission(tmp_path / "dave", mistake_id), CONFIG,
                              seed=seed, worker=worker)
    scores = scores_by_function(result)
    others = {q: s for q, s in scores.items() if q != target and s[0] != pytest.approx(s[1])}
    assert not others, f"{mistake_id} cost points elsewhere: {others}"
    assert scores[target][0] < scores[target][1]
    target_cases = next(f for f in result.functions if f.qualname == target).cases
    assert mistake_id in {c.case.mistake for c in target_cases}


CHEAT_PATCHES_COMPARISONS = '''
import torch

# A wrong answer plus every comparison the grader might use patched to say "equal".
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.isclose = lambda a, b, *x, **k: torch.ones_like(a, dtype=torch.bool)
torch.Tensor.__eq__ = lambda self, other: True
import torch.testing
torch.testing.assert_close = lambda *a, **k: None

def causal_mask(q_len, k_len=None, device=None):
    return torch.zeros(q_len, q_len if k_len is None else k_len, dtype=torch.bool)
'''

CHEAT_READS_DISK = '''
import os, glob

def pretokenize(text):
    found = []
    for pattern in ("/work/**/reference/*.py", "/**/autograder/suites/*.py", "../**/grading.yaml"):
        found += glob.glob(pattern, recursive=True)[:5]
    try:
        import reference.attention as ref
        found.append("imported reference: " + ref.__file__)
    except Exception as exc:
        found.append("no reference: " + type(exc).__name__)
    return found
'''


def test_patching_comparisons_gains_nothing(tmp_path, worker, seed):
    (tmp_path / "eve").mkdir()
    (tmp_path / "eve" / "masks.py").write_text(CHEAT_PATCHES_COMPARISONS)
    result = grade_submission(tmp_path / "eve", CONFIG, seed=seed, worker=worker)
    assert scores_by_function(result)["masks.causal_mask"][0] == 0


def test_searching_the_disk_finds_no_course_file(tmp_path, worker, seed):
    (tmp_path / "mallory").mkdir()
    (tmp_path / "mallory" / "bpe.py").write_text(CHEAT_READS_DISK)
    result = grade_submission(tmp_path / "mallory", CONFIG, seed=seed, worker=worker)
    assert scores_by_function(result)["bpe.pretokenize"][0] == 0
    feedback = json.dumps([c.case.message for f in result.functions for c in f.cases])
    assert "reference/" not in feedback and "suites/" not in feedback and "grading.yaml" not in feedback
    if worker.mode == "bubblewrap":
        assert "no reference: ModuleNotFoundError" in feedback or "pretokenize" in feedback


def test_cli_writes_gradescope_results_report_and_junit(tmp_path):
    submission = write_mistake_submission(tmp_path / "frank", "attention.no_scale")
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "autograder.cli", "grade", str(submission), "--results", str(out / "results.json"),
         "--report", str(out / "report.html"), "--junit", str(out / "junit.xml"), "--seed", "3"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert set(results) >= {"score", "execution_time", "output", "tests"}
    assert results["score"] < CONFIG.total_points
    for test in results["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "visibility", "output", "extra_data"}
        assert test["name"].startswith(f"{test['extra_data']['module']}.{test['extra_data']['function']}: ")
        assert test["extra_data"]["hidden"] is True
        assert test["status"] in ("passed", "failed")
    diagnosed = [t for t in results["tests"] if t["extra_data"]["mistake"] == "attention.no_scale"]
    assert diagnosed and all("got" in t["output"] and "expected" in t["output"] for t in diagnosed)
    assert "hint:" in diagnosed[0]["output"] or "looks like mistake" in diagnosed[0]["output"]
    html = (out / "report.html").read_text()
    assert "attention.no_scale" in html and "data:image/png;base64," in html  # heatmap shown
    assert "<testsuite" in (out / "junit.xml").read_text()


def test_cli_exit_codes(tmp_path):
    missing = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", str(tmp_path / "nope.py")],
                             capture_output=True, text=True)
    assert missing.returncode == 3 and "no such file" in missing.stderr
    bad_config = tmp_path / "grading.yaml"
    bad_config.write_text("version: 1\nmodules: {}\nlimits: {call_timeout_s: fast}\n")
    usage = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", str(tmp_path),
                            "--config", str(bad_config)], capture_output=True, text=True)
    assert usage.returncode == 2 and "grading.yaml:3: limits.call_timeout_s" in usage.stderr


def test_the_typed_config_reaches_the_suites_not_the_file(tmp_path, worker, seed, monkeypatch):
    """grading.yaml is read once, by the grader: the suites get the typed config through the
    stash. Tolerances set only on the object (atol 1e9, which no file says) are the ones the
    judge uses, and no suite re-reads the file."""
    import autograder.config as config_module

    submission = write_mistake_submission(tmp_path / "bob", "attention.no_scale")
    qualname = "attention.scaled_dot_product_attention"
    strict = scores_by_function(grade_submission(submission, CONFIG, seed=seed, worker=worker))[qualname]
    loose_config = CONFIG.model_copy(update={"tolerances": {
        dtype: config_module.Tolerance(atol=1e9, rtol=0) for dtype in ("float64", "float32", "bfloat16")}})
    reads = []
    monkeypatch.setattr(config_module, "load_config", lambda *a, **k: reads.append(a) or CONFIG)
    loose = scores_by_function(grade_submission(submission, loose_config, seed=seed, worker=worker))[qualname]
    assert reads == []
    assert strict[0] < strict[1] and loose[0] > strict[0]

"""`autograder gradescope`: the bundle, run as Gradescope would run it in a simulated /autograder.

setup.sh is not run (the packages are installed here already); run_autograder is, with
AUTOGRADER_ROOT pointing at a temporary root and AUTOGRADER_PYTHON at this Python.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.config import load_config
from autograder.demo import write_mistake_submission, write_reference_submission
from autograder.gradescope import build_bundle

# Gradescope's documented results.json format ("Autograder Specifications", output format).
TOP_LEVEL_KEYS = {"score", "execution_time", "output", "output_format", "test_output_format",
                  "test_name_format", "visibility", "stdout_visibility", "extra_data", "tests",
                  "leaderboard"}
TEST_KEYS = {"score", "max_score", "status", "name", "name_format", "number", "output",
             "output_format", "tags", "visibility", "extra_data"}
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
STATUSES = {"passed", "failed"}
GRADE_TIMEOUT_S = 900


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_results_schema(results: dict) -> None:
    """Assert that `results` is a results.json Gradescope accepts."""
    assert isinstance(results, dict)
    assert set(results) <= TOP_LEVEL_KEYS, f"unknown top-level keys {set(results) - TOP_LEVEL_KEYS}"
    assert is_number(results["score"])
    assert is_number(results["execution_time"]) and results["execution_time"] >= 0
    assert isinstance(results["output"], str) and results["output"]
    assert isinstance(results["tests"], list)
    for test in results["tests"]:
        assert set(test) <= TEST_KEYS, f"unknown test keys {set(test) - TEST_KEYS}"
        assert isinstance(test["name"], str) and test["name"]
        assert is_number(test["score"]) and is_number(test["max_score"])
        assert 0 <= test["score"] <= test["max_score"] + 1e-9
        assert test["status"] in STATUSES
        assert test["visibility"] in VISIBILITIES
        assert isinstance(test["output"], str)
    if "stdout_visibility" in results:
        assert results["stdout_visibility"] in VISIBILITIES


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build_bundle(tmp_path_factory.mktemp("bundle") / "autograder.zip").path


def gradescope_root(bundle: Path, tmp_path: Path) -> Path:
    """A fresh /autograder: source/ unzipped from the bundle, empty submission/ and results/."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    (root / "submission").mkdir()
    (root / "results").mkdir()
    (root / "submission_metadata.json").write_text(
        json.dumps({"users": [{"email": "student@example.org", "name": "A Student"}]}), encoding="utf-8")
    return root


def run_autograder(root: Path, python: str = sys.executable) -> dict:
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": python}
    run = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env,
                         capture_output=True, text=True, timeout=GRADE_TIMEOUT_S)
    assert run.returncode == 0, run.stderr
    return json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))


def total_points() -> float:
    """The whole assignment's points, from grading.yaml (not from the grader's output)."""
    config = load_config()
    return sum(points for module in config.modules.values() for points in module.functions.values())


def total_points_by_function() -> dict[str, float]:
    """qualname -> points of every function grading.yaml gives points to."""
    config = load_config()
    return {f"{name}.{function}": points for name, module in config.modules.items()
            for function, points in module.functions.items() if points > 0}


def test_bundle_layout(bundle):
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        setup = archive.read("setup.sh").decode()
        requirements = archive.read("requirements.txt").decode().split()
        runner = archive.read("gradescope_runner.py").decode()
    for executable in ("setup.sh", "run_autograder"):
        assert modes[executable] & stat.S_IXUSR, f"{executable} must be executable"
    # The private bundle: grader, hidden suites, reference and its mistakes, grading.yaml.
    for needed in ("course/pyproject.toml", "course/grading.yaml", "course/autograder/grading.py",
                   "course/autograder/suites/test_attention.py", "course/reference/attention.py",
                   "course/reference/mistakes/masks.py", "course/exercises/masks.py"):
        assert needed in names, needed
    assert not any(n.startswith("course/quizzes/") for n in names), "quiz banks do not belong here"
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert "torch==" in setup and "--index-url https://download.pytorch.org/whl/cpu" in setup
    assert "bubblewrap" in setup
    assert not any(r.startswith("torch") for r in requirements) and "pydantic>=2.5" in requirements
    compile(runner, "gradescope_runner.py", "exec")


def test_setup_and_run_autograder_are_valid_bash(bundle, tmp_path):
    root = gradescope_root(bundle, tmp_path)
    for script in ("setup.sh", "run_autograder"):
        check = subprocess.run(["bash", "-n", str(root / "source" / script)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr


def test_reference_notebook_zip_gets_full_marks(bundle, tmp_path):
    """One .zip uploaded: graded as that zip (intake's rules), every case passes."""
    modules = write_reference_submission(tmp_path / "reference")
    root = gradescope_root(bundle, tmp_path)
    with zipfile.ZipFile(root / "submission" / "solution.zip", "w") as archive:
        for path in sorted(modules.glob("*.py")):
            archive.write(path, path.name)
    results = run_autograder(root)
    check_results_schema(results)
    assert results["output"].startswith("Graded: solution.zip")
    assert results["extra_data"]["student"] == "student@example.org"
    assert results["score"] == pytest.approx(total_points())
    assert sum(t["max_score"] for t in results["tests"]) == pytest.approx(total_points())
    failed = [t["name"] for t in results["tests"] if t["status"] != "passed"]
    assert not failed


def test_mistake_submission_loses_points_and_names_the_mistake(bundle, tmp_path):
    """Several .py files uploaded: graded as a folder; the diagnosis travels in extra_data."""
    files = write_mistake_submission(tmp_path / "student", "masks.causal_diagonal")
    root = gradescope_root(bundle, tmp_path)
    for path in files.glob("*.py"):
        shutil.copy(path, root / "submission" / path.name)
    results = run_autograder(root)
    check_results_schema(results)
    assert results["output"].startswith("Graded: the uploaded files")
    assert results["score"] < total_points()
    failed = [t for t in results["tests"] if t["status"] == "failed"]
    assert failed
    # Within masks only the diagonal-dependent functions fail (other modules: the reference test).
    failed_masks = {t["extra_data"]["function"] for t in failed if t["extra_data"]["module"] == "masks"}
    assert failed_masks and failed_masks <= {"causal_mask", "causal_padding_mask"}
    assert "masks.causal_diagonal" in {t["extra_data"]["mistake"] for t in failed}
    assert all(t["score"] < t["max_score"] for t in failed)


@pytest.mark.parametrize("situation", ["unreadable notebook", "no submission folder", "no python"])
def test_a_grader_that_cannot_grade_still_writes_results(bundle, tmp_path, situation):
    root = gradescope_root(bundle, tmp_path)
    python = sys.executable
    if situation == "unreadable notebook":
        (root / "submission" / "lab.ipynb").write_text("{ this is not a notebook", encoding="utf-8")
    elif situation == "no submission folder":
        (root / "submission").rmdir()
    else:
        python = str(tmp_path / "no-such-python")
    results = run_autograder(root, python)
    check_results_schema(results)
    assert results["score"] == 0
    assert "score 0" in results["output"]
    if situation == "unreadable notebook":  # the grader's own results: every test at 0, with why
        assert "could not be read" in results["output"] and "lab.ipynb" in results["output"]
        assert {t["name"].split(":")[0] for t in results["tests"]} == set(total_points_by_function())
        assert all(t["score"] == 0 and "not a readable notebook" in t["output"] for t in results["tests"])
    else:
        assert results["tests"] == []
    if situation == "no submission folder":
        assert "Internal error" in results["output"]

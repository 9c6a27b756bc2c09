"""`autograder export-otter`: otter-grader assignments built from the public checks.

The end-to-end tests run the real `otter run` (local, no container) on notebooks: the
reference pasted in scores full marks, the stubs score zero. otter-grader pins packages that
clash with this project's environment, so it lives in its own virtual environment (made with
--system-site-packages, so its kernel sees torch and this project): OTTER_EXECUTABLE, an
`otter` on PATH, or /tmp/otter-venv/bin/otter. Without one the end-to-end tests are skipped,
except in CI, where they fail.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.config import load_config
from autograder.course import load_course
from autograder.otter_export import (
    export_otter,
    lab_by_key,
    lab_notebook,
    otter_test_files,
)
from reference.mistakes import MISTAKES

OTTER_TIMEOUT_S = 900


def otter_executable() -> str | None:
    for candidate in (os.environ.get("OTTER_EXECUTABLE"), shutil.which("otter"), "/tmp/otter-venv/bin/otter"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("otter")
    export_otter(out, ["lab_2_3_1", "lab_2_3_2"], solutions=True)
    return out


def grading_points(modules) -> dict[str, float]:
    config = load_config()
    return {f: p for m in modules for f, p in config.modules[m].functions.items()}


def notebook_namespace(path: Path) -> dict:
    """Execute a notebook's code cells (not the otter cell) into one namespace, as a kernel would."""
    namespace: dict = {}
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code" and "otter" not in cell.source:
            exec(compile(cell.source, str(path), "exec"), namespace)
    return namespace


@pytest.fixture
def run_public_checks(exported, monkeypatch):
    """The exported runner, imported from the student folder as a notebook would."""
    monkeypatch.syspath_prepend(str(exported / "lab_2_3_1" / "student"))
    for name in [n for n in sys.modules if n == "nlpt_checks" or n.startswith("nlpt_checks.")]:
        monkeypatch.delitem(sys.modules, name)
    from nlpt_checks.runner import run_public_checks

    yield run_public_checks
    for name in [n for n in sys.modules if n == "nlpt_checks" or n.startswith("nlpt_checks.")]:
        del sys.modules[name]


def test_every_module_is_in_exactly_one_lab():
    graded = [m for lab in load_course().otter for m in lab.modules]
    assert sorted(graded) == sorted(load_config().modules)


def test_layout_and_points(exported):
    lab = lab_by_key("lab_2_3_1")
    folder = exported / lab.key
    expected = grading_points(lab.modules)
    assert {p.stem for p in (folder / "student" / "tests").glob("*.py")} == set(expected)
    with zipfile.ZipFile(folder / "autograder.zip") as archive:
        names = set(archive.namelist())
        config = json.loads(archive.read("otter_config.json"))
    assert {f"tests/{f}.py" for f in expected} <= names
    assert {"files/nlpt_checks/runner.py", "files/nlpt_checks/checks/test_masks.py",
            "files/nlpt_checks/checks/test_attention.py"} <= names
    assert not any("reference" in n or "suites" in n for n in names), "no reference or hidden suite"
    assert config["assignment_name"] == lab.key
    for name, text in otter_test_files(lab).items():
        compile(text, name, "exec")
        assert f"points = {expected[name[:-3]]:g}\n" in text


def test_shipped_support_never_imports_the_course_package(exported):
    """The export runs where this project is not installed: every import of the shipped
    checks and their support modules reaches nlpt_checks, never autograder."""
    import ast

    for lab in ("lab_2_3_1", "lab_2_3_2"):
        with zipfile.ZipFile(exported / lab / "autograder.zip") as archive:
            shipped = {n: archive.read(n).decode() for n in archive.namelist() if n.endswith(".py")}
        assert "files/nlpt_checks/tensor_text.py" in shipped  # reached through checking.py
        for name, text in shipped.items():
            for node in ast.walk(ast.parse(text)):
                modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                    [a.name for a in node.names] if isinstance(node, ast.Import) else [])
                assert all(m.split(".")[0] != "autograder" for m in modules), (name, modules)


def test_student_notebook_holds_stubs_not_solutions(exported):
    notebook = nbformat.read(exported / "lab_2_3_1" / "student" / "lab_2_3_1.ipynb", as_version=4)
    assert notebook.metadata["otter"]["assignment_name"] == "lab_2_3_1"
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    for function in grading_points(["attention", "masks"]):
        assert f"def {function}(" in code
    assert code.count("raise NotImplementedError") == len(grading_points(["attention", "masks"]))
    # Every function is a stub: its body is the docstring and the raise, nothing of the reference.
    import ast

    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.FunctionDef):
            assert len(node.body) == 2 and isinstance(node.body[1], ast.Raise), node.name


def test_builds_on_lab_keeps_module_helpers_apart(exported):
    """Attention and transformer both define `_check_params`; in one notebook they must not clash."""
    solved = lab_notebook(lab_by_key("lab_2_3_2"), solution=True)
    code = "\n".join(c.source for c in solved.cells if c.cell_type == "code")
    assert "def _attention_check_params(" in code and "def _transformer_check_params(" in code
    assert "from reference" not in code


def test_runner_in_process_solved_stub_and_mistake(exported, run_public_checks):
    solved = notebook_namespace(exported / "lab_2_3_1" / "solutions" / "lab_2_3_1.ipynb")
    run_public_checks(solved, "masks.causal_mask")  # passes: no exception

    stub = notebook_namespace(exported / "lab_2_3_1" / "student" / "lab_2_3_1.ipynb")
    with pytest.raises(AssertionError, match="masks.causal_mask: not implemented yet"):
        run_public_checks(stub, "masks.causal_mask")

    wrong = dict(solved, causal_mask=MISTAKES["masks.causal_diagonal"].fn)
    with pytest.raises(AssertionError, match=r"masks.causal_mask: \d+ of \d+ public checks failed"):
        run_public_checks(wrong, "masks.causal_mask")
    del wrong["causal_mask"]
    with pytest.raises(AssertionError, match="not defined"):
        run_public_checks(wrong, "masks.causal_mask")


def otter_run(notebook: Path, autograder_zip: Path, out: Path) -> dict:
    otter = otter_executable()
    if otter is None:
        message = "otter-grader is not installed (see the module docstring)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    out.mkdir()
    run = subprocess.run([otter, "run", "-a", str(autograder_zip), "-o", str(out), "--no-logo", str(notebook)],
                         capture_output=True, text=True, timeout=OTTER_TIMEOUT_S)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


def function_scores(results: dict) -> dict[str, tuple[float, float]]:
    """name -> (score, max_score), leaving out otter's summary row without points."""
    return {t["name"]: (t["score"], t["max_score"]) for t in results["tests"] if t.get("max_score") is not None}


@pytest.mark.parametrize("lab_key", ["lab_2_3_1", "lab_2_3_2"])
def test_otter_run_gives_the_solution_full_marks(exported, tmp_path, lab_key):
    lab = lab_by_key(lab_key)
    results = otter_run(exported / lab_key / "solutions" / f"{lab_key}.ipynb",
                        exported / lab_key / "autograder.zip", tmp_path / "results")
    expected = grading_points(lab.modules)
    assert function_scores(results) == {f: (p, p) for f, p in expected.items()}


def test_otter_run_gives_the_stubs_zero(exported, tmp_path):
    results = otter_run(exported / "lab_2_3_1" / "student" / "lab_2_3_1.ipynb",
                        exported / "lab_2_3_1" / "autograder.zip", tmp_path / "results")
    expected = grading_points(["attention", "masks"])
    scores = function_scores(results)
    assert scores == {f: (0, p) for f, p in expected.items()}
    outputs = "\n".join(t.get("output", "") for t in results["tests"])
    assert "not implemented yet" in outputs

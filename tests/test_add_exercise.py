"""Adding an exercise function touches exactly the places README "Adding an exercise" lists.

In a temporary copy of the project, a throwaway function `masks.full_mask` gets a stub, a
reference, a public check, a hidden case, its points and a note, and nothing else is edited.
The copy's own commands then render it into its lab notebook, grade it, ship it in the student
bundle and export it for otter. Each command runs in a fresh interpreter inside the copy, so
everything it knows about the course comes from the copy's files.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
LEFT_OUT = shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", ".*cache", ".benchmarks",
                                  "benchmarks", "examples", "tests")

STUB = '''

def full_mask(q_len: int, k_len: int) -> torch.Tensor:
    """Every query may attend to every key: all True, shape ``(q_len, k_len)``."""
    raise NotImplementedError("masks.full_mask: not implemented yet")
'''
REFERENCE = '''

def full_mask(q_len: int, k_len: int) -> torch.Tensor:
    """All True ``(q_len, k_len)``."""
    return torch.ones(q_len, k_len, dtype=torch.bool)
'''
CHECK = '''

@pytest.mark.function("masks.full_mask")
def test_full_mask_hand_worked(impl):
    assert_close(impl.masks.full_mask(1, 2), torch.tensor([[True, True]]), name="full_mask(1, 2)")
'''
SUITE = '''

@pytest.mark.function("masks.full_mask")
@pytest.mark.parametrize("q_len, k_len", [(1, 1), (3, 5)])
def test_full_mask_sizes(judge, q_len, k_len):
    judge.compare("masks.full_mask", q_len, k_len)
'''
NOTE = "Every query may attend to every key (the mask of an encoder without padding)."


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def insert_after(path: Path, anchor: str, line: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(anchor) == 1, f"{path}: anchor {anchor!r} not unique"
    path.write_text(text.replace(anchor, anchor + line), encoding="utf-8")


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """The copy, with the six edits of README "Adding an exercise" and no other."""
    copy = tmp_path_factory.mktemp("add-exercise") / "course"
    shutil.copytree(ROOT, copy, ignore=LEFT_OUT)
    append(copy / "exercises" / "masks.py", STUB)
    append(copy / "reference" / "masks.py", REFERENCE)
    append(copy / "exercises" / "checks" / "test_masks.py", CHECK)
    append(copy / "autograder" / "suites" / "test_masks.py", SUITE)
    insert_after(copy / "grading.yaml", "      additive_mask: 1\n", "      full_mask: 1\n")
    labs = copy / "exercises" / "labs.yaml"
    text = labs.read_text(encoding="utf-8")
    start = text.index("\n  masks:\n")
    notes = text.index("    notes:\n", start) + len("    notes:\n")
    labs.write_text(text[:notes] + f"      full_mask: {NOTE}\n" + text[notes:], encoding="utf-8")
    return copy


def run(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    done = subprocess.run([sys.executable, *args], cwd=course, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, (args, done.stdout[-3000:], done.stderr[-3000:])
    return done


def test_the_copy_runs_its_own_grader(course):
    out = run(course, "-c", "import autograder.course as c; print(c.__file__)").stdout
    assert out.strip() == str(course / "autograder" / "course.py")


def test_rendered_into_its_lab_notebook(course):
    run(course, "-m", "autograder.notebooks")
    nb = nbformat.read(course / "exercises" / "notebooks" / "lab-2.3.1-attention-from-scratch.ipynb", as_version=4)
    cells = {cell.id: cell.source for cell in nb.cells}
    assert cells["note-masks-full_mask"] == f"### `full_mask`\n\n{NOTE}"
    assert cells["code-masks-full_mask"] == STUB.strip("\n")
    assert cells["check-masks-full_mask"] == 'check("masks.full_mask", globals())'
    ids = list(cells)
    assert ids.index("code-masks-additive_mask") < ids.index("note-masks-full_mask") < ids.index("submit")
    run(course, "-m", "autograder.notebooks", "--check")


def test_public_check_runs_on_reference_and_reports_the_stub(course):
    passed = run(course, "-m", "pytest", "exercises/checks/test_masks.py", "-q", "-p", "no:cacheprovider",
                 "--impl", "reference", "-k", "full_mask")
    assert "1 passed" in passed.stdout
    stub = run(course, "-m", "pytest", "exercises/checks/test_masks.py", "-q", "-p", "no:cacheprovider",
               "-k", "full_mask")
    assert "masks.full_mask" in stub.stdout and "1 not implemented" in stub.stdout, stub.stdout[-2000:]


def test_graded_with_its_points(course, tmp_path):
    submission = tmp_path / "alice"
    run(course, "-c", "import sys; from pathlib import Path; from autograder.demo import "
        "write_reference_submission as w; w(Path(sys.argv[1]))", str(submission))
    results = tmp_path / "results.json"
    run(course, "-m", "autograder.cli", "grade", str(submission), "--results", str(results), "--seed", "1", "--quiet")
    tests = [t for t in json.loads(results.read_text())["tests"] if t["extra_data"]["function"] == "full_mask"]
    assert len(tests) == 2  # the two parametrised hidden cases
    assert sum(t["max_score"] for t in tests) == pytest.approx(1.0)
    assert all(t["score"] == t["max_score"] and t["status"] == "passed" for t in tests)


def test_released_to_students(course, tmp_path):
    bundle = tmp_path / "bundle"
    run(course, "-m", "autograder.cli", "release", str(bundle))
    assert "def full_mask(" in (bundle / "exercises" / "masks.py").read_text()
    assert "| `masks.full_mask` | 1 |" in (bundle / "README.md").read_text()
    notebook = (bundle / "exercises" / "notebooks" / "lab-2.3.1-attention-from-scratch.ipynb").read_text()
    assert "code-masks-full_mask" in notebook


def test_exported_for_otter(course, tmp_path):
    run(course, "-m", "autograder.cli", "export-otter", str(tmp_path / "otter"), "--lab", "lab_2_3_1")
    test = (tmp_path / "otter" / "lab_2_3_1" / "student" / "tests" / "full_mask.py").read_text()
    assert 'run_public_checks(env, "masks.full_mask")' in test and "\npoints = 1\n" in test

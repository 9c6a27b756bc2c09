"""Grading works, in bubblewrap, from every ordinary install layout, and hides the course in each.

Each case makes a copy of the clone and a virtual environment where people put one (inside the
clone, under /tmp, under $HOME, a ``--system-site-packages`` venv), runs ``autograder grade``
with that venv's interpreter, and grades a submission that is correct only if it cannot read
any course file: its ``causal_mask`` raises ``LEAK`` naming what it could read. The venvs here
link their packages to the test run's own (seconds, not a torch install each); ``.ci/run``
also installs the project into real venvs inside a fresh clone and under /tmp and runs the
end-to-end grading tests from each.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import uuid
from pathlib import Path

import pytest

from autograder.sandbox import client, layout, lifecycle

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI") == "true"

pytestmark = pytest.mark.skipif(not IN_CI and not client.bubblewrap_available(),
                                reason="bubblewrap cannot run here (CI requires it)")

LEAK_PROBE = '''
import os as _os

_CANARIES = {canaries!r}
_LEAKS = []
for _path in _CANARIES:
    try:
        with open(_path, "rb") as _fh:
            _fh.read(1)
        _LEAKS.append(_path)
    except OSError:
        pass
for _name in ("reference", "quizzes", "autograder.grading"):
    try:
        __import__(_name)
        _LEAKS.append("import " + _name)
    except ImportError:
        pass

_real_causal_mask = causal_mask


def causal_mask(*args, **kwargs):
    if _LEAKS:
        raise RuntimeError("LEAK " + repr(_LEAKS))
    return _real_causal_mask(*args, **kwargs)
'''


def copy_clone(dest: Path) -> Path:
    """The project's files (what a clone holds), without build outputs or venvs."""
    shutil.copytree(REPO, dest, ignore=shutil.ignore_patterns(
        ".git", ".venv", "__pycache__", "*.egg-info", "build", "dist", "*.sqlite*"))
    return dest


def site_packages(venv: Path) -> Path:
    return Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))


def make_venv(venv: Path, clone: Path, *, system_site: bool) -> Path:
    """A venv that imports the clone's project; with its own packages unless `system_site`."""
    args = [sys.executable, "-m", "venv", "--without-pip"]
    if system_site:
        args.append("--system-site-packages")
    subprocess.run(args + [str(venv)], check=True, capture_output=True)
    site = site_packages(venv)
    site.mkdir(parents=True, exist_ok=True)
    if not system_site:  # the packages of this test run, linked entry by entry
        for source in dict.fromkeys(p for p in sys.path if p.endswith(("site-packages",
                                                                        "dist-packages"))):
            hidden = {path for path, _ in layout.project_entries(source)}
            for entry in os.scandir(source):
                target = site / entry.name
                if (entry.path in hidden or entry.name.endswith(".pth")
                        or entry.name == "__pycache__" or target.exists()):
                    continue
                target.symlink_to(os.path.realpath(entry.path))
    (site / "course.pth").write_text(f"{clone}\n")
    return venv / "bin" / "python"


def probe_submission(folder: Path, clone: Path, canaries: list[Path]) -> Path:
    folder.mkdir()
    source = (clone / "reference" / "masks.py").read_text()
    (folder / "masks.py").write_text(source + LEAK_PROBE.format(canaries=[str(c) for c in canaries]))
    return folder


def grade_from(python: Path, submission: Path, workdir: Path) -> tuple[dict, str]:
    results = workdir / "results.json"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run([str(python), "-m", "autograder.cli", "grade", str(submission),
                           "--results", str(results), "--seed", "3"],
                          cwd=workdir, capture_output=True, text=True, timeout=300, env=env)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "Traceback" not in output
    return json.loads(results.read_text()), output


def causal_mask_cases(results: dict) -> list[dict]:
    return [t for t in results["tests"] if t["name"].startswith("masks.causal_mask:")]


@pytest.fixture
def home_dir():
    """A folder under $HOME (cleaned up), as a user's ~/venvs/course would be."""
    path = Path.home() / ".cache" / f"autograder-layout-test-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


LAYOUTS = ["venv inside the clone", "venv under /tmp", "venv under $HOME",
           "--system-site-packages venv"]


@pytest.mark.parametrize("where", LAYOUTS)
def test_grading_works_and_hides_the_course_in_every_layout(where, tmp_path, home_dir):
    clone = copy_clone(tmp_path / "clone")
    venv = {"venv inside the clone": clone / ".venv",
            "venv under /tmp": tmp_path / "venvs" / "course",
            "venv under $HOME": home_dir / "venv",
            "--system-site-packages venv": tmp_path / "ssp-venv"}[where]
    python = make_venv(venv, clone, system_site=where.startswith("--system"))
    home_secret = home_dir / "secret.txt"
    home_secret.write_text("instructor notes")
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "grader-cwd-secret.txt").write_text("x")
    canaries = [clone / "reference" / "masks.py", clone / "grading.yaml",
                clone / "autograder" / "suites" / "test_masks.py", home_secret,
                workdir / "grader-cwd-secret.txt"]
    submission = probe_submission(tmp_path / "student", clone, canaries)

    results, output = grade_from(python, submission, workdir)

    assert "sandbox: bubblewrap" in output, output[-2000:]
    assert "falls back" not in output
    cases = causal_mask_cases(results)
    assert cases, "no causal_mask case graded"
    leaks = [t["output"] for t in cases if "LEAK" in t["output"]]
    assert not leaks, leaks[0]
    assert all(t["score"] == t["max_score"] for t in cases), [t["output"] for t in cases]


def test_the_probe_names_a_missing_worker_import(monkeypatch):
    monkeypatch.setattr(layout, "WORKER_IMPORTS", ("torch", "no_such_module_for_the_probe"))
    client.bubblewrap_problem.cache_clear()
    try:
        problem = client.bubblewrap_problem()
    finally:
        client.bubblewrap_problem.cache_clear()
    assert problem is not None
    assert "no_such_module_for_the_probe" in problem and "\n" not in problem


@pytest.fixture
def broken_bubblewrap(monkeypatch):
    """bubblewrap starts, but a tmpfs hides the site dirs: the worker cannot import torch.

    (The bug of old: the venv's packages were hidden by the tmpfs over the clone or /tmp.)
    """
    real_hidden = layout.hidden_dirs
    site_dirs = list(layout.python_layout().site_dirs)
    monkeypatch.setattr(layout, "hidden_dirs", lambda: real_hidden() + site_dirs)
    monkeypatch.setattr(lifecycle, "_warned", set())


def test_auto_falls_back_to_rlimits_with_one_line_why(broken_bubblewrap, capsys):
    with client.Worker("auto") as worker:
        worker.load_submission({"masks": "def f():\n    return 3\n"})
        assert worker.call("masks", "f") == 3
        assert worker.mode == "rlimits"
        assert worker.fallback_reason and "\n" not in worker.fallback_reason
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: sandbox: auto falls back to rlimits:")
    assert "imports fail inside bubblewrap" in err[0]


def test_bubblewrap_mode_stops_with_one_line_cause_and_fix(broken_bubblewrap):
    worker = client.Worker("bubblewrap")
    with pytest.raises(client.SandboxUnavailable) as caught:
        worker.start()
    worker.close()
    message = str(caught.value)
    assert "\n" not in message
    assert "bubblewrap cannot run here" in message and "sandbox: auto or rlimits" in message
    assert "ModuleNotFoundError" in message or "No module named" in message


def test_grade_and_batch_exit_4_in_one_line_when_bubblewrap_is_required_but_missing(tmp_path):
    config = tmp_path / "grading.yaml"
    config.write_text((REPO / "grading.yaml").read_text().replace("sandbox: auto",
                                                                  "sandbox: bubblewrap"))
    env = dict(os.environ, AUTOGRADER_BWRAP=str(tmp_path / "no-bwrap"))
    alice = REPO / "examples" / "submissions" / "alice"
    grade = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", str(alice),
                            "--config", str(config), "--quiet"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)
    assert grade.returncode == 4, grade.stderr
    assert "Traceback" not in grade.stderr and len(grade.stderr.strip().splitlines()) == 1
    assert "no-bwrap is not installed" in grade.stderr

    classroom = tmp_path / "class"
    shutil.copytree(alice, classroom / "alice")
    shutil.copytree(alice, classroom / "bob")
    book = tmp_path / "grades.sqlite"
    batch = subprocess.run([sys.executable, "-m", "autograder.cli", "batch", str(classroom),
                            "--config", str(config), "--gradebook", str(book), "--jobs", "1"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert batch.returncode == 4, batch.stdout + batch.stderr
    assert "Traceback" not in batch.stdout + batch.stderr
    assert "grading could not run" in batch.stderr
    from autograder.gradebook import Gradebook

    with Gradebook(book) as gradebook:  # nobody was recorded as an error: a rerun grades all
        assert list(gradebook.latest(include_errors=True)) == []

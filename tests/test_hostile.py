"""The public hostile submissions, graded through the real CLI as their README prescribes.

Each case runs `autograder grade` in both sandbox modes (bubblewrap where this machine allows
it, and rlimits: a copy of grading.yaml with ``sandbox: rlimits``) in its own PID namespace
under an outer wall-clock limit (`unshare --pid --fork --kill-child`, `timeout -s KILL`), from
a scratch copy, and is checked
against tests/fixtures/hostile/manifest.json: the attacked function scores 0 with a readable
reason, the other functions score as in the honest control, nothing leaks, no marker file the
manifest calls fatal appears, and no submission process outlives the grader.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.sandbox import bubblewrap_available

REPO = Path(__file__).resolve().parents[1]
HOSTILE = Path(__file__).resolve().parent / "fixtures" / "hostile"
MARKERS = Path("/tmp/hostile-markers")
CASES = json.loads((HOSTILE / "manifest.json").read_text())
MODES = ["rlimits"] + (["bubblewrap"] if bubblewrap_available() else [])

pytestmark = pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")


def grade(path: Path, workdir: Path, max_wall_s: float, config: Path,
          exit_code: int = 0) -> tuple[dict, str, float]:
    """Run the grader on a scratch copy; return (results.json, all output, wall seconds)."""
    results = workdir / "results.json"
    report = workdir / "report.html"
    grader = (f"{sys.executable} -m autograder.cli grade \"$1\" --results {results} "
              f"--report {report} --seed 1 --config {config}")
    script = f"timeout -s KILL {int(max_wall_s)} {grader}"
    started = time.monotonic()
    proc = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child=SIGKILL", "sh", "-c", script, "sh", str(path)],
        cwd=workdir, capture_output=True, text=True, timeout=max_wall_s + 30,
    )
    wall = time.monotonic() - started
    output = proc.stdout + proc.stderr
    assert proc.returncode == exit_code, f"grader exited {proc.returncode}:\n{output[-3000:]}"
    text = output + results.read_text() + report.read_text()
    return json.loads(results.read_text()), text, wall


def function_scores(results: dict) -> dict[str, float]:
    scores: dict[str, float] = {}
    for test in results["tests"]:
        qualname = test["name"].split(":")[0]
        scores[qualname] = scores.get(qualname, 0.0) + test["score"]
    return scores


@pytest.fixture(scope="module", params=MODES)
def config(request, tmp_path_factory) -> Path:
    """The project's grading.yaml with the sandbox mode set (bubblewrap or rlimits)."""
    text = (REPO / "grading.yaml").read_text()
    text, count = re.subn(r"(?m)^sandbox:.*$", f"sandbox: {request.param}", text)
    assert count == 1
    path = tmp_path_factory.mktemp(f"config-{request.param}") / "grading.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    shutil.copytree(HOSTILE, root / "hostile-public")
    return root / "hostile-public"


@pytest.fixture(scope="module")
def honest_pair(scratch, config):
    workdir = scratch.parent / f"control-{config.parent.name}"
    workdir.mkdir()
    results, _, _ = grade(scratch / "controls" / "honest_pair", workdir, 120, config)
    scores = function_scores(results)
    assert scores["masks.causal_mask"] > 0 and scores["transformer.gelu"] > 0
    return scores


@pytest.fixture(autouse=True)
def fresh_markers():
    shutil.rmtree(MARKERS, ignore_errors=True)
    MARKERS.mkdir(mode=0o1777)
    os.chmod(MARKERS, 0o1777)
    yield
    shutil.rmtree(MARKERS, ignore_errors=True)


def test_all_stubs_score_zero_as_not_implemented(scratch, config, tmp_path):
    results, _, _ = grade(scratch / "controls" / "all_stubs", tmp_path, 120, config)
    assert results["score"] == 0
    assert all("not implemented" in t["output"] for t in results["tests"])


@pytest.mark.parametrize("case", CASES, ids=[Path(c["path"]).name for c in CASES])
def test_hostile_case(case, scratch, config, honest_pair, tmp_path):
    check = case["check"]
    results, text, wall = grade(scratch / case["path"], tmp_path, check["max_wall_s"], config,
                                check.get("exit_code", 0))
    assert wall < check["max_wall_s"]
    scores = function_scores(results)
    keep = set(check.get("as_control", [])) | set(check.get("as_control_or_zero", []))
    for qualname, score in scores.items():
        if qualname in check.get("as_control", []):
            assert score == pytest.approx(honest_pair[qualname]), qualname
        elif qualname in check.get("as_control_or_zero", []):
            assert score == pytest.approx(honest_pair[qualname]) or score == 0, qualname
        else:
            assert score == 0, f"{qualname} scored {score}"
    assert keep <= set(scores)
    if check.get("exit_code") == 3:  # unreadable: still a results.json, every test at 0 saying why
        assert results["tests"] and all(check["reason"] in t["output"] for t in results["tests"])
    if case["function"]:
        attacked = [t for t in results["tests"] if t["name"].startswith(case["function"] + ":")]
        assert attacked and all(t["score"] == 0 for t in attacked)
        reasons = " ".join(t["output"] for t in attacked)
        assert "not implemented" not in reasons or case["function"] == "transformer.gelu", reasons
        assert check.get("reason", "") in reasons, reasons
    assert "HOSTILE-LEAK" not in text
    for name in check.get("fatal_markers", []):
        assert not (MARKERS / name).exists(), f"{name} was created"
    for _path in check.get("host_paths_absent", []):
        assert not (scratch / "submissions" / "pub-bad-zip-slip.parent").exists()
        assert not (scratch.parent / "pub-bad-zip-slip.parent").exists()
    for name in check.get("growing", []):
        marker = MARKERS / name
        size = marker.stat().st_size if marker.exists() else 0
        time.sleep(10)
        later = marker.stat().st_size if marker.exists() else 0
        assert later == size, f"{name} keeps growing: a submission process survived the grader"

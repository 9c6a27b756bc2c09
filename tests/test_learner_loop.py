"""`pytest exercises` as a learner runs it: short failures, small masks as grids, one line per
function at the end, and `--function` to check one function."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_checks(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "exercises", "-p", "no:cacheprovider",
                           *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_a_failure_shows_the_check_line_and_a_grid_not_the_checker():
    proc = run_checks("--impl", "mistake:masks.causal_top_left", "--function", "masks")
    out = proc.stdout
    assert proc.returncode == 1, out[-2000:]
    assert "autograder/checking.py" not in out and "def assert_close" not in out
    # causal_mask(2, 4) of the top-left mistake against the hand-worked bottom-right mask
    assert "    got        expected\n" in out
    assert "    1 0 0 0    1 1 1 0\n" in out and "    1 1 0 0    1 1 1 1\n" in out
    lines = out.splitlines()
    assert any(line.startswith("masks.causal_mask: 4 of 10 checks failed: causal_mask(2, 4)")
               for line in lines), out[-2000:]
    assert "masks.padding_mask: 2 checks passed" in lines


def test_function_selects_one_function():
    proc = run_checks("--impl", "reference", "--function", "masks.causal_mask")
    assert proc.returncode == 0, proc.stdout[-2000:]
    summary = [line for line in proc.stdout.splitlines() if line.startswith("masks.")]
    assert summary == ["masks.causal_mask: 10 checks passed"]
    assert "10 passed" in proc.stdout


def test_an_unknown_function_is_a_usage_error_naming_the_known_ones():
    proc = run_checks("--function", "masks.causal")
    assert proc.returncode == 4  # pytest's usage error
    assert "no such function" in proc.stderr and "masks.causal_mask" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_stubs_read_as_not_implemented_per_function():
    proc = run_checks("--function", "bpe.merge_pair")
    assert "bpe.merge_pair: not implemented yet" in proc.stdout.splitlines()

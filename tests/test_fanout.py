"""FanOut runs each case's setup, call and teardown itself (no pytest reports): a case whose
fixture fails is a grader error naming the cause, a skipped fixture grades nothing, an ungraded
helper test's failure costs nothing, and module fixtures are torn down between modules."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SUITE = '''
import pytest

EVENTS = []


@pytest.fixture
def broken():
    raise RuntimeError("the case's inputs could not be built")


@pytest.fixture
def skipped():
    pytest.skip("needs a GPU")


@pytest.fixture(scope="module")
def module_resource():
    EVENTS.append("up")
    yield
    EVENTS.append("down")


@pytest.mark.function("attention.softmax")
def test_fixture_fails(broken, impl):
    pass


@pytest.mark.function("attention.softmax")
def test_fixture_skips(skipped, impl):
    pass


@pytest.mark.function("attention.softmax")
def test_passes(module_resource, impl):
    assert EVENTS == ["up"]


@pytest.mark.function("attention.softmax")
def test_fails(impl):
    assert 1 == 2, "one is not two"


def test_ungraded_helper_that_fails():
    raise ValueError("not part of any grade")
'''

LATER = '''
import pytest

from test_a import EVENTS


@pytest.mark.function("attention.softmax")
def test_after_the_first_module(impl):
    assert EVENTS == ["up", "down"], EVENTS
'''


# In a process of its own, as the grader runs: this test process's pytest would otherwise
# rewrite the suite's asserts under its own configuration.
RUN = """
import json, sys
from pathlib import Path
from autograder.grading import run_suites_for_all
from autograder.impl import load_implementation
reference = load_implementation("reference")
results, errors = run_suites_for_all([reference, reference], seed=1, device="cpu", suites_dir=Path(sys.argv[1]))
print(json.dumps({"errors": errors, "results": [[[c.case, c.status, c.message] for c in cases] for cases in results]}))
"""


def test_fanout_records_setup_failures_and_runs_teardown(tmp_path: Path):
    (tmp_path / "test_a.py").write_text(SUITE, encoding="utf-8")
    (tmp_path / "test_b.py").write_text(LATER, encoding="utf-8")
    run = subprocess.run([sys.executable, "-c", RUN, str(tmp_path)], capture_output=True, text=True,
                         timeout=120, check=True)
    out = json.loads(run.stdout.splitlines()[-1])
    assert out["errors"] == []
    assert len(out["results"]) == 2
    for cases in out["results"]:  # both implementations see the same outcomes
        outcome = {case: (status, message) for case, status, message in cases}
        assert set(outcome) == {"fixture_fails", "passes", "fails", "after_the_first_module"}
        status, message = outcome["fixture_fails"]
        assert status == "error"
        assert "grader error while preparing the case" in message
        assert "the case's inputs could not be built" in message
        assert outcome["passes"] == ("passed", "")
        assert outcome["fails"] == ("failed", "a property check failed: one is not two")
        assert outcome["after_the_first_module"][0] == "passed", outcome["after_the_first_module"]

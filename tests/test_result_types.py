"""The result writers, the reports and the gradebook read results without the grader's weight."""
from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["autograder.result_types", "autograder.results", "autograder.reports",
                                    "autograder.gradebook"])
def test_importing_a_reader_of_results_imports_no_torch_pytest_or_grader(module):
    script = (f"import sys, {module}; "
              "print(sorted(m for m in ('torch', 'pytest', 'autograder.grading', 'autograder.collect', "
              "'autograder.scoring', 'autograder.judge') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_function_status_from_its_cases():
    from autograder.result_types import CaseResult, FunctionScore, ScoredCase

    def function(*statuses):
        cases = [ScoredCase(CaseResult("masks.causal_mask", f"c{i}", 1.0, s), 0.0, 1.0) for i, s in enumerate(statuses)]
        return FunctionScore("masks.causal_mask", 2.0, cases).status

    assert function("passed", "passed") == "passed"
    assert function("not implemented") == "not implemented"
    assert function("passed", "failed") == "partial"
    assert function("failed", "error") == "failed"

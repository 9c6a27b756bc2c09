"""A pytest plugin object that records each case of a hidden-suite run for scoring and reports.

Feedback is built from exception messages only: never from tracebacks, which would show the
hidden suite's source to the student.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from autograder.checking import CheckFailure
from autograder.impl import NOT_IMPLEMENTED
from autograder.judge import DiagnosedFailure, SandboxFailure
from autograder.plugin import CACHE_KEY, IMPL_KEY, JUDGE_KEY


@dataclass
class CaseResult:
    """One hidden-suite case."""

    qualname: str  # "<module>.<function>"
    case: str  # test name without "test_", with parameters
    weight: float
    status: str  # "passed" | "failed" | "not implemented" | "error"
    message: str = ""
    mistake: str | None = None
    hint: str | None = None
    duration_s: float = 0.0
    heatmap: dict[str, Any] | None = None  # {"got": [[...]], "expected": [[...]]} for attention
    compares_values: bool = False  # made a judge.compare (else a property or error-handling case)

    @property
    def module(self) -> str:
        return self.qualname.split(".")[0]

    @property
    def function(self) -> str:
        return self.qualname.split(".")[1]


def _feedback(excinfo: pytest.ExceptionInfo) -> str:
    error = excinfo.value
    if isinstance(error, (CheckFailure, SandboxFailure)):
        return str(error)
    if isinstance(error, AssertionError):
        first = str(error).splitlines()[0] if str(error) else ""
        return f"a property check failed: {first}" if first else "a property check failed"
    return f"{type(error).__name__}: {str(error)[:500]}"


def _attention_weights(judge: Any) -> dict[str, Any] | None:
    """The first (L, S) slice of the student's and the expected attention weights, if any."""
    import torch

    for record in reversed(judge.comparisons):
        got, expected = record.got, record.expected
        if not (isinstance(got, tuple) and isinstance(expected, tuple) and len(expected) == 2):
            continue
        g, e = got[1] if len(got) == 2 else None, expected[1]
        if isinstance(g, torch.Tensor) and isinstance(e, torch.Tensor) and g.shape == e.shape and e.dim() >= 2:
            # (..., L, S) -> (L, S): the first batch element and head
            g2 = g.reshape(-1, *e.shape[-2:])[0].float().cpu()
            e2 = e.reshape(-1, *e.shape[-2:])[0].float().cpu()
            return {"got": g2[:16, :16].tolist(), "expected": e2[:16, :16].tolist()}
    return None


class ResultCollector:
    """Pass to pytest.main(plugins=[...]); `cases` fills as tests finish."""

    def __init__(self, implementation: Any = None, cache: Any = None):
        self.implementation = implementation
        self.cache = cache
        self.cases: list[CaseResult] = []
        self.collection_errors: list[str] = []
        self.started = time.perf_counter()

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        if self.implementation is not None:
            config.stash[IMPL_KEY] = self.implementation
        if self.cache is not None:
            config.stash[CACHE_KEY] = self.cache

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors.append(f"{report.nodeid}: {str(report.longrepr)[-800:]}")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        report = yield
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self._record(item, call, report)
        return report

    def _record(self, item: pytest.Item, call: pytest.CallInfo, report: pytest.TestReport) -> None:
        marker = item.get_closest_marker("function")
        if marker is None:
            return
        weight = item.get_closest_marker("weight")
        case = item.name.removeprefix("test_")
        result = CaseResult(marker.args[0], case, float(weight.args[0]) if weight else 1.0, "passed")
        result.duration_s = report.duration
        judge = item.stash.get(JUDGE_KEY, None)
        result.compares_values = bool(judge is not None and judge.comparisons)
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            reason = reason.removeprefix("Skipped: ")
            result.status = "not implemented" if NOT_IMPLEMENTED in reason else "failed"
            result.message = reason
        elif report.failed:
            result.status = "failed" if report.when == "call" else "error"
            result.message = _feedback(call.excinfo) if call.excinfo else "failed"
            if call.excinfo and isinstance(call.excinfo.value, DiagnosedFailure):
                result.mistake = call.excinfo.value.mistake
                result.hint = call.excinfo.value.hint
            if judge is not None and result.module == "attention":
                result.heatmap = _attention_weights(judge)
        self.cases.append(result)

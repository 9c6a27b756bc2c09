"""What grading produces: cases, scored cases, function scores and the whole result.

Plain dataclasses and the standard library only, so the writers (results.json, JUnit, reports),
the gradebook and the exports read results without importing torch, pytest or the grader.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from autograder import __version__

CaseStatus = Literal["passed", "failed", "not implemented", "error"]
FunctionStatus = Literal["passed", "partial", "failed", "not implemented"]


@dataclass
class CaseResult:
    """One hidden-suite case."""

    qualname: str  # "<module>.<function>"
    case: str  # test name without "test_", with parameters
    weight: float
    status: CaseStatus
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


@dataclass
class ScoredCase:
    case: CaseResult
    score: float
    max_score: float

    @property
    def name(self) -> str:
        return f"{self.case.qualname}: {self.case.case}"


@dataclass
class FunctionScore:
    qualname: str
    points: float
    cases: list[ScoredCase] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(c.score for c in self.cases)

    @property
    def status(self) -> FunctionStatus:
        statuses = {c.case.status for c in self.cases}
        if statuses == {"passed"}:
            return "passed"
        if statuses == {"not implemented"}:
            return "not implemented"
        return "partial" if "passed" in statuses else "failed"

    @property
    def mistakes(self) -> list[str]:
        return sorted({c.case.mistake for c in self.cases if c.case.mistake})


@dataclass
class GradeResult:
    """Everything the results file, the reports and the gradebook need."""

    student: str
    submission: str
    digest: str
    functions: list[FunctionScore]
    seed: int
    sandbox: str
    execution_time: float
    notes: list[str] = field(default_factory=list)
    grader_version: str = __version__
    error: str | None = None
    unreadable: bool = False  # the submission itself could not be read: `error` says why

    @property
    def score(self) -> float:
        return round(sum(f.score for f in self.functions), 6)

    @property
    def max_score(self) -> float:
        return round(sum(f.points for f in self.functions), 6)

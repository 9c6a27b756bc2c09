"""Points per case: a function's points (grading.yaml) split over its cases by weight."""
from __future__ import annotations

from autograder.config import GradingConfig
from autograder.contract import contract
from autograder.result_types import CaseResult, FunctionScore, ScoredCase


def score_cases(cases: list[CaseResult], config: GradingConfig) -> list[FunctionScore]:
    """Every graded function of the config, in contract order, with its scored cases."""
    by_function: dict[str, list[CaseResult]] = {}
    for case in cases:
        by_function.setdefault(case.qualname, []).append(case)
    scores = []
    for module, functions in contract().items():
        for function in functions:
            qualname = f"{module}.{function}"
            points = config.points(qualname)
            if points <= 0 and qualname not in by_function:
                continue
            mine = by_function.get(qualname) or [
                CaseResult(qualname, "no cases", 1.0, "error", "grader error: no hidden case of this function ran")
            ]
            total_weight = sum(c.weight for c in mine) or 1.0
            function_score = FunctionScore(qualname, points)
            value_cases = [c for c in mine if c.compares_values]
            # Property and error-handling cases (inputs unchanged, dtype kept, ValueError on bad
            # input) earn credit only once the function computes a right answer somewhere: a
            # function that returns its input cannot collect points for not modifying it.
            right_somewhere = not value_cases or any(c.status == "passed" for c in value_cases)
            for case in mine:
                share = points * case.weight / total_weight
                earned = share if case.status == "passed" else 0.0
                if earned and not case.compares_values and not right_somewhere:
                    earned = 0.0
                    case.status = "failed"
                    case.message = ("no credit yet: this property holds, but none of the "
                                    "function's value cases is right")
                function_score.cases.append(ScoredCase(case, earned, share))
            scores.append(function_score)
    return scores

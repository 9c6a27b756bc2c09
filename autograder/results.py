"""Gradescope's results.json, and JUnit XML, from a GradeResult (DESIGN "Results contract")."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from autograder.result_types import GradeResult, ScoredCase
from autograder.student_text import terminal_name, terminal_text

STATUS = {"passed": "passed"}  # Gradescope knows passed/failed only


def case_output(scored: ScoredCase, hint: str | None) -> str:
    """What the student reads for one case: got/expected (the failure message) and the hint."""
    case = scored.case
    if case.status == "passed":
        return "passed"
    lines = [case.message or case.status]
    if case.mistake:
        lines.append(f"mistake: {case.mistake}")
    if hint and hint not in lines[0]:
        lines.append(f"hint: {hint}")
    return "\n".join(lines)


def gradescope_results(result: GradeResult, visibility: str = "after_published") -> dict[str, Any]:
    """The results.json document."""
    tests = []
    for function in result.functions:
        for scored in function.cases:
            case = scored.case
            tests.append({
                "name": scored.name,
                "score": round(scored.score, 6),
                "max_score": round(scored.max_score, 6),
                "status": STATUS.get(case.status, "failed"),
                "visibility": visibility,
                "output": case_output(scored, case.hint),
                "extra_data": {
                    "module": case.module,
                    "function": case.function,
                    "mistake": case.mistake,
                    "hidden": True,
                },
            })
    return {
        "score": result.score,
        "execution_time": round(result.execution_time, 3),
        "output": summary_text(result),
        "tests": tests,
        "extra_data": {
            "student": result.student,
            "submission_sha256": result.digest,
            "seed": result.seed,
            "sandbox": result.sandbox,
            "grader_version": result.grader_version,
            "max_score": result.max_score,
        },
    }


def summary_text(result: GradeResult) -> str:
    lines = [f"Score {result.score:g} / {result.max_score:g}."]
    if result.unreadable:  # nothing ran: no sandbox or seed to speak of
        return "\n".join(lines + [f"The submission could not be read (every test scores 0): {result.error}"])
    lines.append(f"Sandbox: {result.sandbox}. Inputs seed: {result.seed}.")
    lines += result.notes
    if result.error:
        lines.append(f"Grading error: {result.error}")
    return "\n".join(lines)


def write_results(result: GradeResult, path: Path, visibility: str = "after_published") -> None:
    path.write_text(json.dumps(gradescope_results(result, visibility), indent=2) + "\n", encoding="utf-8")


def junit_xml(result: GradeResult) -> str:
    """One <testsuite> per module, one <testcase> per case; not-implemented cases are skipped."""
    root = ET.Element("testsuites", name=f"autograder {terminal_name(result.student)}")
    by_module: dict[str, list[ScoredCase]] = {}
    for function in result.functions:
        for scored in function.cases:
            by_module.setdefault(scored.case.module, []).append(scored)
    for module, cases in by_module.items():
        failures = sum(c.case.status in ("failed", "error") for c in cases)
        skipped = sum(c.case.status == "not implemented" for c in cases)
        suite = ET.SubElement(root, "testsuite", name=module, tests=str(len(cases)),
                              failures=str(failures), skipped=str(skipped))
        for scored in cases:
            case = ET.SubElement(suite, "testcase", classname=scored.case.qualname,
                                 name=scored.case.case, time=f"{scored.case.duration_s:.3f}")
            # XML 1.0 cannot hold most control characters: student text gets them escaped
            if scored.case.status == "not implemented":
                ET.SubElement(case, "skipped", message=terminal_text(scored.case.message))
            elif scored.case.status != "passed":
                first_line = (scored.case.message.splitlines() or [""])[0][:200]
                failure = ET.SubElement(case, "failure", message=terminal_text(first_line))
                failure.text = terminal_text(case_output(scored, scored.case.hint))
    return ET.tostring(root, encoding="unicode")

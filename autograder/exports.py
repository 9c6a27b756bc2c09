"""Exports of the class gradebook: CSV, Canvas gradebook CSV, results.json and feedback per
student, and an HTML class summary (DESIGN "Gradebook and batch").

Every export reads `Gradebook.latest(include_errors=True)`: a student's newest graded
submission, or, for a student none of whose submissions could be graded, the newest error.

Numbers are written to at most 4 decimals without trailing zeros (``17.5``, ``20``,
``66.6667``); a missing number is an empty cell.
"""
from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import statistics
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from autograder import templating
from autograder.csv_cells import SafeWriter
from autograder.gradebook import Gradebook, SubmissionRow

CSV_COLUMNS = ["student", "score", "max_score", "percent", "status", "graded_at", "submission_sha256"]
CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
QUIZ_PREFIX = "quiz:"



def number(value: float | None) -> str:
    """A score as a CSV cell: 17.5 -> "17.5", 20.0 -> "20", 2/3 -> "0.6667", None -> ""."""
    if value is None:
        return ""
    text = f"{round(float(value), 4):.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def safe_dirname(student: str) -> str:
    """A folder name for a student id that cannot escape `out_dir` or clash with another.

    Plain ids (letters, digits, ``._@+-``, not starting with a dot) are kept as they are;
    any other id is sanitised and suffixed with 8 hex digits of its SHA-256:
    ``"../x"`` -> ``"_x-<hash>"``.
    """
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}", student):
        return student
    cleaned = re.sub(r"[^A-Za-z0-9._@+-]", "_", student).lstrip(".")[:80] or "_"
    return f"{cleaned}-{hashlib.sha256(student.encode()).hexdigest()[:8]}"


def _student_dirs(rows: list[SubmissionRow], out_dir: Path) -> list[tuple[SubmissionRow, Path]]:
    """(row, out_dir/<safe name>) per row; refuses two students that would share a folder."""
    pairs = []
    seen: dict[str, str] = {}
    for row in rows:
        name = safe_dirname(row.student)
        if name.lower() in seen:  # case-insensitive file systems too
            raise ValueError(f"students {seen[name.lower()]!r} and {row.student!r} map to one folder {name!r}")
        seen[name.lower()] = row.student
        pairs.append((row, out_dir / name))
    return pairs


# -- CSV ---------------------------------------------------------------------------------------


def export_csv(gradebook: Gradebook, path: Path | str) -> int:
    """One row per student: ``student, score, max_score, percent, status, graded_at,
    submission_sha256``, then one ``quiz:<name>`` column per quiz (its score; empty when the
    student has none). `status` is ``graded``, ``error`` or ``missing`` (quiz scores but no
    submission). Rows sorted by student. Returns the number of rows written.

    Example (alice graded 17.5/20, quiz attention 4)::

        student,score,max_score,percent,status,graded_at,submission_sha256,quiz:attention
        alice,17.5,20,87.5,graded,2025-01-31T09:00:00+00:00,aaaa...,4
    """
    submissions = {row.student: row for row in gradebook.latest(include_errors=True)}
    quizzes = gradebook.quizzes()
    quiz_scores: dict[str, dict[str, float]] = {}
    for q in gradebook.quiz_scores():
        quiz_scores.setdefault(q.student, {})[q.quiz] = q.score
    students = sorted(set(submissions) | set(quiz_scores))
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = SafeWriter(handle)  # student ids and names cannot run as formulas
        writer.writerow(CSV_COLUMNS + [QUIZ_PREFIX + quiz for quiz in quizzes])
        for student in students:
            row = submissions.get(student)
            if row is None:
                cells = [student, "", "", "", "missing", "", ""]
            else:
                percent = None if row.percent is None else round(row.percent, 2)
                cells = [student, number(row.score), number(row.max_score), number(percent),
                         row.status, row.graded_at, row.submission_sha256]
            mine = quiz_scores.get(student, {})
            writer.writerow(cells + [number(mine.get(quiz)) for quiz in quizzes])
    return len(students)


# -- Canvas ------------------------------------------------------------------------------------


def load_canvas_roster(path: Path | str, key: str = "SIS Login ID") -> dict[str, dict[str, str]]:
    """Read a gradebook CSV exported from Canvas (Grades > Export) into a roster mapping.

    The mapping goes from the value of column `key` (our student id) to the five identity
    columns of that row. The "Points Possible" row and rows without a `key` value are skipped.
    """
    roster: dict[str, dict[str, str]] = {}
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CANVAS_IDENTITY if c not in (reader.fieldnames or [])]
        if missing or key not in (reader.fieldnames or []):
            raise ValueError(f"{path}: not a Canvas gradebook export, missing column(s) "
                             f"{', '.join(missing or [key])}")
        for row in reader:
            if (row.get("Student") or "").strip() == "Points Possible" or not row.get(key):
                continue
            roster[row[key].strip()] = {c: (row.get(c) or "").strip() for c in CANVAS_IDENTITY}
    return roster


def export_canvas_csv(
    gradebook: Gradebook,
    path: Path | str,
    assignment: str = "NLP Transformers autograder",
    *,
    assignment_id: int | None = None,
    points_possible: float | None = None,
    roster: Mapping[str, Mapping[str, str]] | None = None,
) -> list[str]:
    """Write a CSV for Canvas's gradebook import (Grades > Import).

    Format (what Canvas's own export writes and its importer reads back):

    - row 1, the header: ``Student, ID, SIS User ID, SIS Login ID, Section``, then one column
      per assignment. The column is the assignment's name, ``Name (12345)`` to target an
      existing assignment by its Canvas id; a name Canvas does not know creates a new
      assignment on import (Canvas asks for confirmation). The five identity columns come
      first and in exactly this order, as in Canvas's own export: imports with another order
      have been reported to fail.
    - row 2: ``Points Possible`` in the Student column, the identity columns empty, and the
      assignment's points.
    - then one row per student. Canvas matches a row to an enrolled student by its identity
      columns (Canvas user ID, SIS User ID, SIS Login ID) and previews every change before it
      saves; rows it cannot match are reported there, not imported.

    Without a `roster`, a student's id goes to ``SIS Login ID`` (and ``Student``; the other
    identity columns stay empty). A `roster` (see `load_canvas_roster`) maps our student id to
    the five identity columns of that student's Canvas row.

    The points are `points_possible` when given (scores are then scaled by
    ``points_possible / max_score``), otherwise the grader's max_score, which must then be the
    same for every student. A student whose latest submission could not be graded gets an
    empty cell: review those before importing. Returns the student ids the roster lacks
    (written with their id as SIS Login ID), sorted; empty without a roster.

    Example::

        Student,ID,SIS User ID,SIS Login ID,Section,NLP Transformers autograder
        Points Possible,,,,,20
        alice,,,alice,,17.5
    """
    rows = gradebook.latest(include_errors=True)
    maxima = sorted({row.max_score for row in rows if row.status == "graded"})
    if points_possible is None:
        if len(maxima) > 1:
            raise ValueError(
                "students were graded out of different totals "
                f"({', '.join(number(m) for m in maxima)}): pass points_possible to scale them")
        points = maxima[0] if maxima else 0.0
    else:
        points = float(points_possible)
    column = f"{assignment} ({assignment_id})" if assignment_id is not None else assignment
    unmatched: list[str] = []
    scores: dict[str, list[float | None]] = {}
    for row in rows:
        if roster is not None and row.student not in roster:
            unmatched.append(row.student)
        score = None
        if row.status == "graded" and row.score is not None:
            score = row.score
            if points_possible is not None and row.max_score:
                score = row.score * points / row.max_score
        scores[row.student] = [score]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        write_canvas_rows(handle, [(column, points)], scores, roster)
    return sorted(unmatched)


def write_canvas_rows(handle: TextIO, columns: list[tuple[str, float]],
                      scores: Mapping[str, list[float | None]],
                      roster: Mapping[str, Mapping[str, str]] | None = None) -> None:
    """Canvas's import format (see `export_canvas_csv`) for any number of assignment columns:
    `columns` are (column name, points possible), `scores` each student's cell per column
    (None: empty). Without a `roster` entry a student's id is the SIS Login ID."""
    writer = SafeWriter(handle)  # student ids and names cannot run as formulas
    writer.writerow(CANVAS_IDENTITY + [name for name, _ in columns])
    writer.writerow(["Points Possible", *[""] * (len(CANVAS_IDENTITY) - 1),
                     *(number(points) for _, points in columns)])
    for student, cells in scores.items():
        identity = {"Student": student, "ID": "", "SIS User ID": "", "SIS Login ID": student, "Section": ""}
        if roster is not None and student in roster:
            identity.update({c: roster[student].get(c, "") for c in CANVAS_IDENTITY})
        writer.writerow([identity[c] for c in CANVAS_IDENTITY] + [number(c) for c in cells])


# -- results.json and feedback per student ----------------------------------------------------


def export_results_json(gradebook: Gradebook, out_dir: Path | str) -> dict[str, Path]:
    """Write ``out_dir/<student>/results.json``: the stored Gradescope document of each
    student's latest submission (an error row's document has score 0, no tests and the error
    in `output`). Student ids that are not plain file names go through `safe_dirname`.
    Returns {student: path}.
    """
    out_dir = Path(out_dir)
    rows = gradebook.latest(include_errors=True)
    written: dict[str, Path] = {}
    for row, folder in _student_dirs(rows, out_dir):
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / "results.json"
        target.write_text(json.dumps(row.results_json, indent=2) + "\n", encoding="utf-8")
        written[row.student] = target
    return written


def export_feedback(gradebook: Gradebook, out_dir: Path | str) -> dict[str, tuple[Path, Path]]:
    """Write ``out_dir/<student>/feedback.html`` and ``feedback.md`` for each student's latest
    submission: the same report `autograder grade --report` gives, rendered by
    `autograder.reports` from the GradeResult the gradebook rebuilds from its cases table
    (attention heatmaps included). Returns {student: (html, md)}.
    """
    from autograder.reports import render_report

    out_dir = Path(out_dir)
    rows = gradebook.latest(include_errors=True)
    written: dict[str, tuple[Path, Path]] = {}
    for row, folder in _student_dirs(rows, out_dir):
        result = gradebook.grade_result(row)
        if result.error:
            result.notes.append(f"Grading error: {result.error}")
        folder.mkdir(parents=True, exist_ok=True)
        html, md = folder / "feedback.html", folder / "feedback.md"
        html.write_text(render_report(result, "html"), encoding="utf-8")
        md.write_text(render_report(result, "md"), encoding="utf-8")
        written[row.student] = (html, md)
    return written


# -- class summary ----------------------------------------------------------------------------


def _histogram_png(percents: list[float]) -> str:
    """A histogram of scores in percent, 10-point bins, as base64 PNG."""
    from matplotlib.figure import Figure  # no pyplot: no global figure state, no GUI backend

    figure = Figure(figsize=(6.0, 3.0), constrained_layout=True)
    axes = figure.subplots()
    axes.hist(percents, bins=list(range(0, 101, 10)), color="#4c72b0", edgecolor="white")
    axes.set_xlim(0, 100)
    axes.set_xlabel("score (%)")
    axes.set_ylabel("students")
    axes.yaxis.get_major_locator().set_params(integer=True)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def class_statistics(gradebook: Gradebook) -> dict[str, Any]:
    """The numbers behind the class summary, over each student's latest submission.

    - `pass_rate_by_test`: per case name, the share of graded students who passed that case;
    - `pass_rate_by_function`: per function, the share of graded students who passed all of
      its cases;
    - `mistakes`: (mistake id, number of students whose latest submission shows it, functions),
      most frequent first, ties by id.

    An unreadable submission (graded 0 with its reason, autograder/unreadable.py) counts in the
    scores and fails every function, but ran no case: it is left out of `pass_rate_by_test`.
    """
    latest = gradebook.latest(include_errors=True)
    graded = [row for row in latest if row.status == "graded"]
    percents = [row.percent for row in graded if row.percent is not None]
    scores = [row.score for row in graded if row.score is not None]
    test_passes: dict[str, list[int]] = {}
    function_passes: dict[str, list[int]] = {}
    mistakes: Counter[str] = Counter()
    mistake_functions: dict[str, set[str]] = {}
    for row in graded:
        cases = gradebook.cases(row.id)
        function_ok: dict[str, bool] = {}
        seen: set[str] = set()
        for case in cases:
            passed = case.status == "passed"
            if not _unreadable(row):
                tally = test_passes.setdefault(case.name, [0, 0])
                tally[0] += passed
                tally[1] += 1
            qualname = f"{case.module}.{case.function}"
            function_ok[qualname] = function_ok.get(qualname, True) and passed
            if case.mistake:
                seen.add(case.mistake)
                mistake_functions.setdefault(case.mistake, set()).add(qualname)
        for qualname, ok in function_ok.items():
            tally = function_passes.setdefault(qualname, [0, 0])
            tally[0] += ok
            tally[1] += 1
        mistakes.update(seen)
    return {
        "students": len(latest),
        "graded": len(graded),
        "errors": len(latest) - len(graded),
        "unreadable": sum(_unreadable(row) for row in graded),
        "submissions": len(gradebook.submissions()),
        "mean_score": statistics.fmean(scores) if scores else None,
        "median_score": statistics.median(scores) if scores else None,
        "mean_percent": statistics.fmean(percents) if percents else None,
        "median_percent": statistics.median(percents) if percents else None,
        "percents": percents,
        "pass_rate_by_test": {k: v[0] / v[1] for k, v in test_passes.items()},
        "pass_rate_by_function": {k: v[0] / v[1] for k, v in function_passes.items()},
        "mistakes": [(m, n, sorted(mistake_functions[m]))
                     for m, n in sorted(mistakes.items(), key=lambda item: (-item[1], item[0]))],
        "rows": latest,
    }


def _unreadable(row: SubmissionRow) -> bool:
    """A row graded 0 because the submission could not be read (only those carry an error)."""
    return row.status == "graded" and bool(row.error)


def class_summary_html(gradebook: Gradebook, path: Path | str, *, title: str = "Class summary",
                       top_mistakes: int = 15, similarity: Any = None) -> dict[str, Any]:
    """Write the HTML class summary (score histogram, mean/median, pass rate per function and
    per test, the most frequent mistakes, one line per student; with `similarity`, a
    SimilarityReport, its flagged pairs and clusters). Returns the statistics."""
    stats = class_statistics(gradebook)
    histogram = _histogram_png(stats["percents"]) if stats["percents"] else None
    html = templating.HTML.get_template("class_summary.html.j2").render(
        title=title, stats=stats, histogram=histogram,
        mistakes=stats["mistakes"][:top_mistakes], number=number, similarity=similarity,
    )
    Path(path).write_text(html, encoding="utf-8")
    return stats

"""Human-readable reports of one graded submission: terminal table, Markdown, HTML."""
from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from autograder import templating
from autograder.result_types import GradeResult
from autograder.results import case_output
from autograder.student_text import rich_name, rich_text


def print_table(result: GradeResult, console: Console | None = None) -> None:
    """A per-function table: points, status, the mistake named, the first failure message."""
    console = console or Console()
    # Student text (the id, failure messages, notes naming files) goes in as rich Text, never
    # as markup: `[red]` in a name prints as written, control characters as escapes.
    title = Text.assemble(rich_name(result.student), f": {result.score:.2f} / {result.max_score:g}")
    table = Table(title=title, show_lines=False)
    table.add_column("function")
    table.add_column("points", justify="right")
    table.add_column("status")
    table.add_column("feedback", overflow="fold")
    colours = {"passed": "green", "partial": "yellow", "not implemented": "dim", "failed": "red"}
    for function in result.functions:
        first_failure = next((c.case for c in function.cases if c.case.status != "passed"), None)
        feedback = Text()
        if first_failure is not None:
            if function.mistakes:
                feedback.append(", ".join(function.mistakes) + ": ", style="bold")
            first_line = first_failure.message.splitlines()[0] if first_failure.message else ""
            feedback.append_text(rich_text(first_line, keep_newlines=False))
        status = function.status
        table.add_row(function.qualname, f"{function.score:.2f}/{function.points:g}",
                      Text(status, style=colours.get(status, "white")), feedback)
    console.print(table)
    console.print(f"sandbox: {result.sandbox}; seed {result.seed}; {result.execution_time:.1f} s",
                  markup=False, highlight=False)
    for note in result.notes:
        console.print(Text.assemble(("note:", "yellow"), " ", rich_text(note)))


def _heatmap_png(got: list, expected: list) -> str:
    """Side-by-side heatmaps (student vs expected weights) as a base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.0), constrained_layout=True)
    for ax, data, title in zip(axes, (got, expected), ("your weights", "expected weights"), strict=True):
        image = ax.imshow(data, vmin=0.0, vmax=1.0, cmap="viridis")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("key position", fontsize=8)
        ax.set_ylabel("query position", fontsize=8)
    fig.colorbar(image, ax=axes, shrink=0.8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _view(result: GradeResult, with_images: bool) -> dict[str, Any]:
    functions = []
    for function in result.functions:
        cases = []
        heatmap_done = False
        for scored in function.cases:
            case = scored.case
            image = None
            if with_images and case.heatmap and not heatmap_done:
                image = _heatmap_png(case.heatmap["got"], case.heatmap["expected"])
                heatmap_done = True  # one picture per function is enough
            cases.append({"name": case.case, "status": case.status, "score": scored.score,
                          "max_score": scored.max_score, "output": case_output(scored, case.hint),
                          "mistake": case.mistake, "heatmap": image})
        functions.append({"qualname": function.qualname, "score": function.score,
                          "points": function.points, "status": function.status,
                          "mistakes": function.mistakes, "cases": cases})
    return {"result": result, "functions": functions}


def render_report(result: GradeResult, fmt: str) -> str:
    """`fmt` is "html" or "md"."""
    template = (templating.HTML if fmt == "html" else templating.MARKDOWN).get_template(f"report.{fmt}.j2")
    return template.render(**_view(result, with_images=(fmt == "html")))


def write_report(result: GradeResult, path: Path) -> None:
    suffix = path.suffix.lower()
    fmt = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md"}.get(suffix)
    if fmt is None:
        raise ValueError(f"--report {path}: expected a .html or .md file name")
    # an undecodable byte of a name or a lone surrogate a student printed is written escaped
    path.write_text(render_report(result, fmt), encoding="utf-8", errors="backslashreplace")

"""Human-readable reports of one graded submission: terminal table, Markdown, HTML."""
from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from rich.console import Console
from rich.table import Table

from autograder.result_types import GradeResult
from autograder.results import case_output

_ENV = Environment(
    loader=PackageLoader("autograder", "templates"),
    undefined=StrictUndefined,
    autoescape=select_autoescape(["html", "html.j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def print_table(result: GradeResult, console: Console | None = None) -> None:
    """A per-function table: points, status, the mistake named, the first failure message."""
    console = console or Console()
    table = Table(title=f"{result.student}: {result.score:.2f} / {result.max_score:g}", show_lines=False)
    table.add_column("function")
    table.add_column("points", justify="right")
    table.add_column("status")
    table.add_column("feedback", overflow="fold")
    colours = {"passed": "green", "partial": "yellow", "not implemented": "dim", "failed": "red"}
    for function in result.functions:
        first_failure = next((c.case for c in function.cases if c.case.status != "passed"), None)
        feedback = ""
        if first_failure is not None:
            feedback = first_failure.message.splitlines()[0] if first_failure.message else ""
            if function.mistakes:
                feedback = f"[bold]{', '.join(function.mistakes)}[/bold]: " + feedback
        status = function.status
        table.add_row(function.qualname, f"{function.score:.2f}/{function.points:g}",
                      f"[{colours.get(status, 'white')}]{status}[/]", feedback)
    console.print(table)
    console.print(f"sandbox: {result.sandbox}; seed {result.seed}; {result.execution_time:.1f} s")
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}")


def _heatmap_png(got: list, expected: list) -> str:
    """Side-by-side heatmaps (student vs expected weights) as a base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.0), constrained_layout=True)
    for ax, data, title in zip(axes, (got, expected), ("your weights", "expected weights")):
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
    template = _ENV.get_template(f"report.{fmt}.j2")
    return template.render(**_view(result, with_images=(fmt == "html")))


def write_report(result: GradeResult, path: Path) -> None:
    suffix = path.suffix.lower()
    fmt = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md"}.get(suffix)
    if fmt is None:
        raise ValueError(f"--report {path}: expected a .html or .md file name")
    path.write_text(render_report(result, fmt), encoding="utf-8")

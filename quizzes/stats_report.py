"""The `quiz stats` report: rich tables in the terminal, and an HTML page (template
templates/stats_report.html.j2) with a difficulty-vs-discrimination scatter and the score
histogram, from the :class:`~quizzes.stats.QuizStats` that quizzes/stats.py computes.
"""
from __future__ import annotations

import base64
import io

from quizzes.stats import GROUP_FRACTION, WEAK_DISCRIMINATION, QuizStats


def _fmt(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def print_report(stats: QuizStats, console=None) -> None:
    """Rich tables: one row per item, then the distractor tables."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console(width=max(100, Console().width))  # ids and choices need room
    table = Table(title=f"Item analysis — {stats.n_students} students, {len(stats.items)} items")
    for col, just in [("Question", "left"), ("Max", "right"), ("Difficulty p", "right"),
                      ("Discrimination r", "right"), ("Full marks", "right"), ("Flags", "left")]:
        table.add_column(col, justify=just)
    for it in stats.items:
        table.add_row(it.question, f"{it.max_score:g}", _fmt(it.difficulty), _fmt(it.discrimination),
                      _fmt(it.full_marks), ", ".join(it.flags))
    console.print(table)
    console.print(
        f"Total: mean {stats.mean_total:.2f} / {stats.max_total:g}, sd {stats.sd_total:.2f}; "
        f"KR-20 {_fmt(stats.kr20)} (items scored 1 at full marks, else 0); Cronbach's alpha {_fmt(stats.alpha)}"
    )
    for note in stats.notes:
        console.print(f"[dim]Note: {note}[/dim]")
    for it in stats.items:
        if not it.options:
            continue
        t = Table(title=f"Distractors — {it.question} (groups of {stats.group_size})")
        for col in ("Option", "Upper 27%", "Lower 27%", "Upper − lower", "All"):
            t.add_column(col, justify="left" if col == "Option" else "right")
        for o in it.options:
            t.add_row(o.option, _fmt(o.upper), _fmt(o.lower), f"{o.discrimination:+.2f}", _fmt(o.overall))
        console.print(t)


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def plots(stats: QuizStats) -> dict[str, str]:
    """Base64 PNGs: difficulty vs discrimination scatter and the total-score histogram."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers / CI
    import matplotlib.pyplot as plt

    out = {}
    fig, ax = plt.subplots(figsize=(6, 4))
    pts = [(it.difficulty, it.discrimination, it.question) for it in stats.items if it.discrimination is not None]
    ax.scatter([p[0] for p in pts], [p[1] for p in pts], color="#1f6feb")
    for x, y, label in pts:
        ax.annotate(label, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.axhline(WEAK_DISCRIMINATION, color="grey", ls="--", lw=0.8)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-1.02, 1.02)
    ax.set_xlabel("difficulty p (share of points earned)")
    ax.set_ylabel("corrected point-biserial r")
    ax.set_title("Difficulty vs discrimination")
    out["scatter"] = _png(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(stats.totals, bins=min(20, max(5, len(set(stats.totals)))), range=(0, stats.max_total),
            color="#2da44e", edgecolor="white")
    ax.set_xlabel(f"total score (max {stats.max_total:g})")
    ax.set_ylabel("students")
    ax.set_title("Score distribution")
    out["histogram"] = _png(fig)
    plt.close(fig)
    return out


def render_html(stats: QuizStats, title: str = "Quiz item analysis") -> str:
    """The HTML report (template stats_report.html.j2, autoescaped) with embedded plots."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("quizzes", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
    )
    env.filters["fmt"] = _fmt
    return env.get_template("stats_report.html.j2").render(
        stats=stats, title=title, images=plots(stats), group_percent=round(GROUP_FRACTION * 100)
    )

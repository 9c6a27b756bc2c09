"""`autograder similarity`: find copied solutions across a class, per contract function."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from autograder.outputs import (
    EXIT_SUBMISSION,
    EXIT_USAGE,
    OutputPathError,
    prepare_file,
)
from autograder.similarity.compare import DEFAULT_THRESHOLD
from autograder.student_text import markup_name, rich_name, terminal_name, terminal_text

CACHE_NAME = ".similarity-cache.sqlite"  # a dot name: `batch` and `similarity` never read it as a submission


def _items(folder: Path, roster: Path | None):
    """Enumerate the folder exactly as `autograder batch` does (errors exit with one line)."""
    from autograder.batch import discover, read_roster
    from autograder.intake import SubmissionError

    try:
        items = discover(folder, read_roster(roster) if roster else None)
    except SubmissionError as exc:  # before ValueError, which it subclasses
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_SUBMISSION)
    except ValueError as exc:  # the roster
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    if not items:
        click.echo(f"error: {folder}: no submissions (folders, .py, .ipynb or .zip) found", err=True)
        sys.exit(EXIT_SUBMISSION)
    return items


def compute(folder: Path, items, *, cache: Path | None, jobs: int | None, console):
    """Fingerprint and compare with a progress bar; returns the SimilarityRun."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from autograder.similarity.run import run_similarity

    with Progress(TextColumn("[bold]fingerprinting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console) as progress:
        task = progress.add_task("", total=len(items))
        run = run_similarity(items, cache_path=cache, jobs=jobs,
                             on_progress=lambda label: progress.update(task, advance=1,
                                                                       description=markup_name(label)))
    if run.cache_problem:
        console.print(f"note: {run.cache_problem}")
    return run


def print_pairs(report, console, limit: int = 20) -> None:
    from rich.table import Table

    flagged = [p for p in report.pairs if p.flagged]
    table = Table(title=f"flagged pairs: score or a function at or above {report.threshold} "
                        f"({len(flagged)} of {report.students * (report.students - 1) // 2})")
    for column in ("student", "student", "score", "most similar function"):
        table.add_column(column, justify="right" if column == "score" else "left")
    for pair in flagged[:limit]:
        top = next(iter(pair.functions.items()), ("-", 0.0))
        table.add_row(rich_name(pair.a), rich_name(pair.b), f"{pair.score:.2f}", f"{top[0]} {top[1]:.2f}")
    console.print(table)
    for cluster in report.clusters:  # student ids are student text: escaped, never markup
        if len(cluster.students) >= 3:
            console.print(f"cluster of {len(cluster.students)}: "
                          f"{', '.join(terminal_name(s) for s in cluster.students)}", markup=False, highlight=False)


def similarity_for_batch(folder: Path, items, console):
    """`autograder batch --similarity`: the same comparison on the batch's items (the folder's
    default cache), printed; returns the report for the class summary."""
    from autograder.similarity.report import build_report

    run = compute(folder, items, cache=folder / CACHE_NAME, jobs=None, console=console)
    report = build_report(run, DEFAULT_THRESHOLD)
    print_pairs(report, console)
    return report


class _OneLineUsageError(click.UsageError):
    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()} (see --help)", err=True)


class OneLineUsageCommand(click.Command):
    """Bad usage (a --threshold out of range, a file given as SUBMISSIONS) is one line, exit 2,
    not click's usage block."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise _OneLineUsageError(exc.format_message()) from None


@click.command("similarity", cls=OneLineUsageCommand)
@click.argument("submissions", type=click.Path(path_type=Path, file_okay=False))
@click.option("--report", "report_path", type=click.Path(path_type=Path, dir_okay=False),
              help="write the HTML report: ranked pairs, clusters, functions side by side")
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False),
              help="write the pairs as JSON: {pairs: [{a, b, score, functions}], threshold, ...}")
@click.option("--threshold", type=click.FloatRange(0, 1, min_open=True), default=DEFAULT_THRESHOLD,
              show_default=True, help="pair score (0..1) from which a pair is flagged")
@click.option("--roster", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="CSV with columns student,submission mapping file names to student ids")
@click.option("--cache", "cache_path", type=click.Path(path_type=Path, dir_okay=False),
              help=f"fingerprint cache (default: SUBMISSIONS/{CACHE_NAME})")
@click.option("--no-cache", is_flag=True, help="fingerprint every submission afresh, write no cache")
@click.option("--jobs", "-j", type=click.IntRange(1), help="fingerprinting processes (default: one per CPU)")
def similarity_command(submissions: Path, report_path: Path | None, json_path: Path | None, threshold: float,
                       roster: Path | None, cache_path: Path | None, no_cache: bool, jobs: int | None) -> None:
    """Find copied solutions in SUBMISSIONS, per contract function.

    Every entry of SUBMISSIONS (a sub-folder, .py, .ipynb or .zip) is one submission, read as
    `autograder batch` reads it; notebooks are compared on their definitions. Each contract
    function, with the helpers it calls, is normalised (comments, docstrings, formatting,
    identifiers, literals, dead code and the order of definitions do not count) and
    fingerprinted; the starter code and code most of the class shares are no evidence.

    \b
    Exit codes: 0 compared (whatever was found), 2 bad usage or roster,
    3 no readable submission in the folder.
    """
    from rich.console import Console

    from autograder.similarity.report import build_report, write_html, write_json

    console = Console(stderr=False)
    try:  # before any work: a report that cannot be written must not cost the comparison
        prepare_file(json_path, "--json")
        prepare_file(report_path, "--report")
    except OutputPathError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    items = _items(submissions, roster)
    cache = None if no_cache else (cache_path or submissions / CACHE_NAME)
    run = compute(submissions, items, cache=cache, jobs=jobs, console=console)
    if not run.comparison.students:
        click.echo(f"error: {submissions}: no submission could be read "
                   f"({'; '.join(f'{k}: {v}' for k, v in run.skipped.items())})", err=True)
        sys.exit(EXIT_SUBMISSION)
    report = build_report(run, threshold)
    for student, why in run.skipped.items():
        console.print(f"not compared: {terminal_name(student)}: {terminal_text(why, keep_newlines=False)}",
                      soft_wrap=True, markup=False, highlight=False)
    if len(run.comparison.students) == 1:
        console.print(f"note: only {terminal_name(run.comparison.students[0])} could be read: no pair to compare",
                      soft_wrap=True, markup=False)
    print_pairs(report, console)
    if json_path:
        write_json(report, json_path)
        console.print(f"wrote {json_path}")
    if report_path:
        write_html(run, report, report_path)
        console.print(f"wrote {report_path}")

"""Command line interface `autograder`.

Exit codes (every command; :mod:`autograder.outputs`): 0 done (a grade, whatever the score),
1 an internal error (a bug: one line, the traceback in a file), 2 bad usage, grading.yaml or
output path, 3 the submission cannot be read, 4 grading cannot run here (the sandbox worker
cannot start, the gradebook cannot be opened).
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from autograder.config import load_config
from autograder.guard import GuardedGroup
from autograder.intake import SubmissionError
from autograder.outputs import (
    EXIT_ENVIRONMENT,
    EXIT_INTERNAL,
    EXIT_SUBMISSION,
    EXIT_USAGE,
    prepare_dir,
    prepare_file,
)
from autograder.server.command import serve_command, tokens_command
from autograder.similarity.command import similarity_command
from autograder.student_text import (
    markup_name,
    rich_name,
    rich_text,
    safe_streams,
    terminal_name,
    terminal_text,
)
from autograder.yamlsource import YamlError

CHECKS_DIR = Path(__file__).resolve().parent.parent / "exercises" / "checks"


@click.group(cls=GuardedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nlp-transformers-autograder")
def main() -> None:
    """Grade NLP & Transformers submissions.

    \b
    Learners:     autograder check              (the public checks on your exercises/)
    Instructors:  autograder grade alice.ipynb --results results.json --report alice.html

    \b
    Exit codes: 0 done (whatever the score), 1 internal error (traceback saved to a file),
    2 bad usage, grading.yaml or output path, 3 the submission cannot be read,
    4 grading cannot run here (sandbox worker or gradebook unavailable).
    """
    safe_streams()  # a student's file name never ends a run in UnicodeEncodeError (LANG=C)


@main.command()
@click.option("--impl", default="exercises", show_default=True,
              help="what to check: exercises, reference, mistake:<id> or path:<dir>")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def check(impl: str, pytest_args: tuple[str, ...]) -> None:
    """Run the public checks in-process (same as `pytest exercises`).

    Exit codes: 0 every check passed, 1 some check failed, 2 bad usage (an unknown --impl or
    --function, a pytest option that does not exist, nothing selected).
    """
    import pytest

    code = pytest.main([str(CHECKS_DIR), "--impl", impl, *pytest_args])
    # pytest's own codes (4 usage, 5 nothing collected) read as this command line's
    sys.exit({pytest.ExitCode.USAGE_ERROR: EXIT_USAGE, pytest.ExitCode.NO_TESTS_COLLECTED: EXIT_USAGE,
              pytest.ExitCode.INTERNAL_ERROR: EXIT_INTERNAL}.get(code, int(code)))


@main.command()
@click.argument("submission", type=click.Path(path_type=Path))
@click.option("--results", type=click.Path(path_type=Path, dir_okay=False),
              help="write Gradescope's results.json here")
@click.option("--report", type=click.Path(path_type=Path, dir_okay=False),
              help="write a feedback report: .html (with attention heatmaps) or .md")
@click.option("--junit", type=click.Path(path_type=Path, dir_okay=False), help="write JUnit XML here")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="grading.yaml to use (default: the project's)")
@click.option("--seed", type=int, help="seed of the random inputs (default: fresh; printed)")
@click.option("--student", help="student id (default: from the file or folder name)")
@click.option("--quiet", is_flag=True, help="no table on the terminal")
def grade(submission: Path, results: Path | None, report: Path | None, junit: Path | None,
          config_path: Path | None, seed: int | None, student: str | None, quiet: bool) -> None:
    """Grade one SUBMISSION (folder, .py, .zip or .ipynb) in the sandbox.

    Student code runs in a separate, locked-down worker process; the hidden suites and the
    reference stay in this process and see only the values the worker returns.
    """
    try:
        config = load_config(config_path)
    except YamlError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    if report is not None and report.suffix.lower() not in (".html", ".htm", ".md", ".markdown"):
        click.echo(f"error: --report {report}: expected a .html or .md file name", err=True)
        sys.exit(EXIT_USAGE)
    for path, option in ((results, "--results"), (report, "--report"), (junit, "--junit")):
        prepare_file(path, option)  # before grading: a bad path costs nothing
    from autograder.workers import worker_from_config

    # The worker imports torch on one core while this process loads pytest and the suites.
    worker = worker_from_config(config).start(wait=False)
    try:
        from autograder.grading import grade_submission

        # an unreadable submission comes back as a result at 0 (the outputs still get written)
        result = grade_submission(submission, config, seed=seed, config_path=config_path,
                                  student=student, worker=worker)
    finally:
        worker.close()
    from autograder.reports import print_table, write_report
    from autograder.results import junit_xml, write_results

    if results:
        write_results(result, results, config.hidden_visibility)
    if report:
        write_report(result, report)
    if junit:
        junit.write_text(junit_xml(result), encoding="utf-8", errors="backslashreplace")
    if result.unreadable:
        click.echo(f"error: {terminal_text(result.error, keep_newlines=False)}", err=True)
        sys.exit(EXIT_SUBMISSION)
    if not quiet:
        print_table(result)


@main.command()
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option("--gradebook", type=click.Path(path_type=Path, dir_okay=False), default=Path("grades.sqlite"),
              show_default=True, help="SQLite gradebook; re-running resumes and never grades twice")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path, dir_okay=False), help="export grades as CSV")
@click.option("--canvas", type=click.Path(path_type=Path, dir_okay=False), help="export a Canvas gradebook CSV")
@click.option("--results-dir", type=click.Path(path_type=Path, file_okay=False),
              help="write <student>/results.json (Gradescope format) for each student")
@click.option("--feedback-dir", type=click.Path(path_type=Path, file_okay=False),
              help="write <student>/feedback.html and .md for each student")
@click.option("--summary", type=click.Path(path_type=Path, dir_okay=False),
              help="write the class summary HTML (histogram, pass rates, common mistakes)")
@click.option("--similarity", "with_similarity", is_flag=True,
              help="also look for copied code (as `autograder similarity`): flagged pairs and "
              "clusters on the terminal and in the --summary")
@click.option("--roster", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="CSV with columns student,submission mapping file names to student ids")
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="grading processes (default: one per CPU)")
@click.option("--group", "group_size", type=click.IntRange(1, 16), default=1, show_default=True,
              help="submissions graded together by one process, one warm worker each. More "
              "than 1 pays only when there are more CPUs than --jobs: each extra worker costs "
              "a torch import at start and the process's threads contend for one interpreter")
@click.option("--cluster", help="grade on Dask: 'local' (a LocalCluster) or tcp://scheduler:8786")
@click.option("--seed", type=int, help="seed of the inputs, one for the whole batch (default: fresh)")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="grading.yaml to use (default: the project's)")
def batch(folder: Path, gradebook: Path, csv_path: Path | None, canvas: Path | None,
          results_dir: Path | None, feedback_dir: Path | None, summary: Path | None,
          roster: Path | None, jobs: int | None, group_size: int, cluster: str | None,
          seed: int | None, config_path: Path | None, with_similarity: bool = False) -> None:
    """Grade every submission in FOLDER into a gradebook, several at once.

    Each entry of FOLDER (a sub-folder, .py, .ipynb or .zip) is one submission; its name is the
    student id unless --roster maps it. Submissions already in the gradebook (same student,
    same content, same grader version) are skipped, so an interrupted batch resumes where it
    stopped; one graded under another grading.yaml, grader, suite or reference is regraded and
    the summary says how many and why. A submission that cannot be graded is recorded with its
    error; the batch goes on.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from autograder import batch as batching
    from autograder import exports
    from autograder.gradebook import Gradebook, GradebookError

    console = Console()
    try:
        load_config(config_path)
        for path, option in ((gradebook, "--gradebook"), (csv_path, "--csv"),
                             (canvas, "--canvas"), (summary, "--summary")):
            prepare_file(path, option)
        for path, option in ((results_dir, "--results-dir"), (feedback_dir, "--feedback-dir")):
            prepare_dir(path, option)
        items = batching.discover(folder, batching.read_roster(roster) if roster else None)
    except SubmissionError as exc:  # before ValueError: it is one
        click.echo(f"error: {terminal_text(exc, keep_newlines=False)}", err=True)
        sys.exit(EXIT_SUBMISSION)
    except (YamlError, ValueError) as exc:
        click.echo(f"error: {terminal_text(exc, keep_newlines=False)}", err=True)
        sys.exit(EXIT_USAGE)
    if not items:
        click.echo(f"error: {terminal_name(folder)}: no submissions (folders, .py, .ipynb or .zip) found", err=True)
        sys.exit(EXIT_SUBMISSION)
    try:
        Gradebook(gradebook).close()
    except GradebookError as exc:  # its message names the file and the cause
        click.echo(f"error: --gradebook: {exc}", err=True)
        sys.exit(EXIT_ENVIRONMENT)
    except Exception as exc:  # noqa: BLE001 - whatever the store raises, it is one line
        click.echo(f"error: --gradebook {gradebook}: cannot open the gradebook: {exc}", err=True)
        sys.exit(EXIT_ENVIRONMENT)
    with Gradebook(gradebook) as book, Progress(
        TextColumn("[bold]grading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), console=console, transient=False,
    ) as progress:
        task = progress.add_task("", total=len(items))

        def advance(item, status):
            progress.update(task, advance=1, description=f"{markup_name(item.student)}: {status}")

        try:
            outcome = batching.run_batch(items, book, config_path=config_path, jobs=jobs,
                                         seed=seed, cluster=cluster, group_size=group_size,
                                         on_progress=advance)
        except batching.GradingUnavailable as exc:
            progress.stop()
            click.echo(f"error: grading could not run, nothing was recorded for the students "
                       f"not yet graded: {exc}", err=True)
            sys.exit(EXIT_ENVIRONMENT)
    with Gradebook(gradebook) as book:
        _print_gradebook(book, console)
        console.print(f"{len(outcome.graded)} graded, {len(outcome.skipped)} already in "
                      f"{terminal_name(gradebook)}, {len(outcome.unreadable)} unreadable (scored 0), "
                      f"{len(outcome.errors)} errors", markup=False)
        for reason, students in _by_reason(outcome.regraded).items():
            console.print(f"{len(students)} regraded because {reason}: "
                          f"{', '.join(terminal_name(s) for s in students)}", highlight=False, markup=False)
        if csv_path:
            exports.export_csv(book, csv_path)
        if canvas:
            exports.export_canvas_csv(book, canvas)
        if results_dir:
            exports.export_results_json(book, results_dir)
        if feedback_dir:
            exports.export_feedback(book, feedback_dir)
        similar = None
        if with_similarity:
            from autograder.similarity.command import similarity_for_batch

            similar = similarity_for_batch(folder, items, console)
        if summary:
            exports.class_summary_html(book, summary, similarity=similar)


def _by_reason(regraded: dict[str, str]) -> dict[str, list[str]]:
    """{why: [students]} for the batch summary's regraded lines."""
    out: dict[str, list[str]] = {}
    for student, reason in sorted(regraded.items()):
        out.setdefault(reason, []).append(student)
    return out


def _print_gradebook(book, console) -> None:
    from rich.table import Table

    table = Table(title="gradebook")
    for column in ("student", "score", "status", "mistakes", "graded at"):
        table.add_column(column, justify="right" if column == "score" else "left", overflow="fold")
    for row in book.latest(include_errors=True):
        mistakes = sorted({c.mistake for c in book.cases(row.id) if c.mistake}) if row.status == "graded" else []
        score = f"{row.score:.2f}/{row.max_score:g}" if row.status == "graded" else "-"
        if row.status == "graded" and row.error:  # unreadable: scored 0, the reason shown
            detail = "unreadable: " + _error_cell(row.error)
        else:
            detail = ", ".join(mistakes) if row.status == "graded" else _error_cell(row.error)
        # student text as rich Text: `[red]` in an id prints as written, escapes stay visible
        table.add_row(rich_name(row.student), score, row.status, rich_text(detail, keep_newlines=False),
                      row.graded_at[:16].replace("T", " "))
    console.print(table)


def _error_cell(error: str | None) -> str:
    """An error's cause in full (the table folds it); a traceback under it stays in the book."""
    lines = [line for line in (error or "").splitlines() if line.strip()]
    if not lines:
        return "error (no message recorded)"
    extra = len(lines) - 1
    return lines[0] + (f" (+{extra} lines: the gradebook's error column)" if extra else "")


@main.command(name="release")
@click.argument("out", type=click.Path(path_type=Path, file_okay=False))
@click.option("--banks", "banks_dir", type=click.Path(path_type=Path, file_okay=False, exists=True),
              help="quiz banks to filter (default: the project's quizzes/banks)")
def release(out: Path, banks_dir: Path | None) -> None:
    """Write the student bundle into OUT: stubs, public checks, lab notebooks, the checks'
    pytest plugin, practice quizzes and a README.

    \b
    Never included: reference/ (solutions, known mistakes), autograder/suites/ (hidden
    suites), grading.yaml, graded quiz questions and their keys.
    OUT must be new, empty, or an earlier bundle (it is then replaced).
    Students run `cd OUT && python -m pytest`.
    """
    from autograder.release import ReleaseError, build_release
    from quizzes.loader import BankError

    try:
        manifest = build_release(out, banks_dir=banks_dir)
    except (ReleaseError, BankError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"wrote {len(manifest['files'])} files to {out} "
               f"({manifest['graded_questions_removed']} graded quiz questions left out)")


@main.command(name="gradescope")
@click.argument("out_zip", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--torch-version", help="torch release setup.sh installs (default: this machine's, e.g. 2.13.0)")
@click.option("--timeout", "timeout_s", type=int,
              help="seconds one grading run may take on Gradescope (default: grading.yaml's "
                   "limits.submission_timeout_s plus a margin for start-up)")
def gradescope(out_zip: Path, torch_version: str | None, timeout_s: int | None) -> None:
    """Write the Gradescope autograder bundle OUT_ZIP (upload it as the assignment's autograder).

    \b
    The bundle holds setup.sh, run_autograder, requirements.txt and the course (grader,
    hidden suites, reference, exercises, grading.yaml): keep it private. Students upload a
    notebook, a .zip or their .py files; run_autograder grades them with `autograder grade`
    in the sandbox and always writes results.json (score 0 with the reason when it cannot grade).
    Try it locally: unzip into ROOT/source, put a submission in ROOT/submission, then
    AUTOGRADER_ROOT=ROOT AUTOGRADER_PYTHON=python3 bash ROOT/source/run_autograder.
    """
    from autograder.gradescope import BundleError, build_bundle

    try:
        prepare_file(out_zip, "OUT_ZIP")
        info = build_bundle(out_zip, torch_version=torch_version, timeout_s=timeout_s)
    except (BundleError, YamlError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"wrote {info.path} ({info.members} files; setup.sh installs torch=={info.torch_version} CPU)")


@main.command(name="export-otter")
@click.argument("out", type=click.Path(path_type=Path, file_okay=False))
@click.option("--lab", "labs", multiple=True, metavar="KEY",
              help="export only this lab, a key of exercises/labs.yaml's otter: list such as "
                   "lab_2_3_1 (repeatable; default: every lab)")
@click.option("--solutions", is_flag=True,
              help="also write solutions/<lab>.ipynb with the reference pasted in (instructors only)")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="grading.yaml whose points the tests carry (default: the project's)")
def export_otter(out: Path, labs: tuple[str, ...], solutions: bool, config_path: Path | None) -> None:
    """Export the labs as otter-grader assignments into OUT (one folder per lab).

    \b
    OUT/<lab>/student/      hand this out: the notebook, tests/ and nlpt_checks/
    OUT/<lab>/autograder.zip   otter run -a OUT/<lab>/autograder.zip <student notebook>
    OUT/<lab>/autograder/   cd there, then `otter generate -t tests nlpt_checks` for Gradescope
    Each function scores its grading.yaml points when all its public checks pass. Otter runs
    the tests inside the student's kernel: use `autograder grade` for grades that must resist
    tampering.
    """
    from autograder import otter_export

    try:
        folders = otter_export.export_otter(out, list(labs) or None, solutions=solutions,
                                            config_path=config_path)
    except (otter_export.ExportError, YamlError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    for folder in folders:
        click.echo(f"wrote {folder}")


# Commands with a module of their own: similarity (autograder/similarity), the course server.
for _command in (similarity_command, serve_command, tokens_command):
    main.add_command(_command)


if __name__ == "__main__":
    main()

"""Command line interface `autograder`.

Exit codes of `autograder grade`: 0 graded (whatever the score), 2 bad usage or grading.yaml,
3 the submission cannot be read (missing, not a notebook/zip/.py/folder, no module found).
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from autograder.config import load_config
from autograder.intake import SubmissionError
from autograder.yamlsource import YamlError

EXIT_USAGE = 2
EXIT_SUBMISSION = 3
CHECKS_DIR = Path(__file__).resolve().parent.parent / "exercises" / "checks"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nlp-transformers-autograder")
def main() -> None:
    """Grade NLP & Transformers submissions.

    \b
    Learners:     autograder check              (the public checks on your exercises/)
    Instructors:  autograder grade alice.ipynb --results results.json --report alice.html
    """


@main.command()
@click.option("--impl", default="exercises", show_default=True,
              help="what to check: exercises, reference, mistake:<id> or path:<dir>")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def check(impl: str, pytest_args: tuple[str, ...]) -> None:
    """Run the public checks in-process (same as `pytest exercises`)."""
    import pytest

    sys.exit(pytest.main([str(CHECKS_DIR), "--impl", impl, *pytest_args]))


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
    from autograder.grading import grade_submission
    from autograder.reports import print_table, write_report
    from autograder.results import junit_xml, write_results

    try:
        config = load_config(config_path)
    except YamlError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    if report is not None and report.suffix.lower() not in (".html", ".htm", ".md", ".markdown"):
        click.echo(f"error: --report {report}: expected a .html or .md file name", err=True)
        sys.exit(EXIT_USAGE)
    try:
        result = grade_submission(submission, config, seed=seed, config_path=config_path, student=student)
    except SubmissionError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_SUBMISSION)
    if results:
        write_results(result, results, config.hidden_visibility)
    if report:
        write_report(result, report)
    if junit:
        junit.write_text(junit_xml(result), encoding="utf-8")
    if not quiet:
        print_table(result)


def _not_available(name: str, issue: str):
    @main.command(name=name, help=f"Not available yet ({issue}).",
                  context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def command(args: tuple[str, ...]) -> None:
        click.echo(f"autograder {name}: not available yet ({issue})", err=True)
        sys.exit(EXIT_USAGE)

    return command


_not_available("batch", "batch grading of a class is planned")
_not_available("release", "the student bundle is planned")
from autograder.gradescope import gradescope_command  # noqa: E402
main.add_command(gradescope_command)
_not_available("export-otter", "the otter-grader export is planned")


if __name__ == "__main__":
    main()

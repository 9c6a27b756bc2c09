"""`autograder serve` and `autograder tokens` (registered on the `autograder` group in cli.py)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from autograder.outputs import EXIT_ENVIRONMENT, EXIT_USAGE
from autograder.yamlsource import YamlError

_GRADEBOOK_HELP = "SQLite file (WAL) or postgresql://user:password@host/db (several server processes)"


def _open_book(location: str):
    from autograder.gradebook import Gradebook, GradebookError

    try:
        if not location.startswith(("postgresql", "postgres:")):
            Path(location).parent.mkdir(parents=True, exist_ok=True)
        return Gradebook(location)
    except (GradebookError, OSError) as exc:
        click.echo(f"error: --gradebook {location}: {exc}", err=True)
        sys.exit(EXIT_ENVIRONMENT)


def _require_device(setup) -> None:
    """Stop before serving when grading.yaml's device cannot run here (every upload would fail)."""
    from autograder.config import load_config
    from autograder.grading import require_device
    from autograder.sandbox.errors import DeviceUnavailable

    try:
        require_device(load_config(Path(setup.config_name)).device)
    except DeviceUnavailable as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_ENVIRONMENT)


def _students(roster: Path) -> list[str]:
    from autograder.server.tokens import read_students

    try:
        return read_students(roster)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        click.echo(f"error: --roster {roster}: {exc}", err=True)
        sys.exit(EXIT_USAGE)


@click.command("tokens")
@click.option("--roster", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="CSV with a `student` column: one token per student")
@click.option("--gradebook", default="grades.sqlite", show_default=True, help=_GRADEBOOK_HELP)
@click.option("--instructor", is_flag=True, help="issue the instructor token instead")
@click.option("--student", "only", multiple=True, help="only these students (repeatable): reissue a lost token")
@click.option("--revoke", is_flag=True, help="revoke the tokens of --student (or --instructor) and issue none")
@click.option("--base-url", default="http://127.0.0.1:8000", show_default=True,
              help="the server's public address, for the login URLs")
def tokens_command(roster: Path | None, gradebook: str, instructor: bool, only: tuple[str, ...],
                   revoke: bool, base_url: str) -> None:
    """Issue login tokens: prints `student,token,login_url`, one line per student.

    Tokens are random and stored only as hashes: this output is the only copy, so send each
    student their login URL now. Issuing again revokes the student's earlier token (and ends
    its sessions); --revoke only revokes. Scripts send `Authorization: Bearer <token>`.
    """
    from urllib.parse import quote

    from autograder.server import tokens

    if instructor:
        students, role = [tokens.INSTRUCTOR], tokens.INSTRUCTOR
    elif only:
        students, role = list(only), "student"
    elif roster:
        students, role = _students(roster), "student"
    else:
        click.echo("error: give --roster, --student or --instructor", err=True)
        sys.exit(EXIT_USAGE)
    if roster and only:
        known = set(_students(roster))
        unknown = [s for s in only if s not in known]
        if unknown:
            click.echo(f"error: --student {', '.join(unknown)}: not in {roster}", err=True)
            sys.exit(EXIT_USAGE)
    book = _open_book(gradebook)
    try:
        if revoke:
            for student in students:
                click.echo(f"{student}: {tokens.revoke(book, student)} token(s) revoked")
            return
        click.echo("student,token,login_url")
        for student in students:
            token = tokens.issue(book, student, role)
            click.echo(f"{student},{token},{base_url.rstrip('/')}/login?token={quote(token)}")
    finally:
        book.close()


@click.command("serve")
@click.option("--roster", type=click.Path(path_type=Path, dir_okay=False, exists=True), required=True,
              help="CSV with a `student` column: who may log in")
@click.option("--gradebook", default="grades.sqlite", show_default=True, help=_GRADEBOOK_HELP)
@click.option("--course", "course_path", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="course.yaml: assignments (deadline, late policy, attempts, best/last), quizzes, limits")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="grading.yaml to grade under (default: the project's)")
@click.option("--banks", "banks_dir", type=click.Path(path_type=Path, file_okay=False, exists=True),
              help="quiz bank folder (default: the project's banks)")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on (keep 127.0.0.1 behind a TLS reverse proxy)")
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--jobs", "-j", type=int, help="grading processes (default: one per CPU)")
@click.option("--cluster", help="grade on Dask: 'local' or tcp://scheduler:8786")
@click.option("--behind-proxy", is_flag=True,
              help="trust X-Forwarded-* from the proxy and send Secure cookies (TLS at the proxy)")
@click.option("--quiet", is_flag=True, help="no access log")
def serve_command(roster: Path, gradebook: str, course_path: Path | None, config_path: Path | None,
                  banks_dir: Path | None, host: str, port: int, jobs: int | None, cluster: str | None,
                  behind_proxy: bool, quiet: bool) -> None:
    """Serve the course: students upload code and take quizzes, every result is recorded.

    Students log in with the URL `autograder tokens` printed; uploads are graded by the warm
    worker pool of `autograder batch` and the page updates when the grade is in. The
    instructor token opens /instructor (class table, drill-down, regrade, CSV downloads).
    Queued and half-graded uploads survive a crash and are graded on the next start.
    """
    from autograder.jobs import GradingSetup
    from autograder.server.app import Settings, create_app
    from autograder.server.course import load_course
    from autograder.server.grader import GradingService
    from autograder.server.running import ServerHandle
    from quizzes.loader import DEFAULT_BANKS, BankError

    try:
        course = load_course(course_path)
        setup = GradingSetup.from_path(config_path)
    except (YamlError, ValueError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    if not cluster:  # a cluster's workers may have the GPU this machine lacks
        _require_device(setup)
    students = _students(roster)
    book = _open_book(gradebook)
    grading = GradingService(book, setup, jobs=jobs or os.cpu_count() or 1, cluster=cluster)
    try:
        app = create_app(Settings(banks_dir=banks_dir or DEFAULT_BANKS, course=course, book=book,
                                  grading=grading, students=students, https_only=behind_proxy))
        server = ServerHandle(app, host, port, verbose=not quiet, proxy_headers=behind_proxy)
    except BankError as exc:
        click.echo("error: invalid quiz bank(s):\n" + "\n".join(exc.messages), err=True)
        sys.exit(EXIT_USAGE)
    except OSError as exc:
        click.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_USAGE)
    grading.start()
    bound = server.server_address
    click.echo(f"Serving the course on http://{bound[0]}:{bound[1]}/ for {len(students)} students "
               f"(gradebook {book.path}; Ctrl-C to stop)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        grading.stop()
        book.close()

"""The `quiz export`, `quiz stats`, `quiz serve` and `quiz audit` commands, added to the `quiz`
group at the end of quizzes/cli.py, so they share its ``--banks`` option and its
:class:`~quizzes.cli_state.State`."""
from __future__ import annotations

from pathlib import Path

import click

from quizzes.cli_state import QuizUsageError, group_state
from quizzes.cli_support import prepare_file


@click.command("export")
@click.argument("topics", nargs=-1)
@click.option("--gift", "gift_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write Moodle GIFT text to this file (import: Question bank > Import > GIFT).")
@click.option("--qti", "qti_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a Canvas QTI 1.2 zip to this file (import: Settings > Import course content > QTI .zip).")
@click.option("--moodle-xml", "moodle_xml_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write Moodle XML to this file: like --gift, but it carries each question's points.")
@click.option("--ordering", type=click.Choice(["matching", "skip"]), default="matching", show_default=True,
              help="GIFT has no ordering type: export ordering questions as matching "
                   "'Position k -> item', or skip them (listed as warnings).")
@click.pass_context
def export_cmd(ctx: click.Context, topics: tuple[str, ...], gift_out: Path | None, qti_out: Path | None,
               moodle_xml_out: Path | None, ordering: str) -> None:
    """Export banks (all, or the TOPICS given) for Moodle (GIFT, Moodle XML) and/or Canvas (QTI 1.2).

    One Moodle category / one Canvas quiz per topic. Parameterised numeric questions are
    exported as one concrete variant (fixed instructor seed, noted in the output); what the
    target cannot express (scoring schemes, ordering, points in GIFT) is printed as warnings.

    \b
      quiz export --gift moodle.txt attention tokenization
      quiz export --moodle-xml moodle.xml
      quiz export --qti canvas.zip
    """
    from quizzes.export_gift import export_gift
    from quizzes.export_moodle_xml import export_moodle_xml
    from quizzes.export_qti import export_qti

    if gift_out is None and qti_out is None and moodle_xml_out is None:
        raise click.UsageError("give --gift OUT.txt, --moodle-xml OUT.xml and/or --qti OUT.zip")
    prepare_file(gift_out, "--gift")
    prepare_file(qti_out, "--qti")
    prepare_file(moodle_xml_out, "--moodle-xml")
    state = group_state(ctx)
    banks = [state.bank(t) for t in topics] if topics else list(state.banks().values())
    if not banks:
        raise QuizUsageError(f"no banks to export in {state.banks_dir}")
    warnings: list[str] = []
    if gift_out is not None:
        gift = export_gift(banks, ordering=ordering)  # type: ignore[arg-type]
        gift_out.write_text(gift.text, encoding="utf-8")
        warnings += [f"gift: {w}" for w in gift.warnings]
        categories = "category" if len(banks) == 1 else "categories"
        click.echo(f"wrote {gift_out}: {gift.count} question(s) in {len(banks)} {categories}", err=True)
    if moodle_xml_out is not None:
        moodle = export_moodle_xml(banks)
        moodle_xml_out.write_text(moodle.text, encoding="utf-8")
        warnings += [f"moodle-xml: {w}" for w in moodle.warnings]
        click.echo(f"wrote {moodle_xml_out}: {moodle.count} question(s) in {len(banks)} categories", err=True)
    if qti_out is not None:
        qti = export_qti(banks)
        qti.write(qti_out)
        warnings += [f"qti: {w}" for w in qti.warnings]
        click.echo(f"wrote {qti_out}: {qti.count} question(s) in {len(banks)} quiz(zes)", err=True)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


@click.command("stats")
@click.argument("responses", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write an HTML report with plots (difficulty vs discrimination, score histogram).")
@click.option("--quiz", default=None, help="With `quiz score --out` JSON holding several quizzes: the one to analyse.")
@click.pass_context
def stats_cmd(ctx: click.Context, responses: Path, html_out: Path | None, quiz: str | None) -> None:
    """Item analysis of scored RESPONSES: difficulty, corrected point-biserial, KR-20,
    Cronbach's alpha and distractor analysis (upper/lower 27% by total score).

    \b
    RESPONSES is either
      - the JSON written by `quiz score --out` (choices are recovered from the banks, so
        distractors are reported by choice text, not by each student's shuffled letter), or
      - a CSV with header student,question,score,max_score[,choice]; choice holds the option
        text(s) picked, several separated by |.
    A student with no row for a question scores 0 on it. KR-20 counts a partial score as
    wrong (items dichotomised at full marks); alpha uses the raw points.
    """
    from quizzes.stats import analyse
    from quizzes.stats_report import print_report, render_html
    from quizzes.stats_responses import ResponsesError, bank_choices, load_responses

    prepare_file(html_out, "--html")
    state = group_state(ctx)
    resolver = None
    if responses.suffix.lower() == ".json":
        try:
            resolver = bank_choices(state.banks())
        except click.ClickException:
            resolver = None  # no usable banks: statistics without distractor analysis
    try:
        result = analyse(load_responses(responses, quiz=quiz, choices=resolver))
    except ResponsesError as exc:
        raise QuizUsageError(str(exc)) from None
    print_report(result)
    if html_out is not None:
        html_out.write_text(render_html(result, title=f"Item analysis: {responses.name}"), encoding="utf-8")
        click.echo(f"wrote {html_out}", err=True)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on (keep 127.0.0.1 unless behind a reverse proxy).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free port).")
@click.option("--student", default=None, help="Fixed student id for every request (local practice).")
@click.option("--student-header", default=None, metavar="HEADER",
              help="Take the student id from this request header, e.g. X-Remote-User set by an "
                   "authenticating reverse proxy. Overrides --student and the form.")
@click.option("--banks", "banks_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Bank directory to serve (default: the group's --banks).")
@click.option("--quiet", is_flag=True, help="Do not log requests.")
@click.pass_context
def serve_cmd(ctx: click.Context, host: str, port: int, student: str | None, student_header: str | None,
              banks_dir: Path | None, quiet: bool) -> None:
    """Serve the quizzes in a browser: pick a quiz, answer, submit, read the feedback.

    Scoring happens on the server; the quiz page holds prompts and options only (no answers,
    feedback or explanations). Each student gets their own reproducible variant. Questions
    marked `graded: true` are not served. Without --student/--student-header the start page
    asks for a student id.
    """
    from quizzes.loader import BankError

    try:  # the student bundle ships the quiz engine without the course server
        from quizzes.server import STUDENT_ID, ServeConfig, make_server
    except ModuleNotFoundError as exc:
        raise click.ClickException(
            f"quiz serve runs the course server, which is not installed here ({exc.name} is missing); "
            "practise in the terminal with `quiz take TOPIC` or in the lab notebooks") from None
    if student is not None and not STUDENT_ID.match(student):
        raise click.BadParameter("expected 1-64 letters, digits or ._@+-", param_hint="--student")
    config = ServeConfig(banks_dir=banks_dir or group_state(ctx).banks_dir, student=student,
                         student_header=student_header)
    try:
        server = make_server(host, port, config, verbose=not quiet)
    except ModuleNotFoundError as exc:
        raise click.ClickException(f"quiz serve needs {exc.name}, which is not installed here "
                                   "(pip install -e . in the course project)") from None
    except BankError as exc:
        raise QuizUsageError("invalid quiz bank(s):\n" + "\n".join(exc.messages)) from None
    except OSError as exc:
        raise QuizUsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    bound_host, bound_port = server.server_address[:2]
    click.echo(f"Serving quizzes from {config.banks_dir} on http://{bound_host}:{bound_port}/ "
               "(Ctrl-C to stop)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@click.command("audit")
@click.argument("topics", nargs=-1)
@click.option("--students", default=48, show_default=True, type=click.IntRange(1, 1000),
              help="Simulated students (variants) per question.")
@click.pass_context
def audit_cmd(ctx: click.Context, topics: tuple[str, ...], students: int) -> None:
    """Cue audit of the banks (all, or the TOPICS given): how test-taking tricks (longest
    option, tick all, shown order, words shared with the prompt, ...) score against chance,
    answers leaked on a quiz page, matchings solved by repeated words. Chance levels and
    margins: quizzes/cue_audit.py. Exit status 0 when no cue is found, 2 otherwise.
    """
    from rich.console import Console

    from quizzes.cli_support import EXIT_USAGE
    from quizzes.cue_audit import audit_banks, print_audit

    state = group_state(ctx)
    banks = {t: state.bank(t) for t in topics} if topics else state.banks()
    if not banks:
        raise QuizUsageError(f"no banks to audit in {state.banks_dir}")
    audits, overall = audit_banks(banks, students)
    if not print_audit(audits, overall, Console()):
        ctx.exit(EXIT_USAGE)

"""Student-controlled text is inert wherever it is shown (issue 15, items 3 and 4).

Names, printed output and exception messages come from the submission. On the terminal their
control characters (ESC, CR, BEL, C1, bidi overrides) appear as escapes, rich markup in them
prints literally, and no encoding (LANG=C, PYTHONIOENCODING=ascii) makes a run crash; in the
HTML and Markdown reports markup stays text; in CSV and Canvas exports a cell that could start
a formula is quoted (OWASP), while numbers stay numbers. Expected strings are hand-written.
"""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from autograder.csv_cells import formula_safe
from autograder.exports import export_canvas_csv, export_csv
from autograder.gradebook import Gradebook
from autograder.reports import print_table, render_report
from autograder.result_types import CaseResult, FunctionScore, GradeResult, ScoredCase
from autograder.student_text import storable, terminal_name, terminal_text

ROOT = Path(__file__).resolve().parents[1]
RAW_CONTROLS = ["\x1b", "\x07", "\r", "\x9b", "\u202e", "\u2066", "\x00", "\x08"]
EVIL = "\x1b]0;owned\x07 boom\r\u202eevil\x9b31m [red]red[/red]"


# -- the helpers --------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, shown", [
    ("plain text, café, 注意", "plain text, café, 注意"),
    ("\x1b[2Jgone", "\\x1b[2Jgone"),
    ("over\rwrite", "over\\x0dwrite"),
    ("ding\x07", "ding\\x07"),
    ("c1 \x9b31m", "c1 \\x9b31m"),
    ("bidi \u202etxt.exe\u202c", "bidi \\u202etxt.exe\\u202c"),
    ("isolate \u2066x\u2069", "isolate \\u2066x\\u2069"),
    ("zero\u200bwidth", "zero\\u200bwidth"),
    ("line\u2028sep", "line\\u2028sep"),
    ("byte \udcff", "byte \\xff"),
    ("lone \ud800", "lone \\ud800"),
    ("two\nlines\tand tab", "two\nlines\tand tab"),
])
def test_terminal_text_escapes_controls_and_keeps_the_rest(raw, shown):
    assert terminal_text(raw) == shown


def test_one_line_fields_escape_newlines_too():
    assert terminal_text("a\nb\tc", keep_newlines=False) == "a\\x0ab\\x09c"


def test_names_are_one_escaped_line():
    assert terminal_name(os.fsdecode(b"al\xffce")) == "al\\xffce"
    assert terminal_name("two\nlines\x1b") == "two\\x0alines\\x1b"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\\")))
def test_a_name_reads_back_exactly_from_what_is_shown(name):
    """Nothing is dropped: every code point is shown as itself or as its escape."""
    shown = terminal_name(name)
    # nothing a terminal would act on or hide: controls, format, unassigned, private, separators
    assert not [c for c in shown if unicodedata.category(c) in {"Cc", "Cf", "Co", "Cn", "Zl", "Zp"}]
    assert shown.encode("latin-1", "backslashreplace").decode("unicode_escape") == name


def test_storable_only_touches_surrogates():
    assert storable("ok \x1b é") == "ok \x1b é"
    assert storable("bad \udcff").encode("utf-8") == b"bad \\xff"


@pytest.mark.parametrize("cell, written", [
    ("=HYPERLINK(\"http://evil\",\"x\")", "'=HYPERLINK(\"http://evil\",\"x\")"),
    ("+1+1", "'+1+1"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("\tx", "'\tx"),
    ("\rx", "'\rx"),
    ("alice", "alice"),
    ("-2.5", "-2.5"),
    ("-3", "-3"),
    ("1e-05", "1e-05"),
    (-1.5, "-1.5"),
    (None, ""),
])
def test_formula_cells_are_quoted_numbers_kept(cell, written):
    assert formula_safe(cell) == written


# -- terminal table, reports --------------------------------------------------------------------


def hostile_result(student: str = "[red]mallory[/red]\x1b[2J") -> GradeResult:
    case = CaseResult("masks.causal_mask", "basic", 1.0, "error", f"ValueError: {EVIL}\nsecond line")
    function = FunctionScore("masks.causal_mask", 2.0, [ScoredCase(case, 0.0, 2.0)])
    return GradeResult(student=student, submission="x", digest="d" * 64, functions=[function], seed=1,
                       sandbox="rlimits", execution_time=0.1, notes=[f"{EVIL}.py ignored"])


def test_the_terminal_table_shows_student_text_escaped_and_markup_literally():
    buffer = io.StringIO()
    print_table(hostile_result(), Console(file=buffer, width=400, color_system=None))
    shown = buffer.getvalue()
    for raw in RAW_CONTROLS:
        assert raw not in shown, repr(raw)
    assert "[red]mallory[/red]\\x1b[2J" in shown
    assert "\\x1b]0;owned\\x07 boom\\x0d\\u202eevil\\x9b31m [red]red[/red]" in shown


def test_the_html_report_keeps_a_script_name_as_text():
    page = render_report(hostile_result("<script>alert(1)</script>"), "html")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_markdown_report_escapes_html_and_fences_student_output():
    result = hostile_result("<script>alert(1)</script>")
    result.functions[0].cases[0].case.message = "boom\n```\n<img src=x onerror=alert(1)>\n# not a heading"
    text = render_report(result, "md")
    assert "<script>" not in text and "&lt;script&gt;" in text
    # the student's ``` cannot close the block: the fence around it is longer
    assert "  ````\n  boom\n  ```\n  <img src=x onerror=alert(1)>\n  # not a heading" in text
    assert "\x1b" not in text and "\x07" not in text


# -- CSV and Canvas exports ---------------------------------------------------------------------


FORMULA_STUDENTS = ["=HYPERLINK(\"http://evil\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "alice"]


def _graded(student: str, digest: str) -> GradeResult:
    case = CaseResult("masks.causal_mask", "basic", 1.0, "passed")
    function = FunctionScore("masks.causal_mask", 2.0, [ScoredCase(case, 2.0, 2.0)])
    return GradeResult(student=student, submission=f"{student}.py", digest=digest, functions=[function],
                       seed=1, sandbox="rlimits", execution_time=0.1)


@pytest.fixture
def formula_book(tmp_path):
    with Gradebook(tmp_path / "grades.sqlite") as book:
        for index, student in enumerate(FORMULA_STUDENTS):
            book.record(_graded(student, f"{index:064x}"))
        book.record_quiz("alice", "attention", -1.5, 4.0)  # a penalty: a negative number
        yield book


def test_csv_export_quotes_formula_cells_and_keeps_negative_scores(formula_book, tmp_path):
    export_csv(formula_book, tmp_path / "grades.csv")
    with open(tmp_path / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {"'=HYPERLINK(\"http://evil\")", "'+1+1", "'-2+3", "'@SUM(A1)", "'\tx", "alice"}
    assert rows["alice"]["quiz:attention"] == "-1.5" and rows["alice"]["score"] == "2"
    assert all(not cell.startswith(("=", "+", "@", "\t")) for row in rows.values() for cell in row.values())


def test_canvas_export_quotes_formula_cells(formula_book, tmp_path):
    export_canvas_csv(formula_book, tmp_path / "canvas.csv", assignment="=cmd|' /C calc'!A0")
    with open(tmp_path / "canvas.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][-1] == "'=cmd|' /C calc'!A0"
    logins = {row[3] for row in rows[2:]}
    assert "'=HYPERLINK(\"http://evil\")" in logins and "'-2+3" in logins and "alice" in logins
    assert all(row[-1] == "2" for row in rows[2:])


# -- the command lines, under LANG=C and an ASCII stdout ------------------------------------------


ODD_NAMES = [b"\xff\xfe-bytes", b"\x1b[2Jclear", b"[red]mallory[bold]", b"=HYPERLINK(1)",
             "caf\u00e9\u202egnp".encode(), b"bell\x07\x9b"]


def ascii_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LC_")}
    return {**env, "LANG": "C", "LC_ALL": "C", "PYTHONIOENCODING": "ascii", "COLUMNS": "250"}


def assert_inert(output: str) -> None:
    assert "Traceback" not in output and "UnicodeEncodeError" not in output, output[-2000:]
    for raw in RAW_CONTROLS:
        assert raw not in output, repr(raw)


def test_batch_with_odd_names_never_crashes_and_escapes_every_name(tmp_path):
    klass = tmp_path / "class"
    klass.mkdir()
    for name in ODD_NAMES:  # unreadable (binary) .py files: recorded at 0 without grading
        with open(os.path.join(os.fsencode(klass), name + b".py"), "wb") as handle:
            handle.write(b"\x00\xff binary")
    csv_path = tmp_path / "grades.csv"
    done = subprocess.run(
        [sys.executable, "-m", "autograder.cli", "batch", str(klass), "--gradebook", str(tmp_path / "g.sqlite"),
         "--csv", str(csv_path), "--canvas", str(tmp_path / "canvas.csv")],
        capture_output=True, timeout=300, env=ascii_env())
    output = done.stdout.decode("ascii") + done.stderr.decode("ascii")  # ASCII only, or this raises
    assert done.returncode == 0, output
    assert_inert(output)
    for shown in ("\\xff\\xfe-bytes", "\\x1b[2Jclear", "[red]mallory[bold]", "=HYPERLINK(1)",
                  "caf\\xe9\\u202egnp", "bell\\x07\\x9b"):
        assert shown in output, shown
    assert "6 unreadable (scored 0)" in output
    with open(csv_path, newline="", encoding="utf-8") as handle:
        students = {row["student"] for row in csv.DictReader(handle)}
    assert "'=HYPERLINK(1)" in students and "\\xff\\xfe-bytes" in students


def test_grade_with_an_odd_name_under_an_ascii_terminal_is_one_escaped_line(tmp_path):
    path = os.path.join(os.fsencode(tmp_path), b"\x1b]0;x\x07\xff.py")
    with open(path, "wb") as handle:
        handle.write(b"\x00 not source")
    done = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", path,
                           "--results", str(tmp_path / "r.json")], capture_output=True, timeout=300, env=ascii_env())
    stderr = done.stderr.decode("ascii")
    assert done.returncode == 3
    assert_inert(stderr + done.stdout.decode("ascii"))
    assert len(stderr.strip().splitlines()) == 1 and "\\x1b]0;x\\x07\\xff.py" in stderr
    assert json.loads((tmp_path / "r.json").read_text())["extra_data"]["student"] == "\x1b]0;x\x07\\xff"


EVIL_SUBMISSION = '''
import sys


def causal_mask(seq_len, device=None):
    print("\\x1b[2J\\x1b]0;owned\\x07 printed")
    raise ValueError("\\x1b[31mred \\u202eevil\\x9b [bold]markup[/bold] \\udcff\\rhidden")
'''


def test_graded_student_output_and_exceptions_reach_the_terminal_escaped(tmp_path):
    folder = os.path.join(os.fsencode(tmp_path), b"[blink]m\xffllory\x1b[5m")
    os.mkdir(folder)
    with open(os.path.join(folder, b"masks.py"), "w", encoding="utf-8") as handle:
        handle.write(EVIL_SUBMISSION)
    report = tmp_path / "report.md"
    done = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", folder, "--seed", "1",
                           "--report", str(report)], capture_output=True, timeout=300, env=ascii_env())
    output = done.stdout.decode("ascii") + done.stderr.decode("ascii")
    assert done.returncode == 0, output
    assert_inert(output)
    assert "[blink]m\\xffllory\\x1b[5m" in output  # the title: the folder name, escaped
    # the exception's first line (CR ends a line) in the feedback column, markup literal
    assert "\\x1b[31mred \\u202eevil\\x9b [bold]markup[/bold] \\xff" in output
    assert_inert(report.read_text(encoding="utf-8"))


def test_zip_member_and_helper_names_are_notes_escaped(tmp_path):
    """Refused members and ignored helpers are named in the notes: escaped on the terminal."""
    import zipfile

    honest = (ROOT / "tests/fixtures/hostile/controls/honest_pair/masks.py").read_text()
    archive = tmp_path / "members.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("masks.py", honest)
        zf.writestr("../\x1b[2J\u202eslip.py", "x = 1\n")  # refused: '..'
        zf.writestr("bell\x07[red]x.py", "x = 1\n")  # not importable: ignored
    done = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", str(archive), "--seed", "1"],
                          capture_output=True, timeout=300, env=ascii_env())
    output = done.stdout.decode("ascii") + done.stderr.decode("ascii")
    assert done.returncode == 0, output
    assert_inert(output)
    assert "\\x1b[2J\\u202eslip.py" in output and "bell\\x07[red]x.py ignored" in output


def test_similarity_tables_show_student_ids_escaped(tmp_path):
    """`autograder similarity` (and `batch --similarity`) print student ids: escaped, no markup."""
    honest = (ROOT / "tests/fixtures/hostile/controls/honest_pair/masks.py").read_text()
    klass = os.path.join(os.fsencode(tmp_path), b"class")
    os.mkdir(klass)
    for name in (b"[red]ann\x1b[2J", b"bo\x07b\xff"):
        os.mkdir(os.path.join(klass, name))
        with open(os.path.join(klass, name, b"masks.py"), "w", encoding="utf-8") as handle:
            handle.write(honest)
    done = subprocess.run([sys.executable, "-m", "autograder.cli", "similarity", klass, "--no-cache"],
                          capture_output=True, timeout=300, env=ascii_env())
    output = done.stdout.decode("ascii") + done.stderr.decode("ascii")
    assert done.returncode == 0, output
    assert_inert(output)
    assert "[red]ann\\x1b[2J" in output and "bo\\x07b\\xff" in output

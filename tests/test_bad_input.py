"""Every command of `autograder` and `quiz`, driven with bad input as a real process: each case
ends with its documented exit code (README: 2 usage / config / output path, 3 the submission
cannot be read, missing included, 4 the environment) and one error line, never a Python traceback.

The table covers every command the two groups register (a test checks that), so a new command
cannot be added without its bad-input cases.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.cli import main as autograder_group
from quizzes.cli import main as quiz_group

ROOT = Path(__file__).resolve().parents[1]
AUTOGRADER = [sys.executable, "-c", "from autograder.cli import main; main(prog_name='autograder')"]
QUIZ = [sys.executable, "-c", "from quizzes.cli import main; main(prog_name='quiz')"]
UNWRITABLE = "/proc/no-such-dir/out"  # its parent cannot be created, even by root


def _files(tmp: Path) -> dict[str, str]:
    """Bad inputs on disk, by name: {name} in a case's arguments is replaced by the path."""
    made = {
        "empty_dir": tmp / "empty",
        "not_zip": tmp / "broken.zip",
        "binary_py": tmp / "module.py",
        "broken_yaml": tmp / "grading.yaml",
        "wrong_yaml": tmp / "wrong.yaml",
        "garbage_csv": tmp / "roster.csv",
        "bad_json": tmp / "responses.json",
        "bad_csv": tmp / "responses.csv",
        "file": tmp / "a-file.txt",
        "nonempty_dir": tmp / "full",
        "broken_banks": tmp / "banks",
        "one_bad": tmp / "class",
        "not_db": tmp / "grades.sqlite",
        "header_csv": tmp / "no-answers.csv",
    }
    made["empty_dir"].mkdir()
    made["not_zip"].write_bytes(b"PK\x03\x04 this is not a zip archive")
    made["binary_py"].write_bytes(b"\x00\xff\xfe garbage \x80\x81")
    made["broken_yaml"].write_text("modules: [unclosed\n  - x: {\n", encoding="utf-8")
    made["wrong_yaml"].write_text("modules:\n  nosuchmodule:\n    functions: {f: 1}\n", encoding="utf-8")
    made["garbage_csv"].write_bytes(b"\xff\xfe\x00not,a,roster\n\x00\x01")
    made["bad_json"].write_text("[{\"student\": ", encoding="utf-8")
    made["bad_csv"].write_text("who,what\nalice,1\n", encoding="utf-8")
    made["file"].write_text("x\n", encoding="utf-8")
    made["nonempty_dir"].mkdir()
    (made["nonempty_dir"] / "keep.txt").write_text("mine\n", encoding="utf-8")
    made["broken_banks"].mkdir()
    (made["broken_banks"] / "attention.yaml").write_text("topic: attention\nquestions: [{id: 1}]\n",
                                                        encoding="utf-8")
    made["one_bad"].mkdir()
    (made["one_bad"] / "zed.zip").write_bytes(b"not a zip")
    made["header_csv"].write_text("student,quiz,question,answer\n", encoding="utf-8")
    made["not_db"].write_text("this is not a database, it is a text file\n" * 100, encoding="utf-8")
    return {name: str(path) for name, path in made.items()}


# (command, arguments, exit code). {name} is a file from _files; {out} a path that cannot be created.
AUTOGRADER_CASES = [
    ("grade", ["{tmp}/missing.zip"], 3),
    ("grade", ["{not_zip}"], 3),
    ("grade", ["{binary_py}"], 3),
    ("grade", ["{empty_dir}"], 3),
    ("grade", ["{not_zip}", "--results", "{out}/results.json"], 2),
    ("grade", ["{not_zip}", "--report", "{empty_dir}"], 2),
    ("grade", ["{not_zip}", "--config", "{broken_yaml}"], 2),
    ("grade", ["{not_zip}", "--config", "{wrong_yaml}"], 2),
    ("grade", ["{not_zip}", "--seed", "many"], 2),
    ("batch", ["{tmp}/no-such-class"], 3),
    ("batch", ["{empty_dir}"], 3),
    ("batch", ["{one_bad}", "--gradebook", "{out}/grades.sqlite"], 2),
    ("batch", ["{one_bad}", "--csv", "{empty_dir}"], 2),
    ("batch", ["{one_bad}", "--config", "{broken_yaml}"], 2),
    ("batch", ["{one_bad}", "--jobs", "0"], 2),
    ("batch", ["{one_bad}", "--gradebook", "{not_db}"], 4),
    ("batch", ["{one_bad}", "--roster", "{garbage_csv}"], 2),
    ("check", ["--impl", "nowhere"], 2),
    ("check", ["--function", "masks.no_such_function"], 2),
    ("export-otter", ["{tmp}/otter", "--lab", "no_such_lab"], 2),
    ("export-otter", ["{file}"], 2),
    ("gradescope", ["{out}/autograder.zip"], 2),
    ("gradescope", ["{tmp}/ag.zip", "--timeout", "-5"], 2),
    ("release", ["{nonempty_dir}"], 2),
    ("release", ["{tmp}/bundle", "--banks", "{broken_banks}"], 2),
    ("release", ["{tmp}/bundle", "--banks", "{tmp}/no-banks"], 2),
    ("serve", ["--roster", "{tmp}/no-roster.csv"], 2),
    ("serve", ["--roster", "{garbage_csv}", "--gradebook", "{tmp}/g.sqlite"], 2),
    ("serve", ["--roster", "{bad_csv}", "--course", "{broken_yaml}", "--gradebook", "{tmp}/g.sqlite"], 2),
    ("serve", ["--roster", "{bad_csv}", "--port", "99999"], 2),
    ("similarity", ["{tmp}/no-such-class"], 3),
    ("similarity", ["{one_bad}", "--threshold", "2"], 2),
    ("similarity", ["{one_bad}", "--json", "{out}/s.json"], 2),
    ("tokens", [], 2),
    ("tokens", ["--roster", "{garbage_csv}", "--gradebook", "{tmp}/g.sqlite"], 2),
    ("tokens", ["--instructor", "--gradebook", "{out}/g.sqlite"], 4),
]

QUIZ_CASES = [
    ("list", ["--banks", "{broken_banks}"], 2),
    ("audit", ["no-such-topic"], 2),
    ("audit", ["--banks", "{broken_banks}"], 2),
    ("render", ["no-such-topic"], 2),
    ("render", ["attention", "--format", "pdf"], 2),
    ("render", ["attention", "--out", "{out}/q.html"], 2),
    ("take", ["no-such-topic"], 2),
    ("take", ["attention", "--banks", "{broken_banks}"], 2),
    ("score", ["{tmp}/missing.csv"], 2),
    ("score", ["{file}"], 2),
    ("score", ["{bad_json}"], 2),
    ("score", ["{bad_csv}"], 2),
    ("score", ["{bad_csv}", "--out", "{out}/scores.json"], 2),
    ("score", ["{header_csv}", "--gradebook", "{not_db}"], 2),
    ("export", [], 2),
    ("export", ["no-such-topic", "--gift", "{tmp}/m.txt"], 2),
    ("export", ["--qti", "{out}/c.zip"], 2),
    ("stats", ["{bad_json}"], 2),
    ("stats", ["{bad_csv}"], 2),
    ("stats", ["{bad_csv}", "--html", "{empty_dir}"], 2),
    ("serve", ["--port", "99999"], 2),
    ("serve", ["--banks", "{broken_banks}", "--port", "0"], 2),
]


def _group_first(case: tuple) -> tuple:
    """`quiz --banks X take ...`: the group option goes before the command."""
    command, args, code = case
    if "--banks" in args and command in ("list", "take", "audit"):
        i = args.index("--banks")
        return ["--banks", args[i + 1], command, *args[:i], *args[i + 2:]], code
    return [command, *args], code


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("bad-input")
    return {"tmp": str(tmp), "out": UNWRITABLE, **_files(tmp)}


def _run(program: list[str], args: list[str], files: dict[str, str]) -> subprocess.CompletedProcess:
    argv = [a.format(**files) for a in args]
    env = {**os.environ, "CI": "true", "COLUMNS": "100"}
    return subprocess.run([*program, *argv], capture_output=True, text=True, timeout=240, cwd=files["tmp"],
                          stdin=subprocess.DEVNULL, env=env)


def _check(result: subprocess.CompletedProcess, code: int) -> None:
    both = result.stdout + result.stderr
    assert "Traceback" not in both, both
    assert result.returncode == code, (result.returncode, both[-2000:])
    error_lines = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert error_lines, result.stderr  # the user is told what went wrong


@pytest.mark.parametrize("command, args, code", AUTOGRADER_CASES,
                         ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(AUTOGRADER_CASES)])
def test_autograder_bad_input(bad_files, command, args, code):
    _check(_run(AUTOGRADER, [command, *args], bad_files), code)


@pytest.mark.parametrize("case", QUIZ_CASES, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(QUIZ_CASES)])
def test_quiz_bad_input(bad_files, case):
    argv, code = _group_first(case)
    _check(_run(QUIZ, argv, bad_files), code)


def test_every_command_has_bad_input_cases():
    assert {c for c, _, _ in AUTOGRADER_CASES} == set(autograder_group.commands)
    assert {c for c, _, _ in QUIZ_CASES} == set(quiz_group.commands)


def test_a_bug_is_one_line_and_a_saved_traceback(tmp_path):
    """What no table can list: an unexpected exception inside a command."""
    program = [sys.executable, "-c",
               "import quizzes.cli as q\n"
               "def boom(*a, **k):\n    raise ZeroDivisionError('planted')\n"
               "q.load_banks = boom\nimport quizzes.cli_state as s\ns.load_banks = boom\n"
               "q.main(prog_name='quiz')"]
    result = subprocess.run([*program, "list"], capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    assert "internal error: ZeroDivisionError: planted" in result.stderr
    [saved] = tmp_path.glob("quiz-crash-*.txt")
    assert "ZeroDivisionError: planted" in saved.read_text(encoding="utf-8")


def test_student_text_in_quiz_output_is_inert(tmp_path):
    """A responses file is student-controlled: ids, quiz names and answers reach the table and
    the warnings escaped (no ESC sequence, no rich markup), and so does a guard's message."""
    responses = tmp_path / "responses.csv"
    responses.write_text("student,quiz,question,answer\n"
                         "\x1b[2Jmallory[red]x,attention,attention-scale-why,A\n"
                         "\x1b[2Jmallory[red]x,attention,no-such-\x07question,A\n", encoding="utf-8")
    result = subprocess.run([*QUIZ, "score", str(responses)], capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "200"})
    both = result.stdout + result.stderr
    assert "\x1b" not in both and "\x07" not in both
    assert "\\x1b[2Jmallory[red]x" in both  # shown, escaped, markup printed literally
    assert "no-such-\\x07question" in result.stderr


def test_a_guarded_message_is_printed_inert():
    from quizzes.cli_support import one_line

    assert one_line("cannot read \x1b]0;owned\x07file.csv\nsecond line") == \
        "cannot read \\x1b]0;owned\\x07file.csv / second line"


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA: device: cuda is valid")
def test_device_cuda_without_a_gpu_stops_grading_before_any_case(tmp_path):
    """`device: cuda` where torch sees no GPU is the machine's problem (exit 4), not 175 failed
    cases in a partial grade; a batch records nobody, and the course server does not start."""
    config = tmp_path / "grading.yaml"
    text = (ROOT / "grading.yaml").read_text(encoding="utf-8")
    config.write_text(text.replace("\ndevice: auto", "\ndevice: cuda"), encoding="utf-8")
    assert "device: cuda" in config.read_text(encoding="utf-8")
    files = {"tmp": str(tmp_path)}
    alice = str(ROOT / "examples" / "submissions" / "alice")
    graded = _run(AUTOGRADER, ["grade", alice, "--config", str(config), "--results", "r.json"], files)
    _check(graded, 4)
    assert "device: cuda" in graded.stderr and not (tmp_path / "r.json").exists()
    book = tmp_path / "grades.sqlite"
    batch = _run(AUTOGRADER, ["batch", str(ROOT / "examples" / "submissions"), "--config", str(config),
                              "--gradebook", str(book)], files)
    _check(batch, 4)
    assert "device: cuda" in batch.stderr
    from autograder.gradebook import Gradebook

    with Gradebook(book) as gradebook:
        assert gradebook.latest() == []
    roster = tmp_path / "roster.csv"
    roster.write_text("student\nann\n", encoding="utf-8")
    served = _run(AUTOGRADER, ["serve", "--roster", str(roster), "--gradebook", str(tmp_path / "server.sqlite"),
                               "--config", str(config), "--port", "0"], files)
    _check(served, 4)
    assert "device: cuda" in served.stderr

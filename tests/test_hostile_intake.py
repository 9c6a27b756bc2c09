"""Unreadable submissions (issue 15, items 2 and 3): each class ends in exit 3 with one error
line AND a results.json (score 0, every function of grading.yaml listed at 0, the reason in
each test's `output`) and the report; batch records them at 0 as the submission's own failure.

The hostile inputs are built here, byte by byte, so each test says what it attacks. Expected
points come from grading.yaml read with PyYAML (not from the grader's config loader).
"""
from __future__ import annotations

import json
import os
import py_compile
import sqlite3
import struct
import subprocess
import sys
import zipapp
import zipfile
from pathlib import Path

import pytest
import yaml

from autograder.intake import MAX_SOURCE_BYTES, SubmissionError, load_submission

ROOT = Path(__file__).resolve().parents[1]
HONEST_MASKS = (ROOT / "tests/fixtures/hostile/controls/honest_pair/masks.py").read_text()
GRADED = {f"{module}.{function}": points
          for module, spec in yaml.safe_load((ROOT / "grading.yaml").read_text())["modules"].items()
          for function, points in spec["functions"].items() if points > 0}
NAME_MAX = os.pathconf("/tmp", "PC_NAME_MAX")  # 255 on ext4, tmpfs and overlayfs


def _zip(path: Path, members: dict[str, str | bytes], method=zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _patch(path: Path, edit) -> Path:
    raw = bytearray(path.read_bytes())
    edit(raw)
    path.write_bytes(bytes(raw))
    return path


def lying_bomb(path: Path) -> Path:
    """A deflated member of 50 MiB whose headers claim 100 bytes (a classic bomb disguise)."""
    _zip(path, {"masks.py": b"\n" * (50 << 20)}, zipfile.ZIP_DEFLATED)

    def edit(raw):
        struct.pack_into("<I", raw, raw.find(b"PK\x03\x04") + 22, 100)  # local header size
        struct.pack_into("<I", raw, raw.find(b"PK\x01\x02") + 24, 100)  # central directory size
    return _patch(path, edit)


def declared_bomb(path: Path) -> Path:
    """Members whose declared uncompressed total (200 MiB) is far over the limit."""
    return _zip(path, {"masks.py": b"#" * (200 << 20)}, zipfile.ZIP_DEFLATED)


def overlapping(path: Path) -> Path:
    """Two central-directory entries pointing at one local header (overlapping members)."""
    _zip(path, {"masks.py": HONEST_MASKS, "attention.py": "x = 1\n"})

    def edit(raw):
        second = raw.find(b"PK\x01\x02", raw.find(b"PK\x01\x02") + 4)
        struct.pack_into("<I", raw, second + 42, 0)  # its local header offset -> the first's
    return _patch(path, edit)


def pyc_named_py(path: Path) -> Path:
    source = path.parent / "honest_masks_source.py"
    source.write_text(HONEST_MASKS)
    py_compile.compile(str(source), cfile=str(path), doraise=True)
    return path


def zipapp_named_py(path: Path) -> Path:
    app = path.parent / "app"
    app.mkdir()
    (app / "__main__.py").write_text(HONEST_MASKS)
    zipapp.create_archive(app, path, interpreter="/usr/bin/env python3")
    return path


def sparse_module(path: Path) -> Path:
    with path.open("wb") as handle:
        handle.truncate(2 << 30)  # 2 GiB of holes: no disk used, st_size says 2 GiB
    return path


def deep_notebook(path: Path) -> Path:
    path.write_text('{"cells": ' + "[" * 5000 + "]" * 5000 + ', "nbformat": 4, "nbformat_minor": 5, "metadata": {}}')
    return path


def writes(data: str | bytes):
    """A builder that writes `data` as the whole file."""
    def make(path: Path) -> Path:
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path
    return make


def fifo(path: Path) -> Path:
    """A named pipe called masks.py: reading it would wait forever for a writer."""
    os.mkfifo(path)
    return path


HOSTILE = {  # name -> (how to build it, file name, words the reason must contain)
    "empty zip": (writes(b""), "empty.zip", "not a readable zip"),
    "not a zip": (writes("hello, not an archive"), "text.zip", "not a readable zip"),
    "zip without members": (lambda p: _zip(p, {}), "hollow.zip", "no attention.py"),
    "declared bomb": (declared_bomb, "bomb.zip", "MiB uncompressed"),
    "lying bomb": (lying_bomb, "liar.zip", "CRC"),
    "overlapping entries": (overlapping, "overlap.zip", "not a readable zip"),
    "pyc named .py": (pyc_named_py, "masks.py", "not UTF-8"),
    "zipapp named .py": (zipapp_named_py, "masks.py", "zip archive"),
    "invalid UTF-8": (writes(b"def causal_mask(n):\n    return '\xff\xfe'\n"), "masks.py", "not UTF-8"),
    "2 GiB sparse module": (sparse_module, "masks.py", f"larger than {MAX_SOURCE_BYTES // 1024} KiB"),
    "FIFO named .py": (fifo, "masks.py", "not a regular file"),
    "folder whose notebook is a FIFO": (lambda p: (p.mkdir(), fifo(p / "lab.ipynb"), p)[-1], "judy", "no attention.py"),
    "notebook not JSON": (writes("{ not json"), "lab.ipynb", "not a readable notebook"),
    "notebook nested too deep": (deep_notebook, "lab.ipynb", "not a readable notebook"),
    "notebook schema-invalid": (writes(json.dumps({"cells": 5, "nbformat": 4})), "lab.ipynb",
                                "not a readable notebook"),
    "only a module named at NAME_MAX": (
        lambda p: _zip(p, {"x" * (NAME_MAX - 3) + ".py": "def f():\n    return 1\n"}),
        "longname.zip", "no attention.py"),
}


def build(case: str, folder: Path) -> Path:
    make, name, _ = HOSTILE[case]
    folder.mkdir(parents=True, exist_ok=True)
    return make(folder / name)


@pytest.mark.parametrize("case", HOSTILE)
def test_intake_refuses_each_class_with_one_line_reason(case, tmp_path):
    path = build(case, tmp_path / "in")
    with pytest.raises(SubmissionError) as refused:
        load_submission(path)
    message = str(refused.value)
    assert HOSTILE[case][2] in message, message
    assert "\n" not in message and "Traceback" not in message


def grade_cli(path: Path, out: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "autograder.cli", "grade", str(path), "--results", str(out / "results.json"),
         "--report", str(out / "report.html"), *extra],
        capture_output=True, text=True, timeout=300, env=env, cwd=out)


def assert_unreadable_results(results: dict, reason_words: str) -> None:
    """Gradescope's shape; every function grading.yaml gives points to, each test at 0."""
    assert set(results) >= {"score", "execution_time", "output", "tests"}
    assert results["score"] == 0
    assert {t["name"].split(":")[0] for t in results["tests"]} == set(GRADED)
    for test in results["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "visibility", "output", "extra_data"}
        assert test["score"] == 0 and test["status"] == "failed"
        assert reason_words in test["output"], test["output"]
    total = sum(t["max_score"] for t in results["tests"])
    assert total == pytest.approx(sum(GRADED.values()))
    assert "could not be read" in results["output"]


@pytest.mark.parametrize("case", HOSTILE)
def test_grade_writes_results_and_report_then_exits_3(case, tmp_path):
    path = build(case, tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    done = grade_cli(path, out, "--junit", str(out / "junit.xml"))
    assert done.returncode == 3, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and HOSTILE[case][2] in lines[0], done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert_unreadable_results(json.loads((out / "results.json").read_text()), HOSTILE[case][2])
    report = (out / "report.html").read_text()
    assert "could not be read" in report and HOSTILE[case][2].split()[0] in report
    assert (out / "junit.xml").read_text().count("<testcase") == len(GRADED)


def test_markdown_report_too(tmp_path):
    path = build("pyc named .py", tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", str(path),
                           "--report", str(out / "feedback.md")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 3
    assert "**Your submission could not be read**" in (out / "feedback.md").read_text()


def test_a_long_member_name_is_a_note_not_a_traceback(tmp_path):
    """Issue 15 item 3: a zip member named at the file-system limit once ended in
    `SandboxUnavailable: the submission could not be loaded`; it is now left out with a note
    and the rest of the archive is graded, also from a folder path longer than PATH_MAX."""
    deep = ("d" * (NAME_MAX - 5) + "/") * 17  # past PATH_MAX (4096) too: never written anywhere
    archive = _zip(tmp_path / "carol.zip", {deep + "x" * (NAME_MAX - 3) + ".py": "def f():\n    return 1\n",
                                            deep + "masks.py": HONEST_MASKS})
    out = tmp_path / "out"
    out.mkdir()
    done = grade_cli(archive, out, "--quiet", "--seed", "1")
    assert done.returncode == 0, done.stderr
    results = json.loads((out / "results.json").read_text())
    assert "a module name longer than" in results["output"]
    causal = [t for t in results["tests"] if t["name"].startswith("masks.causal_mask:")]
    assert causal and sum(t["score"] for t in causal) > 0


class UnloadableWorker:
    """A worker whose child dies on every import, whatever is skipped (what the sandbox reports
    as SubmissionUnloadable, e.g. for a module file it cannot create)."""

    isolation = "rlimits"

    def load_submission(self, modules):
        from autograder.sandbox.client import SubmissionUnloadable

        raise SubmissionUnloadable("the submission could not be loaded: every module's import "
                                   "ended the sandboxed child")


def test_a_submission_the_worker_cannot_load_is_unreadable_not_a_crash(tmp_path):
    """SubmissionUnloadable is the submission's failure: a result at 0 with the reason, the
    batch key of the submission it read, and the CLI's exit 3 (it checks `unreadable`)."""
    from autograder.config import load_config
    from autograder.grading import grade_submissions
    from autograder.results import gradescope_results

    folder = tmp_path / "dave"
    folder.mkdir()
    (folder / "masks.py").write_text(HONEST_MASKS)
    submission = load_submission(folder)
    [result] = grade_submissions([(submission, "dave")], load_config(), [UnloadableWorker()], seed=1)
    assert result.unreadable and result.student == "dave" and result.digest == submission.digest
    assert "could not be loaded" in result.error and str(folder) in result.error
    assert_unreadable_results(gradescope_results(result), "could not be loaded")


def test_batch_records_unreadable_submissions_at_zero_and_skips_them_next_time(tmp_path):
    klass = tmp_path / "class"
    klass.mkdir()
    for student, case in (("erin", "pyc named .py"), ("frank", "lying bomb"), ("gina", "notebook not JSON")):
        made = build(case, tmp_path / "built" / student)
        made.rename(klass / f"{student}{made.suffix}")
    book, grades = tmp_path / "grades.sqlite", tmp_path / "grades.csv"
    command = [sys.executable, "-m", "autograder.cli", "batch", str(klass), "--gradebook", str(book),
               "--csv", str(grades), "--results-dir", str(tmp_path / "results")]
    wide = {**os.environ, "COLUMNS": "250"}  # the summary line unwrapped
    first = subprocess.run(command, capture_output=True, text=True, timeout=300, env=wide)
    assert first.returncode == 0, first.stderr
    assert "3 unreadable (scored 0)" in first.stdout and "0 errors" in first.stdout
    with sqlite3.connect(book) as db:
        rows = db.execute("SELECT student, status, score, error FROM submissions ORDER BY student").fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [("erin", "graded", 0.0), ("frank", "graded", 0.0),
                                                  ("gina", "graded", 0.0)]
    assert "not UTF-8" in rows[0][3] and "CRC" in rows[1][3] and "not a readable notebook" in rows[2][3]
    assert_unreadable_results(json.loads((tmp_path / "results" / "frank" / "results.json").read_text()), "CRC")
    total = f"{sum(GRADED.values()):g}"
    assert [line.split(",")[:5] for line in grades.read_text().splitlines()[1:]] == [
        [student, "0", total, "0", "graded"] for student in ("erin", "frank", "gina")]
    again = subprocess.run(command, capture_output=True, text=True, timeout=300, env=wide)
    assert again.returncode == 0 and "3 already in" in again.stdout, again.stdout


def test_class_statistics_count_unreadable_scores_but_not_their_cases(tmp_path):
    """The class summary: an unreadable submission is a 0 in the scores and fails every
    function, but its placeholder cases are not tests anyone ran (no pass-rate rows)."""
    from autograder.config import load_config
    from autograder.exports import class_statistics
    from autograder.gradebook import Gradebook
    from autograder.result_types import CaseResult, FunctionScore, GradeResult, ScoredCase
    from autograder.unreadable import unreadable_result

    broken = build("pyc named .py", tmp_path / "in")
    passed = CaseResult("masks.causal_mask", "basic", 1.0, "passed")
    honest = GradeResult("hana", "hana.py", "a" * 64, [FunctionScore("masks.causal_mask", 2.0,
                         [ScoredCase(passed, 2.0, 2.0)])], 1, "rlimits", 0.1)
    with Gradebook(tmp_path / "g.sqlite") as book:
        book.record(honest)
        book.record(unreadable_result(broken, "not UTF-8 text", load_config(), student="ivan"))
        stats = class_statistics(book)
    assert stats["graded"] == 2 and stats["unreadable"] == 1 and stats["errors"] == 0
    assert sorted(stats["percents"]) == [0.0, 100.0]
    assert stats["pass_rate_by_test"] == {"masks.causal_mask: basic": 1.0}
    assert stats["pass_rate_by_function"]["masks.causal_mask"] == 0.5

"""`autograder similarity` end to end: every intake kind, JSON and HTML, roster, cache, errors."""
from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from autograder.cli import main
from autograder.contract import qualnames

ROOT = Path(__file__).resolve().parent.parent
AUTHORS = ROOT / "benchmarks" / "similarity_authors"
MODULES = ("masks", "attention", "transformer")


def _renamed(source: str) -> str:
    """A crude disguise: other names for the author's own variables, other comments."""
    for old, new in (("out", "result_grid"), ("heads", "head_list"), ("scores", "logits_"),
                     ("hidden", "h_"), ("total", "running")):
        source = source.replace(f"{old} =", f"{new} =").replace(f"({old}", f"({new}").replace(f" {old})", f" {new})")
    return "# my submission\n" + source


@pytest.fixture
def klass(tmp_path) -> Path:
    """loops as a folder; its copy as a notebook (with demo and markdown cells); helpers as a
    .zip; vectorised as one .py holding every module; a broken zip."""
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copytree(AUTHORS / "loops", folder / "ann", ignore=shutil.ignore_patterns("*.md"))
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_markdown_cell("# Lab 2.3"))
    for module in MODULES:
        notebook.cells.append(nbformat.v4.new_code_cell(_renamed((AUTHORS / "loops" / f"{module}.py").read_text())))
        notebook.cells.append(nbformat.v4.new_code_cell("out = causal_mask(4)\nprint(out)\n%timeit causal_mask(8)"))
    nbformat.write(notebook, folder / "ben.ipynb")
    with zipfile.ZipFile(folder / "cy.zip", "w") as archive:
        for module in MODULES:
            archive.write(AUTHORS / "helpers" / f"{module}.py", f"cy/{module}.py")
    single = "\n\n".join((AUTHORS / "vectorised" / f"{m}.py").read_text() for m in MODULES)
    (folder / "di.py").write_text(single.replace("from exercises.attention import multi_head_attention", ""))
    (folder / "ed.zip").write_bytes(b"not a zip")
    return folder


def run(*args: str):
    return CliRunner().invoke(main, ["similarity", *args], catch_exceptions=False)


def test_the_notebook_copy_of_a_folder_submission_is_the_top_pair(klass, tmp_path):
    out_json, out_html = tmp_path / "out" / "s.json", tmp_path / "out" / "s.html"
    result = run(str(klass), "--json", str(out_json), "--report", str(out_html), "--no-cache")
    assert result.exit_code == 0, result.output
    data = json.loads(out_json.read_text())
    assert data["threshold"] == 0.5
    assert data["students"] == 4
    assert set(data["skipped"]) == {"ed"} and "zip" in data["skipped"]["ed"]
    top = data["pairs"][0]
    assert (top["a"], top["b"]) == ("ann", "ben") and top["score"] >= 0.5
    scores = [p["score"] for p in data["pairs"]]
    assert scores == sorted(scores, reverse=True)
    assert set(top["functions"]) <= set(qualnames())
    assert top["functions"]["attention.split_heads"] >= 0.5
    others = [p for p in data["pairs"] if {p["a"], p["b"]} != {"ann", "ben"}]
    assert all(not p["flagged"] for p in others)  # independent authors: no function reaches 0.5 either
    assert top["flagged"]
    html = out_html.read_text()
    assert "ann &harr; ben" in html and 'class="match"' in html
    assert "attention.split_heads" in html


def test_student_code_is_escaped_in_the_html(tmp_path):
    evil = (AUTHORS / "loops" / "masks.py").read_text().replace(
        '"lengths must be positive"', '"</pre><script>alert(1)</script>"')
    for student in ("a", "b"):
        (tmp_path / student).mkdir()
        (tmp_path / student / "masks.py").write_text(evil)
    report = tmp_path / "s.html"
    assert run(str(tmp_path), "--report", str(report), "--no-cache").exit_code == 0
    html = report.read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)" in html


def test_roster_names_the_students(klass, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student,submission\nAnn Smith,ann\nBen Jones,ben.ipynb\n")
    out_json = tmp_path / "s.json"
    assert run(str(klass), "--roster", str(roster), "--json", str(out_json), "--no-cache").exit_code == 0
    top = json.loads(out_json.read_text())["pairs"][0]
    assert (top["a"], top["b"]) == ("Ann Smith", "Ben Jones")


def test_a_bad_roster_is_one_line_and_exit_2(klass, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("name,file\nann,ann\n")
    result = CliRunner().invoke(main, ["similarity", str(klass), "--roster", str(roster)])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and f"{roster}:1:" in result.stderr


def test_missing_or_empty_folder_exits_3(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(main, ["similarity", str(tmp_path / "nope")])
    assert missing.exit_code == 3 and missing.stderr.startswith("error: ")
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(main, ["similarity", str(empty)])
    assert result.exit_code == 3 and "no submissions" in result.stderr


def test_the_cache_serves_unchanged_submissions_and_survives_damage(klass, tmp_path):
    from autograder.batch import discover
    from autograder.similarity.run import run_similarity

    cache = tmp_path / "cache.sqlite"
    first = run_similarity(discover(klass), cache_path=cache, jobs=1)
    assert first.cached == 0
    second = run_similarity(discover(klass), cache_path=cache, jobs=1)
    assert second.cached == 4
    assert (second.comparison.score == first.comparison.score).all()
    (klass / "ann" / "masks.py").write_text((klass / "ann" / "masks.py").read_text() + "\n# edited\n")
    third = run_similarity(discover(klass), cache_path=cache, jobs=1)
    assert third.cached == 3  # the edited submission has a new hash
    cache.write_bytes(b"garbage, not sqlite")
    damaged = run(str(klass), "--cache", str(cache))
    assert damaged.exit_code == 0 and "cache not used" in damaged.output


def test_help_explains_the_command():
    result = run("--help")
    assert result.exit_code == 0
    for word in ("--threshold", "--report", "--json", "--roster", "Exit codes", "starter code"):
        assert word in result.output


def test_batch_with_similarity_adds_the_pairs_to_the_class_summary(tmp_path):
    folder = tmp_path / "class"
    for student in ("ann", "ben"):
        (folder / student).mkdir(parents=True)
    source = (AUTHORS / "loops" / "masks.py").read_text()
    (folder / "ann" / "masks.py").write_text(source)
    (folder / "ben" / "masks.py").write_text(source.replace("shift", "offset_").replace("out", "grid"))
    summary = tmp_path / "summary.html"
    result = CliRunner().invoke(main, ["batch", str(folder), "--gradebook", str(tmp_path / "g.sqlite"),
                                       "--summary", str(summary), "--similarity", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "flagged pairs" in result.output
    html = summary.read_text()
    section = html[html.index('id="similarity"'):]
    assert "<td>ann</td><td>ben</td>" in section and "masks.causal_mask" in section


@pytest.mark.parametrize("args, expected", [
    (["--threshold", "0"], "--threshold"),
    (["--threshold", "1.5"], "--threshold"),
    (["--threshold", "half"], "--threshold"),
])
def test_a_bad_threshold_is_one_line_and_exit_2(klass, args, expected):
    result = CliRunner().invoke(main, ["similarity", str(klass), *args])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.strip().count("\n") == 0
    assert expected in result.stderr and "Traceback" not in result.output


def test_a_file_given_as_the_folder_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "alice.py").write_text("x = 1\n")
    result = CliRunner().invoke(main, ["similarity", str(tmp_path / "alice.py")])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "is a file" in result.stderr


def test_unreadable_notebooks_and_broken_zips_are_listed_and_the_rest_compared(klass, tmp_path):
    (klass / "fay.ipynb").write_text("{ not json")
    out_json = tmp_path / "s.json"
    result = run(str(klass), "--json", str(out_json), "--no-cache")
    assert result.exit_code == 0
    data = json.loads(out_json.read_text())
    assert set(data["skipped"]) == {"ed", "fay"} and "notebook" in data["skipped"]["fay"]
    assert data["students"] == 4
    for line in ("not compared: ed: ", "not compared: fay: "):
        assert sum(text.startswith(line) for text in result.output.splitlines()) == 1


def test_a_folder_where_nothing_is_readable_is_one_line_and_exit_3(tmp_path):
    (tmp_path / "fay.ipynb").write_text("{ not json")
    (tmp_path / "ed.zip").write_bytes(b"not a zip")
    result = CliRunner().invoke(main, ["similarity", str(tmp_path), "--no-cache"])
    assert result.exit_code == 3
    assert result.stderr.strip().count("\n") == 0 and "no submission could be read" in result.stderr
    assert "fay" in result.stderr and "ed" in result.stderr


def test_the_progress_bar_counts_every_submission(klass):
    result = run(str(klass), "--no-cache")
    assert result.exit_code == 0
    assert "fingerprinting" in result.output and "5/5" in result.output  # the broken zip counts too


@pytest.fixture
def trio(tmp_path) -> Path:
    """ann (loops), ben and cy (ann's code renamed, reformatted), di (helpers), eve (vectorised)."""
    import random
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from similarity_disguises import reformat, rename

    folder = tmp_path / "class"
    for student, author, disguise in (("ann", "loops", None), ("ben", "loops", rename),
                                      ("cy", "loops", reformat), ("di", "helpers", None),
                                      ("eve", "vectorised", None)):
        (folder / student).mkdir(parents=True)
        for module in MODULES:
            source = (AUTHORS / author / f"{module}.py").read_text()
            if disguise:
                source = disguise(source, random.Random(student))
            (folder / student / f"{module}.py").write_text(source)
    return folder


def test_three_students_sharing_one_solution_are_one_cluster(trio, tmp_path):
    out_json, out_html = tmp_path / "s.json", tmp_path / "s.html"
    assert run(str(trio), "--json", str(out_json), "--report", str(out_html), "--no-cache").exit_code == 0
    data = json.loads(out_json.read_text())
    flagged = {(p["a"], p["b"]) for p in data["pairs"] if p["flagged"]}
    assert flagged == {("ann", "ben"), ("ann", "cy"), ("ben", "cy")}
    assert [c["students"] for c in data["clusters"]] == [["ann", "ben", "cy"]]
    assert "attention.scaled_dot_product_attention" in data["clusters"][0]["functions"]
    html = out_html.read_text()
    clusters = html[html.index('id="clusters"'):html.index("</table>", html.index('id="clusters"'))]
    assert "ann, ben, cy" in clusters


OBVIOUS_GELU = '''import math
import torch


def gelu({x}):
    if not {x}.is_floating_point():
        raise TypeError("gelu needs floats")
    {c} = 0.5 * (1.0 + torch.erf({x} / math.sqrt(2.0)))
    return {x} * {c}
'''


@pytest.mark.parametrize("common_fraction, flagged", [(1.0, True), (0.5, False)])
def test_a_gelu_the_whole_class_writes_the_obvious_way_flags_no_pair(tmp_path, common_fraction, flagged):
    """Twelve students write the same three lines (their own names): evidence only when the
    common-code discount is off (common_fraction 1: nothing counts as common)."""
    from autograder.batch import discover
    from autograder.similarity.compare import DEFAULT_THRESHOLD
    from autograder.similarity.run import run_similarity

    for i in range(12):
        (tmp_path / f"s{i:02d}").mkdir()
        (tmp_path / f"s{i:02d}" / "transformer.py").write_text(OBVIOUS_GELU.format(x=f"inp{i}", c=f"phi{i}"))
    scores = run_similarity(discover(tmp_path), jobs=1, common_fraction=common_fraction).comparison.score
    assert (scores.max() >= DEFAULT_THRESHOLD) == flagged


def test_code_nested_too_deeply_to_analyse_is_listed_and_the_rest_compared(klass, tmp_path):
    (klass / "zed").mkdir()
    (klass / "zed" / "masks.py").write_text("def causal_mask(n):\n    return " + " + ".join(["n"] * 1000) + "\n")
    out_json = tmp_path / "s.json"
    result = run(str(klass), "--json", str(out_json), "--no-cache")
    assert result.exit_code == 0
    data = json.loads(out_json.read_text())
    assert data["skipped"]["zed"] == "code nested too deeply to analyse"
    assert data["students"] == 4 and (data["pairs"][0]["a"], data["pairs"][0]["b"]) == ("ann", "ben")


def test_a_module_nested_too_deeply_to_parse_is_a_note_and_the_others_count():
    from autograder.similarity.extract import parse_modules

    deep = "x = " + " + ".join(["1"] * 10_000) + "\n"  # parses to an AST 10,000 levels deep
    parsed, notes = parse_modules({"masks": deep, "attention": "def split_heads(x, h):\n    return x\n"})
    assert set(parsed) == {"attention"}
    assert notes == ["masks.py: not compared, nested too deeply to parse"]


def test_in_the_process_pool_too_a_deep_submission_is_listed_not_fatal(tmp_path):
    from autograder.batch import discover
    from autograder.similarity.run import PARALLEL_FROM, run_similarity

    for i in range(PARALLEL_FROM):
        shutil.copytree(AUTHORS / "loops", tmp_path / f"s{i:02d}", ignore=shutil.ignore_patterns("*.md"))
    (tmp_path / "zed").mkdir()
    (tmp_path / "zed" / "masks.py").write_text("def causal_mask(n):\n    return " + " + ".join(["n"] * 1000) + "\n")
    run = run_similarity(discover(tmp_path), jobs=2)
    assert run.skipped == {"zed": "code nested too deeply to analyse"}
    assert len(run.comparison.students) == PARALLEL_FROM

"""Gradebook exports: CSV, Canvas CSV, results.json and feedback per student, class summary."""
import base64
import json
import re

import pytest

from autograder.exports import (
    class_statistics,
    class_summary_html,
    export_canvas_csv,
    export_csv,
    export_feedback,
    export_results_json,
    load_canvas_roster,
    number,
    safe_dirname,
)
from autograder.gradebook import Gradebook
from autograder.result_types import CaseResult, FunctionScore, GradeResult, ScoredCase

VERSION = "0.1.0"
ATT, MASK = "attention.scaled_dot_product_attention", "masks.causal_mask"
T = "2025-01-{:02d}T09:00:00+00:00"


def make_result(student, digest, functions):
    """functions: [(qualname, [(case, status, score, max_score, mistake), ...]), ...]."""
    scores = []
    for qualname, cases in functions:
        function = FunctionScore(qualname, sum(c[3] for c in cases))
        for case, status, score, max_score, mistake in cases:
            message = "" if status == "passed" else f"got X, expected Y ({case})"
            function.cases.append(ScoredCase(CaseResult(qualname, case, 1.0, status, message, mistake),
                                             score, max_score))
        scores.append(function)
    return GradeResult(student=student, submission=f"subs/{student}.py", digest=digest, functions=scores,
                       seed=7, sandbox="rlimits", execution_time=2.0, grader_version=VERSION)


def ok(case):
    return (case, "passed", 5.0, 5.0, None)


def bad(case, mistake=None, status="failed"):
    return (case, status, 0.0, 5.0, mistake)


# Every case is worth 5 points; 4 cases -> 20 points.
#   alice: attention basic ok, batched ok; masks square ok, rect bad(mask-inverted)  -> 15 / 20 = 75 %
#   bob:   attention basic bad(no-scaling), batched bad(no-scaling); masks ok, ok    -> 10 / 20 = 50 %
#          (an older submission scored 0: history, not exported)
#   carol: attention basic ok, batched bad(no-scaling); masks square bad(off-by-one),
#          rect not implemented                                                      ->  5 / 20 = 25 %
STUDENTS = {
    "alice": ("sha-a", T.format(10), [(ATT, [ok("basic"), ok("batched")]),
                                      (MASK, [ok("square"), bad("rect", "mask-inverted")])]),
    "bob": ("sha-b2", T.format(12), [(ATT, [bad("basic", "no-scaling"), bad("batched", "no-scaling")]),
                                     (MASK, [ok("square"), ok("rect")])]),
    "carol": ("sha-c", T.format(11), [(ATT, [ok("basic"), bad("batched", "no-scaling")]),
                                      (MASK, [bad("square", "off-by-one"), bad("rect", None, "not implemented")])]),
}


@pytest.fixture
def gb(tmp_path):
    with Gradebook(tmp_path / "grades.sqlite") as book:
        old_bob = [(ATT, [bad("basic"), bad("batched")]), (MASK, [bad("square"), bad("rect")])]
        book.record(make_result("bob", "sha-b1", old_bob), graded_at=T.format(9))
        for student, (sha, at, functions) in STUDENTS.items():
            book.record(make_result(student, sha, functions), graded_at=at)
        book.record_quiz("alice", "attention", 4, 5)
        book.record_quiz("alice", "masking", 3, 4)
        book.record_quiz("bob", "attention", 5, 5)
        book.record_quiz("dave", "masking", 2, 4)  # a quiz, no submission
        yield book


def test_number_formatting():
    assert [number(x) for x in (17.5, 20.0, 2 / 3, None, 0.0, -0.00001)] == ["17.5", "20", "0.6667", "", "0", "0"]


def test_csv(gb, tmp_path):
    path = tmp_path / "grades.csv"
    assert export_csv(gb, path) == 4
    assert path.read_text().splitlines() == [
        "student,score,max_score,percent,status,graded_at,submission_sha256,quiz:attention,quiz:masking",
        f"alice,15,20,75,graded,{T.format(10)},sha-a,4,3",
        f"bob,10,20,50,graded,{T.format(12)},sha-b2,5,",
        f"carol,5,20,25,graded,{T.format(11)},sha-c,,",
        "dave,,,,missing,,,,2",
    ]


def test_csv_lists_a_student_who_only_has_errors(tmp_path):
    with Gradebook(tmp_path / "g.sqlite") as book:
        book.record_error("erin", "sha-e", VERSION, "subs/erin.zip", "not a zip file", graded_at=T.format(1))
        export_csv(book, tmp_path / "g.csv")
        assert export_canvas_csv(book, tmp_path / "c.csv") == []
    assert (tmp_path / "g.csv").read_text().splitlines()[1] == f"erin,,,,error,{T.format(1)},sha-e"
    assert (tmp_path / "c.csv").read_text().splitlines() == [
        "Student,ID,SIS User ID,SIS Login ID,Section,NLP Transformers autograder",
        "Points Possible,,,,,0",
        "erin,,,erin,,",
    ]


def test_canvas_csv(gb, tmp_path):
    path = tmp_path / "canvas.csv"
    assert export_canvas_csv(gb, path) == []
    assert path.read_text().splitlines() == [
        "Student,ID,SIS User ID,SIS Login ID,Section,NLP Transformers autograder",
        "Points Possible,,,,,20",
        "alice,,,alice,,15",
        "bob,,,bob,,10",
        "carol,,,carol,,5",
    ]


def test_canvas_csv_with_roster_and_scaling(gb, tmp_path):
    export = tmp_path / "canvas_export.csv"
    export.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section,Homework 1 (77)\n"
        "    Points Possible,,,,,10\n"
        '"Liddell, Alice",1001,S1,alice,NLP-1,9\n'
        '"Builder, Bob",1002,S2,bob,NLP-2,\n'
    )
    roster = load_canvas_roster(export)
    assert roster["alice"] == {"Student": "Liddell, Alice", "ID": "1001", "SIS User ID": "S1",
                               "SIS Login ID": "alice", "Section": "NLP-1"}
    path = tmp_path / "canvas.csv"
    unmatched = export_canvas_csv(gb, path, "Transformers lab", assignment_id=4242,
                                  points_possible=100, roster=roster)
    assert unmatched == ["carol"]
    assert path.read_text().splitlines() == [
        "Student,ID,SIS User ID,SIS Login ID,Section,Transformers lab (4242)",
        "Points Possible,,,,,100",
        '"Liddell, Alice",1001,S1,alice,NLP-1,75',  # 15 / 20 * 100
        '"Builder, Bob",1002,S2,bob,NLP-2,50',
        "carol,,,carol,,25",
    ]


def test_canvas_csv_refuses_mixed_totals_unless_scaled(gb, tmp_path):
    gb.record(make_result("zed", "sha-z", [(ATT, [ok("basic")])]))  # out of 5, not 20
    with pytest.raises(ValueError, match="different totals"):
        export_canvas_csv(gb, tmp_path / "canvas.csv")
    export_canvas_csv(gb, tmp_path / "canvas.csv", points_possible=10)
    assert (tmp_path / "canvas.csv").read_text().splitlines()[-1] == "zed,,,zed,,10"  # 5 / 5 * 10


def test_results_json_per_student(gb, tmp_path):
    written = export_results_json(gb, tmp_path / "out")
    assert sorted(written) == ["alice", "bob", "carol"]
    assert written["alice"] == tmp_path / "out" / "alice" / "results.json"
    document = json.loads(written["alice"].read_text())
    assert document["score"] == 15.0
    assert len(document["tests"]) == 4
    for test in document["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "visibility", "output", "extra_data"}
        assert isinstance(test["score"], float) and isinstance(test["max_score"], float)
        assert test["status"] in ("passed", "failed")
        assert set(test["extra_data"]) == {"module", "function", "mistake", "hidden"}
    assert sum(t["score"] for t in document["tests"]) == document["score"]
    rect = next(t for t in document["tests"] if t["name"] == "masks.causal_mask: rect")
    assert (rect["score"], rect["max_score"], rect["status"]) == (0.0, 5.0, "failed")
    assert rect["extra_data"]["mistake"] == "mask-inverted" and "mask-inverted" in rect["output"]
    assert json.loads(written["bob"].read_text())["extra_data"]["submission_sha256"] == "sha-b2"


def test_feedback_per_student(gb, tmp_path):
    written = export_feedback(gb, tmp_path / "fb")
    html, md = written["carol"]
    assert md.read_text().startswith("# Feedback for carol: 5.00 / 20")
    assert "off-by-one" in md.read_text() and "not implemented" in md.read_text()
    assert "<h1>carol: 5.00 / 20</h1>" in html.read_text()


def test_statistics_hand_computed(gb):
    stats = class_statistics(gb)
    assert (stats["students"], stats["graded"], stats["errors"], stats["submissions"]) == (3, 3, 0, 4)
    assert (stats["mean_score"], stats["median_score"]) == (10.0, 10.0)  # (15 + 10 + 5) / 3
    assert (stats["mean_percent"], stats["median_percent"]) == (50.0, 50.0)
    assert stats["mistakes"] == [("no-scaling", 2, [ATT]), ("mask-inverted", 1, [MASK]), ("off-by-one", 1, [MASK])]
    assert stats["pass_rate_by_function"] == {ATT: 1 / 3, MASK: 1 / 3}  # alice, bob
    assert stats["pass_rate_by_test"] == {
        f"{ATT}: basic": 2 / 3, f"{ATT}: batched": 1 / 3, f"{MASK}: square": 2 / 3, f"{MASK}: rect": 1 / 3}


def test_class_summary_html(gb, tmp_path):
    gb.record(make_result("<script>alert(1)</script>", "sha-x", [(ATT, [ok("basic"), ok("batched")]),
                                                                   (MASK, [ok("square"), ok("rect")])]))
    path = tmp_path / "summary.html"
    class_summary_html(gb, path)
    html = path.read_text()
    image = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert image and base64.b64decode(image.group(1)).startswith(b"\x89PNG\r\n\x1a\n")
    assert re.search(r"<td><code>no-scaling</code></td><td class=\"num\">2</td>", html)
    assert '<td class="num" id="students">4</td>' in html
    assert '<td class="num" id="submissions">5</td>' in html
    assert '<td class="num" id="mean">12.5 (62.5%)</td>' in html  # (15 + 10 + 5 + 20) / 4
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html


def test_hostile_student_ids_stay_inside_out_dir(gb, tmp_path):
    gb.record(make_result("../../etc", "sha-x", [(ATT, [ok("basic")])]))
    written = export_results_json(gb, tmp_path / "out")
    target = written["../../etc"]
    assert target.parent.parent == tmp_path / "out"
    assert target.parent.name == safe_dirname("../../etc") and target.parent.name.startswith("_.._etc-")

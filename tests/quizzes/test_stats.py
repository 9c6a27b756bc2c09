"""`quiz stats`: statistics checked against hand-worked numbers and independent numpy formulas."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from quizzes.cli import main
from quizzes.stats import analyse
from quizzes.stats_report import render_html
from quizzes.stats_responses import Response, ResponsesError, bank_choices, load_responses

# 5 students x 3 dichotomous items (1 point each). Totals 3, 2, 1, 1, 0.
MATRIX = {
    "s1": [1, 1, 1],
    "s2": [1, 1, 0],
    "s3": [1, 0, 0],
    "s4": [0, 1, 0],
    "s5": [0, 0, 0],
}


def responses(matrix, max_score=1.0):
    return [
        Response(s, f"q{j + 1}", float(x), max_score, where=f"test:{s}:{j}")
        for s, row in matrix.items()
        for j, x in enumerate(row)
    ]


def test_kr20_hand_worked():
    # p = (.6, .6, .2); sum pq = .24 + .24 + .16 = .64
    # totals 3,2,1,1,0: mean 1.4, population variance (2.56+.36+.16+.16+1.96)/5 = 1.04
    # KR-20 = 3/2 * (1 - .64/1.04) = 15/26
    result = analyse(responses(MATRIX))
    assert result.kr20 == pytest.approx(15 / 26)
    assert [it.difficulty for it in result.items] == pytest.approx([0.6, 0.6, 0.2])


def test_corrected_point_biserial_hand_worked():
    # Item 1: x = 1,1,1,0,0; rest = total - item = 2,1,0,1,0.
    # Point-biserial formula (not Pearson): (M1 - M0) / s_rest * sqrt(p q)
    #   M1 = mean(2,1,0) = 1, M0 = mean(1,0) = .5, s_rest = sqrt(.56), p q = .24
    expected = (1 - 0.5) / math.sqrt(0.56) * math.sqrt(0.24)
    assert expected == pytest.approx(0.6 / math.sqrt(3.36))  # the hand arithmetic agrees
    result = analyse(responses(MATRIX))
    assert result.items[0].discrimination == pytest.approx(expected)


def test_against_numpy_on_random_partial_credit():
    rng = np.random.default_rng(0)
    n, k = 40, 6
    ability = rng.normal(size=n)
    # Points out of 2 per item, correlated with ability so r is non-trivial.
    pts = np.clip(np.round(1 + ability[:, None] + rng.normal(size=(n, k))), 0, 2)
    rows = [Response(f"s{i:02d}", f"q{j}", float(pts[i, j]), 2.0) for i in range(n) for j in range(k)]
    result = analyse(rows)

    total = pts.sum(axis=1)
    for j, item in enumerate(result.items):
        rest = total - pts[:, j]
        assert item.difficulty == pytest.approx(pts[:, j].mean() / 2)
        assert item.discrimination == pytest.approx(np.corrcoef(pts[:, j], rest)[0, 1])
    full = (pts == 2).astype(float)
    p = full.mean(axis=0)
    kr20 = k / (k - 1) * (1 - (p * (1 - p)).sum() / full.sum(axis=1).var())
    assert result.kr20 == pytest.approx(kr20)
    alpha = k / (k - 1) * (1 - pts.var(axis=0).sum() / total.var())
    assert result.alpha == pytest.approx(alpha)
    assert any("dichotomises" in note for note in result.notes)


def test_partial_scores_are_dichotomised_at_full_marks():
    # 0.5 of 1 point must count as 0 for KR-20: same KR-20 as the matrix with 0 there.
    half = {s: [0.5 if x == 0 and s == "s2" else x for x in row] for s, row in MATRIX.items()}
    assert analyse(responses(half)).kr20 == pytest.approx(15 / 26)
    assert analyse(responses(half)).items[2].partial


def test_constant_item_has_no_discrimination():
    result = analyse(responses({"a": [1, 1], "b": [1, 0], "c": [1, 1]}))
    assert result.items[0].discrimination is None
    assert "no variance" in result.items[0].flags


def test_missing_cells_count_as_zero():
    rows = responses(MATRIX)[:-1]  # s5 has no row for q3
    result = analyse(rows)
    assert result.filled_missing == 1
    assert result.totals == [3, 2, 1, 1, 0]


def test_distractor_groups():
    # 10 students: groups of round(2.7) = 3. Totals rank u1..u3 top, l1..l3 bottom.
    rows = []
    picks = {"u1": "A", "u2": "A", "u3": "B", "m1": "A", "m2": "C", "m3": "C", "m4": "A",
             "l1": "B", "l2": "C", "l3": "C"}
    totals = {"u1": 5, "u2": 5, "u3": 4, "m1": 3, "m2": 3, "m3": 3, "m4": 2, "l1": 1, "l2": 0, "l3": 0}
    for s, pick in picks.items():
        rows.append(Response(s, "q1", 1.0 if pick == "A" else 0.0, 1.0, (pick,)))
        rows.append(Response(s, "q2", float(totals[s]), 5.0))
    result = analyse(rows)
    assert result.group_size == 3
    opts = {o.option: o for o in result.items[0].options}
    # q1 counts in the totals too: u1 6, u2 6, u3 4, m1 4, m2 3, m3 3, m4 3, l1 1, l2 0, l3 0
    # upper (ties by id): u1, u2, m1 (4, "m1" < "u3")  -> A, A, A
    # lower: l1, l2, l3 -> B, C, C
    assert opts["A"].upper == pytest.approx(1.0) and opts["A"].lower == 0
    assert opts["B"].upper == 0 and opts["B"].lower == pytest.approx(1 / 3)
    assert opts["C"].lower == pytest.approx(2 / 3)
    assert opts["A"].overall == pytest.approx(0.4)
    assert result.items[1].options == []


def test_csv_loading_and_errors(tmp_path):
    good = tmp_path / "r.csv"
    good.write_text("student,question,score,max_score,choice\ns1,q1,1,1,Paris\ns1,q2,0.5,1,A|B\ns2,q1,0,1,\n")
    rows = load_responses(good)
    assert rows[0].choice == ("Paris",) and rows[1].choice == ("A", "B") and rows[2].choice is None

    bad = tmp_path / "bad.csv"
    bad.write_text("student,question,score,max_score\ns1,q1,one,1\n")
    with pytest.raises(ResponsesError, match=r"bad.csv:2: score is 'one', expected a number"):
        load_responses(bad)
    bad.write_text("name,q,score\n")
    with pytest.raises(ResponsesError, match=r"bad.csv:1: header"):
        load_responses(bad)
    bad.write_text("student,question,score,max_score\ns1,q1,2,1\n")
    with pytest.raises(ResponsesError, match="expected between 0 and max_score"):
        load_responses(bad)
    bad.write_text("student,question,score,max_score\ns1,q1,1,1\ns1,q1,0,1\n")
    with pytest.raises(ResponsesError, match=r"bad.csv:3: second row.*bad.csv:2"):
        analyse(load_responses(bad))
    bad.write_text("student,question,score,max_score\ns1,q1,1,1\ns2,q1,0,2\n")
    with pytest.raises(ResponsesError, match=r"bad.csv:3: question 'q1' has max_score 2"):
        analyse(load_responses(bad))


def test_json_flat_records(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps([{"student": "s1", "question": "q1", "score": 1, "max_score": 1, "choice": ["x"]}]))
    assert load_responses(path)[0].choice == ("x",)
    path.write_text("[{]")
    with pytest.raises(ResponsesError, match="invalid JSON"):
        load_responses(path)


def test_html_report_escapes_and_embeds_plots(tmp_path):
    rows = responses(MATRIX)
    rows[0] = Response("s1", "q1", 1.0, 1.0, ("<script>alert(1)</script>",))
    html = render_html(analyse(rows))
    assert html.count("data:image/png;base64,") == 2
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)" in html
    assert "KR-20 <strong>0.58</strong>" in html  # 15/26


FIXTURES = Path(__file__).resolve().parents[1] / "quiz_fixtures"


def test_cli_stats_from_quiz_score_json(tmp_path):
    """`quiz score --out` JSON -> `quiz stats`: letters of each student's shuffled variant come
    back as choice texts, and the numbers match a hand count."""
    from quizzes.loader import load_bank
    from quizzes.variants import present

    bank = load_bank(FIXTURES / "demo.yaml")
    single = bank.question("demo-single")
    right = next(c.text for c in single.choices if c.correct)
    wrong = "Save memory"

    def letter(student, text):
        return next(o.letter for o in present(single, student, "demo").options if o.text == text)

    rows = ["student,quiz,question,answer"]
    # s1, s2 right on both; s3 right on truefalse only; s4 wrong on both.
    answers = [("s1", "true", right), ("s2", "true", right), ("s3", "true", wrong), ("s4", "false", wrong)]
    for student, tf, choice in answers:
        rows.append(f"{student},demo,demo-truefalse,{tf}")
        rows.append(f"{student},demo,demo-single,{letter(student, choice)}")
    (tmp_path / "r.csv").write_text("\n".join(rows) + "\n")
    runner = CliRunner()
    banks = ["--banks", str(FIXTURES)]
    scored = runner.invoke(main, banks + ["score", str(tmp_path / "r.csv"), "--out", str(tmp_path / "s.json")])
    assert scored.exit_code == 0, scored.output
    result = runner.invoke(main, banks + ["stats", str(tmp_path / "s.json"), "--html", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    # truefalse: 3 of 4 right -> p = 0.75; single: 2 of 4 -> 0.50
    line_tf = next(row for row in result.output.splitlines() if "demo-truefalse" in row and "│" in row)
    line_single = next(row for row in result.output.splitlines() if "demo-single " in row and "│" in row)
    assert "0.75" in line_tf and "0.50" in line_single
    # distractor rows by choice text (the letters differed per student)
    report = (tmp_path / "r.html").read_text()
    assert f"<td>{right}</td>" in report and f"<td>{wrong}</td>" in report
    records = load_responses(tmp_path / "s.json", choices=bank_choices({"demo": bank}))
    picks = {r.student: r.choice for r in records if r.question == "demo-single"}
    assert picks == {"s1": (right,), "s2": (right,), "s3": (wrong,), "s4": (wrong,)}
    assert "data:image/png;base64," in report


def test_cli_stats_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("student,question,score,max_score\ns1,q1,x,1\n")
    result = CliRunner().invoke(main, ["stats", str(bad)])
    assert result.exit_code != 0 and "bad.csv:2: score is 'x', expected a number" in result.output
    two = tmp_path / "two.json"
    two.write_text(json.dumps([
        {"student": "a", "quiz": "q1", "questions": [{"question": "x", "score": 1, "max_score": 1}]},
        {"student": "a", "quiz": "q2", "questions": [{"question": "x", "score": 1, "max_score": 1}]},
    ]))
    result = CliRunner().invoke(main, ["stats", str(two)])
    assert result.exit_code != 0 and "pick one with --quiz" in result.output
    assert CliRunner().invoke(main, ["stats", str(two), "--quiz", "q2"]).exit_code == 0

"""The `quiz` command line, driven through click's CliRunner with the fixture bank."""
import json
import sqlite3

import nbformat
import pytest
from click.testing import CliRunner

from quizzes.cli import main
from quizzes.variants import present

CORRECT = "Keep the score variance near one (zebra)"


@pytest.fixture
def quiz(fixture_dir):
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(main, ["--banks", str(fixture_dir), *args], input=input)

    return invoke


def test_help_texts(quiz):
    for command in ([], ["list"], ["render"], ["take"], ["score"]):
        result = quiz(*command, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output


def test_list(quiz):
    result = quiz("list")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "│ demo" in line)
    assert "│         7 │" in row and "│      8 │" in row  # 7 questions, 8 points


@pytest.mark.parametrize("fmt", ["terminal", "markdown", "html", "notebook", "key"])
def test_render_each_format(quiz, tmp_path, fmt):
    out = tmp_path / f"quiz.{fmt}"
    result = quiz("render", "demo", "--format", fmt, "--student", "alice", "--out", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert CORRECT in text
    assert ("Right: softmax stays out of saturation." in text) == (fmt == "key")
    if fmt == "notebook":
        nbformat.validate(nbformat.reads(text, as_version=4))
    if fmt == "html":
        assert text.startswith("<!DOCTYPE html>")


def test_render_to_stdout_and_unknown_topic(quiz):
    result = quiz("render", "demo", "--format", "markdown", "--student", "alice")
    assert result.exit_code == 0 and "# Demo bank for the quiz engine tests" in result.output
    result = quiz("render", "nope")
    assert result.exit_code == 2
    assert "unknown topic 'nope'; known topics: demo" in result.output


def test_take_from_stdin_gives_the_hand_worked_total(quiz, demo_bank):
    params = present(demo_bank.question("demo-numeric"), "tess", "demo").params
    answers = [
        "Normalise the values",  # single, credit 0.5 of 2 points -> 1
        "GPT-2|BERT",  # multiple net_correct: (1 - 1) / 2 -> 0
        "yes",  # truefalse -> 1
        repr(params["d_model"] / params["heads"]),  # numeric -> 1
        "Layer-Norm",  # text, normalised to "layernorm" -> 1
        "scale by sqrt(d_k)|QK^T scores|apply mask|softmax|weight the values",  # LCS 4/5 -> 0.8
        "BERT=encoder-only|GPT-2=encoder-decoder|T5=decoder-only",  # 1 of 3 pairs -> 0.333333
    ]
    # Total 1 + 0 + 1 + 1 + 1 + 0.8 + 0.333333 = 5.133333 of 8 (64%).
    result = quiz("take", "demo", "--student", "tess", input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert "Total: 5.13333 / 8 points (64%)" in result.output
    assert "Close: it is the scores, not the values." in result.output
    assert "4 of 5 items in the right relative order." in result.output


def test_take_with_too_few_lines_ends_cleanly_and_scores_the_rest_zero(quiz):
    result = quiz("take", "demo", "--student", "tess", input="Keep the score variance near one (zebra)\n")
    assert result.exit_code == 0, result.output
    assert "Input ended: 1 of 7 questions answered; the others score 0." in result.output
    assert "Total: 2 / 8 points (25%)" in result.output
    assert "Question 3 of 7" not in result.output  # stops at the end of input, no more prompts
    assert "Traceback" not in result.output


def test_take_on_empty_input_ends_cleanly(quiz):
    result = quiz("take", "demo", "--student", "tess", input="")
    assert result.exit_code == 0, result.output
    assert "Input ended: 0 of 7 questions answered" in result.output
    assert "Total: 0 / 8 points (0%)" in result.output


def test_take_asks_again_on_an_unreadable_answer(quiz):
    # "Z" is no choice letter and "maybe" is no truth value: each is asked again, not scored 0.
    lines = ["Z", CORRECT, "GPT-2|LLaMA", "maybe", "yes"]
    result = quiz("take", "demo", "--student", "tess", input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("Could not read that answer") == 2
    assert "unknown choice 'Z'" in result.output
    # 2 (single) + 1 (multiple net_correct, both right) + 1 (truefalse) of 8, then input ends.
    assert "Input ended: 3 of 7 questions answered" in result.output
    assert "Total: 4 / 8 points (50%)" in result.output


def test_take_gives_up_after_three_unreadable_answers(quiz):
    result = quiz("take", "demo", "--student", "tess", input="Z\nY\nX\n")
    assert result.output.count("Could not read that answer") == 2  # the 3rd attempt is scored
    assert "✘ 0 / 2" in result.output
    assert "Input ended: 1 of 7 questions answered" in result.output


def test_take_accepts_the_formats_its_prompts_advertise(quiz, demo_bank):
    """The hints printed under each question (render.LINE_HINTS), typed literally."""
    from quizzes.render import LINE_HINTS

    result = quiz("take", "demo", "--student", "tess", input="")
    for kind, hint in LINE_HINTS.items():
        example = hint.split("e.g. ")[-1] if "e.g. " in hint else None
        if example is None:
            continue
        q = next(q for q in demo_bank.questions if q.type == kind)
        from quizzes.scoring import score

        assert score(q, present(q, "tess", "demo"), example).error is None, (kind, example)
    assert result.exit_code == 0


def test_take_help_example_works():
    """The printf line in `quiz take --help`, run as written against the shipped banks."""
    import re

    runner = CliRunner()
    help_text = runner.invoke(main, ["take", "--help"]).output
    m = re.search(r"printf '([^']*)' \| quiz take (\S+)", help_text)
    assert m, help_text
    typed = m.group(1).encode().decode("unicode_escape")
    for student in ("alice", "bob", "learner"):  # any student's variant reads these answers
        result = runner.invoke(main, ["take", m.group(2), "--student", student], input=typed)
        assert result.exit_code == 0, result.output
        assert "Could not read" not in result.output, result.output
        assert "Input ended" not in result.output  # one line per question, no more, no fewer
        assert "Total:" in result.output


def responses_csv(demo_bank, truefalse="false"):
    bob = present(demo_bank.question("demo-single"), "bob", "demo")
    credit_letter = next(o.letter for o in bob.options if o.text == "Normalise the values")
    return (
        "student,quiz,question,answer\n"
        f"alice,demo,demo-single,{CORRECT}\n"  # 2
        "alice,demo,demo-multiple,GPT-2|LLaMA\n"  # 1
        f"alice,demo,demo-truefalse,{truefalse}\n"  # 0 (or 1 if true)
        "alice,demo,demo-text,layernorm\n"  # 1
        "alice,demo,demo-ordering,scale by sqrt(d_k)|QK^T scores|apply mask|softmax|weight the values\n"  # 0.8
        f"bob,demo,demo-single,{credit_letter}\n"  # 0.5 * 2 = 1
        "bob,demo,demo-matching,BERT=encoder-only|GPT-2=decoder-only|T5=state-space\n"  # 2/3
        "bob,demo,demo-numeric,0\n"  # 0
    )


def test_score_csv_with_out_and_gradebook(quiz, demo_bank, tmp_path):
    responses = tmp_path / "responses.csv"
    responses.write_text(responses_csv(demo_bank))
    out, book = tmp_path / "scores.json", tmp_path / "grades.sqlite"
    result = quiz("score", str(responses), "--out", str(out), "--gradebook", str(book))
    assert result.exit_code == 0, result.output
    scores = json.loads(out.read_text())
    assert [(s["student"], s["quiz"], s["score"], s["max_score"]) for s in scores] == [
        ("alice", "demo", 4.8, 8),  # 2 + 1 + 0 + 1 + 0.8
        ("bob", "demo", pytest.approx(1 + 2 / 3, abs=1e-5), 8),
    ]
    assert {q["question"]: q["score"] for q in scores[0]["questions"]}["demo-ordering"] == 0.8
    with sqlite3.connect(book) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        rows = conn.execute("SELECT student, quiz, score, max_score FROM quiz_scores ORDER BY student").fetchall()
    assert rows == [("alice", "demo", 4.8, 8.0), ("bob", "demo", pytest.approx(1.666667, abs=1e-5), 8.0)]

    # Re-scoring upserts: still one row per (student, quiz), with the new score.
    responses.write_text(responses_csv(demo_bank, truefalse="true"))
    assert quiz("score", str(responses), "--gradebook", str(book)).exit_code == 0
    with sqlite3.connect(book) as conn:
        rows = conn.execute("SELECT student, score FROM quiz_scores ORDER BY student").fetchall()
    assert rows == [("alice", 5.8), ("bob", pytest.approx(1.666667, abs=1e-5))]


def test_score_json(quiz, tmp_path):
    data = [
        {"student": "alice", "quiz": "demo", "question": "demo-multiple", "answer": ["GPT-2", "LLaMA"]},  # 1
        {"student": "alice", "quiz": "demo", "question": "demo-truefalse", "answer": True},  # 1
        {"student": "alice", "quiz": "demo", "question": "demo-matching",
         "answer": {"BERT": "encoder-only", "GPT-2": "decoder-only", "T5": "encoder-decoder"}},  # 1
        {"student": "alice", "quiz": "demo", "question": "demo-ordering",
         "answer": ["weight the values", "softmax", "apply mask", "scale by sqrt(d_k)", "QK^T scores"]},  # 1/5
    ]
    responses = tmp_path / "responses.json"
    responses.write_text(json.dumps(data))
    out = tmp_path / "scores.json"
    result = quiz("score", str(responses), "--out", str(out))
    assert result.exit_code == 0, result.output
    [entry] = json.loads(out.read_text())
    assert (entry["score"], entry["max_score"]) == (3.2, 8)


def test_score_bad_input_is_reported_without_traceback(quiz, tmp_path):
    bad = tmp_path / "r.csv"
    bad.write_text("student,quiz,question\nalice,demo,demo-single\n")
    result = quiz("score", str(bad))
    assert result.exit_code == 2
    assert f"{bad}:1: missing column(s) answer" in result.output

    bad.write_text("student,quiz,question,answer\nalice,demo,demo-nope,A\nalice,demo,demo-text,layer norm\n")
    result = quiz("score", str(bad))
    assert result.exit_code == 1
    assert f"{bad}:2: unknown question id 'demo-nope'; row skipped" in result.output

    bad_json = tmp_path / "r.json"
    bad_json.write_text('[{"student": "a",\n "quiz": }]')
    result = quiz("score", str(bad_json))
    assert result.exit_code == 2 and f"{bad_json}:2:" in result.output and "invalid JSON" in result.output


def test_broken_bank_is_a_clean_error(tmp_path):
    (tmp_path / "oops.yaml").write_text("topic: oops\ntitle: t\ndescription: d\nquestions: []\n")
    result = CliRunner().invoke(main, ["--banks", str(tmp_path), "list"])
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert f"{tmp_path / 'oops.yaml'}:4: field questions: List should have at least 1 item" in result.output


def test_markup_in_a_bank_title_or_student_id_is_shown_as_written(tmp_path, fixture_dir):
    """Rich markup in text the command did not write (a bank's title, a file name, --student)
    is text: shown literally, never styling, never a crash."""
    title = "Attention [/bold] and [red]masks"
    bank = (fixture_dir / "demo.yaml").read_text(encoding="utf-8")
    (tmp_path / "demo.yaml").write_text(
        bank.replace("title: Demo bank for the quiz engine tests", f"title: '{title}'"), encoding="utf-8")
    runner = CliRunner()
    listed = runner.invoke(main, ["--banks", str(tmp_path), "list"])
    assert listed.exit_code == 0, listed.output
    assert "Attention [/bold] and" in listed.output  # the table may wrap the rest
    taken = runner.invoke(main, ["--banks", str(tmp_path), "take", "demo", "--student", "[/b]eve"], input="")
    assert taken.exit_code == 0, taken.output
    assert f"{title} · " in taken.output and "student [/b]eve" in taken.output

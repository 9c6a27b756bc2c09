"""Moodle XML export, read back with xml.etree the way Moodle's importer reads it
(question/format/xml/format.php: ``defaultgrade`` -> default mark, ``answer@fraction`` in
percent, ``tolerance``, ``subquestion``): numbers of questions, keys and points match the banks."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from quizzes import formula
from quizzes.cli import main
from quizzes.export_gift import EXPORT_STUDENT
from quizzes.export_moodle_xml import export_moodle_xml
from quizzes.loader import DEFAULT_BANKS, load_bank, load_banks
from quizzes.model import Bank
from quizzes.normalise import normalise_text
from quizzes.scoring import score_presented
from quizzes.variants import present

FIXTURE = Path(__file__).resolve().parents[1] / "quiz_fixtures" / "demo.yaml"
TYPES = {"single": "multichoice", "multiple": "multichoice", "truefalse": "truefalse", "numeric": "numerical",
         "text": "shortanswer", "matching": "matching", "ordering": "matching"}


def read(text: str) -> list[tuple[str, ET.Element]]:
    """(category, question element) for every non-category question, in file order."""
    out, category = [], None
    root = ET.fromstring(text)
    assert root.tag == "quiz"
    for q in root.findall("question"):
        if q.get("type") == "category":
            category = q.findtext("category/text")
        else:
            out.append((category, q))
    return out


def fractions(el: ET.Element) -> list[float]:
    return [float(a.get("fraction")) for a in el.findall("answer")]


def expected_multiple(q) -> list[float]:
    """Moodle adds the fractions of the ticked boxes (clamped to [0, 100]): each right box
    100/C; a wrong box -100 (all_or_nothing: any wrong tick gives 0) or -100/C otherwise."""
    k = sum(c.correct for c in q.choices)
    wrong = -100.0 if q.scheme == "all_or_nothing" else -100.0 / k
    return [100.0 / k if c.correct else wrong for c in q.choices]


def check_bank(bank: Bank, read_back: list[tuple[str, ET.Element]]) -> None:
    by_name = {el.findtext("name/text"): (cat, el) for cat, el in read_back}
    for q in bank.questions:
        category, el = by_name[q.id]
        assert category == f"$course$/{bank.topic}"
        assert el.get("type") == TYPES[q.type]
        assert float(el.findtext("defaultgrade")) == q.points  # Moodle's default mark
        assert el.find("questiontext").get("format") == "html"
        feedback_texts = [a.findtext("feedback/text") for a in el.findall("answer")]
        if q.graded:
            assert not (el.findtext("generalfeedback/text") or "").strip()
            assert all(t is None for t in feedback_texts)
        if q.type == "single":
            assert el.findtext("single") == "true"
            assert fractions(el) == pytest.approx([100.0 if c.correct else 100 * (c.credit or 0) for c in q.choices])
        elif q.type == "multiple":
            assert el.findtext("single") == "false"
            assert fractions(el) == pytest.approx(expected_multiple(q), abs=1e-4)
        elif q.type == "truefalse":
            got = {a.findtext("text"): float(a.get("fraction")) for a in el.findall("answer")}
            assert got == {"true": 100.0 if q.answer else 0.0, "false": 0.0 if q.answer else 100.0}
        elif q.type == "numeric":
            params = present(q, EXPORT_STUDENT, q.id).params if q.params else {}
            value = float(formula.evaluate(q.answer, params))
            (answer,) = el.findall("answer")
            assert float(answer.findtext("text")) == pytest.approx(value)
            assert float(answer.findtext("tolerance")) == pytest.approx(max(q.atol, q.rtol * abs(value)))
        elif q.type == "text":
            assert el.findtext("usecase") == "0"
            exported = [a.findtext("text").replace("\\*", "*") for a in el.findall("answer")]
            assert all(f == 100.0 for f in fractions(el))
            moodle = {a.casefold() for a in exported}
            for accepted in q.accept:
                assert normalise_text(accepted).casefold() in moodle and accepted.strip().casefold() in moodle
            for answer in exported:
                assert score_presented(present(q, "alice", q.id), answer).score == q.points
        else:
            subs = el.findall("subquestion")
            n = len(q.pairs) + len(q.distractors) if q.type == "matching" else len(q.items)
            assert len(subs) == n
            if q.type == "matching":
                assert sum(1 for s in subs if not s.findtext("text")) == len(q.distractors)


def test_fixture_bank_every_type():
    bank = load_bank(FIXTURE)
    out = export_moodle_xml([bank])
    read_back = read(out.text)
    assert len(read_back) == len(bank.questions) == out.count
    check_bank(bank, read_back)


def test_project_banks_round_trip_with_points():
    banks = list(load_banks(DEFAULT_BANKS).values())
    read_back = read(export_moodle_xml(banks).text)
    assert len(read_back) == sum(len(b.questions) for b in banks)
    for bank in banks:
        check_bank(bank, read_back)
    two_point = [el for _, el in read_back if el.findtext("defaultgrade") == "2"]
    assert len(two_point) == sum(q.points == 2 for b in banks for q in b.questions) > 0
    total = sum(float(el.findtext("defaultgrade")) for _, el in read_back)
    assert total == sum(b.total_points for b in banks)


def test_graded_question_has_no_feedback():
    bank = Bank.model_validate({"topic": "exam", "title": "Exam", "description": "d", "questions": [
        {"id": "exam-q", "type": "single", "graded": True, "points": 2, "source": "FAQ.md#Exam?",
         "prompt": "Pick", "explanation": "The key is B",
         "choices": [{"text": "A", "feedback": "No: B"}, {"text": "B", "correct": True, "feedback": "Yes"}]},
    ]})
    out = export_moodle_xml([bank])
    check_bank(bank, read(out.text))
    assert "The key is B" not in out.text and "No: B" not in out.text
    assert any("graded" in w for w in out.warnings)


def test_cli_writes_moodle_xml(tmp_path):
    out = tmp_path / "moodle.xml"
    result = CliRunner().invoke(main, ["--banks", str(FIXTURE.parent), "export", "--moodle-xml", str(out), "demo"])
    assert result.exit_code == 0, result.output
    assert len(read(out.read_text(encoding="utf-8"))) == 7

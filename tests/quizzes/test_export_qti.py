"""Canvas QTI 1.2 export: parse every XML file back and check structure, references, idents and
scores against the bank."""
from __future__ import annotations

import html
import io
import re
import xml.etree.ElementTree as ET
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from quizzes import formula, maths
from quizzes.cli import main
from quizzes.export_gift import EXPORT_STUDENT
from quizzes.export_qti import export_qti
from quizzes.loader import DEFAULT_BANKS, load_bank, load_banks
from quizzes.model import Bank
from quizzes.normalise import normalise_text
from quizzes.render import markdown_inline_html
from quizzes.scoring import score_presented
from quizzes.variants import present

FIXTURE = Path(__file__).resolve().parents[1] / "quiz_fixtures" / "demo.yaml"
QTI = "{http://www.imsglobal.org/xsd/ims_qtiasiv1p2}"
CP = "{http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1}"
CANVAS = "{http://canvas.instructure.com/xsd/cccv1p0}"
TYPES = {
    "single": "multiple_choice_question", "multiple": "multiple_answers_question",
    "truefalse": "true_false_question", "numeric": "numerical_question",
    "text": "short_answer_question", "matching": "matching_question", "ordering": "matching_question",
}


def zip_of(banks) -> zipfile.ZipFile:
    buf = io.BytesIO()
    export_qti(banks).write(buf)
    return zipfile.ZipFile(io.BytesIO(buf.getvalue()))


def parse_all(zf: zipfile.ZipFile) -> dict[str, ET.Element]:
    """Every file in the zip is XML and parses."""
    return {name: ET.fromstring(zf.read(name)) for name in zf.namelist()}


def strip_html(text: str) -> str:
    """Visible text of an HTML fragment."""
    return html.unescape(re.sub(r"<[^>]+>", "", text or "")).strip()


def meta(item: ET.Element) -> dict[str, str]:
    return {f.findtext(f"{QTI}fieldlabel"): f.findtext(f"{QTI}fieldentry") or ""
            for f in item.iter(f"{QTI}qtimetadatafield")}


def label_texts(lid: ET.Element) -> dict[str, str]:
    return {lab.get("ident"): strip_html(lab.findtext(f".//{QTI}mattext"))
            for lab in lid.iter(f"{QTI}response_label")}


def check_manifest(zf: zipfile.ZipFile, docs: dict[str, ET.Element]) -> list[str]:
    manifest = docs["imsmanifest.xml"]
    assert manifest.tag == f"{CP}manifest"
    resources = manifest.findall(f"{CP}resources/{CP}resource")
    ids = [r.get("identifier") for r in resources]
    assert len(ids) == len(set(ids)), "resource identifiers must be unique"
    hrefs = {f.get("href") for r in resources for f in r.findall(f"{CP}file")}
    files = set(zf.namelist()) - {"imsmanifest.xml"}
    assert hrefs == files, f"manifest lists {sorted(hrefs)}, zip holds {sorted(files)}"
    for r in resources:
        for dep in r.findall(f"{CP}dependency"):
            assert dep.get("identifierref") in ids
    quizzes = [r for r in resources if r.get("type") == "imsqti_xmlv1p2"]
    for r in quizzes:
        ident = r.get("identifier")
        assert [f.get("href") for f in r.findall(f"{CP}file")] == [f"{ident}/{ident}.xml"]
        deps = [d.get("identifierref") for d in r.findall(f"{CP}dependency")]
        meta_res = next(x for x in resources if x.get("identifier") in deps)
        assert meta_res.get("href") == f"{ident}/assessment_meta.xml"
    return [r.get("identifier") for r in quizzes]


def check_item(q, item: ET.Element) -> None:
    """One <item> against its bank question."""
    md = meta(item)
    assert md["question_type"] == TYPES[q.type]
    assert float(md["points_possible"]) == pytest.approx(q.points)
    pres = item.find(f"{QTI}presentation")
    rp = item.find(f"{QTI}resprocessing")
    assert pres is not None and rp is not None
    decvar = rp.find(f"{QTI}outcomes/{QTI}decvar")
    assert decvar.get("varname") == "SCORE" and decvar.get("maxvalue") == "100"
    feedback_ids = {fb.get("ident") for fb in item.findall(f"{QTI}itemfeedback")}
    for d in rp.iter(f"{QTI}displayfeedback"):
        assert d.get("linkrefid") in feedback_ids, "displayfeedback must point at an itemfeedback"
    if q.graded:  # an exam key: nothing shown after the attempt
        assert not feedback_ids and rp.find(f".//{QTI}displayfeedback") is None
    else:
        general = next(fb for fb in item.findall(f"{QTI}itemfeedback") if fb.get("ident") == "general_fb")
        assert strip_html(general.findtext(f".//{QTI}mattext"))  # the explanation
    setting = [rc for rc in rp.findall(f"{QTI}respcondition") if rc.find(f"{QTI}setvar") is not None]

    if q.type in ("single", "multiple", "truefalse"):
        lid = pres.find(f"{QTI}response_lid")
        assert lid.get("rcardinality") == ("Multiple" if q.type == "multiple" else "Single")
        labels = label_texts(lid.find(f"{QTI}render_choice"))
        assert md["original_answer_ids"].split(",") == list(labels)
        if q.type == "truefalse":
            correct = {i for i, t in labels.items() if t == ("True" if q.answer else "False")}
            assert sorted(labels.values()) == ["False", "True"]
        else:
            # the core's Markdown rendering is the oracle for what a choice displays
            assert list(labels.values()) == [strip_html(markdown_inline_html(c.text, math="mathjax"))
                                             for c in q.choices]
            correct = {i for (i, _), c in zip(labels.items(), q.choices, strict=True) if c.correct}
        assert len(setting) == 1 and setting[0].findtext(f"{QTI}setvar") == "100"
        cond = setting[0].find(f"{QTI}conditionvar")
        if q.type == "multiple":
            both = cond.find(f"{QTI}and")
            assert {v.text for v in both.findall(f"{QTI}varequal")} == correct
            assert {v.text for v in both.findall(f"{QTI}not/{QTI}varequal")} == set(labels) - correct
        else:
            assert [v.text for v in cond.findall(f"{QTI}varequal")] == sorted(correct)
        # per-choice feedback: every label has its feedback, shown when it is chosen
        for ident in labels:
            assert f"{ident}_fb" in feedback_ids or q.graded
    elif q.type == "numeric":
        params = present(q, EXPORT_STUDENT, q.id).params if q.params else {}
        value = float(formula.evaluate(q.answer, params))
        cond = setting[0].find(f"{QTI}conditionvar/{QTI}or")
        assert float(cond.findtext(f"{QTI}varequal")) == pytest.approx(value)
        low, high = float(cond.findtext(f"{QTI}and/{QTI}vargte")), float(cond.findtext(f"{QTI}and/{QTI}varlte"))
        assert low <= value <= high
        assert high - value == pytest.approx(max(q.atol, q.rtol * abs(value)))
        assert pres.find(f"{QTI}response_str/{QTI}render_fib").get("fibtype") == "Decimal"
    elif q.type == "text":
        exported = [v.text for v in setting[0].iter(f"{QTI}varequal")]
        canvas = {a.casefold() for a in exported}  # Canvas: case-insensitive, punctuation kept
        for accepted in q.accept:
            assert {accepted.strip().casefold(), normalise_text(accepted).casefold()} <= canvas
        for answer in exported:  # and the engine accepts every exported answer
            assert score_presented(present(q, "alice", q.id), answer).score == q.points
        assert pres.find(f"{QTI}response_str/{QTI}render_fib/{QTI}response_label") is not None
    else:  # matching / ordering
        if q.type == "matching":
            expected = [(p.left, p.right) for p in q.pairs]
            options = q.right_options()
        else:
            expected = [(f"Position {k}", item) for k, item in enumerate(q.items, 1)]
            options = list(q.items)
        expected = [(maths.unicode_text(left).strip(), maths.unicode_text(right).strip()) for left, right in expected]
        options = [maths.unicode_text(o).strip() for o in options]  # plain text: maths as Unicode
        lids = pres.findall(f"{QTI}response_lid")
        shown = [strip_html(lid.findtext(f"{QTI}material/{QTI}mattext")) for lid in lids]
        assert shown == [left for left, _ in expected]
        total = Decimal(0)
        for lid, (_, right) in zip(lids, expected, strict=True):
            labels = label_texts(lid)
            assert list(labels.values()) == options
            conds = [rc for rc in setting if rc.find(f".//{QTI}varequal").get("respident") == lid.get("ident")]
            assert len(conds) == 1
            chosen = conds[0].findtext(f".//{QTI}varequal")
            assert labels[chosen] == right
            assert conds[0].find(f"{QTI}setvar").get("action") == "Add"
            total += Decimal(conds[0].findtext(f"{QTI}setvar"))
        assert total == 100, f"{q.id}: matching shares sum to {total}"


def check_idents(items: list[ET.Element]) -> None:
    """Item idents unique; within an item, response idents unique; within a response, label
    idents unique; choice labels never shared between items (Canvas keys answers by them).
    A matching item repeats each right option's label under every left item, as Canvas does."""
    seen: set[str] = set()
    assert len({i.get("ident") for i in items}) == len(items)
    for item in items:
        responses = item.findall(f".//{QTI}response_lid") + item.findall(f".//{QTI}response_str")
        assert len({r.get("ident") for r in responses}) == len(responses)
        labels: set[str] = set()
        for lid in item.findall(f".//{QTI}response_lid"):
            ids = [lab.get("ident") for lab in lid.iter(f"{QTI}response_label")]
            assert len(ids) == len(set(ids))
            labels |= set(ids)
        assert not labels & seen, f"label idents reused across items: {labels & seen}"
        seen |= labels


def check_export(banks) -> None:
    zf = zip_of(banks)
    docs = parse_all(zf)
    quiz_ids = check_manifest(zf, docs)
    assert quiz_ids == [f"quiz_{b.topic}" for b in banks]
    for bank, ident in zip(banks, quiz_ids, strict=True):
        root = docs[f"{ident}/{ident}.xml"]
        assert root.tag == f"{QTI}questestinterop"
        assessment = root.find(f"{QTI}assessment")
        assert assessment.get("ident") == ident and assessment.get("title") == bank.title
        items = assessment.findall(f"{QTI}section/{QTI}item")
        assert [i.get("title") for i in items] == [q.id for q in bank.questions]
        check_idents(items)
        item_ids = [i.get("ident") for i in items]
        assert len(item_ids) == len(set(item_ids))
        for q, item in zip(bank.questions, items, strict=True):
            check_item(q, item)
        qmeta = docs[f"{ident}/assessment_meta.xml"]
        assert qmeta.tag == f"{CANVAS}quiz" and qmeta.get("identifier") == ident
        assert float(qmeta.findtext(f"{CANVAS}points_possible")) == pytest.approx(bank.total_points)
        exam = any(q.graded for q in bank.questions)
        assert qmeta.findtext(f"{CANVAS}show_correct_answers") == ("false" if exam else "true")
        assert sum(float(meta(i)["points_possible"]) for i in items) == pytest.approx(bank.total_points)


def test_fixture_bank_every_type():
    bank = load_bank(FIXTURE)
    assert len({q.type for q in bank.questions}) == 7
    check_export([bank])


def test_project_banks():
    banks = list(load_banks(DEFAULT_BANKS).values())
    if not banks:
        pytest.skip("no banks in quizzes/banks yet")
    check_export(banks)


def test_markup_is_escaped_text_not_xml():
    from quizzes.model import Bank

    bank = Bank.model_validate({
        "topic": "xml", "title": "A <b> & \"quote\"", "description": "d",
        "questions": [{"id": "xml-q", "type": "single", "source": "FAQ.md#X?",
                       "prompt": "Is `a<b && c>d`? <script>x</script>",
                       "explanation": "e & f", "choices": [
                           {"text": "</mattext>]]>", "correct": True, "feedback": "<i>ok</i>"},
                           {"text": "b", "feedback": "f"}]}],
    })
    docs = parse_all(zip_of([bank]))
    root = docs["quiz_xml/quiz_xml.xml"]
    assert root.find(f"{QTI}assessment").get("title") == 'A <b> & "quote"'
    prompt = root.find(f".//{QTI}presentation/{QTI}material/{QTI}mattext").text
    assert "&lt;script&gt;" in prompt and "<script>" not in prompt  # Markdown html=False escapes raw HTML
    label = root.find(f".//{QTI}render_choice//{QTI}mattext").text
    assert label == "&lt;/mattext&gt;]]&gt;" and strip_html(label) == "</mattext>]]>"


def test_zip_is_reproducible():
    bank = load_bank(FIXTURE)
    a, b = io.BytesIO(), io.BytesIO()
    export_qti([bank]).write(a)
    export_qti([bank]).write(b)
    assert a.getvalue() == b.getvalue()


def test_cli_export_qti(tmp_path):
    out = tmp_path / "canvas.zip"
    result = CliRunner().invoke(main, ["--banks", str(FIXTURE.parent), "export", "--qti", str(out)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as zf:
        assert set(zf.namelist()) == {"imsmanifest.xml", "quiz_demo/quiz_demo.xml", "quiz_demo/assessment_meta.xml"}
    assert "parameterised" in result.output


def test_graded_questions_hide_answers_in_canvas():
    bank = Bank.model_validate({"topic": "exam", "title": "Exam", "description": "d", "questions": [
        {"id": "exam-q", "type": "single", "graded": True, "points": 2, "source": "FAQ.md#Exam?",
         "prompt": "Pick", "explanation": "The key is B",
         "choices": [{"text": "A", "feedback": "No: B"}, {"text": "B", "correct": True, "feedback": "Yes"}]},
    ]})
    check_export([bank])
    docs = parse_all(zip_of([bank]))
    assert docs["quiz_exam/assessment_meta.xml"].findtext(f"{CANVAS}show_correct_answers") == "false"
    assert b"The key is B" not in zip_of([bank]).read("quiz_exam/quiz_exam.xml")
    open_bank = load_bank(FIXTURE)
    if not any(q.graded for q in open_bank.questions):
        meta_doc = parse_all(zip_of([open_bank]))["quiz_demo/assessment_meta.xml"]
        assert meta_doc.findtext(f"{CANVAS}show_correct_answers") == "true"


@pytest.mark.parametrize("n", [2, 3, 6, 7, 9])
def test_matching_shares_sum_to_exactly_100(n):
    bank = Bank.model_validate({"topic": "m", "title": "M", "description": "d", "questions": [
        {"id": "m-q", "type": "matching", "source": "FAQ.md#X?", "prompt": "Match", "explanation": "e",
         "pairs": [{"left": f"l{i}", "right": f"r{i}"} for i in range(n)]}]})
    root = parse_all(zip_of([bank]))["quiz_m/quiz_m.xml"]
    shares = [Decimal(v.text) for v in root.iter(f"{QTI}setvar")]
    assert len(shares) == n and sum(shares) == 100 and max(shares) - min(shares) <= Decimal("0.01") * n


def test_maths_is_written_for_mathjax():
    banks = list(load_banks(DEFAULT_BANKS).values())
    zf = zip_of(banks)
    stored = "".join(html.unescape(t.text or "") for name in zf.namelist()
                     for t in ET.fromstring(zf.read(name)).iter(f"{QTI}mattext"))
    assert "$" not in re.sub(r"<(pre|code)\b.*?</\1>", "", stored, flags=re.S)
    for bank in banks:
        for q in bank.questions:
            for span in maths.math_spans(present(q, EXPORT_STUDENT, q.id).prompt):
                assert f"\\({span.strip('$').strip()}\\)" in stored or span.startswith("$$"), (q.id, span)

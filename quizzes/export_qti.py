"""Export banks to a Canvas QTI 1.2 zip (`quiz export --qti OUT.zip`).

Layout, as Canvas's own "Export quiz" writes it (one quiz per bank/topic)::

    imsmanifest.xml                      one imsqti_xmlv1p2 resource per quiz, depending on
    quiz_<topic>/quiz_<topic>.xml        ... the assessment (questestinterop, QTI 1.2)
    quiz_<topic>/assessment_meta.xml     ... and Canvas's quiz settings (title, points)

Each question is an ``<item>`` whose ``itemmetadata`` carries Canvas's ``question_type``:

============ ============================ ==============================================
bank type    question_type                response / scoring
============ ============================ ==============================================
single       multiple_choice_question     response_lid Single; varequal key -> SCORE 100
multiple     multiple_answers_question    response_lid Multiple; <and> of varequal keys
                                          and <not> varequal others -> SCORE 100
truefalse    true_false_question          response_lid Single, labels True/False
numeric      numerical_question           response_str Decimal; exact or [min, max]
text         short_answer_question        response_str; one varequal per accepted answer
matching     matching_question            one response_lid per left item; each correct
                                          pair adds 100/n to SCORE
ordering     matching_question            "Position k" -> item (no LCS partial credit)
============ ============================ ==============================================

Feedback: each choice's feedback is an ``itemfeedback`` ``<ident>_fb`` shown by a
``respcondition`` on that choice; the explanation is ``general_fb``. A ``graded: true``
question has neither (its key must not reach students after an attempt), and a quiz holding
one has ``show_correct_answers`` false. Matching shares are hundredths summing to exactly 100. Parameterised numeric
questions export one variant drawn with the fixed instructor seed (as in GIFT).
What Canvas classic quizzes cannot express is returned as warnings.

The zip is reproducible: fixed identifiers (from topics and question ids) and fixed timestamps.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from quizzes.export_gift import EXPORT_STUDENT, accepted_variants, html_block, html_inline, numeric_key, plain
from quizzes.model import (
    AnyQuestion,
    Bank,
    MatchingQuestion,
    MultipleQuestion,
    NumericQuestion,
    OrderingQuestion,
    SingleQuestion,
    TextQuestion,
    TrueFalseQuestion,
)
from quizzes.normalise import normalise_label
from quizzes.variants import present

NS_QTI = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
NS_CP = "http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1"
NS_IMSMD = "http://www.imsglobal.org/xsd/imsmd_v1p2"
NS_CANVAS = "http://canvas.instructure.com/xsd/cccv1p0"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
QTI_TYPES = {
    "single": "multiple_choice_question",
    "multiple": "multiple_answers_question",
    "truefalse": "true_false_question",
    "numeric": "numerical_question",
    "text": "short_answer_question",
    "matching": "matching_question",
    "ordering": "matching_question",
}
ZIP_DATE = (2020, 1, 1, 0, 0, 0)  # fixed so the same banks give byte-identical zips



def html(markdown_text: str) -> str:
    """Markdown -> HTML for a ``mattext texttype="text/html"`` (the XML writer escapes it
    again). The core's renderer: raw HTML in a bank is shown as text, and $...$ maths becomes
    ``\\(...\\)``, which Canvas typesets with MathJax (quizzes/maths.py)."""
    return html_block(markdown_text)


@dataclass
class QtiExport:
    files: dict[str, bytes]  # path in the zip -> content
    warnings: list[str] = field(default_factory=list)
    count: int = 0

    def write(self, path: str | Path) -> None:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, data in self.files.items():
                info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)


# ---------------------------------------------------------------------------- XML helpers


def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, {k.rstrip("_"): v for k, v in attrs.items()})
    if text is not None:
        el.text = text
    return el


def _xml(root: ET.Element) -> bytes:
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"


def _material(parent: ET.Element, text: str, texttype: str = "text/html") -> None:
    sub(sub(parent, "material"), "mattext", text, texttype=texttype)


def _metadata(parent: ET.Element, fields: dict[str, str]) -> None:
    md = sub(parent, "qtimetadata")
    for label, entry in fields.items():
        f = sub(md, "qtimetadatafield")
        sub(f, "fieldlabel", label)
        sub(f, "fieldentry", entry)


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


# ---------------------------------------------------------------------------- items


def _condition(resproc: ET.Element, respident: str, ident: str, *, score: str | None = None,
               action: str = "Set", feedback: str | None = None, cont: str = "Yes") -> ET.Element:
    rc = sub(resproc, "respcondition", continue_=cont)
    sub(sub(rc, "conditionvar"), "varequal", ident, respident=respident)
    if score is not None:
        sub(rc, "setvar", score, action=action, varname="SCORE")
    if feedback is not None:
        sub(rc, "displayfeedback", feedbacktype="Response", linkrefid=feedback)
    return rc


def _general_feedback(resproc: ET.Element) -> None:
    rc = sub(resproc, "respcondition", continue_="Yes")
    sub(sub(rc, "conditionvar"), "other")
    sub(rc, "displayfeedback", feedbacktype="Response", linkrefid="general_fb")


def _itemfeedback(item: ET.Element, ident: str, text: str) -> None:
    fb = sub(item, "itemfeedback", ident=ident)
    _material(sub(fb, "flow_mat"), html(text))


def _resprocessing(feedback: bool) -> ET.Element:
    """A detached <resprocessing> with the SCORE outcome and, with ``feedback``, the
    always-shown general feedback."""
    rp = ET.Element("resprocessing")
    sub(sub(rp, "outcomes"), "decvar", maxvalue="100", minvalue="0", varname="SCORE", vartype="Decimal")
    if feedback:
        _general_feedback(rp)
    return rp


def item_xml(question: AnyQuestion, warnings: list[str]) -> ET.Element:
    """One ``<item>`` for ``question`` (see the module table)."""
    qid = f"q_{question.id}"
    item = ET.Element("item", ident=qid, title=question.id)
    meta = sub(item, "itemmetadata")
    pres = ET.Element("presentation")
    prompt, explanation = question.prompt, question.explanation
    feedbacks: list[tuple[str, str]] = []  # (ident, text) -> itemfeedback after resprocessing
    answer_ids: list[str] = []

    if isinstance(question, NumericQuestion) and question.params:
        variant = present(question, EXPORT_STUDENT, question.id)
        prompt, explanation = variant.prompt, variant.explanation
        drawn = ", ".join(f"{k} = {v}" for k, v in variant.params.items())
        warnings.append(f"{question.id}: parameterised; exported one variant (instructor seed "
                        f"{EXPORT_STUDENT!r}): {drawn}")
    if isinstance(question, NumericQuestion) and question.unit:
        prompt = f"{prompt.rstrip()} ({question.unit})"
    if isinstance(question, OrderingQuestion):
        warnings.append(f"{question.id}: ordering exported as matching 'Position k -> item' (no LCS partial credit)")
    _material(pres, html(prompt))
    # A graded question is an exam key: no feedback of any kind shown after the attempt.
    show_feedback = not question.graded
    rp = _resprocessing(show_feedback)

    if isinstance(question, (SingleQuestion, MultipleQuestion, TrueFalseQuestion)):
        multiple = isinstance(question, MultipleQuestion)
        lid = sub(pres, "response_lid", ident="response1", rcardinality="Multiple" if multiple else "Single")
        rc = sub(lid, "render_choice")
        if isinstance(question, TrueFalseQuestion):
            options = [("true", "True", question.answer, question.feedback_true),
                       ("false", "False", not question.answer, question.feedback_false)]
        else:
            options = [(f"c{i}", c.text, c.correct, c.feedback) for i, c in enumerate(question.choices)]
        for suffix, text, _, fb in options:
            ident = f"{qid}_{suffix}"
            answer_ids.append(ident)
            label = sub(rc, "response_label", ident=ident)
            _material(label, html_inline(text) if suffix.startswith("c") else text,
                      "text/html" if suffix.startswith("c") else "text/plain")
            feedbacks.append((f"{ident}_fb", fb))
        for suffix, _, _, _ in options if show_feedback else ():
            _condition(rp, "response1", f"{qid}_{suffix}", feedback=f"{qid}_{suffix}_fb")
        if multiple:
            if question.scheme != "net_correct":
                warnings.append(f"{question.id}: Canvas grades multiple answers with its own partial credit "
                                f"(right picks add, wrong picks subtract); scheme {question.scheme} not carried over")
            cond = sub(sub(rp, "respcondition", continue_="No"), "conditionvar")
            both = sub(cond, "and")
            for suffix, _, correct, _ in options:
                if correct:
                    sub(both, "varequal", f"{qid}_{suffix}", respident="response1")
                else:
                    sub(sub(both, "not"), "varequal", f"{qid}_{suffix}", respident="response1")
            sub(rp[-1], "setvar", "100", action="Set", varname="SCORE")
        else:
            key = next(suffix for suffix, _, correct, _ in options if correct)
            _condition(rp, "response1", f"{qid}_{key}", score="100", cont="No")
            if isinstance(question, SingleQuestion) and any(c.credit for c in question.choices):
                warnings.append(f"{question.id}: partial credit on wrong choices dropped (Canvas multiple "
                                "choice has one right answer)")
    elif isinstance(question, NumericQuestion):
        value, tol, _ = numeric_key(question)
        rs = sub(pres, "response_str", ident="response1", rcardinality="Single")
        sub(sub(rs, "render_fib", fibtype="Decimal"), "response_label", ident="answer1")
        rc = sub(rp, "respcondition", continue_="No")
        alt = sub(sub(rc, "conditionvar"), "or")
        sub(alt, "varequal", _number(value), respident="response1")
        band = sub(alt, "and")
        sub(band, "vargte", _number(value - tol), respident="response1")
        sub(band, "varlte", _number(value + tol), respident="response1")
        sub(rc, "setvar", "100", action="Set", varname="SCORE")
    elif isinstance(question, TextQuestion):
        rs = sub(pres, "response_str", ident="response1", rcardinality="Single")
        sub(sub(rs, "render_fib"), "response_label", ident="answer1", rshuffle="No")
        rc = sub(rp, "respcondition", continue_="No")
        cond = sub(rc, "conditionvar")
        for accepted in accepted_variants(question.accept):
            sub(cond, "varequal", accepted, respident="response1")
        sub(rc, "setvar", "100", action="Set", varname="SCORE")
        warnings.append(f"{question.id}: Canvas compares short answers case-insensitively but keeps punctuation")
    elif isinstance(question, (MatchingQuestion, OrderingQuestion)):
        if isinstance(question, MatchingQuestion):
            pairs = [(p.left, p.right) for p in question.pairs]
            rights = question.right_options()
        else:
            pairs = [(f"Position {k}", item) for k, item in enumerate(question.items, 1)]
            rights = list(question.items)
        right_ident = {r: f"{qid}_r{i}" for i, r in enumerate(rights)}
        for k, (left, _) in enumerate(pairs):
            lid = sub(pres, "response_lid", ident=f"response_{qid}_l{k}")
            _material(lid, plain(left), "text/plain")
            rc = sub(lid, "render_choice")
            for r in rights:
                _material(sub(rc, "response_label", ident=right_ident[r]), plain(r), "text/plain")
            answer_ids.append(f"response_{qid}_l{k}")
        canon = {normalise_label(r): r for r in rights}
        for k, ((_, right), share) in enumerate(zip(pairs, matching_shares(len(pairs)), strict=True)):
            _condition(rp, f"response_{qid}_l{k}", right_ident[canon[normalise_label(right)]],
                       score=share, action="Add")
    else:  # pragma: no cover - the model's union is closed
        raise TypeError(f"unknown question type {question.type!r}")

    _metadata(meta, {
        "question_type": QTI_TYPES[question.type],
        "points_possible": _number(question.points),
        "original_answer_ids": ",".join(answer_ids),
        "assessment_question_identifierref": f"ref_{question.id}",
    })
    item.append(pres)
    item.append(rp)
    if show_feedback:
        _itemfeedback(item, "general_fb", explanation)
        for ident, text in feedbacks:
            _itemfeedback(item, ident, text)
    return item


def matching_shares(n: int) -> list[str]:
    """``n`` shares of 100 in hundredths that sum to exactly 100 (the last takes the rest):
    3 -> 33.33, 33.33, 33.34."""
    base = 10000 // n
    hundredths = [base] * (n - 1) + [10000 - base * (n - 1)]
    return [f"{h // 100}.{h % 100:02d}" for h in hundredths]


# ---------------------------------------------------------------------------- files


def assessment_xml(bank: Bank, ident: str, warnings: list[str]) -> bytes:
    root = ET.Element("questestinterop", {
        "xmlns": NS_QTI, "xmlns:xsi": NS_XSI,
        "xsi:schemaLocation": f"{NS_QTI} http://www.imsglobal.org/xsd/ims_qtiasiv1p2p1.xsd",
    })
    assessment = sub(root, "assessment", ident=ident, title=bank.title)
    _metadata(assessment, {"cc_maxattempts": "1"})
    section = sub(assessment, "section", ident="root_section")
    for question in bank.questions:
        section.append(item_xml(question, warnings))
    return _xml(root)


def assessment_meta_xml(bank: Bank, ident: str) -> bytes:
    """Canvas's quiz settings; right answers are shown after the attempt only when the quiz
    holds no ``graded: true`` question."""
    root = ET.Element("quiz", {
        "identifier": ident, "xmlns": NS_CANVAS, "xmlns:xsi": NS_XSI,
        "xsi:schemaLocation": f"{NS_CANVAS} https://canvas.instructure.com/xsd/cccv1p0.xsd",
    })
    sub(root, "title", bank.title)
    sub(root, "description", html(bank.description))
    sub(root, "shuffle_answers", "true")  # Canvas shuffles per student, as `quiz serve` does
    sub(root, "scoring_policy", "keep_highest")
    sub(root, "quiz_type", "assignment")
    sub(root, "points_possible", f"{bank.total_points:.1f}")
    exam = any(q.graded for q in bank.questions)
    sub(root, "show_correct_answers", "false" if exam else "true")
    sub(root, "allowed_attempts", "1")
    sub(root, "one_question_at_a_time", "false")
    sub(root, "cant_go_back", "false")
    sub(root, "available", "false")
    assignment = sub(root, "assignment", identifier=f"{ident}_assignment")
    sub(assignment, "title", bank.title)
    sub(assignment, "quiz_identifierref", ident)
    sub(assignment, "points_possible", f"{bank.total_points:.1f}")
    sub(assignment, "grading_type", "points")
    sub(assignment, "submission_types", "online_quiz")
    sub(assignment, "workflow_state", "unpublished")
    sub(root, "assignment_group_identifierref", "quiz_assignment_group")
    return _xml(root)


def manifest_xml(quizzes: list[tuple[str, str]]) -> bytes:
    """``imsmanifest.xml`` for (ident, title) quizzes: an assessment resource per quiz that
    depends on a learning-application resource holding its assessment_meta.xml."""
    root = ET.Element("manifest", {
        "identifier": "quiz_export_manifest", "xmlns": NS_CP, "xmlns:imsmd": NS_IMSMD, "xmlns:xsi": NS_XSI,
        "xsi:schemaLocation": f"{NS_CP} http://www.imsglobal.org/xsd/imscp_v1p1.xsd "
                              f"{NS_IMSMD} http://www.imsglobal.org/xsd/imsmd_v1p2p2.xsd",
    })
    meta = sub(root, "metadata")
    sub(meta, "schema", "IMS Content")
    sub(meta, "schemaversion", "1.1.3")
    title = sub(sub(sub(meta, "imsmd:lom"), "imsmd:general"), "imsmd:title")
    sub(title, "imsmd:string", "NLP & Transformers quizzes (quiz export --qti)")
    sub(root, "organizations")
    resources = sub(root, "resources")
    for ident, _ in quizzes:
        res = sub(resources, "resource", identifier=ident, type="imsqti_xmlv1p2")
        sub(res, "file", href=f"{ident}/{ident}.xml")
        sub(res, "dependency", identifierref=f"{ident}_meta")
        meta_res = sub(resources, "resource", identifier=f"{ident}_meta", href=f"{ident}/assessment_meta.xml",
                       type="associatedcontent/imscc_xmlv1p1/learning-application-resource")
        sub(meta_res, "file", href=f"{ident}/assessment_meta.xml")
    return _xml(root)


def export_qti(banks: Iterable[Bank]) -> QtiExport:
    """All files of the QTI zip for ``banks`` (one quiz per bank)."""
    out = QtiExport(files={})
    quizzes = []
    for bank in banks:
        ident = f"quiz_{bank.topic}"
        out.files[f"{ident}/{ident}.xml"] = assessment_xml(bank, ident, out.warnings)
        out.files[f"{ident}/assessment_meta.xml"] = assessment_meta_xml(bank, ident)
        quizzes.append((ident, bank.title))
        out.count += len(bank.questions)
    out.files = {"imsmanifest.xml": manifest_xml(quizzes), **out.files}
    return out

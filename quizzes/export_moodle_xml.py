"""Export banks to Moodle XML (`quiz export --moodle-xml OUT.xml`): the format that carries
what GIFT cannot, above all each question's points as ``<defaultgrade>``, which Moodle's
importer (question/format/xml/format.php, ``import_headers``) reads into the question's
default mark, so a two-point question imports as two points.

Text is written as in the GIFT export (quizzes/export_gift.py): HTML from the engine's
Markdown renderer with maths as ``\\(...\\)`` for Moodle's MathJax filter; matching answers,
which Moodle shows as plain text, with Unicode maths. Weights, the numeric variant, accepted
short-answer variants and ``graded: true`` (no feedback, no general feedback) are the GIFT
export's, from the same functions.

============ ============== ===============================================================
bank type    Moodle type    answers
============ ============== ===============================================================
single       multichoice    ``<single>true``; fraction 100 for the key, ``credit`` x 100
multiple     multichoice    ``<single>false``; fractions from :func:`multiple_weights`
truefalse    truefalse      answers ``true`` / ``false`` with fractions 100 / 0
numeric      numerical      fraction 100, ``<tolerance>`` absolute (one variant if params)
text         shortanswer    ``<usecase>0``, one answer per accepted variant
matching     matching       ``<subquestion>`` per pair; a distractor has empty text
ordering     matching       "Position k" -> item (no LCS partial credit)
============ ============== ===============================================================
"""
from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field

from quizzes.export_gift import (
    EXPORT_STUDENT,
    accepted_variants,
    html_block,
    html_inline,
    multiple_weights,
    numeric_key,
    plain,
    weight,
)
from quizzes.model import AnyQuestion, Bank
from quizzes.variants import present

MOODLE_TYPES = {"single": "multichoice", "multiple": "multichoice", "truefalse": "truefalse",
                "numeric": "numerical", "text": "shortanswer", "matching": "matching",
                "ordering": "matching"}


@dataclass
class MoodleXmlExport:
    text: str
    warnings: list[str] = field(default_factory=list)
    count: int = 0  # questions written


def _text(parent: ET.Element, tag: str, content: str, fmt: str | None = "html") -> ET.Element:
    """``<tag format="html"><text>content</text></tag>`` (the XML writer escapes the HTML)."""
    el = ET.SubElement(parent, tag, {"format": fmt} if fmt else {})
    ET.SubElement(el, "text").text = content
    return el


def _fraction(percent: float) -> str:
    return weight(percent).strip("%")  # Moodle's 5-decimal grade list, as in GIFT


def _answer(question_el: ET.Element, percent: float, text: str, feedback: str | None,
            fmt: str | None = "html") -> ET.Element:
    answer = _text(question_el, "answer", text, fmt)
    answer.set("fraction", _fraction(percent))
    if feedback is not None:
        _text(answer, "feedback", html_inline(feedback))
    return answer


def question_element(question: AnyQuestion, warnings: list[str]) -> ET.Element:
    """One ``<question>`` for ``question`` (see the module table)."""
    el = ET.Element("question", type=MOODLE_TYPES[question.type])
    _text(el, "name", question.id, fmt=None)
    hide = question.graded  # an exam key must not reach students through feedback
    if hide:
        warnings.append(f"{question.id}: graded; feedback left out, hide right answers in the quiz's review options")
    prompt, explanation = question.prompt, question.explanation
    if question.type == "numeric" and question.params:
        variant = present(question, EXPORT_STUDENT, question.id)
        prompt, explanation = variant.prompt, variant.explanation
        drawn = ", ".join(f"{k} = {v}" for k, v in variant.params.items())
        warnings.append(f"{question.id}: parameterised; exported one variant (instructor seed "
                        f"{EXPORT_STUDENT!r}): {drawn}")
    if question.type == "numeric" and question.unit:
        prompt = f"{prompt.rstrip()} ({question.unit})"
    _text(el, "questiontext", html_block(prompt))
    _text(el, "generalfeedback", "" if hide else html_block(explanation))
    ET.SubElement(el, "defaultgrade").text = f"{question.points:g}"
    ET.SubElement(el, "penalty").text = "0"
    ET.SubElement(el, "hidden").text = "0"

    def feedback(text: str) -> str | None:
        return None if hide else text

    kind = question.type
    if kind in ("single", "multiple"):
        ET.SubElement(el, "single").text = "true" if kind == "single" else "false"
        ET.SubElement(el, "shuffleanswers").text = "true" if question.shuffle else "false"
        ET.SubElement(el, "answernumbering").text = "ABCD"
        if kind == "single":
            percents = [100.0 if c.correct else 100.0 * (c.credit or 0) for c in question.choices]
        else:
            percents, note = multiple_weights(question)
            if note:
                warnings.append(f"{question.id}: {note}")
        for choice, percent in zip(question.choices, percents, strict=True):
            _answer(el, percent, html_inline(choice.text), feedback(choice.feedback))
    elif kind == "truefalse":
        for value, text in ((True, question.feedback_true), (False, question.feedback_false)):
            _answer(el, 100.0 if question.answer == value else 0.0, str(value).lower(), feedback(text),
                    fmt="moodle_auto_format")
    elif kind == "numeric":
        value, tolerance, _ = numeric_key(question)
        answer = _answer(el, 100.0, repr(value) if not value.is_integer() else str(int(value)), None,
                         fmt="moodle_auto_format")
        ET.SubElement(answer, "tolerance").text = repr(tolerance)
    elif kind == "text":
        ET.SubElement(el, "usecase").text = "0"  # case-insensitive, as the engine
        for accepted in accepted_variants(question.accept):
            # In Moodle short answers a bare * is a wildcard; \* is a literal star.
            _answer(el, 100.0, accepted.replace("*", "\\*"), None, fmt="moodle_auto_format")
    else:  # matching / ordering
        if kind == "matching":
            pairs = [(p.left, p.right) for p in question.pairs] + [("", d) for d in question.distractors]
        else:
            pairs = [(f"Position {k}", item) for k, item in enumerate(question.items, 1)]
            warnings.append(f"{question.id}: ordering exported as matching 'Position k -> item' "
                            "(no LCS partial credit)")
        ET.SubElement(el, "shuffleanswers").text = "true"
        for left, right in pairs:
            sub = _text(el, "subquestion", html.escape(plain(left), quote=False) if left else "")
            ET.SubElement(ET.SubElement(sub, "answer"), "text").text = plain(right)
    return el


def export_moodle_xml(banks: Iterable[Bank]) -> MoodleXmlExport:
    """Moodle XML for ``banks``: a category question per topic, then its questions."""
    out = MoodleXmlExport(text="")
    root = ET.Element("quiz")
    # "--" may not appear in an XML comment
    root.append(ET.Comment(" Exported by quiz export, Moodle XML (nlp-transformers-autograder) "))
    for bank in banks:
        category = ET.SubElement(root, "question", type="category")
        _text(category, "category", f"$course$/{bank.topic}", fmt=None)
        for question in bank.questions:
            root.append(question_element(question, out.warnings))
            out.count += 1
    ET.indent(root, space="  ")
    out.text = ET.tostring(root, encoding="unicode", xml_declaration=False)
    out.text = '<?xml version="1.0" encoding="UTF-8"?>\n' + out.text + "\n"
    return out

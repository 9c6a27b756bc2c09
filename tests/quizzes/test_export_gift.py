"""GIFT export, validated by parsing it back with a minimal GIFT reader written here from the
grammar (docs.moodle.org/en/GIFT_format and Moodle's question/format/gift/format.php), not
from the exporter's code.

Independent parsers tried: pygiftparser (PyPI, 2017) pins Markdown<3.1, which imports the
removed `pkg_resources`, so it does not import on current Python/setuptools (re-checked with
pygiftparser 1.1); gift-to-moodlexml (PyPI, 2026) requires Python >= 3.14. Hence this reader.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from quizzes import formula, maths
from quizzes.cli import main
from quizzes.export_gift import EXPORT_STUDENT, export_gift
from quizzes.loader import DEFAULT_BANKS, load_bank, load_banks
from quizzes.model import Bank
from quizzes.normalise import normalise_text
from quizzes.render import markdown_html, markdown_inline_html
from quizzes.scoring import score_presented
from quizzes.variants import present

FIXTURE = Path(__file__).resolve().parents[1] / "quiz_fixtures" / "demo.yaml"
SPECIAL = set("~=#{}:")

# ----------------------------------------------------------------------------- the reader


def lex(text: str) -> list[tuple[str, bool]]:
    """Characters of GIFT text as (char, is_structural). Moodle reads ``\\\\`` as a backslash,
    ``\\n`` as a newline and ``\\`` + one of ``~=#{}:`` as that character, literally; any other
    backslash is a bug in the export, except ``\\*`` (see the short-answer test)."""
    out: list[tuple[str, bool]] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "\\":
                out.append(("\\", False))
            elif nxt == "n":
                out.append(("\n", False))
            elif nxt in SPECIAL:
                out.append((nxt, False))
            elif nxt == "*":  # not a GIFT escape: Moodle keeps "\*" for the short-answer matcher
                out += [("\\", False), ("*", False)]
            else:
                raise AssertionError(f"stray backslash before {nxt!r} in {text!r}")
            i += 2
            continue
        out.append((c, c in SPECIAL))
        i += 1
    return out


def literal(chars: list[tuple[str, bool]]) -> str:
    bad = [c for c, structural in chars if structural]
    assert not bad, f"unescaped {bad} inside text {''.join(c for c, _ in chars)!r}"
    return "".join(c for c, _ in chars)


def split_at(chars, sep: str):
    """Split a lexed sequence at structural occurrences of the one-char separator."""
    parts, cur = [], []
    for c, s in chars:
        if s and c == sep:
            parts.append(cur)
            cur = []
        else:
            cur.append((c, s))
    parts.append(cur)
    return parts


def strip(chars):
    text = "".join(c for c, _ in chars)
    lead = len(text) - len(text.lstrip())
    trail = len(text) - len(text.rstrip())
    return chars[lead: len(chars) - trail]


@dataclass
class Answer:
    sign: str
    weight: float | None
    text: str
    feedback: str | None


@dataclass
class GiftQuestion:
    title: str
    fmt: str | None
    prompt: str
    kind: str  # choice | short | matching | truefalse | numeric
    answers: list[Answer] = field(default_factory=list)
    general: str | None = None
    tf: tuple[bool, str, str] | None = None  # (answer, wrong feedback, right feedback)
    numeric: tuple[float, float] | None = None
    category: str | None = None


def parse_gift(text: str) -> list[GiftQuestion]:
    questions, category = [], None
    for block in re.split(r"\n\s*\n", text):
        lines = [ln for ln in block.split("\n") if not ln.strip().startswith("//")]
        body = "\n".join(lines).strip()
        if not body:
            continue
        if body.startswith("$CATEGORY:"):
            category = body[len("$CATEGORY:"):].strip()
            continue
        questions.append(parse_question(body, category))
    return questions


def parse_question(body: str, category: str | None) -> GiftQuestion:
    m = re.match(r"::(.*?)::", body, re.S)
    assert m, f"no ::title:: in {body[:60]!r}"
    title = literal(lex(m.group(1)))
    rest = lex(body[m.end():])
    starts = [i for i, (c, s) in enumerate(rest) if s and c == "{"]
    ends = [i for i, (c, s) in enumerate(rest) if s and c == "}"]
    assert len(starts) == 1 and len(ends) == 1 and starts[0] < ends[0], "expected exactly one {...} answer block"
    assert not strip(rest[ends[0] + 1:]), "text after the answer block"
    head, section = rest[: starts[0]], strip(rest[starts[0] + 1: ends[0]])
    head_text = literal(head).strip()
    fmt = None
    fm = re.match(r"\[(\w+)\]", head_text)
    if fm:
        fmt, head_text = fm.group(1), head_text[fm.end():]
    q = GiftQuestion(title, fmt, head_text, kind="", category=category)

    # General feedback: "####" (four structural #) to the end of the block.
    for i in range(len(section) - 3):
        if all(section[i + k] == ("#", True) for k in range(4)):
            q.general = literal(section[i + 4:]).strip()
            section = strip(section[:i])
            break
    raw = "".join(c for c, _ in section)
    if section and section[0] == ("#", True):
        q.kind = "numeric"
        parts = split_at(section[1:], ":")
        assert len(parts) == 2, f"numeric answer must be value:tolerance, got {raw!r}"
        q.numeric = (float(literal(parts[0])), float(literal(parts[1])))
        return q
    tf = re.match(r"(TRUE|FALSE|T|F)\b", raw)
    if tf and not any(s and c in "=~" for c, s in section):
        q.kind = "truefalse"
        parts = split_at(section, "#")
        assert literal(parts[0]).strip() in ("TRUE", "FALSE", "T", "F")
        fbs = [literal(p).strip() for p in parts[1:]]
        assert len(fbs) in (0, 2), "expected {T} or {T#wrong feedback#right feedback}"
        q.tf = (literal(parts[0]).strip().startswith("T"), fbs[0], fbs[1]) if fbs else None
        return q
    # Choice-like: a sequence of answers, each starting with a structural = or ~.
    assert section and section[0][1] and section[0][0] in "=~", f"answers must start with = or ~: {raw!r}"
    current: list | None = None
    chunks = []
    for c, s in section:
        if s and c in "=~":
            current = [c]
            chunks.append(current)
        else:
            current.append((c, s))
    for chunk in chunks:
        sign, chars = chunk[0], strip(chunk[1:])
        parts = split_at(chars, "#")
        assert len(parts) <= 2, "more than one # feedback in an answer"
        text = literal(parts[0]).strip()
        weight = None
        wm = re.match(r"%(-?\d+(?:\.\d+)?)%", text)
        if wm:
            weight, text = float(wm.group(1)), text[wm.end():]
        feedback = literal(parts[1]).strip() if len(parts) == 2 else None
        q.answers.append(Answer(sign, weight, text, feedback))
    if all(a.sign == "=" and "->" in a.text for a in q.answers):
        q.kind = "matching"
    elif all(a.sign == "=" and a.weight is None for a in q.answers):
        q.kind = "short"
    else:
        q.kind = "choice"
    return q


def pairs(q: GiftQuestion) -> list[tuple[str, str]]:
    return [tuple(s.strip() for s in a.text.split("->", 1)) for a in q.answers]


# What Moodle shows, by the engine's own renderers (tested in test_quiz_render.py and
# test_maths.py): HTML with maths in MathJax delimiters; plain text with Unicode maths.
def block(text: str) -> str:
    return str(markdown_html(text, math="mathjax")).strip()


def inline(text: str) -> str:
    return str(markdown_inline_html(text, math="mathjax")).strip()


def plain(text: str) -> str:
    return maths.unicode_text(text).strip()


# ----------------------------------------------------------------------------- tests

TRICKY = [
    "Given {x:y} and a=b, what is # of ~tokens?",
    r"Compute $\frac{1}{2} + \sqrt{d_k}$ \n (literal backslash-n) and C:\path\to",
    "Trailing backslash \\",
    "::not a title:: {=not an answer} ~x #y ####z",
    "Line one\nLine two\n\n```python\nx = {'a': 1}  # comment\n```",
]


def tricky_bank() -> Bank:
    return Bank.model_validate({
        "topic": "tricky", "title": "Tricky: {braces} = #hash", "description": "escaping",
        "questions": [
            {"id": f"tricky-q{i}", "type": "single", "source": "FAQ.md#Escaping?", "prompt": text,
             "explanation": "Because {a}=b # c ~ d: " + text,
             "choices": [
                 {"text": text, "correct": True, "feedback": "fb " + text},
                 {"text": "%10% of {it}", "feedback": "~no = #"},
                 {"text": "plain", "feedback": "x: y", "credit": 0.25},
             ]}
            for i, text in enumerate(TRICKY)
        ] + [
            {"id": "tricky-text", "type": "text", "source": "FAQ.md#Escaping?", "prompt": "a*b = ?",
             "explanation": "e", "accept": ["a*b", "x{1}"]},
            {"id": "tricky-match", "type": "matching", "source": "FAQ.md#Escaping?", "prompt": "Match",
             "explanation": "e", "pairs": [{"left": "a=b", "right": "{x}"}, {"left": "c:d", "right": "~y"}],
             "distractors": ["#z"]},
            {"id": "tricky-tf", "type": "truefalse", "source": "FAQ.md#Escaping?", "prompt": "{T}rue?",
             "explanation": "e", "answer": False, "feedback_true": "no: {it} is false", "feedback_false": "yes #1"},
        ],
    })


def test_escaping_round_trip_of_tricky_strings():
    bank = tricky_bank()
    parsed = parse_gift(export_gift([bank]).text)
    assert len(parsed) == len(bank.questions)
    for q, g in zip(bank.questions[: len(TRICKY)], parsed[: len(TRICKY)], strict=True):
        assert g.title == q.id and g.fmt == "html" and g.category == "$course$/tricky"
        assert g.prompt == block(q.prompt)
        assert g.general == block(q.explanation)
        assert [(a.sign, a.text, a.feedback) for a in g.answers] == [
            ("=", inline(q.choices[0].text), inline("fb " + q.choices[0].text)),
            ("~", "%10% of {it}", "~no = #"),
            ("~", "plain", "x: y"),
        ]
        assert [a.weight for a in g.answers] == [None, 0, 25]  # explicit %0% protects "%10%..."


def test_short_answer_matching_and_truefalse_round_trip():
    parsed = {g.title: g for g in parse_gift(export_gift([tricky_bank()]).text)}
    text = parsed["tricky-text"]
    assert text.kind == "short"
    # `*` is a wildcard in Moodle short answers; the export writes \* (kept by the GIFT layer).
    assert [a.text for a in text.answers] == [r"a\*b", "x{1}"]
    match = parsed["tricky-match"]
    assert match.kind == "matching"
    assert pairs(match) == [("a=b", "{x}"), ("c:d", "~y"), ("", "#z")]
    tf = parsed["tricky-tf"]
    # answer false: wrong feedback is the one for answering true
    assert tf.kind == "truefalse" and tf.tf == (False, "no: {it} is false", "yes #1")


def test_no_blank_line_inside_a_question():
    text = export_gift([tricky_bank()]).text
    for block in re.split(r"\n\s*\n", text):
        assert block.count("::") in (0, 2) or block.strip().startswith("//"), block


def _expected_multiple(q) -> list[float]:
    k = sum(c.correct for c in q.choices)
    wrong = -100.0 if q.scheme == "all_or_nothing" else -100.0 / k
    return [100.0 / k if c.correct else wrong for c in q.choices]


def check_bank(bank: Bank, gift: list[GiftQuestion]) -> None:
    """Every question of ``bank`` against its parsed GIFT block."""
    by_title = {g.title: g for g in gift}
    for q in bank.questions:
        g = by_title[q.id]
        assert g.category == f"$course$/{bank.topic}"
        assert g.fmt == "html"
        feedback = (lambda text: None) if q.graded else inline  # noqa: E731 - graded: none written
        if q.type == "single":
            assert g.kind == "choice"
            assert [a.text for a in g.answers] == [inline(c.text) for c in q.choices]
            assert [a.sign for a in g.answers] == ["=" if c.correct else "~" for c in q.choices]
            assert [a.feedback for a in g.answers] == [feedback(c.feedback) for c in q.choices]
            for a, c in zip(g.answers, q.choices, strict=True):
                if c.credit:
                    assert a.weight == pytest.approx(100 * c.credit)
        elif q.type == "multiple":
            assert g.kind == "choice" and all(a.sign == "~" for a in g.answers)
            assert [a.weight for a in g.answers] == pytest.approx(_expected_multiple(q), abs=1e-4)
            assert sum(a.weight for a in g.answers if a.weight > 0) == pytest.approx(100, abs=1e-3)
        elif q.type == "truefalse" and q.graded:
            assert g.kind == "truefalse" and g.tf is None
        elif q.type == "truefalse":
            assert g.kind == "truefalse"
            right = q.feedback_true if q.answer else q.feedback_false
            wrong = q.feedback_false if q.answer else q.feedback_true
            assert g.tf == (q.answer, inline(wrong), inline(right))
        elif q.type == "numeric":
            assert g.kind == "numeric"
            params = present(q, EXPORT_STUDENT, q.id).params if q.params else {}
            value = float(formula.evaluate(q.answer, params))
            assert g.numeric[0] == pytest.approx(value)
            assert g.numeric[1] == pytest.approx(max(q.atol, q.rtol * abs(value)))
            for _name, v in params.items():  # the drawn params are in the exported prompt
                assert str(v) in g.prompt
        elif q.type == "text":
            assert g.kind == "short"
            check_short_answers(q, [a.text.replace(r"\*", "*") for a in g.answers])
        elif q.type == "matching":
            assert g.kind == "matching"
            expected = [(html.escape(plain(p.left), quote=False), plain(p.right)) for p in q.pairs]
            assert pairs(g) == expected + [("", plain(d)) for d in q.distractors]
        elif q.type == "ordering":
            assert g.kind == "matching"
            assert pairs(g) == [(f"Position {k}", plain(item)) for k, item in enumerate(q.items, 1)]
        if q.graded:
            assert g.general is None, f"{q.id}: a graded question's explanation reveals its key"
        elif q.type != "numeric":
            assert g.general == block(q.explanation)


def check_short_answers(q, exported: list[str]) -> None:
    """What Moodle accepts (the exported answers, compared case-insensitively but with the
    punctuation kept) covers what the engine accepts: each accepted answer as written and
    normalised; and the engine gives full marks to every exported answer."""
    moodle = {a.casefold() for a in exported}
    for accepted in q.accept:
        assert accepted.strip().casefold() in moodle
        assert normalise_text(accepted).casefold() in moodle, f"{q.id}: {normalise_text(accepted)!r} not exported"
    variant = present(q, "alice", q.id)
    for answer in exported:
        assert score_presented(variant, answer).score == q.points, f"{q.id}: the engine refuses {answer!r}"


def test_fixture_bank_every_type():
    bank = load_bank(FIXTURE)
    kinds = {"single", "multiple", "truefalse", "numeric", "text", "ordering", "matching"}
    assert {q.type for q in bank.questions} == kinds
    out = export_gift([bank])
    parsed = parse_gift(out.text)
    assert len(parsed) == len(bank.questions) == out.count
    check_bank(bank, parsed)
    assert any("parameterised" in w for w in out.warnings)
    assert "instructor seed" in out.text  # said in a comment too


def test_ordering_skip_is_warned():
    bank = load_bank(FIXTURE)
    out = export_gift([bank], ordering="skip")
    titles = [g.title for g in parse_gift(out.text)]
    assert "demo-ordering" not in titles and len(titles) == len(bank.questions) - 1
    assert any("demo-ordering" in w and "skipped" in w for w in out.warnings)


def test_project_banks_parse_back():
    banks = list(load_banks(DEFAULT_BANKS).values())
    if not banks:
        pytest.skip("no banks in quizzes/banks yet")
    parsed = parse_gift(export_gift(banks).text)
    assert len(parsed) == sum(len(b.questions) for b in banks)
    for bank in banks:
        check_bank(bank, parsed)


def test_cli_export_gift(tmp_path):
    out = tmp_path / "moodle.txt"
    result = CliRunner().invoke(main, ["--banks", str(FIXTURE.parent), "export", "--gift", str(out), "demo"])
    assert result.exit_code == 0, result.output
    assert len(parse_gift(out.read_text(encoding="utf-8"))) == 7
    assert "ordering has no GIFT type" in result.output
    bad = CliRunner().invoke(main, ["--banks", str(FIXTURE.parent), "export", "--gift", str(out), "nope"])
    assert bad.exit_code != 0 and "unknown topic 'nope'" in bad.output
    none = CliRunner().invoke(main, ["--banks", str(FIXTURE.parent), "export"])
    assert none.exit_code != 0 and "--gift" in none.output


def unescaped_text(gift: str) -> str:
    """The GIFT text with Moodle's escapes undone (comments dropped): what Moodle stores."""
    body = "\n".join(line for line in gift.split("\n") if not line.lstrip().startswith("//"))
    return "".join(c for c, _ in lex(body))


def test_every_bank_maths_span_is_written_for_mathjax():
    banks = list(load_banks(DEFAULT_BANKS).values())
    stored = unescaped_text(export_gift(banks).text)
    outside_code = re.sub(r"<(pre|code)\b.*?</\1>|^\$CATEGORY: [^\n]*", "", stored, flags=re.S | re.M)
    assert "$" not in outside_code, "raw $...$ left in the GIFT export"
    for bank in banks:
        for q in bank.questions:
            prompt = present(q, EXPORT_STUDENT, q.id).prompt  # numeric: the exported variant
            for span in maths.math_spans(prompt):
                latex = span.strip("$").strip()
                delimited = f"\\[{latex}\\]" if span.startswith("$$") else f"\\({latex}\\)"
                assert delimited in html.unescape(stored), f"{q.id}: {span} not exported as {delimited}"


def exam_bank() -> Bank:
    common = {"source": "FAQ.md#Exam?", "explanation": "The key is B because ...", "graded": True}
    return Bank.model_validate({"topic": "exam", "title": "Exam", "description": "d", "questions": [
        {"id": "exam-single", "type": "single", "points": 2, "prompt": "Pick", **common, "choices": [
            {"text": "A", "feedback": "No: B is right"}, {"text": "B", "correct": True, "feedback": "Yes: B"}]},
        {"id": "exam-tf", "type": "truefalse", "prompt": "True?", "answer": True, **common,
         "feedback_true": "right, it is true", "feedback_false": "wrong, it is true"},
        {"id": "exam-open", "type": "single", "prompt": "Practice", "source": "FAQ.md#Exam?",
         "explanation": "Shown", "choices": [{"text": "x", "correct": True, "feedback": "fx"},
                                             {"text": "y", "feedback": "fy"}]},
    ]})


def test_graded_questions_are_written_without_feedback_and_say_why():
    out = export_gift([exam_bank()])
    parsed = {g.title: g for g in parse_gift(out.text)}
    single, tf, practice = parsed["exam-single"], parsed["exam-tf"], parsed["exam-open"]
    assert single.general is None and all(a.feedback is None for a in single.answers)
    assert [a.sign for a in single.answers] == ["~", "="]  # the key itself is still graded
    assert tf.kind == "truefalse" and tf.tf is None
    assert practice.general == "<p>Shown</p>" and practice.answers[0].feedback == "fx"
    assert "The key is B" not in out.text and "Yes: B" not in out.text
    assert any("exam-single" in w and "graded" in w for w in out.warnings)
    check_bank(exam_bank(), list(parsed.values()))


def test_points_other_than_one_are_warned_in_a_comment():
    out = export_gift([exam_bank()])
    head = out.text.split("::exam-single::")[0].rsplit("\n\n", 1)[-1]
    assert "// points: 2 points" in head and "--moodle-xml" in head
    assert any(w.startswith("exam-single: 2 points") for w in out.warnings)
    assert not any(w.startswith("exam-tf:") and "point" in w for w in out.warnings)


def test_short_answers_carry_the_normalised_variants():
    bank = Bank.model_validate({"topic": "t", "title": "T", "description": "d", "questions": [
        {"id": "t-ln", "type": "text", "source": "FAQ.md#X?", "prompt": "Name it", "explanation": "e",
         "accept": ["Layer-Norm", "pre-LN (2, 8)"]}]})
    g = parse_gift(export_gift([bank]).text)[0]
    assert [a.text for a in g.answers] == ["Layer-Norm", "layernorm", "pre-LN (2, 8)", "preln (2 8)"]
    check_short_answers(bank.questions[0], [a.text for a in g.answers])

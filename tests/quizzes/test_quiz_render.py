"""Rendering: strict templates, student views without answers, valid notebooks."""
import json
import re

import jinja2
import nbformat
import pytest

from quizzes.render import (
    RenderError,
    make_environment,
    markdown_html,
    render,
    render_notebook,
    render_template,
)
from quizzes.sandbox import render_prompt
from quizzes.variants import present_bank

CORRECT = "Keep the score variance near one (zebra)"


def secrets_of(bank) -> list[str]:
    """Strings that only an answer key may contain: feedback, explanations, accepted texts."""
    out = []
    for q in bank.questions:
        out.append(q.explanation.strip())
        out += [c.feedback for c in getattr(q, "choices", [])]
        for attr in ("feedback_true", "feedback_false"):
            if hasattr(q, attr):
                out.append(getattr(q, attr))
        out += list(getattr(q, "accept", []))
    return out


def test_strict_undefined_names_template_file_and_line(tmp_path):
    (tmp_path / "page.md.j2").write_text("line one\n{{ title }}\n{{ missing }}\n")
    env = make_environment(tmp_path)
    assert render_template("page.md.j2", env, title="T", missing="M") == "line one\nT\nM\n"
    with pytest.raises(RenderError, match=r"page\.md\.j2:3: UndefinedError: 'missing' is undefined"):
        render_template("page.md.j2", env, title="T")


def test_template_syntax_error_names_file_and_line(tmp_path):
    (tmp_path / "broken.html.j2").write_text("<p>ok</p>\n{% for x in %}\n")
    with pytest.raises(RenderError, match=r"broken\.html\.j2:2: template syntax error"):
        render_template("broken.html.j2", make_environment(tmp_path))


def test_html_templates_autoescape_markdown_templates_do_not(tmp_path):
    (tmp_path / "a.html.j2").write_text("{{ x }}")
    (tmp_path / "a.md.j2").write_text("{{ x }}")
    env = make_environment(tmp_path)
    assert render_template("a.html.j2", env, x="<b>") == "&lt;b&gt;"
    assert render_template("a.md.j2", env, x="<b>") == "<b>"


def test_prompt_params_are_sandboxed_and_strict():
    assert render_prompt("d_k = {{ d_k }}", {"d_k": 64}) == "d_k = 64"
    with pytest.raises(jinja2.UndefinedError):
        render_prompt("{{ heads }}", {"d_k": 64})
    with pytest.raises(jinja2.exceptions.SecurityError):
        render_prompt("{{ x.__class__.__mro__ }}", {"x": 1})


def test_student_html_has_no_answers_feedback_or_explanations(demo_bank):
    page = render(demo_bank, "alice", "html")
    assert page.startswith("<!DOCTYPE html>")
    assert page.count(CORRECT) == 1  # shown once, as one option among four
    assert "correct" not in page.lower()
    assert "checked" not in page
    for question in demo_bank.questions:  # ids can give an answer away (e.g. "...-nucleus-name")
        assert question.id not in page, question.id
    for secret in secrets_of(demo_bank):
        assert secret not in page, secret
    option = re.search(r"<label>[^\n]*" + re.escape(CORRECT) + r"[^\n]*</label>", page).group(0)
    assert re.fullmatch(r'<label><input type="radio" name="q[0-9]+" value="[A-D]">'
                        r'<span class="letter">[A-D]\.</span> ' + re.escape(CORRECT) + "</label>", option)


@pytest.mark.parametrize("fmt", ["markdown", "terminal", "notebook"])
def test_other_student_views_have_no_answers(demo_bank, fmt):
    text = render(demo_bank, "alice", fmt)
    assert CORRECT in text
    assert "correct" not in text.lower()
    for secret in secrets_of(demo_bank):
        assert secret not in text, secret


def test_numeric_variant_is_rendered_but_not_its_answer(demo_bank):
    presented = present_bank(demo_bank, "alice")
    numeric = next(p for p in presented if p.id == "demo-numeric")
    html = render(demo_bank, "alice", "html")
    assert f"With d_model = {numeric.params['d_model']} and {numeric.params['heads']} heads" in html


def test_key_has_answers_and_explanations(demo_bank):
    key = render(demo_bank, "alice", "key")
    presented = {p.id: p for p in present_bank(demo_bank, "alice")}
    letter = next(o.letter for o in presented["demo-single"].options if o.text == CORRECT)
    assert f"- ✔ **{letter}.** {CORRECT} — Right: softmax stays out of saturation." in key
    assert f"**Answer:** {letter}. {CORRECT}" in key
    n = presented["demo-numeric"].params
    assert f"**Answer:** {n['d_model'] / n['heads']:.6g} dimensions (rtol 0.01)" in key  # e.g. 64 / 6 -> 10.6667
    for q in demo_bank.questions:
        assert q.id in key
    assert "Layer normalisation normalises over the feature dimension." in key


def test_html_escapes_bank_text(write_bank):
    from quizzes.loader import load_bank

    path = write_bank(
        "esc",
        """
        topic: esc
        title: "<i>Title</i>"
        description: d
        questions:
          - id: esc-q
            type: single
            source: "FAQ.md#Q?"
            prompt: "Which is <script>alert(1)</script> safe? Code: `a < b`"
            explanation: e
            choices:
              - {text: "<img src=x onerror=alert(1)>", correct: true, feedback: f}
              - {text: "b & c", feedback: f}
        """,
    )
    page = render(load_bank(path), "alice", "html")
    assert "<script>" not in page and "<img" not in page and "<i>" not in page
    assert "&lt;script&gt;" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<code>a &lt; b</code>" in page and "b &amp; c" in page


def test_latex_is_not_mangled_by_markdown():
    html = markdown_html(r"Compute $a_i * b_i * c$ and $$\sum_j x_j$$, but `$x_1_` is code.")
    assert "<em>" not in html
    # maths becomes MathML (quizzes/maths.py): a_i is a subscript, not the start of emphasis
    assert "<msub><mi>a</mi><mi>i</mi></msub>" in html and 'display="block"' in html and "$a_i" not in html
    assert "<code>$x_1_</code>" in html


def test_notebook_validates_and_is_reproducible(demo_bank):
    presented = present_bank(demo_bank, "alice")
    nb = render_notebook(demo_bank, presented)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    question_cells = [c for c in nb.cells if c.get("metadata", {}).get("quiz")]
    assert [c.cell_type for c in question_cells] == ["markdown", "code"] * len(demo_bank.questions)
    assert [c.metadata["quiz"]["question"] for c in question_cells[::2]] == [q.id for q in demo_bank.questions]
    assert 'answers["demo-single"] = None' in question_cells[1].source
    text = render(demo_bank, "alice", "notebook")
    nbformat.validate(nbformat.reads(text, as_version=4))
    assert text == render(demo_bank, "alice", "notebook")  # stable cell ids
    assert json.loads(text)["metadata"]["quiz"] == {"topic": "demo", "quiz": "demo", "student": "alice"}


def test_views_differ_between_students(demo_bank):
    assert render(demo_bank, "alice", "markdown") != render(demo_bank, "bob", "markdown")
    assert render(demo_bank, "alice", "html") == render(demo_bank, "alice", "html")

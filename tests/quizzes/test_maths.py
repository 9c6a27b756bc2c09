"""Maths rendering (quizzes/maths.py): MathML in HTML, Unicode in the terminal, every $...$ of
the banks rendered. Expected Unicode strings are worked out by hand; MathML is checked by
parsing it with xml.etree, not by comparing with latex2mathml's own output."""
from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from quizzes import maths
from quizzes.cli import main
from quizzes.loader import DEFAULT_BANKS, load_banks
from quizzes.render import markdown_html, render
from quizzes.variants import present

MATHML = "{http://www.w3.org/1998/Math/MathML}"
BANKS = load_banks(DEFAULT_BANKS)


def _texts(value) -> list[str]:
    """Every string inside a question's data (prompt, choices, feedback, explanation...)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return []


def _bank_spans() -> list[tuple[str, str]]:
    """(question id, $...$ span) for every maths span of every bank, params filled in."""
    found = []
    for bank in BANKS.values():
        for q in bank.questions:
            data = q.model_dump()
            if q.type == "numeric" and q.params:  # prompts are templates: fill one variant
                variant = present(q, "maths-test", q.id)
                data["prompt"], data["explanation"] = variant.prompt, variant.explanation
            found += [(q.id, span) for text in _texts(data) for span in maths.math_spans(text)]
    return found


SPANS = _bank_spans()


@pytest.mark.parametrize(("latex", "expected"), [
    (r"\sqrt{d_k}", "√dₖ"),
    (r"\frac{1}{\sqrt{d_k}}", "1/√dₖ"),
    (r"\sigma^2 + \varepsilon", "σ² + ε"),
    (r"QK^\top", "QKᵀ"),
    (r"10^{-38}", "10⁻³⁸"),
    (r"d_{model} \times d_{ff}", "d_model × d_ff"),       # Unicode has no subscript d or f
    (r"\frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}}", "(x − μ)/√(σ² + ε)"),
    (r"\text{softmax}\!\left(QK^\top/\sqrt{d_k}\right) V", "softmax(QKᵀ/√dₖ) V"),
    (r"2\cdot10^{-5}", "2·10⁻⁵"),
    (r"\log_2 n \le \infty", "log₂ n ≤ ∞"),
    (r"e^{2/T}", "e^(2/T)"),
    (r"\prod_l (I + J_l)", "∏ₗ (I + Jₗ)"),
    (r"\mathrm{GELU}(1) \approx 0.841", "GELU(1) ≈ 0.841"),
])
def test_unicode_by_hand(latex, expected):
    assert maths.to_unicode(latex) == expected


def test_code_is_never_maths():
    text = r"Cost $\alpha$ but `echo $HOME $PATH` and ```sh\nx=$1 $2\n``` stay"
    assert maths.unicode_text(text) == "Cost α but `echo $HOME $PATH` and ```sh\\nx=$1 $2\\n``` stay"
    assert maths.to_mathjax("x", display=True) == r"\[x\]"


def test_inline_maths_may_wrap_but_not_cross_a_paragraph():
    # positional-sinusoidal-entry wraps "$1, 10^{-1},\n10^{-2}, 10^{-3}$" over two lines
    assert maths.math_spans("are $1, 10^{-1},\n10^{-2}$ and $5\n\nthen 6$") == ["$1, 10^{-1},\n10^{-2}$"]
    assert maths.unicode_text("are $1, 10^{-1},\n10^{-2}$") == "are 1, 10⁻¹, 10⁻²"


def test_terminal_markdown_escapes_what_rich_would_read_as_emphasis():
    assert maths.unicode_markdown(r"$d_{model} \cdot d_{ff}$") == r"d\_model · d\_ff"


def test_the_banks_use_maths():
    assert len({qid for qid, _ in SPANS}) >= 31  # the issue counted 31 questions


@pytest.mark.parametrize(("qid", "span"), sorted(set(SPANS)), ids=lambda v: v if len(v) < 40 else v[:40])
def test_every_bank_span_renders(qid, span):
    latex = span.strip("$").strip()
    mathml = maths.to_mathml(latex, span.startswith("$$"))
    root = ET.fromstring(mathml)  # valid XML
    assert root.tag == f"{MATHML}math", f"{qid}: {span} fell back to {mathml}"
    assert len(list(root.iter())) > 1
    text = maths.to_unicode(latex)
    assert text and not re.search(r"\\[A-Za-z]|[{}$]", text), f"{qid}: {span} -> {text!r}"


def test_unsafe_or_broken_latex_falls_back_to_escaped_code():
    assert maths.to_mathml(r"\text{<script>alert(1)</script>}").startswith('<code class="math">\\text{&lt;script')
    assert maths.to_mathml(r"\frac{") == r'<code class="math">\frac{</code>'


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list("\\{}^_[]()$ ab1-") + [r"\frac", r"\sqrt", r"\left", r"\text"]),
                max_size=30).map("".join))
def test_any_latex_renders_without_raising(latex):
    # a bank author's typo must not take a page down: Unicode or escaped code, never an exception
    assert isinstance(maths.to_unicode(latex), str)
    ET.fromstring(maths.to_mathml(latex))  # MathML or the <code> fallback, well-formed either way


def test_absurd_nesting_shows_the_source():
    deep = "{" * 3000 + "x" + "}" * 3000
    assert maths.to_unicode(deep) == deep
    assert maths.to_mathml(deep).startswith('<code class="math">')


def _outside_code(html_page: str) -> str:
    return re.sub(r"<(pre|code)\b.*?</\1>", "", html_page, flags=re.S)


@pytest.mark.parametrize("topic", sorted(BANKS))
def test_html_pages_have_mathml_and_no_raw_dollar(topic):
    page = render(BANKS[topic], "alice", "html")
    assert "$" not in _outside_code(page)
    spans_here = [s for q in BANKS[topic].questions for s in maths.math_spans(q.prompt)]
    if spans_here:
        assert "<math " in page
    # the <math> elements of the page parse (a whole HTML page is not XML, each element is)
    for element in re.findall(r"<math .*?</math>", page, flags=re.S):
        ET.fromstring(element)


@pytest.mark.parametrize("topic", sorted(BANKS))
def test_terminal_view_shows_unicode_not_latex(topic):
    result = CliRunner().invoke(main, ["render", topic, "--format", "terminal", "--student", "alice"])
    assert result.exit_code == 0, result.output
    assert not re.search(r"\\(frac|sqrt|cdot|times|sigma|mathrm|text|top)\b", result.output)
    shown = [q for q in BANKS[topic].questions if not (q.type == "numeric" and q.params)]
    short = {s.strip("$") for q in shown for s in maths.math_spans(q.prompt) if " " not in s and "{{" not in s}
    for latex in short:  # short spans are never wrapped across lines
        assert maths.to_unicode(latex) in result.output, latex
        assert f"${latex}$" not in result.output


def _requirement_names(requirements: str) -> set[str]:
    """Distribution names of a requirements.txt and of what they require in turn."""
    names = {re.split(r"[<>=!~\s\[]", line)[0].lower().replace("_", "-")
             for line in requirements.splitlines() if line.strip() and not line.startswith("#")}
    for name in list(names):
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:  # not installed here (e.g. notebook)
            continue
        for requirement in requires:
            if "extra ==" not in requirement:
                names.add(re.split(r"[<>=!~\s;\[(]", requirement)[0].lower().replace("_", "-"))
    return names


def test_the_student_bundle_requires_what_the_shipped_engine_imports():
    """`autograder release` ships quizzes/ (render.py imports maths.py, which imports
    latex2mathml): every third-party module a shipped file imports at load time must come from
    a distribution the bundle's requirements.txt installs."""
    from autograder.release import COURSE_ONLY_QUIZ_FILES, REQUIREMENTS

    installed = _requirement_names(REQUIREMENTS)
    providers = importlib.metadata.packages_distributions()
    for path in sorted(Path(maths.__file__).parent.glob("*.py")):
        if path.name in COURSE_ONLY_QUIZ_FILES:
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:  # module level only
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in ("quizzes", "__future__"):
                    continue
                dists = {d.lower().replace("_", "-") for d in providers.get(top, [])}
                assert dists & installed, f"{path.name} imports {top} ({dists}); requirements.txt lacks it"


def test_markdown_keeps_latex_for_jupyter():
    bank = BANKS["attention"]
    assert "$" in render(bank, "alice", "markdown") or not any(maths.math_spans(q.prompt) for q in bank.questions)
    assert "<math" in str(markdown_html(r"$\sqrt{2}$"))

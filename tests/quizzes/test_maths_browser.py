"""The MathML of a quiz page is drawn by a real browser (Debian's /usr/bin/chromium through
Playwright, never `playwright install`): a fraction's numerator sits above its denominator
and a subscript below its base, which raw LaTeX or a failed conversion would not give.

Skipped only when Chromium or Playwright is missing on a developer machine; with ``CI`` set a
missing browser is a failure.
"""
from __future__ import annotations

import pytest

from quizzes.loader import DEFAULT_BANKS, load_banks
from quizzes.render import markdown_inline_html, render


@pytest.fixture
def page(chromium):
    page = chromium.new_page()  # chromium: tests/conftest.py
    yield page
    page.close()


def test_quiz_page_maths_is_laid_out_by_the_browser(page):
    html = render(load_banks(DEFAULT_BANKS)["attention"], "alice", "html")
    page.set_content(html, timeout=10_000)
    assert page.locator("math").count() > 0
    assert "\\sqrt" not in page.inner_text("body") and "$" not in page.inner_text("body")
    base, script = page.evaluate("""() => {
        const [base, script] = document.querySelector('msub').children;
        return [base.getBoundingClientRect().bottom, script.getBoundingClientRect().bottom];
    }""")
    assert script > base  # a subscript sits lower than its base


def test_a_fraction_is_stacked(page):
    fraction_html = markdown_inline_html(r"$\frac{1}{\sqrt{d_k}}$")
    page.set_content(f"<p><span id='text'>x</span> {fraction_html}</p>")
    text, fraction, numerator_bottom, denominator_top = page.evaluate("""() => {
        const frac = document.querySelector('mfrac'), [num, den] = frac.children;
        return [document.getElementById('text').getBoundingClientRect().height, frac.getBoundingClientRect().height,
                num.getBoundingClientRect().bottom, den.getBoundingClientRect().top];
    }""")
    # numerator above denominator, not "1/√dk" on one line
    assert numerator_bottom <= denominator_top and fraction > text

"""Maths in quiz prompts rendered on the server as MathML (no CDN, no script: the page's CSP
allows neither), for both modes of the app.

The quiz engine's Markdown filters (`quizzes.render.markdown_html`) already set each ``$...$``
span apart as ``<span class="math">`` with the LaTeX escaped; this module swaps those spans for
MathML from latex2mathml. Its output is re-serialised through ElementTree (latex2mathml leaves
``\\text{<b>}`` unescaped) with links and event attributes dropped (``\\href`` makes one), and
LaTeX it cannot read, or longer than `MAX_LATEX_CHARS`, stays the escaped text it was.
"""
from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from functools import lru_cache

import jinja2
from latex2mathml.converter import convert_to_element
from markupsafe import Markup

from quizzes import render as quiz_render

MAX_LATEX_CHARS = 2_000  # a prompt's formula, not a document: bounds the converter's work
_MATH_SPAN = re.compile(r'<span class="math">(.*?)</span>', re.S)
ET.register_namespace("", "http://www.w3.org/1998/Math/MathML")


def _safe(element: ET.Element) -> ET.Element:
    for node in element.iter():
        for name in list(node.attrib):
            value = node.attrib[name]
            if name.lower() in ("href", "xlink:href", "src") or name.lower().startswith("on") \
                    or "javascript:" in value.lower():
                del node.attrib[name]
    return element


@lru_cache(maxsize=4096)
def latex_mathml(latex: str) -> str | None:
    """``$x$`` / ``$$x$$`` -> a ``<math>`` element as text, or None when it cannot be read."""
    display = latex.startswith("$$")
    body = latex.strip("$").strip()
    if not body or len(body) > MAX_LATEX_CHARS:
        return None
    try:
        element = convert_to_element(body, display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - any parser failure: show the LaTeX as text
        return None
    return ET.tostring(_safe(element), encoding="unicode", short_empty_elements=False)


def with_mathml(rendered: str) -> Markup:
    """HTML from the quiz engine's Markdown filters, its maths spans as MathML."""
    def swap(match: re.Match) -> str:
        latex = html.unescape(match.group(1))
        mathml = latex_mathml(latex)
        return match.group(0) if mathml is None else f'<span class="math">{mathml}</span>'

    return Markup(_MATH_SPAN.sub(swap, str(rendered)))


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The quiz engine's template environment with MathML in its `md` and `md_inline` filters."""
    env = quiz_render.make_environment()
    env.filters["md"] = lambda text: with_mathml(quiz_render.markdown_html(text))
    env.filters["md_inline"] = lambda text: with_mathml(quiz_render.markdown_inline_html(text))
    return env

"""Render presented questions: terminal, Markdown, HTML, notebook and answer-key views.

One Jinja2 environment, built once, loads ``quizzes/templates/*.j2`` with
:class:`jinja2.StrictUndefined` (a missing variable is an error, never a blank) and autoescape
on for ``*.html.j2``. A template error becomes :class:`RenderError` naming template file and
line. Student views (terminal, Markdown, HTML, notebook) are rendered from
:meth:`Presented.student_view` only, so they cannot show answers, correct flags, feedback or
explanations; only the key view receives :func:`key_view`.

>>> text = render(bank, "alice", "markdown")          # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import html
import io
import re
import traceback
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import nbformat
from markdown_it import MarkdownIt  # ships with rich
from markupsafe import Markup

from quizzes import maths
from quizzes.model import Bank
from quizzes.scoring import answer_key
from quizzes.variants import Presented, present_bank, view_from_key

TEMPLATES = Path(__file__).resolve().parent / "templates"
FORMATS = ("terminal", "markdown", "html", "notebook", "key")

# How to type an answer on one line (terminal, CSV, HTML text boxes).
LINE_HINTS = {
    "single": "one letter, e.g. B",
    "multiple": "letters separated by commas, e.g. A, C",
    "truefalse": "true or false",
    "numeric": "a number",
    "text": "a short text",
    "ordering": "the letters in order, separated by |, e.g. C|A|B",
    "matching": "number=letter pairs separated by |, e.g. 1=B|2=A",
}
# How to write an answer in the notebook's answer cell (a Python value).
PYTHON_HINTS = {
    "single": 'one letter, e.g. "B"',
    "multiple": 'a list of letters, e.g. ["A", "C"]',
    "truefalse": "True or False",
    "numeric": "a number, e.g. 0.125",
    "text": 'a short text, e.g. "softmax"',
    "ordering": 'the letters in order, e.g. ["C", "A", "B"]',
    "matching": 'a dict {left number: right letter}, e.g. {1: "B", 2: "A"}',
}


class RenderError(Exception):
    """A template failed; the message starts with ``<template file>:<line>:``."""


# --------------------------------------------------------------------------- Markdown -> HTML

_MD = MarkdownIt("commonmark", {"html": False}).enable("table")  # raw HTML in banks is escaped
_PLACEHOLDER = re.compile("\ue000(\\d+)\ue001")
# How $...$ is written into HTML (quizzes/maths.py): MathML for our pages, MathJax delimiters
# for the LMS exports, whose filters typeset them.
MATH_STYLES = {
    "mathml": maths.to_mathml,
    "mathjax": lambda latex, display: html.escape(maths.to_mathjax(latex, display), quote=False),
}


def _protect_math(text: str) -> tuple[str, list[tuple[str, bool]]]:
    """Replace $...$ spans by placeholders: Markdown would read ``_`` and ``*`` in LaTeX as
    emphasis. Returns the text and the stashed (LaTeX, display) pairs."""
    stash: list[tuple[str, bool]] = []

    def keep(latex: str, display: bool) -> str:
        stash.append((latex, display))
        return f"\ue000{len(stash) - 1}\ue001"

    return maths.replace_math(text, keep), stash


def _restore_math(rendered: str, stash: list[tuple[str, bool]], style: str) -> str:
    write = MATH_STYLES[style]
    return _PLACEHOLDER.sub(lambda m: write(*stash[int(m.group(1))]), rendered)


@lru_cache(maxsize=8192)
def markdown_html(text: str, math: str = "mathml") -> Markup:
    """Markdown block -> safe HTML, maths in ``math`` style (cached: most prompts are the same
    for every student)."""
    body, stash = _protect_math(text)
    return Markup(_restore_math(_MD.render(body), stash, math))


@lru_cache(maxsize=8192)
def markdown_inline_html(text: str, math: str = "mathml") -> Markup:
    """Markdown inline text (a choice) -> safe HTML without the surrounding <p>."""
    body, stash = _protect_math(text)
    return Markup(_restore_math(_MD.renderInline(body), stash, math))


def _points(value: float) -> str:
    value = float(value)
    number = str(int(value)) if value.is_integer() else f"{value:g}"
    return f"{number} point" + ("" if value == 1 else "s")


# --------------------------------------------------------------------------- environment


def make_environment(template_dir: Path | str = TEMPLATES) -> jinja2.Environment:
    """The template environment (StrictUndefined; autoescape for ``*.html.j2``)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2", "html"), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # templates are compiled once per process
    )
    env.filters["md"] = markdown_html
    env.filters["md_inline"] = markdown_inline_html
    env.filters["points"] = _points
    return env


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return make_environment()


def render_template(name: str, env: jinja2.Environment | None = None, **context: Any) -> str:
    """Render one template; any Jinja error becomes RenderError with template file and line."""
    env = env or environment()
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        where = exc.filename or exc.name or name
        raise RenderError(f"{where}:{exc.lineno}: template syntax error: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise RenderError(f"{_template_frame(exc, name)}: {type(exc).__name__}: {exc}") from None


def _template_frame(exc: BaseException, name: str) -> str:
    """``file:line`` of the innermost template frame (Jinja rewrites tracebacks so template
    frames carry the template's own file name and line)."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(".j2") or frame.filename == "<template>":
            return f"{frame.filename}:{frame.lineno}"
    return name


# --------------------------------------------------------------------------- views


def key_view(presented: Presented) -> dict[str, Any]:
    """Everything about a presented question, answers included (answer keys only)."""
    q = presented.question
    view = presented.student_view()
    view.update(
        graded=q.graded,
        params=dict(presented.params),
        explanation=presented.explanation,
        key=answer_key(presented),
        choices=[],
        scheme=getattr(q, "scheme", None),
        feedback_true=getattr(q, "feedback_true", None),
        feedback_false=getattr(q, "feedback_false", None),
    )
    if q.type in ("single", "multiple"):
        view["choices"] = [
            {
                "letter": o.letter,
                "text": o.text,
                "correct": q.choices[o.index].correct,
                "feedback": q.choices[o.index].feedback,
                "credit": q.choices[o.index].credit,
            }
            for o in presented.options
        ]
    return view


def _context(bank: Bank, presented: list[Presented], views: list[dict] | None = None) -> dict[str, Any]:
    """Template context; ``views`` only for templates that loop over questions themselves."""
    first = presented[0] if presented else None
    return {
        "bank": {"topic": bank.topic, "title": bank.title, "description": bank.description},
        "student": first.student if first else "",
        "quiz": first.quiz if first else bank.topic,
        "count": len(presented),
        "questions": views or [],
        "total_points": sum(p.points for p in presented),
        "hints": LINE_HINTS,
        "action": None,
    }


@lru_cache(maxsize=65536)
def _fragment(template: str, key: tuple, number: int, total: int) -> str:
    """One question rendered by ``template`` from its student view. Cached on the view: with
    a few choice orders per question, 1,000 students need only a few distinct fragments."""
    view = view_from_key(key)
    text = render_template(template, q=view, number=number, total=total, hint=LINE_HINTS[view["type"]])
    return Markup(text) if template.endswith(".html.j2") else text


def _fragments(template: str, presented: list[Presented]) -> list[str]:
    total = len(presented)
    return [_fragment(template, p.view_key(), n, total) for n, p in enumerate(presented, 1)]


def render_markdown(bank: Bank, presented: list[Presented]) -> str:
    """Student Markdown: prompts, lettered options, how to answer. No answers."""
    context = _context(bank, presented)
    context["fragments"] = _fragments("_question.md.j2", presented)
    return render_template("quiz.md.j2", **context)


def render_html(bank: Bank, presented: list[Presented], action: str | None = None) -> str:
    """Standalone student HTML page (inline CSS, no scripts). No answers; ``action`` adds a
    submit button posting to that URL."""
    context = _context(bank, presented)
    context["fragments"] = _fragments("_question.html.j2", presented)
    context["action"] = action
    return render_template("quiz.html.j2", **context)


def render_key(bank: Bank, presented: list[Presented]) -> str:
    """Instructor answer key (Markdown) for these variants: answers, feedback, explanations."""
    return render_template("key.md.j2", **_context(bank, presented, [key_view(p) for p in presented]))


def question_markdown(presented: Presented, number: int = 1, total: int = 1) -> str:
    """One question for a student, as Markdown (terminal view, notebook cells)."""
    return _fragment("_question.md.j2", presented.view_key(), number, total)


def terminal_markdown(presented: Presented, number: int = 1, total: int = 1) -> str:
    """One question for the terminal: its Markdown with the maths as Unicode (rich draws
    Markdown but not LaTeX)."""
    return maths.unicode_markdown(question_markdown(presented, number, total))


def _cell_id(*parts: str) -> str:
    """Stable notebook cell id (nbformat: [a-zA-Z0-9-_], at most 64 characters), so the same
    student gets a byte-identical notebook on every run."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def render_notebook(bank: Bank, presented: list[Presented]) -> nbformat.NotebookNode:
    """A v4 notebook: an intro cell, ``answers = {}``, then per question a Markdown cell and
    an answer code cell. The notebook validates with :func:`nbformat.validate`."""
    ctx = _context(bank, presented)
    nb = nbformat.v4.new_notebook()
    nb.metadata["quiz"] = {"topic": bank.topic, "quiz": ctx["quiz"], "student": ctx["student"]}
    intro = render_template("quiz.terminal.j2", **ctx)
    cells = [
        nbformat.v4.new_markdown_cell(intro, id=_cell_id(ctx["quiz"], ctx["student"], "intro")),
        nbformat.v4.new_code_cell(
            "# Fill in one answer per question below, then hand in this notebook.\nanswers = {}",
            id=_cell_id(ctx["quiz"], ctx["student"], "answers"),
        ),
    ]
    for n, p in enumerate(presented, 1):
        view = p.student_view()
        md = nbformat.v4.new_markdown_cell(question_markdown(p, n, len(presented)),
                                           id=_cell_id(p.quiz, p.student, p.id, "q"))
        code = nbformat.v4.new_code_cell(
            render_template("answer_cell.py.j2", q=view, hint=PYTHON_HINTS[p.type]).rstrip("\n"),
            id=_cell_id(p.quiz, p.student, p.id, "a"),
        )
        md.metadata["quiz"] = code.metadata["quiz"] = {"question": p.id}
        cells += [md, code]
    nb.cells = cells
    nbformat.validate(nb)
    return nb


def render_terminal(bank: Bank, presented: list[Presented], console=None) -> None:
    """Print the quiz on a rich console (Markdown rendered by rich, one panel per question)."""
    from rich.console import Console
    from rich.markdown import Markdown
    from rich.panel import Panel

    console = console or Console()
    ctx = _context(bank, presented)
    console.print(Markdown(maths.unicode_markdown(render_template("quiz.terminal.j2", **ctx))))
    for n, p in enumerate(presented, 1):
        console.print(Panel(Markdown(terminal_markdown(p, n, len(presented))), expand=True))


def terminal_text(bank: Bank, presented: list[Presented], width: int = 100) -> str:
    """The terminal view as plain text (for ``--out FILE``)."""
    from rich.console import Console

    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    render_terminal(bank, presented, console)
    return console.file.getvalue()


_RENDERERS: dict[str, Callable[[Bank, list[Presented]], Any]] = {
    "markdown": render_markdown,
    "html": render_html,
    "key": render_key,
    "notebook": lambda bank, presented: nbformat.writes(render_notebook(bank, presented)) + "\n",
    "terminal": terminal_text,
}


def render(bank: Bank, student: str, fmt: str, quiz: str | None = None) -> str:
    """``bank`` as ``student`` sees it in ``quiz`` (default: the topic), in format ``fmt``
    (terminal | markdown | html | notebook | key), as text."""
    if fmt not in _RENDERERS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return _RENDERERS[fmt](bank, present_bank(bank, student, quiz))

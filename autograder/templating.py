"""The Jinja environments of the autograder package (templates in autograder/templates/).

One per output language, because each has its own escaping rule:

- :data:`HTML`: reports, the class summary, the similarity report. Autoescaped: every value
  may come from a submission.
- :data:`MARKDOWN`: the Markdown report. Every printed value is student text until shown
  otherwise: HTML, table pipes, backticks and terminal controls are escaped (``finalize``), and
  student output goes through ``fence``, a code block no message can close early.
- :data:`CODE`: generated Python and shell files (Gradescope bundle, otter export): no
  escaping, trailing newlines kept.

The course server (autograder/server) and the quiz engine (quizzes/render.py) keep their own,
beside their own templates.
"""
from __future__ import annotations

import html
import re
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from autograder.student_text import storable, terminal_text

_LOADER = PackageLoader("autograder", "templates")

HTML = Environment(loader=_LOADER, undefined=StrictUndefined, autoescape=select_autoescape(["html", "html.j2"]),
                   trim_blocks=True, lstrip_blocks=True)


class _Fenced(str):
    """A code block :func:`markdown_fence` built: already safe, printed as it is."""


def markdown_inline(value: Any) -> Any:
    """A value printed in Markdown: HTML, table pipes, backticks and terminal controls escaped
    (a `<script>` name stays text)."""
    if isinstance(value, _Fenced):
        return value
    text = html.escape(terminal_text(storable(value), keep_newlines=False), quote=False)
    return text.replace("|", "\\|").replace("`", "\\`")


def markdown_fence(text: str, indent: int = 0) -> _Fenced:
    """`text` as a fenced code block whose fence is longer than any backtick run inside it,
    so a student message cannot close the block early (and inside it HTML is inert)."""
    text = terminal_text(storable(text))
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    pad = " " * indent
    body = "\n".join(pad + line for line in text.splitlines() or [""])
    return _Fenced(f"{fence}\n{body}\n{pad}{fence}")


MARKDOWN = Environment(loader=_LOADER, undefined=StrictUndefined, autoescape=False, finalize=markdown_inline,
                       trim_blocks=True, lstrip_blocks=True)
MARKDOWN.filters["fence"] = markdown_fence

CODE = Environment(loader=_LOADER, undefined=StrictUndefined, keep_trailing_newline=True)

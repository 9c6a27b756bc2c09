"""Rendering of parameterised prompts: ``"For d_k = {{ d_k }}, ..."``.

Banks are data written by many hands, so their Jinja runs in a
:class:`jinja2.sandbox.SandboxedEnvironment` (no attribute games such as
``{{ ''.__class__ }}``) with :class:`jinja2.StrictUndefined` (a misspelt param is an error,
not an empty string). Only questions that declare ``params`` are rendered this way; every
other prompt is plain Markdown, so ``{{`` in a code sample needs no escaping there.
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

SANDBOX = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)


@lru_cache(maxsize=2048)
def compile_prompt(text: str) -> jinja2.Template:
    """Compiled template for ``text`` (cached: the same prompt serves every student)."""
    return SANDBOX.from_string(text)


def prompt_variables(text: str) -> set[str]:
    """Names a prompt uses; raises :class:`jinja2.TemplateSyntaxError` if it does not parse."""
    return set(meta.find_undeclared_variables(SANDBOX.parse(text)))


def render_prompt(text: str, params: Mapping[str, Any]) -> str:
    """``text`` with ``params`` substituted."""
    return compile_prompt(text).render(**params)

"""Helpers for the quiz engine tests (a uniquely named module, importable from test files)."""
from __future__ import annotations

from pydantic import TypeAdapter

from quizzes.model import Question

QUESTION = TypeAdapter(Question)


def make_question(**fields):
    """A validated question from keyword fields, with the boilerplate filled in."""
    data = {"source": "FAQ.md#Q?", "prompt": "p", "explanation": "e"}
    data.update(fields)
    return QUESTION.validate_python(data)

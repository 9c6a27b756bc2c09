"""Known-wrong variants of reference functions, one per mistake id of the exercise contract.

Each variant is registered with :func:`mistake`::

    @mistake("attention.no_scale", function="scaled_dot_product_attention",
             hint="Divide the scores by sqrt(d_k) before the softmax ...")
    def sdpa_no_scale(q, k, v, mask=None):
        ...

The grader runs the variants of a failing function on the student's inputs; when the
student's output matches one, the feedback names its id and hint. Hints are written for the
student: they say what to fix, never show reference code.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from autograder.contract import exercise_modules


@dataclass(frozen=True)
class Mistake:
    """One known-wrong variant: `fn` has the signature of `<module>.<function>`."""

    id: str
    module: str
    function: str
    hint: str
    fn: Callable


MISTAKES: dict[str, Mistake] = {}


def mistake(mistake_id: str, *, function: str, hint: str):
    """Register the decorated function as the variant `mistake_id` of `function`."""
    module = mistake_id.split(".", 1)[0]
    if module not in exercise_modules():
        raise ValueError(f"mistake id {mistake_id!r} must start with one of {exercise_modules()}")

    def register(fn: Callable) -> Callable:
        if mistake_id in MISTAKES:
            raise ValueError(f"mistake id {mistake_id!r} registered twice")
        MISTAKES[mistake_id] = Mistake(mistake_id, module, function, hint.strip(), fn)
        return fn

    return register


def mistakes_for(module: str, function: str) -> list[Mistake]:
    """The registered variants of one function, in id order."""
    return sorted(
        (m for m in MISTAKES.values() if m.module == module and m.function == function),
        key=lambda m: m.id,
    )


# Importing each submodule registers its variants.
for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")

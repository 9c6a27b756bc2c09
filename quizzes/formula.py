"""A safe arithmetic formula evaluator for numeric questions.

Bank authors write answers such as ``"d_k ** 0.5"`` or ``"2 * heads * d_model ** 2"``. A bank
is data, not code, so the formula is parsed with :mod:`ast` and walked by hand against a strict
whitelist; nothing is ever passed to ``eval``/``exec``/``compile``-and-run.

Allowed: int/float literals, names bound to the question's params, ``+ - * / // % **``, unary
``-``/``+``, parentheses, and calls of ``sqrt log log2 exp min max abs round ceil floor``.

>>> evaluate("sqrt(d_k) * 2", {"d_k": 16})
8.0
>>> evaluate("__import__('os')", {})  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
    ...
quizzes.formula.FormulaError: __import__('os'): calls are limited to abs, ceil, exp, floor, log, log2, max, min, round, sqrt
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Mapping

Number = int | float

MAX_LENGTH = 500  # a formula longer than this is a mistake, and bounds parse/eval work
MAX_DEPTH = 50  # nesting bound, so a hostile bank cannot blow the recursion limit
MAX_EXPONENT = 1024  # `9 ** 9 ** 9` would otherwise hang the loader

# name -> (function, min args, max args)
FUNCTIONS: dict[str, tuple[Callable[..., Number], int, int]] = {
    "sqrt": (math.sqrt, 1, 1),
    "log": (math.log, 1, 2),  # log(x) natural, log(x, base)
    "log2": (math.log2, 1, 1),
    "exp": (math.exp, 1, 1),
    "min": (min, 2, 16),
    "max": (max, 2, 16),
    "abs": (abs, 1, 1),
    "round": (round, 1, 2),
    "ceil": (math.ceil, 1, 1),
    "floor": (math.floor, 1, 1),
}

BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a**b,
}
UNARY = {ast.USub: lambda a: -a, ast.UAdd: lambda a: +a}

_FUNCTION_LIST = ", ".join(sorted(FUNCTIONS))


class FormulaError(ValueError):
    """A formula that is not allowed, does not parse, or cannot be evaluated."""


@dataclass(frozen=True)
class Formula:
    """A parsed, whitelisted formula; ``names`` are the free variables it needs."""

    text: str
    tree: ast.Expression
    names: frozenset[str]

    def evaluate(self, params: Mapping[str, Number] | None = None) -> Number:
        """Value of the formula with ``params`` bound; raises :class:`FormulaError`."""
        params = params or {}
        missing = sorted(self.names - set(params))
        if missing:
            raise FormulaError(f"{self.text}: unknown name(s) {', '.join(missing)}")
        try:
            value = _eval(self.tree.body, params, self.text)
        except FormulaError:
            raise
        except ZeroDivisionError:
            raise FormulaError(f"{self.text}: division by zero") from None
        except (OverflowError, ValueError, TypeError) as exc:
            raise FormulaError(f"{self.text}: {exc}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise FormulaError(f"{self.text}: result is not a finite number")
        return value


@lru_cache(maxsize=4096)
def parse(text: str) -> Formula:
    """Parse and whitelist-check ``text``; raises :class:`FormulaError` with the reason."""
    if not isinstance(text, str):
        raise FormulaError(f"expected a formula string, got {type(text).__name__}")
    source = text.strip()
    if not source:
        raise FormulaError("empty formula")
    if len(source) > MAX_LENGTH:
        raise FormulaError(f"formula longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"{source}: not a valid formula ({exc.msg}, column {exc.offset})") from None
    names: set[str] = set()
    _check(tree.body, source, names, depth=0)
    return Formula(source, tree, frozenset(names))


def evaluate(text: str | Number, params: Mapping[str, Number] | None = None) -> Number:
    """Evaluate a formula (or pass a plain number through)."""
    if isinstance(text, bool):
        raise FormulaError("expected a number or formula, got a boolean")
    if isinstance(text, (int, float)):
        return text
    return parse(text).evaluate(params)


def _check(node: ast.AST, source: str, names: set[str], depth: int) -> None:
    """Raise FormulaError unless every node under ``node`` is on the whitelist."""
    if depth > MAX_DEPTH:
        raise FormulaError(f"{source}: nested too deeply")
    where = ast.get_source_segment(source, node) or source
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise FormulaError(f"{where}: only numbers are allowed as literals")
    elif isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            raise FormulaError(f"{where}: {node.id} is a function; call it, e.g. {node.id}(x)")
        names.add(node.id)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in BINARY:
            raise FormulaError(f"{where}: operator not allowed (use + - * / // % **)")
        _check(node.left, source, names, depth + 1)
        _check(node.right, source, names, depth + 1)
    elif isinstance(node, ast.UnaryOp):
        if type(node.op) not in UNARY:
            raise FormulaError(f"{where}: only unary - and + are allowed")
        _check(node.operand, source, names, depth + 1)
    elif isinstance(node, ast.Call):
        func = node.func
        if not isinstance(func, ast.Name) or func.id not in FUNCTIONS:
            raise FormulaError(f"{where}: calls are limited to {_FUNCTION_LIST}")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise FormulaError(f"{where}: only positional arguments are allowed")
        _, lo, hi = FUNCTIONS[func.id]
        if not lo <= len(node.args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise FormulaError(f"{where}: {func.id} takes {want} argument(s), got {len(node.args)}")
        for arg in node.args:
            _check(arg, source, names, depth + 1)
    else:
        # Attribute access, subscripts, lambdas, comprehensions, comparisons, strings, ... all
        # land here: the whitelist names what is allowed, never what is forbidden.
        kind = type(node).__name__
        raise FormulaError(f"{where}: {kind} is not allowed in a formula")


def _eval(node: ast.AST, params: Mapping[str, Number], source: str) -> Number:
    """Evaluate a node already accepted by :func:`_check`."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        value = params[node.id]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FormulaError(f"{source}: param {node.id} is not a number")
        return value
    if isinstance(node, ast.BinOp):
        left = _eval(node.left, params, source)
        right = _eval(node.right, params, source)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise FormulaError(f"{source}: exponent {right} too large")
        return BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp):
        return UNARY[type(node.op)](_eval(node.operand, params, source))
    if isinstance(node, ast.Call):
        func = FUNCTIONS[node.func.id][0]
        return func(*(_eval(arg, params, source) for arg in node.args))
    raise FormulaError(f"{source}: {type(node).__name__} is not allowed")  # unreachable after _check

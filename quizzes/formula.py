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
quizzes.formula.FormulaError: __import__('os'): calls are limited to abs, ceil, exp, ...
"""
from __future__ import annotations

import ast
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

Number = int | float

MAX_LENGTH = 500  # a formula longer than this is a mistake, and bounds parse/eval work
MAX_DEPTH = 50  # nesting bound, so a hostile bank cannot blow the recursion limit
MAX_EXPONENT = 1024  # `9 ** 9 ** 9` would otherwise hang the loader
# Learners type formulas too, so evaluation is bounded, not just the syntax: no intermediate
# integer above MAX_BITS bits (`((9**1024)**1024)**64` is 24 characters and minutes of CPU),
# at most MAX_STEPS operations, at most MAX_SECONDS of wall time.
MAX_BITS = 4096
MAX_STEPS = 2000
MAX_SECONDS = 0.25
MAX_ROUND_DIGITS = 100  # round(5, -10**9) would build 10**(10**9)

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
            value = _eval(self.tree.body, params, self.text, _Budget(self.text))
            if isinstance(value, int) and value.bit_length() > 1023:
                float(value)  # an int beyond float range: OverflowError, reported below
        except FormulaError:
            raise
        except ZeroDivisionError:
            raise FormulaError(f"{self.text}: division by zero") from None
        except (OverflowError, ValueError, TypeError, RecursionError, MemoryError) as exc:
            raise FormulaError(f"{self.text}: {exc or type(exc).__name__}") from None
        if isinstance(value, complex):  # (-8) ** 0.5
            raise FormulaError(f"{self.text}: result is not a real number")
        if isinstance(value, float) and not math.isfinite(value):
            raise FormulaError(f"{self.text}: result is not a finite number")
        return value


class _Budget:
    """Counts the operations of one evaluation and its wall time (see MAX_STEPS)."""

    def __init__(self, source: str):
        self.source = source
        self.steps = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    def spend(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise FormulaError(f"{self.source}: more than {MAX_STEPS} operations")
        if time.monotonic() > self.deadline:
            raise FormulaError(f"{self.source}: took longer than {MAX_SECONDS} s")


def _bits(x: Number) -> int:
    """Size of an integer operand (floats are bounded by their own range)."""
    return abs(x).bit_length() if isinstance(x, int) else 0


def _check_size(op: type, left: Number, right: Number, source: str) -> None:
    """Refuse an operation whose integer result would exceed MAX_BITS, before computing it."""
    if op is ast.Pow:
        if abs(right) > MAX_EXPONENT:
            raise FormulaError(f"{source}: exponent {right} too large")
        if isinstance(left, int) and isinstance(right, int) and right > 0 and _bits(left) * right > MAX_BITS:
            raise FormulaError(f"{source}: number too large (over {MAX_BITS} bits)")
    elif op is ast.Mult and _bits(left) + _bits(right) > MAX_BITS:
        raise FormulaError(f"{source}: number too large (over {MAX_BITS} bits)")


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
    except (RecursionError, MemoryError):
        raise FormulaError(f"{source}: nested too deeply") from None
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


def _eval(node: ast.AST, params: Mapping[str, Number], source: str, budget: _Budget) -> Number:
    """Evaluate a node already accepted by :func:`_check`, within ``budget``."""
    budget.spend()
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        value = params[node.id]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FormulaError(f"{source}: param {node.id} is not a number")
        return value
    if isinstance(node, ast.BinOp):
        left = _eval(node.left, params, source, budget)
        right = _eval(node.right, params, source, budget)
        _check_size(type(node.op), left, right, source)
        value = BINARY[type(node.op)](left, right)
        if isinstance(value, complex):
            raise FormulaError(f"{source}: result is not a real number")
        return value
    if isinstance(node, ast.UnaryOp):
        return UNARY[type(node.op)](_eval(node.operand, params, source, budget))
    if isinstance(node, ast.Call):
        name = node.func.id
        args = [_eval(arg, params, source, budget) for arg in node.args]
        if name == "round" and len(args) == 2 and abs(args[1]) > MAX_ROUND_DIGITS:
            raise FormulaError(f"{source}: round to at most {MAX_ROUND_DIGITS} digits")
        return FUNCTIONS[name][0](*args)
    raise FormulaError(f"{source}: {type(node).__name__} is not allowed")  # unreachable after _check

"""A returned value read as the plain value it stands for (one rule for the worker and the checks).

The contract compares values, not classes: a ``Counter``, ``defaultdict``, ``OrderedDict``,
namedtuple or ``numpy.int64`` is the plain dict/list/tuple/number a correct answer could have
returned. The sandboxed worker applies this before a value crosses the wire
(:func:`autograder.sandbox.wire.plain_value`) and the public checks apply it before comparing
(:func:`autograder.checking.assert_equal`). Imports only the standard library and torch: it
runs inside the sandbox and ships in the student bundle.
"""
from __future__ import annotations

import sys

import torch

__all__ = ["PlainValueError", "UnreadableValue", "plain_value"]

_SCALARS = (bool, int, float, str, bytes)


class PlainValueError(Exception):
    """The value is larger or deeper than the bounds given."""


class UnreadableValue(PlainValueError):
    """A dict/list/tuple subclass whose own methods failed while it was read."""


def _numpy_plain(x):
    """A numpy scalar or 0-d array as the Python number it holds; None for anything else.

    numpy is looked up, never imported: a value of a numpy type means numpy is loaded already.
    """
    np = sys.modules.get("numpy")
    if np is None or not isinstance(x, (np.generic, np.ndarray)):
        return None
    if isinstance(x, np.ndarray) and x.ndim != 0:
        return None  # arrays are not plain values (the contract returns tensors)
    value = x.item()
    return value if type(value) in _SCALARS else None


def plain_value(obj, *, max_items: int = 2_000_000, max_depth: int = 64):
    """`obj` with dict/list/tuple subclasses and numpy scalars turned into plain values.

    Everything else is left as it is for the caller to accept or refuse, so nothing can come
    out of this that a plain return value could not carry. A value that needs no change is
    returned as is (no copy). Raises :class:`PlainValueError` past `max_items` values or
    `max_depth` levels, :class:`UnreadableValue` when a subclass's methods raise.
    """
    count = [0]

    def conv(x, depth: int):
        count[0] += 1
        if count[0] > max_items:
            raise PlainValueError(f"more than {max_items} values in one message")
        if depth > max_depth:
            raise PlainValueError(f"nesting deeper than {max_depth} levels")
        t = type(x)
        if t is list:
            items = [conv(v, depth + 1) for v in x]
            return x if all(a is b for a, b in zip(items, x, strict=True)) else items
        if t is tuple:
            items = tuple(conv(v, depth + 1) for v in x)
            return x if all(a is b for a, b in zip(items, x, strict=True)) else items
        if t is dict:
            pairs = [(conv(k, depth + 1), conv(v, depth + 1)) for k, v in x.items()]
            same = all(a is k and b is v for (a, b), (k, v) in zip(pairs, x.items(), strict=True))
            return x if same else dict(pairs)
        if t in _SCALARS or x is None:
            return x
        if isinstance(x, (dict, list, tuple)) and not isinstance(x, torch.Size):
            try:  # the subclass's own iteration (an OrderedDict keeps its order)
                if isinstance(x, dict):
                    return {conv(k, depth + 1): conv(v, depth + 1) for k, v in x.items()}
                items = [conv(v, depth + 1) for v in x]
            except PlainValueError:
                raise
            except Exception as exc:  # noqa: BLE001 - a subclass's methods may raise anything
                raise UnreadableValue(f"a {t.__qualname__} that could not be read: "
                                      f"{type(exc).__name__}") from None
            return items if isinstance(x, list) else tuple(items)
        number = _numpy_plain(x)
        return x if number is None else number

    try:
        return conv(obj, 0)
    except RecursionError:
        raise PlainValueError("nesting too deep") from None

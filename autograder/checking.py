"""Comparisons with feedback a learner can act on: shape, then dtype, then values.

Every failure message says "got X, expected Y" (after PrairieLearn's python grader).
"""
from __future__ import annotations

from typing import Any

import torch

from autograder.plain_values import PlainValueError, plain_value
from autograder.tensor_text import side_by_side

# Default tolerances per dtype (atol, rtol). float64 leaves room for a different but exact
# summation order; float32 for accumulated rounding of ~1e-7 per op over short reductions;
# bfloat16 has an 8-bit mantissa (relative step 2^-8 ~ 0.004), so two roundings may differ by 1e-2.
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float64: (1e-10, 1e-8),
    torch.float32: (1e-5, 1e-4),
    torch.float16: (1e-3, 1e-3),
    torch.bfloat16: (1e-2, 1.6e-2),
}


class CheckFailure(AssertionError):
    """A check failed; the message is the learner-facing feedback."""


def tolerance(dtype: torch.dtype, overrides: dict | None = None) -> tuple[float, float]:
    """(atol, rtol) for comparing outputs of this dtype; exact for integer and bool."""
    if overrides and dtype in overrides:
        return overrides[dtype]
    return TOLERANCES.get(dtype, (0.0, 0.0))


def _short(t: torch.Tensor, limit: int = 6) -> str:
    flat = t.detach().reshape(-1)[:limit].tolist()
    more = ", ..." if t.numel() > limit else ""
    return "[" + ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in flat) + more + "]"


def assert_tensor(got: Any, name: str = "output") -> torch.Tensor:
    """Fail unless `got` is a plain torch.Tensor (subclasses are refused)."""
    __tracebackhide__ = True  # learners see their check line, not the checker
    if type(got) is not torch.Tensor:
        raise CheckFailure(f"{name}: got a {type(got).__name__}, expected a torch.Tensor")
    return got


def assert_close(
    got: Any,
    expected: torch.Tensor,
    *,
    name: str = "output",
    atol: float | None = None,
    rtol: float | None = None,
    check_dtype: bool = True,
    check_device: bool = True,
    equal_nan: bool = False,
    tolerances: dict | None = None,
) -> None:
    """Compare a tensor with an expected one: type, shape, dtype, device, then values."""
    __tracebackhide__ = True  # learners see their check line, not the checker
    got = assert_tensor(got, name)
    if tuple(got.shape) != tuple(expected.shape):
        raise CheckFailure(
            f"{name}: got shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
        )
    if check_dtype and got.dtype != expected.dtype:
        raise CheckFailure(f"{name}: got dtype {got.dtype}, expected {expected.dtype}")
    if check_device and got.device.type != expected.device.type:
        raise CheckFailure(f"{name}: got device {got.device}, expected {expected.device}")
    default_atol, default_rtol = tolerance(expected.dtype, tolerances)
    atol = default_atol if atol is None else atol
    rtol = default_rtol if rtol is None else rtol
    a = got.detach().to("cpu")
    b = expected.detach().to("cpu")
    if not (a.is_floating_point() or b.is_floating_point()):
        if not torch.equal(a, b):
            bad = (a != b).nonzero()[0].tolist()
            grid = side_by_side(a, b)
            shown = f"\n{grid}" if grid else f" (got {_short(a)}, expected {_short(b)})"
            raise CheckFailure(
                f"{name}: values differ at index {tuple(bad)}: got {a[tuple(bad)].item()}, "
                f"expected {b[tuple(bad)].item()}{shown}"
            )
        return
    a, b = a.double(), b.double()
    nan_got, nan_expected = torch.isnan(a), torch.isnan(b)
    if not equal_nan and nan_got.any() and not nan_expected.any():
        where = tuple(nan_got.nonzero()[0].tolist())
        raise CheckFailure(f"{name}: got NaN at index {where}, expected {b[where].item():.6g}")
    close = torch.isclose(a, b, atol=atol, rtol=rtol, equal_nan=equal_nan)
    if not bool(close.all()):
        where = tuple((~close).nonzero()[0].tolist())
        err = (a - b).abs().nan_to_num(float("inf")).max().item()
        raise CheckFailure(
            f"{name}: values differ at index {where}: got {a[where].item():.6g}, expected "
            f"{b[where].item():.6g} (max abs error {err:.3g}, atol={atol:g}, rtol={rtol:g}; "
            f"{int((~close).sum())} of {close.numel()} elements off)"
            + (f"\n{grid}" if (grid := side_by_side(a, b)) else "")
        )


def assert_equal(got: Any, expected: Any, *, name: str = "output") -> None:
    """Exact comparison of plain Python values (lists, dicts, tuples, strings, numbers).

    `got` is first read as the grader's worker reads a return value (one rule for both):
    a Counter or defaultdict counts as a dict, a namedtuple as a tuple, numpy.int64 as an int.
    """
    __tracebackhide__ = True  # learners see their check line, not the checker
    try:
        got = plain_value(got)
    except PlainValueError as exc:
        raise CheckFailure(f"{name}: {exc}") from None
    if type(got) is not type(expected):
        raise CheckFailure(
            f"{name}: got a {type(got).__name__}, expected a {type(expected).__name__}"
        )
    if isinstance(expected, (list, tuple)) and len(got) != len(expected):
        raise CheckFailure(
            f"{name}: got {len(got)} items, expected {len(expected)} "
            f"(got {_preview(got)}, expected {_preview(expected)})"
        )
    if got != expected:
        if isinstance(expected, (list, tuple)):
            first = next(i for i, (x, y) in enumerate(zip(got, expected, strict=True)) if x != y)
            raise CheckFailure(
                f"{name}: item {first} differs: got {got[first]!r}, expected {expected[first]!r}"
            )
        if isinstance(expected, dict):
            missing = [k for k in expected if k not in got]
            extra = [k for k in got if k not in expected]
            wrong = [k for k in expected if k in got and got[k] != expected[k]]
            raise CheckFailure(
                f"{name}: dicts differ: missing keys {missing[:5]}, unexpected keys {extra[:5]}, "
                f"wrong values for {wrong[:5]}"
            )
        raise CheckFailure(f"{name}: got {got!r}, expected {expected!r}")


def _preview(items: Any, limit: int = 8) -> str:
    items = list(items)
    more = ", ..." if len(items) > limit else ""
    return "[" + ", ".join(repr(x) for x in items[:limit]) + more + "]"


def expect_error(error: type[BaseException], fn: Any, *args: Any, what: str, **kwargs: Any) -> BaseException:
    """Call ``fn(*args, **kwargs)`` and fail unless it raises `error`; return the exception."""
    __tracebackhide__ = True  # learners see their check line, not the checker
    try:
        fn(*args, **kwargs)
    except error as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - report whatever was raised instead
        raise CheckFailure(f"{what}: got {type(exc).__name__} ({exc}), expected {error.__name__}") from None
    raise CheckFailure(f"{what}: returned a value, expected it to raise {error.__name__}")

"""Small tensors as a learner reads them: a mask as a grid of 1s and 0s, side by side.

    got        expected
    1 0 0 0    1 1 1 0
    1 1 0 0    1 1 1 1

Larger tensors (or more than two dimensions) fall back to their first few values in one line.
"""
from __future__ import annotations

import torch

GRID_MAX_ROWS = 8
GRID_MAX_COLS = 12


def _cell(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def fits_grid(t: torch.Tensor) -> bool:
    """Whether `t` is small and at most 2-D, so a grid says more than a flat preview."""
    return (t.dim() <= 2 and t.numel() > 1
            and (t.shape[0] if t.dim() else 1) <= GRID_MAX_ROWS
            and (t.shape[-1] if t.dim() else 1) <= GRID_MAX_COLS)


def _rows(t: torch.Tensor) -> list[str]:
    t = t.detach().to("cpu")
    values = t.reshape(1, -1) if t.dim() < 2 else t  # (cols,) -> (1, cols)
    cells = [[_cell(v) for v in row] for row in values.tolist()]
    width = max((len(c) for row in cells for c in row), default=1)
    return [" ".join(c.rjust(width) for c in row) for row in cells]


def side_by_side(got: torch.Tensor, expected: torch.Tensor) -> str:
    """`got` and `expected` as two grids next to each other ("" when either is too large)."""
    if not (fits_grid(got) and fits_grid(expected)):
        return ""
    left, right = _rows(got), _rows(expected)
    width = max(len("got"), *(len(r) for r in left))
    lines = [f"    {'got'.ljust(width)}    expected"]
    for i in range(max(len(left), len(right))):
        a = left[i] if i < len(left) else ""
        b = right[i] if i < len(right) else ""
        lines.append(f"    {a.ljust(width)}    {b}")
    return "\n".join(lines)

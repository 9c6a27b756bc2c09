"""Random inputs for the public checks and the hidden suites, drawn from the test's generator.

Every draw goes through the `rng` fixture's ``torch.Generator``, so a run's seed replays it.
Shipped with the public checks (student bundle, otter export): torch only.
"""
from __future__ import annotations

import torch


def draw(rng: torch.Generator, low: int, high: int) -> int:
    """An int in [low, high] (both included)."""
    return int(torch.randint(low, high + 1, (1,), generator=rng))


def randn(rng: torch.Generator, *shape: int, dtype: torch.dtype = torch.float64, device="cpu",
          scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
    """Normal values ``scale * N(0, 1) + shift``, drawn in float64 whatever `dtype` is (so the
    same seed gives the same numbers in every dtype), then cast and moved to `device`."""
    values = torch.randn(*shape, generator=rng, dtype=torch.float64) * scale
    if shift:
        values = values + shift
    return values.to(device=device, dtype=dtype)

"""Positional encodings (lab 2.3.3), reference solutions.

Attention on its own is blind to order: permuting the tokens permutes the outputs and nothing
else. The three families here put order back in three different places:

- sinusoidal (Vaswani et al.): a fixed vector added to each token embedding;
- RoPE (Su et al., used by Llama): queries and keys rotated by an angle proportional to their
  position, so a dot product only sees the *difference* of positions;
- ALiBi (Press et al., used by BLOOM): no embedding at all, a penalty on the attention score
  that grows linearly with the distance between query and key.
"""
from __future__ import annotations

import torch


def _check_int(value: object, name: str, minimum: int) -> int:
    """A Python int (not a bool) of at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _check_even(value: int, name: str) -> int:
    if value % 2 != 0:
        raise ValueError(f"{name} must be even (dimensions come in pairs), got {value}")
    return value


def _check_base(base: object) -> float:
    if isinstance(base, bool) or not isinstance(base, (int, float)):
        raise TypeError(f"base must be a number, got {type(base).__name__}")
    if not base > 0:
        raise ValueError(f"base must be > 0, got {base}")
    return base


def sinusoidal_encoding(max_len: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """Sinusoidal position table ``(max_len, d_model)`` in float32.

    For position ``pos`` and pair index ``i = 0 .. d_model/2 - 1``::

        PE[pos, 2i]     = sin(pos / base^(2i / d_model))
        PE[pos, 2i + 1] = cos(pos / base^(2i / d_model))

    Sine and cosine of the same frequency sit side by side (interleaved). Angles are computed
    in float64 and rounded once to float32, which keeps long tables accurate.
    """
    _check_int(max_len, "max_len", 0)
    _check_even(_check_int(d_model, "d_model", 2), "d_model")
    _check_base(base)
    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)  # (max_len, 1)
    exponent = torch.arange(0, d_model, 2, dtype=torch.float64) / d_model  # (d_model/2,) = 2i/d
    angles = position / base**exponent  # (max_len, d_model/2)
    pairs = torch.stack((angles.sin(), angles.cos()), dim=-1)  # (max_len, d_model/2, 2)
    return pairs.reshape(max_len, d_model).to(torch.float32)  # (max_len, d_model): sin, cos, ...


def rope_inv_freq(head_dim: int, base: float = 10000.0) -> torch.Tensor:
    """RoPE inverse frequencies ``(head_dim/2,)`` in float32: ``1 / base^(2i / head_dim)``.

    Computed in float32 exactly as Hugging Face's Llama does, so that angles built from these
    frequencies match it bit for bit.
    """
    _check_even(_check_int(head_dim, "head_dim", 2), "head_dim")
    _check_base(base)
    exponent = torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim  # (head_dim/2,)
    return 1.0 / (base**exponent)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    """``(x1, x2) -> (-x2, x1)`` on the two halves of the last dim (a 90-degree turn per pair)."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((-x2, x1), dim=-1)


def _is_integer_dtype(dtype: torch.dtype) -> bool:
    return not (dtype.is_floating_point or dtype.is_complex or dtype == torch.bool)


def _check_rope_args(x: torch.Tensor, position_ids: torch.Tensor) -> None:
    """x: floating ``(B, H, T, d)`` with even d; position_ids: integer ``(T,)`` or ``(B, T)``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must be floating point, got dtype {x.dtype}")
    if x.dim() != 4:
        raise ValueError(f"x must have shape (B, H, T, d), got {tuple(x.shape)}")
    if x.shape[-1] % 2 != 0:
        raise ValueError(f"x must have an even last dimension d (pairs rotate), got {x.shape[-1]}")
    if not isinstance(position_ids, torch.Tensor):
        raise TypeError(f"position_ids must be a torch.Tensor, got {type(position_ids).__name__}")
    if not _is_integer_dtype(position_ids.dtype):
        raise TypeError(f"position_ids must hold integers, got dtype {position_ids.dtype}")
    batch, _, seq_len, _ = x.shape
    allowed = [(seq_len,), (batch, seq_len)]
    if tuple(position_ids.shape) not in allowed:
        raise ValueError(
            f"position_ids must have shape (T,) = {allowed[0]} or (B, T) = {allowed[1]} for x of "
            f"shape {tuple(x.shape)}, got {tuple(position_ids.shape)}"
        )


def apply_rope(x: torch.Tensor, position_ids: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotate queries or keys ``x (B, H, T, d)`` by their positions (Llama's half-split RoPE).

    Dimension ``i`` is paired with dimension ``i + d/2``; the pair at position ``p`` is rotated
    by the angle ``p * inv_freq[i]``::

        out = x * cos(angle) + rotate_half(x) * sin(angle),  rotate_half(x1, x2) = (-x2, x1)

    ``position_ids`` is ``(T,)`` (shared by the batch) or ``(B, T)``, any integer offsets.
    Angles are computed in float32 and cos/sin cast to ``x.dtype`` before the products, which
    is what Hugging Face does, so the result matches it bit for bit in every dtype.
    """
    _check_rope_args(x, position_ids)
    head_dim = x.shape[-1]
    inv_freq = rope_inv_freq(head_dim, base).to(x.device)  # (d/2,)
    angles = position_ids.to(torch.float32).unsqueeze(-1) * inv_freq  # (..., T, d/2)
    angles = torch.cat((angles, angles), dim=-1)  # (..., T, d): the two halves share angles
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    if position_ids.dim() == 2:
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)  # (B, T, d) -> (B, 1, T, d) over heads
    return x * cos + _rotate_half(x) * sin


def _geometric_slopes(num_heads: int) -> list[float]:
    """``2^(-8 (h+1) / n)`` for ``h = 0 .. n-1``: a geometric sequence from 2^(-8/n) to 2^-8."""
    return [2.0 ** (-8.0 * (h + 1) / num_heads) for h in range(num_heads)]


def alibi_slopes(num_heads: int) -> torch.Tensor:
    """ALiBi head slopes ``(num_heads,)`` in float32.

    For a power of two ``n``: ``slope[h] = 2^(-8 (h+1) / n)``. Otherwise (Press et al.): take
    the slopes of the largest power of two ``c < n``, then add every other slope of ``2c``
    (its 1st, 3rd, 5th, ...) until there are ``n``. Slopes are computed in float64 and rounded
    once to float32.
    """
    _check_int(num_heads, "num_heads", 1)
    closest = 1 << (num_heads.bit_length() - 1)  # largest power of two <= num_heads
    slopes = _geometric_slopes(closest)
    if closest < num_heads:
        slopes += _geometric_slopes(2 * closest)[0::2][: num_heads - closest]
    return torch.tensor(slopes, dtype=torch.float32)


def alibi_bias(num_heads: int, seq_len: int) -> torch.Tensor:
    """ALiBi attention bias ``(num_heads, seq_len, seq_len)`` in float32.

    ``bias[h, i, j] = -slope[h] * |i - j|``: zero on the diagonal, more negative the further
    key j is from query i. Added to the scores before the softmax. Under a causal mask
    (``j <= i``) this equals BLOOM's ``+slope * j``: the two differ by ``slope * i``, a
    constant along each softmax row, which the softmax ignores.
    """
    slopes = alibi_slopes(num_heads)  # (H,)
    _check_int(seq_len, "seq_len", 0)
    position = torch.arange(seq_len)
    distance = (position.unsqueeze(1) - position.unsqueeze(0)).abs()  # (S, S): |i - j|
    penalty = (-distance).to(torch.float32)  # negated as ints, so the diagonal is +0.0
    return slopes.view(num_heads, 1, 1) * penalty  # (H, 1, 1) * (S, S) -> (H, S, S)

"""Known-wrong variants of the positional-encoding functions (lab 2.3.3).

Each variant is the reference function with exactly one mistake from the contract's table.
"""
from __future__ import annotations

import torch

from reference import positional as ref
from reference.mistakes import mistake


def _angles(max_len: int, d_model: int, base: float) -> torch.Tensor:
    """The reference angles ``pos / base^(2i/d)``, ``(max_len, d_model/2)`` in float64."""
    ref._check_int(max_len, "max_len", 0)
    ref._check_even(ref._check_int(d_model, "d_model", 2), "d_model")
    ref._check_base(base)
    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)  # (max_len, 1)
    exponent = torch.arange(0, d_model, 2, dtype=torch.float64) / d_model  # (d_model/2,)
    return position / base**exponent  # (max_len, d_model/2)


@mistake(
    "positional.sin_cos_swapped",
    function="sinusoidal_encoding",
    hint="Row 0 of your table starts with 1 where it should start with 0: cosine is on the "
    "even columns and sine on the odd ones. The even column 2i holds sin(pos / base^(2i/d)), "
    "the odd column 2i+1 holds cos of the same angle.",
)
def sinusoidal_sin_cos_swapped(max_len, d_model, base=10000.0):
    angles = _angles(max_len, d_model, base)
    pairs = torch.stack((angles.cos(), angles.sin()), dim=-1)  # (max_len, d/2, 2): cos first
    return pairs.reshape(max_len, d_model).to(torch.float32)


@mistake(
    "positional.halves",
    function="sinusoidal_encoding",
    hint="Your table puts all the sines in the first half of the columns and all the cosines "
    "in the second half. This contract (like the original Transformer and DistilBERT) "
    "interleaves them: column 2i is the sine and column 2i+1 the cosine of the same frequency. "
    "Write the sines into columns 0, 2, 4, ... and the cosines into 1, 3, 5, ...",
)
def sinusoidal_halves(max_len, d_model, base=10000.0):
    angles = _angles(max_len, d_model, base)
    table = torch.cat((angles.sin(), angles.cos()), dim=-1)  # (max_len, d): sin half, cos half
    return table.to(torch.float32)


@mistake(
    "positional.rope_wrong_base",
    function="rope_inv_freq",
    hint="Your frequencies decay too slowly: the exponent of the base must be 2i/head_dim for "
    "i = 0 .. head_dim/2 - 1 (that is arange(0, head_dim, 2) / head_dim), not i/head_dim. "
    "The last frequency should be close to 1/base, not 1/sqrt(base). (This mistake is "
    "diagnosed in rope_inv_freq; apply_rope built on wrong frequencies fails as well.)",
)
def rope_inv_freq_wrong_base(head_dim, base=10000.0):
    ref._check_even(ref._check_int(head_dim, "head_dim", 2), "head_dim")
    ref._check_base(base)
    exponent = torch.arange(head_dim // 2, dtype=torch.float32) / head_dim  # i/d: the 2 is lost
    return 1.0 / (base**exponent)


@mistake(
    "positional.rope_interleaved",
    function="apply_rope",
    hint="You rotate neighbouring dimensions (0,1), (2,3), ... together (GPT-J/Meta style). "
    "The Hugging Face Llama convention used here pairs dimension i with dimension i + d/2: "
    "split the last dim into two halves x1, x2 and use rotate_half(x) = cat(-x2, x1), with the "
    "angles repeated for both halves.",
)
def apply_rope_interleaved(x, position_ids, base=10000.0):
    ref._check_rope_args(x, position_ids)
    head_dim = x.shape[-1]
    inv_freq = ref.rope_inv_freq(head_dim, base).to(x.device)  # (d/2,)
    angles = position_ids.to(torch.float32).unsqueeze(-1) * inv_freq  # (..., T, d/2)
    angles = angles.repeat_interleave(2, dim=-1)  # (..., T, d): a0 a0 a1 a1 ...
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    if position_ids.dim() == 2:
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)  # (B, T, d) -> (B, 1, T, d)
    rotated = torch.stack((-x[..., 1::2], x[..., 0::2]), dim=-1)  # (B, H, T, d/2, 2)
    return x * cos + rotated.reshape(x.shape) * sin  # (B, H, T, d): -x1, x0, -x3, x2, ...


@mistake(
    "positional.alibi_pow2_only",
    function="alibi_slopes",
    hint="Your slopes are right for 1, 2, 4, 8, ... heads but not for other head counts: the "
    "formula 2^(-8(h+1)/n) only holds when n is a power of two. Otherwise take the slopes of "
    "the largest power of two c below n, then add every other slope of 2c (its 1st, 3rd, ...) "
    "until you have n of them.",
)
def alibi_slopes_pow2_only(num_heads):
    ref._check_int(num_heads, "num_heads", 1)
    return torch.tensor(ref._geometric_slopes(num_heads), dtype=torch.float32)

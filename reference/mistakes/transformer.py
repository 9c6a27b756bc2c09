"""Known-wrong variants of `reference.transformer` (one per mistake id of labs 2.3.2/2.3.5)."""
from __future__ import annotations

import math

import torch

from reference import transformer as ref
from reference.mistakes import mistake


@mistake(
    "transformer.variance_unbiased",
    function="layer_norm",
    hint="Your layer norm uses the unbiased variance (dividing by D - 1, the default of "
    "torch.var/Tensor.std). Layer norm uses the biased variance: the mean of the squared "
    "deviations, dividing by D (pass unbiased=False / correction=0, or average the squares).",
)
def layer_norm_unbiased_variance(x, weight, bias, eps=1e-5):
    ref._check_float_tensor(x, "x")
    compute_dtype = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    h = x.to(compute_dtype)
    mean = h.mean(dim=-1, keepdim=True)  # (..., 1)
    var = h.var(dim=-1, keepdim=True, correction=1)  # (..., 1): divides by D - 1
    y = (h - mean) / torch.sqrt(var + eps)
    if weight is not None:
        y = y * weight.to(compute_dtype)
    if bias is not None:
        y = y + bias.to(compute_dtype)
    return y.to(x.dtype)


@mistake(
    "transformer.gelu_tanh",
    function="gelu",
    hint="You used the tanh approximation of GELU. This exercise (like F.gelu's default) asks "
    "for the exact form x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2))); the tanh formula is off "
    "by up to about 5e-4.",
)
def gelu_tanh_approximation(x):
    ref._check_float_tensor(x, "x")
    inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))
    return 0.5 * x * (1.0 + torch.tanh(inner))


@mistake(
    "transformer.post_ln_as_pre_ln",
    function="encoder_block",
    hint="Pre-LN and Post-LN are swapped. Pre-LN (norm_first=True) normalises the input of each "
    "sub-layer and adds the raw input back: x + attn(ln1(x)). Post-LN (norm_first=False) "
    "normalises after the residual sum: ln1(x + attn(x)). Same for the feed-forward half.",
)
def encoder_block_norms_swapped(x, params, num_heads, mask=None, norm_first=True):
    if not isinstance(norm_first, bool):
        raise TypeError(f"norm_first must be a bool, got {type(norm_first).__name__}")
    return ref.encoder_block(x, params, num_heads, mask, norm_first=not norm_first)

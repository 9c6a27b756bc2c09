from __future__ import annotations

"""Known-wrong variants of `reference.attention` (one per mistake id of lab 2.3.1).

Each variant is the reference function with exactly one thing wrong, so that its output
differs from the reference only through that mistake.
"""

import math

import torch

from refcopy_attention import _check_mask, _check_num_heads, _check_qkv, _check_tensor
def mistake(*_args, **_kwargs):
    return lambda fn: fn


def _scores(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask, divisor: float) -> torch.Tensor:
    _check_qkv(q, k, v)
    scores = q @ k.transpose(-2, -1) / divisor  # (..., L, S)
    if mask is not None:
        _check_mask(mask, scores.shape)
    return scores


def _masked_softmax(scores: torch.Tensor, mask, dim: int = -1) -> torch.Tensor:
    if mask is not None:
        scores = torch.where(mask, scores, float("-inf"))
    weights = torch.softmax(scores, dim=dim)
    if mask is not None:
        weights = torch.where(mask, weights, 0.0)
    return weights


@mistake(
    "attention.softmax_dim",
    function="scaled_dot_product_attention",
    hint="Your attention weights are normalised over the queries (the rows' dimension, dim=-2). "
    "Each query needs a probability distribution over the keys: take the softmax over the last "
    "dimension of the (..., L, S) scores, then check that every row of the weights sums to 1.",
)
def sdpa_softmax_over_queries(q, k, v, mask=None):
    scores = _scores(q, k, v, mask, math.sqrt(q.shape[-1]))
    weights = _masked_softmax(scores, mask, dim=-2)
    return weights @ v, weights


@mistake(
    "attention.no_scale",
    function="scaled_dot_product_attention",
    hint="The scores q @ k^T are not scaled. Divide them by sqrt(d_k), the square root of the "
    "query/key width, before the softmax; otherwise large d_k makes the softmax nearly one-hot.",
)
def sdpa_no_scale(q, k, v, mask=None):
    scores = _scores(q, k, v, mask, 1.0)
    weights = _masked_softmax(scores, mask)
    return weights @ v, weights


@mistake(
    "attention.scale_by_dk",
    function="scaled_dot_product_attention",
    hint="The scores are divided by d_k itself. The scaling factor is the square root of d_k "
    "(it brings the dot products' variance, which grows like d_k, back to about 1).",
)
def sdpa_scale_by_dk(q, k, v, mask=None):
    scores = _scores(q, k, v, mask, float(q.shape[-1]))
    weights = _masked_softmax(scores, mask)
    return weights @ v, weights


@mistake(
    "attention.mask_inverted",
    function="scaled_dot_product_attention",
    hint="The mask is read the wrong way round. In this contract (as in PyTorch's SDPA) True "
    "means 'this query may attend to this key'; the keys where the mask is False are the ones "
    "whose scores must become -inf.",
)
def sdpa_mask_inverted(q, k, v, mask=None):
    scores = _scores(q, k, v, mask, math.sqrt(q.shape[-1]))
    weights = _masked_softmax(scores, None if mask is None else ~mask)
    return weights @ v, weights


@mistake(
    "attention.mask_after_softmax",
    function="scaled_dot_product_attention",
    hint="The mask is applied to the weights after the softmax, so the blocked keys still took "
    "part in the normalisation and the remaining weights no longer sum to 1. Mask the scores "
    "(set blocked ones to -inf) before the softmax instead.",
)
def sdpa_mask_after_softmax(q, k, v, mask=None):
    scores = _scores(q, k, v, mask, math.sqrt(q.shape[-1]))
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = torch.where(mask, weights, 0.0)
    return weights @ v, weights


@mistake(
    "attention.nan_rows",
    function="scaled_dot_product_attention",
    hint="A query whose keys are all masked gives NaN: the softmax of a row of -inf is 0/0. "
    "Such a row must get all-zero weights (and so an all-zero output): after the softmax, set "
    "the weights of blocked keys to 0, or replace those NaNs, as PyTorch's 'safe softmax' does.",
)
def sdpa_nan_rows(q, k, v, mask=None):
    scores = _scores(q, k, v, mask, math.sqrt(q.shape[-1]))
    if mask is not None:
        scores = torch.where(mask, scores, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


@mistake(
    "attention.heads_no_transpose",
    function="split_heads",
    hint="The heads were split with a single view/reshape to (B, H, T, d), which cuts the "
    "memory in the wrong places and mixes positions between heads. Reshape to (B, T, H, d) "
    "first (each position's features cut into H chunks), then swap the T and H dims.",
)
def split_heads_no_transpose(x, num_heads):
    _check_tensor(x, "x", min_dim=3)
    _check_num_heads(num_heads)
    if x.dim() != 3:
        raise ValueError(f"x must have shape (B, T, D), got {tuple(x.shape)}")
    batch, seq_len, d_model = x.shape
    if d_model % num_heads != 0:
        raise ValueError(f"the model width D = {d_model} is not divisible by num_heads = {num_heads}")
    # (B, T, D) -> (B, H, T, d) in one step: cuts the memory across positions
    return x.reshape(batch, num_heads, seq_len, d_model // num_heads)


@mistake(
    "attention.merge_order",
    function="merge_heads",
    hint="The heads are concatenated in the wrong order: the output's features must be head 0's "
    "d features, then head 1's, and so on. Bring the heads next to the head width as "
    "(B, T, H, d) (swap dims 1 and 2 of the input) before flattening the last two dims; this "
    "undoes split_heads exactly.",
)
def merge_heads_wrong_order(x):
    _check_tensor(x, "x", min_dim=4)
    if x.dim() != 4:
        raise ValueError(f"x must have shape (B, H, T, d), got {tuple(x.shape)}")
    batch, num_heads, seq_len, head_dim = x.shape
    x = x.permute(0, 2, 3, 1)  # (B, H, T, d) -> (B, T, d, H): features interleaved across heads
    return x.reshape(batch, seq_len, head_dim * num_heads)

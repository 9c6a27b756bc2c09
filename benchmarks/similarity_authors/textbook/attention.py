"""Attention, written line by line from the maths in the lab."""
import math

import torch

PARAMS = ("w_q", "b_q", "w_k", "b_k", "w_v", "b_v", "w_o", "b_o")


def scaled_dot_product_attention(q, k, v, mask=None):
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise TypeError(f"{name} must be a floating tensor")
    if k.dtype != q.dtype or v.dtype != q.dtype:
        raise TypeError("q, k and v must have the same dtype")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError("q and k must have the same d_k")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError("k and v must have the same number of keys")
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., L, S)
    if mask is not None:
        if mask.dtype != torch.bool:
            raise TypeError("mask must be a bool tensor")
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    weights = torch.nan_to_num(weights, nan=0.0)  # a query with every key masked
    return weights @ v, weights


def split_heads(x, num_heads):
    if not isinstance(x, torch.Tensor):
        raise TypeError("x must be a tensor")
    if not isinstance(num_heads, int):
        raise TypeError("num_heads must be an int")
    if x.dim() != 3:
        raise ValueError("x must have shape (B, T, D)")
    batch, length, width = x.shape
    if num_heads < 1 or width % num_heads != 0:
        raise ValueError("num_heads must divide D")
    head_dim = width // num_heads
    return x.reshape(batch, length, num_heads, head_dim).transpose(1, 2)


def merge_heads(x):
    if not isinstance(x, torch.Tensor):
        raise TypeError("x must be a tensor")
    if x.dim() != 4:
        raise ValueError("x must have shape (B, H, T, d)")
    batch, heads, length, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, length, heads * head_dim)


def linear(x, w, b):
    return x @ w.T + b


def multi_head_attention(x_q, x_kv, params, num_heads, mask=None):
    if not isinstance(params, dict):
        raise TypeError("params must be a dict")
    for name in PARAMS:
        if name not in params:
            raise ValueError(f"missing parameter {name}")
    if x_q.dim() != 3 or x_kv.dim() != 3:
        raise ValueError("x_q and x_kv must have shape (B, T, D)")
    q = split_heads(linear(x_q, params["w_q"], params["b_q"]), num_heads)
    k = split_heads(linear(x_kv, params["w_k"], params["b_k"]), num_heads)
    v = split_heads(linear(x_kv, params["w_v"], params["b_v"]), num_heads)
    context, weights = scaled_dot_product_attention(q, k, v, mask)
    output = linear(merge_heads(context), params["w_o"], params["b_o"])
    return output, weights

import math

import torch


def scaled_dot_product_attention(q, k, v, mask=None):
    if q.shape[-1] != k.shape[-1]:
        raise ValueError("q and k need the same feature size")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError("k and v need the same number of keys")
    scale = 1.0 / math.sqrt(q.shape[-1])
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    if mask is not None:
        if mask.dtype != torch.bool:
            raise TypeError("mask must be boolean")
        scores = scores.masked_fill(mask == False, -math.inf)  # noqa: E712
    largest = scores.max(dim=-1, keepdim=True).values
    largest = torch.nan_to_num(largest, neginf=0.0)
    expd = torch.exp(scores - largest)
    total = expd.sum(dim=-1, keepdim=True)
    probs = expd / total
    probs = torch.nan_to_num(probs, nan=0.0)
    return torch.matmul(probs, v), probs


def split_heads(x, num_heads):
    if x.dim() != 3:
        raise ValueError("expected (B, T, D)")
    if type(num_heads) is not int or num_heads < 1:
        raise ValueError("num_heads must be a positive int")
    b, t, d = x.shape
    if d % num_heads:
        raise ValueError("D must be divisible by num_heads")
    size = d // num_heads
    heads = []
    for h in range(num_heads):
        heads.append(x[:, :, h * size:(h + 1) * size])
    return torch.stack(heads, dim=1)


def merge_heads(x):
    if x.dim() != 4:
        raise ValueError("expected (B, H, T, d)")
    pieces = []
    for h in range(x.shape[1]):
        pieces.append(x[:, h, :, :])
    return torch.cat(pieces, dim=-1)


def multi_head_attention(x_q, x_kv, params, num_heads, mask=None):
    for key in ("w_q", "b_q", "w_k", "b_k", "w_v", "b_v", "w_o", "b_o"):
        if key not in params:
            raise ValueError("missing parameter " + key)
    if x_q.dim() != 3 or x_kv.dim() != 3:
        raise ValueError("inputs must be 3-d")
    queries = torch.matmul(x_q, params["w_q"].t()) + params["b_q"]
    keys = torch.matmul(x_kv, params["w_k"].t()) + params["b_k"]
    values = torch.matmul(x_kv, params["w_v"].t()) + params["b_v"]
    queries = split_heads(queries, num_heads)
    keys = split_heads(keys, num_heads)
    values = split_heads(values, num_heads)
    outputs, all_weights = [], []
    for h in range(num_heads):
        head_mask = None
        if mask is not None:
            head_mask = mask.expand(x_q.shape[0], num_heads, x_q.shape[1], x_kv.shape[1])[:, h]
        o, w = scaled_dot_product_attention(queries[:, h], keys[:, h], values[:, h], head_mask)
        outputs.append(o)
        all_weights.append(w)
    context = merge_heads(torch.stack(outputs, dim=1))
    result = torch.matmul(context, params["w_o"].t()) + params["b_o"]
    return result, torch.stack(all_weights, dim=1)

import math

import torch

PARAMS = ("w_q", "b_q", "w_k", "b_k", "w_v", "b_v", "w_o", "b_o")


class ShapeError(ValueError):
    pass


def _expect_rank(t, rank, what):
    if not isinstance(t, torch.Tensor):
        raise TypeError(what + " should be a tensor")
    if t.dim() != rank:
        raise ShapeError(f"{what} should have {rank} dims, has {t.dim()}")


def _scores(q, k):
    return q @ k.transpose(-2, -1) / math.sqrt(k.shape[-1])


def _masked_softmax(scores, mask):
    if mask is None:
        return torch.softmax(scores, dim=-1)
    blocked = torch.logical_not(mask)
    weights = torch.softmax(scores.masked_fill(blocked, float("-inf")), dim=-1)
    return weights.masked_fill(blocked, 0.0)


def scaled_dot_product_attention(q, k, v, mask=None):
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ShapeError("q, k, v shapes do not fit")
    weights = _masked_softmax(_scores(q, k), mask)
    return weights @ v, weights


def split_heads(x, num_heads):
    _expect_rank(x, 3, "x")
    batch, steps, width = x.shape
    if width % num_heads != 0:
        raise ShapeError("width not divisible by heads")
    return x.reshape(batch, steps, num_heads, -1).transpose(1, 2)


def merge_heads(x):
    _expect_rank(x, 4, "x")
    batch, heads, steps, size = x.shape
    return x.transpose(1, 2).reshape(batch, steps, heads * size)


def _project(x, params, which):
    return torch.nn.functional.linear(x, params["w_" + which], params["b_" + which])


def _check_all_params(params):
    absent = [p for p in PARAMS if p not in params]
    if absent:
        raise KeyError(f"missing {absent}")


def multi_head_attention(x_q, x_kv, params, num_heads, mask=None):
    _expect_rank(x_q, 3, "x_q")
    _expect_rank(x_kv, 3, "x_kv")
    _check_all_params(params)
    q = split_heads(_project(x_q, params, "q"), num_heads)
    k = split_heads(_project(x_kv, params, "k"), num_heads)
    v = split_heads(_project(x_kv, params, "v"), num_heads)
    context, weights = scaled_dot_product_attention(q, k, v, mask)
    return _project(merge_heads(context), params, "o"), weights

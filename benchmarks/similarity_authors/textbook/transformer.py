"""The encoder block, written from the formulas of the lab."""
import math

import torch

from exercises.attention import multi_head_attention


def layer_norm(x, weight, bias, eps=1e-5):
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError("x must be a floating tensor")
    if eps < 0:
        raise ValueError("eps must be non-negative")
    dtype = x.dtype
    h = x.float() if dtype in (torch.float16, torch.bfloat16) else x
    mean = h.mean(dim=-1, keepdim=True)
    var = ((h - mean) ** 2).mean(dim=-1, keepdim=True)
    y = (h - mean) / torch.sqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y.to(dtype)


def gelu(x):
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError("x must be a floating tensor")
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def feed_forward(x, params):
    if not isinstance(params, dict):
        raise TypeError("params must be a dict")
    for name in ("w1", "b1", "w2", "b2"):
        if name not in params:
            raise ValueError(f"missing parameter {name}")
    hidden = gelu(x @ params["w1"].T + params["b1"])
    return hidden @ params["w2"].T + params["b2"]


def encoder_block(x, params, num_heads, mask=None, norm_first=True):
    if not isinstance(norm_first, bool):
        raise TypeError("norm_first must be a bool")
    if x.dim() != 3:
        raise ValueError("x must have shape (B, T, D)")

    def attn(h):
        return multi_head_attention(h, h, params, num_heads, mask)[0]

    def ln1(h):
        return layer_norm(h, params["ln1_w"], params["ln1_b"], eps=1e-5)

    def ln2(h):
        return layer_norm(h, params["ln2_w"], params["ln2_b"], eps=1e-5)

    if norm_first:
        h = x + attn(ln1(x))
        return h + feed_forward(ln2(h), params)
    h = ln1(x + attn(x))
    return ln2(h + feed_forward(h, params))


def pool_hidden_states(hidden, attention_mask, strategy="cls"):
    if not isinstance(hidden, torch.Tensor) or not hidden.is_floating_point():
        raise TypeError("hidden must be a floating tensor")
    if hidden.dim() != 3:
        raise ValueError("hidden must have shape (B, T, D)")
    if strategy == "cls":
        return hidden[:, 0]
    if strategy != "mean":
        raise ValueError(f"unknown strategy {strategy!r}")
    if attention_mask is None:
        return hidden.mean(dim=1)
    if not isinstance(attention_mask, torch.Tensor):
        raise TypeError("attention_mask must be a tensor")
    if attention_mask.shape != hidden.shape[:2]:
        raise ValueError("attention_mask must have shape (B, T)")
    m = attention_mask.to(hidden.dtype).unsqueeze(-1)  # (B, T, 1)
    total = (hidden * m).sum(dim=1)  # (B, D)
    count = m.sum(dim=1).clamp(min=1.0)  # (B, 1)
    return total / count

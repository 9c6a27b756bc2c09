"""Transformer encoder block (labs 2.3.2 and 2.3.5), reference solutions.

An encoder layer is two residual sub-layers, self-attention and a position-wise feed-forward
network, each with a layer norm: before the sub-layer (Pre-LN, modern) or after the residual
sum (Post-LN, the 2017 original). `pool_hidden_states` turns the per-token outputs into one
vector per sequence for a classifier (lab 2.3.5).
"""
from __future__ import annotations

import math

import torch

from reference.attention import PARAM_NAMES as ATTENTION_PARAM_NAMES
from reference.attention import multi_head_attention

FFN_PARAM_NAMES = ("w1", "b1", "w2", "b2")
NORM_PARAM_NAMES = ("ln1_w", "ln1_b", "ln2_w", "ln2_b")


def _check_float_tensor(value: object, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got dtype {value.dtype}")
    return value


def _check_params(params: object, names: tuple[str, ...]) -> None:
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of tensors, got {type(params).__name__}")
    missing = [name for name in names if name not in params]
    if missing:
        raise ValueError(f"params is missing {', '.join(missing)}")
    for name in names:
        if not isinstance(params[name], torch.Tensor):
            raise TypeError(f"params[{name!r}] must be a torch.Tensor, got {type(params[name]).__name__}")


def layer_norm(
    x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None, eps: float = 1e-5
) -> torch.Tensor:
    """Normalise over the last dim: ``(x - mean) / sqrt(var + eps) * weight + bias``.

    ``var`` is the biased variance ``mean((x - mean)^2)`` (divide by D, not D - 1), as in
    ``F.layer_norm``. ``weight``/``bias`` of shape ``(D,)``; None means no scale/shift.
    16-bit inputs are normalised in float32 and the result cast back, as PyTorch's kernel
    does: a mean and a variance of D numbers in bfloat16 lose too many digits.
    """
    _check_float_tensor(x, "x")
    if x.dim() < 1 or x.shape[-1] == 0:
        raise ValueError(f"x must have a non-empty last dim, got shape {tuple(x.shape)}")
    d_model = x.shape[-1]
    for name, value in (("weight", weight), ("bias", bias)):
        if value is not None:
            _check_float_tensor(value, name)
            if tuple(value.shape) != (d_model,):
                raise ValueError(f"{name} must have shape ({d_model},), got {tuple(value.shape)}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)):
        raise TypeError(f"eps must be a number, got {type(eps).__name__}")
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")

    compute_dtype = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    h = x.to(compute_dtype)
    mean = h.mean(dim=-1, keepdim=True)  # (..., 1)
    var = (h - mean).pow(2).mean(dim=-1, keepdim=True)  # (..., 1), biased: divide by D
    y = (h - mean) / torch.sqrt(var + eps)
    if weight is not None:
        y = y * weight.to(compute_dtype)
    if bias is not None:
        y = y + bias.to(compute_dtype)
    return y.to(x.dtype)


def gelu(x: torch.Tensor) -> torch.Tensor:
    """Exact GELU: ``x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2)))`` (Phi = normal CDF)."""
    _check_float_tensor(x, "x")
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """nn.Linear convention: ``y = x @ w^T + b``."""
    return x @ weight.T + bias  # (..., D_in) @ (D_in, D_out) -> (..., D_out)


def feed_forward(x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """Position-wise FFN: ``gelu(x @ w1^T + b1) @ w2^T + b2`` (expand, activate, contract).

    x ``(..., D)``; w1 ``(F, D)``, b1 ``(F,)``, w2 ``(D, F)``, b2 ``(D,)``.
    """
    _check_float_tensor(x, "x")
    _check_params(params, FFN_PARAM_NAMES)
    d_model = x.shape[-1]
    w1, b1, w2, b2 = (params[name] for name in FFN_PARAM_NAMES)
    d_ff = w1.shape[0]
    expected = {"w1": (d_ff, d_model), "b1": (d_ff,), "w2": (d_model, d_ff), "b2": (d_model,)}
    for name, shape in expected.items():
        if tuple(params[name].shape) != shape:
            raise ValueError(f"params[{name!r}] must have shape {shape}, got {tuple(params[name].shape)}")
    hidden = gelu(_linear(x, w1, b1))  # (..., D) -> (..., F)
    return _linear(hidden, w2, b2)  # (..., F) -> (..., D)


def encoder_block(
    x: torch.Tensor,
    params: dict[str, torch.Tensor],
    num_heads: int,
    mask: torch.Tensor | None = None,
    norm_first: bool = True,
) -> torch.Tensor:
    """One encoder layer on x ``(B, T, D)``; returns ``(B, T, D)``.

    Pre-LN (``norm_first=True``):  ``h = x + attn(ln1(x))``;   ``out = h + ffn(ln2(h))``.
    Post-LN (``norm_first=False``): ``h = ln1(x + attn(x))``;  ``out = ln2(h + ffn(h))``.
    ``attn`` is self-attention (queries, keys and values from the same input); mask bool,
    True = may attend, broadcastable to ``(B, H, T, T)``.
    """
    _check_float_tensor(x, "x")
    if x.dim() != 3:
        raise ValueError(f"x must have shape (B, T, D), got {tuple(x.shape)}")
    _check_params(params, ATTENTION_PARAM_NAMES + FFN_PARAM_NAMES + NORM_PARAM_NAMES)
    if not isinstance(norm_first, bool):
        raise TypeError(f"norm_first must be a bool, got {type(norm_first).__name__}")

    def attn(h: torch.Tensor) -> torch.Tensor:
        return multi_head_attention(h, h, params, num_heads, mask)[0]

    def ln1(h: torch.Tensor) -> torch.Tensor:
        return layer_norm(h, params["ln1_w"], params["ln1_b"])

    def ln2(h: torch.Tensor) -> torch.Tensor:
        return layer_norm(h, params["ln2_w"], params["ln2_b"])

    if norm_first:
        h = x + attn(ln1(x))
        return h + feed_forward(ln2(h), params)
    h = ln1(x + attn(x))
    return ln2(h + feed_forward(h, params))


def pool_hidden_states(
    hidden: torch.Tensor, attention_mask: torch.Tensor | None, strategy: str = "cls"
) -> torch.Tensor:
    """One vector per sequence from hidden ``(B, T, D)``; returns ``(B, D)``.

    ``"cls"``: the first position, ``hidden[:, 0]`` (BERT's [CLS] token).
    ``"mean"``: ``sum_t m[b, t] * hidden[b, t] / sum_t m[b, t]`` over positions where
    attention_mask ``(B, T)`` is 1/True; a row with no such position gives a zero vector.
    attention_mask None counts every position.
    """
    _check_float_tensor(hidden, "hidden")
    if hidden.dim() != 3:
        raise ValueError(f"hidden must have shape (B, T, D), got {tuple(hidden.shape)}")
    if strategy not in ("cls", "mean"):
        raise ValueError(f"strategy must be 'cls' or 'mean', got {strategy!r}")
    batch, seq_len, _ = hidden.shape
    if attention_mask is not None:
        if not isinstance(attention_mask, torch.Tensor):
            raise TypeError(f"attention_mask must be a torch.Tensor, got {type(attention_mask).__name__}")
        if tuple(attention_mask.shape) != (batch, seq_len):
            raise ValueError(
                f"attention_mask must have shape (B, T) = ({batch}, {seq_len}), "
                f"got {tuple(attention_mask.shape)}"
            )
    if seq_len == 0:
        raise ValueError("hidden must hold at least one position, got T = 0")

    if strategy == "cls":
        return hidden[:, 0]  # (B, T, D) -> (B, D)
    if attention_mask is None:
        return hidden.mean(dim=1)  # (B, T, D) -> (B, D)
    weights = attention_mask.to(hidden.dtype).unsqueeze(-1)  # (B, T) -> (B, T, 1)
    total = (hidden * weights).sum(dim=1)  # (B, T, D) -> (B, D)
    count = weights.sum(dim=1).clamp(min=1.0)  # (B, 1); an empty row divides 0 by 1
    return total / count

"""Scaled dot-product and multi-head attention (lab 2.3.1), reference solutions.

Shapes: ``B`` batch, ``H`` heads, ``L`` query positions, ``S`` key positions, ``D`` model
width, ``d = D / H`` head width. Masks are boolean, **True = may attend** (PyTorch SDPA).
"""
from __future__ import annotations

import math

import torch

PARAM_NAMES = ("w_q", "b_q", "w_k", "b_k", "w_v", "b_v", "w_o", "b_o")


def _check_tensor(value: object, name: str, min_dim: int) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if value.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dims, got shape {tuple(value.shape)}")
    return value


def _check_float_tensor(value: object, name: str, min_dim: int) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got dtype {value.dtype}")
    if value.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dims, got shape {tuple(value.shape)}")
    return value


def _check_num_heads(num_heads: object) -> int:
    if isinstance(num_heads, bool) or not isinstance(num_heads, int):
        raise TypeError(f"num_heads must be an int, got {type(num_heads).__name__}")
    if num_heads < 1:
        raise ValueError(f"num_heads must be >= 1, got {num_heads}")
    return num_heads


def _check_mask(mask: object, target_shape: tuple[int, ...]) -> torch.Tensor:
    """A bool mask that broadcasts against `target_shape` (the scores' shape)."""
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a bool torch.Tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor (True = may attend), got dtype {mask.dtype}")
    try:
        torch.broadcast_shapes(mask.shape, target_shape)
    except RuntimeError:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to the scores' shape "
            f"{tuple(target_shape)}"
        ) from None
    return mask


def _check_qkv(q: object, k: object, v: object) -> None:
    for name, t in (("q", q), ("k", k), ("v", v)):
        _check_float_tensor(t, name, min_dim=2)
    if not (q.dtype == k.dtype == v.dtype):
        raise TypeError(f"q, k and v must share one dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"q and k must have the same last dim d_k, got q {tuple(q.shape)} and k {tuple(k.shape)}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"k and v must have the same number of keys S, got k {tuple(k.shape)} and v {tuple(v.shape)}"
        )
    try:
        torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except RuntimeError:
        raise ValueError(
            f"the leading (batch) dims of q {tuple(q.shape)}, k {tuple(k.shape)} and "
            f"v {tuple(v.shape)} do not broadcast"
        ) from None


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``softmax(q k^T / sqrt(d_k)) v`` over the keys, with masked keys excluded.

    q ``(..., L, d_k)``, k ``(..., S, d_k)``, v ``(..., S, d_v)``; mask bool, broadcastable to
    ``(..., L, S)``, True = may attend. Returns ``(output (..., L, d_v), weights (..., L, S))``.
    A query whose keys are all masked gets all-zero weights and output (a "safe softmax",
    as PyTorch's SDPA does) instead of the NaN that softmax over only -inf produces.
    """
    _check_qkv(q, k, v)
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., L, d_k) @ (..., d_k, S) -> (..., L, S)
    if mask is not None:
        _check_mask(mask, scores.shape)
        # exp(-inf) = 0: a blocked key gets no weight and takes nothing from the others.
        scores = torch.where(mask, scores, float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # normalise over the keys
    if mask is not None:
        # A fully masked row is softmax(-inf, ..., -inf) = NaN; zero it (safe softmax).
        weights = torch.where(mask, weights, 0.0)
    output = weights @ v  # (..., L, S) @ (..., S, d_v) -> (..., L, d_v)
    return output, weights


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """``(B, T, D) -> (B, H, T, D/H)``: head h takes features ``h*d ... (h+1)*d - 1``."""
    _check_tensor(x, "x", min_dim=3)
    _check_num_heads(num_heads)
    if x.dim() != 3:
        raise ValueError(f"x must have shape (B, T, D), got {tuple(x.shape)}")
    batch, seq_len, d_model = x.shape
    if d_model % num_heads != 0:
        raise ValueError(f"the model width D = {d_model} is not divisible by num_heads = {num_heads}")
    head_dim = d_model // num_heads
    x = x.reshape(batch, seq_len, num_heads, head_dim)  # (B, T, D) -> (B, T, H, d)
    return x.transpose(1, 2)  # (B, T, H, d) -> (B, H, T, d)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """``(B, H, T, d) -> (B, T, H*d)``, the inverse of :func:`split_heads`."""
    _check_tensor(x, "x", min_dim=4)
    if x.dim() != 4:
        raise ValueError(f"x must have shape (B, H, T, d), got {tuple(x.shape)}")
    batch, num_heads, seq_len, head_dim = x.shape
    x = x.transpose(1, 2)  # (B, H, T, d) -> (B, T, H, d)
    return x.reshape(batch, seq_len, num_heads * head_dim)  # (B, T, H, d) -> (B, T, H*d)


def _check_params(params: object, d_model: int) -> None:
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of tensors, got {type(params).__name__}")
    missing = [name for name in PARAM_NAMES if name not in params]
    if missing:
        raise ValueError(f"params is missing {', '.join(missing)}")
    for name in PARAM_NAMES:
        expected = (d_model, d_model) if name.startswith("w_") else (d_model,)
        value = params[name]
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"params[{name!r}] must be a torch.Tensor, got {type(value).__name__}")
        if tuple(value.shape) != expected:
            raise ValueError(f"params[{name!r}] must have shape {expected}, got {tuple(value.shape)}")


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """nn.Linear convention: ``y = x @ w^T + b``."""
    return x @ weight.T + bias  # (B, T, D_in) @ (D_in, D_out) -> (B, T, D_out)


def multi_head_attention(
    x_q: torch.Tensor,
    x_kv: torch.Tensor,
    params: dict[str, torch.Tensor],
    num_heads: int,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-head attention: project, split into heads, attend per head, merge, project.

    ``head_h = SDPA(x_q W_q^h, x_kv W_k^h, x_kv W_v^h)``; output
    ``= concat(head_1 ... head_H) W_o^T + b_o``. x_q ``(B, L, D)``, x_kv ``(B, S, D)`` (the
    same tensor for self-attention); mask bool broadcastable to ``(B, H, L, S)``.
    Returns ``(output (B, L, D), per-head weights (B, H, L, S))``.
    """
    _check_float_tensor(x_q, "x_q", min_dim=3)
    _check_float_tensor(x_kv, "x_kv", min_dim=3)
    _check_num_heads(num_heads)
    if x_q.dim() != 3 or x_kv.dim() != 3:
        raise ValueError(
            f"x_q and x_kv must have shapes (B, L, D) and (B, S, D), got {tuple(x_q.shape)} "
            f"and {tuple(x_kv.shape)}"
        )
    batch, q_len, d_model = x_q.shape
    if x_kv.shape[0] != batch or x_kv.shape[2] != d_model:
        raise ValueError(
            f"x_kv must have shape (B, S, D) = ({batch}, S, {d_model}), got {tuple(x_kv.shape)}"
        )
    _check_params(params, d_model)
    if mask is not None:
        target = (batch, num_heads, q_len, x_kv.shape[1])
        _check_mask(mask, target)
        if torch.broadcast_shapes(mask.shape, target) != target:
            raise ValueError(f"mask of shape {tuple(mask.shape)} must broadcast to (B, H, L, S) = {target}")

    q = split_heads(_linear(x_q, params["w_q"], params["b_q"]), num_heads)  # (B, H, L, d)
    k = split_heads(_linear(x_kv, params["w_k"], params["b_k"]), num_heads)  # (B, H, S, d)
    v = split_heads(_linear(x_kv, params["w_v"], params["b_v"]), num_heads)  # (B, H, S, d)
    context, weights = scaled_dot_product_attention(q, k, v, mask)  # (B, H, L, d), (B, H, L, S)
    output = _linear(merge_heads(context), params["w_o"], params["b_o"])  # (B, L, D)
    return output, weights

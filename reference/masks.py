"""Attention masks (lab 2.3.1), reference solutions.

Every mask here is boolean with the PyTorch SDPA meaning: **True = this query may attend to
this key**. Masks are built from index comparisons (``i`` = query position, ``j`` = key
position) so that each rule reads like its formula.
"""
from __future__ import annotations

import torch


def _check_length(value: object, name: str, minimum: int = 1) -> int:
    """A sequence length or window: a Python int (not a bool) of at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _check_token_ids(token_ids: object, pad_id: object) -> None:
    if not isinstance(token_ids, torch.Tensor):
        raise TypeError(f"token_ids must be a torch.Tensor, got {type(token_ids).__name__}")
    if token_ids.is_floating_point() or token_ids.is_complex() or token_ids.dtype == torch.bool:
        raise TypeError(f"token_ids must hold integer ids, got dtype {token_ids.dtype}")
    if token_ids.dim() != 2:
        raise ValueError(f"token_ids must have shape (B, S), got {tuple(token_ids.shape)}")
    if isinstance(pad_id, bool) or not isinstance(pad_id, int):
        raise TypeError(f"pad_id must be an int, got {type(pad_id).__name__}")


def causal_mask(q_len: int, k_len: int | None = None, device=None) -> torch.Tensor:
    """Causal mask ``(q_len, k_len)``: query i may see key j iff ``j <= i + (k_len - q_len)``.

    The queries are the *last* q_len of the k_len positions (bottom-right alignment), which is
    what a decoder needs when it reuses a KV cache: the newest query sees every cached key.
    With ``k_len == q_len`` this is the usual lower triangle including the diagonal.
    """
    _check_length(q_len, "q_len")
    k_len = q_len if k_len is None else _check_length(k_len, "k_len")
    offset = k_len - q_len
    i = torch.arange(q_len, device=device).unsqueeze(1)  # (q_len, 1)
    j = torch.arange(k_len, device=device).unsqueeze(0)  # (1, k_len)
    return j <= i + offset  # broadcasts to (q_len, k_len)


def padding_mask(token_ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Key mask ``(B, 1, 1, S)``: True at real tokens, False at padding.

    The two singleton dims broadcast over heads and queries, so the mask can be passed
    straight to attention over ``(B, H, L, S)`` scores.
    """
    _check_token_ids(token_ids, pad_id)
    keep = token_ids != pad_id  # (B, S)
    return keep[:, None, None, :]  # (B, S) -> (B, 1, 1, S)


def causal_padding_mask(token_ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Decoder self-attention mask ``(B, 1, S, S)``: causal AND the key is not padding."""
    _check_token_ids(token_ids, pad_id)
    seq_len = token_ids.shape[1]
    if seq_len == 0:
        raise ValueError("token_ids must hold at least one position, got S = 0")
    causal = causal_mask(seq_len, device=token_ids.device)  # (S, S)
    return causal & padding_mask(token_ids, pad_id)  # (S, S) & (B, 1, 1, S) -> (B, 1, S, S)


def sliding_window_mask(seq_len: int, window: int) -> torch.Tensor:
    """Local causal mask ``(seq_len, seq_len)``: True where ``i - window < j <= i``.

    Each query sees itself and the ``window - 1`` keys before it (Mistral/Longformer style);
    ``window >= seq_len`` gives the plain causal mask.
    """
    _check_length(seq_len, "seq_len")
    _check_length(window, "window")
    i = torch.arange(seq_len).unsqueeze(1)  # (seq_len, 1)
    j = torch.arange(seq_len).unsqueeze(0)  # (1, seq_len)
    return (j <= i) & (j > i - window)  # (seq_len, seq_len)


def additive_mask(mask: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Turn a bool mask into scores to add before the softmax: 0.0 where True, -inf where False.

    ``softmax(scores + additive_mask(m))`` gives masked keys weight exactly 0 (exp(-inf) = 0).
    The result has the mask's shape and device and the requested floating dtype.
    """
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor, got dtype {mask.dtype}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    zeros = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
    return zeros.masked_fill(~mask, float("-inf"))

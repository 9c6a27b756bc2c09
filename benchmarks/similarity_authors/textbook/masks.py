"""Masks, written straight from the lecture's formulas (True = may attend)."""
import torch


def causal_mask(q_len, k_len=None, device=None):
    if k_len is None:
        k_len = q_len
    if not isinstance(q_len, int) or not isinstance(k_len, int):
        raise TypeError("q_len and k_len must be ints")
    if q_len < 1 or k_len < 1:
        raise ValueError("q_len and k_len must be at least 1")
    i = torch.arange(q_len, device=device).unsqueeze(1)  # query positions, a column
    j = torch.arange(k_len, device=device).unsqueeze(0)  # key positions, a row
    return j <= i + (k_len - q_len)


def padding_mask(token_ids, pad_id):
    if not isinstance(token_ids, torch.Tensor) or token_ids.is_floating_point():
        raise TypeError("token_ids must be an integer tensor")
    if not isinstance(pad_id, int):
        raise TypeError("pad_id must be an int")
    if token_ids.dim() != 2:
        raise ValueError("token_ids must have shape (B, S)")
    return (token_ids != pad_id)[:, None, None, :]


def causal_padding_mask(token_ids, pad_id):
    keys = padding_mask(token_ids, pad_id)  # (B, 1, 1, S)
    seq_len = token_ids.shape[1]
    if seq_len < 1:
        raise ValueError("token_ids has no positions")
    causal = causal_mask(seq_len, device=token_ids.device)  # (S, S)
    return causal[None, None, :, :] & keys


def sliding_window_mask(seq_len, window):
    if not isinstance(seq_len, int) or not isinstance(window, int):
        raise TypeError("seq_len and window must be ints")
    if seq_len < 1 or window < 1:
        raise ValueError("seq_len and window must be at least 1")
    i = torch.arange(seq_len).unsqueeze(1)
    j = torch.arange(seq_len).unsqueeze(0)
    return (j <= i) & (j > i - window)


def additive_mask(mask, dtype=torch.float32):
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise TypeError("mask must be a bool tensor")
    if not dtype.is_floating_point:
        raise TypeError("dtype must be a floating dtype")
    out = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
    return out.masked_fill(~mask, float("-inf"))

import torch


def _require_int(name, value, low=1):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(name + " should be an integer")
    if value < low:
        raise ValueError(name + " is too small")


def _positions(n, device=None):
    return torch.arange(n, device=device)


def _compare(rows, cols, rule):
    r = rows.reshape(-1, 1)
    c = cols.reshape(1, -1)
    return rule(r, c)


def causal_mask(q_len, k_len=None, device=None):
    _require_int("q_len", q_len)
    if k_len is None:
        k_len = q_len
    _require_int("k_len", k_len)
    gap = k_len - q_len
    return _compare(_positions(q_len, device), _positions(k_len, device), lambda r, c: c - gap <= r)


def _not_pad(token_ids, pad_id):
    if not isinstance(token_ids, torch.Tensor):
        raise TypeError("token_ids should be a tensor")
    if token_ids.dtype in (torch.float16, torch.float32, torch.float64, torch.bfloat16, torch.bool):
        raise TypeError("token_ids should hold integers")
    if len(token_ids.shape) != 2:
        raise ValueError("token_ids should be (B, S)")
    return token_ids != pad_id


def padding_mask(token_ids, pad_id):
    keep = _not_pad(token_ids, pad_id)
    return keep.unsqueeze(1).unsqueeze(2)


def causal_padding_mask(token_ids, pad_id):
    keep = _not_pad(token_ids, pad_id)
    length = keep.shape[-1]
    _require_int("sequence length", length)
    lower = causal_mask(length, length, token_ids.device)
    return lower.unsqueeze(0).unsqueeze(0) & keep.unsqueeze(1).unsqueeze(2)


def sliding_window_mask(seq_len, window):
    _require_int("seq_len", seq_len)
    _require_int("window", window)
    pos = _positions(seq_len)
    return _compare(pos, pos, lambda r, c: (c <= r) & (r - c < window))


def additive_mask(mask, dtype=torch.float32):
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise TypeError("mask should be a boolean tensor")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError("dtype should be a floating dtype")
    out = torch.full(mask.shape, float("-inf"), dtype=dtype, device=mask.device)
    out[mask] = 0.0
    return out

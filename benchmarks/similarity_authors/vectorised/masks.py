import torch


def causal_mask(q_len, k_len=None, device=None):
    k_len = q_len if k_len is None else k_len
    if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in (q_len, k_len)):
        raise ValueError(f"bad lengths {q_len}, {k_len}")
    ones = torch.ones(q_len, k_len, dtype=torch.bool, device=device)
    return torch.tril(ones, diagonal=k_len - q_len)


def padding_mask(token_ids, pad_id):
    if token_ids.ndim != 2 or token_ids.is_floating_point():
        raise ValueError("token_ids: (B, S) integer tensor expected")
    return token_ids.ne(pad_id).view(token_ids.size(0), 1, 1, token_ids.size(1))


def causal_padding_mask(token_ids, pad_id):
    S = token_ids.size(-1)
    if S < 1:
        raise ValueError("need at least one token")
    tri = torch.ones(S, S, dtype=torch.bool, device=token_ids.device).tril()
    return tri.view(1, 1, S, S) & padding_mask(token_ids, pad_id)


def sliding_window_mask(seq_len, window):
    if min(seq_len, window) < 1:
        raise ValueError("seq_len and window must be positive")
    full = torch.ones(seq_len, seq_len, dtype=torch.bool)
    return full.tril() & ~full.tril(-window)


def additive_mask(mask, dtype=torch.float32):
    if mask.dtype is not torch.bool or not dtype.is_floating_point:
        raise TypeError("bool mask and floating dtype expected")
    return torch.where(mask, torch.tensor(0.0, dtype=dtype), torch.tensor(-float("inf"), dtype=dtype)).to(mask.device)

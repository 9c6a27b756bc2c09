import torch


def causal_mask(q_len, k_len=None, device=None):
    # bug: ignores k_len alignment (always top-left) and excludes the diagonal
    cols = q_len if k_len is None else k_len
    grid = torch.arange(cols, device=device)[None, :] < torch.arange(q_len, device=device)[:, None]
    return grid


def padding_mask(token_ids, pad_id):
    # bug: True at padding (inverted), shape (B, S) without the broadcast dims
    return token_ids == pad_id


def causal_padding_mask(token_ids, pad_id):
    s = token_ids.shape[1]
    c = causal_mask(s)
    p = padding_mask(token_ids, pad_id)
    return c.unsqueeze(0) | p.unsqueeze(1)


def sliding_window_mask(seq_len, window):
    # bug: symmetric band, sees future keys too
    idx = torch.arange(seq_len)
    dist = (idx.unsqueeze(0) - idx.unsqueeze(1)).abs()
    return dist < window


def additive_mask(mask, dtype=torch.float32):
    # bug: a large finite negative instead of -inf, and the default dtype ignored
    return (1.0 - mask.float()) * -10000.0

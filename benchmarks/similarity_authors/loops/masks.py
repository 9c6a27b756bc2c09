import torch


def causal_mask(q_len, k_len=None, device=None):
    if k_len is None:
        k_len = q_len
    if type(q_len) is not int or type(k_len) is not int:
        raise TypeError("lengths must be integers")
    if q_len < 1 or k_len < 1:
        raise ValueError("lengths must be positive")
    shift = k_len - q_len
    out = torch.zeros(q_len, k_len, dtype=torch.bool, device=device)
    for row in range(q_len):
        for col in range(k_len):
            if col <= row + shift:
                out[row, col] = True
    return out


def padding_mask(token_ids, pad_id):
    if not torch.is_tensor(token_ids) or token_ids.dim() != 2:
        raise ValueError("token_ids must be a 2-d tensor")
    if token_ids.dtype.is_floating_point:
        raise TypeError("token ids must be integers")
    batch, length = token_ids.shape
    result = torch.ones(batch, 1, 1, length, dtype=torch.bool, device=token_ids.device)
    for b in range(batch):
        for t in range(length):
            if token_ids[b, t].item() == pad_id:
                result[b, 0, 0, t] = False
    return result


def causal_padding_mask(token_ids, pad_id):
    pad = padding_mask(token_ids, pad_id)
    n = token_ids.shape[1]
    if n == 0:
        raise ValueError("empty sequence")
    tri = causal_mask(n, device=token_ids.device)
    batch = token_ids.shape[0]
    full = torch.zeros(batch, 1, n, n, dtype=torch.bool, device=token_ids.device)
    for b in range(batch):
        for i in range(n):
            for j in range(n):
                full[b, 0, i, j] = bool(tri[i, j]) and bool(pad[b, 0, 0, j])
    return full


def sliding_window_mask(seq_len, window):
    if type(seq_len) is not int or type(window) is not int:
        raise TypeError("seq_len and window must be ints")
    if seq_len < 1 or window < 1:
        raise ValueError("seq_len and window must be >= 1")
    m = torch.zeros(seq_len, seq_len, dtype=torch.bool)
    for i in range(seq_len):
        start = max(0, i - window + 1)
        for j in range(start, i + 1):
            m[i, j] = True
    return m


def additive_mask(mask, dtype=torch.float32):
    if not torch.is_tensor(mask) or mask.dtype != torch.bool:
        raise TypeError("mask must be a bool tensor")
    if not dtype.is_floating_point:
        raise TypeError("dtype must be floating")
    flat = mask.reshape(-1)
    values = []
    for allowed in flat.tolist():
        if allowed:
            values.append(0.0)
        else:
            values.append(float("-inf"))
    return torch.tensor(values, dtype=dtype, device=mask.device).reshape(mask.shape)

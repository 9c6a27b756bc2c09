import math

import torch

from exercises.attention import multi_head_attention


def layer_norm(x, weight, bias, eps=1e-5):
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise TypeError("x must be a floating tensor")
    if eps < 0:
        raise ValueError("eps must be non-negative")
    n = x.shape[-1]
    work = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    total = torch.zeros(work.shape[:-1], dtype=work.dtype, device=work.device)
    for idx in range(n):
        total = total + work[..., idx]
    avg = total / n
    sq = torch.zeros_like(avg)
    for idx in range(n):
        diff = work[..., idx] - avg
        sq = sq + diff * diff
    variance = sq / n
    normed = (work - avg.unsqueeze(-1)) / torch.sqrt(variance.unsqueeze(-1) + eps)
    if weight is not None:
        normed = normed * weight
    if bias is not None:
        normed = normed + bias
    return normed.to(x.dtype)


def gelu(x):
    if not x.is_floating_point():
        raise TypeError("x must be floating point")
    cdf = (1.0 + torch.erf(x / math.sqrt(2.0))) / 2.0
    return x * cdf


def feed_forward(x, params):
    for name in ("w1", "b1", "w2", "b2"):
        if name not in params:
            raise ValueError("missing " + name)
    hidden = torch.matmul(x, params["w1"].t()) + params["b1"]
    hidden = gelu(hidden)
    out = torch.matmul(hidden, params["w2"].t()) + params["b2"]
    return out


def encoder_block(x, params, num_heads, mask=None, norm_first=True):
    if x.dim() != 3:
        raise ValueError("x must be (B, T, D)")
    if norm_first:
        normed = layer_norm(x, params["ln1_w"], params["ln1_b"])
        attended, _ = multi_head_attention(normed, normed, params, num_heads, mask)
        x = x + attended
        normed = layer_norm(x, params["ln2_w"], params["ln2_b"])
        x = x + feed_forward(normed, params)
        return x
    attended, _ = multi_head_attention(x, x, params, num_heads, mask)
    x = layer_norm(x + attended, params["ln1_w"], params["ln1_b"])
    x = layer_norm(x + feed_forward(x, params), params["ln2_w"], params["ln2_b"])
    return x


def pool_hidden_states(hidden, attention_mask, strategy="cls"):
    if strategy == "cls":
        return hidden[:, 0, :]
    if strategy != "mean":
        raise ValueError("unknown strategy " + str(strategy))
    rows = []
    for b in range(hidden.shape[0]):
        acc = torch.zeros(hidden.shape[2], dtype=hidden.dtype, device=hidden.device)
        count = 0
        for t in range(hidden.shape[1]):
            if attention_mask is None or bool(attention_mask[b, t]):
                acc = acc + hidden[b, t]
                count += 1
        rows.append(acc / max(count, 1))
    return torch.stack(rows)

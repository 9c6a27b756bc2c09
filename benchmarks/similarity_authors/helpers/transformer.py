import math

import torch

from exercises.attention import multi_head_attention


def _as_float32(x):
    if x.dtype in (torch.float16, torch.bfloat16):
        return x.to(torch.float32)
    return x


def _moments(x):
    centre = x.mean(dim=-1, keepdim=True)
    spread = ((x - centre) ** 2).mean(dim=-1, keepdim=True)
    return centre, spread


def _affine(y, weight, bias):
    if weight is not None:
        y = y * weight.to(y.dtype)
    if bias is not None:
        y = y + bias.to(y.dtype)
    return y


def layer_norm(x, weight, bias, eps=1e-5):
    if not isinstance(x, torch.Tensor) or not torch.is_floating_point(x):
        raise TypeError("layer_norm needs a float tensor")
    h = _as_float32(x)
    centre, spread = _moments(h)
    return _affine((h - centre) / (spread + eps).sqrt(), weight, bias).to(x.dtype)


def _normal_cdf(x):
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def gelu(x):
    if not torch.is_floating_point(x):
        raise TypeError("gelu needs a float tensor")
    return x * _normal_cdf(x)


def _dense(x, w, b):
    return torch.addmm(b, x.reshape(-1, x.shape[-1]), w.t()).reshape(*x.shape[:-1], w.shape[0])


def feed_forward(x, params):
    inner = gelu(_dense(x, params["w1"], params["b1"]))
    return _dense(inner, params["w2"], params["b2"])


def _sublayer_attention(x, params, num_heads, mask):
    out, _ = multi_head_attention(x, x, params, num_heads, mask)
    return out


def _norm(x, params, n):
    return layer_norm(x, params["ln%d_w" % n], params["ln%d_b" % n])


def encoder_block(x, params, num_heads, mask=None, norm_first=True):
    if norm_first:
        h = x + _sublayer_attention(_norm(x, params, 1), params, num_heads, mask)
        return h + feed_forward(_norm(h, params, 2), params)
    h = _norm(x + _sublayer_attention(x, params, num_heads, mask), params, 1)
    return _norm(h + feed_forward(h, params), params, 2)


def _mean_pool(hidden, attention_mask):
    if attention_mask is None:
        return hidden.mean(dim=1)
    weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * weights).sum(dim=1)
    counts = weights.sum(dim=1)
    counts[counts == 0] = 1
    return summed / counts


def pool_hidden_states(hidden, attention_mask, strategy="cls"):
    poolers = {"cls": lambda h, m: h[:, 0], "mean": _mean_pool}
    if strategy not in poolers:
        raise ValueError(f"strategy {strategy!r} unknown")
    return poolers[strategy](hidden, attention_mask)

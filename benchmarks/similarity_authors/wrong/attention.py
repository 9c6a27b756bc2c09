import torch
import torch.nn.functional as F


def scaled_dot_product_attention(q, k, v, mask=None):
    logits = torch.bmm(q.flatten(0, -3), k.flatten(0, -3).transpose(1, 2)).view(*q.shape[:-1], k.shape[-2])
    # bug: no 1/sqrt(d_k) scaling
    if mask is not None:
        logits = logits + (~mask).float() * -1e9
    attn = F.softmax(logits, dim=-1)
    out = torch.bmm(attn.flatten(0, -3), v.flatten(0, -3)).view(*attn.shape[:-1], v.shape[-1])
    return out, attn


def split_heads(x, num_heads):
    # bug: reshapes straight to (B, H, T, d), mixing positions and features
    b, t, d = x.shape
    return x.reshape(b, num_heads, t, d // num_heads)


def merge_heads(x):
    b, h, t, d = x.shape
    return x.reshape(b, t, h * d)


def multi_head_attention(x_q, x_kv, params, num_heads, mask=None):
    # bug: projects with w instead of w^T and forgets the output bias
    q = x_q @ params["w_q"] + params["b_q"]
    k = x_kv @ params["w_k"] + params["b_k"]
    v = x_kv @ params["w_v"] + params["b_v"]
    heads_out, heads_w = scaled_dot_product_attention(
        split_heads(q, num_heads), split_heads(k, num_heads), split_heads(v, num_heads), mask
    )
    return merge_heads(heads_out) @ params["w_o"], heads_w

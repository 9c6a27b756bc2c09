import torch


def scaled_dot_product_attention(q, k, v, mask=None):
    d = q.size(-1)
    s = torch.einsum("...ld,...sd->...ls", q, k) * d ** -0.5
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    p = s.softmax(-1)
    if mask is not None:
        p = p.masked_fill(~mask, 0.0)
    return torch.einsum("...ls,...sd->...ld", p, v), p


def split_heads(x, num_heads):
    B, T, D = x.shape
    assert D % num_heads == 0, "D must be a multiple of num_heads"
    return x.view(B, T, num_heads, D // num_heads).permute(0, 2, 1, 3)


def merge_heads(x):
    B, H, T, d = x.shape
    return x.permute(0, 2, 1, 3).contiguous().view(B, T, H * d)


def multi_head_attention(x_q, x_kv, params, num_heads, mask=None):
    W = params
    proj = lambda t, n: torch.addmm(W["b_" + n], t.flatten(0, 1), W["w_" + n].T).view(*t.shape[:2], -1)  # noqa: E731
    q, k, v = (split_heads(proj(t, n), num_heads) for t, n in ((x_q, "q"), (x_kv, "k"), (x_kv, "v")))
    ctx, att = scaled_dot_product_attention(q, k, v, mask)
    return proj(merge_heads(ctx), "o"), att

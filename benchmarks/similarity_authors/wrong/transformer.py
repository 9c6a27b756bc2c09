import math

import torch

from exercises.attention import multi_head_attention


def layer_norm(x, weight, bias, eps=1e-5):
    # bug: unbiased variance (divides by D - 1) and eps outside the square root
    m = torch.mean(x, -1, True)
    sd = torch.std(x, -1, keepdim=True)
    out = (x - m) / (sd + eps)
    if weight is not None:
        out = weight * out
    if bias is not None:
        out = bias + out
    return out


def gelu(x):
    # bug: the tanh approximation
    c = math.sqrt(2 / math.pi)
    return 0.5 * x * (1 + torch.tanh(c * (x + 0.044715 * torch.pow(x, 3))))


def feed_forward(x, params):
    # bug: ReLU instead of GELU
    a = torch.relu(x @ params["w1"].T + params["b1"])
    return a @ params["w2"].T + params["b2"]


def encoder_block(x, params, num_heads, mask=None, norm_first=True):
    # bug: Pre-LN and Post-LN swapped, and the second residual forgotten
    a = multi_head_attention(x, x, params, num_heads, mask)[0]
    if not norm_first:
        y = x + a
        return feed_forward(layer_norm(y, params["ln2_w"], params["ln2_b"]), params)
    y = layer_norm(x + a, params["ln1_w"], params["ln1_b"])
    return layer_norm(feed_forward(y, params), params["ln2_w"], params["ln2_b"])


def pool_hidden_states(hidden, attention_mask, strategy="cls"):
    if strategy == "mean":
        # bug: averages over every position, padding included
        return hidden.sum(1) / hidden.shape[1]
    return hidden[:, -1]  # bug: the last position, not [CLS]

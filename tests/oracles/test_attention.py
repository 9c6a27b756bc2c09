"""The reference attention equals PyTorch's own attention.

Oracles: ``torch.nn.functional.scaled_dot_product_attention`` (bool mask, True = may attend;
its weights are read off by attending over an identity matrix of values) and
``torch.nn.MultiheadAttention(batch_first=True)`` with the projections copied in (its bool
masks mean the opposite, so they are inverted). Head splitting and merging are checked
against element-by-element loops.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from reference import attention as ref

SEEDS = [0, 1, 2]
DTYPES = [torch.float64, torch.float32, torch.bfloat16]

# (atol, rtol) for reference vs torch computed in the same dtype.
# float64: both are exact up to a different summation order (~1e-15 relative).
# float32: the same, at ~1e-7 per operation over sums of at most a few dozen terms.
# bfloat16: 8-bit mantissa (2^-9 relative rounding per stored value); scores, weights and
#   outputs are each rounded, in different places by each implementation: measured
#   differences reach about 1e-2 on top of 1.6e-2 relative, hence 2e-2 / 2e-2.
TOL = {
    torch.float64: (1e-12, 1e-10),
    torch.float32: (1e-5, 1e-5),
    torch.bfloat16: (2e-2, 2e-2),
}


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(g: torch.Generator, *shape: int, dtype=torch.float64, device="cpu") -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=torch.float64).to(device=device, dtype=dtype)


def torch_weights(q, k, mask=None):
    """Oracle for the attention weights: SDPA with v = identity returns the weights."""
    eye = torch.eye(k.shape[-2], dtype=q.dtype, device=q.device)
    return F.scaled_dot_product_attention(q, k, eye.expand(*k.shape[:-1], k.shape[-2]), attn_mask=mask)


def assert_close(got, expected, dtype):
    atol, rtol = TOL[dtype]
    assert got.dtype == expected.dtype and got.device == expected.device
    torch.testing.assert_close(got, expected, atol=atol, rtol=rtol)


# --- scaled_dot_product_attention ----------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_sdpa_equals_torch_sdpa_without_mask(seed, dtype, device):
    """Oracle: F.scaled_dot_product_attention, with L != S and d_k != d_v."""
    g = generator(seed)
    q = randn(g, 2, 3, 5, 8, dtype=dtype, device=device)
    k = randn(g, 2, 3, 7, 8, dtype=dtype, device=device)
    v = randn(g, 2, 3, 7, 6, dtype=dtype, device=device)
    output, weights = ref.scaled_dot_product_attention(q, k, v)
    assert output.shape == (2, 3, 5, 6) and weights.shape == (2, 3, 5, 7)
    assert_close(output, F.scaled_dot_product_attention(q, k, v), dtype)
    assert_close(weights, torch_weights(q, k), dtype)


MASK_SHAPES = {
    "LxS": (5, 7),
    "Bx1x1xS (padding)": (2, 1, 1, 7),
    "Bx1xLxS": (2, 1, 5, 7),
    "BxHxLxS": (2, 3, 5, 7),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask_shape", list(MASK_SHAPES))
@pytest.mark.parametrize("seed", SEEDS)
def test_sdpa_equals_torch_sdpa_with_broadcast_mask(seed, mask_shape, dtype, device):
    """Oracle: F.scaled_dot_product_attention(attn_mask=bool mask), masks broadcast from
    (L, S), (B, 1, 1, S), (B, 1, L, S) and (B, H, L, S); no row fully masked here."""
    g = generator(seed)
    q = randn(g, 2, 3, 5, 4, dtype=dtype, device=device)
    k = randn(g, 2, 3, 7, 4, dtype=dtype, device=device)
    v = randn(g, 2, 3, 7, 3, dtype=dtype, device=device)
    mask = torch.rand(MASK_SHAPES[mask_shape], generator=g) < 0.6
    mask[..., 0] = True  # key 0 always visible: every row keeps at least one key
    mask = mask.to(device)
    output, weights = ref.scaled_dot_product_attention(q, k, v, mask)
    assert_close(output, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), dtype)
    assert_close(weights, torch_weights(q, k, mask), dtype)
    assert not weights.masked_select(~mask.expand_as(weights)).any(), "blocked keys got weight"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_sdpa_fully_masked_rows_are_zero_like_torch(seed, dtype, device):
    """Oracle: F.scaled_dot_product_attention's safe softmax gives zero output for a query
    with every key masked; the reference also gives zero weights there and no NaN anywhere."""
    g = generator(seed)
    q = randn(g, 2, 4, 6, dtype=dtype, device=device)
    k = randn(g, 2, 5, 6, dtype=dtype, device=device)
    v = randn(g, 2, 5, 3, dtype=dtype, device=device)
    mask = torch.rand(2, 4, 5, generator=g) < 0.5
    mask[..., 1] = True
    mask[0, 2] = False  # batch 0, query 2 sees nothing
    mask[1, 0] = False  # batch 1, query 0 sees nothing
    mask = mask.to(device)
    output, weights = ref.scaled_dot_product_attention(q, k, v, mask)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert not torch.isnan(output).any() and not torch.isnan(weights).any()
    assert_close(output, expected, dtype)
    assert torch.equal(output[0, 2], torch.zeros_like(output[0, 2]))
    assert torch.equal(weights[0, 2], torch.zeros_like(weights[0, 2]))
    assert torch.equal(weights[1, 0], torch.zeros_like(weights[1, 0]))
    assert_close(weights, torch_weights(q, k, mask), dtype)


@pytest.mark.parametrize("seed", SEEDS)
def test_sdpa_causal_equals_torch_is_causal(seed, device):
    """Oracle: F.scaled_dot_product_attention(is_causal=True) with L == S."""
    g = generator(seed)
    q, k, v = (randn(g, 2, 2, 6, 4, device=device) for _ in range(3))
    mask = torch.ones(6, 6, dtype=torch.bool, device=device).tril()
    output, _ = ref.scaled_dot_product_attention(q, k, v, mask)
    assert_close(output, F.scaled_dot_product_attention(q, k, v, is_causal=True), torch.float64)


def test_sdpa_hand_worked_example():
    """Hand-worked: d_k = 4, scores [2, 0] -> weights [e^2, 1] / (e^2 + 1)."""
    q = torch.tensor([[2.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    k = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    v = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    p = math.exp(2) / (math.exp(2) + 1)
    output, weights = ref.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(weights, torch.tensor([[p, 1 - p]], dtype=torch.float64))
    torch.testing.assert_close(output, torch.tensor([[p]], dtype=torch.float64))


def test_sdpa_does_not_modify_inputs(device):
    """Property: the inputs are unchanged after the call."""
    g = generator(0)
    q, k, v = (randn(g, 2, 3, 4, device=device) for _ in range(3))
    mask = (torch.rand(3, 3, generator=g) < 0.5).to(device)
    copies = [t.clone() for t in (q, k, v, mask)]
    ref.scaled_dot_product_attention(q, k, v, mask)
    for before, after in zip(copies, (q, k, v, mask), strict=True):
        assert torch.equal(before, after)


@pytest.mark.parametrize(
    "shapes, mask, error",
    [
        (((2, 3, 4), (2, 5, 3), (2, 5, 4)), None, ValueError),  # d_k differs
        (((2, 3, 4), (2, 5, 4), (2, 6, 4)), None, ValueError),  # S differs
        (((3, 3, 4), (2, 5, 4), (2, 5, 4)), None, ValueError),  # batch dims don't broadcast
        (((4,), (5, 4), (5, 4)), None, ValueError),  # q is 1-D
        (((3, 4), (5, 4), (5, 4)), torch.ones(3, 4, dtype=torch.bool), ValueError),
        (((3, 4), (5, 4), (5, 4)), torch.ones(3, 5), TypeError),  # float mask
    ],
)
def test_sdpa_rejects_invalid_arguments(shapes, mask, error):
    q, k, v = (torch.randn(*s) for s in shapes)
    with pytest.raises(error):
        ref.scaled_dot_product_attention(q, k, v, mask)


def test_sdpa_rejects_wrong_types():
    x = torch.randn(3, 4)
    with pytest.raises(TypeError, match="q"):
        ref.scaled_dot_product_attention(x.tolist(), x, x)
    with pytest.raises(TypeError):
        ref.scaled_dot_product_attention(x.long(), x.long(), x.long())
    with pytest.raises(TypeError):
        ref.scaled_dot_product_attention(x, x.double(), x)


# --- split_heads / merge_heads --------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_split_heads_equals_loop(seed, device):
    """Oracle: out[b, h, t, :] = x[b, t, h*d:(h+1)*d], element by element."""
    g = generator(seed)
    x = randn(g, 2, 5, 12, device=device)
    for num_heads in (1, 2, 3, 4, 6, 12):
        d = 12 // num_heads
        out = ref.split_heads(x, num_heads)
        assert out.shape == (2, num_heads, 5, d)
        for b in range(2):
            for h in range(num_heads):
                for t in range(5):
                    assert torch.equal(out[b, h, t], x[b, t, h * d:(h + 1) * d])


@pytest.mark.parametrize("seed", SEEDS)
def test_merge_heads_equals_loop(seed, device):
    """Oracle: out[b, t, h*d:(h+1)*d] = x[b, h, t, :], element by element."""
    g = generator(seed)
    x = randn(g, 2, 3, 5, 4, device=device)
    out = ref.merge_heads(x)
    assert out.shape == (2, 5, 12)
    for b in range(2):
        for h in range(3):
            for t in range(5):
                assert torch.equal(out[b, t, h * 4:(h + 1) * 4], x[b, h, t])


def test_merge_heads_inverts_split_heads(device):
    """Property: merge_heads(split_heads(x, H)) == x for every H dividing D."""
    x = torch.randn(3, 4, 24, device=device)
    for num_heads in (1, 2, 3, 4, 6, 8, 12, 24):
        assert torch.equal(ref.merge_heads(ref.split_heads(x, num_heads)), x)


def test_split_and_merge_heads_reject_invalid_arguments():
    with pytest.raises(ValueError, match="num_heads"):
        ref.split_heads(torch.randn(2, 3, 10), 4)
    with pytest.raises(ValueError, match="num_heads"):
        ref.split_heads(torch.randn(2, 3, 8), 0)
    with pytest.raises(TypeError, match="num_heads"):
        ref.split_heads(torch.randn(2, 3, 8), 2.0)
    with pytest.raises(ValueError, match="x"):
        ref.split_heads(torch.randn(3, 8), 2)
    with pytest.raises(ValueError, match="x"):
        ref.merge_heads(torch.randn(2, 3, 8))
    with pytest.raises(TypeError, match="x"):
        ref.merge_heads([[1.0]])


# --- multi_head_attention -------------------------------------------------------------------


def make_params(g, d_model, dtype, device):
    scale = d_model ** -0.5  # keep the projections' outputs at unit scale
    return {
        name: (randn(g, d_model, d_model) * scale if name.startswith("w_") else randn(g, d_model) * 0.1)
        .to(device=device, dtype=dtype)
        for name in ref.PARAM_NAMES
    }


def torch_mha(params, num_heads):
    """The oracle module with the same projections: in_proj_weight = cat(w_q, w_k, w_v)."""
    w_q = params["w_q"]
    d_model = w_q.shape[0]
    module = nn.MultiheadAttention(d_model, num_heads, batch_first=True, dropout=0.0)
    module = module.to(device=w_q.device, dtype=w_q.dtype)
    with torch.no_grad():
        module.in_proj_weight.copy_(torch.cat([params["w_q"], params["w_k"], params["w_v"]]))
        module.in_proj_bias.copy_(torch.cat([params["b_q"], params["b_k"], params["b_v"]]))
        module.out_proj.weight.copy_(params["w_o"])
        module.out_proj.bias.copy_(params["b_o"])
    return module


def oracle_mha(params, num_heads, x_q, x_kv, mask):
    """nn.MultiheadAttention with our mask converted: True = blocked, (B*H, L, S) or (L, S)."""
    module = torch_mha(params, num_heads)
    batch, q_len, _ = x_q.shape
    k_len = x_kv.shape[1]
    kwargs = {}
    if mask is not None and mask.dim() == 2:
        kwargs["attn_mask"] = ~mask
    elif mask is not None and mask.shape[1:3] == (1, 1):
        kwargs["key_padding_mask"] = ~mask[:, 0, 0, :]  # (B, 1, 1, S) -> (B, S)
    elif mask is not None:
        full = mask.expand(batch, num_heads, q_len, k_len)
        kwargs["attn_mask"] = ~full.reshape(batch * num_heads, q_len, k_len)  # (B*H, L, S)
    with torch.no_grad():
        return module(x_q, x_kv, x_kv, need_weights=True, average_attn_weights=False, **kwargs)


MHA_MASKS = ["none", "causal LxS", "padding Bx1x1xS", "per-head BxHxLxS"]


def make_mask(kind, g, batch, heads, q_len, k_len, device):
    if kind == "none":
        return None
    if kind == "causal LxS":
        return torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril(k_len - q_len)
    shape = (batch, 1, 1, k_len) if kind.startswith("padding") else (batch, heads, q_len, k_len)
    mask = torch.rand(shape, generator=g) < 0.6
    mask[..., 0] = True  # every row keeps a key (fully masked rows have their own test)
    return mask.to(device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask_kind", MHA_MASKS)
@pytest.mark.parametrize("seed", SEEDS)
def test_mha_equals_torch_multihead_attention(seed, mask_kind, dtype, device):
    """Oracle: nn.MultiheadAttention(batch_first=True), average_attn_weights=False; cross
    attention with L != S."""
    g = generator(seed)
    batch, q_len, k_len, d_model, heads = 2, 5, 7, 12, 3
    params = make_params(g, d_model, dtype, device)
    x_q = randn(g, batch, q_len, d_model, dtype=dtype, device=device)
    x_kv = randn(g, batch, k_len, d_model, dtype=dtype, device=device)
    mask = make_mask(mask_kind, g, batch, heads, q_len, k_len, device)
    output, weights = ref.multi_head_attention(x_q, x_kv, params, heads, mask)
    expected_output, expected_weights = oracle_mha(params, heads, x_q, x_kv, mask)
    assert output.shape == (batch, q_len, d_model) and weights.shape == (batch, heads, q_len, k_len)
    # bfloat16: the oracle rounds the same projections in the same dtype; see TOL.
    assert_close(output, expected_output, dtype)
    assert_close(weights, expected_weights, dtype)


@pytest.mark.parametrize("seed", SEEDS)
def test_mha_self_attention_equals_torch(seed, device):
    """Oracle: nn.MultiheadAttention with query = key = value (self-attention), H = 4."""
    g = generator(seed)
    params = make_params(g, 16, torch.float64, device)
    x = randn(g, 3, 6, 16, device=device)
    output, weights = ref.multi_head_attention(x, x, params, 4)
    expected_output, expected_weights = oracle_mha(params, 4, x, x, None)
    assert_close(output, expected_output, torch.float64)
    assert_close(weights, expected_weights, torch.float64)


@pytest.mark.parametrize("seed", SEEDS)
def test_mha_fully_masked_rows(seed, device):
    """Oracle: nn.MultiheadAttention on the rows it defines (it returns NaN where a head sees
    no key); where no head sees a key, the reference returns b_o and zero weights."""
    g = generator(seed)
    batch, q_len, k_len, d_model, heads = 2, 4, 5, 8, 2
    params = make_params(g, d_model, torch.float64, device)
    x_q = randn(g, batch, q_len, d_model, device=device)
    x_kv = randn(g, batch, k_len, d_model, device=device)
    mask = torch.rand(batch, heads, q_len, k_len, generator=g) < 0.6
    mask[..., 0] = True
    mask[0, :, 1] = False  # batch 0, query 1: no key in any head
    mask[1, 1, 2] = False  # batch 1, query 2: no key in head 1 only
    mask = mask.to(device)
    output, weights = ref.multi_head_attention(x_q, x_kv, params, heads, mask)
    expected_output, expected_weights = oracle_mha(params, heads, x_q, x_kv, mask)
    defined = ~torch.isnan(expected_output).any(dim=-1)  # (B, L)
    assert not defined[0, 1] and not defined[1, 2]
    assert defined.sum() == batch * q_len - 2
    assert_close(output[defined], expected_output[defined], torch.float64)
    torch.testing.assert_close(output[0, 1], params["b_o"], atol=1e-12, rtol=0)
    assert torch.equal(weights[0, :, 1], torch.zeros_like(weights[0, :, 1]))
    assert torch.equal(weights[1, 1, 2], torch.zeros_like(weights[1, 1, 2]))
    weights_defined = ~torch.isnan(expected_weights)
    assert_close(weights[weights_defined], expected_weights[weights_defined], torch.float64)
    assert not torch.isnan(output).any()


def test_mha_does_not_modify_inputs(device):
    g = generator(3)
    params = make_params(g, 8, torch.float64, device)
    x = randn(g, 2, 3, 8, device=device)
    mask = torch.ones(3, 3, dtype=torch.bool, device=device).tril()
    before = {name: t.clone() for name, t in params.items()}, x.clone(), mask.clone()
    ref.multi_head_attention(x, x, params, 2, mask)
    assert all(torch.equal(before[0][n], params[n]) for n in params)
    assert torch.equal(before[1], x) and torch.equal(before[2], mask)


def test_mha_rejects_invalid_arguments():
    g = generator(0)
    params = make_params(g, 8, torch.float32, "cpu")
    x = torch.randn(2, 3, 8)
    with pytest.raises(ValueError, match="num_heads"):
        ref.multi_head_attention(x, x, params, 3)  # 8 % 3 != 0
    with pytest.raises(ValueError, match="w_o"):
        ref.multi_head_attention(x, x, {k: v for k, v in params.items() if k != "w_o"}, 2)
    with pytest.raises(ValueError, match="b_q"):
        ref.multi_head_attention(x, x, {**params, "b_q": torch.zeros(7)}, 2)
    with pytest.raises(ValueError, match="x_kv"):
        ref.multi_head_attention(x, torch.randn(2, 3, 6), params, 2)
    with pytest.raises(ValueError, match="mask"):
        ref.multi_head_attention(x, x, params, 2, torch.ones(4, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask"):
        ref.multi_head_attention(x, x, params, 2, torch.ones(5, 2, 2, 3, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match="mask"):
        ref.multi_head_attention(x, x, params, 2, torch.ones(3, 3))
    with pytest.raises(TypeError, match="params"):
        ref.multi_head_attention(x, x, list(params.values()), 2)

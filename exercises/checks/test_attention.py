"""Public checks for lab 2.3.1, attention (run: pytest exercises/checks/test_attention.py).

Your functions are compared with PyTorch's own attention (``F.scaled_dot_product_attention``
and ``nn.MultiheadAttention``), with small examples worked out by hand, and with properties
every correct attention has (weights sum to 1 over the keys, inputs left unchanged).
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from autograder.checking import CheckFailure, assert_close, expect_error
from autograder.inputs import randn

SDPA = "attention.scaled_dot_product_attention"
PARAM_NAMES = ("w_q", "b_q", "w_k", "b_k", "w_v", "b_v", "w_o", "b_o")


def unpack_pair(result, what):
    """The result must be an (output, weights) pair."""
    if not isinstance(result, tuple) or len(result) != 2:
        raise CheckFailure(f"{what}: got {type(result).__name__}, expected a tuple (output, weights)")
    return result


def torch_weights(q, k, mask=None):
    """PyTorch's attention weights: attending over identity values returns the weights."""
    eye = torch.eye(k.shape[-2], dtype=q.dtype, device=q.device)
    return F.scaled_dot_product_attention(q, k, eye.expand(*k.shape[:-1], k.shape[-2]), attn_mask=mask)


def check_shape_and_dtype(got, shape, dtype, name):
    if type(got) is not torch.Tensor:
        raise CheckFailure(f"{name}: got a {type(got).__name__}, expected a torch.Tensor")
    if tuple(got.shape) != tuple(shape):
        raise CheckFailure(f"{name}: got shape {tuple(got.shape)}, expected {tuple(shape)}")
    if got.dtype != dtype:
        raise CheckFailure(f"{name}: got dtype {got.dtype}, expected {dtype}")


# --- scaled_dot_product_attention ----------------------------------------------------------


@pytest.mark.function(SDPA)
def test_sdpa_hand_worked_example(impl):
    """d_k = 4 (scale 1/2): scores [2, 0], weights [e^2, 1] / (e^2 + 1), output 0.8808."""
    q = torch.tensor([[2.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    k = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    v = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    p = math.exp(2) / (math.exp(2) + 1)
    output, weights = unpack_pair(impl.attention.scaled_dot_product_attention(q, k, v), "result")
    assert_close(weights, torch.tensor([[p, 1 - p]], dtype=torch.float64), name="weights")
    assert_close(output, torch.tensor([[p]], dtype=torch.float64), name="output")


@pytest.mark.function(SDPA)
def test_sdpa_matches_pytorch(impl, rng, device):
    """Batched (B, H, L, d) inputs with L != S, compared with F.scaled_dot_product_attention."""
    q = randn(rng, 2, 3, 4, 8, device=device)
    k = randn(rng, 2, 3, 6, 8, device=device)
    v = randn(rng, 2, 3, 6, 5, device=device)
    output, weights = unpack_pair(impl.attention.scaled_dot_product_attention(q, k, v), "result")
    assert_close(weights, torch_weights(q, k), name="weights")
    assert_close(output, F.scaled_dot_product_attention(q, k, v), name="output")


@pytest.mark.function(SDPA)
def test_sdpa_weights_sum_to_one_over_keys(impl, rng, device):
    """Each query's weights are a distribution over the keys: rows (last dim) sum to 1."""
    q = randn(rng, 5, 4, device=device)
    k = randn(rng, 3, 4, device=device)
    v = randn(rng, 3, 2, device=device)
    _, weights = unpack_pair(impl.attention.scaled_dot_product_attention(q, k, v), "result")
    check_shape_and_dtype(weights, (5, 3), torch.float64, name="weights")
    assert_close(weights.sum(dim=-1), torch.ones(5, dtype=torch.float64, device=device),
                 name="weights.sum(dim=-1)")


@pytest.mark.function(SDPA)
@pytest.mark.parametrize("mask_shape", [(4, 6), (2, 1, 1, 6), (2, 3, 4, 6)],
                         ids=["(L,S) mask", "(B,1,1,S) padding mask", "(B,H,L,S) mask"])
def test_sdpa_with_mask_matches_pytorch(impl, rng, device, mask_shape):
    """A bool mask (True = may attend) broadcast to (B, H, L, S), compared with PyTorch."""
    q = randn(rng, 2, 3, 4, 8, device=device)
    k = randn(rng, 2, 3, 6, 8, device=device)
    v = randn(rng, 2, 3, 6, 5, device=device)
    mask = torch.rand(mask_shape, generator=rng) < 0.5
    mask[..., 0] = True  # every query keeps at least one key here
    mask = mask.to(device)
    output, weights = unpack_pair(impl.attention.scaled_dot_product_attention(q, k, v, mask), "result")
    assert_close(weights, torch_weights(q, k, mask), name="weights")
    assert_close(weights.sum(dim=-1), torch.ones(2, 3, 4, dtype=torch.float64, device=device),
                 name="weights.sum(dim=-1) with a mask")
    assert_close(output, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), name="output")


@pytest.mark.function(SDPA)
def test_sdpa_fully_masked_query_gives_zeros_not_nan(impl, rng, device):
    """A query that may attend to no key gets zero weights and a zero output (no NaN)."""
    q = randn(rng, 3, 4, device=device)
    k = randn(rng, 5, 4, device=device)
    v = randn(rng, 5, 2, device=device)
    mask = torch.ones(3, 5, dtype=torch.bool, device=device)
    mask[1] = False  # query 1 sees nothing
    output, weights = unpack_pair(impl.attention.scaled_dot_product_attention(q, k, v, mask), "result")
    zeros = torch.zeros(5, dtype=torch.float64, device=device)
    assert_close(weights[1], zeros, name="weights of the fully masked query")
    assert_close(output[1], zeros[:2], name="output of the fully masked query")
    assert_close(output, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), name="output")


@pytest.mark.function(SDPA)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_sdpa_keeps_dtype_and_inputs(impl, rng, device, dtype):
    """Outputs stay in the inputs' dtype and device; the inputs are not modified."""
    q, k, v = (randn(rng, 2, 4, 8, dtype=dtype, device=device) for _ in range(3))
    mask = torch.ones(4, 4, dtype=torch.bool, device=device).tril()
    copies = [t.clone() for t in (q, k, v, mask)]
    output, weights = unpack_pair(impl.attention.scaled_dot_product_attention(q, k, v, mask), "result")
    # bfloat16 keeps 8 bits of mantissa: compare loosely, the point here is the dtype.
    tol = {"atol": 3e-2, "rtol": 3e-2} if dtype == torch.bfloat16 else {}
    assert_close(output, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), name="output", **tol)
    assert_close(weights, torch_weights(q, k, mask), name="weights", **tol)
    for name, before, after in zip(("q", "k", "v", "mask"), copies, (q, k, v, mask), strict=True):
        assert_close(after, before, name=f"{name} after the call (must not change)")


@pytest.mark.function(SDPA)
def test_sdpa_rejects_mismatched_shapes(impl):
    """q and k must share d_k; k and v must share S."""
    q, k, v = torch.randn(3, 4), torch.randn(5, 4), torch.randn(5, 2)
    expect_error(ValueError, impl.attention.scaled_dot_product_attention, q, torch.randn(5, 3), v,
                 what="q with d_k = 4 and k with d_k = 3")
    expect_error(ValueError, impl.attention.scaled_dot_product_attention, q, k, torch.randn(6, 2),
                 what="k with 5 keys and v with 6")


# --- split_heads / merge_heads --------------------------------------------------------------


@pytest.mark.function("attention.split_heads")
def test_split_heads_hand_worked_example(impl):
    """(1, 2, 4) with 2 heads: head 0 takes features 0-1, head 1 features 2-3."""
    x = torch.arange(8.0).reshape(1, 2, 4)
    expected = torch.tensor([[[[0.0, 1.0], [4.0, 5.0]], [[2.0, 3.0], [6.0, 7.0]]]])
    assert_close(impl.attention.split_heads(x, 2), expected, name="split_heads(x, 2)")


@pytest.mark.function("attention.split_heads")
@pytest.mark.parametrize("num_heads", [1, 3, 4])
def test_split_heads_puts_each_feature_in_its_head(impl, rng, device, num_heads):
    """out[b, h, t, :] must be x[b, t, h*d:(h+1)*d]."""
    x = randn(rng, 2, 5, 12, device=device)
    d = 12 // num_heads
    expected = torch.empty(2, num_heads, 5, d, dtype=x.dtype, device=device)
    for h in range(num_heads):
        expected[:, h] = x[:, :, h * d:(h + 1) * d]
    assert_close(impl.attention.split_heads(x, num_heads), expected, name=f"split_heads(x, {num_heads})")


@pytest.mark.function("attention.split_heads")
def test_split_heads_rejects_indivisible_width(impl):
    """D = 10 cannot be split into 4 heads."""
    expect_error(ValueError, impl.attention.split_heads, torch.randn(2, 3, 10), 4,
                 what="split_heads with D = 10 and num_heads = 4")


@pytest.mark.function("attention.merge_heads")
def test_merge_heads_hand_worked_example(impl):
    """(1, 2, 2, 2) -> (1, 2, 4): head 0's features, then head 1's, at each position."""
    x = torch.tensor([[[[0.0, 1.0], [4.0, 5.0]], [[2.0, 3.0], [6.0, 7.0]]]])
    assert_close(impl.attention.merge_heads(x), torch.arange(8.0).reshape(1, 2, 4), name="merge_heads(x)")


@pytest.mark.function("attention.merge_heads")
def test_merge_heads_concatenates_heads_in_order(impl, rng, device):
    """out[b, t, h*d:(h+1)*d] must be x[b, h, t, :]."""
    x = randn(rng, 2, 3, 5, 4, device=device)
    expected = torch.cat([x[:, h] for h in range(3)], dim=-1)  # (B, T, 3*d), heads in order
    assert_close(impl.attention.merge_heads(x), expected, name="merge_heads(x)")


# --- multi_head_attention -------------------------------------------------------------------


def random_params(rng, d_model, device):
    return {
        name: (randn(rng, d_model, d_model, device=device) * d_model ** -0.5 if name.startswith("w")
               else randn(rng, d_model, device=device) * 0.1)
        for name in PARAM_NAMES
    }


def pytorch_mha(params, num_heads):
    """nn.MultiheadAttention holding the same projections (q, k, v stacked in in_proj)."""
    d_model = params["w_q"].shape[0]
    module = nn.MultiheadAttention(d_model, num_heads, batch_first=True)
    module = module.to(device=params["w_q"].device, dtype=params["w_q"].dtype)
    with torch.no_grad():
        module.in_proj_weight.copy_(torch.cat([params["w_q"], params["w_k"], params["w_v"]]))
        module.in_proj_bias.copy_(torch.cat([params["b_q"], params["b_k"], params["b_v"]]))
        module.out_proj.weight.copy_(params["w_o"])
        module.out_proj.bias.copy_(params["b_o"])
    return module


@pytest.mark.function("attention.multi_head_attention")
def test_mha_hand_worked_example(impl):
    """Identity projections, D = 2, H = 2: each head attends over one feature."""
    x = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)
    params = {n: torch.eye(2, dtype=torch.float64) if n.startswith("w") else torch.zeros(2, dtype=torch.float64)
              for n in PARAM_NAMES}
    a, b = math.e / (math.e + 1), 1 / (math.e + 1)  # softmax([1, 0])
    output, weights = unpack_pair(impl.attention.multi_head_attention(x, x, params, 2), "result")
    expected_weights = torch.tensor([[[[a, b], [0.5, 0.5]], [[0.5, 0.5], [b, a]]]], dtype=torch.float64)
    assert_close(weights, expected_weights, name="weights")
    assert_close(output, torch.tensor([[[a, 0.5], [0.5, a]]], dtype=torch.float64), name="output")


@pytest.mark.function("attention.multi_head_attention")
@pytest.mark.parametrize("mask_kind", ["no mask", "causal (L,S) mask", "(B,1,1,S) padding mask"])
def test_mha_matches_pytorch(impl, rng, device, mask_kind):
    """Cross-attention (L = 4, S = 6, D = 12, H = 3) against nn.MultiheadAttention
    (whose bool masks mean 'blocked', hence the ~)."""
    params = random_params(rng, 12, device)
    x_q = randn(rng, 2, 4, 12, device=device)
    x_kv = randn(rng, 2, 6, 12, device=device)
    mask, kwargs = None, {}
    if mask_kind.startswith("causal"):
        mask = torch.ones(4, 6, dtype=torch.bool, device=device).tril(2)
        kwargs["attn_mask"] = ~mask
    elif mask_kind.startswith("(B,1,1,S)"):
        keep = torch.ones(2, 6, dtype=torch.bool, device=device)
        keep[0, 4:] = False
        keep[1, :1] = False
        mask = keep[:, None, None, :]
        kwargs["key_padding_mask"] = ~keep
    with torch.no_grad():
        expected_output, expected_weights = pytorch_mha(params, 3)(
            x_q, x_kv, x_kv, need_weights=True, average_attn_weights=False, **kwargs)
    output, weights = unpack_pair(impl.attention.multi_head_attention(x_q, x_kv, params, 3, mask), "result")
    assert_close(weights, expected_weights, name="per-head weights (B, H, L, S)")
    assert_close(output, expected_output, name="output")


@pytest.mark.function("attention.multi_head_attention")
def test_mha_query_that_sees_nothing_outputs_b_o(impl, rng, device):
    """A query masked out in every head has zero context, so its output is exactly b_o."""
    params = random_params(rng, 8, device)
    x = randn(rng, 1, 3, 8, device=device)
    mask = torch.ones(3, 3, dtype=torch.bool, device=device)
    mask[2] = False
    output, weights = unpack_pair(impl.attention.multi_head_attention(x, x, params, 2, mask), "result")
    assert_close(weights[0, :, 2], torch.zeros(2, 3, dtype=torch.float64, device=device), name="weights of query 2")
    assert_close(output[0, 2], params["b_o"], name="output of query 2")


@pytest.mark.function("attention.multi_head_attention")
def test_mha_rejects_indivisible_heads(impl, rng):
    """D = 8 cannot be split into 3 heads."""
    params = random_params(rng, 8, "cpu")
    x = randn(rng, 1, 3, 8)
    expect_error(ValueError, impl.attention.multi_head_attention, x, x, params, 3,
                 what="multi_head_attention with D = 8 and num_heads = 3")

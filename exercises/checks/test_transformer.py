"""Public checks for labs 2.3.2 and 2.3.5 (run: pytest exercises/checks/test_transformer.py).

Your functions are compared with PyTorch (``F.layer_norm``, ``F.gelu``, ``nn.Linear``,
``nn.TransformerEncoderLayer``) and with small examples worked out by hand.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from autograder.checking import assert_close, expect_error
from autograder.inputs import randn

ATTENTION_NAMES = ("w_q", "b_q", "w_k", "b_k", "w_v", "b_v", "w_o", "b_o")


# --- layer_norm -----------------------------------------------------------------------------


@pytest.mark.function("transformer.layer_norm")
def test_layer_norm_hand_worked(impl):
    """[1, 2, 3]: mean 2, biased variance 2/3, so [-1, 0, 1] / sqrt(2/3 + 1e-5)."""
    x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    expected = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64) / math.sqrt(2 / 3 + 1e-5)
    got = impl.transformer.layer_norm(x, torch.ones(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64))
    assert_close(got, expected, name="layer_norm([1, 2, 3])")


@pytest.mark.function("transformer.layer_norm")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_layer_norm_matches_pytorch(impl, rng, device, dtype):
    """(B, T, D) inputs with a learned scale and shift, compared with F.layer_norm."""
    x = randn(rng, 2, 5, 16, dtype=dtype, device=device, scale=3.0) + 1.0
    weight = randn(rng, 16, dtype=dtype, device=device)
    bias = randn(rng, 16, dtype=dtype, device=device)
    expected = F.layer_norm(x, (16,), weight, bias, eps=1e-5)
    assert_close(impl.transformer.layer_norm(x, weight, bias), expected, name="layer_norm(x, weight, bias)")


@pytest.mark.function("transformer.layer_norm")
def test_layer_norm_eps_and_bfloat16(impl, rng, device):
    """A large eps changes the result as in F.layer_norm; bfloat16 in gives bfloat16 out."""
    x = randn(rng, 3, 8, device=device)
    weight, bias = randn(rng, 8, device=device), randn(rng, 8, device=device)
    expected = F.layer_norm(x, (8,), weight, bias, eps=0.5)
    assert_close(impl.transformer.layer_norm(x, weight, bias, 0.5), expected, name="layer_norm(..., eps=0.5)")
    xb, wb, bb = x.bfloat16(), weight.bfloat16(), bias.bfloat16()
    expected = F.layer_norm(xb, (8,), wb, bb, eps=1e-5)
    # bfloat16 keeps 8 bits of mantissa: compare loosely, the point here is the dtype.
    assert_close(impl.transformer.layer_norm(xb, wb, bb), expected, name="layer_norm in bfloat16",
                 atol=3e-2, rtol=3e-2)


# --- gelu -----------------------------------------------------------------------------------


@pytest.mark.function("transformer.gelu")
def test_gelu_hand_worked(impl):
    """gelu(x) = x * Phi(x): gelu(0) = 0, gelu(1) = Phi(1) = 0.8413, gelu(-1) = -0.1587."""
    phi1 = 0.5 * (1 + math.erf(1 / math.sqrt(2)))
    x = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
    expected = torch.tensor([phi1 - 1, 0.0, phi1], dtype=torch.float64)
    assert_close(impl.transformer.gelu(x), expected, name="gelu([-1, 0, 1])")


@pytest.mark.function("transformer.gelu")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_gelu_matches_pytorch_exact_gelu(impl, device, dtype):
    """On a grid from -6 to 6, compared with F.gelu (the exact erf form)."""
    x = torch.linspace(-6, 6, 241, dtype=dtype, device=device)
    assert_close(impl.transformer.gelu(x), F.gelu(x), name="gelu(x)")


# --- feed_forward ---------------------------------------------------------------------------


def ffn_params(rng, d_model, d_ff, device):
    return {
        "w1": randn(rng, d_ff, d_model, device=device, scale=d_model ** -0.5),
        "b1": randn(rng, d_ff, device=device, scale=0.1),
        "w2": randn(rng, d_model, d_ff, device=device, scale=d_ff ** -0.5),
        "b2": randn(rng, d_model, device=device, scale=0.1),
    }


@pytest.mark.function("transformer.feed_forward")
def test_feed_forward_hand_worked(impl):
    """D = 1, F = 2: x = 1 -> gelu([1, -1]) = [0.8413, -0.1587] -> sum 0.6827."""
    params = {"w1": torch.tensor([[1.0], [-1.0]]), "b1": torch.zeros(2),
              "w2": torch.tensor([[1.0, 1.0]]), "b2": torch.zeros(1)}
    expected = torch.tensor([[math.erf(1 / math.sqrt(2))]])
    assert_close(impl.transformer.feed_forward(torch.tensor([[1.0]]), params), expected, name="feed_forward")


@pytest.mark.function("transformer.feed_forward")
def test_feed_forward_matches_pytorch(impl, rng, device):
    """Compared with nn.Sequential(nn.Linear(D, F), nn.GELU(), nn.Linear(F, D))."""
    params = ffn_params(rng, 8, 32, device)
    x = randn(rng, 2, 5, 8, device=device)
    module = nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Linear(32, 8)).to(device, torch.float64)
    with torch.no_grad():
        module[0].weight.copy_(params["w1"])
        module[0].bias.copy_(params["b1"])
        module[2].weight.copy_(params["w2"])
        module[2].bias.copy_(params["b2"])
        expected = module(x)
    assert_close(impl.transformer.feed_forward(x, params), expected, name="feed_forward(x)")


# --- encoder_block --------------------------------------------------------------------------


def pytorch_layer(rng, d_model, heads, d_ff, norm_first, device):
    """A TransformerEncoderLayer with random weights, and the same weights as a params dict."""
    layer = nn.TransformerEncoderLayer(d_model, heads, d_ff, dropout=0.0, activation="gelu",
                                       batch_first=True, norm_first=norm_first)
    layer = layer.to(device=device, dtype=torch.float64)
    with torch.no_grad():
        for param in layer.parameters():
            param.copy_(randn(rng, *param.shape, device=device, scale=0.3))
    layer.train()  # dropout is 0.0; train mode keeps PyTorch on its plain (non-fused) path
    d, attn = d_model, layer.self_attn
    params = {
        "w_q": attn.in_proj_weight[:d], "w_k": attn.in_proj_weight[d:2 * d], "w_v": attn.in_proj_weight[2 * d:],
        "b_q": attn.in_proj_bias[:d], "b_k": attn.in_proj_bias[d:2 * d], "b_v": attn.in_proj_bias[2 * d:],
        "w_o": attn.out_proj.weight, "b_o": attn.out_proj.bias,
        "w1": layer.linear1.weight, "b1": layer.linear1.bias, "w2": layer.linear2.weight, "b2": layer.linear2.bias,
        "ln1_w": layer.norm1.weight, "ln1_b": layer.norm1.bias,
        "ln2_w": layer.norm2.weight, "ln2_b": layer.norm2.bias,
    }
    return layer, {name: value.detach().clone() for name, value in params.items()}


@pytest.mark.function("transformer.encoder_block")
@pytest.mark.parametrize("norm_first", [True, False], ids=["Pre-LN", "Post-LN"])
def test_encoder_block_matches_pytorch(impl, rng, device, norm_first):
    """Compared with nn.TransformerEncoderLayer(activation="gelu", dropout=0.0, norm_first=...)."""
    layer, params = pytorch_layer(rng, 12, 3, 24, norm_first, device)
    x = randn(rng, 2, 5, 12, device=device)
    with torch.no_grad():
        expected = layer(x)
    got = impl.transformer.encoder_block(x, params, 3, None, norm_first)
    assert_close(got, expected, name=f"encoder_block(norm_first={norm_first})")


@pytest.mark.function("transformer.encoder_block")
@pytest.mark.parametrize("norm_first", [True, False], ids=["Pre-LN", "Post-LN"])
def test_encoder_block_with_causal_mask_matches_pytorch(impl, rng, device, norm_first):
    """With a causal mask (yours: True = may attend; PyTorch's src_mask: True = blocked)."""
    layer, params = pytorch_layer(rng, 8, 2, 16, norm_first, device)
    x = randn(rng, 2, 4, 8, device=device)
    mask = torch.ones(4, 4, dtype=torch.bool, device=device).tril()
    with torch.no_grad():
        expected = layer(x, src_mask=~mask)
    got = impl.transformer.encoder_block(x, params, 2, mask, norm_first)
    assert_close(got, expected, name=f"encoder_block(causal mask, norm_first={norm_first})")


@pytest.mark.function("transformer.encoder_block")
def test_encoder_block_hand_worked_zero_weights(impl):
    """All projections zero: Pre-LN returns x unchanged, Post-LN returns ln2(ln1(x))."""
    names = ATTENTION_NAMES + ("w1", "b1", "w2", "b2")
    params = {n: torch.zeros(3, 3) if n.startswith("w") else torch.zeros(3) for n in names}
    params.update(ln1_w=torch.ones(3), ln1_b=torch.zeros(3), ln2_w=torch.ones(3), ln2_b=torch.zeros(3))
    x = torch.tensor([[[1.0, 2.0, 3.0]]])
    assert_close(impl.transformer.encoder_block(x, params, 1, None, True), x, name="Pre-LN output")
    once = torch.tensor([-1.0, 0.0, 1.0]) / math.sqrt(2 / 3 + 1e-5)
    twice = once / math.sqrt(float(once.pow(2).mean()) + 1e-5)
    assert_close(impl.transformer.encoder_block(x, params, 1, None, False), twice.reshape(1, 1, 3),
                 name="Post-LN output")


# --- pool_hidden_states ---------------------------------------------------------------------


@pytest.mark.function("transformer.pool_hidden_states")
def test_pool_hidden_states_hand_worked(impl):
    """cls takes position 0; mean averages the positions whose mask is 1."""
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert_close(impl.transformer.pool_hidden_states(hidden, mask, "cls"), torch.tensor([[1.0, 2.0]]), name="cls")
    assert_close(impl.transformer.pool_hidden_states(hidden, mask, "mean"), torch.tensor([[2.0, 3.0]]), name="mean")


@pytest.mark.function("transformer.pool_hidden_states")
def test_pool_mean_of_empty_row_is_zero(impl, rng):
    """A row whose attention_mask is all 0 gives a zero vector, not NaN."""
    hidden = randn(rng, 2, 4, 3)
    mask = torch.tensor([[1, 0, 1, 0], [0, 0, 0, 0]])
    expected = torch.stack([(hidden[0, 0] + hidden[0, 2]) / 2, torch.zeros(3, dtype=torch.float64)])
    assert_close(impl.transformer.pool_hidden_states(hidden, mask, "mean"), expected, name="mean pooling")


@pytest.mark.function("transformer.pool_hidden_states")
def test_pool_rejects_unknown_strategy(impl):
    expect_error(ValueError, impl.transformer.pool_hidden_states, torch.randn(1, 2, 3), torch.ones(1, 2), "max",
                 what="pool_hidden_states(strategy='max')")

"""The reference encoder pieces equal PyTorch's.

Oracles: ``F.layer_norm``, ``F.gelu`` (exact erf form), ``nn.Sequential(nn.Linear, nn.GELU,
nn.Linear)`` for the feed-forward network, ``nn.TransformerEncoderLayer(batch_first=True,
activation="gelu", dropout=0.0, norm_first=...)`` with its weights copied into the params
dict (its bool masks mean True = blocked, so they are inverted), and boolean indexing for
mean pooling.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from reference import transformer as ref

SEEDS = [0, 1, 2]
DTYPES = [torch.float64, torch.float32, torch.bfloat16]

# (atol, rtol) against PyTorch computing in the same dtype.
# float64 / float32: same maths, different summation order (~1e-16 / ~1e-7 per operation).
# bfloat16 (element-wise functions): both round the result once to an 8-bit mantissa
#   (2^-9 relative); the reference's GELU also rounds x/sqrt(2), erf and 1 + erf in bfloat16,
#   a few 2^-9 steps in all, so 1e-2 absolute + 1.6e-2 relative.
TOL = {
    torch.float64: (1e-12, 1e-10),
    torch.float32: (1e-5, 1e-5),
    torch.bfloat16: (1e-2, 1.6e-2),
}


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(g, *shape, dtype=torch.float64, device="cpu", scale=1.0):
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(device=device, dtype=dtype)


def assert_close(got, expected, dtype, tol=None):
    atol, rtol = tol or TOL[dtype]
    assert got.dtype == expected.dtype and got.device == expected.device
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=atol, rtol=rtol)


# --- layer_norm -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("eps", [1e-5, 1e-12, 0.1])
def test_layer_norm_equals_f_layer_norm(seed, dtype, eps, device):
    """Oracle: F.layer_norm over the last dim, with inputs far from zero mean / unit variance."""
    g = generator(seed)
    x = randn(g, 2, 5, 16, dtype=dtype, device=device, scale=3.0) + 2.0
    weight = randn(g, 16, dtype=dtype, device=device)
    bias = randn(g, 16, dtype=dtype, device=device)
    expected = F.layer_norm(x, (16,), weight, bias, eps)
    # The reference, like F.layer_norm, normalises bfloat16 in float32: one final rounding.
    assert_close(ref.layer_norm(x, weight, bias, eps), expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_without_affine_and_constant_rows(dtype, device):
    """Oracle: F.layer_norm(weight=None, bias=None); a constant row normalises to 0."""
    g = generator(5)
    x = randn(g, 3, 7, dtype=dtype, device=device)
    x[1] = 4.0  # var = 0: y = 0 / sqrt(eps) = 0
    expected = F.layer_norm(x, (7,), None, None, 1e-5)
    got = ref.layer_norm(x, None, None)
    assert_close(got, expected, dtype)
    assert torch.equal(got[1], torch.zeros_like(got[1]))


def test_layer_norm_hand_worked():
    """Hand-worked: [1, 2, 3] -> [-1, 0, 1] / sqrt(2/3 + 1e-5)."""
    x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    expected = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64) / math.sqrt(2 / 3 + 1e-5)
    weight, bias = torch.ones(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    torch.testing.assert_close(ref.layer_norm(x, weight, bias), expected)


def test_layer_norm_rejects_invalid_arguments():
    x = torch.randn(2, 4)
    with pytest.raises(ValueError, match="weight"):
        ref.layer_norm(x, torch.ones(3), torch.zeros(4))
    with pytest.raises(ValueError, match="bias"):
        ref.layer_norm(x, torch.ones(4), torch.zeros(4, 1))
    with pytest.raises(ValueError, match="eps"):
        ref.layer_norm(x, None, None, eps=-1.0)
    with pytest.raises(TypeError, match="x"):
        ref.layer_norm(x.long(), None, None)


# --- gelu -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_gelu_equals_f_gelu_exact(seed, dtype, device):
    """Oracle: F.gelu(x) (approximate='none', the erf form), on N(0, 3^2) and a fine grid."""
    g = generator(seed)
    x = torch.cat([randn(g, 1000, scale=3.0), torch.linspace(-8, 8, 1601, dtype=torch.float64)])
    x = x.to(device=device, dtype=dtype)
    assert_close(ref.gelu(x), F.gelu(x), dtype)


def test_gelu_hand_worked_and_not_tanh():
    """Hand-worked: gelu(1) = Phi(1) = 0.841345, gelu(-1) = -(1 - Phi(1)), gelu(0) = 0; the
    tanh approximation (F.gelu(approximate='tanh')) differs by about 4e-4 at x = 3."""
    x = torch.tensor([-1.0, 0.0, 1.0, 2.0], dtype=torch.float64)
    phi1 = 0.5 * (1 + math.erf(1 / math.sqrt(2)))
    expected = torch.tensor([-(1 - phi1), 0.0, phi1, 2 * 0.5 * (1 + math.erf(2 / math.sqrt(2)))], dtype=torch.float64)
    torch.testing.assert_close(ref.gelu(x), expected, atol=1e-15, rtol=1e-14)
    three = torch.tensor(3.0, dtype=torch.float64)
    assert abs(ref.gelu(three) - F.gelu(three, approximate="tanh")) > 4e-4


def test_gelu_rejects_integers():
    with pytest.raises(TypeError, match="x"):
        ref.gelu(torch.arange(3))


# --- feed_forward ---------------------------------------------------------------------------


def ffn_params(g, d_model, d_ff, dtype, device):
    return {
        "w1": randn(g, d_ff, d_model, dtype=dtype, device=device, scale=d_model ** -0.5),
        "b1": randn(g, d_ff, dtype=dtype, device=device, scale=0.1),
        "w2": randn(g, d_model, d_ff, dtype=dtype, device=device, scale=d_ff ** -0.5),
        "b2": randn(g, d_model, dtype=dtype, device=device, scale=0.1),
    }


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_feed_forward_equals_torch_sequential(seed, dtype, device):
    """Oracle: nn.Sequential(nn.Linear(D, F), nn.GELU(), nn.Linear(F, D)) with copied weights."""
    g = generator(seed)
    params = ffn_params(g, 8, 32, dtype, device)
    x = randn(g, 2, 5, 8, dtype=dtype, device=device)
    module = nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Linear(32, 8)).to(device, dtype)
    with torch.no_grad():
        module[0].weight.copy_(params["w1"])
        module[0].bias.copy_(params["b1"])
        module[2].weight.copy_(params["w2"])
        module[2].bias.copy_(params["b2"])
        expected = module(x)
    # bfloat16: two matmuls of 8 and 32 terms with rounded operands and a rounded hidden layer;
    # measured over 30 seeds: at most 1.4e-2 beyond 1.6e-2 relative, so 3e-2 / 3e-2.
    tol = (3e-2, 3e-2) if dtype == torch.bfloat16 else None
    assert_close(ref.feed_forward(x, params), expected, dtype, tol)


def test_feed_forward_hand_worked_and_errors():
    """Hand-worked: D = 1, F = 2, x = 1 -> gelu(1) + gelu(-1) = 2 Phi(1) - 1 = 0.682689."""
    params = {"w1": torch.tensor([[1.0], [-1.0]]), "b1": torch.zeros(2),
              "w2": torch.tensor([[1.0, 1.0]]), "b2": torch.zeros(1)}
    got = ref.feed_forward(torch.tensor([[1.0]]), params)
    torch.testing.assert_close(got, torch.tensor([[math.erf(1 / math.sqrt(2))]]))
    with pytest.raises(ValueError, match="b2"):
        ref.feed_forward(torch.tensor([[1.0]]), {k: v for k, v in params.items() if k != "b2"})
    with pytest.raises(ValueError, match="w2"):
        ref.feed_forward(torch.tensor([[1.0]]), {**params, "w2": torch.ones(1, 3)})


# --- encoder_block --------------------------------------------------------------------------


def torch_layer(d_model, heads, d_ff, norm_first, dtype, device, g):
    """A randomly initialised TransformerEncoderLayer (non-trivial norms) and its params dict."""
    layer = nn.TransformerEncoderLayer(
        d_model, heads, d_ff, dropout=0.0, activation="gelu", batch_first=True,
        norm_first=norm_first,
    )
    layer = layer.to(device=device, dtype=dtype)
    with torch.no_grad():
        for param in layer.parameters():
            param.copy_(randn(g, *param.shape, scale=0.3))
    layer.train()  # dropout is 0; train mode keeps PyTorch off its fused fast path
    attn, d = layer.self_attn, d_model
    params = {
        "w_q": attn.in_proj_weight[:d], "w_k": attn.in_proj_weight[d:2 * d],
        "w_v": attn.in_proj_weight[2 * d:], "b_q": attn.in_proj_bias[:d],
        "b_k": attn.in_proj_bias[d:2 * d], "b_v": attn.in_proj_bias[2 * d:],
        "w_o": attn.out_proj.weight, "b_o": attn.out_proj.bias,
        "w1": layer.linear1.weight, "b1": layer.linear1.bias,
        "w2": layer.linear2.weight, "b2": layer.linear2.bias,
        "ln1_w": layer.norm1.weight, "ln1_b": layer.norm1.bias,
        "ln2_w": layer.norm2.weight, "ln2_b": layer.norm2.bias,
    }
    return layer, {name: value.detach().clone() for name, value in params.items()}


ENCODER_MASKS = ["none", "causal", "padding"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask_kind", ENCODER_MASKS)
@pytest.mark.parametrize("norm_first", [True, False], ids=["pre-ln", "post-ln"])
@pytest.mark.parametrize("seed", SEEDS)
def test_encoder_block_equals_transformer_encoder_layer(seed, norm_first, mask_kind, dtype, device):
    """Oracle: nn.TransformerEncoderLayer(batch_first=True, activation="gelu", dropout=0.0,
    norm_first=...); our True = may attend masks become its src_mask / src_key_padding_mask
    (True = blocked)."""
    g = generator(seed)
    batch, seq_len, d_model, heads, d_ff = 2, 6, 12, 3, 24
    layer, params = torch_layer(d_model, heads, d_ff, norm_first, dtype, device, g)
    x = randn(g, batch, seq_len, d_model, dtype=dtype, device=device)
    mask, kwargs = None, {}
    if mask_kind == "causal":
        mask = torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()
        kwargs["src_mask"] = ~mask
    elif mask_kind == "padding":
        keep = torch.ones(batch, seq_len, dtype=torch.bool)
        keep[0, 4:] = False  # right padding
        keep[1, :2] = False  # left padding
        mask = keep[:, None, None, :].to(device)  # (B, S) -> (B, 1, 1, S)
        kwargs["src_key_padding_mask"] = ~keep.to(device)
    with torch.no_grad():
        expected = layer(x, **kwargs)
    got = ref.encoder_block(x, params, heads, mask, norm_first=norm_first)
    # bfloat16: a whole layer of rounded projections, softmax and norms on both sides, with
    # roundings in different places (PyTorch fuses some steps); measured over 60 layers: at
    # most 1.1e-2 beyond 3e-2 relative, so 6e-2 / 6e-2 leaves room for other seeds.
    tol = (6e-2, 6e-2) if dtype == torch.bfloat16 else None
    assert_close(got, expected, dtype, tol)


@pytest.mark.parametrize("norm_first", [True, False], ids=["pre-ln", "post-ln"])
def test_encoder_block_fully_masked_row_equals_torch(norm_first, device):
    """Oracle: TransformerEncoderLayer. Its attention runs with need_weights=False, i.e. on
    SDPA's safe softmax, so a query that sees no key gets a zero context (attention output
    b_o) there too, and every row is defined and equal."""
    g = generator(11)
    layer, params = torch_layer(8, 2, 16, norm_first, torch.float64, device, g)
    x = randn(g, 1, 4, 8, device=device)
    mask = torch.ones(4, 4, dtype=torch.bool, device=device).tril()
    mask[2] = False  # query 2 sees nothing
    with torch.no_grad():
        expected = layer(x, src_mask=~mask)
    got = ref.encoder_block(x, params, 2, mask, norm_first=norm_first)
    assert torch.isfinite(expected).all() and torch.isfinite(got).all()
    assert_close(got, expected, torch.float64)


def test_encoder_block_hand_worked_zero_weights():
    """Hand-worked: zero projections make attention and FFN output 0, so Pre-LN returns x and
    Post-LN returns layer_norm(layer_norm(x)) = [-1.2247, 0, 1.2247] for x = [1, 2, 3]."""
    names = ("w_q", "b_q", "w_k", "b_k", "w_v", "b_v", "w_o", "b_o", "w1", "b1", "w2", "b2")
    params = {n: torch.zeros(3, 3) if n.startswith("w") else torch.zeros(3) for n in names}
    params.update(ln1_w=torch.ones(3), ln1_b=torch.zeros(3), ln2_w=torch.ones(3), ln2_b=torch.zeros(3))
    x = torch.tensor([[[1.0, 2.0, 3.0]]])
    torch.testing.assert_close(ref.encoder_block(x, params, 1, norm_first=True), x)
    once = torch.tensor([-1.0, 0.0, 1.0]) / math.sqrt(2 / 3 + 1e-5)
    twice = once / math.sqrt(float(once.pow(2).mean()) + 1e-5)
    torch.testing.assert_close(ref.encoder_block(x, params, 1, norm_first=False), twice.view(1, 1, 3))


def test_encoder_block_rejects_invalid_arguments():
    g = generator(0)
    _, params = torch_layer(8, 2, 16, True, torch.float32, "cpu", g)
    x = torch.randn(2, 3, 8)
    with pytest.raises(ValueError, match="ln2_b"):
        ref.encoder_block(x, {k: v for k, v in params.items() if k != "ln2_b"}, 2)
    with pytest.raises(ValueError, match="x"):
        ref.encoder_block(x[0], params, 2)
    with pytest.raises(ValueError, match="num_heads"):
        ref.encoder_block(x, params, 3)
    with pytest.raises(TypeError, match="norm_first"):
        ref.encoder_block(x, params, 2, norm_first="pre")


# --- pool_hidden_states ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_pool_hidden_states_equals_boolean_indexing(seed, dtype, device):
    """Oracle: hidden[b][mask[b]].mean(0) per row, computed in float64 (zeros for an all-zero
    mask row); "cls" is hidden[:, 0]."""
    g = generator(seed)
    hidden = randn(g, 4, 6, 5, dtype=dtype, device=device)
    mask = (torch.rand(4, 6, generator=g) < 0.6).long()
    mask[0] = 1
    mask[2] = 0  # a row with no real token
    mask = mask.to(device)
    rows = []
    for b in range(4):
        chosen = hidden[b].double()[mask[b].bool()]
        rows.append(chosen.mean(0) if len(chosen) else torch.zeros(5, dtype=torch.float64, device=device))
    expected = torch.stack(rows).to(dtype)
    # bfloat16: a sum of at most 6 rounded terms, then the division: 1e-2 / 1.6e-2.
    assert_close(ref.pool_hidden_states(hidden, mask, "mean"), expected, dtype)
    assert torch.equal(ref.pool_hidden_states(hidden, mask, "mean")[2], torch.zeros(5, dtype=dtype, device=device))
    assert torch.equal(ref.pool_hidden_states(hidden, mask, "cls"), hidden[:, 0])


@pytest.mark.parametrize("mask_dtype", [torch.bool, torch.int64, torch.float32])
def test_pool_hidden_states_hand_worked(mask_dtype):
    """Hand-worked: [[1, 2], [3, 4], [5, 6]] with mask [1, 1, 0]: cls [1, 2], mean [2, 3]."""
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])
    mask = torch.tensor([[1, 1, 0]]).to(mask_dtype)
    assert ref.pool_hidden_states(hidden, mask, "cls").tolist() == [[1.0, 2.0]]
    assert ref.pool_hidden_states(hidden, mask).tolist() == [[1.0, 2.0]]
    assert ref.pool_hidden_states(hidden, mask, "mean").tolist() == [[2.0, 3.0]]
    assert ref.pool_hidden_states(hidden, None, "mean").tolist() == [[3.0, 4.0]]


def test_pool_hidden_states_rejects_invalid_arguments():
    hidden = torch.randn(2, 3, 4)
    with pytest.raises(ValueError, match="strategy"):
        ref.pool_hidden_states(hidden, torch.ones(2, 3), "max")
    with pytest.raises(ValueError, match="attention_mask"):
        ref.pool_hidden_states(hidden, torch.ones(2, 4), "mean")
    with pytest.raises(ValueError, match="hidden"):
        ref.pool_hidden_states(hidden[0], torch.ones(3), "mean")

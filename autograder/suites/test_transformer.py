"""Hidden suite, labs 2.3.2/2.3.5 transformer block: the implementation under test against
the reference.

Inputs are drawn from `rng` (fresh every run) with random shapes; every mistake id of the
module also has a deterministic float64 case that exposes it for any draw of the values.
"""
from __future__ import annotations

import pytest
import torch

from autograder.inputs import draw, randn

LAYER_NORM = "transformer.layer_norm"
GELU = "transformer.gelu"
FFN = "transformer.feed_forward"
ENCODER = "transformer.encoder_block"
POOL = "transformer.pool_hidden_states"
ATTENTION_NAMES = ("w_q", "b_q", "w_k", "b_k", "w_v", "b_v", "w_o", "b_o")
DTYPES = [torch.float64, torch.float32, torch.bfloat16]

# bfloat16 cases use the wider per-function tolerances of config.FUNCTION_TOLERANCE_DEFAULTS
# (the judge looks them up by function name).


# --- layer_norm -----------------------------------------------------------------------------


@pytest.mark.function(LAYER_NORM)
@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_random(judge, rng, device, dtype):
    """Random leading dims and width, inputs off-centre and off-scale, random eps."""
    shape = tuple(draw(rng, 1, 4) for _ in range(draw(rng, 0, 2))) + (draw(rng, 2, 32),)
    d_model = shape[-1]
    x = randn(rng, *shape, dtype=dtype, device=device, scale=3.0, shift=1.5)
    weight = randn(rng, d_model, dtype=dtype, device=device)
    bias = randn(rng, d_model, dtype=dtype, device=device)
    eps = [1e-5, 1e-6, 1e-3][draw(rng, 0, 2)]
    judge.compare(LAYER_NORM, x, weight, bias, eps)


@pytest.mark.function(LAYER_NORM)
@pytest.mark.weight(2)
def test_layer_norm_small_width(judge, rng, device):
    """Deterministic: D = 4, where dividing by D - 1 instead of D changes every output by
    a factor sqrt(3/4)."""
    x = randn(rng, 3, 4, device=device, scale=2.0)
    judge.compare(LAYER_NORM, x, torch.ones(4, dtype=torch.float64, device=device),
                  torch.zeros(4, dtype=torch.float64, device=device))


@pytest.mark.function(LAYER_NORM)
def test_layer_norm_without_affine_and_constant_row(judge, rng, device):
    """weight = bias = None; a constant row (variance 0) normalises to zeros."""
    x = randn(rng, 3, 6, device=device)
    x[1] = 2.5
    judge.compare(LAYER_NORM, x, None, None)


@pytest.mark.function(LAYER_NORM)
def test_layer_norm_invalid_arguments(judge):
    x = torch.randn(2, 4)
    judge.raises(LAYER_NORM, ValueError, x, torch.ones(3), torch.zeros(4))
    judge.raises(LAYER_NORM, ValueError, x, torch.ones(4), torch.zeros(5))


# --- gelu -----------------------------------------------------------------------------------


@pytest.mark.function(GELU)
@pytest.mark.parametrize("dtype", DTYPES)
def test_gelu_random(judge, rng, device, dtype):
    x = randn(rng, draw(rng, 1, 4), draw(rng, 1, 50), dtype=dtype, device=device, scale=3.0)
    judge.compare(GELU, x)


@pytest.mark.function(GELU)
@pytest.mark.weight(2)
def test_gelu_grid(judge, device):
    """Deterministic: a grid over [-6, 6] in float64, where the tanh approximation is off by
    up to 5e-4."""
    judge.compare(GELU, torch.linspace(-6, 6, 481, dtype=torch.float64, device=device))


@pytest.mark.function(GELU)
def test_gelu_invalid_arguments(judge):
    judge.raises(GELU, TypeError, torch.arange(4))


# --- feed_forward ---------------------------------------------------------------------------


def ffn_params(rng, d_model, d_ff, dtype, device):
    return {
        "w1": randn(rng, d_ff, d_model, dtype=dtype, device=device, scale=d_model ** -0.5),
        "b1": randn(rng, d_ff, dtype=dtype, device=device, scale=0.1),
        "w2": randn(rng, d_model, d_ff, dtype=dtype, device=device, scale=d_ff ** -0.5),
        "b2": randn(rng, d_model, dtype=dtype, device=device, scale=0.1),
    }


@pytest.mark.function(FFN)
@pytest.mark.parametrize("dtype", DTYPES)
def test_feed_forward_random(judge, rng, device, dtype):
    d_model, d_ff = draw(rng, 2, 16), draw(rng, 4, 48)
    x = randn(rng, draw(rng, 1, 3), draw(rng, 1, 6), d_model, dtype=dtype, device=device)
    judge.compare(FFN, x, ffn_params(rng, d_model, d_ff, dtype, device))


@pytest.mark.function(FFN)
def test_feed_forward_invalid_arguments(judge, rng):
    params = ffn_params(rng, 4, 8, torch.float32, "cpu")
    judge.raises(FFN, ValueError, torch.randn(2, 4), {k: v for k, v in params.items() if k != "w2"})


# --- encoder_block --------------------------------------------------------------------------


def encoder_params(rng, d_model, d_ff, dtype, device):
    params = {
        name: (randn(rng, d_model, d_model, dtype=dtype, device=device, scale=d_model ** -0.5)
               if name.startswith("w") else randn(rng, d_model, dtype=dtype, device=device, scale=0.1))
        for name in ATTENTION_NAMES
    }
    params.update(ffn_params(rng, d_model, d_ff, dtype, device))
    for name in ("ln1", "ln2"):
        params[f"{name}_w"] = randn(rng, d_model, dtype=dtype, device=device, scale=0.2, shift=1.0)
        params[f"{name}_b"] = randn(rng, d_model, dtype=dtype, device=device, scale=0.1)
    return params


ENCODER_MASKS = ["none", "causal", "padding (B,1,1,T)", "per-head (B,H,T,T)"]


@pytest.mark.function(ENCODER)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask_kind", ENCODER_MASKS)
@pytest.mark.parametrize("norm_first", [True, False], ids=["pre-ln", "post-ln"])
def test_encoder_block_random(judge, rng, device, norm_first, mask_kind, dtype):
    heads, head_dim = draw(rng, 1, 4), draw(rng, 2, 6)
    d_model, batch, seq_len = heads * head_dim, draw(rng, 1, 3), draw(rng, 1, 7)
    params = encoder_params(rng, d_model, 4 * d_model, dtype, device)
    x = randn(rng, batch, seq_len, d_model, dtype=dtype, device=device)
    mask = None
    if mask_kind == "causal":
        mask = torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()
    elif mask_kind.startswith("padding"):
        mask = (torch.rand(batch, 1, 1, seq_len, generator=rng) < 0.7).to(device)
    elif mask_kind.startswith("per-head"):
        mask = (torch.rand(batch, heads, seq_len, seq_len, generator=rng) < 0.7).to(device)
    judge.compare(ENCODER, x, params, heads, mask, norm_first)


@pytest.mark.function(ENCODER)
@pytest.mark.weight(2)
@pytest.mark.parametrize("norm_first", [True, False], ids=["pre-ln", "post-ln"])
def test_encoder_block_norm_placement(judge, rng, device, norm_first):
    """Deterministic: float64, B = 2, T = 5, D = 8, H = 2, inputs off-centre so that
    normalising before or after the residual sum gives clearly different results."""
    params = encoder_params(rng, 8, 32, torch.float64, device)
    x = randn(rng, 2, 5, 8, device=device, scale=2.0, shift=1.0)
    judge.compare(ENCODER, x, params, 2, None, norm_first)


@pytest.mark.function(ENCODER)
def test_encoder_block_default_arguments(judge, rng, device):
    """mask and norm_first left out (None and Pre-LN)."""
    params = encoder_params(rng, 6, 24, torch.float64, device)
    judge.compare(ENCODER, randn(rng, 1, 4, 6, device=device), params, 3)


@pytest.mark.function(ENCODER)
def test_encoder_block_invalid_arguments(judge, rng):
    params = encoder_params(rng, 8, 16, torch.float32, "cpu")
    x = torch.randn(2, 3, 8)
    judge.raises(ENCODER, ValueError, x, {k: v for k, v in params.items() if k != "ln1_w"}, 2)
    judge.raises(ENCODER, ValueError, x, params, 3)


# --- pool_hidden_states ---------------------------------------------------------------------


@pytest.mark.function(POOL)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("strategy", ["cls", "mean"])
def test_pool_random(judge, rng, device, strategy, dtype):
    """Random shapes; 0/1 masks as int64, bool or float; one row entirely masked."""
    batch, seq_len, d_model = draw(rng, 2, 4), draw(rng, 1, 8), draw(rng, 1, 8)
    hidden = randn(rng, batch, seq_len, d_model, dtype=dtype, device=device)
    mask = (torch.rand(batch, seq_len, generator=rng) < 0.6).long()
    mask[0] = 0
    mask = mask.to(dtype=[torch.long, torch.bool, torch.float32][draw(rng, 0, 2)], device=device)
    judge.compare(POOL, hidden, mask, strategy)


@pytest.mark.function(POOL)
def test_pool_deterministic(judge, device):
    hidden = torch.arange(24, dtype=torch.float32, device=device).reshape(2, 4, 3)
    mask = torch.tensor([[1, 1, 0, 0], [0, 1, 1, 1]], device=device)
    judge.compare(POOL, hidden, mask, "mean")
    judge.compare(POOL, hidden, mask, "cls")
    judge.compare(POOL, hidden, mask)


@pytest.mark.function(POOL)
def test_pool_invalid_arguments(judge):
    judge.raises(POOL, ValueError, torch.randn(2, 3, 4), torch.ones(2, 3), "max")
    judge.raises(POOL, ValueError, torch.randn(2, 3, 4), torch.ones(2, 5), "mean")

"""Hidden suite for lab 2.3.3, positional encodings (instructor only).

Random sizes and inputs are drawn from ``rng`` (fresh every run); the fixed cases expose every
known mistake on every run. Tolerances follow the contract: sinusoidal tables may use float32
angles (absolute error up to ``1e-7 * max_len + 1e-6``), RoPE may use float64 angles
(``1e-7 * (max position + 1) + 1e-6`` for unit-scale inputs).
"""
from __future__ import annotations

import pytest
import torch

from autograder.checking import CheckFailure, assert_close, assert_tensor
from autograder.inputs import draw

DTYPES = [torch.float64, torch.float32, torch.bfloat16]
# bfloat16 RoPE: x, cos, sin, both products and the sum are each rounded to 8 significant bits
# (relative 2^-9). With |x| <= 1 a correct answer computed in another order (say in float32,
# rounded once at the end) can differ by up to about 6 * 2^-9; allow 8 * 2^-9.
BF16_ROPE_ATOL = 8 * 2.0**-9


def sinusoidal_atol(max_len: int) -> float:
    return 1e-7 * max_len + 1e-6


def rope_atol(position_ids: torch.Tensor, dtype: torch.dtype) -> float:
    if dtype == torch.bfloat16:
        return BF16_ROPE_ATOL
    return 1e-7 * (int(position_ids.max()) + 1) + 1e-6


def unit_scale(shape, rng, dtype, device) -> torch.Tensor:
    """Uniform in [-1, 1): the scale the contract's RoPE tolerance refers to."""
    x = torch.rand(shape, generator=rng, dtype=torch.float64) * 2 - 1
    return x.to(device=device, dtype=dtype)


# --- sinusoidal_encoding ---------------------------------------------------------------------


@pytest.mark.function("positional.sinusoidal_encoding")
@pytest.mark.parametrize("max_len, d_model", [(1, 6), (16, 8), (100, 64), (3, 4)])
def test_sinusoidal_fixed_sizes(judge, max_len, d_model):
    judge.compare("positional.sinusoidal_encoding", max_len, d_model,
                  atol=sinusoidal_atol(max_len), rtol=0)


@pytest.mark.function("positional.sinusoidal_encoding")
@pytest.mark.parametrize("draw_index", range(3))
def test_sinusoidal_random_sizes(judge, rng, draw_index):
    max_len, d_model = draw(rng, 1, 400), 2 * draw(rng, 1, 64)
    judge.compare("positional.sinusoidal_encoding", max_len, d_model,
                  atol=sinusoidal_atol(max_len), rtol=0)


@pytest.mark.function("positional.sinusoidal_encoding")
def test_sinusoidal_long_table(judge, rng):
    max_len = draw(rng, 4096, 8192)
    judge.compare("positional.sinusoidal_encoding", max_len, 16,
                  atol=sinusoidal_atol(max_len), rtol=0)


@pytest.mark.function("positional.sinusoidal_encoding")
def test_sinusoidal_other_base(judge, rng):
    base = float(torch.empty(1).uniform_(10.0, 1e6, generator=rng))
    judge.compare("positional.sinusoidal_encoding", 64, 2 * draw(rng, 2, 32), base=base,
                  atol=sinusoidal_atol(64), rtol=0)


@pytest.mark.function("positional.sinusoidal_encoding")
def test_sinusoidal_odd_d_model_raises(judge, rng):
    judge.raises("positional.sinusoidal_encoding", ValueError, 10, 2 * draw(rng, 1, 32) + 1)


# --- rope_inv_freq ---------------------------------------------------------------------------


@pytest.mark.function("positional.rope_inv_freq")
@pytest.mark.parametrize(
    "head_dim, base", [(4, 10000.0), (64, 10000.0), (128, 500000.0), (8, 100.0)]
)
def test_rope_inv_freq_fixed(judge, head_dim, base):
    judge.compare("positional.rope_inv_freq", head_dim, base)


@pytest.mark.function("positional.rope_inv_freq")
def test_rope_inv_freq_random(judge, rng):
    head_dim = 2 * draw(rng, 1, 128)
    base = float(torch.empty(1).uniform_(2.0, 1e6, generator=rng))
    judge.compare("positional.rope_inv_freq", head_dim, base=base)


@pytest.mark.function("positional.rope_inv_freq")
def test_rope_inv_freq_odd_raises(judge, rng):
    judge.raises("positional.rope_inv_freq", ValueError, 2 * draw(rng, 1, 64) + 1)


# --- apply_rope ------------------------------------------------------------------------------


@pytest.mark.function("positional.apply_rope")
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_apply_rope_fixed_pattern(judge, device, dtype):
    """Every dimension distinct, positions 1..T: any pairing or frequency error shows."""
    x = (torch.arange(2 * 2 * 5 * 8, dtype=torch.float64).reshape(2, 2, 5, 8) / 80 - 1)
    x = x.to(device=device, dtype=dtype)  # (B, H, T, d) = (2, 2, 5, 8), values in [-1, 1)
    positions = torch.arange(1, 6, device=device)
    judge.compare("positional.apply_rope", x, positions, atol=rope_atol(positions, dtype), rtol=0)


@pytest.mark.function("positional.apply_rope")
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_apply_rope_offset_positions(judge, rng, device, dtype):
    """(T,) positions starting at a random offset (KV-cache decoding)."""
    batch, heads, seq_len = draw(rng, 1, 3), draw(rng, 1, 4), draw(rng, 1, 12)
    head_dim = 2 * draw(rng, 2, 32)
    x = unit_scale((batch, heads, seq_len, head_dim), rng, dtype, device)
    start = draw(rng, 0, 5000)
    positions = torch.arange(start, start + seq_len, device=device)
    judge.compare("positional.apply_rope", x, positions, atol=rope_atol(positions, dtype), rtol=0)


@pytest.mark.function("positional.apply_rope")
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_apply_rope_batch_positions(judge, rng, device, dtype):
    """(B, T) positions, different per sequence (left padding, packed sequences)."""
    batch, heads, seq_len = draw(rng, 2, 4), draw(rng, 1, 3), draw(rng, 2, 10)
    head_dim = 2 * draw(rng, 2, 16)
    x = unit_scale((batch, heads, seq_len, head_dim), rng, dtype, device)
    positions = torch.randint(0, 8192, (batch, seq_len), generator=rng).to(device)
    base = [10000.0, 500000.0, 1000.0][draw(rng, 0, 2)]
    judge.compare("positional.apply_rope", x, positions, base=base,
                  atol=rope_atol(positions, dtype), rtol=0)


@pytest.mark.function("positional.apply_rope")
def test_apply_rope_leaves_input_unchanged(impl, rng, device):
    x = unit_scale((2, 2, 4, 8), rng, torch.float32, device)
    positions = torch.arange(3, 7, device=device)
    before, positions_before = x.clone(), positions.clone()
    impl.positional.apply_rope(x, positions)
    assert_close(x, before, name="x after apply_rope (inputs must not be modified)", atol=0, rtol=0)
    assert_close(positions, positions_before, name="position_ids after apply_rope")


@pytest.mark.function("positional.apply_rope")
def test_apply_rope_odd_head_dim_raises(judge, device):
    x = torch.zeros(1, 2, 3, 7, device=device)
    judge.raises("positional.apply_rope", ValueError, x, torch.arange(3, device=device))


# --- alibi_slopes and alibi_bias -------------------------------------------------------------


@pytest.mark.function("positional.alibi_slopes")
@pytest.mark.parametrize("num_heads", range(1, 17))
def test_alibi_slopes_every_head_count(judge, num_heads):
    judge.compare("positional.alibi_slopes", num_heads)


@pytest.mark.function("positional.alibi_slopes")
def test_alibi_slopes_random_head_count(judge, rng):
    judge.compare("positional.alibi_slopes", draw(rng, 17, 96))


@pytest.mark.function("positional.alibi_slopes")
def test_alibi_slopes_zero_heads_raises(judge):
    judge.raises("positional.alibi_slopes", ValueError, 0)


@pytest.mark.function("positional.alibi_bias")
@pytest.mark.parametrize("num_heads, seq_len", [(1, 3), (6, 10), (8, 5), (12, 1)])
def test_alibi_bias_fixed(judge, num_heads, seq_len):
    judge.compare("positional.alibi_bias", num_heads, seq_len)


@pytest.mark.function("positional.alibi_bias")
@pytest.mark.parametrize("draw_index", range(2))
def test_alibi_bias_random(judge, rng, draw_index):
    judge.compare("positional.alibi_bias", draw(rng, 1, 16), draw(rng, 1, 40))


@pytest.mark.function("positional.alibi_bias")
def test_alibi_bias_is_symmetric_with_zero_diagonal(impl, rng):
    num_heads, seq_len = draw(rng, 1, 12), draw(rng, 2, 20)
    bias = assert_tensor(impl.positional.alibi_bias(num_heads, seq_len), "alibi_bias")
    expected_shape = (num_heads, seq_len, seq_len)
    if tuple(bias.shape) != expected_shape:
        raise CheckFailure(f"alibi_bias: got shape {tuple(bias.shape)}, expected {expected_shape}")
    assert_close(bias.transpose(1, 2), bias, name="alibi_bias with i and j swapped")
    diagonal = torch.diagonal(bias, dim1=1, dim2=2)  # (H, S): bias[h, i, i]
    assert_close(diagonal, torch.zeros(num_heads, seq_len), name="alibi_bias[h, i, i]", atol=0)
    if bool((bias > 0).any()):
        raise CheckFailure("alibi_bias: got positive entries, expected -slope * |i - j| <= 0")


@pytest.mark.function("positional.alibi_bias")
def test_alibi_bias_zero_heads_raises(judge):
    judge.raises("positional.alibi_bias", ValueError, 0, 4)

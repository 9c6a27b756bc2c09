"""Public checks for lab 2.3.3, positional encodings (`pytest exercises/checks/test_positional.py`).

Expected values come from small examples worked out by hand, from torch itself (sin, cos,
complex multiplication, softmax) and from properties every correct answer has.
"""
from __future__ import annotations

import math

import pytest
import torch

from autograder.checking import CheckFailure, assert_close, assert_tensor


def assert_raises(error: type[Exception], call, *args, what: str, **kwargs) -> None:
    """Fail with a friendly message unless ``call(*args, **kwargs)`` raises ``error``."""
    try:
        call(*args, **kwargs)
    except error:
        return
    except Exception as exc:  # noqa: BLE001 - any other exception is the wrong answer
        got = f"{type(exc).__name__}({exc})"
        raise CheckFailure(f"{what}: got {got}, expected {error.__name__}") from None
    raise CheckFailure(f"{what}: got no error, expected {error.__name__}")


def assert_shape_and_dtype(got, shape: tuple[int, ...], dtype: torch.dtype, name: str) -> None:
    got = assert_tensor(got, name)
    if tuple(got.shape) != shape:
        raise CheckFailure(f"{name}: got shape {tuple(got.shape)}, expected {shape}")
    if got.dtype != dtype:
        raise CheckFailure(f"{name}: got dtype {got.dtype}, expected {dtype}")


# --- sinusoidal_encoding -----------------------------------------------------------------------


def sinusoidal_by_hand(max_len: int, d_model: int, base: float) -> torch.Tensor:
    """The textbook formula, one entry at a time, in float64."""
    rows = []
    for pos in range(max_len):
        row = []
        for i in range(d_model // 2):
            angle = pos / base ** (2 * i / d_model)
            row += [math.sin(angle), math.cos(angle)]
        rows.append(row)
    return torch.tensor(rows, dtype=torch.float64).reshape(max_len, d_model)


@pytest.mark.function("positional.sinusoidal_encoding")
def test_sinusoidal_matches_formula(impl):
    got = impl.positional.sinusoidal_encoding(5, 8)
    expected = sinusoidal_by_hand(5, 8, 10000.0).float()
    assert_close(got, expected, name="sinusoidal_encoding(5, 8)", atol=1e-6)


@pytest.mark.function("positional.sinusoidal_encoding")
def test_sinusoidal_position_zero_is_0_1_0_1(impl):
    """At position 0 every angle is 0: sin 0 = 0 on even columns, cos 0 = 1 on odd ones."""
    got = impl.positional.sinusoidal_encoding(1, 6)
    expected = torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.0, 1.0]])
    assert_close(got, expected, name="sinusoidal_encoding(1, 6) (row of position 0)", atol=1e-7)


@pytest.mark.function("positional.sinusoidal_encoding")
def test_sinusoidal_small_table_by_hand(impl):
    """d_model 4: the frequencies are 1 and 1/base^(2/4) = 1/100."""
    s1, c1, s2, c2 = math.sin(2), math.cos(2), math.sin(0.02), math.cos(0.02)
    expected = torch.tensor([
        [0.0, 1.0, 0.0, 1.0],
        [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)],
        [s1, c1, s2, c2],
    ])
    got = impl.positional.sinusoidal_encoding(3, 4)
    assert_close(got, expected, name="sinusoidal_encoding(3, 4)", atol=1e-6)


@pytest.mark.function("positional.sinusoidal_encoding")
def test_sinusoidal_uses_base(impl):
    """base = 100, d_model 4: the frequencies are 1 and 1/100^(1/2) = 1/10."""
    got = impl.positional.sinusoidal_encoding(4, 4, base=100.0)
    expected = sinusoidal_by_hand(4, 4, 100.0).float()
    assert_close(got, expected, name="sinusoidal_encoding(4, 4, base=100)", atol=1e-6)


@pytest.mark.function("positional.sinusoidal_encoding")
def test_sinusoidal_columns_pair_up(impl):
    """Columns 2i and 2i+1 are sin and cos of the same angle, so their squares add up to 1."""
    table = impl.positional.sinusoidal_encoding(50, 16)
    assert_shape_and_dtype(table, (50, 16), torch.float32, "sinusoidal_encoding(50, 16)")
    squares = table[:, 0::2].double() ** 2 + table[:, 1::2].double() ** 2
    assert_close(squares, torch.ones(50, 8, dtype=torch.float64),
                 name="PE[:, 2i]**2 + PE[:, 2i+1]**2", atol=1e-6)


@pytest.mark.function("positional.sinusoidal_encoding")
def test_sinusoidal_long_table(impl):
    """Column 0 is sin(pos), column 1 cos(pos), up to position 8191 (oracle: torch in float64).

    float32 angles are allowed: they drift by up to 1e-7 per position.
    """
    table = impl.positional.sinusoidal_encoding(8192, 8)
    pos = torch.arange(8192, dtype=torch.float64)
    expected = torch.stack((pos.sin(), pos.cos()), dim=-1).float()  # (8192, 2)
    assert_close(table[:, :2], expected, name="sinusoidal_encoding(8192, 8)[:, :2]",
                 atol=1e-7 * 8192 + 1e-6, rtol=0)


@pytest.mark.function("positional.sinusoidal_encoding")
def test_sinusoidal_odd_d_model_raises(impl):
    assert_raises(ValueError, impl.positional.sinusoidal_encoding, 4, 5,
                  what="sinusoidal_encoding(4, 5)")


# --- rope_inv_freq -------------------------------------------------------------------------------


@pytest.mark.function("positional.rope_inv_freq")
def test_rope_inv_freq_by_hand(impl):
    """head_dim 8: exponents 0, 1/4, 1/2, 3/4 of 10000, i.e. 1, 10, 100, 1000."""
    got = impl.positional.rope_inv_freq(8)
    assert_close(got, torch.tensor([1.0, 0.1, 0.01, 0.001]), name="rope_inv_freq(8)", rtol=1e-6)


@pytest.mark.function("positional.rope_inv_freq")
def test_rope_inv_freq_uses_base(impl):
    got = impl.positional.rope_inv_freq(4, base=100.0)
    assert_close(got, torch.tensor([1.0, 0.1]), name="rope_inv_freq(4, base=100)", rtol=1e-6)


@pytest.mark.function("positional.rope_inv_freq")
def test_rope_inv_freq_last_is_close_to_one_over_base(impl):
    """The last exponent is (head_dim - 2)/head_dim: the slowest frequency is about 1/base."""
    got = impl.positional.rope_inv_freq(64, base=500000.0)
    expected = torch.tensor([500000.0 ** (-2 * i / 64) for i in range(32)])
    assert_close(got, expected, name="rope_inv_freq(64, base=500000)", rtol=1e-6)


@pytest.mark.function("positional.rope_inv_freq")
def test_rope_inv_freq_odd_raises(impl):
    assert_raises(ValueError, impl.positional.rope_inv_freq, 7, what="rope_inv_freq(7)")


# --- apply_rope ----------------------------------------------------------------------------------


def rope_with_complex_numbers(x: torch.Tensor, positions: torch.Tensor, base: float):
    """Oracle: pair (x[i], x[i + d/2]) as a complex number and multiply by exp(i * angle)."""
    d = x.shape[-1]
    inv_freq = 1.0 / base ** (torch.arange(0, d, 2, dtype=torch.float64) / d)  # (d/2,)
    angles = positions.double().unsqueeze(-1) * inv_freq  # (..., T, d/2)
    if positions.dim() == 2:
        angles = angles.unsqueeze(1)  # (B, T, d/2) -> (B, 1, T, d/2): same for every head
    xd = x.double()
    pairs = torch.complex(xd[..., : d // 2], xd[..., d // 2 :])  # (B, H, T, d/2)
    turned = pairs * torch.polar(torch.ones_like(angles), angles)
    return torch.cat((turned.real, turned.imag), dim=-1).to(x.dtype)  # (B, H, T, d)


@pytest.mark.function("positional.apply_rope")
def test_apply_rope_by_hand(impl):
    """d = 4. At position 1 the pair (x0, x2) turns by 1 radian; at position 100 the pair
    (x1, x3) turns by 100 * 0.01 = 1 radian."""
    x = torch.tensor([[[[1.0, 0.0, 0.0, 0.0]]], [[[0.0, 1.0, 0.0, 0.0]]]])  # (2, 1, 1, 4)
    positions = torch.tensor([[1], [100]])  # (B, T) = (2, 1)
    c, s = math.cos(1.0), math.sin(1.0)
    expected = torch.tensor([[[[c, 0.0, s, 0.0]]], [[[0.0, c, 0.0, s]]]])
    got = impl.positional.apply_rope(x, positions)
    assert_close(got, expected, name="apply_rope(unit vectors, positions [[1], [100]])", atol=1e-6)


@pytest.mark.function("positional.apply_rope")
def test_apply_rope_matches_complex_rotation(impl, rng):
    """Random queries, positions 37..46 shared by the batch (oracle: complex multiplication)."""
    x = torch.rand(2, 3, 10, 16, generator=rng) * 2 - 1
    positions = torch.arange(37, 47)
    got = impl.positional.apply_rope(x, positions)
    # float32 angles are off by ~1e-7 per unit of position; plus float32 rounding of the products
    assert_close(got, rope_with_complex_numbers(x, positions, 10000.0),
                 name="apply_rope(x, arange(37, 47))", atol=1e-7 * 47 + 2e-6, rtol=0)


@pytest.mark.function("positional.apply_rope")
def test_apply_rope_batch_positions_and_base(impl, rng):
    """(B, T) positions, one row per sequence, and a different base."""
    x = torch.rand(3, 2, 5, 8, generator=rng, dtype=torch.float64) * 2 - 1
    positions = torch.tensor([[0, 1, 2, 3, 4], [10, 11, 12, 13, 14], [7, 3, 900, 2, 1]])
    got = impl.positional.apply_rope(x, positions, base=500.0)
    assert_close(got, rope_with_complex_numbers(x, positions, 500.0),
                 name="apply_rope(x, (B, T) positions, base=500)", atol=1e-7 * 901 + 1e-6, rtol=0)


@pytest.mark.function("positional.apply_rope")
def test_apply_rope_position_zero_is_identity(impl, rng):
    x = torch.randn(1, 2, 4, 8, generator=rng)
    got = impl.positional.apply_rope(x, torch.zeros(4, dtype=torch.long))
    assert_close(got, x, name="apply_rope(x, positions all 0)", atol=1e-7, rtol=0)


@pytest.mark.function("positional.apply_rope")
def test_apply_rope_depends_on_relative_position(impl, rng):
    """<rope(q, m), rope(k, n)> depends only on m - n: (5, 2) and (105, 102) give the same score."""
    q = torch.randn(1, 1, 1, 8, generator=rng, dtype=torch.float64)
    k = torch.randn(1, 1, 1, 8, generator=rng, dtype=torch.float64)
    rope = impl.positional.apply_rope
    near = (rope(q, torch.tensor([5])) * rope(k, torch.tensor([2]))).sum()
    far = (rope(q, torch.tensor([105])) * rope(k, torch.tensor([102]))).sum()
    assert_close(far, near, name="score at positions (105, 102) vs (5, 2)", atol=1e-4)


@pytest.mark.function("positional.apply_rope")
@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16], ids=str)
def test_apply_rope_keeps_dtype_device_and_input(impl, rng, device, dtype):
    x = (torch.rand(2, 2, 3, 8, generator=rng) * 2 - 1).to(device=device, dtype=dtype)
    before = x.clone()
    positions = torch.tensor([3, 4, 5], device=device)
    got = impl.positional.apply_rope(x, positions)
    expected = rope_with_complex_numbers(x.cpu(), positions.cpu(), 10000.0).to(device)
    # bfloat16: cos/sin, both products and the sum are rounded to 8 significant bits (~0.4% of
    # |x| <= 1 each), so a correct answer can be off by ~0.016
    atol = 1e-6 if dtype == torch.float64 else 3e-2
    assert_close(got, expected, name=f"apply_rope on {dtype}", atol=atol, rtol=0)
    assert_close(x, before, name="x after apply_rope (inputs must not be modified)", atol=0, rtol=0)


@pytest.mark.function("positional.apply_rope")
def test_apply_rope_odd_head_dim_raises(impl):
    x = torch.zeros(1, 1, 2, 5)
    assert_raises(ValueError, impl.positional.apply_rope, x, torch.arange(2),
                  what="apply_rope on d = 5")


# --- alibi_slopes --------------------------------------------------------------------------------


@pytest.mark.function("positional.alibi_slopes")
@pytest.mark.parametrize(
    "num_heads, exponents",
    [
        (1, [-8]),
        (2, [-4, -8]),
        (8, [-1, -2, -3, -4, -5, -6, -7, -8]),
    ],
    ids=["1 head", "2 heads", "8 heads"],
)
def test_alibi_slopes_power_of_two(impl, num_heads, exponents):
    expected = torch.tensor([2.0**e for e in exponents])
    got = impl.positional.alibi_slopes(num_heads)
    assert_close(got, expected, name=f"alibi_slopes({num_heads})", rtol=1e-6)


@pytest.mark.function("positional.alibi_slopes")
@pytest.mark.parametrize(
    "num_heads, exponents",
    [
        # 3 heads: the 2 slopes of 2 heads, then the 1st slope of 4 heads
        (3, [-4, -8, -2]),
        # 6 heads: the 4 slopes of 4 heads, then the 1st and 3rd slopes of 8 heads
        (6, [-2, -4, -6, -8, -1, -3]),
        # 12 heads: the 8 slopes of 8 heads, then slopes 1, 3, 5, 7 of 16 heads (2^-0.5 apart)
        (12, [-1, -2, -3, -4, -5, -6, -7, -8, -0.5, -1.5, -2.5, -3.5]),
    ],
    ids=["3 heads", "6 heads", "12 heads"],
)
def test_alibi_slopes_other_head_counts(impl, num_heads, exponents):
    expected = torch.tensor([2.0**e for e in exponents])
    got = impl.positional.alibi_slopes(num_heads)
    assert_close(got, expected, name=f"alibi_slopes({num_heads})", rtol=1e-6)


@pytest.mark.function("positional.alibi_slopes")
def test_alibi_slopes_zero_heads_raises(impl):
    assert_raises(ValueError, impl.positional.alibi_slopes, 0, what="alibi_slopes(0)")


# --- alibi_bias ----------------------------------------------------------------------------------


@pytest.mark.function("positional.alibi_bias")
def test_alibi_bias_by_hand(impl):
    """Two heads, slopes 2^-4 and 2^-8: bias[h, i, j] = -slope[h] * |i - j|."""
    slopes = [2.0**-4, 2.0**-8]
    expected = torch.tensor(
        [[[-s * abs(i - j) for j in range(4)] for i in range(4)] for s in slopes]
    )
    assert_close(impl.positional.alibi_bias(2, 4), expected, name="alibi_bias(2, 4)", rtol=1e-6)


@pytest.mark.function("positional.alibi_bias")
def test_alibi_bias_under_causal_mask_matches_bloom(impl, rng):
    """BLOOM adds +slope * j to the scores instead; under a causal mask the softmax is the same
    (each row differs by slope * i, a constant the softmax ignores)."""
    num_heads, seq_len = 4, 6
    slopes = torch.tensor([2.0**-2, 2.0**-4, 2.0**-6, 2.0**-8])
    scores = torch.randn(num_heads, seq_len, seq_len, generator=rng) * 3
    causal = torch.ones(seq_len, seq_len, dtype=torch.bool).tril()
    bloom = slopes.view(-1, 1, 1) * torch.arange(seq_len).float()  # (H, 1, S): slope * j
    expected = (scores + bloom).masked_fill(~causal, -math.inf).softmax(-1)
    bias = impl.positional.alibi_bias(num_heads, seq_len)
    assert_shape_and_dtype(bias, (4, 6, 6), torch.float32, "alibi_bias(4, 6)")
    got = (scores + bias).masked_fill(~causal, -math.inf).softmax(-1)
    assert_close(got, expected, name="causal softmax(scores + alibi_bias)", atol=1e-6)

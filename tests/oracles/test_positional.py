"""Oracle tests: reference/positional.py equals Hugging Face's implementations.

- sinusoidal_encoding: transformers' DistilBERT ``_create_sinusoidal_embeddings``;
- rope_inv_freq, apply_rope: ``LlamaRotaryEmbedding`` + ``apply_rotary_pos_emb``;
- alibi_slopes, alibi_bias: BLOOM's ``_get_alibi_slopes`` and ``build_alibi_tensor``.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from transformers import LlamaConfig
from transformers.models.bloom.modeling_bloom import _get_alibi_slopes, build_alibi_tensor
from transformers.models.distilbert.modeling_distilbert import _create_sinusoidal_embeddings
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

from reference import positional as P

SEEDS = [0, 1, 2]
FLOAT32_ULP_AT_ONE = 2.0**-23


# --- sinusoidal_encoding ---------------------------------------------------------------------


def distilbert_table(max_len: int, d_model: int) -> torch.Tensor:
    out = torch.empty(max_len, d_model)
    return _create_sinusoidal_embeddings(max_len, d_model, out)


@pytest.mark.parametrize("max_len, d_model", [(1, 2), (7, 4), (50, 16), (128, 64), (513, 30)])
def test_sinusoidal_matches_distilbert(max_len, d_model):
    """Oracle: DistilBERT's _create_sinusoidal_embeddings (numpy float64 angles, base 10000)."""
    got = P.sinusoidal_encoding(max_len, d_model)
    expected = distilbert_table(max_len, d_model)
    assert got.dtype == torch.float32 and got.shape == (max_len, d_model)
    # both compute the angles in float64 and round once to float32: at most one float32 ulp
    # apart (values lie in [-1, 1], where an ulp is <= 2^-24 .. 2^-23)
    torch.testing.assert_close(got, expected, atol=FLOAT32_ULP_AT_ONE, rtol=0)


def test_sinusoidal_long_table_within_contract_tolerance():
    """Oracle: DistilBERT's table at 8192 positions, compared with the contract's tolerance
    1e-7 * max_len + 1e-6 (what graders allow for float32 angles), and much closer in fact."""
    max_len, d_model = 8192, 32
    got = P.sinusoidal_encoding(max_len, d_model)
    expected = distilbert_table(max_len, d_model)
    torch.testing.assert_close(got, expected, atol=1e-7 * max_len + 1e-6, rtol=0)
    # float64 angles: no drift with the position, still one ulp
    torch.testing.assert_close(got, expected, atol=FLOAT32_ULP_AT_ONE, rtol=0)


def test_contract_tolerance_covers_float32_angles():
    """The contract allows float32 angles; show that such a table (computed here with float32
    angles) stays within 1e-7 * max_len + 1e-6 of DistilBERT's at 8192 positions."""
    max_len, d_model = 8192, 32
    pos = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)  # (max_len, 1)
    inv = 1.0 / 10000.0 ** (torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
    angles = pos * inv  # (max_len, d/2) in float32
    table32 = torch.stack((angles.sin(), angles.cos()), dim=-1).reshape(max_len, d_model)
    expected = distilbert_table(max_len, d_model)
    error = (table32 - expected).abs().max().item()
    assert error > 1e-5, "float32 angles should visibly drift at 8192 positions"
    assert error <= 1e-7 * max_len + 1e-6


@pytest.mark.parametrize("base", [100.0, 500000.0, 10.0])
def test_sinusoidal_other_bases(base):
    """Oracle: the contract's formula evaluated entry by entry in numpy float64 (DistilBERT's
    function has no base argument)."""
    max_len, d_model = 40, 12
    expected = np.zeros((max_len, d_model))
    for pos in range(max_len):
        for i in range(d_model // 2):
            angle = pos / np.power(base, 2 * i / d_model)
            expected[pos, 2 * i], expected[pos, 2 * i + 1] = np.sin(angle), np.cos(angle)
    got = P.sinusoidal_encoding(max_len, d_model, base=base)
    expected = torch.from_numpy(expected).float()
    torch.testing.assert_close(got, expected, atol=FLOAT32_ULP_AT_ONE, rtol=0)


def test_sinusoidal_hand_example_and_empty():
    """Hand-worked: d_model 4 has frequencies 1 and 1/100; max_len 0 gives an empty table."""
    expected = torch.tensor([
        [0.0, 1.0, 0.0, 1.0],
        [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)],
    ])
    torch.testing.assert_close(P.sinusoidal_encoding(2, 4), expected, atol=1e-7, rtol=0)
    empty = P.sinusoidal_encoding(0, 6)
    assert empty.shape == (0, 6) and empty.dtype == torch.float32


@pytest.mark.parametrize(
    "args, error",
    [
        ((4, 5), ValueError),  # odd d_model
        ((4, 1), ValueError),
        ((-1, 4), ValueError),
        ((4, 0), ValueError),
        ((4, 4, 0.0), ValueError),  # base must be positive
        ((4.0, 4), TypeError),
        ((4, "4"), TypeError),
    ],
)
def test_sinusoidal_invalid_arguments(args, error):
    """Contract: odd d_model -> ValueError; other invalid arguments name the argument."""
    with pytest.raises(error, match="max_len|d_model|base"):
        P.sinusoidal_encoding(*args)


# --- rope_inv_freq and apply_rope ------------------------------------------------------------


def llama_rotary(head_dim: int, base: float) -> LlamaRotaryEmbedding:
    """Hugging Face's rotary module for a tiny Llama; transformers 5 reads the base from
    ``rope_parameters["rope_theta"]`` (``rope_theta=`` is folded into it as well)."""
    config = LlamaConfig(
        hidden_size=head_dim * 2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=head_dim,
        rope_parameters={"rope_type": "default", "rope_theta": base},
    )
    return LlamaRotaryEmbedding(config=config)


def llama_rope(x: torch.Tensor, position_ids: torch.Tensor, base: float) -> torch.Tensor:
    """Oracle: LlamaRotaryEmbedding (cos, sin) + apply_rotary_pos_emb, as in LlamaAttention."""
    rotary = llama_rotary(x.shape[-1], base).to(x.device)
    if position_ids.dim() == 1:
        position_ids = position_ids.unsqueeze(0)  # Llama always passes (B, T); (1, T) broadcasts
    cos, sin = rotary(x, position_ids)  # (B, T, d) in x.dtype
    rotated, _ = apply_rotary_pos_emb(x, x, cos, sin)
    return rotated


@pytest.mark.parametrize("head_dim", [2, 4, 16, 64, 128])
@pytest.mark.parametrize("base", [10000.0, 500000.0, 100.0])
def test_rope_inv_freq_matches_llama(head_dim, base):
    """Oracle: LlamaRotaryEmbedding.inv_freq. Same float32 expression: bit for bit."""
    got = P.rope_inv_freq(head_dim, base)
    expected = llama_rotary(head_dim, base).inv_freq
    assert got.dtype == torch.float32 and got.shape == (head_dim // 2,)
    assert torch.equal(got, expected)


@pytest.mark.parametrize(
    "args, error",
    [((7,), ValueError), ((0,), ValueError), ((8, -1.0), ValueError), ((8.0,), TypeError)],
)
def test_rope_inv_freq_invalid_arguments(args, error):
    """Contract: odd head_dim -> ValueError; other invalid arguments name the argument."""
    with pytest.raises(error, match="head_dim|base"):
        P.rope_inv_freq(*args)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16], ids=str)
def test_apply_rope_matches_llama_with_offset(seed, dtype, device):
    """Oracle: Llama's rotary embedding, positions 37..37+T shared by the batch.

    Tolerance 0 in every dtype: the reference runs the same operations in the same order
    (float32 angles, cos/sin cast to x.dtype, x*cos + rotate_half(x)*sin), which the contract
    states matches Hugging Face bit for bit.
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, 9, 32, generator=gen).to(device=device, dtype=dtype)
    positions = torch.arange(37, 46, device=device)
    before = x.clone()
    got = P.apply_rope(x, positions)
    expected = llama_rope(x, positions, 10000.0)
    assert got.dtype == dtype and got.device == x.device and got.shape == x.shape
    assert torch.equal(got, expected)
    assert torch.equal(x, before), "apply_rope modified its input"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16], ids=str)
@pytest.mark.parametrize("base", [10000.0, 500000.0])
def test_apply_rope_matches_llama_batch_positions(seed, dtype, base, device):
    """Oracle: Llama's rotary embedding with (B, T) position ids (unsorted, up to 4095)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 2, 7, 16, generator=gen).to(device=device, dtype=dtype)
    positions = torch.randint(0, 4096, (3, 7), generator=gen).to(device)
    got = P.apply_rope(x, positions, base)
    assert torch.equal(got, llama_rope(x, positions, base))


@pytest.mark.parametrize("seed", SEEDS)
def test_apply_rope_float64_within_contract_tolerance(seed, device):
    """Oracle: exact rotation with float64 angles (complex multiplication). The reference uses
    float32 angles like HF; the contract bounds the difference by 1e-7 * (max pos + 1) + 1e-6
    for unit-scale inputs (|x| <= 1 here)."""
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(2, 2, 6, 64, generator=gen, dtype=torch.float64) * 2 - 1).to(device)
    positions = torch.randint(0, 8192, (2, 6), generator=gen).to(device)
    d = x.shape[-1]
    inv_freq = 1.0 / 10000.0 ** (torch.arange(0, d, 2, dtype=torch.float64, device=device) / d)
    angles = (positions.double().unsqueeze(-1) * inv_freq).unsqueeze(1)  # (B, 1, T, d/2)
    pairs = torch.complex(x[..., : d // 2], x[..., d // 2 :])  # (B, H, T, d/2): x_i + i x_{i+d/2}
    turned = pairs * torch.polar(torch.ones_like(angles), angles)
    exact = torch.cat((turned.real, turned.imag), dim=-1)  # (B, H, T, d)
    got = P.apply_rope(x, positions)
    tol = 1e-7 * (positions.max().item() + 1) + 1e-6
    torch.testing.assert_close(got, exact, atol=tol, rtol=0)


def test_apply_rope_bfloat16_close_to_float32(device):
    """bfloat16 against the float32 oracle output. Each of x, cos, sin, the two products and
    the sum is rounded to 8 significant bits (relative error 2^-9); with |x| <= 1 the terms
    are at most 1 and the output at most sqrt(2), so the errors add up to at most about
    (sqrt2 [x] + 1 [cos] + 1 [sin] + 1 + 1 [products] + sqrt2 [sum]) * 2^-9 < 8 * 2^-9."""
    gen = torch.Generator().manual_seed(3)
    x = (torch.rand(1, 4, 8, 32, generator=gen) * 2 - 1).to(device)
    positions = torch.arange(100, 108, device=device)
    got = P.apply_rope(x.bfloat16(), positions)
    expected = llama_rope(x, positions, 10000.0)
    torch.testing.assert_close(got.float(), expected, atol=8 * 2.0**-9, rtol=0)


def test_apply_rope_hand_example():
    """Hand-worked: d = 4 at position 1, the pair (x0, x2) turns by 1 rad, (x1, x3) by 0.01."""
    x = torch.tensor([[[[1.0, 2.0, 0.0, 0.0]]]])
    c1, s1, c2, s2 = math.cos(1), math.sin(1), math.cos(0.01), math.sin(0.01)
    expected = torch.tensor([[[[c1, 2 * c2, s1, 2 * s2]]]])
    torch.testing.assert_close(P.apply_rope(x, torch.tensor([1])), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "shape, positions, error",
    [
        ((1, 1, 2, 5), torch.arange(2), ValueError),  # odd head dim
        ((1, 2, 5), torch.arange(2), ValueError),  # not (B, H, T, d)
        ((1, 1, 2, 4), torch.arange(3), ValueError),  # T mismatch
        ((2, 1, 2, 4), torch.zeros(3, 2, dtype=torch.long), ValueError),  # B mismatch
        ((1, 1, 2, 4), torch.arange(2.0), TypeError),  # float positions
    ],
)
def test_apply_rope_invalid_arguments(shape, positions, error):
    """Contract: x is (B, H, T, d) with even d, position_ids integer (T,) or (B, T)."""
    with pytest.raises(error, match="x|position_ids"):
        P.apply_rope(torch.zeros(shape), positions)


# --- alibi_slopes and alibi_bias -------------------------------------------------------------


@pytest.mark.parametrize("num_heads", list(range(1, 17)) + [24, 32, 48, 64])
def test_alibi_slopes_match_bloom(num_heads):
    """Oracle: BLOOM's _get_alibi_slopes. It raises a float32-rounded base to integer powers up
    to n in float32, so its relative error grows to about n float32 ulps (2^-24 each); the
    reference rounds the float64 value once."""
    got = P.alibi_slopes(num_heads)
    expected = _get_alibi_slopes(num_heads, torch.device("cpu"))
    assert got.dtype == torch.float32 and got.shape == (num_heads,)
    torch.testing.assert_close(got, expected, rtol=num_heads * 2.0**-24, atol=0)


@pytest.mark.parametrize(
    "num_heads, exponents",
    [
        (6, [-2, -4, -6, -8, -1, -3]),
        (12, [-1, -2, -3, -4, -5, -6, -7, -8, -0.5, -1.5, -2.5, -3.5]),
        (5, [-2, -4, -6, -8, -1]),
    ],
)
def test_alibi_slopes_hand_examples(num_heads, exponents):
    """Hand-worked from Press et al.: powers of two of the nearest c, then every other of 2c."""
    expected = torch.tensor([2.0**e for e in exponents])
    torch.testing.assert_close(P.alibi_slopes(num_heads), expected, rtol=2.0**-24, atol=0)


@pytest.mark.parametrize(
    "args, error", [((0,), ValueError), ((-3,), ValueError), ((2.0,), TypeError)]
)
def test_alibi_slopes_invalid_arguments(args, error):
    """Invalid head counts name the argument (BLOOM itself fails on log2(0))."""
    with pytest.raises(error, match="num_heads"):
        P.alibi_slopes(*args)


@pytest.mark.parametrize("num_heads", [1, 3, 6, 8, 12])
@pytest.mark.parametrize("seq_len", [1, 5, 17])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_alibi_bias_softmax_matches_bloom(num_heads, seq_len, dtype, device):
    """Oracle: BLOOM's build_alibi_tensor (``+slope * j``) added to the same scores under a causal
    mask gives the same softmax as the reference bias ``-slope * |i - j|``.

    Tolerance: BLOOM's float32 slopes differ from the reference's by up to n float32 ulps
    (relative n * 2^-24, see test_alibi_slopes_match_bloom); times |j| < seq_len that moves a
    logit by at most n * 2^-24 * seq_len, and a softmax output by at most twice that. On top,
    the constant shift slope * i between the two forms costs a few ulps of the largest score
    (|score| < ~10): 1e-6 in float32, 1e-12 in float64.
    """
    gen = torch.Generator().manual_seed(num_heads * 100 + seq_len)
    scores = torch.randn(2, num_heads, seq_len, seq_len, generator=gen) * 3
    scores = scores.to(device=device, dtype=dtype)
    attention_mask = torch.ones(2, seq_len, device=device, dtype=torch.long)
    bloom = build_alibi_tensor(attention_mask, num_heads, dtype).view(2, num_heads, 1, seq_len)
    causal = torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()
    expected = (scores + bloom).masked_fill(~causal, -math.inf).softmax(-1)
    bias = P.alibi_bias(num_heads, seq_len)
    assert bias.dtype == torch.float32 and bias.shape == (num_heads, seq_len, seq_len)
    got = (scores + bias.to(device=device, dtype=dtype)).masked_fill(~causal, -math.inf).softmax(-1)
    slope_gap = 2 * num_heads * 2.0**-24 * seq_len
    atol = slope_gap + (1e-6 if dtype == torch.float32 else 1e-12)
    torch.testing.assert_close(got, expected, atol=atol, rtol=0)


@pytest.mark.parametrize("num_heads", [2, 6, 16])
def test_alibi_bias_entries_use_bloom_slopes(num_heads):
    """Oracle: BLOOM's slopes times the distance |i - j|, entry by entry."""
    seq_len = 9
    slopes = _get_alibi_slopes(num_heads, torch.device("cpu")).double()
    distance = torch.tensor([[abs(i - j) for j in range(seq_len)] for i in range(seq_len)]).double()
    expected = -slopes.view(-1, 1, 1) * distance  # (H, S, S)
    got = P.alibi_bias(num_heads, seq_len)
    torch.testing.assert_close(got.double(), expected, rtol=num_heads * 2.0**-24 + 2.0**-24, atol=0)


def test_alibi_bias_hand_example_and_empty():
    """Hand-worked: one head, slope 2^-8, distances 0, 1, 2; seq_len 0 gives an empty bias."""
    s = 2.0**-8
    expected = torch.tensor([[[0.0, -s, -2 * s], [-s, 0.0, -s], [-2 * s, -s, 0.0]]])
    assert torch.equal(P.alibi_bias(1, 3), expected)
    assert P.alibi_bias(4, 0).shape == (4, 0, 0)


@pytest.mark.parametrize(
    "args, error", [((0, 3), ValueError), ((2, -1), ValueError), ((2, 3.0), TypeError)]
)
def test_alibi_bias_invalid_arguments(args, error):
    """Invalid arguments name the argument."""
    with pytest.raises(error, match="num_heads|seq_len"):
        P.alibi_bias(*args)

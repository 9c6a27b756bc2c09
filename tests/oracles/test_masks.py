"""The reference masks equal the masks PyTorch and Hugging Face build.

Oracles: ``torch.ones(L, S, dtype=bool).tril(S - L)``; ``is_causal=True`` in
``F.scaled_dot_product_attention``; ``torch.nn.attention.bias.causal_lower_right`` (the
KV-cache alignment); ``transformers.masking_utils.sdpa_mask`` (causal, padding, causal +
padding and sliding-window masks, True = may attend); ``nn.Transformer
.generate_square_subsequent_mask`` (additive causal mask).
"""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.attention.bias import causal_lower_right

from reference import masks as ref

masking_utils = pytest.importorskip("transformers.masking_utils")

SEEDS = [0, 1, 2]
# (q_len, k_len): square, KV cache (k_len > q_len, incl. the one-query decoding step), and
# more queries than keys (the first queries see nothing).
SIZES = [(1, 1), (4, 4), (7, 7), (1, 6), (2, 5), (3, 4), (5, 9), (6, 3), (4, 1)]


# --- causal_mask ----------------------------------------------------------------------------


@pytest.mark.parametrize("q_len, k_len", SIZES)
def test_causal_mask_equals_tril(q_len, k_len, device):
    """Oracle: torch.ones(L, S, dtype=bool).tril(S - L) (bottom-right alignment)."""
    expected = torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril(k_len - q_len)
    got = ref.causal_mask(q_len, k_len, device=device)
    assert got.dtype == torch.bool and got.device == expected.device
    assert torch.equal(got, expected)


@pytest.mark.filterwarnings("ignore:Lower right causal bias")  # it warns when L > S
@pytest.mark.parametrize("q_len, k_len", SIZES)
def test_causal_mask_equals_causal_lower_right(q_len, k_len, device):
    """Oracle: torch.nn.attention.bias.causal_lower_right(L, S), materialised."""
    expected = causal_lower_right(q_len, k_len)._materialize(device)
    assert torch.equal(ref.causal_mask(q_len, k_len, device=device), expected)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("q_len, k_len", [(2, 5), (1, 6), (3, 4)])
def test_causal_mask_attention_equals_sdpa_with_causal_lower_right(seed, q_len, k_len, device):
    """Oracle: SDPA with attn_mask=causal_lower_right(L, S), the KV-cache decoding step."""
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(2, 3, q_len, 8, generator=g, dtype=torch.float64).to(device)
    k = torch.randn(2, 3, k_len, 8, generator=g, dtype=torch.float64).to(device)
    v = torch.randn(2, 3, k_len, 8, generator=g, dtype=torch.float64).to(device)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_lower_right(q_len, k_len))
    got = F.scaled_dot_product_attention(q, k, v, attn_mask=ref.causal_mask(q_len, k_len, device=device))
    torch.testing.assert_close(got, expected, atol=1e-12, rtol=1e-10)  # same kernel, float64


@pytest.mark.parametrize("seed", SEEDS)
def test_causal_mask_equals_sdpa_is_causal(seed, device):
    """Oracle: F.scaled_dot_product_attention(is_causal=True) for L == S."""
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(2, 2, 6, 4, generator=g, dtype=torch.float64).to(device) for _ in range(3))
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    got = F.scaled_dot_product_attention(q, k, v, attn_mask=ref.causal_mask(6, device=device))
    torch.testing.assert_close(got, expected, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("q_len, k_len", [(3, 3), (2, 5), (1, 4)])
def test_causal_mask_equals_hf_sdpa_mask(q_len, k_len):
    """Oracle: transformers.masking_utils.sdpa_mask with q_offset = S - L (cached keys)."""
    expected = masking_utils.sdpa_mask(
        batch_size=1, q_length=q_len, kv_length=k_len, q_offset=k_len - q_len,
        allow_is_causal_skip=False,
    )
    assert torch.equal(ref.causal_mask(q_len, k_len), expected[0, 0])


def test_causal_mask_hand_worked():
    """Hand-worked: the 3x3 lower triangle and the (2, 4) KV-cache case."""
    T, F_ = True, False
    assert ref.causal_mask(3).tolist() == [[T, F_, F_], [T, T, F_], [T, T, T]]
    assert ref.causal_mask(2, 4).tolist() == [[T, T, T, F_], [T, T, T, T]]


def test_causal_mask_rejects_invalid_arguments():
    for bad in (0, -1):
        with pytest.raises(ValueError, match="q_len"):
            ref.causal_mask(bad)
        with pytest.raises(ValueError, match="k_len"):
            ref.causal_mask(3, bad)
    for bad in (2.0, True, "3"):
        with pytest.raises(TypeError, match="q_len"):
            ref.causal_mask(bad)


# --- padding masks --------------------------------------------------------------------------


def random_ids(seed: int, batch: int = 3, seq_len: int = 6, pad_id: int = 0) -> torch.Tensor:
    """Right- and left-padded rows, one row without padding and one made of padding only."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 50, (batch + 2, seq_len), generator=g)
    for row in range(batch):
        n_pad = int(torch.randint(1, seq_len, (1,), generator=g))
        if row % 2:
            ids[row, :n_pad] = pad_id  # left padding
        else:
            ids[row, seq_len - n_pad:] = pad_id  # right padding
    ids[batch + 1] = pad_id
    return ids


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("pad_id", [0, 7])
def test_padding_mask_equals_hf_sdpa_mask(seed, pad_id, device):
    """Oracle: transformers.masking_utils.sdpa_mask(bidirectional, attention_mask) for one
    query row, i.e. (B, 1, 1, S)."""
    ids = random_ids(seed, pad_id=pad_id).to(device)
    attention_mask = ids != pad_id
    expected = masking_utils.sdpa_mask(
        batch_size=ids.shape[0], q_length=1, kv_length=ids.shape[1],
        mask_function=masking_utils.bidirectional_mask_function,
        attention_mask=attention_mask, allow_is_causal_skip=False, device=device,
    )
    got = ref.padding_mask(ids, pad_id)
    assert got.shape == (ids.shape[0], 1, 1, ids.shape[1]) and got.dtype == torch.bool
    assert torch.equal(got, expected)


@pytest.mark.parametrize("seed", SEEDS)
def test_padding_mask_equals_mha_key_padding_mask(seed, device):
    """Oracle: nn.MultiheadAttention with key_padding_mask = (ids == pad) gives the same
    output as SDPA with our (B, 1, 1, S) mask (identity projections, one head)."""
    ids = random_ids(seed)[:3].to(device)  # rows with at least one real token
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*ids.shape, 4, generator=g, dtype=torch.float64).to(device)
    module = nn.MultiheadAttention(4, 1, batch_first=True, bias=False).to(device, torch.float64)
    with torch.no_grad():
        module.in_proj_weight.copy_(torch.eye(4).repeat(3, 1))
        module.out_proj.weight.copy_(torch.eye(4))
        expected, _ = module(x, x, x, key_padding_mask=ids == 0)
    got = F.scaled_dot_product_attention(x[:, None], x[:, None], x[:, None], attn_mask=ref.padding_mask(ids, 0))
    torch.testing.assert_close(got[:, 0], expected, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("pad_id", [0, 7])
def test_causal_padding_mask_equals_hf_sdpa_mask(seed, pad_id, device):
    """Oracle: transformers.masking_utils.sdpa_mask(causal, attention_mask), (B, 1, S, S)."""
    ids = random_ids(seed, pad_id=pad_id).to(device)
    expected = masking_utils.sdpa_mask(
        batch_size=ids.shape[0], q_length=ids.shape[1], kv_length=ids.shape[1],
        attention_mask=ids != pad_id, allow_is_causal_skip=False, device=device,
    )
    got = ref.causal_padding_mask(ids, pad_id)
    assert got.shape == (ids.shape[0], 1, ids.shape[1], ids.shape[1]) and got.dtype == torch.bool
    assert torch.equal(got, expected)


def test_padding_masks_hand_worked():
    """Hand-worked: [[5, 7, 0]] and [[4, 9, 0]] with pad 0."""
    T, F_ = True, False
    assert ref.padding_mask(torch.tensor([[5, 7, 0]]), 0).tolist() == [[[[T, T, F_]]]]
    assert ref.causal_padding_mask(torch.tensor([[4, 9, 0]]), 0).tolist() == [
        [[[T, F_, F_], [T, T, F_], [T, T, F_]]]
    ]


def test_padding_masks_reject_invalid_arguments():
    for fn in (ref.padding_mask, ref.causal_padding_mask):
        with pytest.raises(TypeError, match="token_ids"):
            fn(torch.zeros(2, 3), 0)
        with pytest.raises(TypeError, match="token_ids"):
            fn([[1, 2, 0]], 0)
        with pytest.raises(ValueError, match="token_ids"):
            fn(torch.zeros(2, 3, 4, dtype=torch.long), 0)
        with pytest.raises(TypeError, match="pad_id"):
            fn(torch.zeros(2, 3, dtype=torch.long), 0.5)


# --- sliding_window_mask --------------------------------------------------------------------


@pytest.mark.parametrize("seq_len, window", [(1, 1), (5, 1), (5, 2), (6, 3), (8, 4), (4, 4), (4, 9)])
def test_sliding_window_mask_equals_hf(seq_len, window):
    """Oracle: transformers.masking_utils.sdpa_mask(and_masks(causal, sliding_window_overlay))."""
    fn = masking_utils.and_masks(
        masking_utils.causal_mask_function, masking_utils.sliding_window_overlay(window)
    )
    expected = masking_utils.sdpa_mask(
        batch_size=1, q_length=seq_len, kv_length=seq_len, mask_function=fn,
        allow_is_causal_skip=False,
    )
    got = ref.sliding_window_mask(seq_len, window)
    assert got.dtype == torch.bool
    assert torch.equal(got, expected[0, 0])


def test_sliding_window_mask_wide_window_is_causal():
    """Oracle: with window >= seq_len the mask is torch.ones(...).tril()."""
    assert torch.equal(ref.sliding_window_mask(5, 5), torch.ones(5, 5, dtype=torch.bool).tril())
    assert torch.equal(ref.sliding_window_mask(5, 50), torch.ones(5, 5, dtype=torch.bool).tril())


def test_sliding_window_mask_rejects_invalid_arguments():
    with pytest.raises(ValueError, match="window"):
        ref.sliding_window_mask(4, 0)
    with pytest.raises(ValueError, match="window"):
        ref.sliding_window_mask(4, -2)
    with pytest.raises(TypeError, match="window"):
        ref.sliding_window_mask(4, 1.5)
    with pytest.raises(ValueError, match="seq_len"):
        ref.sliding_window_mask(0, 2)


# --- additive_mask --------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 4, 7])
def test_additive_causal_mask_equals_generate_square_subsequent_mask(size, device):
    """Oracle: nn.Transformer.generate_square_subsequent_mask (0 on/below the diagonal, -inf above)."""
    expected = nn.Transformer.generate_square_subsequent_mask(size, device=device)
    got = ref.additive_mask(torch.ones(size, size, dtype=torch.bool, device=device).tril())
    assert got.dtype == torch.float32 and got.device == expected.device
    assert torch.equal(got, expected)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
@pytest.mark.parametrize("seed", SEEDS)
def test_additive_mask_in_sdpa_equals_bool_mask(seed, dtype, device):
    """Oracle: SDPA with the float mask added equals SDPA with the bool mask (rows keep a key)."""
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(2, 5, 4, generator=g).to(device, dtype) for _ in range(3))
    mask = torch.rand(2, 5, 5, generator=g) < 0.5
    mask[..., 2] = True
    mask = mask.to(device)
    additive = ref.additive_mask(mask, dtype)
    assert additive.dtype == dtype and additive.shape == mask.shape
    assert set(additive.unique().tolist()) <= {0.0, float("-inf")}
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    got = F.scaled_dot_product_attention(q, k, v, attn_mask=additive)
    # The same kernel either way; -inf and a False entry both give weight exactly 0.
    torch.testing.assert_close(got, expected, atol=0, rtol=0)


def test_additive_mask_hand_worked_and_errors():
    """Hand-worked: [True, False] -> [0, -inf]; non-bool masks and non-float dtypes refused."""
    got = ref.additive_mask(torch.tensor([True, False]), torch.float64)
    assert got.dtype == torch.float64 and got.tolist() == [0.0, float("-inf")]
    with pytest.raises(TypeError, match="mask"):
        ref.additive_mask(torch.tensor([1, 0]))
    with pytest.raises(TypeError, match="dtype"):
        ref.additive_mask(torch.tensor([True]), torch.int64)

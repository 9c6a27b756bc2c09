"""Public checks for lab 2.3.1, masks (run: pytest exercises/checks/test_masks.py).

Your masks are compared with small masks written out by hand and with the ones PyTorch
builds (``torch.tril``, ``torch.nn.attention.bias.causal_lower_right``,
``nn.Transformer.generate_square_subsequent_mask``). Remember: True = may attend.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from torch.nn.attention.bias import causal_lower_right

from autograder.checking import assert_close, expect_error

T, F = True, False


# --- causal_mask ----------------------------------------------------------------------------


@pytest.mark.function("masks.causal_mask")
def test_causal_mask_hand_worked_3x3(impl):
    """Each token sees itself and the past: the lower triangle, diagonal included."""
    expected = torch.tensor([[T, F, F], [T, T, F], [T, T, T]])
    assert_close(impl.masks.causal_mask(3), expected, name="causal_mask(3)")


@pytest.mark.function("masks.causal_mask")
@pytest.mark.parametrize("size", [1, 2, 5, 8])
def test_causal_mask_equals_tril(impl, size):
    """causal_mask(n) must equal torch.ones(n, n, dtype=torch.bool).tril()."""
    expected = torch.ones(size, size, dtype=torch.bool).tril()
    assert_close(impl.masks.causal_mask(size), expected, name=f"causal_mask({size})")


@pytest.mark.function("masks.causal_mask")
def test_causal_mask_kv_cache_hand_worked(impl):
    """2 new queries over 4 keys: they are positions 2 and 3, so the last one sees all keys."""
    expected = torch.tensor([[T, T, T, F], [T, T, T, T]])
    assert_close(impl.masks.causal_mask(2, 4), expected, name="causal_mask(2, 4)")


@pytest.mark.function("masks.causal_mask")
@pytest.mark.parametrize("q_len, k_len", [(1, 5), (2, 6), (3, 7)])
def test_causal_mask_kv_cache_equals_causal_lower_right(impl, q_len, k_len):
    """k_len > q_len: bottom-right alignment, as torch.nn.attention.bias.causal_lower_right
    and torch.ones(L, S).tril(S - L)."""
    expected = causal_lower_right(q_len, k_len)._materialize()
    assert_close(impl.masks.causal_mask(q_len, k_len), expected, name=f"causal_mask({q_len}, {k_len})")
    tril = torch.ones(q_len, k_len, dtype=torch.bool).tril(k_len - q_len)
    assert_close(impl.masks.causal_mask(q_len, k_len), tril, name=f"causal_mask({q_len}, {k_len})")


@pytest.mark.function("masks.causal_mask")
def test_causal_mask_device_argument(impl, device):
    """The mask is created on the requested device."""
    expected = torch.ones(4, 4, dtype=torch.bool, device=device).tril()
    assert_close(impl.masks.causal_mask(4, device=device), expected, name="causal_mask(4, device=...)")


# --- padding masks --------------------------------------------------------------------------


@pytest.mark.function("masks.padding_mask")
def test_padding_mask_hand_worked(impl):
    """True at the real tokens, False at the pad id; shape (B, 1, 1, S)."""
    ids = torch.tensor([[5, 7, 0, 0], [0, 3, 4, 9]])
    expected = torch.tensor([[[[T, T, F, F]]], [[[F, T, T, T]]]])
    assert_close(impl.masks.padding_mask(ids, 0), expected, name="padding_mask(ids, pad_id=0)")


@pytest.mark.function("masks.padding_mask")
def test_padding_mask_with_other_pad_id(impl, rng):
    """Any pad id works, and the mask follows token_ids != pad_id everywhere."""
    ids = torch.randint(0, 4, (3, 9), generator=rng)
    expected = (ids != 2).reshape(3, 1, 1, 9)
    assert_close(impl.masks.padding_mask(ids, 2), expected, name="padding_mask(ids, pad_id=2)")


@pytest.mark.function("masks.causal_padding_mask")
def test_causal_padding_mask_hand_worked(impl):
    """Causal AND not padding: the pad key (column 2) is never visible."""
    ids = torch.tensor([[4, 9, 0]])
    expected = torch.tensor([[[[T, F, F], [T, T, F], [T, T, F]]]])
    assert_close(impl.masks.causal_padding_mask(ids, 0), expected, name="causal_padding_mask(ids, 0)")


@pytest.mark.function("masks.causal_padding_mask")
def test_causal_padding_mask_is_causal_and_not_pad(impl):
    """Left and right padding, checked entry by entry: j <= i and ids[b, j] != pad."""
    ids = torch.tensor([[0, 0, 3, 8, 2], [6, 1, 7, 0, 0]])
    expected = torch.zeros(2, 1, 5, 5, dtype=torch.bool)
    for b in range(2):
        for i in range(5):
            for j in range(5):
                expected[b, 0, i, j] = j <= i and int(ids[b, j]) != 0
    assert_close(impl.masks.causal_padding_mask(ids, 0), expected, name="causal_padding_mask(ids, 0)")


# --- sliding_window_mask --------------------------------------------------------------------


@pytest.mark.function("masks.sliding_window_mask")
def test_sliding_window_mask_hand_worked(impl):
    """window = 2: each token sees itself and the one before it."""
    expected = torch.tensor(
        [[T, F, F, F], [T, T, F, F], [F, T, T, F], [F, F, T, T]]
    )
    assert_close(impl.masks.sliding_window_mask(4, 2), expected, name="sliding_window_mask(4, 2)")


@pytest.mark.function("masks.sliding_window_mask")
@pytest.mark.parametrize("window", [1, 3, 6, 10])
def test_sliding_window_mask_band(impl, window):
    """True exactly where i - window < j <= i; a window >= seq_len is the causal mask."""
    expected = torch.ones(6, 6, dtype=torch.bool).tril() & ~torch.ones(6, 6, dtype=torch.bool).tril(-window)
    assert_close(impl.masks.sliding_window_mask(6, window), expected, name=f"sliding_window_mask(6, {window})")


@pytest.mark.function("masks.sliding_window_mask")
def test_sliding_window_mask_rejects_empty_window(impl):
    expect_error(ValueError, impl.masks.sliding_window_mask, 4, 0, what="sliding_window_mask(4, window=0)")


# --- additive_mask --------------------------------------------------------------------------


@pytest.mark.function("masks.additive_mask")
def test_additive_mask_hand_worked(impl):
    """0.0 where True, -inf where False, float32 by default."""
    got = impl.masks.additive_mask(torch.tensor([[T, F], [F, T]]))
    expected = torch.tensor([[0.0, float("-inf")], [float("-inf"), 0.0]])
    assert_close(got, expected, name="additive_mask(mask)")


@pytest.mark.function("masks.additive_mask")
@pytest.mark.parametrize("size", [1, 3, 6])
def test_additive_causal_mask_equals_pytorch(impl, size):
    """Of a causal bool mask, it equals nn.Transformer.generate_square_subsequent_mask."""
    mask = torch.ones(size, size, dtype=torch.bool).tril()
    expected = nn.Transformer.generate_square_subsequent_mask(size)
    assert_close(impl.masks.additive_mask(mask), expected, name="additive_mask(causal)")


@pytest.mark.function("masks.additive_mask")
@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_additive_mask_dtype(impl, dtype):
    """The dtype argument sets the result's dtype."""
    mask = torch.tensor([F, T, T])
    expected = torch.tensor([float("-inf"), 0.0, 0.0], dtype=dtype)
    assert_close(impl.masks.additive_mask(mask, dtype), expected, name=f"additive_mask(mask, {dtype})")

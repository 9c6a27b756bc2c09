"""Hidden suite, lab 2.3.1 masks: the implementation under test against the reference.

Sizes are drawn from `rng` (fresh every run); each mistake id also has deterministic cases.
Random causal sizes avoid k_len - q_len == 1: there "diagonal hidden" (j < i + 1) and
"top-left aligned" (j <= i) give the same mask, and the diagnosis could not tell them apart.
Such sizes are still graded in a deterministic case, where a failure is reported without
guessing a mistake id.
"""
from __future__ import annotations

import pytest
import torch

from autograder.inputs import draw

CAUSAL = "masks.causal_mask"
PADDING = "masks.padding_mask"
CAUSAL_PADDING = "masks.causal_padding_mask"
SLIDING = "masks.sliding_window_mask"
ADDITIVE = "masks.additive_mask"


def random_ids(rng, batch, seq_len, pad_id, device):
    """Rows with right padding, left padding, no padding and only padding."""
    ids = torch.randint(0, 30, (batch, seq_len), generator=rng)
    ids[ids == pad_id] = pad_id + 1  # pads only where placed below
    for row in range(batch):
        n_pad = draw(rng, 0, seq_len)
        if row % 2:
            ids[row, :n_pad] = pad_id
        else:
            ids[row, seq_len - n_pad:] = pad_id
    return ids.to(device)


# --- causal_mask ----------------------------------------------------------------------------


@pytest.mark.function(CAUSAL)
@pytest.mark.weight(2)
@pytest.mark.parametrize("size", [2, 3, 6])
def test_causal_mask_square(judge, size):
    """Deterministic: square masks (k_len defaults to q_len). Exposes a hidden diagonal and
    the upper triangle."""
    judge.compare(CAUSAL, size)


@pytest.mark.function(CAUSAL)
@pytest.mark.weight(2)
@pytest.mark.parametrize("q_len, k_len", [(1, 5), (2, 6), (3, 7), (4, 10)])
def test_causal_mask_kv_cache(judge, q_len, k_len):
    """Deterministic: more keys than queries (KV cache). Exposes top-left alignment."""
    judge.compare(CAUSAL, q_len, k_len)


@pytest.mark.function(CAUSAL)
def test_causal_mask_random_sizes(judge, rng):
    """Random q_len and k_len = q_len + offset, offset 0 or >= 2 (see the module docstring)."""
    for _ in range(4):
        q_len = draw(rng, 2, 9)
        offset = [0, 2, 3, 5, 8][draw(rng, 0, 4)]
        judge.compare(CAUSAL, q_len, q_len + offset)


def ambiguous(q_len: int, k_len: int) -> bool:
    """Sizes where two causal-mask mistakes give the same mask: one more key than queries
    (j < i + 1 is j <= i), or a single key seen by several queries (top-left = upper
    triangle)."""
    return k_len - q_len == 1 or (k_len == 1 and q_len > 1)


@pytest.mark.function(CAUSAL)
@pytest.mark.parametrize("q_len, k_len", [(2, 3), (1, 2), (5, 6), (5, 3), (7, 4), (4, 1), (1, 1)])
def test_causal_mask_other_sizes(judge, q_len, k_len):
    """Deterministic: one more key than queries, more queries than keys (the first queries see
    nothing), and 1 x 1. Graded everywhere; no mistake is named where two could explain it."""
    judge.diagnose_enabled = not ambiguous(q_len, k_len)
    try:
        judge.compare(CAUSAL, q_len, k_len)
    finally:
        judge.diagnose_enabled = True


@pytest.mark.function(CAUSAL)
def test_causal_mask_device_argument(judge, device):
    """The device argument (a string here) places the mask."""
    judge.compare(CAUSAL, 4, 6, device=str(device))


@pytest.mark.function(CAUSAL)
def test_causal_mask_invalid_arguments(judge):
    judge.raises(CAUSAL, ValueError, 0)
    judge.raises(CAUSAL, ValueError, 3, 0)


# --- padding masks --------------------------------------------------------------------------


@pytest.mark.function(PADDING)
@pytest.mark.weight(2)
def test_padding_mask_deterministic(judge, device):
    """Deterministic: right, left and no padding."""
    ids = torch.tensor([[5, 7, 0, 0], [0, 3, 4, 9], [1, 2, 3, 4]], device=device)
    judge.compare(PADDING, ids, 0)


@pytest.mark.function(PADDING)
@pytest.mark.parametrize("pad_id", [0, 3])
def test_padding_mask_random(judge, rng, device, pad_id):
    ids = random_ids(rng, draw(rng, 1, 5), draw(rng, 1, 10), pad_id, device)
    judge.compare(PADDING, ids, pad_id)


@pytest.mark.function(PADDING)
def test_padding_mask_invalid_arguments(judge):
    judge.raises(PADDING, ValueError, torch.zeros(2, 3, 4, dtype=torch.long), 0)
    judge.raises(PADDING, TypeError, torch.zeros(2, 3), 0)


@pytest.mark.function(CAUSAL_PADDING)
def test_causal_padding_mask_deterministic(judge, device):
    ids = torch.tensor([[4, 9, 0], [0, 0, 7]], device=device)
    judge.compare(CAUSAL_PADDING, ids, 0)


@pytest.mark.function(CAUSAL_PADDING)
@pytest.mark.parametrize("pad_id", [0, 5])
def test_causal_padding_mask_random(judge, rng, device, pad_id):
    ids = random_ids(rng, draw(rng, 1, 5), draw(rng, 1, 10), pad_id, device)
    judge.compare(CAUSAL_PADDING, ids, pad_id)


@pytest.mark.function(CAUSAL_PADDING)
def test_causal_padding_mask_invalid_arguments(judge):
    judge.raises(CAUSAL_PADDING, ValueError, torch.zeros(3, dtype=torch.long), 0)


# --- sliding_window_mask --------------------------------------------------------------------


@pytest.mark.function(SLIDING)
@pytest.mark.parametrize("seq_len, window", [(4, 2), (6, 1), (5, 5), (3, 10)])
def test_sliding_window_mask_deterministic(judge, seq_len, window):
    judge.compare(SLIDING, seq_len, window)


@pytest.mark.function(SLIDING)
def test_sliding_window_mask_random(judge, rng):
    for _ in range(3):
        judge.compare(SLIDING, draw(rng, 1, 12), draw(rng, 1, 8))


@pytest.mark.function(SLIDING)
def test_sliding_window_mask_invalid_arguments(judge):
    judge.raises(SLIDING, ValueError, 4, 0)
    judge.raises(SLIDING, ValueError, 4, -3)


# --- additive_mask --------------------------------------------------------------------------
# Only the default dtype (float32) is graded here: a torch.dtype argument is not among the
# values this suite sends to the sandboxed worker.


@pytest.mark.function(ADDITIVE)
def test_additive_mask_deterministic(judge, device):
    mask = torch.tensor([[True, False], [False, True]], device=device)
    judge.compare(ADDITIVE, mask)


@pytest.mark.function(ADDITIVE)
def test_additive_mask_random_shapes(judge, rng, device):
    shape = tuple(draw(rng, 1, 5) for _ in range(draw(rng, 1, 4)))
    judge.compare(ADDITIVE, (torch.rand(shape, generator=rng) < 0.5).to(device))


@pytest.mark.function(ADDITIVE)
def test_additive_mask_invalid_arguments(judge):
    judge.raises(ADDITIVE, TypeError, torch.tensor([1, 0]))

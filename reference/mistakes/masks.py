"""Known-wrong variants of `reference.masks` (one per mistake id of lab 2.3.1)."""
from __future__ import annotations

import torch

from reference.masks import _check_length, _check_token_ids
from reference.mistakes import mistake


def _positions(q_len, k_len, device):
    _check_length(q_len, "q_len")
    k_len = q_len if k_len is None else _check_length(k_len, "k_len")
    i = torch.arange(q_len, device=device).unsqueeze(1)  # (q_len, 1)
    j = torch.arange(k_len, device=device).unsqueeze(0)  # (1, k_len)
    return i, j, k_len - q_len


@mistake(
    "masks.causal_diagonal",
    function="causal_mask",
    hint="Your causal mask hides the diagonal: a token cannot see itself. A query may attend to "
    "every earlier key AND to its own position, so the comparison is 'key index <= query "
    "index' (the lower triangle including the diagonal), not a strict '<'.",
)
def causal_mask_hides_diagonal(q_len, k_len=None, device=None):
    i, j, offset = _positions(q_len, k_len, device)
    return j < i + offset


@mistake(
    "masks.causal_transposed",
    function="causal_mask",
    hint="Your causal mask is the upper triangle: each query sees the future and not the past. "
    "With True = may attend, the allowed entries are the lower triangle (key index <= query "
    "index). An upper-triangular matrix is the set of positions to BLOCK, not to keep.",
)
def causal_mask_upper_triangle(q_len, k_len=None, device=None):
    i, j, offset = _positions(q_len, k_len, device)
    return j >= i + offset


@mistake(
    "masks.causal_top_left",
    function="causal_mask",
    hint="With more keys than queries (decoding with a KV cache) the queries are the LAST q_len "
    "positions, so the triangle is aligned to the bottom-right corner: query i may see key j "
    "when j <= i + (k_len - q_len). The newest query must see every cached key.",
)
def causal_mask_top_left(q_len, k_len=None, device=None):
    i, j, _ = _positions(q_len, k_len, device)
    return j <= i


@mistake(
    "masks.padding_inverted",
    function="padding_mask",
    hint="Your padding mask is True at the pad tokens. With True = may attend, the mask must be "
    "True at the real tokens and False at the padding, so that nobody attends to a pad.",
)
def padding_mask_inverted(token_ids, pad_id):
    _check_token_ids(token_ids, pad_id)
    return (token_ids == pad_id)[:, None, None, :]  # (B, S) -> (B, 1, 1, S)

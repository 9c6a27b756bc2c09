"""Lab 2.3.1, Attention masks: causal, padding, sliding-window and additive masks.

Study guide, module 2.3, "Lab 2.3.1: Attention from Scratch" (key skill "Attention masking
(causal, padding)"). A mask decides which keys each query may look at: a decoder must not
see the future, and nobody should attend to padding.

Every mask here is a bool tensor with **True = this query may attend to this key**, the
convention of ``torch.nn.functional.scaled_dot_product_attention`` (``nn.MultiheadAttention``
and ``nn.TransformerEncoderLayer`` use the opposite one: their True means "blocked").
Row i of a mask is query position i, column j is key position j.

Check your work with ``pytest exercises/checks/test_masks.py``.
"""
from __future__ import annotations

import torch


def causal_mask(q_len: int, k_len: int | None = None, device=None) -> torch.Tensor:
    """Causal mask: each query sees its own position and the earlier ones.

    ``mask[i, j] = j <= i + (k_len - q_len)``. With ``k_len == q_len`` (the default) this is
    the lower triangle including the diagonal. With more keys than queries (decoding with a
    KV cache) the q_len queries are the *last* q_len positions of the sequence, so the
    triangle sits in the bottom-right corner and the newest query sees every key.

    Args:
        q_len: number of queries, an int >= 1.
        k_len: number of keys, an int >= 1; defaults to q_len.
        device: where to create the mask (default: PyTorch's default device).

    Returns:
        bool tensor ``(q_len, k_len)``.

    Raises:
        TypeError: q_len or k_len is not an int.
        ValueError: q_len or k_len is below 1.

    Example::

        causal_mask(3) = [[ True, False, False],
                          [ True,  True, False],
                          [ True,  True,  True]]
        causal_mask(2, 4) = [[ True,  True,  True, False],     query = position 2 of 0..3
                             [ True,  True,  True,  True]]     query = position 3
    """
    raise NotImplementedError("masks.causal_mask: not implemented yet")


def padding_mask(token_ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Key mask that hides padding: True at real tokens, False at pad tokens.

    The result has shape ``(B, 1, 1, S)`` so that it broadcasts over heads and queries when
    used with ``(B, H, L, S)`` attention scores.

    Args:
        token_ids: integer tensor ``(B, S)``.
        pad_id: the id used for padding (an int).

    Returns:
        bool tensor ``(B, 1, 1, S)`` on token_ids' device.

    Raises:
        TypeError: token_ids is not an integer tensor, or pad_id is not an int.
        ValueError: token_ids is not 2-D.

    Example::

        padding_mask(torch.tensor([[5, 7, 0]]), pad_id=0) = [[[[True, True, False]]]]
    """
    raise NotImplementedError("masks.padding_mask: not implemented yet")


def causal_padding_mask(token_ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Decoder self-attention mask: causal AND the key is not padding.

    ``mask[b, 0, i, j] = (j <= i) and token_ids[b, j] != pad_id``.

    Args:
        token_ids: integer tensor ``(B, S)``, S >= 1.
        pad_id: the id used for padding (an int).

    Returns:
        bool tensor ``(B, 1, S, S)`` on token_ids' device.

    Raises:
        TypeError: token_ids is not an integer tensor, or pad_id is not an int.
        ValueError: token_ids is not 2-D or has no positions.

    Example::

        causal_padding_mask(torch.tensor([[4, 9, 0]]), pad_id=0)
          = [[[[ True, False, False],
               [ True,  True, False],
               [ True,  True, False]]]]     the pad key (column 2) is never visible
    """
    raise NotImplementedError("masks.causal_padding_mask: not implemented yet")


def sliding_window_mask(seq_len: int, window: int) -> torch.Tensor:
    """Local causal mask: each query sees itself and the ``window - 1`` positions before it.

    ``mask[i, j] = i - window < j <= i`` (Mistral-style sliding-window attention). A window
    of at least seq_len gives the ordinary causal mask.

    Args:
        seq_len: sequence length, an int >= 1.
        window: window size, an int >= 1.

    Returns:
        bool tensor ``(seq_len, seq_len)``.

    Raises:
        TypeError: seq_len or window is not an int.
        ValueError: seq_len < 1 or window < 1.

    Example::

        sliding_window_mask(4, 2) = [[ True, False, False, False],
                                     [ True,  True, False, False],
                                     [False,  True,  True, False],
                                     [False, False,  True,  True]]
    """
    raise NotImplementedError("masks.sliding_window_mask: not implemented yet")


def additive_mask(mask: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Convert a bool mask to an additive one: 0.0 where True, ``-inf`` where False.

    Adding it to the scores before the softmax gives blocked keys weight exactly 0, since
    ``exp(-inf) = 0``; this is the form many models (and the troubleshooting guide) use.

    Args:
        mask: bool tensor of any shape, True = may attend.
        dtype: floating dtype of the result (default float32).

    Returns:
        tensor of mask's shape and device, in ``dtype``.

    Raises:
        TypeError: mask is not a bool tensor, or dtype is not a floating dtype.

    Example::

        additive_mask(torch.tensor([True, False])) = tensor([0., -inf])
    """
    raise NotImplementedError("masks.additive_mask: not implemented yet")

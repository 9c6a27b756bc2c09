"""Lab 2.3.1, Attention from scratch: scaled dot-product and multi-head attention.

Study guide, module 2.3, "Lab 2.3.1: Attention from Scratch" (core concepts "Self-Attention"
and "Multi-Head Attention"). Attention is the one idea the rest of the module is built on,
so write it yourself here, in plain tensor operations, before you meet it inside libraries.

You will write:

- ``scaled_dot_product_attention``: every query takes a weighted average of the values, with
  weights from a softmax over how well it matches each key;
- ``split_heads`` / ``merge_heads``: the reshapes that let H heads attend in parallel;
- ``multi_head_attention``: projections, heads, attention and the output projection together.

Shape names: ``B`` batch, ``H`` heads, ``L`` query positions, ``S`` key positions, ``D`` model
width, ``d = D / H`` head width. Masks are bool and **True means "may attend"** (the
convention of ``torch.nn.functional.scaled_dot_product_attention``).

Do not call ``F.scaled_dot_product_attention`` or ``nn.MultiheadAttention`` here: the grader
refuses them. Check your work with ``pytest exercises/checks/test_attention.py``.
"""
from __future__ import annotations

import torch


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention, returning the output and the attention weights.

    Maths::

        scores  = q @ k^T / sqrt(d_k)                      (..., L, S)
        scores  = -inf where mask is False                 (blocked keys)
        weights = softmax(scores) over the keys (last dim)  (..., L, S)
        output  = weights @ v                              (..., L, d_v)

    Args:
        q: queries ``(..., L, d_k)``, floating.
        k: keys ``(..., S, d_k)``, same dtype as q.
        v: values ``(..., S, d_v)``, same dtype as q.
        mask: optional bool tensor broadcastable to ``(..., L, S)``; True = this query may
            attend to this key. ``(L, S)`` and ``(B, 1, 1, S)`` masks must both work.

    Returns:
        ``(output, weights)``: output ``(..., L, d_v)`` and weights ``(..., L, S)``, in q's
        dtype and on q's device. Every row of weights sums to 1, except a query whose keys
        are *all* masked: it gets all-zero weights and an all-zero output, never NaN (what
        PyTorch's SDPA does).

    Raises:
        TypeError: q, k or v is not a floating tensor, they differ in dtype, or mask is
            not a bool tensor.
        ValueError: q and k differ in d_k, k and v differ in S, the batch dims do not
            broadcast, or mask does not broadcast to ``(..., L, S)``.

    Example (d_k = 4, so the scale is 1/2)::

        q = [[2., 0., 0., 0.]]                     one query
        k = [[2., 0., 0., 0.], [0., 0., 0., 0.]]   two keys
        v = [[1.], [0.]]
        scores  = [4/2, 0/2] = [2, 0]
        weights = [e^2, 1] / (e^2 + 1) = [[0.8808, 0.1192]]
        output  = 0.8808 * 1 + 0.1192 * 0 = [[0.8808]]
        With mask = [[False, True]]: weights [[0., 1.]], output [[0.]].
    """
    raise NotImplementedError("attention.scaled_dot_product_attention: not implemented yet")


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Split the model width into heads: ``(B, T, D) -> (B, H, T, D/H)``.

    Head ``h`` gets features ``h*d`` to ``(h+1)*d - 1`` of every position (``d = D/H``), and
    the head dim moves in front of the position dim so that each head is a separate
    ``(T, d)`` matrix for attention.

    Args:
        x: ``(B, T, D)`` tensor.
        num_heads: H, an int >= 1 that divides D.

    Returns:
        ``(B, H, T, D/H)`` tensor, same dtype and device as x.

    Raises:
        TypeError: x is not a tensor or num_heads is not an int.
        ValueError: x is not 3-D, num_heads < 1, or D is not divisible by num_heads.

    Example::

        x = [[[0., 1., 2., 3.],        B = 1, T = 2, D = 4
              [4., 5., 6., 7.]]]
        split_heads(x, 2) = [[[[0., 1.], [4., 5.]],     head 0: features 0-1
                              [[2., 3.], [6., 7.]]]]    head 1: features 2-3
    """
    raise NotImplementedError("attention.split_heads: not implemented yet")


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """Concatenate the heads again: ``(B, H, T, d) -> (B, T, H*d)``.

    The exact inverse of :func:`split_heads`: position t's output is head 0's d features,
    then head 1's, ..., then head H-1's.

    Args:
        x: ``(B, H, T, d)`` tensor.

    Returns:
        ``(B, T, H*d)`` tensor, same dtype and device as x.

    Raises:
        TypeError: x is not a tensor.
        ValueError: x is not 4-D.

    Example::

        x = [[[[0., 1.], [4., 5.]],          B = 1, H = 2, T = 2, d = 2
              [[2., 3.], [6., 7.]]]]
        merge_heads(x) = [[[0., 1., 2., 3.],
                           [4., 5., 6., 7.]]]
    """
    raise NotImplementedError("attention.merge_heads: not implemented yet")


def multi_head_attention(
    x_q: torch.Tensor,
    x_kv: torch.Tensor,
    params: dict[str, torch.Tensor],
    num_heads: int,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-head attention with input and output projections.

    Maths (``Linear(x) = x @ w^T + b``, as in ``nn.Linear``)::

        Q = split_heads(x_q  @ w_q^T + b_q)     (B, H, L, d)
        K = split_heads(x_kv @ w_k^T + b_k)     (B, H, S, d)
        V = split_heads(x_kv @ w_v^T + b_v)     (B, H, S, d)
        context, weights = scaled_dot_product_attention(Q, K, V, mask)
        output = merge_heads(context) @ w_o^T + b_o     (B, L, D)

    Self-attention passes the same tensor as x_q and x_kv; cross-attention passes the
    decoder states as x_q and the encoder states as x_kv.

    Args:
        x_q: ``(B, L, D)`` floating tensor, the queries' inputs.
        x_kv: ``(B, S, D)``, the keys' and values' inputs.
        params: dict with ``w_q, b_q, w_k, b_k, w_v, b_v, w_o, b_o``; every w is ``(D, D)``,
            every b is ``(D,)``.
        num_heads: H, an int >= 1 that divides D.
        mask: optional bool tensor broadcastable to ``(B, H, L, S)``, True = may attend
            (e.g. ``(L, S)`` causal or ``(B, 1, 1, S)`` padding masks).

    Returns:
        ``(output (B, L, D), weights (B, H, L, S))``, the per-head attention weights. A query
        that cannot see any key in a head gets zero weights there (zero context); where that
        happens in every head, its output is just ``b_o``.

    Raises:
        TypeError: a tensor argument is not a (floating) tensor, params is not a dict, or
            num_heads is not an int.
        ValueError: wrong shapes, a missing parameter, D not divisible by num_heads, or a
            mask that does not broadcast to ``(B, H, L, S)``.

    Example (D = 2, H = 2 so d = 1; every w is the identity and every b is 0)::

        x_q = x_kv = [[[1., 0.], [0., 1.]]]
        head 0 sees feature 0: scores [[1, 0], [0, 0]] -> weights [[0.7311, 0.2689], [0.5, 0.5]]
                               context [0.7311, 0.5]
        head 1 sees feature 1: scores [[0, 0], [0, 1]] -> weights [[0.5, 0.5], [0.2689, 0.7311]]
                               context [0.5, 0.7311]
        output = [[[0.7311, 0.5], [0.5, 0.7311]]]
    """
    raise NotImplementedError("attention.multi_head_attention: not implemented yet")

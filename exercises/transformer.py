"""Labs 2.3.2 and 2.3.5, the Transformer encoder block and sequence pooling.

Study guide, module 2.3, "Lab 2.3.2: Transformer Block" (layer normalisation, Pre-LN vs
Post-LN, the feed-forward network, residual connections) and "Lab 2.3.5: BERT Fine-tuning"
(turning per-token outputs into one vector for a classifier).

An encoder layer has two residual sub-layers: multi-head self-attention (lab 2.3.1) and a
position-wise feed-forward network, each paired with a layer norm. Where the norm goes is
the difference between Post-LN (the 2017 original) and Pre-LN (most modern models).
``encoder_block`` reuses your lab 2.3.1 attention: ``from exercises.attention import
multi_head_attention``.

Do not call ``F.layer_norm``, ``F.gelu``, ``nn.LayerNorm`` or ``nn.TransformerEncoderLayer``
here: they are what the checks compare you with. Check your work with
``pytest exercises/checks/test_transformer.py``.
"""
from __future__ import annotations

import torch


def layer_norm(
    x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None, eps: float = 1e-5
) -> torch.Tensor:
    """Layer normalisation over the last dimension.

    Maths, for each vector x of length D along the last dim::

        mean = sum(x) / D
        var  = sum((x - mean)^2) / D          biased variance: divide by D, not D - 1
        y    = (x - mean) / sqrt(var + eps) * weight + bias

    Args:
        x: floating tensor ``(..., D)``.
        weight: ``(D,)`` scale, or None for no scale.
        bias: ``(D,)`` shift, or None for no shift.
        eps: small non-negative number added to the variance (default 1e-5, as PyTorch).

    Returns:
        tensor of x's shape, dtype and device. For float16/bfloat16 inputs, computing the
        mean and variance in float32 and casting the result back (as PyTorch does) is
        recommended.

    Raises:
        TypeError: x, weight or bias is not a floating tensor, or eps is not a number.
        ValueError: weight or bias is not of shape ``(D,)``, or eps < 0.

    Example (weight = 1, bias = 0)::

        x = [1., 2., 3.]: mean = 2, var = (1 + 0 + 1) / 3 = 2/3
        y = [-1, 0, 1] / sqrt(2/3 + 1e-5) = [-1.2247, 0.0000, 1.2247]
    """
    raise NotImplementedError("transformer.layer_norm: not implemented yet")


def gelu(x: torch.Tensor) -> torch.Tensor:
    """Exact GELU activation: ``x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2)))``.

    Phi is the standard normal CDF. Use the erf form, not the tanh approximation.

    Args:
        x: floating tensor of any shape.

    Returns:
        tensor of x's shape, dtype and device.

    Raises:
        TypeError: x is not a floating tensor.

    Example::

        gelu([-1., 0., 1., 2.]) = [-0.1587, 0.0000, 0.8413, 1.9545]
        (Phi(1) = 0.8413, so gelu(1) = 0.8413 and gelu(-1) = -1 * (1 - 0.8413))
    """
    raise NotImplementedError("transformer.gelu: not implemented yet")


def feed_forward(x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """Position-wise feed-forward network: expand, activate, contract.

    Maths::

        feed_forward(x) = gelu(x @ w1^T + b1) @ w2^T + b2

    Args:
        x: floating tensor ``(..., D)``.
        params: dict with ``w1 (F, D)``, ``b1 (F,)``, ``w2 (D, F)``, ``b2 (D,)`` (nn.Linear
            convention; F is usually 4 * D).

    Returns:
        tensor ``(..., D)``, x's dtype and device.

    Raises:
        TypeError: x is not a floating tensor or params is not a dict of tensors.
        ValueError: a parameter is missing or has the wrong shape.

    Example (D = 1, F = 2)::

        w1 = [[1.], [-1.]], b1 = [0., 0.], w2 = [[1., 1.]], b2 = [0.]
        x = [[1.]]: x @ w1^T + b1 = [1, -1]; gelu -> [0.8413, -0.1587]; @ w2^T -> [[0.6827]]
    """
    raise NotImplementedError("transformer.feed_forward: not implemented yet")


def encoder_block(
    x: torch.Tensor,
    params: dict[str, torch.Tensor],
    num_heads: int,
    mask: torch.Tensor | None = None,
    norm_first: bool = True,
) -> torch.Tensor:
    """One Transformer encoder layer (self-attention + feed-forward, residuals, layer norms).

    Maths, with ``attn(h) = multi_head_attention(h, h, params, num_heads, mask)[0]``
    (lab 2.3.1), ``ln1``/``ln2`` the layer norms with ``ln1_w, ln1_b`` / ``ln2_w, ln2_b``
    and eps = 1e-5, and ``ffn`` = :func:`feed_forward`::

        Pre-LN  (norm_first=True):   h = x + attn(ln1(x));   out = h + ffn(ln2(h))
        Post-LN (norm_first=False):  h = ln1(x + attn(x));   out = ln2(h + ffn(h))

    Args:
        x: floating tensor ``(B, T, D)``.
        params: the attention parameters ``w_q, b_q, w_k, b_k, w_v, b_v, w_o, b_o`` (each w
            ``(D, D)``, each b ``(D,)``), the feed-forward parameters ``w1, b1, w2, b2`` and
            the layer-norm parameters ``ln1_w, ln1_b, ln2_w, ln2_b`` (each ``(D,)``).
        num_heads: H, an int >= 1 that divides D.
        mask: optional bool tensor broadcastable to ``(B, H, T, T)``, True = may attend.
        norm_first: True for Pre-LN, False for Post-LN.

    Returns:
        tensor ``(B, T, D)``, x's dtype and device.

    Raises:
        TypeError: wrong argument types (norm_first must be a bool).
        ValueError: wrong shapes or a missing parameter.

    Example (every w and b zero, ln weights 1, ln biases 0: attn and ffn both output 0)::

        Pre-LN:  h = x + 0 = x;          out = x
        Post-LN: h = ln1(x + 0);         out = ln2(h + 0) = layer_norm(layer_norm(x))
        e.g. x = [[[1., 2., 3.]]] gives [[[1., 2., 3.]]] (Pre-LN)
             and about [[[-1.2247, 0., 1.2247]]] (Post-LN).
    """
    raise NotImplementedError("transformer.encoder_block: not implemented yet")


def pool_hidden_states(
    hidden: torch.Tensor, attention_mask: torch.Tensor | None, strategy: str = "cls"
) -> torch.Tensor:
    """One vector per sequence from an encoder's outputs, for a classification head.

    - ``"cls"``: the first position's vector, ``hidden[:, 0]`` (BERT's [CLS] token).
    - ``"mean"``: the average of the vectors at positions where attention_mask is 1 (True):
      ``sum_t m[b, t] * hidden[b, t] / sum_t m[b, t]``. A row whose mask is all 0 gives a
      zero vector (no division by zero, no NaN).

    Args:
        hidden: floating tensor ``(B, T, D)``.
        attention_mask: ``(B, T)`` tensor of 1/0 (int, bool or float), as returned by Hugging
            Face tokenizers; None counts every position. Ignored by "cls".
        strategy: ``"cls"`` or ``"mean"``.

    Returns:
        tensor ``(B, D)``, hidden's dtype and device.

    Raises:
        TypeError: hidden is not a floating tensor or attention_mask is not a tensor.
        ValueError: an unknown strategy, or shapes that do not match.

    Example::

        hidden = [[[1., 2.], [3., 4.], [5., 6.]]], attention_mask = [[1, 1, 0]]
        "cls"  -> [[1., 2.]]
        "mean" -> [[(1 + 3) / 2, (2 + 4) / 2]] = [[2., 3.]]     (the padded [5, 6] is ignored)
    """
    raise NotImplementedError("transformer.pool_hidden_states: not implemented yet")

"""Lab 2.3.3, positional encoding study (study guide: "Core Concepts / Positional Encoding" and
"Lab-by-Lab Summary / Lab 2.3.3").

Attention treats its input as a set: shuffle the tokens and the outputs are shuffled the same
way, nothing more, so "dog bites man" and "man bites dog" look alike. In this lab you give the
model a sense of order in three ways:

- ``sinusoidal_encoding``: the fixed table of the original Transformer, added to embeddings;
- ``rope_inv_freq`` and ``apply_rope``: rotary embeddings (Llama, Mistral), which rotate
  queries and keys so that their dot product depends on the distance between positions;
- ``alibi_slopes`` and ``alibi_bias``: ALiBi (BLOOM), a distance penalty added to the scores.

Conventions: tensors stay on their device; invalid arguments raise ValueError (TypeError for a
wrong type) with a message naming the argument. Check your work with
``pytest exercises/checks/test_positional.py``.
"""
from __future__ import annotations

import torch


def sinusoidal_encoding(max_len: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """The sinusoidal position table, shape ``(max_len, d_model)``, dtype float32.

    For position ``pos`` in ``0 .. max_len-1`` and pair index ``i`` in ``0 .. d_model/2 - 1``::

        angle = pos / base ** (2i / d_model)
        PE[pos, 2i]     = sin(angle)
        PE[pos, 2i + 1] = cos(angle)

    Sine and cosine of one frequency sit next to each other (interleaved columns). You may
    compute the angles in float64 or float32 (float32 drifts by ~5e-4 after 8192 positions, which
    the grader tolerates); return float32.

    Errors: odd ``d_model`` -> ValueError (the columns come in sin/cos pairs); ``max_len < 0``
    -> ValueError.

    Example (base 10000, d_model 4: the two frequencies are 1 and 1/100)::

        >>> sinusoidal_encoding(2, 4)
        tensor([[0.0000, 1.0000, 0.0000, 1.0000],     # pos 0: sin 0, cos 0, sin 0, cos 0
                [0.8415, 0.5403, 0.0100, 0.9999]])    # pos 1: sin 1, cos 1, sin .01, cos .01
    """
    raise NotImplementedError("positional.sinusoidal_encoding: not implemented yet")


def rope_inv_freq(head_dim: int, base: float = 10000.0) -> torch.Tensor:
    """RoPE inverse frequencies, shape ``(head_dim/2,)``, dtype float32::

        inv_freq[i] = 1 / base ** (2i / head_dim),   i = 0 .. head_dim/2 - 1

    Compute it in float32 (build the exponents ``2i / head_dim`` as a float32 tensor), which
    is what Hugging Face's Llama does, so that your angles match it exactly.

    Errors: odd ``head_dim`` -> ValueError.

    Example: ``rope_inv_freq(4)`` -> ``tensor([1.0000, 0.0100])`` (exponents 0 and 1/2, and
    10000 ** 0.5 = 100).
    """
    raise NotImplementedError("positional.rope_inv_freq: not implemented yet")


def apply_rope(x: torch.Tensor, position_ids: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotary position embedding of queries or keys, Hugging Face Llama convention.

    Args:
        x: ``(B, H, T, d)`` floating tensor (d even).
        position_ids: integer tensor ``(T,)`` (same positions for the whole batch) or ``(B, T)``;
            positions can start anywhere (e.g. 37 when decoding with a cache).
        base: the RoPE base (``rope_theta``).

    Returns a tensor with the shape, dtype and device of ``x``.

    Dimension ``i`` is paired with dimension ``i + d/2`` (half split, not neighbours). At
    position ``p`` the pair is rotated by ``theta = p * inv_freq[i]``::

        out[i]       = x[i] * cos(theta) - x[i + d/2] * sin(theta)
        out[i + d/2] = x[i + d/2] * cos(theta) + x[i] * sin(theta)

    In tensor form: ``x * cos + rotate_half(x) * sin`` with ``rotate_half(x) = cat(-x2, x1)``
    (x1, x2 the two halves of the last dim) and the d/2 angles repeated for both halves.
    Compute the angles in float32, then cast cos and sin to ``x.dtype`` before multiplying.

    Errors: odd d -> ValueError; position_ids of the wrong shape -> ValueError.

    Example (d = 4, one vector at position 1; the pair (x0, x2) turns by 1 radian, the pair
    (x1, x3) by 0.01 radian)::

        >>> apply_rope(torch.tensor([[[[1.0, 0.0, 0.0, 0.0]]]]), torch.tensor([1]))
        tensor([[[[0.5403, 0.0000, 0.8415, 0.0000]]]])   # cos 1, 0, sin 1, 0
    """
    raise NotImplementedError("positional.apply_rope: not implemented yet")


def alibi_slopes(num_heads: int) -> torch.Tensor:
    """ALiBi slope per head, shape ``(num_heads,)``, dtype float32.

    When ``num_heads = n`` is a power of two::

        slope[h] = 2 ** (-8 * (h + 1) / n),   h = 0 .. n-1

    Otherwise (Press et al.): let ``c`` be the largest power of two below ``n``. Take the ``c``
    slopes of ``c`` heads, then append the slopes of ``2c`` heads at positions 0, 2, 4, ...
    (every other one), the first ``n - c`` of them.

    Errors: ``num_heads < 1`` -> ValueError.

    Examples::

        alibi_slopes(4) -> [2**-2, 2**-4, 2**-6, 2**-8] = [0.25, 0.0625, 0.015625, 0.00390625]
        alibi_slopes(3) -> slopes of 2 heads [2**-4, 2**-8], then the 1st slope of 4 heads 2**-2
                        =  [0.0625, 0.00390625, 0.25]
    """
    raise NotImplementedError("positional.alibi_slopes: not implemented yet")


def alibi_bias(num_heads: int, seq_len: int) -> torch.Tensor:
    """ALiBi bias added to attention scores, shape ``(num_heads, seq_len, seq_len)``, float32::

        bias[h, i, j] = -slope[h] * |i - j|       (i = query position, j = key position)

    Zero on the diagonal, more negative the further apart query and key are. Under a causal
    mask this gives the same softmax as BLOOM's ``+slope * j`` (each row differs by a constant).

    Errors: ``num_heads < 1`` or ``seq_len < 0`` -> ValueError.

    Example (one head, slope 2**-8 = 0.0039)::

        >>> alibi_bias(1, 3)
        tensor([[[ 0.0000, -0.0039, -0.0078],
                 [-0.0039,  0.0000, -0.0039],
                 [-0.0078, -0.0039,  0.0000]]])
    """
    raise NotImplementedError("positional.alibi_bias: not implemented yet")

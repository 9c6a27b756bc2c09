"""TinyLM: a tiny, deterministic causal language model for the decoding exercises.

Decoding functions take a ``model`` callable ``model(input_ids (B, T)) -> logits (B, T, V)``.
Public checks and hidden suites pass a :class:`TinyLM`: small enough to run hundreds of
decoding steps in milliseconds, yet not a bigram table, because every position sees a causal
summary of its whole prefix::

    e_t      = E[x_t]                                   token embedding       (D,)
    m_t      = (e_1 + ... + e_t) / t                    causal running mean   (D,)
    h_t      = tanh(e_t + m_t @ C.T)                    hidden state          (D,)
    logits_t = scale * (h_t @ W.T) + bias               next-token logits     (V,)

Position t depends on tokens 1..t only (no future leakage), and through ``m_t`` on more than the
last token, so beam search, greedy decoding and sampling take different paths through it.

Determinism: the arithmetic runs in float64, with products summed row by row (no batched
matmul whose blocking depends on the batch size), and the logits are rounded once to float32,
so on a given device the same prefix gives the same logits whatever batch it sits in (one row at
a time or all beams at once). ``scale`` sharpens or flattens every
distribution (a larger scale makes ties between logits even less likely) and ``bias`` makes
chosen tokens likelier, e.g. an end-of-sequence token that should fire within a few steps.

The model is plain tensors (:meth:`to_tensors` / :meth:`from_tensors`), so a grader can send it
to a sandboxed worker as safetensors and rebuild it there. It never changes after construction.

Example::

    >>> g = torch.Generator().manual_seed(0)
    >>> lm = TinyLM.random(vocab_size=10, dim=4, generator=g)
    >>> lm(torch.tensor([[1, 2, 3]])).shape
    torch.Size([1, 3, 10])
"""
from __future__ import annotations

import torch

TENSOR_NAMES = ("embedding", "context", "output", "bias", "scale")


class TinyLM:
    """A causal LM made of an embedding, a running-mean context mix and an output projection.

    Args:
        embedding: ``E``, float tensor (V, D).
        context: ``C``, float tensor (D, D), mixes the running mean into each position.
        output: ``W``, float tensor (V, D), the output projection.
        bias: float tensor (V,), added to the logits.
        scale: Python float (or 0-dim tensor) multiplying the projected logits.
    """

    def __init__(self, embedding, context, output, bias, scale=1.0):
        tensors = {"embedding": embedding, "context": context, "output": output, "bias": bias}
        for name, value in tensors.items():
            if not isinstance(value, torch.Tensor) or not value.is_floating_point():
                raise TypeError(f"{name} must be a floating torch.Tensor, got {type(value).__name__}")
        if embedding.dim() != 2:
            raise ValueError(f"embedding must have shape (V, D), got {tuple(embedding.shape)}")
        vocab_size, dim = embedding.shape
        expected = {"context": (dim, dim), "output": (vocab_size, dim), "bias": (vocab_size,)}
        for name, shape in expected.items():
            if tuple(tensors[name].shape) != shape:
                raise ValueError(f"{name} must have shape {shape}, got {tuple(tensors[name].shape)}")
        scale = float(scale)
        if not scale > 0 or scale == float("inf"):
            raise ValueError(f"scale must be a finite number > 0, got {scale}")
        # float64 copies on the CPU: nothing outside can change them afterwards.
        self._embedding = embedding.detach().to("cpu", torch.float64).clone()
        self._context = context.detach().to("cpu", torch.float64).clone()
        self._output = output.detach().to("cpu", torch.float64).clone()
        self._bias = bias.detach().to("cpu", torch.float64).clone()
        self._scale = scale

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def random(
        cls,
        vocab_size: int,
        dim: int = 8,
        generator: torch.Generator | None = None,
        scale: float = 3.0,
        bias: dict[int, float] | None = None,
    ) -> TinyLM:
        """Gaussian weights drawn from `generator`; `bias` maps token ids to logit offsets.

        With the default ``scale=3.0`` a step's most likely token has a probability of roughly
        0.2-0.6 for ``vocab_size`` 10-50: peaked enough for beam search to matter, flat enough
        for sampling to vary.
        """
        for name, value in (("vocab_size", vocab_size), ("dim", dim)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        draw = lambda *shape: torch.randn(*shape, generator=generator, dtype=torch.float64)  # noqa: E731
        offsets = torch.zeros(vocab_size, dtype=torch.float64)
        for token, amount in (bias or {}).items():
            offsets[token] += amount
        return cls(
            embedding=draw(vocab_size, dim),
            context=draw(dim, dim) / dim**0.5,
            output=draw(vocab_size, dim) / dim**0.5,
            bias=offsets,
            scale=scale,
        )

    def with_bias(self, token_id: int, amount: float) -> TinyLM:
        """A copy whose logit for `token_id` is raised by `amount` at every position."""
        if not 0 <= token_id < self.vocab_size:
            raise ValueError(f"token_id must be in [0, {self.vocab_size}), got {token_id}")
        bias = self._bias.clone()
        bias[token_id] += amount
        return TinyLM(self._embedding, self._context, self._output, bias, self._scale)

    def with_scale(self, scale: float) -> TinyLM:
        """A copy with another `scale` (sharper or flatter next-token distributions)."""
        return TinyLM(self._embedding, self._context, self._output, self._bias, scale)

    # -- serialisation -----------------------------------------------------------------------

    def to_tensors(self) -> dict[str, torch.Tensor]:
        """Plain CPU float64 tensors (``scale`` as a 0-dim tensor); see :meth:`from_tensors`."""
        return {
            "embedding": self._embedding.clone(),
            "context": self._context.clone(),
            "output": self._output.clone(),
            "bias": self._bias.clone(),
            "scale": torch.tensor(self._scale, dtype=torch.float64),
        }

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> TinyLM:
        """Rebuild a model from :meth:`to_tensors` output (exactly these keys)."""
        if not isinstance(tensors, dict) or set(tensors) != set(TENSOR_NAMES):
            keys = sorted(tensors) if isinstance(tensors, dict) else type(tensors).__name__
            raise ValueError(f"tensors must be a dict with keys {list(TENSOR_NAMES)}, got {keys}")
        scale = tensors["scale"]
        if not isinstance(scale, torch.Tensor) or scale.numel() != 1:
            raise ValueError("tensors['scale'] must be a one-element tensor")
        return cls(tensors["embedding"], tensors["context"], tensors["output"], tensors["bias"],
                   float(scale))

    # -- the model ---------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return self._embedding.shape[0]

    @property
    def dim(self) -> int:
        return self._embedding.shape[1]

    def __call__(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, T, V)`` float32 on the device of `input_ids` ``(B, T)`` (integer ids)."""
        if not isinstance(input_ids, torch.Tensor):
            raise TypeError(f"input_ids must be a torch.Tensor, got {type(input_ids).__name__}")
        if input_ids.is_floating_point() or input_ids.is_complex() or input_ids.dtype == torch.bool:
            raise TypeError(f"input_ids must hold integer token ids, got dtype {input_ids.dtype}")
        if input_ids.dim() != 2 or input_ids.shape[1] == 0:
            raise ValueError(f"input_ids must have shape (B, T) with T >= 1, got {tuple(input_ids.shape)}")
        if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= self.vocab_size):
            raise ValueError(f"input_ids must be token ids in [0, {self.vocab_size})")
        device = input_ids.device
        embedding = self._embedding.to(device)
        e = embedding[input_ids.long()]  # (B, T, D)
        counts = torch.arange(1, input_ids.shape[1] + 1, device=device, dtype=torch.float64)
        running_mean = e.cumsum(dim=1) / counts[None, :, None]  # (B, T, D), position t: mean of 1..t
        hidden = torch.tanh(e + _project(running_mean, self._context.to(device)))  # (B, T, D)
        logits = self._scale * _project(hidden, self._output.to(device)) + self._bias.to(device)
        return logits.to(torch.float32)  # (B, T, V)

    def __repr__(self) -> str:
        return f"TinyLM(vocab_size={self.vocab_size}, dim={self.dim}, scale={self._scale:g})"


def _project(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x @ weight.T`` as an explicit sum, so each output depends on its own row only.

    x ``(B, T, D)``, weight ``(N, D)`` -> ``(B, T, N)``.
    """
    return (x[:, :, None, :] * weight[None, None, :, :]).sum(dim=-1)  # (B, T, 1, D) * (1, 1, N, D) -> (B, T, N)

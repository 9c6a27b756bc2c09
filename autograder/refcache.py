"""Reference outputs computed once per case across a batch.

In a batch every submission is graded with the same seed, so each hidden case calls the
reference (and, on failure, the mistake variants) with the same inputs again and again. The
cache keys a call by the function and a fingerprint of its inputs; a hit returns a copy.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import torch

from autograder.judge import IMMUTABLE_TYPES, clone_inputs

_IMMUTABLE = frozenset(IMMUTABLE_TYPES)


def _plain(value: Any, depth: int = 2) -> bool:
    """Whether `value` is made of IMMUTABLE_TYPES alone, in lists, tuples and dicts at most
    `depth` deep: then its repr is exact, and one digest update replaces one per item."""
    kind = type(value)
    if kind in IMMUTABLE_TYPES:
        return True
    if depth == 0:
        return False
    if kind in (list, tuple):
        return (set(map(type, value)) <= _IMMUTABLE  # flat: token ids, words, a merge pair
                or all(_plain(item, depth - 1) for item in value))
    if kind is dict:  # vocabularies, merge ranks keyed by pairs
        return all(_plain(key, depth - 1) and _plain(item, depth - 1) for key, item in value.items())
    return False


def fingerprint(value: Any, digest: hashlib._Hash | None = None) -> str:
    """A stable digest of call inputs (tensors by dtype, shape, device and bytes)."""
    top = digest is None
    digest = digest or hashlib.blake2b(digest_size=20)
    kind = type(value)
    if _plain(value):
        # token ids, merges, vocabularies, words, flags: repr is exact for these types
        digest.update(f"{kind.__name__}:{value!r}".encode())
    elif isinstance(value, torch.Tensor):
        t = value.detach().to("cpu").contiguous().reshape(-1)  # 0-dim tensors cannot be viewed as bytes
        digest.update(f"T{value.dtype}{tuple(value.shape)}{value.device.type}".encode())
        if t.numel():
            digest.update(t.view(torch.uint8).numpy())  # the buffer itself, no bytes copy
    elif kind is torch.Generator:
        digest.update(b"G")
        fingerprint(value.get_state(), digest)
    elif isinstance(value, (list, tuple)):
        digest.update(f"{type(value).__name__}{len(value)}(".encode())
        for item in value:
            fingerprint(item, digest)
        digest.update(b")")
    elif isinstance(value, dict):
        digest.update(f"dict{len(value)}(".encode())
        for key, item in value.items():
            fingerprint(key, digest)
            fingerprint(item, digest)
        digest.update(b")")
    elif hasattr(value, "to_tensors"):  # a TinyLM model
        digest.update(type(value).__name__.encode())
        fingerprint(value.to_tensors(), digest)
    else:
        digest.update(f"{type(value).__name__}:{value!r}".encode())
    return digest.hexdigest() if top else ""


class ReferenceCache:
    """{(function, inputs fingerprint): output}; outputs are handed out as copies.

    Holds at most `max_entries`, dropping the oldest first: a server's grading process lives
    for weeks and grades each upload with fresh inputs, so what it cached for last week's
    uploads must make room rather than stop the caching of today's.
    """

    def __init__(self, max_entries: int = 20_000):
        self._entries: dict[tuple[str, str], Any] = {}  # in insertion order: oldest first
        self.max_entries = max_entries

    def __len__(self) -> int:
        return len(self._entries)

    def get_or_compute(self, name: str, args: tuple, kwargs: dict, compute: Callable[[], Any]) -> Any:
        key = (name, fingerprint((args, kwargs)))
        if key in self._entries:
            return clone_inputs(self._entries[key])
        value = compute()
        if self.max_entries > 0:
            while len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = clone_inputs(value)
        return value


class CachedReference:
    """The reference implementation with every call answered from a ReferenceCache.

    Hidden suites call the reference directly too (to build inputs such as a trained BPE
    model); in a batch those calls repeat for every submission, so they go through the cache.
    """

    def __init__(self, reference: Any, cache: ReferenceCache):
        self._reference = reference
        self._cache = cache

    def __getattr__(self, module: str) -> _CachedModule:
        if module.startswith("_"):
            raise AttributeError(module)
        return _CachedModule(module, getattr(self._reference, module), self._cache)


class _CachedModule:
    def __init__(self, name: str, module: Any, cache: ReferenceCache):
        self._name, self._module, self._cache = name, module, cache

    def __getattr__(self, function: str) -> Callable:
        if function.startswith("_"):
            raise AttributeError(function)
        real = getattr(self._module, function)
        name = f"ref:{self._name}.{function}"

        def cached(*args: Any, **kwargs: Any) -> Any:
            return self._cache.get_or_compute(
                name, args, kwargs, lambda: real(*clone_inputs(args), **clone_inputs(kwargs)))

        return cached

"""Fingerprints of a token stream: hashed token k-grams, winnowed (Schleimer, Wilkerson and
Aiken, "Winnowing: local algorithms for document fingerprinting", SIGMOD 2003).

Every k-gram is hashed; in each window of `window` consecutive hashes the minimum is kept
(the rightmost on ties), so any run of at least `k + window - 1` shared tokens is guaranteed
to share a fingerprint, and runs shorter than `k` never do. Hashes are stable across
processes (not Python's salted `hash()`), so they can be cached on disk.
"""
from __future__ import annotations

import zlib
from collections.abc import Iterable

K = 10  # tokens per k-gram: the noise threshold
WINDOW = 4  # guarantee threshold k + window - 1 = 13 tokens, about one statement
_MOD = (1 << 61) - 1
_BASE = 1_000_003


def token_ids(tokens: Iterable[str]) -> list[int]:
    return [zlib.crc32(token.encode()) for token in tokens]


def kgram_hashes(ids: list[int], k: int = K) -> list[int]:
    """Rolling polynomial hash of every k-gram; hash i covers ids[i:i+k]."""
    if len(ids) < k:
        return []
    top = pow(_BASE, k - 1, _MOD)
    value = 0
    for token in ids[:k]:
        value = (value * _BASE + token) % _MOD
    hashes = [value]
    for i in range(k, len(ids)):
        value = ((value - ids[i - k] * top) * _BASE + ids[i]) % _MOD
        hashes.append(value)
    return hashes


def winnow(hashes: list[int], window: int = WINDOW) -> list[tuple[int, int]]:
    """(hash, position) of the fingerprints robust winnowing selects, in position order."""
    if len(hashes) <= window:
        return [(min(hashes), hashes.index(min(hashes)))] if hashes else []
    selected: list[tuple[int, int]] = []
    last = -1
    for start in range(len(hashes) - window + 1):
        chunk = hashes[start:start + window]
        low = min(chunk)
        position = start + window - 1 - chunk[::-1].index(low)  # rightmost minimum
        if position != last:
            selected.append((low, position))
            last = position
    return selected


def fingerprints(tokens: list[str], k: int = K, window: int = WINDOW) -> list[tuple[int, int]]:
    return winnow(kgram_hashes(token_ids(tokens), k), window)

"""Winnowing against the paper's worked example, and its two guarantees."""
from __future__ import annotations

import itertools
import random

from autograder.similarity.fingerprint import (
    WINDOW,
    K,
    fingerprints,
    kgram_hashes,
    winnow,
)


def test_winnowing_matches_the_worked_example_of_schleimer_wilkerson_aiken():
    # "Winnowing: local algorithms for document fingerprinting" (SIGMOD 2003), figure 2:
    # hashes of the 5-grams of "adorunrunrunadorunrun", windows of size 4 -> fingerprints
    # {17, 17, 8, 39, 17}, at positions [3, 6, 8, 11, 15] (0-based).
    hashes = [77, 74, 42, 17, 98, 50, 17, 98, 8, 88, 67, 39, 77, 74, 42, 17, 98]
    assert winnow(hashes, 4) == [(17, 3), (17, 6), (8, 8), (39, 11), (17, 15)]


def test_kgram_hash_is_the_polynomial_rolling_hash():
    ids = [3, 1, 4, 1, 5]
    base, mod = 1_000_003, (1 << 61) - 1
    expected = [(a * base + b) % mod for a, b in itertools.pairwise(ids)]
    assert kgram_hashes(ids, 2) == expected


def _stream(rng: random.Random, n: int) -> list[str]:
    return [f"t{rng.randrange(10**6)}" for _ in range(n)]


def test_a_shared_run_of_k_plus_window_minus_one_tokens_always_shares_a_fingerprint():
    rng = random.Random(0)
    for _ in range(50):
        shared = _stream(rng, K + WINDOW - 1)
        left = _stream(rng, rng.randrange(30)) + shared + _stream(rng, rng.randrange(30))
        right = _stream(rng, rng.randrange(30)) + shared + _stream(rng, rng.randrange(30))
        assert {h for h, _ in fingerprints(left)} & {h for h, _ in fingerprints(right)}


def test_runs_shorter_than_k_share_nothing():
    rng = random.Random(1)
    for _ in range(50):
        shared = _stream(rng, K - 1)
        left = _stream(rng, 20) + shared + _stream(rng, 20)
        right = _stream(rng, 20) + shared + _stream(rng, 20)
        assert not {h for h, _ in fingerprints(left)} & {h for h, _ in fingerprints(right)}


def test_hashes_do_not_depend_on_the_process():
    # Python's str hash is salted per process; these values are fixed by crc32 and the
    # polynomial alone, so a cache written by one run serves the next.
    import subprocess
    import sys

    code = "from autograder.similarity.fingerprint import fingerprints; print(fingerprints(list('abcdefghijklmnop')))"
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)}
    assert len(runs) == 1

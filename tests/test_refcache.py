"""The reference cache: a hit is a copy of the first computation; when full, the oldest entry
makes room, so a long-lived grading process keeps caching the inputs it sees now."""
from __future__ import annotations

import torch

from autograder.refcache import ReferenceCache


def _counting():
    calls = []

    def compute_for(x):
        def compute():
            calls.append(x)
            return torch.tensor([float(x)])
        return compute
    return calls, compute_for


def test_a_repeated_call_is_answered_from_the_cache_with_a_copy():
    cache = ReferenceCache()
    calls, compute_for = _counting()
    first = cache.get_or_compute("ref:f", (1,), {}, compute_for(1))
    first.add_(100)  # the caller changing its answer must not change the cache's
    again = cache.get_or_compute("ref:f", (1,), {}, compute_for(1))
    assert calls == [1]
    assert again.tolist() == [1.0]


def test_a_full_cache_drops_its_oldest_entry_and_keeps_caching():
    cache = ReferenceCache(max_entries=2)
    calls, compute_for = _counting()
    for x in (1, 2, 3):  # 3 pushes 1 out
        cache.get_or_compute("ref:f", (x,), {}, compute_for(x))
    assert len(cache) == 2
    cache.get_or_compute("ref:f", (3,), {}, compute_for(3))  # newest: still cached
    cache.get_or_compute("ref:f", (2,), {}, compute_for(2))  # kept
    cache.get_or_compute("ref:f", (1,), {}, compute_for(1))  # dropped: computed again
    assert calls == [1, 2, 3, 1]


def test_a_cache_of_no_entries_computes_every_call():
    cache = ReferenceCache(max_entries=0)
    calls, compute_for = _counting()
    for _ in range(2):
        cache.get_or_compute("ref:f", (1,), {}, compute_for(1))
    assert calls == [1, 1] and len(cache) == 0


def test_fingerprints_tell_apart_inputs_that_differ_only_in_structure_or_type():
    from autograder.refcache import fingerprint

    distinct = [
        [(1, 2)], [(1,), (2,)], [[1, 2]], ((1, 2),), [1, 2],        # nesting and container kinds
        {1: b"a"}, {1: "a"}, {"1": b"a"}, {1: b"a", 2: b"b"}, {2: b"b", 1: b"a"},  # vocabularies
        [torch.tensor([1, 2])], [torch.tensor([1.0, 2.0])], [torch.tensor([[1, 2]])],  # tensors inside
        [{1: (2, 3)}], [{1: [2, 3]}], 1, 1.0, True, "1", b"1", None,
        {(1, 2): 0}, {(1, 2): 1}, {(2, 1): 0}, {(1, 2): 0, (3, 4): 1}, {(3, 4): 1, (1, 2): 0},  # merges
        (1, True), (1, 1), (1, 1.0), ("a", "b"), ("a b",), ["a", "b"],  # flat sequences
    ]
    prints = [fingerprint(value) for value in distinct]
    assert len(set(prints)) == len(distinct)
    # equal inputs built separately digest alike (what makes a second grade a cache hit)
    assert fingerprint({i: bytes([i % 256, 7]) for i in range(300)}) == fingerprint(
        {i: bytes([i % 256, 7]) for i in range(300)})
    assert fingerprint([torch.arange(6).reshape(2, 3), (1, [2])]) == fingerprint(
        [torch.arange(6).reshape(2, 3), (1, [2])])

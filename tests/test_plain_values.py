"""Container types never cost points: dict/list/tuple subclasses and numpy scalars are read as
the plain values they hold, in the worker (before the wire) and in the public checks, while
everything else (tensor subclasses, rigged objects) is still refused.

Expected values are written by hand from the inputs (a Counter of two pairs is the dict of
those two pairs); nothing is computed by the code under test.
"""
from __future__ import annotations

import textwrap
from collections import Counter, OrderedDict, defaultdict, namedtuple

import numpy as np
import pytest
import torch

from autograder.checking import CheckFailure, assert_equal
from autograder.sandbox import RefusedValue, Worker
from autograder.sandbox.wire import (
    Limits,
    RefusedType,
    WireError,
    encode_value,
    plain_value,
)

Pair = namedtuple("Pair", "left right")


@pytest.mark.parametrize("value, plain", [
    (Counter({("l", "o"): 3, ("o", "w"): 2}), {("l", "o"): 3, ("o", "w"): 2}),
    (defaultdict(int, {"a": 1}), {"a": 1}),
    (OrderedDict([("b", 2), ("a", 1)]), {"b": 2, "a": 1}),
    (Pair("l", "ow"), ("l", "ow")),
    ([np.int64(3), np.int32(-1), np.float32(0.5), np.bool_(True)], [3, -1, 0.5, True]),
    (np.array(7), 7),
    ({"ids": [np.int64(1), np.int64(2)], "merges": [Pair("a", "b")]}, {"ids": [1, 2], "merges": [("a", "b")]}),
    ({Pair(1, 2): Counter(x=1)}, {(1, 2): {"x": 1}}),
], ids=["Counter", "defaultdict", "OrderedDict", "namedtuple", "numpy scalars", "0-d array",
        "nested", "subclass keys"])
def test_subclasses_and_numpy_scalars_become_plain_values(value, plain):
    got = plain_value(value)
    assert got == plain
    # exact plain types all the way down: what the wire encoder accepts
    def exact(x):
        if isinstance(x, dict):
            return type(x) is dict and all(exact(k) and exact(v) for k, v in x.items())
        if isinstance(x, (list, tuple)):
            return type(x) in (list, tuple) and all(exact(v) for v in x)
        return type(x) in (int, float, bool, str)
    assert exact(got), got
    encode_value(got)  # accepted by the (exact-type) encoder


def test_ordered_dict_keeps_its_own_order():
    od = OrderedDict([("a", 1), ("b", 2), ("c", 3)])
    od.move_to_end("a")
    assert list(plain_value(od)) == ["b", "c", "a"]


def test_plain_values_come_back_unchanged_and_uncopied():
    value = {"x": [1, 2, (3, "s")], "t": torch.ones(2)}
    assert plain_value(value) is value


@pytest.mark.parametrize("value", [
    torch.ones(2).as_subclass(type("LyingTensor", (torch.Tensor,), {"__eq__": lambda *a: True})),
    type("Rigged", (), {"__eq__": lambda *a: True})(),
    np.arange(3),  # arrays are not scalars: the contract returns tensors
    {1, 2},
])
def test_everything_else_is_left_for_the_encoder_to_refuse(value):
    assert plain_value(value) is value
    with pytest.raises(RefusedType):
        encode_value(plain_value(value))


def test_a_subclass_whose_methods_fail_is_refused_with_its_name():
    class Broken(dict):
        def items(self):
            raise RuntimeError("no")
    with pytest.raises(RefusedType, match="Broken"):
        plain_value(Broken(a=1))


def test_cycles_and_huge_values_stop_at_the_limits():
    loop = Counter()
    loop["self"] = [loop]
    with pytest.raises(WireError, match="deeper"):
        plain_value(loop, Limits(max_depth=20))
    with pytest.raises(WireError, match="values"):
        plain_value(Counter({i: i for i in range(100)}), Limits(max_items=50))


def test_public_checks_accept_the_same_types():
    assert_equal(Counter({("a", "b"): 2}), {("a", "b"): 2})
    assert_equal(defaultdict(list, {"k": [np.int64(1)]}), {"k": [1]})
    assert_equal(Pair("a", "b"), ("a", "b"))
    assert_equal([np.int64(5)], [5])
    with pytest.raises(CheckFailure, match="wrong values"):
        assert_equal(Counter(a=1), {"a": 2})
    with pytest.raises(CheckFailure, match="got a set, expected a dict"):
        assert_equal({1}, {1: 1})


SUBMISSION = textwrap.dedent("""
    from collections import Counter, OrderedDict, defaultdict, namedtuple
    import numpy as np
    import torch

    Pair = namedtuple("Pair", "left right")

    def get_pair_counts(words):
        counts = Counter()
        for symbols, n in words.items():
            for pair in zip(symbols, symbols[1:]):
                counts[pair] += n
        return counts

    def train_bpe(texts, vocab_size):
        vocab = defaultdict(int, {"a": 0, "b": 1})
        return OrderedDict(vocab), [Pair("a", "b")]

    def encode_bytes(text, merges):
        return [np.int64(b) for b in text.encode()]

    def lying(x):
        class Liar(torch.Tensor):
            def __eq__(self, other):
                return True
        return torch.ones(2).as_subclass(Liar)
""")


def test_worker_sends_subclasses_and_numpy_scalars_as_plain_values():
    with Worker("rlimits", timeout_s=20) as worker:
        assert worker.load_submission({"bpe": SUBMISSION}) == {}
        counts = worker.call("bpe", "get_pair_counts", ({("l", "o", "w"): 2, ("l", "o"): 1},))
        assert type(counts) is dict and counts == {("l", "o"): 3, ("o", "w"): 2}
        vocab, merges = worker.call("bpe", "train_bpe", (["ab"], 2))
        assert type(vocab) is dict and vocab == {"a": 0, "b": 1}
        assert merges == [("a", "b")] and type(merges[0]) is tuple
        ids = worker.call("bpe", "encode_bytes", ("hi", []))
        assert ids == [104, 105] and all(type(i) is int for i in ids)
        with pytest.raises(RefusedValue, match="Liar"):  # the trusted side still refuses the rest
            worker.call("bpe", "lying", (1,))

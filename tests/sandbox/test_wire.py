"""The wire format: every supported value round-trips; everything else is refused, bounded."""
import json
import math
import struct

import pytest
import torch

from autograder.sandbox import wire
from autograder.sandbox.frames import FrameReader, pack_frame, unpack_payload
from autograder.sandbox.wire import (
    FrameTooLarge,
    Limits,
    RefusedType,
    WireError,
    decode_value,
    encode_value,
)


def through_frame(value, limits=wire.DEFAULT_LIMITS):
    """Encode, frame, parse the frame back and decode: what the other side sees."""
    jsonable, tensors = encode_value(value, limits)
    frame = pack_frame({"v": jsonable}, tensors, limits)
    reader = FrameReader(limits)
    reader.feed(frame[:5])
    assert reader.next_payload() is None  # a partial frame is not a frame
    reader.feed(frame[5:])
    header, got_tensors = unpack_payload(reader.next_payload(), limits)
    return decode_value(header["v"], got_tensors, limits)


def assert_same(got, expected):
    assert type(got) is type(expected), (type(got), type(expected))
    if isinstance(expected, torch.Tensor):
        assert got.dtype == expected.dtype and got.shape == expected.shape
        assert got.device == expected.device
        assert torch.equal(got, expected)
    elif isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(got)
    elif isinstance(expected, (list, tuple)):
        assert len(got) == len(expected)
        for g, e in zip(got, expected, strict=True):
            assert_same(g, e)
    elif isinstance(expected, dict):
        assert list(got) == list(expected)
        for key in expected:
            assert_same(got[key], expected[key])
    else:
        assert got == expected


@pytest.mark.parametrize("value", [
    None, True, False, 0, -7, 2**70, 1.5, -0.0, float("inf"), float("-inf"), "", "héllo\n\x00",
    b"\x00\xffbytes", [1, "a", None], (1, (2, 3)), (), [],
    {"a": 1, "b": [1.0, 2.5]},
    {(104, 105): 256, (256, 33): 257},                # byte-BPE merges
    {("l", "o"): 3, ("o", "w"): 2},                   # pair counts
    {1: "x", 2: "y"},
    {"$tensor": "not a tag", "$f": "nan"},            # user strings that look like tags
    ({"low": 5}, [("l", "o"), ("lo", "w")]),          # train_bpe's result
    torch.float32, torch.bfloat16, torch.device("cpu"),
], ids=repr)
def test_plain_values_round_trip(value):
    assert_same(through_frame(value), value)


def test_nan_round_trips():
    got = through_frame([float("nan"), {"x": float("nan")}])
    assert math.isnan(got[0]) and math.isnan(got[1]["x"])


@pytest.mark.parametrize("dtype", [torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32,
                                   torch.int64, torch.float16, torch.bfloat16, torch.float32,
                                   torch.float64, torch.complex64])
def test_tensor_dtypes_round_trip(dtype):
    g = torch.Generator().manual_seed(0)
    base = torch.randn(3, 4, generator=g) * 10
    t = base > 0 if dtype == torch.bool else base.to(dtype)
    assert_same(through_frame(t), t)


def test_tensor_shapes_views_and_sharing():
    x = torch.arange(24.0).reshape(2, 3, 4)
    view = x.transpose(0, 2)                # non-contiguous
    same_storage = (x[0], x[1])             # two views of one storage
    got = through_frame({"scalar": torch.tensor(3.5), "empty": torch.zeros(0, 5),
                         "view": view, "pair": same_storage, "again": [x, x]})
    assert_same(got["scalar"], torch.tensor(3.5))
    assert_same(got["empty"], torch.zeros(0, 5))
    assert_same(got["view"], view.contiguous())
    assert_same(got["pair"], (x[0].clone(), x[1].clone()))
    assert got["again"][0] is got["again"][1]  # the same tensor is sent once


def test_requires_grad_and_parameter_arrive_as_plain_tensors():
    p = torch.nn.Parameter(torch.ones(2))
    got = through_frame([p, torch.ones(2, requires_grad=True)])
    assert type(got[0]) is torch.Tensor and got[0].requires_grad
    assert got[1].requires_grad


def test_generator_state_round_trips():
    g = torch.Generator().manual_seed(1234)
    torch.randn(5, generator=g)  # advance it
    got = through_frame(g)
    assert type(got) is torch.Generator
    assert torch.equal(torch.randn(4, generator=got), torch.randn(4, generator=g))


def test_model_and_generator_in_one_message_keep_their_own_tensors():
    """Regression: temporaries (model tensors, generator state) must not share a memo slot."""
    tinylm = pytest.importorskip("autograder.tinylm")
    lm = tinylm.TinyLM.random(vocab_size=11, dim=8, generator=torch.Generator().manual_seed(0),
                              bias={3: 0.5})
    g = torch.Generator().manual_seed(5)
    got_lm, got_g = through_frame((lm, g))
    ids = torch.tensor([[1, 2, 3]])
    assert torch.equal(got_lm(ids), lm(ids))
    assert torch.equal(torch.randn(4, generator=got_g), torch.randn(4, generator=g))


def test_tinylm_round_trips():
    tinylm = pytest.importorskip("autograder.tinylm")
    lm = tinylm.TinyLM.random(vocab_size=7, dim=3, generator=torch.Generator().manual_seed(0))
    got = through_frame({"model": lm})["model"]
    assert type(got) is tinylm.TinyLM
    ids = torch.tensor([[1, 2, 3]])
    assert torch.equal(got(ids), lm(ids))


def test_header_records_device_and_receiver_maps_it():
    jsonable, tensors = encode_value(torch.ones(2))
    assert jsonable == {"$tensor": "t0", "device": "cpu"}
    moved = decode_value({"$tensor": "t0", "device": "meta"}, tensors,
                         map_device=lambda d: torch.device("cpu"))
    assert moved.device.type == "cpu"


class LyingTensor(torch.Tensor):
    pass


class Rigged:
    def __eq__(self, other):
        return True


class RiggedInt(int):
    def __eq__(self, other):
        return True


@pytest.mark.parametrize("value, expected", [
    (torch.zeros(2).as_subclass(LyingTensor),
     "a LyingTensor (a torch.Tensor subclass); only plain tensors are accepted"),
    ([1, {"k": torch.zeros(1).as_subclass(LyingTensor)}], "at [1]['k']"),
    (Rigged(), "a Rigged (test_wire.Rigged)"),
    (RiggedInt(3), "a RiggedInt (a int subclass)"),
    ({1, 2}, "a set"),
    (lambda: 0, "a function"),
])
def test_encoder_refuses_anything_but_plain_types(value, expected):
    with pytest.raises(RefusedType) as info:
        encode_value(value)
    assert expected in str(info.value)


def test_decoder_only_builds_plain_tensors():
    # safetensors bytes can only ever become plain tensors ...
    _, tensors = unpack_payload(pack_frame({}, {"t0": torch.ones(2)})[8:])
    assert type(tensors["t0"]) is torch.Tensor
    # ... and a subclass smuggled into the tensor table is refused, not passed through
    with pytest.raises(RefusedType):
        decode_value({"$tensor": "t0", "device": "cpu"},
                     {"t0": torch.ones(2).as_subclass(LyingTensor)})


@pytest.mark.parametrize("jsonable, message", [
    ({"$pickle": "gASVAAAA"}, "unknown tag"),
    ({"$tensor": "t9", "device": "cpu"}, "missing tensor"),
    ({"$tensor": "t0", "device": "cpu", "class": "LyingTensor"}, "unknown tag"),
    ({"$dict": [[[1, 2], 3]]}, "unhashable"),
    ({"$dict": [[1]]}, "pair"),
    ({"$f": "1e400"}, "unknown tag"),
    ({"$dtype": "object"}, "unsupported dtype"),
    ({"$bytes": "!!"}, "base64"),
    ({}, "unexpected JSON"),
])
def test_decoder_refuses_malformed_values(jsonable, message):
    with pytest.raises(WireError, match=message):
        decode_value(jsonable, {"t0": torch.ones(1)})


def test_deep_nesting_is_refused_on_both_sides():
    deep = []
    for _ in range(60):
        deep = [deep]
    with pytest.raises(WireError, match="nesting"):
        encode_value(deep, Limits(max_depth=50))
    jsonable, _ = encode_value(deep)
    with pytest.raises(WireError, match="nesting"):
        decode_value(jsonable, {}, Limits(max_depth=50))
    bomb = b"[" * 200_000 + b"]" * 200_000  # would blow a recursive parser
    payload = struct.pack(">I", len(bomb)) + bomb
    with pytest.raises(WireError):
        unpack_payload(payload)


def test_item_and_string_bounds():
    small = Limits(max_items=100, max_str_len=10)
    with pytest.raises(WireError, match="values"):
        decode_value(list(range(500)), {}, small)
    with pytest.raises(WireError, match="string"):
        decode_value("x" * 11, {}, small)
    with pytest.raises(WireError, match="string"):
        encode_value("x" * 11, small)


def test_flat_lists_and_tuples_keep_every_bound_on_both_sides():
    """Flat sequences of ids and words cross as one JSON array; the bounds still hold for them."""
    small = Limits(max_items=100, max_str_len=10, max_depth=3)
    assert_same(through_frame([(1, "a", None, True), [2, 3], ()], small), [(1, "a", None, True), [2, 3], ()])
    for value in ([0] * 150, (0,) * 150, [[0] * 60, [0] * 60]):  # items counted, not the arrays
        with pytest.raises(WireError, match="more than 100 values"):
            encode_value(value, small)
        with pytest.raises(WireError, match="more than 100 values"):
            decode_value(encode_value(value)[0], {}, small)
    with pytest.raises(WireError, match=r"a string of 11 characters at \[1\]\[2\]"):
        encode_value([[], ("a", "b", "x" * 11)], small)
    with pytest.raises(WireError, match="string of 11 characters"):
        decode_value({"$tuple": ["a", "x" * 11]}, {}, small)
    at_the_depth_limit = [[[[1, 2]]]]  # the ints sit one level past max_depth
    with pytest.raises(WireError, match="nesting"):
        encode_value(at_the_depth_limit, small)
    with pytest.raises(WireError, match="nesting"):
        decode_value(encode_value(at_the_depth_limit)[0], {}, small)
    assert encode_value([float("nan"), 1])[0] == [{"$f": "nan"}, 1]  # floats are checked one by one


def test_oversize_frames_are_refused_before_buffering():
    reader = FrameReader(Limits(max_frame_bytes=1000))
    reader.feed(struct.pack(">Q", 10**12))  # claims a terabyte
    with pytest.raises(FrameTooLarge):
        reader.next_payload()
    with pytest.raises(FrameTooLarge):
        pack_frame({"v": "x" * 2000}, None, Limits(max_frame_bytes=1000))


@pytest.mark.parametrize("payload, message", [
    (b"\x00", "truncated"),
    (struct.pack(">I", 99) + b"{}", "header length"),
    (struct.pack(">I", 2) + b"[]", "not a JSON object"),
    (struct.pack(">I", 9) + b'{"v":NaN}', "NaN"),
    (struct.pack(">I", 2) + b"{}" + b"garbage", "safetensors"),
])
def test_malformed_frames_are_refused(payload, message):
    with pytest.raises(WireError, match=message):
        unpack_payload(payload)


def test_header_is_plain_json():
    frame = pack_frame({"v": encode_value((1.5, float("nan")))[0]})
    (hlen,) = struct.unpack(">I", frame[8:12])
    assert json.loads(frame[12:12 + hlen]) == {"v": {"$tuple": [1.5, {"$f": "nan"}]}}


def test_tensor_section_is_what_safetensors_torch_writes():
    """The frame's tensor bytes are a safetensors file, byte for byte as safetensors.torch.save."""
    from safetensors.torch import load, save

    tensors = {"t0": torch.randn(2, 4, 8), "t1": torch.arange(5), "t2": torch.ones(3, dtype=torch.bool),
               "t3": torch.randn(4).bfloat16(), "t4": torch.tensor(3.0, dtype=torch.float64),
               "t5": torch.empty(0, 3)}
    frame = pack_frame({"k": 1}, tensors)
    (hlen,) = struct.unpack(">I", frame[8:12])
    blob = frame[12 + hlen:]
    assert blob == save(tensors)
    assert all(torch.equal(load(blob)[name], tensor) for name, tensor in tensors.items())


def test_error_paths_name_dict_keys_and_positions():
    with pytest.raises(RefusedType, match=r"a frozenset \(builtins.frozenset\) at "
                                          r"\[0\]<key \(1, frozenset\(\{2\}\)\)>\[1\];"):
        encode_value([{(1, frozenset({2})): 0}])
    with pytest.raises(RefusedType, match=r"at \[0\]\['w'\]\[2\]"):
        encode_value([{"w": [1, 2, {3}]}])


def test_the_worker_config_round_trips_and_refuses_an_unknown_key():
    """One typed config for both sides of the zygote's command line: what the client writes is
    what the zygote reads, and a key spelled another way is an error, not a silent default."""
    import json

    from autograder.sandbox.protocol import WorkerConfig
    from autograder.sandbox.wire import Limits

    config = WorkerConfig(scratch="/tmp", pid_namespace=True, threads=2, memory_bytes=1 << 30,
                          forbidden_apis=("torch.softmax",), wire_limits=Limits(max_depth=9),
                          landlock_read=("/usr", "/opt/worker"))
    assert WorkerConfig.from_json(config.to_json()) == config
    data = json.loads(config.to_json())
    data["memroy_bytes"] = data.pop("memory_bytes")
    with pytest.raises(TypeError, match="memroy_bytes"):
        WorkerConfig.from_json(json.dumps(data))

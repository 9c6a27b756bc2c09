"""Wire format between the trusted grader and the sandboxed worker.

A message is one length-prefixed frame::

    frame   = length (8 bytes, big-endian) + payload              len(payload) == length
    payload = hlen (4 bytes, big-endian) + header (hlen bytes of UTF-8 JSON) + safetensors bytes

The JSON header holds the message; tensors travel as one ``safetensors`` blob after it (absent
when the message has none). Values are JSON with one-key tagged objects for what JSON lacks::

    None, bool, int, str, finite float   ->  JSON as is;     nan/inf  -> {"$f": "nan"}
    list                                 ->  JSON array;     tuple    -> {"$tuple": [...]}
    dict (any hashable keys)             ->  {"$dict": [[key, value], ...]}
    torch.Tensor                         ->  {"$tensor": "t0", "device": "cpu"}  (+ "grad": true)
    torch.Generator                      ->  {"$generator": "t1", "device": "cpu"}
    torch.dtype / torch.device / bytes   ->  {"$dtype": "float32"} / {"$device": "cpu"} / {"$bytes": b64}
    autograder.tinylm.TinyLM             ->  {"$tinylm": <its to_tensors() dict>}

Example: ``encode_value({(1, 2): 5})`` gives ``({"$dict": [[{"$tuple": [1, 2]}, 5]]}, {})``.

Trust: the decoder never unpickles and never builds an object from a type named by the sender;
tensors are rebuilt from safetensors bytes, so a tensor subclass (or any object with a rigged
``__eq__``) cannot come back. The encoder checks exact types (``type(x) is ...``) and refuses
everything else with a message naming the type. Both sides bound every size (:class:`Limits`).
This module imports only the standard library, torch, safetensors and
:mod:`autograder.plain_values`: it runs inside the sandbox.
"""
from __future__ import annotations

import base64
import json
import math
import os as _os
import struct
from dataclasses import dataclass

import torch
from safetensors import TensorSpec, serialize
from safetensors.torch import load as _st_load

from autograder import plain_values

__all__ = [
    "FrameReader",
    "FrameTooLarge",
    "Limits",
    "RefusedType",
    "WireError",
    "decode_value",
    "encode_value",
    "pack_frame",
    "plain_value",
    "read_frame_blocking",
    "unpack_payload",
    "write_all_blocking",
]

_LEN = struct.Struct(">Q")   # frame length
_HLEN = struct.Struct(">I")  # header length


@dataclass(frozen=True)
class Limits:
    """Bounds applied on both sides of the wire (the trusted side's are the ones that matter)."""

    max_frame_bytes: int = 512 << 20   # one message, tensors included
    max_header_bytes: int = 64 << 20   # its JSON part
    max_depth: int = 64                # nesting of lists/tuples/dicts
    max_items: int = 2_000_000         # values in one message, all levels together
    max_str_len: int = 16 << 20        # characters in one string (bytes for bytes values)
    max_tensors: int = 100_000         # tensors (and generators) in one message


DEFAULT_LIMITS = Limits()

# The submission child's exit status when it ran out of memory outside the student's code
# (the child exits with it, the trusted side reads it).
MEMORY_EXIT = 87


@dataclass(frozen=True)
class WorkerConfig:
    """What the trusted side tells the zygote when it starts it: the one JSON argument of its
    command line (:meth:`to_json`), read back with :meth:`from_json`. Both sides use this type,
    so a key cannot be spelled two ways."""

    scratch: str                            # the worker's writable folder (/tmp in bubblewrap)
    pid_namespace: bool                     # bubblewrap gave it a PID namespace
    threads: int = 1
    memory_bytes: int | None = None         # RLIMIT_AS
    data_bytes: int | None = None           # RLIMIT_DATA
    cpu_s: float | None = None              # CPU seconds of one call
    max_processes: int | None = None
    max_open_files: int | None = None
    max_file_bytes: int | None = None
    max_output_bytes: int = 64 << 10        # captured prints of one call
    cuda_memory_bytes: int | None = None    # the CUDA allocator's cap per device
    forbidden_apis: tuple[str, ...] = ()    # every module's, guarded from the start
    wire_limits: Limits = DEFAULT_LIMITS
    parent_pid: int | None = None           # rlimits mode: die with the trusted process
    landlock_read: tuple[str, ...] | None = None  # rlimits mode: what Landlock lets it read
    own_uid: bool = False                   # it runs under an unprivileged uid of its own
    drop_capabilities: bool = False         # it runs as root: drop every capability

    def to_json(self) -> str:
        import dataclasses

        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerConfig:
        data = json.loads(text)
        data["wire_limits"] = Limits(**data.get("wire_limits", {}))
        data["forbidden_apis"] = tuple(data.get("forbidden_apis", ()))
        if data.get("landlock_read") is not None:
            data["landlock_read"] = tuple(data["landlock_read"])
        return cls(**data)


class WireError(Exception):
    """A malformed or out-of-bounds message."""


class FrameTooLarge(WireError):
    """A frame (or its header) is larger than the configured limit."""


class RefusedType(WireError):
    """A value of a type that may not cross the wire (tensor subclass, arbitrary object)."""


# ------------------------------------------------------------------------------------------
# values
# ------------------------------------------------------------------------------------------

_PLAIN_TENSOR_TYPES = (torch.Tensor, torch.nn.Parameter)  # Parameter arrives as a plain tensor


def _tinylm_class():
    """autograder.tinylm.TinyLM, or None when it cannot be imported (imported lazily)."""
    try:
        from autograder.tinylm import TinyLM
    except Exception:  # noqa: BLE001 - any failure means "no TinyLM support here"
        return None
    return TinyLM


def _where(path: tuple) -> str:
    """` at [0][1]<key 'a'>`: where in a value.

    `path` is a linked chain ``(parent, part)`` ending in ``()``, where a part is a list
    index, ``("key" | "item", dict key)`` or a literal label; the encoder builds the chain
    and only an error message turns it into text.
    """
    parts = []
    while path:
        path, part = path
        if type(part) is int:
            part = f"[{part}]"
        elif type(part) is tuple:
            part = f"<key {part[1]!r:.40}>" if part[0] == "key" else f"[{part[1]!r:.40}]"
        parts.append(part)
    text = "".join(reversed(parts))
    if len(text) > 120:
        text = "..." + text[-117:]
    return f" at {text}" if text else ""


def _describe_refused(obj, path: tuple) -> str:
    cls = type(obj)
    name = cls.__qualname__
    for base, label in ((torch.Tensor, "torch.Tensor"), (bool, "bool"), (int, "int"),
                        (float, "float"), (str, "str"), (bytes, "bytes"), (tuple, "tuple"),
                        (list, "list"), (dict, "dict")):
        if isinstance(obj, base):
            plain = "plain tensors are" if base is torch.Tensor else f"plain {label} values are"
            return f"a {name} (a {label} subclass){_where(path)}; only {plain} accepted"
    module = getattr(cls, "__module__", "?")
    return (f"a {name} ({module}.{name}){_where(path)}; only tensors, numbers, strings, bytes, "
            "None, lists, tuples and dicts are accepted")


def plain_value(obj, limits: Limits = DEFAULT_LIMITS):
    """:func:`autograder.plain_values.plain_value` within `limits`, failing as a wire error.

    Runs in the worker on a student's return value before :func:`encode_value`. Raises
    :class:`WireError` past the limits and :class:`RefusedType` when a subclass's own methods
    fail while it is read.
    """
    try:
        return plain_values.plain_value(obj, max_items=limits.max_items, max_depth=limits.max_depth)
    except plain_values.UnreadableValue as exc:
        raise RefusedType(str(exc)) from None
    except plain_values.PlainValueError as exc:
        raise WireError(str(exc)) from None


def encode_value(obj, limits: Limits = DEFAULT_LIMITS):
    """Encode `obj` as ``(jsonable, tensors)``; raise :class:`RefusedType` / :class:`WireError`.

    Tensors are detached, moved to the CPU and copied contiguously (safetensors refuses shared
    or strided storage); the header records the original device. The same tensor object met
    twice is sent once.
    """
    tensors: dict[str, torch.Tensor] = {}
    # id -> (tensor, name): holding the tensor keeps its id from being reused by a temporary
    # (a generator state or a model's tensors are built on the fly and freed otherwise).
    memo: dict[int, tuple[torch.Tensor, str]] = {}
    count = [0]
    tinylm = []  # resolved lazily, once

    def add_tensor(t: torch.Tensor) -> str:
        seen = memo.get(id(t))
        if seen is not None:
            return seen[1]
        if len(tensors) >= limits.max_tensors:
            raise WireError(f"more than {limits.max_tensors} tensors in one message")
        name = f"t{len(tensors)}"
        tensors[name] = t.detach().to("cpu").contiguous().clone()
        memo[id(t)] = (t, name)
        return name

    def enc(x, depth: int, path: tuple):
        count[0] += 1
        if count[0] > limits.max_items:
            raise WireError(f"more than {limits.max_items} values in one message")
        if depth > limits.max_depth:
            raise WireError(f"nesting deeper than {limits.max_depth} levels{_where(path)}")
        t = type(x)
        if x is None or t is bool or t is int:
            return x
        if t is float:
            if math.isfinite(x):
                return x
            return {"$f": "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")}
        if t is str:
            if len(x) > limits.max_str_len:
                raise WireError(f"a string of {len(x)} characters{_where(path)} "
                                f"(limit {limits.max_str_len})")
            return x
        if t is bytes:
            if len(x) > limits.max_str_len:
                raise WireError(f"a bytes value of {len(x)} bytes{_where(path)} "
                                f"(limit {limits.max_str_len})")
            return {"$bytes": base64.b64encode(x).decode("ascii")}
        if t in _PLAIN_TENSOR_TYPES:
            node = {"$tensor": add_tensor(x), "device": str(x.device)}
            if x.requires_grad:
                node["grad"] = True
            return node
        if t is list:
            return [enc(v, depth + 1, (path, i)) for i, v in enumerate(x)]
        if t is tuple or t is torch.Size:
            return {"$tuple": [enc(v, depth + 1, (path, i)) for i, v in enumerate(x)]}
        if t is dict:
            return {"$dict": [[enc(k, depth + 1, (path, ("key", k))),
                               enc(v, depth + 1, (path, ("item", k)))] for k, v in x.items()]}
        if t is torch.dtype:
            return {"$dtype": str(x).removeprefix("torch.")}
        if t is torch.device:
            return {"$device": str(x)}
        if t is torch.Generator:
            state = x.get_state()
            return {"$generator": add_tensor(state), "device": str(x.device)}
        if not tinylm:
            tinylm.append(_tinylm_class())
        if tinylm[0] is not None and t is tinylm[0]:
            return {"$tinylm": enc(x.to_tensors(), depth + 1, (path, "<TinyLM>"))}
        raise RefusedType(_describe_refused(x, path))

    return enc(obj, 0, ()), tensors


_DTYPES = {
    str(d).removeprefix("torch."): d
    for d in (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
              torch.float16, torch.bfloat16, torch.float32, torch.float64,
              torch.complex64, torch.complex128)
}


def _device(text, what: str) -> torch.device:
    if not isinstance(text, str) or len(text) > 64:
        raise WireError(f"bad device in {what}")
    try:
        return torch.device(text)
    except (RuntimeError, ValueError) as exc:
        raise WireError(f"bad device {text!r} in {what}: {exc}") from None


def decode_value(jsonable, tensors: dict, limits: Limits = DEFAULT_LIMITS, *,
                 map_device=None):
    """Rebuild a value from :func:`encode_value`'s output; raise :class:`WireError` if malformed.

    ``map_device(device) -> device`` may redirect tensors (e.g. to the CPU where the recorded
    CUDA device does not exist); by default tensors go back to the recorded device.
    """
    count = [0]

    def tensor_ref(name, what):
        if not isinstance(name, str) or name not in tensors:
            raise WireError(f"{what} refers to a missing tensor {name!r:.40}")
        value = tensors[name]
        if type(value) is not torch.Tensor:  # pragma: no cover - safetensors builds plain ones
            raise RefusedType("a tensor that is not a plain torch.Tensor")
        return value

    def place(t: torch.Tensor, node) -> torch.Tensor:
        dev = _device(node.get("device", "cpu"), "a tensor")
        if map_device is not None:
            dev = map_device(dev)
        if dev.type != "cpu":
            t = t.to(dev)
        return t

    def dec(x, depth: int):
        count[0] += 1
        if count[0] > limits.max_items:
            raise WireError(f"more than {limits.max_items} values in one message")
        if depth > limits.max_depth:
            raise WireError(f"nesting deeper than {limits.max_depth} levels")
        t = type(x)
        if x is None or t is bool or t is int or t is float:
            return x
        if t is str:
            if len(x) > limits.max_str_len:
                raise WireError(f"a string of {len(x)} characters (limit {limits.max_str_len})")
            return x
        if t is list:
            return [dec(v, depth + 1) for v in x]
        if t is not dict or len(x) == 0:
            raise WireError(f"unexpected JSON value of type {t.__name__}")
        tag = next(iter(x))
        body = x[tag]
        if tag == "$f" and len(x) == 1 and body in ("nan", "inf", "-inf"):
            return float(body)
        if tag == "$tuple" and len(x) == 1 and type(body) is list:
            return tuple(dec(v, depth + 1) for v in body)
        if tag == "$dict" and len(x) == 1 and type(body) is list:
            out = {}
            for pair in body:
                if type(pair) is not list or len(pair) != 2:
                    raise WireError("a $dict entry is not a [key, value] pair")
                key = dec(pair[0], depth + 1)
                try:
                    hash(key)
                except TypeError:
                    raise WireError(f"an unhashable dict key of type {type(key).__name__}") from None
                out[key] = dec(pair[1], depth + 1)
            return out
        if tag == "$tensor" and set(x) <= {"$tensor", "device", "grad"}:
            value = place(tensor_ref(body, "$tensor"), x)
            if x.get("grad") is True and (value.is_floating_point() or value.is_complex()):
                value = value.clone().requires_grad_(True)
            return value
        if tag == "$generator" and set(x) == {"$generator", "device"}:
            state = tensor_ref(body, "$generator")
            if state.dtype != torch.uint8 or state.dim() != 1:
                raise WireError("a generator state must be a 1-d uint8 tensor")
            dev = _device(x["device"], "a generator")
            if map_device is not None:
                dev = map_device(dev)
            try:
                gen = torch.Generator(device=dev)
                gen.set_state(state)
            except (RuntimeError, ValueError) as exc:
                raise WireError(f"bad generator state: {exc}") from None
            return gen
        if tag == "$dtype" and len(x) == 1:
            if body not in _DTYPES:
                raise WireError(f"unsupported dtype {body!r:.40}")
            return _DTYPES[body]
        if tag == "$device" and len(x) == 1:
            return _device(body, "a device value")
        if tag == "$bytes" and len(x) == 1 and type(body) is str:
            if len(body) > 2 * limits.max_str_len:
                raise WireError("a bytes value over the limit")
            try:
                return base64.b64decode(body.encode("ascii"), validate=True)
            except (ValueError, UnicodeError):
                raise WireError("bad base64 in a $bytes value") from None
        if tag == "$tinylm" and len(x) == 1:
            cls = _tinylm_class()
            if cls is None:
                raise WireError("a TinyLM value but autograder.tinylm is not available")
            parts = dec(body, depth + 1)
            if type(parts) is not dict:
                raise WireError("a $tinylm value must hold a dict")
            try:
                return cls.from_tensors(parts)
            except (TypeError, ValueError, KeyError) as exc:
                raise WireError(f"bad TinyLM tensors: {exc}") from None
        raise WireError(f"unknown tag {tag!r:.40}")

    try:
        return dec(jsonable, 0)
    except RecursionError:
        raise WireError("nesting too deep") from None


# ------------------------------------------------------------------------------------------
# frames
# ------------------------------------------------------------------------------------------

def _reject_constant(name):
    raise ValueError(f"JSON constant {name} is not allowed")


def _safetensors_bytes(tensors: dict) -> bytes:
    """The safetensors serialisation of `tensors`, as ``safetensors.torch.save`` writes it.

    Calls the format's own serializer directly: the torch wrapper's shared-storage analysis
    and numpy round trip cost ~0.1 ms a message, and every tensor here is already a
    private contiguous CPU copy (see encode_value).
    """
    keep = {name: t if t.device.type == "cpu" and t.is_contiguous() else t.detach().cpu().contiguous()
            for name, t in tensors.items()}
    specs = {name: TensorSpec(dtype=str(t.dtype).removeprefix("torch."), shape=t.shape,
                                 data_ptr=t.data_ptr(), data_len=t.nbytes)
             for name, t in keep.items()}
    return serialize(specs, None)  # `keep` holds every buffer alive until this returns


# One encoder and one decoder for every frame (json.dumps/loads with options build new ones).
_JSON_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))
_JSON_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def pack_frame(header: dict, tensors: dict | None = None,
               limits: Limits = DEFAULT_LIMITS) -> bytes:
    """One frame: length prefix, header length, JSON header, safetensors bytes (if any)."""
    head = _JSON_ENCODER.encode(header).encode("utf-8")
    if len(head) > limits.max_header_bytes:
        raise FrameTooLarge(f"message header of {len(head)} bytes "
                            f"(limit {limits.max_header_bytes})")
    try:
        blob = _safetensors_bytes(tensors) if tensors else b""
    except Exception as exc:  # noqa: BLE001 - safetensors raises assorted types
        raise WireError(f"tensors cannot be serialised: {exc}") from None
    size = _HLEN.size + len(head) + len(blob)
    if size > limits.max_frame_bytes:
        raise FrameTooLarge(f"message of {size} bytes (limit {limits.max_frame_bytes})")
    return b"".join((_LEN.pack(size), _HLEN.pack(len(head)), head, blob))


def unpack_payload(payload: bytes | memoryview, limits: Limits = DEFAULT_LIMITS):
    """``(header, tensors)`` from a frame's payload (after the 8-byte length)."""
    if len(payload) < _HLEN.size:
        raise WireError("truncated frame")
    (hlen,) = _HLEN.unpack_from(payload, 0)
    if hlen > limits.max_header_bytes or _HLEN.size + hlen > len(payload):
        raise FrameTooLarge(f"bad header length {hlen}")
    try:
        header = _JSON_DECODER.decode(bytes(payload[_HLEN.size:_HLEN.size + hlen]).decode("utf-8"))
    except RecursionError:
        raise WireError("header nesting too deep") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError(f"bad JSON header: {exc}") from None
    if type(header) is not dict:
        raise WireError("the header is not a JSON object")
    blob = bytes(payload[_HLEN.size + hlen:])
    tensors = {}
    if blob:
        try:
            tensors = _st_load(blob)
        except Exception as exc:  # noqa: BLE001 - safetensors raises assorted types
            raise WireError(f"bad safetensors data: {exc}") from None
        if len(tensors) > limits.max_tensors:
            raise WireError(f"more than {limits.max_tensors} tensors in one message")
    return header, tensors


class FrameReader:
    """Incremental frame parser: :meth:`feed` bytes, :meth:`next_payload` returns whole payloads.

    The length prefix is checked against the limit before any payload byte is buffered.
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS):
        self.limits = limits
        self._buf = bytearray()
        self._need: int | None = None

    def feed(self, data: bytes) -> None:
        self._buf += data

    def wanted(self) -> int:
        """How many more bytes would complete the next frame (a read-size hint)."""
        if self._need is None:
            return max(_LEN.size - len(self._buf), 1)
        return max(_LEN.size + self._need - len(self._buf), 1)

    def next_payload(self) -> bytes | None:
        if self._need is None:
            if len(self._buf) < _LEN.size:
                return None
            (need,) = _LEN.unpack_from(self._buf, 0)
            if need > self.limits.max_frame_bytes:
                raise FrameTooLarge(f"message of {need} bytes "
                                    f"(limit {self.limits.max_frame_bytes})")
            self._need = need
        end = _LEN.size + self._need
        if len(self._buf) < end:
            return None
        payload = bytes(self._buf[_LEN.size:end])
        del self._buf[:end]
        self._need = None
        return payload


def write_all_blocking(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = _os.write(fd, view[: 1 << 20])
        view = view[n:]


def read_frame_blocking(fd: int, limits: Limits = DEFAULT_LIMITS):
    """Read one frame from a blocking fd: ``(header, tensors)``; ``None`` at end of file."""
    head = _read_exact(fd, _LEN.size)
    if head is None:
        return None
    (need,) = _LEN.unpack(head)
    if need > limits.max_frame_bytes:
        raise FrameTooLarge(f"message of {need} bytes (limit {limits.max_frame_bytes})")
    payload = _read_exact(fd, need)
    if payload is None:
        raise WireError("truncated frame")
    return unpack_payload(payload, limits)


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < n:
        data = _os.read(fd, min(n - len(chunks), 1 << 20))
        if not data:
            if not chunks:
                return None
            raise WireError("truncated frame")
        chunks += data
    return bytes(chunks)


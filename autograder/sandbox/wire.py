"""Values on the wire between the trusted grader and the sandboxed worker, and the wire's bounds.

A message is one frame (:mod:`autograder.sandbox.frames`): a JSON header and, after it, the
message's tensors as one ``safetensors`` blob. This module turns values into that header's JSON
and back. Values are JSON with one-key tagged objects for what JSON lacks::

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
everything else with a message naming the type. Both sides bound every size (:class:`Limits`,
also the frames' bounds) and fail with :class:`WireError`. This module imports only the
standard library, torch and :mod:`autograder.plain_values`: it runs inside the sandbox.
"""
from __future__ import annotations

import base64
import math
from dataclasses import dataclass

import torch

from autograder import plain_values

__all__ = [
    "DEFAULT_LIMITS",
    "FrameTooLarge",
    "Limits",
    "RefusedType",
    "WireError",
    "decode_value",
    "encode_value",
    "plain_value",
]


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


class WireError(Exception):
    """A malformed or out-of-bounds message."""


class FrameTooLarge(WireError):
    """A frame (or its header) is larger than the configured limit."""


class RefusedType(WireError):
    """A value of a type that may not cross the wire (tensor subclass, arbitrary object)."""


_PLAIN_TENSOR_TYPES = (torch.Tensor, torch.nn.Parameter)  # Parameter arrives as a plain tensor
# Items a flat list or tuple may hold to be sent as one JSON array without a call per item
# (token ids, words, merge pairs: most of what crosses). Floats are left out on the way out:
# each must be checked for NaN and infinities, which JSON cannot hold.
_AS_IS_OUT = frozenset({type(None), bool, int, str})
_AS_IS_IN = _AS_IS_OUT | {float}


def _as_is(items, kinds: frozenset, depth: int, count: list, limits: Limits) -> bool:
    """Whether `items` can cross as they are: only `kinds`, strings within the limit, and
    room for them in the message (counted here, as one call per item would count them)."""
    present = set(map(type, items))
    if depth >= limits.max_depth or not present <= kinds:
        return False
    if str in present:
        strings = items if len(present) == 1 else [v for v in items if type(v) is str]
        if max(map(len, strings)) > limits.max_str_len:
            return False  # the item-by-item path names the string
    _count(count, len(items), limits)
    return True


def _count(count: list, more: int, limits: Limits) -> None:
    """Add `more` values to a message's running `count`; past the limit it is refused."""
    count[0] += more
    if count[0] > limits.max_items:
        raise WireError(f"more than {limits.max_items} values in one message")


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
        _count(count, 1, limits)
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
            if _as_is(x, _AS_IS_OUT, depth, count, limits):
                return list(x)
            return [enc(v, depth + 1, (path, i)) for i, v in enumerate(x)]
        if t is tuple or t is torch.Size:
            if _as_is(x, _AS_IS_OUT, depth, count, limits):
                return {"$tuple": list(x)}
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
        _count(count, 1, limits)
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
            if _as_is(x, _AS_IS_IN, depth, count, limits):
                return x  # parsed from this message's JSON: no one else holds it
            return [dec(v, depth + 1) for v in x]
        if t is not dict or len(x) == 0:
            raise WireError(f"unexpected JSON value of type {t.__name__}")
        tag = next(iter(x))
        body = x[tag]
        if tag == "$f" and len(x) == 1 and body in ("nan", "inf", "-inf"):
            return float(body)
        if tag == "$tuple" and len(x) == 1 and type(body) is list:
            if _as_is(body, _AS_IS_IN, depth, count, limits):
                return tuple(body)
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

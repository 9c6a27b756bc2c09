"""Frames between the trusted grader and the sandboxed worker: one message, length-prefixed.

A message is one length-prefixed frame::

    frame   = length (8 bytes, big-endian) + payload              len(payload) == length
    payload = hlen (4 bytes, big-endian) + header (hlen bytes of UTF-8 JSON) + safetensors bytes

The JSON header holds the message (its values encoded by :mod:`autograder.sandbox.wire`); the
tensors travel as one ``safetensors`` blob after it (absent when the message has none). Every
size is bounded by a :class:`~autograder.sandbox.wire.Limits` before it is buffered. Example:
``unpack_payload(pack_frame({"op": "exit"})[8:])`` gives ``({"op": "exit"}, {})``.

This module imports only the standard library, safetensors and the wire's bounds: it runs
inside the sandbox.
"""
from __future__ import annotations

import json
import os as _os
import struct

from safetensors import TensorSpec, serialize
from safetensors.torch import load as _st_load

from autograder.sandbox.wire import DEFAULT_LIMITS, FrameTooLarge, Limits, WireError

__all__ = [
    "FrameReader",
    "pack_frame",
    "read_frame_blocking",
    "unpack_payload",
    "write_all_blocking",
]

_LEN = struct.Struct(">Q")   # frame length
_HLEN = struct.Struct(">I")  # header length


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

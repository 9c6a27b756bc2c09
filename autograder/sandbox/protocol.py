"""The worker protocol's messages: the zygote's start config and every reply the worker sends.

One home for each message's name and fields, used by both sides: the worker (zygote, child)
builds a reply object and sends :meth:`Reply.header`; the trusted side (channels, client,
replies) turns each header back into one with :func:`read_reply` and tells them apart by class,
so a kind or a field spelled another way fails here, not as a silently ignored frame.

Replies (``kind`` -> class: fields)::

    zygote -> trusted side   "ready" -> Ready: pid, import_s, vm_bytes, landlock, fences
                             "forked" -> Forked: gen, pid      "killed" -> Killed: gen
                             "strays" -> Strays: gen, count    "died" -> Died: gen, status
                             "error" -> ZygoteError: message
    child -> trusted side    "importing" -> Importing: module
                             "loaded" -> Loaded: errors, output, fences
                             "result" -> Result: seq, outcome, detail, output, wall_s

A result's outcome is one key of its header (:class:`Outcome`), e.g.
``Result(3, Outcome.OK, 5, output="", wall_s=0.1).header()`` is
``{"kind": "result", "seq": 3, "wall_s": 0.1, "output": "", "ok": 5}``.

:meth:`Reply.read` takes the values as sent (absent: None): the trusted side checks their
types before it uses them. This module imports only the standard library and the wire's
bounds: it runs inside the sandbox.
"""
from __future__ import annotations

import dataclasses
import enum
import json
from dataclasses import dataclass, fields
from typing import ClassVar, TypedDict

from autograder.sandbox.wire import DEFAULT_LIMITS, Limits

__all__ = [
    "MEMORY_EXIT", "WorkerConfig", "ReplyKind", "Outcome", "ErrorInfo", "Reply", "Ready",
    "Forked", "Killed", "Strays", "Died", "ZygoteError", "Importing", "Loaded", "Result",
    "read_reply",
]

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
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerConfig:
        data = json.loads(text)
        data["wire_limits"] = Limits(**data.get("wire_limits", {}))
        data["forbidden_apis"] = tuple(data.get("forbidden_apis", ()))
        if data.get("landlock_read") is not None:
            data["landlock_read"] = tuple(data["landlock_read"])
        return cls(**data)


class ReplyKind(enum.StrEnum):
    """The ``kind`` of a reply header: who sends it and what it answers."""

    READY = "ready"          # zygote: torch imported, fences up
    FORKED = "forked"        # zygote: {"op": "fork"} done
    KILLED = "killed"        # zygote: {"op": "kill"} done
    STRAYS = "strays"        # zygote: processes left behind, killed
    DIED = "died"            # zygote: the child ended by itself
    ERROR = "error"          # zygote: a control operation it could not do
    IMPORTING = "importing"  # child: about to import one module of the submission
    LOADED = "loaded"        # child: {"op": "load"} done
    RESULT = "result"        # child: {"op": "call"} done


class Outcome(enum.StrEnum):
    """How a call ended: the one key of a result header that holds its detail. In the order
    the trusted side looks for them (a header with two is read as the first)."""

    OK = "ok"                            # the encoded return value
    NOT_IMPLEMENTED = "not_implemented"  # the NotImplementedError's message
    FORBIDDEN = "forbidden"              # "<api> is not allowed ..."
    MEMORY = "memory"                    # a MemoryError inside the call
    TOO_LARGE = "too_large"              # the output or the return value over a bound
    REFUSED = "refused"                  # a return value that may not cross the wire
    ERROR = "error"                      # an ErrorInfo: the student's exception


class ErrorInfo(TypedDict):
    """An exception as it crosses the wire (a failed import, a call that raised)."""

    type: str
    message: str
    traceback: str


@dataclass(frozen=True)
class Reply:
    """One reply header; each subclass names its kind (a class attribute, not a field)."""

    kind: ClassVar[ReplyKind]

    def header(self) -> dict:
        return {"kind": self.kind.value, **{f.name: getattr(self, f.name) for f in fields(self)}}

    @classmethod
    def read(cls, header: dict) -> Reply:
        return cls(**{f.name: header.get(f.name) for f in fields(cls)})


@dataclass(frozen=True)
class Ready(Reply):
    kind = ReplyKind.READY
    pid: int
    import_s: float
    vm_bytes: int
    landlock: int              # the Landlock ABI in force (0: none)
    fences: list[str]


@dataclass(frozen=True)
class Forked(Reply):
    kind = ReplyKind.FORKED
    gen: int
    pid: int


@dataclass(frozen=True)
class Killed(Reply):
    kind = ReplyKind.KILLED
    gen: int


@dataclass(frozen=True)
class Strays(Reply):
    kind = ReplyKind.STRAYS
    gen: int | None
    count: int


@dataclass(frozen=True)
class Died(Reply):
    kind = ReplyKind.DIED
    gen: int
    status: int                # the raw wait status


@dataclass(frozen=True)
class ZygoteError(Reply):
    kind = ReplyKind.ERROR
    message: str


@dataclass(frozen=True)
class Importing(Reply):
    kind = ReplyKind.IMPORTING
    module: str


@dataclass(frozen=True)
class Loaded(Reply):
    kind = ReplyKind.LOADED
    errors: dict[str, ErrorInfo]
    output: str
    fences: list[str]


@dataclass(frozen=True)
class Result(Reply):
    """A call's reply: `outcome` says which header key holds `detail` (None: no outcome)."""

    kind = ReplyKind.RESULT
    seq: int | None
    outcome: Outcome | None
    detail: object = None
    output: str | None = None  # captured stdout+stderr (absent when the call never ran)
    wall_s: float | None = None

    def header(self) -> dict:
        out: dict = {"kind": self.kind.value, "seq": self.seq}
        if self.wall_s is not None:
            out["wall_s"] = self.wall_s
        if self.output is not None:
            out["output"] = self.output
        if self.outcome is not None:
            out[self.outcome.value] = self.detail
        return out

    @classmethod
    def read(cls, header: dict) -> Result:
        outcome = next((o for o in Outcome if o.value in header), None)
        return cls(header.get("seq"), outcome, None if outcome is None else header[outcome.value],
                   output=header.get("output"), wall_s=header.get("wall_s"))


_BY_KIND: dict[str, type[Reply]] = {
    cls.kind.value: cls
    for cls in (Ready, Forked, Killed, Strays, Died, ZygoteError, Importing, Loaded, Result)
}
assert set(_BY_KIND) == {k.value for k in ReplyKind}, "one reply class per ReplyKind"


def read_reply(header: dict) -> Reply | None:
    """The reply a header holds, or None when its kind is not a :class:`ReplyKind`."""
    kind = header.get("kind")
    cls = _BY_KIND.get(kind) if isinstance(kind, str) else None
    return None if cls is None else cls.read(header)

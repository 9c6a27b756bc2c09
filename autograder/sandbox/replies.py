"""What a submission child's reply (or its end) means on the trusted side: a value or a typed error.

Trusted side. :func:`reply_result` reads one :class:`~autograder.sandbox.protocol.Result`
reply; :func:`death_error` names why a child ended (its raw wait status) in the user's terms;
:func:`text_list` bounds a list of strings the worker reports (its fences).
"""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass

from autograder.sandbox import wire
from autograder.sandbox.errors import (
    CallTimeout,
    ForbiddenAPI,
    MemoryLimit,
    NotImplementedYet,
    OutputTooLarge,
    RefusedValue,
    SandboxError,
    StudentError,
    WorkerDied,
)
from autograder.sandbox.protocol import MEMORY_EXIT, Outcome, Result


@dataclass(frozen=True)
class CallResult:
    """A successful call: the decoded value, the captured stdout+stderr and the call's time."""

    value: object
    output: str
    wall_s: float


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def text_list(value) -> list[str]:
    """A list of short strings from the worker (anything else: empty), bounded."""
    if not isinstance(value, list):
        return []
    return [item[:200] for item in value[:20] if isinstance(item, str)]


def reply_result(what: str, reply: Result, tensors: dict, *, wire_limits: wire.Limits,
                 max_output_bytes: int) -> CallResult:
    """The value of a child's result reply, or the typed error it reports (raised)."""
    output = reply.output if isinstance(reply.output, str) else ""
    output = output[: max_output_bytes + 200]
    outcome, detail = reply.outcome, reply.detail

    def text() -> str:
        return detail[:4000] if isinstance(detail, str) else str(detail)[:4000]

    if outcome is Outcome.OK:
        try:
            value = wire.decode_value(detail, tensors, wire_limits)
        except wire.RefusedType as exc:
            raise RefusedValue(f"{what} returned {exc}", output=output) from None
        except wire.WireError as exc:
            raise RefusedValue(f"{what} returned a value that was refused: {exc}",
                               output=output) from None
        wall = reply.wall_s
        return CallResult(value, output, float(wall) if isinstance(wall, (int, float)) else 0.0)
    if outcome is Outcome.NOT_IMPLEMENTED:
        raise NotImplementedYet(text(), output=output)
    if outcome is Outcome.FORBIDDEN:
        message = text()
        raise ForbiddenAPI(message, api=message.split(" is not allowed")[0], output=output)
    if outcome is Outcome.MEMORY:
        raise MemoryLimit(f"{what} ran out of memory: {text()}", output=output)
    if outcome is Outcome.TOO_LARGE:
        raise OutputTooLarge(f"{what}: {text()}", output=output)
    if outcome is Outcome.REFUSED:
        raise RefusedValue(f"{what} {text()}", output=output)
    if outcome is Outcome.ERROR and isinstance(detail, dict):
        def field(key):
            value = detail.get(key, "")
            return value[:8000] if isinstance(value, str) else ""
        raise StudentError(field("type") or "Error", field("message"), field("traceback"),
                           output=output)
    raise WorkerDied(f"the worker sent a result without a value for {what}", output=output)

def death_error(status: int | None, when: str, *, memory_bytes: int | None, cpu_s: float,
                max_file_bytes: int) -> SandboxError:
    """The typed error for a child that ended with raw wait `status` (None: unknown)."""
    if status is None:
        return WorkerDied(f"the worker ended {when} (exit status unknown); it was restarted")
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        if code == MEMORY_EXIT:
            return MemoryLimit(f"the worker ran out of memory {when} (memory limit "
                               f"{memory_bytes} bytes)")
        return WorkerDied(f"the worker exited with status {code} {when} (sys.exit?)",
                          status=code)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        name = _signal_name(number)
        if number == signal.SIGKILL:
            return MemoryLimit(f"the worker was killed by SIGKILL {when} (most likely the "
                               "out-of-memory killer)")
        if number == getattr(signal, "SIGXCPU", -1):
            return CallTimeout(f"the worker used up its CPU-time limit of {cpu_s:g} s "
                               f"{when}")
        if number == getattr(signal, "SIGXFSZ", -1):
            return OutputTooLarge(f"the worker wrote more than {max_file_bytes} bytes "
                                  f"to a file {when}")
        return WorkerDied(f"the worker was killed by {name} ({number}) {when}",
                          signal_number=number)
    return WorkerDied(f"the worker ended {when} (wait status {status})")  # pragma: no cover

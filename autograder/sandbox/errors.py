"""The typed failures of a sandboxed call, and of the sandbox itself (trusted side).

Every failure of student code is a :class:`SandboxError` with a ``reason`` label for reports;
:class:`SandboxUnavailable` says the sandbox cannot run here (exit 4), and
:class:`SubmissionUnloadable` that this submission cannot be loaded at all (exit 3).
"""
from __future__ import annotations


class SandboxError(Exception):
    """Base of every failure a call can end with. ``output`` holds the call's captured output.

    ``reason`` is a short label for reports (``"timeout"``, ``"memory"``, ...).
    """

    reason = "error"

    def __init__(self, message: str, *, output: str = ""):
        super().__init__(message)
        self.message = message
        self.output = output


class NotImplementedYet(SandboxError):
    """The function is still the stub (raised NotImplementedError "... not implemented yet")."""

    reason = "not implemented"


class StudentError(SandboxError):
    """Student code raised; ``type_name``, ``message`` and a student-frames-only traceback."""

    reason = "exception"

    def __init__(self, type_name: str, message: str, traceback: str = "", *, output: str = ""):
        super().__init__(f"{type_name}: {message}", output=output)
        self.type_name = type_name
        self.student_message = message
        self.traceback = traceback


class CallTimeout(SandboxError):
    """The call ran past its wall-clock timeout (or its CPU-time limit)."""

    reason = "timeout"


class WorkerDied(SandboxError):
    """The child process ended during the call (sys.exit, os._exit, a signal, a crash)."""

    reason = "worker died"

    def __init__(self, message: str, *, status: int | None = None, signal_number: int | None = None,
                 output: str = ""):
        super().__init__(message, output=output)
        self.status = status
        self.signal_number = signal_number


class MemoryLimit(SandboxError):
    """The call ran out of memory (MemoryError under RLIMIT_AS, or killed by SIGKILL)."""

    reason = "memory"


class ForbiddenAPI(SandboxError):
    """Student code called an API that grading.yaml forbids for this module; ``api`` names it."""

    reason = "forbidden API"

    def __init__(self, message: str, *, api: str = "", output: str = ""):
        super().__init__(message, output=output)
        self.api = api


class RefusedValue(SandboxError):
    """The returned value has a type that may not cross the wire (tensor subclass, object...)."""

    reason = "type refused"


class OutputTooLarge(SandboxError):
    """The return value or the printed output went over its size limit."""

    reason = "output too large"


class SandboxUnavailable(RuntimeError):
    """The requested sandbox mode cannot run here, or the worker would not start.

    The message is one line for the user; :attr:`log` keeps the worker's full output.
    """

    def __init__(self, message: str, *, log: str = ""):
        super().__init__(message)
        self.log = log


class DeviceUnavailable(SandboxUnavailable):
    """grading.yaml's device cannot be used on this machine (``device: cuda`` without CUDA):
    like a missing sandbox, the machine and not the student is the problem, so nothing is graded."""


class SubmissionUnloadable(SandboxUnavailable):
    """This submission (not the sandbox) is the problem: its modules cannot be loaded."""

"""Sandboxed execution of student code: a warm worker process and its wire format.

The trusted side uses :class:`Worker` (alias :class:`Sandbox`)::

    with Worker(timeout_s=10) as w:                  # mode "auto": bubblewrap, else rlimits
        errors = w.load_submission({"masks": source})  # {module: None or import error}
        m = w.call("masks", "causal_mask", (4,))       # a plain tensor, or a typed error

Trusted side: ``client`` (the worker: submissions and calls), ``lifecycle`` (its processes:
start, stop, fork, kill), ``channels`` (its frames to the zygote and the child), ``errors``
(typed failures), ``replies`` (a reply or a child's end as a value or a typed error), ``host``
(environment, uid, stray marks), ``probe`` (can bubblewrap run here?), ``layout`` (the
sandbox's file system). Inside the sandbox (copied there, :data:`layout.WORKER_FILES`):
``zygote`` (imports torch once, forks), ``child`` (the submission child), ``fences`` (rlimits,
Landlock, seccomp, capabilities), ``forbidden`` (guards and the ATen operator fence),
``protocol`` (the start config and the typed replies, used by both sides), ``frames``
(length-prefixed messages) and ``wire`` (value encoding, the wire's bounds), so this package
imports its client lazily.
"""
from __future__ import annotations

_CLIENT_NAMES = {
    "Worker", "Sandbox", "CallResult", "SandboxError", "NotImplementedYet", "StudentError",
    "CallTimeout", "WorkerDied", "MemoryLimit", "ForbiddenAPI", "RefusedValue",
    "OutputTooLarge", "SandboxUnavailable", "SubmissionUnloadable", "bubblewrap_available",
    "bubblewrap_problem",
}

__all__ = sorted(_CLIENT_NAMES)


def __getattr__(name: str):
    if name in _CLIENT_NAMES:
        from autograder.sandbox import client
        return getattr(client, name)
    raise AttributeError(f"module 'autograder.sandbox' has no attribute {name!r}")

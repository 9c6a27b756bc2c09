"""The implementation under test as a proxy to the sandboxed worker.

Calls cross the trust boundary as plain data (autograder.sandbox.wire); what comes back is a
plain value or a typed failure, turned here into what the suites expect: a "not implemented"
skip, a StudentException carrying the student's exception by name, or a SandboxFailure.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from autograder.impl import NOT_IMPLEMENTED
from autograder.judge import SandboxFailure, StudentException
from autograder.sandbox import client


class RemoteModule:
    def __init__(self, implementation: RemoteImplementation, name: str):
        self._implementation = implementation
        self._name = name

    def __getattr__(self, function: str) -> Callable:
        if function.startswith("_"):
            raise AttributeError(function)
        return lambda *args, **kwargs: self._implementation.call(self._name, function, args, kwargs)


class RemoteImplementation:
    """``impl.<module>.<function>(...)`` runs in the worker that holds the submission."""

    spec = "sandbox"
    copies_inputs = True  # arguments cross the wire as copies: the caller's objects stay untouched

    def __init__(self, worker: Any, timeout_s: float, module_errors: dict[str, str] | None = None,
                 budget_s: float | None = None):
        self.worker = worker
        self.timeout_s = timeout_s
        self.module_errors = module_errors or {}
        # The budget counts this submission's own call time (submissions graded together
        # share the wall clock, so a deadline would charge one for another's slowness).
        self.budget_s = budget_s
        self.used_s = 0.0
        # A function that timed out or ran out of memory once is not run again: each further
        # case would cost the whole timeout (an endless loop x 20 cases = minutes).
        self.poisoned: dict[str, str] = {}

    def __getattr__(self, module: str) -> RemoteModule:
        if module.startswith("_"):
            raise AttributeError(module)
        return RemoteModule(self, module)

    def call(self, module: str, function: str, args: tuple, kwargs: dict) -> Any:
        qualname = f"{module}.{function}"
        if module in self.module_errors:
            pytest.skip(f"{qualname}: {NOT_IMPLEMENTED} ({self.module_errors[module]})")
        if qualname in self.poisoned:
            raise SandboxFailure(f"{qualname}: not run again: {self.poisoned[qualname]}")
        timeout_s = self.timeout_s
        if self.budget_s is not None:
            left = self.budget_s - self.used_s
            if left <= 0:
                raise SandboxFailure(f"{qualname}: not run, the submission's time limit was used up")
            timeout_s = min(timeout_s, left)
        started = time.monotonic()
        try:
            return self.worker.call(module, function, args, kwargs, timeout_s=timeout_s)
        except client.NotImplementedYet:
            pytest.skip(f"{qualname}: {NOT_IMPLEMENTED}")
        except client.StudentError as exc:
            if exc.type_name == "MissingFunction":  # the submission does not define it at all
                pytest.skip(f"{qualname}: {NOT_IMPLEMENTED} (not defined in the submission)")
            raise StudentException(exc.type_name, exc.student_message) from None
        except (client.CallTimeout, client.MemoryLimit) as exc:
            self.poisoned[qualname] = f"an earlier call failed ({exc.reason}: {exc})"
            raise SandboxFailure(f"{qualname}: {exc}") from None
        except client.SandboxError as exc:
            raise SandboxFailure(f"{qualname}: {exc}") from None
        finally:
            self.used_s += time.monotonic() - started

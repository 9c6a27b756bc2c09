"""Compare the implementation under test with the reference, and name the mistake on failure.

Hidden suites call :meth:`Judge.compare` with one set of inputs. The judge runs the
implementation under test and the reference on independent copies of those inputs, compares
every output (shape, then dtype, then values), and when they differ runs the known-wrong
variants of that function (``reference.mistakes``) on the same inputs: a variant whose output
matches the student's names the mistake and its hint.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from autograder.checking import CheckFailure, assert_close, assert_equal


class StudentException(Exception):
    """An exception raised by student code in the sandboxed worker, carried by name only."""

    def __init__(self, type_name: str, message: str):
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message


class SandboxFailure(Exception):
    """The worker could not finish a call (timeout, crash, exit, memory, refused value...)."""


class DiagnosedFailure(CheckFailure):
    """A comparison failed; `mistake` is the id of the known mistake it matches, if any."""

    def __init__(self, message: str, mistake: str | None = None, hint: str | None = None):
        if mistake:
            message = f"{message}\nlooks like mistake {mistake}: {hint}"
        super().__init__(message)
        self.mistake = mistake
        self.hint = hint


@dataclass
class Raised:
    """Stands for 'the call raised'; compared by exception type name only."""

    type_name: str
    message: str = ""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Raised) and other.type_name == self.type_name


@dataclass
class Comparison:
    """What one compare() saw; kept on the test item for reports (heatmaps, got/expected)."""

    qualname: str
    got: Any = None
    expected: Any = None
    mistake: str | None = None
    extras: dict = field(default_factory=dict)


# Values no callee can change: passed on as they are, and fingerprinted by their repr.
IMMUTABLE_TYPES = (int, float, str, bytes, bool, type(None), torch.dtype, torch.device)


def clone_inputs(value: Any) -> Any:
    """Deep copy of call arguments: tensors cloned, generators copied with their state."""
    kind = type(value)
    if kind in IMMUTABLE_TYPES:  # most arguments: shared, not copied
        return value
    if kind in (list, tuple) and all(type(v) in IMMUTABLE_TYPES for v in value):
        return kind(value)  # token ids, words: a shallow copy is a deep one
    if isinstance(value, torch.Tensor):
        return value.clone()
    if kind is torch.Generator:  # isinstance() on Generator runs a Python-level metaclass check
        twin = torch.Generator(device=value.device)
        twin.set_state(value.get_state())
        return twin
    if isinstance(value, (list, tuple)):
        return type(value)(clone_inputs(v) for v in value)
    if isinstance(value, dict):
        return {k: clone_inputs(v) for k, v in value.items()}
    if callable(value):
        return value  # models are pure functions of their inputs
    return copy.deepcopy(value)


def compare_outputs(
    got: Any, expected: Any, *, name: str = "output", atol: float | None = None,
    rtol: float | None = None, tolerances: dict | None = None, equal_nan: bool = False,
) -> None:
    """Recursive comparison: tensors by tolerance, containers item by item, the rest exactly."""
    if isinstance(expected, Raised) or isinstance(got, Raised):
        if got != expected:
            got_s = f"raised {got.type_name}: {got.message}" if isinstance(got, Raised) else "returned a value"
            exp_s = f"raises {expected.type_name}" if isinstance(expected, Raised) else "returns a value"
            raise CheckFailure(f"{name}: the call {got_s}; expected it {exp_s}")
        return
    if isinstance(expected, torch.Tensor):
        assert_close(got, expected, name=name, atol=atol, rtol=rtol, tolerances=tolerances,
                     equal_nan=equal_nan)
        return
    if isinstance(expected, (tuple, list)):
        if type(got) is not type(expected) or len(got) != len(expected):
            assert_equal(got, expected, name=name)
        if any(isinstance(e, torch.Tensor) for e in expected):
            for i, (g, e) in enumerate(zip(got, expected, strict=False)):  # a wrong length failed above
                compare_outputs(g, e, name=f"{name}[{i}]", atol=atol, rtol=rtol, tolerances=tolerances,
                                equal_nan=equal_nan)
            return
    assert_equal(got, expected, name=name)


def call_capturing(fn: Callable, args: tuple, kwargs: dict) -> Any:
    """Call fn; an ordinary exception becomes a Raised value (skips and stops pass through)."""
    try:
        return fn(*args, **kwargs)
    except StudentException as exc:
        return Raised(exc.type_name, exc.message[:300])
    except SandboxFailure:
        raise
    except Exception as exc:  # noqa: BLE001 - the student's exception is data here
        return Raised(type(exc).__name__, str(exc)[:300])


class Judge:
    """Runs `impl` against `ref` for one test; see the module docstring."""

    def __init__(self, impl: Any, ref: Any, diagnose: bool = True, tolerances: dict | None = None,
                 cache: Any = None, function_tolerances: dict | None = None):
        self.impl = impl
        self.ref = ref
        self.diagnose_enabled = diagnose
        self.tolerances = tolerances  # dtype -> (atol, rtol), over checking.TOLERANCES
        self.function_tolerances = function_tolerances or {}  # qualname -> dtype -> (atol, rtol)
        self.cache = cache  # a ReferenceCache shared by a batch, or None
        self.comparisons: list[Comparison] = []

    def _trusted_call(self, name: str, fn: Callable, args: tuple, kwargs: dict) -> Any:
        """Reference or mistake-variant output, from the batch cache when there is one."""
        run = lambda: call_capturing(fn, clone_inputs(args), clone_inputs(kwargs))  # noqa: E731
        if self.cache is None:
            return run()
        return self.cache.get_or_compute(name, args, kwargs, run)

    def _tolerances(self, qualname: str) -> dict | None:
        """Per-dtype tolerances for this function: its own (config.py, grading.yaml) over the general ones."""
        own = self.function_tolerances.get(qualname)
        return {**(self.tolerances or {}), **own} if own else self.tolerances

    def _function(self, implementation: Any, qualname: str) -> Callable:
        module, function = qualname.split(".")
        return getattr(getattr(implementation, module), function)

    def expected(self, qualname: str, *args: Any, **kwargs: Any) -> Any:
        """The reference output on a copy of the inputs."""
        # (a batch's `ref` is a CachedReference already: no second cache layer here)
        return call_capturing(self._function(self.ref, qualname), clone_inputs(args), clone_inputs(kwargs))

    def compare(
        self, qualname: str, *args: Any, atol: float | None = None, rtol: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """Assert impl and ref agree on these inputs; return the student's output."""
        # A sandboxed implementation receives serialised copies: no need to copy twice.
        copies = getattr(self.impl, "copies_inputs", False)
        got = call_capturing(self._function(self.impl, qualname), args if copies else clone_inputs(args),
                             kwargs if copies else clone_inputs(kwargs))
        expected = self.expected(qualname, *args, **kwargs)
        record = Comparison(qualname, got, expected)
        self.comparisons.append(record)
        try:
            compare_outputs(got, expected, atol=atol, rtol=rtol, tolerances=self._tolerances(qualname))
        except CheckFailure as failure:
            mistake = self.diagnose(qualname, args, kwargs, got, atol, rtol)
            record.mistake = mistake.id if mistake else None
            raise DiagnosedFailure(str(failure), record.mistake, mistake.hint if mistake else None) from None
        return got

    def raises(self, qualname: str, exc_type: type[BaseException], *args: Any, **kwargs: Any) -> None:
        """Assert the implementation rejects these arguments with `exc_type`."""
        got = call_capturing(self._function(self.impl, qualname), clone_inputs(args), clone_inputs(kwargs))
        if not isinstance(got, Raised):
            raise CheckFailure(f"{qualname}: returned a value; expected it to raise {exc_type.__name__}")
        if got.type_name != exc_type.__name__ and not _is_subclass_name(got.type_name, exc_type):
            raise CheckFailure(
                f"{qualname}: raised {got.type_name} ({got.message}); expected {exc_type.__name__}"
            )

    def diagnose(self, qualname, args, kwargs, got, atol, rtol):
        """The first known mistake whose output on these inputs matches `got`, or None."""
        if not self.diagnose_enabled:
            return None
        from reference.mistakes import mistakes_for

        module, function = qualname.split(".")
        for wrong in mistakes_for(module, function):
            variant = self._trusted_call(f"mistake:{wrong.id}", wrong.fn, args, kwargs)
            try:
                # NaN where the variant has NaN is a match (a variant that returns NaN rows)
                compare_outputs(got, variant, atol=atol, rtol=rtol, tolerances=self._tolerances(qualname),
                                equal_nan=True)
            except CheckFailure:
                continue
            return wrong
        return None


def _is_subclass_name(name: str, exc_type: type[BaseException]) -> bool:
    """True when `name` is a known subclass of exc_type (e.g. IndexError of LookupError)."""
    pending = list(exc_type.__subclasses__())
    while pending:
        cls = pending.pop()
        if cls.__name__ == name:
            return True
        pending.extend(cls.__subclasses__())
    return False

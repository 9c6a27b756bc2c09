"""Self-checks for the lab notebooks: one function's public checks against the notebook's code.

A lab notebook defines the contract functions in its own namespace (``globals()``). Each
self-check cell calls::

    check("masks.causal_mask", globals())

which runs the checks of ``exercises/checks/test_masks.py`` marked
``@pytest.mark.function("masks.causal_mask")`` in this process, with an ``impl`` whose every
module is that namespace (notebook functions call each other by global name), and prints one
line: ``masks.causal_mask: 8 checks passed``, ``... not implemented yet`` or
``... 2 of 8 checks failed: <first message>``.

This module only reaches its sibling modules through relative imports, so the student bundle
(``autograder release``) can ship it under another package name.
"""
from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .contract import exercise_modules
from .impl import NOT_IMPLEMENTED, Implementation, ModuleView
from .plugin import IMPL_KEY

ROOT = Path(__file__).resolve().parent.parent
CHECKS_DIR = ROOT / "exercises" / "checks"
PLUGIN = f"{__package__}.plugin"  # "autograder.plugin" here, the bundle's copy in a release
# No other installed pytest plugin is needed, and scanning their entry points is slow.
_NO_AUTOLOAD = ("--disable-plugin-autoload",) if pytest.version_tuple >= (8, 4) else ()


class NamespaceSource:
    """A read-only module-like view of a dict (a notebook's globals), looked up at call time."""

    def __init__(self, namespace: Mapping[str, Any]):
        self._namespace = namespace

    def __getattr__(self, name: str) -> Any:
        try:
            return self._namespace[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        return "<notebook namespace>"


def namespace_implementation(namespace: Mapping[str, Any]) -> Implementation:
    """An Implementation whose exercise modules are all the same namespace."""
    source = NamespaceSource(namespace)
    return Implementation("notebook", {name: ModuleView(name, source) for name in exercise_modules()})


@dataclass
class CheckSummary:
    """What one self-check saw; ``message`` is the line the notebook prints."""

    qualname: str
    passed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (check name, message)
    not_implemented: int = 0
    other_skipped: int = 0
    exit_code: int = 0
    output: str = ""  # pytest's own terminal output, for debugging a self-check itself

    @property
    def total(self) -> int:
        return self.passed + len(self.failed) + self.not_implemented + self.other_skipped

    @property
    def message(self) -> str:
        q = self.qualname
        if self.total == 0:
            tail = self.output.strip().splitlines()[-1:] or ["no output"]
            return f"{q}: no checks ran ({tail[0]})"
        if self.failed:
            name, first = self.failed[0]
            return f"{q}: {len(self.failed)} of {self.total} checks failed: {name}: {first}"
        if self.not_implemented:
            return f"{q}: {NOT_IMPLEMENTED}"
        skipped = f" ({self.other_skipped} skipped)" if self.other_skipped else ""
        return f"{q}: {self.passed} checks passed{skipped}"


def _first_lines(text: str, limit: int = 3) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[:limit]) if lines else "(no message)"


class _SelectAndRecord:
    """pytest plugin object: keeps only `qualname`'s checks, supplies impl, records outcomes."""

    def __init__(self, qualname: str, implementation: Implementation):
        self.summary = CheckSummary(qualname)
        self.implementation = implementation

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[IMPL_KEY] = self.implementation  # the impl fixture returns it as is

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        keep, drop = [], []
        for item in items:
            marker = item.get_closest_marker("function")
            (keep if marker and marker.args[0] == self.summary.qualname else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        report = yield
        failed_setup = report.when == "setup" and not report.passed
        if report.when == "call" or failed_setup:
            self._record(item.name, call, report)
        return report

    def _record(self, name: str, call: pytest.CallInfo, report: pytest.TestReport) -> None:
        summary = self.summary
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            if NOT_IMPLEMENTED in reason:
                summary.not_implemented += 1
            else:
                summary.other_skipped += 1
        elif report.failed:
            error = call.excinfo.value if call.excinfo else None
            if isinstance(error, AssertionError) and str(error):
                message = _first_lines(str(error))
            elif error is not None:
                message = f"{type(error).__name__}: {_first_lines(str(error))}"
            else:
                message = "failed"
            summary.failed.append((name, message))
        else:
            summary.passed += 1


def run_checks(qualname: str, namespace: Mapping[str, Any]) -> CheckSummary:
    """Run `qualname`'s public checks against the functions in `namespace`; print nothing."""
    module, _, function = qualname.partition(".")
    modules = exercise_modules()
    if module not in modules or not function:
        raise ValueError(f"qualname must be '<module>.<function>' with module in {modules}, got {qualname!r}")
    recorder = _SelectAndRecord(qualname, namespace_implementation(namespace))
    args = [
        str(CHECKS_DIR / f"test_{module}.py"), "--rootdir", str(ROOT), "-q", "--no-header",
        # Load the plugin by module name, never twice: the installed entry point 'autograder'
        # is blocked, so a student bundle next to an installed project uses its own copy.
        *_NO_AUTOLOAD, "-p", "no:autograder", "-p", PLUGIN,
        # A notebook kernel's stdout is not a terminal file: capture at sys level only.
        "-p", "no:cacheprovider", "-p", "no:faulthandler", "--capture=sys", "--tb=no",
        # pytest 9 runs gc.collect() five times at exit for these (seconds with torch loaded).
        "-p", "no:unraisableexception", "-p", "no:threadexception",
    ]
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        code = pytest.main(args, plugins=[recorder])
    recorder.summary.exit_code = int(code)
    recorder.summary.output = buffer.getvalue()
    return recorder.summary


def check(qualname: str, namespace: Mapping[str, Any]) -> None:
    """Print one line on how `qualname` in `namespace` does on its public checks."""
    print(run_checks(qualname, namespace).message)

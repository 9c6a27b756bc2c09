"""Implementations under test, reached through one adapter (the `impl` fixture).

An implementation is the set of exercise modules with the contract's function names (the
modules and functions the stubs define: ``autograder.contract``). Tests call
``impl.attention.scaled_dot_product_attention(q, k, v)`` and never import student code.

Specs accepted by ``--impl``:

- ``exercises``            the learner's own modules, in-process (default);
- ``reference``            the instructor solutions;
- ``mistake:<id>``         the reference with one function replaced by a known-wrong variant;
- ``path:<dir>``           modules loaded in-process from a folder (trusted code only).
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from autograder.contract import exercise_modules

NOT_IMPLEMENTED = "not implemented yet"


class ImplementationError(ValueError):
    """The ``--impl`` spec cannot be resolved."""


def _skip_if_stub(qualname: str, fn: Callable) -> Callable:
    """Wrap `fn` so that a stub's NotImplementedError becomes a 'not implemented yet' skip."""

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except NotImplementedError as exc:
            if NOT_IMPLEMENTED in str(exc):
                pytest.skip(f"{qualname}: {NOT_IMPLEMENTED}")
            raise

    call.__name__ = getattr(fn, "__name__", qualname)
    call.__doc__ = getattr(fn, "__doc__", None)
    call.__wrapped__ = fn
    return call


class ModuleView:
    """One module of an implementation; attribute access returns wrapped functions."""

    def __init__(self, name: str, source: Any, overrides: dict[str, Callable] | None = None):
        self._name = name
        self._source = source  # a module, or a zero-argument callable importing it on first use
        self._overrides = overrides or {}

    def _module(self) -> Any:
        if isinstance(self._source, ModuleType) or not callable(self._source):
            return self._source
        self._source = self._source()  # import errors surface in the test that needs the module
        return self._source

    def __getattr__(self, function: str) -> Callable:
        if function.startswith("_"):
            raise AttributeError(function)
        fn = self._overrides.get(function)
        if fn is None:
            fn = getattr(self._module(), function, None)
        if fn is None or not callable(fn):
            qualname = f"{self._name}.{function}"
            raise AttributeError(f"{qualname} is not defined by the implementation under test")
        return _skip_if_stub(f"{self._name}.{function}", fn)

    def __repr__(self) -> str:
        return f"<ModuleView {self._name} of {self._source!r}>"


class Implementation:
    """The exercise modules under one name: ``impl.masks.causal_mask(4)``."""

    def __init__(self, spec: str, modules: dict[str, ModuleView]):
        self.spec = spec
        self._modules = modules

    def __getattr__(self, module: str) -> ModuleView:
        if module.startswith("_"):
            raise AttributeError(module)
        try:
            return self._modules[module]
        except KeyError:
            raise AttributeError(f"no module {module!r}; expected one of {tuple(self._modules)}") from None

    def __repr__(self) -> str:
        return f"<Implementation {self.spec}>"


def _package_modules(package: str) -> dict[str, Callable[[], ModuleType]]:
    """Importers, not modules: one broken module must not stop the checks of the others."""
    return {name: (lambda name=name: importlib.import_module(f"{package}.{name}")) for name in exercise_modules()}


def _folder_modules(folder: Path) -> dict[str, ModuleType]:
    """Load `<folder>/<module>.py` under private names (never shadows `exercises`)."""
    modules = {}
    names = exercise_modules()
    for name in names:
        path = folder / f"{name}.py"
        if not path.is_file():
            continue
        spec = importlib.util.spec_from_file_location(f"_impl_{abs(hash(folder))}_{name}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        modules[name] = module
    if not modules:
        raise ImplementationError(f"--impl path:{folder}: no {', '.join(names)} .py files there")
    return modules


def load_implementation(spec: str) -> Implementation:
    """Resolve an ``--impl`` spec (see the module docstring)."""
    if spec in ("exercises", "reference"):
        sources = _package_modules(spec)
        return Implementation(spec, {n: ModuleView(n, m) for n, m in sources.items()})
    if spec.startswith("mistake:"):
        from reference.mistakes import MISTAKES

        mistake_id = spec.split(":", 1)[1]
        if mistake_id not in MISTAKES:
            known = ", ".join(sorted(MISTAKES))
            raise ImplementationError(f"--impl {spec}: unknown mistake id; known ids: {known}")
        wrong = MISTAKES[mistake_id]
        sources = _package_modules("reference")
        views = {
            n: ModuleView(n, m, {wrong.function: wrong.fn} if n == wrong.module else None)
            for n, m in sources.items()
        }
        return Implementation(spec, views)
    if spec.startswith("path:"):
        folder = Path(spec.split(":", 1)[1]).expanduser().resolve()
        if not folder.is_dir():
            raise ImplementationError(f"--impl {spec}: {folder} is not a folder")
        sources = _folder_modules(folder)
        return Implementation(spec, {n: ModuleView(n, m) for n, m in sources.items()})
    raise ImplementationError(
        f"--impl {spec!r}: expected 'exercises', 'reference', 'mistake:<id>' or 'path:<dir>'"
    )

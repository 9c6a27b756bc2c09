"""Trusted-side static check: a submission's source may not reach a forbidden API by any route.

grading.yaml's ``forbidden`` lists APIs a module's functions must not use. The worker refuses
them at run time (named guards and an ATen-operator fence, :mod:`autograder.sandbox.forbidden`),
but the worker runs the student's code and so can be subverted from inside. This check reads the
source on the trusted side instead, before anything runs, and flags in a module with forbidden
APIs (and in the submission modules it imports):

- the forbidden names themselves, however they are imported or aliased
  (``from torch.nn import functional as F; F.gelu``, ``getattr(F, "gelu")``, ``x.gelu``);
- any dynamic route to torch internals or to an original behind a guard: ``torch.ops``,
  ``torch._C`` (any ``torch.<_private>``), ``torch.library``/``torch.overrides``, function
  internals (``__wrapped__``, ``__closure__``, ``__globals__``...), ``importlib``/``ctypes``/
  ``gc``/``inspect``/``pickle``, ``sys.modules`` games, ``getattr`` with a computed name,
  ``eval``/``exec``, and threads (the run-time fence watches the calling thread).

:func:`check_submission` maps each flagged top-level name ``(module, function)`` to a
:class:`Finding`; the worker client refuses those calls with a message naming the API.

Findings flow along references: a function is flagged when it, or a top-level name it uses
(in its module or an imported submission module), has a finding; a top-level statement that
runs code at import time and has a finding flags every function of the module.
"""
from __future__ import annotations

import ast

from autograder.forbidden_source import TRUSTED_MODULES, Finding, Unit, read_units

__all__ = ["Finding", "WHOLE_MODULE", "check_submission"]


WHOLE_MODULE = "*"  # the key of a refusal that covers every function of a module


def check_submission(sources: dict[str, str], forbidden: dict[str, list[str]]
                     ) -> dict[tuple[str, str], Finding]:
    """``{(module, name): first finding}`` for each top-level name that may not run.

    `sources` are the submission's modules (``{name: source}``), `forbidden` grading.yaml's
    ``{module: [dotted APIs]}``. A module that does not parse has no findings (its import fails
    in the worker anyway); one too deeply nested to analyse is refused as a whole, under
    ``(module, WHOLE_MODULE)``. Linear in the size of the sources.
    """
    out: dict[tuple[str, str], Finding] = {}
    trees: dict[str, ast.Module | None] = {}  # each module parsed once, whatever the APIs
    for module, apis in forbidden.items():
        if module not in sources or not apis:
            continue
        analysis = _Analysis(sources, tuple(apis), trees)
        try:
            flagged = analysis.flagged(module)
        except RecursionError:
            out[(module, WHOLE_MODULE)] = Finding(
                "<unchecked source>", f"{module}.py", 0,
                "is nested too deeply to be checked", tuple(apis), False)
            continue
        out.update({(module, name): finding for name, finding in flagged.items()})
    return out


class _Analysis:
    """The unit graph of the submission, checked against one module's forbidden APIs."""

    def __init__(self, sources: dict[str, str], apis: tuple[str, ...],
                 trees: dict[str, ast.Module | None] | None = None):
        self.sources = sources
        self.apis = apis
        self._units: dict[str, list[Unit]] = {}
        self._trees = {} if trees is None else trees  # shared by the analyses of one submission

    def binders(self, module: str) -> dict[str, list[int]]:
        """``{bound name: [indices of the units binding it]}`` of a submission module."""
        names: dict[str, list[int]] = {}
        for index, unit in enumerate(self._parsed(module)):
            for name in unit.binds:
                names.setdefault(name, []).append(index)
        return names

    def _parsed(self, module: str) -> list[Unit]:
        if module not in self._units:
            self._units[module] = []
            source = self.sources.get(module)
            if isinstance(source, str) and module not in TRUSTED_MODULES:
                if module not in self._trees:
                    try:
                        self._trees[module] = ast.parse(source)
                    except (SyntaxError, ValueError, MemoryError):
                        self._trees[module] = None
                tree = self._trees[module]
                if tree is not None:
                    self._units[module] = read_units(module, tree, self.sources, self.apis)
        return self._units[module]

    def flagged(self, module: str) -> dict[str, Finding]:
        """``{top-level name of module: first finding it reaches}`` (absent: it may run).

        Findings spread backwards along the use graph (a unit that uses a flagged unit is
        flagged), once over the whole scope; an import-time statement with a finding anywhere in
        scope flags every name of the module.
        """
        scope = self._scope(module)
        for mod in scope:
            for unit in self._parsed(mod):
                if unit.runs_at_import and unit.findings:
                    effect = _first(unit.findings)
                    return {name: effect for name in self.binders(module)}
        found: dict[tuple[str, int], Finding] = {}
        users: dict[tuple[str, int], list[tuple[str, int]]] = {}
        binders = {mod: self.binders(mod) for mod in scope}
        for mod in scope:
            for index, unit in enumerate(self._parsed(mod)):
                node = (mod, index)
                deps = [(mod, j) for used in unit.uses for j in binders[mod].get(used, ())]
                for other, symbol in unit.imported:
                    if other not in binders:
                        continue
                    if symbol is None:  # the module object itself: all of it
                        deps += [(other, j) for j in range(len(self._parsed(other)))]
                    else:
                        deps += [(other, j) for j in binders[other].get(symbol, ())]
                for dep in deps:
                    users.setdefault(dep, []).append(node)
                if unit.findings:
                    found[node] = _first(unit.findings)
        todo = list(found)
        while todo:
            node = todo.pop()
            for user in users.get(node, ()):
                if user not in found:
                    found[user] = found[node]
                    todo.append(user)
        out = {}
        for name, indices in binders[module].items():
            hits = [found[(module, i)] for i in indices if (module, i) in found]
            if hits:
                out[name] = _first(hits)
        return out

    def _scope(self, module: str) -> list[str]:
        """`module` and every submission module it imports, directly or not."""
        out, todo = [], [module]
        while todo:
            mod = todo.pop()
            if mod in out:
                continue
            out.append(mod)
            todo.extend(m for unit in self._parsed(mod) for m, _ in unit.imported)
        return out


def _first(findings: list[Finding]) -> Finding:
    """The finding to report: the forbidden API itself before a dynamic route, then by line."""
    return min(findings, key=lambda f: (not f.direct, f.line))

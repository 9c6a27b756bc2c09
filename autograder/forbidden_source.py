"""What one module's source does, statement by statement, seen from its forbidden APIs.

:func:`read_units` turns each top-level statement into a :class:`Unit`: the names it binds and
uses, the submission modules it reaches, whether it runs code at import time, and its
:class:`Finding` s (a forbidden name however aliased, or a dynamic route to torch internals;
the lists below say which). :mod:`autograder.forbidden_static` spreads the findings along
the uses. Trusted side: reads source, never runs it.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

from autograder.intake_imports import RUNTIME_MODULE

# Modules whose import alone, in a module with forbidden APIs, is a route around the guards.
DYNAMIC_MODULES = frozenset({
    "importlib", "ctypes", "gc", "inspect", "builtins", "pickle", "marshal", "copyreg", "dill",
    "runpy", "pkgutil", "zipimport", "imp", "code", "codeop", "threading", "_thread",
    "concurrent", "multiprocessing", "subprocess", "autograder",
})
# Attributes that reach a function's internals (the original behind a guard) or a namespace.
INTERNAL_ATTRS = frozenset({
    "__wrapped__", "__closure__", "cell_contents", "__globals__", "__code__", "__defaults__",
    "__kwdefaults__", "__func__", "__self__", "__dict__", "__builtins__", "__subclasses__",
    "__getattribute__", "__loader__", "__spec__", "__reduce__", "__reduce_ex__", "f_globals",
    "f_locals", "f_back", "f_builtins", "gi_frame", "tb_frame", "__import__",
})
# torch.<x> namespaces that reach operators or dispatch below the Python API.
TORCH_INTERNALS = frozenset({"ops", "library", "overrides"})
SYS_ATTRS = frozenset({"modules", "meta_path", "path_hooks", "settrace", "setprofile"})
# Builtins that run or reach code by a computed name (getattr with a constant name is fine).
DYNAMIC_BUILTINS = frozenset({"eval", "exec", "compile", "setattr", "delattr", "vars",
                              "__import__", "getattr", "breakpoint"})
# Modules shipped by the grader itself (the notebook runtime): not the student's code.
TRUSTED_MODULES = frozenset({RUNTIME_MODULE})


@dataclass(frozen=True)
class Finding:
    """Why a function may not run: which API, where in the source, and what was seen there."""

    api: str        # the forbidden API, or the route to torch internals ("torch.ops")
    file: str       # "attention.py"
    line: int
    what: str       # "uses torch.nn.functional.gelu"
    forbidden: tuple[str, ...]  # the module's forbidden APIs (named for dynamic routes)
    direct: bool    # True: the forbidden API itself; False: a dynamic route that could reach it

    def message(self, where: str) -> str:
        """One line for the student, e.g. for the results' output of every case of `where`."""
        if self.direct:
            return (f"{self.api} is not allowed in {where} ({self.file} line {self.line} "
                    f"{self.what})")
        return (f"{self.api} is not allowed in {where}: {self.file} line {self.line} {self.what}, "
                f"a dynamic route that could reach the APIs forbidden here "
                f"({', '.join(self.forbidden)})")


@dataclass
class Unit:
    """One top-level statement: the names it binds and uses, and what it was flagged for."""

    binds: set[str]
    uses: set[str]
    findings: list[Finding]
    runs_at_import: bool  # it calls something while the module is imported
    imported: list[tuple[str, str | None]]  # (submission module, name or None) it uses


def _dotted_import(name: str) -> str:
    """``exercises.masks`` -> ``masks`` (the package spelling of a submission module)."""
    head, _, tail = name.partition(".")
    return tail if head == "exercises" and tail else name


def read_units(module: str, tree: ast.Module, own_modules, apis: tuple[str, ...]) -> list[Unit]:
    """Each top-level statement of `module` as a :class:`Unit`, checked against `apis`.

    `own_modules` are the submission's module names (what ``exercises.x`` and ``import x``
    refer to).
    """
    return _UnitBuilder(module, tree, set(own_modules) - TRUSTED_MODULES, apis).units()


class _UnitBuilder:
    """Reads one module: its import aliases, then each top-level statement as a unit."""

    def __init__(self, module: str, tree: ast.Module, own: set[str], apis: tuple[str, ...]):
        self.module = module
        self.file = f"{module}.py"
        self.tree = tree
        self.apis = apis
        self.leaves = {api.rsplit(".", 1)[-1]: api for api in apis}
        self.own = own
        self._resolved: dict[int, str | None] = {}  # id(node) -> resolve(node), final aliases
        self.aliases = self._aliases()

    # -- names -------------------------------------------------------------------------------

    def _aliases(self) -> dict[str, str]:
        """Every name bound anywhere to a module or a dotted object (flow-insensitive).

        Values are dotted paths (``torch.nn.functional``) or, for the submission's own
        modules, ``"<own>:masks"`` / ``"<own>:masks:causal_mask"``.
        """
        aliases: dict[str, str] = {}
        assigns: list[tuple[str, ast.expr]] = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = _dotted_import(alias.name)
                    if alias.asname:
                        aliases[alias.asname] = ("<own>" if target == "exercises"
                                                 else self._module_path(target))
                    else:
                        root = alias.name.partition(".")[0]
                        aliases[root] = "<own>" if root == "exercises" else self._module_path(root)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                base = _dotted_import(node.module)
                for alias in node.names:
                    if alias.name == "*":
                        continue
                    bound = alias.asname or alias.name
                    if base == "exercises":
                        aliases[bound] = f"<own>:{alias.name}"
                    elif base in self.own:
                        aliases[bound] = f"<own>:{base}:{alias.name}"
                    else:
                        aliases[bound] = f"{base}.{alias.name}"
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        assigns.append((target.id, node.value))
        for _ in range(3):  # X = torch.nn.functional; Y = X.gelu: a few rounds of chains
            for name, value in assigns:
                dotted = self.resolve(value, aliases)
                if dotted is not None and name not in aliases:
                    aliases[name] = dotted
        return aliases

    def _module_path(self, name: str) -> str:
        return f"<own>:{name}" if name in self.own else name

    def resolve(self, node: ast.expr, aliases: dict[str, str] | None = None) -> str | None:
        """The dotted path an expression names (``F.gelu`` -> ``torch.nn.functional.gelu``)."""
        if aliases is None:  # the final alias map: each node is resolved once (long chains)
            key = id(node)
            if key not in self._resolved:
                self._resolved[key] = self._resolve(node, self.aliases)
            return self._resolved[key]
        return self._resolve(node, aliases)

    def _resolve(self, node: ast.expr, aliases: dict[str, str]) -> str | None:
        final = aliases is getattr(self, "aliases", None)

        def sub(child: ast.expr) -> str | None:
            return self.resolve(child) if final else self.resolve(child, aliases)

        if isinstance(node, ast.Name):
            return aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            base = sub(node.value)
            return None if base is None else self._join(base, node.attr)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            constant = _constant_args(node)
            if node.func.id == "getattr" and len(constant) >= 1 and len(node.args) >= 2:
                base = sub(node.args[0])
                return None if base is None else self._join(base, constant[0])
            if node.func.id == "__import__" and constant and len(node.args) >= 1:
                return self._module_path(_dotted_import(constant[0]).partition(".")[0])
        return None

    @staticmethod
    def _join(base: str, attr: str) -> str:
        if base == "<own>":  # the exercises package: exercises.masks is the module masks
            return f"<own>:{attr}"
        if base.startswith("<own>:") and base.count(":") == 1:
            return f"{base}:{attr}"
        return f"{base}.{attr}"

    # -- units -------------------------------------------------------------------------------

    def units(self) -> list[Unit]:
        return [self._unit(stmt) for stmt in self.tree.body]

    def _unit(self, stmt: ast.stmt) -> Unit:
        unit = Unit(binds=_bound_names(stmt), uses=set(), findings=[], runs_at_import=False,
                     imported=[])
        nodes = list(_walk_with_depth(stmt))
        called = {id(node.func) for node, _ in nodes if isinstance(node, ast.Call)}
        for node, deferred in nodes:
            if isinstance(node, ast.Call) and not deferred:
                unit.runs_at_import = True
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                unit.uses.add(node.id)
                target = self.aliases.get(node.id, "")
                if target.startswith("<own>:"):
                    unit.imported.append(_own_ref(target))
            finding = self._finding(node, id(node) in called)
            if finding is not None:
                unit.findings.append(finding)
            if isinstance(node, ast.Attribute):
                dotted = self.resolve(node)
                if dotted and dotted.startswith("<own>:"):
                    unit.imported.append(_own_ref(dotted))
        return unit

    def _flag(self, node: ast.AST, api: str, what: str, direct: bool) -> Finding:
        return Finding(api, self.file, getattr(node, "lineno", 0), what, self.apis,
                       direct)

    def _finding(self, node: ast.AST, is_called: bool) -> Finding | None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            return self._import_finding(node)
        if isinstance(node, ast.Call):
            return self._call_finding(node)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id in DYNAMIC_BUILTINS and node.id not in self.aliases:
                if is_called:
                    return None  # judged with its arguments (_call_finding)
                return self._flag(node, node.id, f"uses {node.id} as a value", False)
            return self._dotted_finding(node, self.resolve(node))
        if isinstance(node, ast.Attribute):
            if node.attr in INTERNAL_ATTRS:
                return self._flag(node, node.attr, f"reads {node.attr}", False)
            dotted = self.resolve(node)
            if dotted is None or not dotted.startswith("<own>"):
                found = self._dotted_finding(node, dotted)
                if found is not None:
                    return found
                if dotted is None and node.attr in self.leaves:
                    api = self.leaves[node.attr]
                    return self._flag(node, api, f"uses .{node.attr}", True)
        return None

    def _dotted_finding(self, node: ast.AST, dotted: str | None) -> Finding | None:
        if not dotted or dotted.startswith("<own>"):
            return None
        parts = dotted.split(".")
        if parts[0] == "torch":
            for api in self.apis:
                leaf = api.rsplit(".", 1)[-1]
                if dotted == api or (parts[-1] == leaf and len(parts) > 1):
                    return self._flag(node, api, f"uses {dotted}", True)
            for part in parts[1:]:
                private = part.startswith("_") and not (part.startswith("__")
                                                        and part.endswith("__"))
                if part in TORCH_INTERNALS or private:  # dunders: INTERNAL_ATTRS decides
                    route = ".".join(parts[:parts.index(part) + 1])
                    return self._flag(node, route, f"reaches torch internals through {route}",
                                      False)
        if parts[0] == "sys" and len(parts) > 1 and (parts[1] in SYS_ATTRS
                                                    or parts[1].startswith("_")):
            return self._flag(node, f"sys.{parts[1]}", f"uses sys.{parts[1]}", False)
        if parts[0] in DYNAMIC_MODULES:
            return self._flag(node, parts[0], f"uses {parts[0]}", False)
        if parts[0] == "operator" and len(parts) > 1 and parts[1] in ("attrgetter",
                                                                      "methodcaller"):
            return self._flag(node, dotted, f"uses {dotted} (a computed attribute)", False)
        return None

    def _import_finding(self, node: ast.Import | ast.ImportFrom) -> Finding | None:
        if isinstance(node, ast.ImportFrom) and node.level:
            return None
        names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                 else [f"{node.module}.{alias.name}" for alias in node.names])
        for name in names:
            root = name.partition(".")[0]
            if root in self.own or root == "exercises":
                continue
            found = self._dotted_finding(node, name)
            if found is not None:
                return found
        return None

    def _call_finding(self, node: ast.Call) -> Finding | None:
        func = node.func
        if not isinstance(func, ast.Name) or func.id not in DYNAMIC_BUILTINS \
                or func.id in self.aliases:
            return None
        constant = _constant_args(node)
        if func.id == "getattr" and len(node.args) >= 2 and constant:
            base = self.resolve(node.args[0])
            attr = constant[0]
            if attr in INTERNAL_ATTRS:
                return self._flag(node, attr, f"reads {attr} through getattr", False)
            if base is None and attr in self.leaves:
                return self._flag(node, self.leaves[attr], f"uses getattr(..., {attr!r})",
                                  True)
            return self._dotted_finding(node, self.resolve(node))
        if func.id == "__import__" and len(node.args) >= 1 and constant:
            return self._dotted_finding(node, _dotted_import(constant[0]))
        if func.id == "vars" and not node.args:
            return None  # the caller's own namespace, like locals()
        what = {"getattr": "getattr with a computed name", "__import__": "__import__ of a "
                "computed name"}.get(func.id, f"{func.id}()")
        return self._flag(node, func.id, f"calls {what}", False)


def _constant_args(node: ast.Call) -> list[str]:
    """The string constants among the call's arguments after the first (getattr's name...)."""
    args = node.args[1:] if isinstance(node.func, ast.Name) and node.func.id == "getattr" \
        else node.args
    out = []
    for arg in args[:1]:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            out.append(arg.value)
    return out


def _own_ref(target: str) -> tuple[str, str | None]:
    """``"<own>:masks:causal_mask.x"`` -> ``("masks", "causal_mask")``."""
    parts = target.split(":")
    return parts[1].partition(".")[0], parts[2].partition(".")[0] if len(parts) > 2 else None


def _bound_names(stmt: ast.stmt) -> set[str]:
    """Names a top-level statement binds in the module namespace."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    names = set()
    for node, deferred in _walk_with_depth(stmt):
        if deferred:
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name != "*":
                    names.add(alias.asname or alias.name.partition(".")[0])
    return names


def _walk_with_depth(stmt: ast.AST):
    """``(node, deferred)`` for every node; deferred: inside a function or lambda body."""
    todo: list[tuple[ast.AST, bool]] = [(stmt, False)]
    while todo:
        node, deferred = todo.pop()
        yield node, deferred
        for field, value in ast.iter_fields(node):
            children = value if isinstance(value, list) else [value]
            inner = deferred or (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                   ast.Lambda, ast.ClassDef)) and field == "body")
            for child in children:
                if isinstance(child, ast.AST):
                    todo.append((child, inner))

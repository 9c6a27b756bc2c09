"""Which top-level statements of a submission the graded functions need (static, nothing runs).

Each statement is summarised by the names it binds, the names it reads when it runs (decorators,
defaults, right-hand sides, class bodies), the names it reads later (inside function bodies and
lambdas, when the function is called) and the data names it mutates (``VOCAB[k] = v``). A name
needed at some point is provided by the last statement before that point that binds it, plus the
mutations of it in between; needs are followed transitively from the graded functions, whatever
form binds them (``def``, ``lambda``, an alias, an import).
"""
from __future__ import annotations

import ast
import symtable
from dataclasses import dataclass

COMPREHENSIONS = {"listcomp", "setcomp", "dictcomp", "genexpr"}  # run where they are written


@dataclass(frozen=True)
class Facts:
    """What one top-level statement binds and reads."""

    binds: frozenset[str]
    uses_now: frozenset[str]
    uses_later: frozenset[str]
    mutates: frozenset[str]
    data: bool  # binds values (an assignment), as opposed to a definition or an import


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _mutations(node: ast.stmt) -> set[str]:
    """Names whose objects the statement changes in place: `d[k] = v`, `d.x += 1`, `d.update()`."""
    out: set[str] = set()
    stack: list[ast.AST] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue  # bodies run later, if ever
        targets: list[ast.AST] = []
        if isinstance(item, ast.Assign):
            targets = item.targets
        elif isinstance(item, (ast.AugAssign, ast.AnnAssign)):
            targets = [item.target]
        elif isinstance(item, ast.Delete):
            targets = item.targets
        elif isinstance(item, ast.Expr) and isinstance(item.value, ast.Call) \
                and isinstance(item.value.func, ast.Attribute):
            targets = [item.value.func]
        for target in targets:
            if isinstance(target, (ast.Attribute, ast.Subscript)) and (name := _root_name(target)):
                out.add(name)
        stack.extend(ast.iter_child_nodes(item))
    return out


def _scope_globals(table: symtable.SymbolTable, now: set[str], later: set[str], deferred: bool) -> None:
    for child in table.get_children():
        runs_later = deferred or (child.get_type() == "function" and child.get_name() not in COMPREHENSIONS)
        names = {s.get_name() for s in child.get_symbols()
                 if s.is_referenced() and (s.is_global() or (child.get_type() == "class" and not s.is_local()))}
        (later if runs_later else now).update(names)
        _scope_globals(child, now, later, runs_later)


def statement_facts(node: ast.stmt, future_annotations: bool) -> Facts:
    """The names `node` binds and reads; a statement symtable refuses reads everything it names."""
    text = ast.unparse(node)
    if future_annotations:
        text = "from __future__ import annotations\n" + text
    binds: set[str] = set()
    now: set[str] = set()
    later: set[str] = set()
    try:
        table = symtable.symtable(text, "<statement>", "exec")
    except (SyntaxError, ValueError):  # `return` or `await` at top level: it fails when run anyway
        for item in ast.walk(node):
            if isinstance(item, ast.Name):
                (binds if isinstance(item.ctx, ast.Store) else now).add(item.id)
    else:
        for symbol in table.get_symbols():
            if symbol.is_assigned() or symbol.is_imported():
                binds.add(symbol.get_name())
            if symbol.is_referenced():
                now.add(symbol.get_name())
        _scope_globals(table, now, later, deferred=False)
    stack: list[ast.AST] = [node]
    while stack:  # `N += 1` reads N (symtable counts it as a store only)
        item = stack.pop()
        if isinstance(item, ast.AugAssign) and isinstance(item.target, ast.Name):
            now.add(item.target.id)
        if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(item))
    binds.discard("annotations")
    data = isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.With))
    return Facts(frozenset(binds), frozenset(now), frozenset(later), frozenset(_mutations(node)), data)


def needs(facts: list[Facts], roots: list[str]) -> dict[int, set[str]]:
    """Index of each statement some root needs -> the roots that need it.

    A root is needed as the program stands at the end (functions are called after every
    statement ran); a statement's immediate reads are resolved at its own position.
    """
    end = len(facts)
    binders: dict[str, list[int]] = {}
    for index, fact in enumerate(facts):
        for name in fact.binds:
            binders.setdefault(name, []).append(index)
    data_names = {name for fact in facts if fact.data for name in fact.binds}
    mutators: dict[str, list[int]] = {}
    for index, fact in enumerate(facts):
        for name in fact.mutates & data_names:
            mutators.setdefault(name, []).append(index)

    needed_by: dict[int, set[str]] = {}
    for root in roots:
        kept: set[int] = set()
        todo: list[tuple[str, int]] = [(root, end)]
        seen: set[tuple[str, int]] = set()
        while todo:
            name, before = todo.pop()
            if (name, before) in seen:
                continue
            seen.add((name, before))
            earlier = [i for i in binders.get(name, ()) if i < before]
            if not earlier:
                continue  # a builtin, or a name nothing defines (fails when used)
            first = earlier[-1]
            found = [first] + [i for i in mutators.get(name, ()) if first < i < before]
            for index in found:
                if index in kept:
                    continue
                kept.add(index)
                todo += [(n, index) for n in facts[index].uses_now]
                todo += [(n, end) for n in facts[index].uses_later]
        for index in kept:
            needed_by.setdefault(index, set()).add(root)
    return needed_by

"""Find the code of each contract function in a submission, with the helpers it reaches.

A submission is module name -> source (from `autograder.intake`). A contract function may be
defined in its module, imported from a helper module of the submission (`from my_attn import
sdpa as scaled_dot_product_attention`), or, in a notebook, defined anywhere in the one source
every module shares. The *unit* of a function is its definition followed by the submission's own
helpers it calls, transitively, in the order they are first reached (so the order of definitions
in the file does not matter). Other contract functions are not followed: each is compared on its
own. Nothing here runs student code; sources are only parsed.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field

from autograder.contract import contract

CONTRACT = contract()  # module -> functions, as the stubs define them
CONTRACT_NAMES = frozenset(name for functions in CONTRACT.values() for name in functions)
# `from exercises.attention import x` in a submission means the submission's own attention module.
COURSE_PACKAGES = ("exercises.", "reference.")
MAX_HELPERS = 30  # a unit never grows past this many definitions (a pathological file)

Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


@dataclass
class ParsedModule:
    """One module's top-level names: its definitions, imports and library aliases."""

    name: str
    source: str
    lines: list[str] = field(default_factory=list)
    definitions: dict[str, Definition] = field(default_factory=dict)
    imports: dict[str, tuple[str, str]] = field(default_factory=dict)  # alias -> (module, name)
    star_imports: list[str] = field(default_factory=list)
    libraries: dict[str, str] = field(default_factory=dict)  # alias -> dotted library name


@dataclass
class Piece:
    """One definition of a unit: where it comes from and its source text."""

    module: str
    node: Definition
    source: str


def _local_module(dotted: str | None, modules: dict[str, str]) -> str | None:
    """The submission module an import names, or None for a library."""
    if not dotted:
        return None
    for prefix in COURSE_PACKAGES:
        dotted = dotted.removeprefix(prefix)
    return dotted if dotted in modules else None


# Deeper than this, code is not analysed: the normaliser recurses about twice per level, so at
# Python's default recursion limit it fails near 500 levels. A fixed bound gives the same outcome
# whatever limit the process runs under; real code stays far below it.
MAX_NESTING = 200


def nesting(tree: ast.AST) -> int:
    """The depth of a syntax tree, walked without recursion."""
    deepest, pending = 0, [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def source_nesting(source: str) -> int:
    """:func:`nesting` of `source` (0 when it does not parse: parse_modules notes that)."""
    try:
        return nesting(ast.parse(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return 0


def parse_modules(modules: dict[str, str]) -> tuple[dict[str, ParsedModule], list[str]]:
    """Parse every module of a submission; a module that does not parse is noted and left out."""
    parsed, notes, trees = {}, [], {}
    for name, source in modules.items():
        try:  # a notebook or a single .py serves every module: parse its source once
            tree = trees[source] if source in trees else trees.setdefault(source, ast.parse(source))
            if nesting(tree) > MAX_NESTING:
                raise RecursionError(f"deeper than {MAX_NESTING} levels")
        except (SyntaxError, ValueError, RecursionError) as exc:  # ValueError: null bytes in the source
            line = getattr(exc, "lineno", None)
            why = "nested too deeply to parse" if isinstance(exc, RecursionError) else exc.__class__.__name__
            notes.append(f"{name}.py" + (f":{line}" if line else "") + f": not compared, {why}")
            continue
        module = ParsedModule(name, source, source.splitlines())
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                module.definitions[node.name] = node  # a later definition wins, as at import time
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    local = _local_module(alias.name, modules)
                    if local is None:
                        module.libraries[alias.asname or alias.name.split(".")[0]] = (
                            alias.name if alias.asname else alias.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                local = _local_module(node.module, modules)
                for alias in node.names:
                    if alias.name == "*":
                        if local:
                            module.star_imports.append(local)
                    elif local:
                        module.imports[alias.asname or alias.name] = (local, alias.name)
                    else:
                        module.libraries[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        parsed[name] = module
    return parsed, notes


def resolve(parsed: dict[str, ParsedModule], module: str, name: str,
            seen: frozenset[tuple[str, str]] = frozenset()) -> tuple[str, Definition] | None:
    """Where `name`, as seen from `module`, is defined in the submission (following imports)."""
    if (module, name) in seen or module not in parsed:
        return None
    seen = seen | {(module, name)}
    here = parsed[module]
    if name in here.definitions:
        return module, here.definitions[name]
    if name in here.imports:
        return resolve(parsed, *here.imports[name], seen)
    for other in reversed(here.star_imports):  # the last star import wins
        found = resolve(parsed, other, name, seen)
        if found:
            return found
    return None


def _loaded_names(node: ast.AST) -> list[str]:
    """Names read inside a definition, in source order, once each."""
    names: dict[str, None] = {}
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Load):
            names.setdefault(child.id, None)
    return list(names)


def function_unit(parsed: dict[str, ParsedModule], module: str, function: str) -> list[Piece] | None:
    """The definition of `module.function` and the helpers it reaches, or None when undefined."""
    found = resolve(parsed, module, function)
    if found is None:
        return None
    pieces: list[Piece] = []
    queue = [found]
    visited: set[int] = set()
    while queue and len(pieces) < MAX_HELPERS:
        where, node = queue.pop(0)
        if id(node) in visited:
            continue
        visited.add(id(node))
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        source = "\n".join(parsed[where].lines[first - 1:node.end_lineno])
        pieces.append(Piece(where, node, source))
        for name in _loaded_names(node):
            if name in CONTRACT_NAMES:
                continue  # compared as a function of its own
            helper = resolve(parsed, where, name)
            if helper is not None and id(helper[1]) not in visited:
                queue.append(helper)
    return pieces


def submission_units(parsed: dict[str, ParsedModule]) -> dict[str, list[Piece]]:
    """Every contract function the submission defines: `attention.split_heads` -> its unit."""
    units = {}
    for module, functions in CONTRACT.items():
        for function in functions:
            unit = function_unit(parsed, module, function)
            if unit is not None:
                units[f"{module}.{function}"] = unit
    return units

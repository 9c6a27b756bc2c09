"""A notebook as one module source: the statements the graded functions need, run one at a time.

Nothing here runs student code. Cells are parsed (magics and shell escapes blanked first); the
top-level statements that the graded functions reach, transitively and whatever their form
(:mod:`autograder.intake_names`), are kept verbatim, cell by cell, after one line that hands
them to :mod:`autograder.intake_runtime` inside the worker. Imports of packages grading does not
provide are not run (:mod:`autograder.intake_imports`). Every skipped cell and statement is
named in the notes.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, replace

import nbformat

from autograder.contract import contract
from autograder.intake_imports import (
    RUNTIME_MODULE,
    bound_names,
    needed_by_label,
    statement_text,
    unavailable_package,
)
from autograder.intake_names import Facts, needs, statement_facts

CONTRACT = contract()
QUALNAMES = {function: f"{module}.{function}" for module, functions in CONTRACT.items()
             for function in functions}
OWN_MODULES = frozenset(CONTRACT)
_DEFINES = re.compile(r"^(?:async\s+)?def\s+(\w+)|^(\w+)\s*(?::[^=]*)?=(?!=)", re.MULTILINE)


class NotebookError(ValueError):
    """The file is not a readable notebook."""


@dataclass
class _Statement:
    cell: int
    label: str  # "cell 3 (id ab12), line 2"
    text: str  # verbatim source of the statement
    node: ast.stmt
    source: str  # the cell's source, for short quotes


def strip_magics(source: str) -> str:
    """IPython magics and shell escapes become blank lines (line numbers stay right)."""
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        return "\n" * len(lines)  # a cell magic: the whole cell is not Python
    magic = re.compile(r"^\s*(?:[%!]|\w+\s*=\s*[%!])")  # `%time`, `!pip`, `files = !ls`
    return "\n".join("" if magic.match(line) else line for line in lines)


def _segment(source: str, lines: list[str], node: ast.stmt) -> str:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For,
                         ast.While, ast.With, ast.Try, ast.AsyncFor, ast.AsyncWith)):
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        return "".join(lines[first - 1:node.end_lineno]).rstrip("\n")  # compound: whole lines
    return ast.get_source_segment(source, node) or ast.unparse(node)


def _cells(text: str, name: str):
    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises several types for malformed JSON/schema
        raise NotebookError(f"{name}: not a readable notebook ({type(exc).__name__}: {exc})") from None
    for number, cell in enumerate(notebook.cells, start=1):  # as counted on screen, markdown too
        if cell.cell_type != "code":
            continue
        label = f"cell {number}" + (f" (id {cell.get('id')})" if cell.get("id") else "")
        yield number, label, strip_magics(cell.source)


def _never_ends(node: ast.stmt) -> bool:
    """`while True:` without a `break`: the compiler drops everything after it."""
    return (isinstance(node, ast.While) and isinstance(node.test, ast.Constant) and bool(node.test.value)
            and not any(isinstance(n, ast.Break) for n in ast.walk(node)))


def _own_import_reads(node: ast.stmt, fact: Facts) -> Facts:
    """`from exercises.attention import f` in a notebook reads `f` from the notebook itself.

    Every module of the submission is this notebook, so the import is an alias of a name the
    notebook defines, and that definition is needed (at this point: the module may be importing
    itself).
    """
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        parts = node.module.split(".")
        if parts[-1] in OWN_MODULES and parts[0] in OWN_MODULES | {"exercises"}:
            names = {alias.name for alias in node.names if alias.name != "*"}
            return replace(fact, uses_now=fact.uses_now | names)
    return fact


def notebook_module(text: str, name: str) -> tuple[str, list[str]]:
    """The module source the worker imports for a notebook, and notes on what was left out."""
    statements: list[_Statement] = []
    notes: list[str] = []
    future: set[str] = set()
    broken: dict[str, tuple[int, str]] = {}  # graded name -> (cell, why) for cells that don't compile
    for number, label, source in _cells(text, name):
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError) as exc:
            line = getattr(exc, "lineno", None)
            why = f"{name} {label} does not compile (line {line}: {getattr(exc, 'msg', exc)})"
            notes.append(f"{name} {label}: skipped, SyntaxError at line {line}: {getattr(exc, 'msg', exc)}")
            for match in _DEFINES.finditer(source):
                defined = match.group(1) or match.group(2)
                if defined in QUALNAMES:
                    broken[defined] = (number, why)
            continue
        lines = source.splitlines(keepends=True)
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                future.update(alias.name for alias in node.names)
                continue
            statements.append(_Statement(number, f"{label}, line {node.lineno}",
                                         _segment(source, lines, node), node, source))

    facts = [_own_import_reads(s.node, statement_facts(s.node, "annotations" in future)) for s in statements]
    needed = needs(facts, list(QUALNAMES))
    last_good = {n: s.cell for s, f in zip(statements, facts, strict=True) for n in f.binds if n in QUALNAMES}
    broken_now = {n: why for n, (cell, why) in broken.items() if cell > last_good.get(n, 0)}

    header = [f"# Graded from {name}: the statements the graded functions need, each run on its own",
              "# by the next line (autograder/intake_runtime.py); everything else was left out."]
    if future:
        header.append(f"from __future__ import {', '.join(sorted(future))}")
    body: list[str] = []
    plan: dict[int, list] = {}
    graded: dict[str, list[str]] = {n: [] for n in QUALNAMES}
    dropped: dict[int, int] = {}
    current_cell = None
    # Between the header and the body: the runtime line, then a plain line for the jump to
    # start from (a jump may not start at a loop's first line)
    first_line = len(header) + 3
    for index, (statement, fact) in enumerate(zip(statements, facts, strict=True)):
        users = needed.get(index)
        node = statement.node
        package = unavailable_package(node, OWN_MODULES)
        quote = f"`{statement_text(statement.source, node)}`"
        if users and _never_ends(node):  # code after it would be unreachable: never kept
            notes.append(f"{name} {statement.label}: {quote} not run: it never ends")
            continue
        if not users:
            if not package:
                dropped[statement.cell] = dropped.get(statement.cell, 0) + 1
            else:
                notes.append(f"{name} {statement.label}: {quote} skipped: {package} is not available "
                             "where grading runs (no graded function needs it)")
            continue
        if package:
            who = needed_by_label({QUALNAMES[u] for u in users})
            notes.append(f"{name} {statement.label}: {quote} not run: {package} is not available "
                         f"where grading runs (needed by {who}: calls that use it fail with that message)")
        if statement.cell != current_cell:
            body.append(f"# --- {statement.label.rpartition(', line')[0]} ---")
            current_cell = statement.cell
        start = first_line + len(body)
        body.append(statement.text)
        plan[start] = [f"{name} {statement.label} ({quote})",
                       sorted(bound_names(node) if package else fact.binds), package]
        for user in users:
            graded[user].append(plan[start][0])
        body[-1:] = body[-1].split("\n")  # one entry per line keeps `start` right
    if dropped:
        cells = ", ".join(f"{cell} ({count})" for cell, count in sorted(dropped.items()))
        notes.append(f"{name}: not run, no graded function needs them: top-level statements of "
                     f"cells {cells} (demo, plot and training code)")
    graded = {n: labels for n, labels in graded.items() if labels or n in broken_now}
    end = first_line + len(body)
    runtime = (f"__import__({RUNTIME_MODULE!r}).run(globals(), {plan!r}, {graded!r}, "
               f"{broken_now!r}, {end})")
    lines = [*header, runtime, f"__import__({RUNTIME_MODULE!r})  # continues at the end", *body,
             f"__import__({RUNTIME_MODULE!r})  # the end"]
    source = "\n".join(lines) + "\n"
    return source, notes

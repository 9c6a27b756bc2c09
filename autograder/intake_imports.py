"""Which packages a submission may import, and `.py` sources with the other imports replaced.

The handout (README, "Grading one submission") allows the standard library, torch and numpy,
plus the submission's own modules. Nothing else is imported where grading runs: a top-level
import of another package becomes a stand-in (``autograder.intake_runtime.Unavailable``) that
raises "<package> is not available where grading runs" when a function uses it, so only the
functions that need the package lose points, and the notes say which ones do.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

from autograder.intake_names import needs, statement_facts

ALLOWED_PACKAGES = frozenset({"torch", "numpy", "exercises"})  # + stdlib + own modules
RUNTIME_MODULE = "grader_intake_runtime"  # the name autograder/intake_runtime.py is shipped under
RUNTIME_SOURCE = (Path(__file__).resolve().parent / "intake_runtime.py").read_text(encoding="utf-8")


def unavailable_package(node: ast.stmt, own_modules) -> str | None:
    """The package an import statement names that grading does not provide, or None."""
    if isinstance(node, ast.Import):
        dotted = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        dotted = [node.module]
    else:
        return None
    for name in dotted:
        root = name.partition(".")[0]
        if root not in ALLOWED_PACKAGES and root not in sys.stdlib_module_names and root not in own_modules:
            return root
    return None


def bound_names(node: ast.Import | ast.ImportFrom) -> list[str]:
    names = []
    for alias in node.names:
        if alias.name != "*":
            names.append(alias.asname or alias.name.partition(".")[0] if isinstance(node, ast.Import)
                         else alias.asname or alias.name)
    return names


def statement_text(source: str, node: ast.stmt, limit: int = 60) -> str:
    text = " ".join((ast.get_source_segment(source, node) or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def needed_by_label(roots: set[str]) -> str:
    return ", ".join(sorted(roots)) if roots else ""


def rewrite_py_imports(source: str, filename: str, roots: dict[str, str], own_modules
                       ) -> tuple[str, list[str]]:
    """`source` with top-level imports of unavailable packages replaced, line for line.

    `roots` maps the names graded in this module to how notes call them (``masks.causal_mask``).
    Returns the new source (unchanged when nothing is replaced or it does not parse) and notes.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return source, []  # reported when it is imported
    future = any(isinstance(n, ast.ImportFrom) and n.module == "__future__"
                 and any(a.name == "annotations" for a in n.names) for n in tree.body)
    lines = source.splitlines(keepends=True)
    shared = {}
    for node in tree.body:
        for line in range(node.lineno, node.end_lineno + 1):
            shared[line] = shared.get(line, 0) + 1
    replaced: list[tuple[ast.stmt, str]] = []
    for node in tree.body:
        package = unavailable_package(node, own_modules)
        if package and all(shared[n] == 1 for n in range(node.lineno, node.end_lineno + 1)):
            replaced.append((node, package))
    if not replaced:
        return source, []
    needed = needs([statement_facts(n, future) for n in tree.body], list(roots))
    index = {id(n): i for i, n in enumerate(tree.body)}
    notes = []
    for node, package in reversed(replaced):
        where = f"{filename} line {node.lineno}"
        stand_ins = "; ".join(f"{name} = __import__({RUNTIME_MODULE!r}).unavailable({package!r}, {where!r})"
                              for name in bound_names(node)) or "pass"
        span = node.end_lineno - node.lineno + 1
        lines[node.lineno - 1:node.end_lineno] = [stand_ins + "\n" * span]
        users = {roots[r] for r in needed.get(index[id(node)], ())}
        what = (f"needed by {needed_by_label(users)}: calls that use it fail with that message" if users
                else "no graded function needs it")
        notes.append(f"{where}: `{statement_text(source, node)}` not run: {package} is not available "
                     f"where grading runs ({what})")
    return "".join(lines), list(reversed(notes))

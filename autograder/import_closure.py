"""Which autograder modules a shipped file needs: the closure of its module-level imports.

The student bundle (release.py) and the otter export (otter_export.py) ship the public checks
with the autograder modules they import, under another package name; both compute that list
here, so a new import in a shipped module travels without a hand-kept list.
"""
from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


class ClosureError(RuntimeError):
    """A shipped module imports something that cannot be shipped as one file."""


def module_level_imports(source: str, own: str = "autograder") -> set[str]:
    """Dotted names (below `own`) of modules imported at module level, absolute or relative.

    ``from autograder.sandbox.wire import x`` gives ``sandbox.wire``; ``from autograder import
    checking`` gives ``checking``; ``from .inputs import randn`` gives ``inputs``.
    """
    found = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                found.add(node.module)
            elif node.level == 0 and node.module and node.module.split(".")[0] == own:
                below = node.module.split(".", 1)[1:]
                if below:
                    found.add(below[0])
                else:  # from autograder import x
                    found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                head, _, below = alias.name.partition(".")
                if head == own and below:
                    found.add(below)
    return found


def import_closure(seeds: Iterable[str], package_dir: Path = PACKAGE_DIR,
                   sources: Iterable[str] = ()) -> list[str]:
    """Sorted module names (``checking``, ``tinylm``...) reached from `seeds` and from the
    imports of the `sources` texts. Only flat modules of the package can be shipped."""
    pending = list(seeds)
    for source in sources:
        pending += sorted(module_level_imports(source))
    needed: set[str] = set()
    while pending:
        name = pending.pop()
        if name in needed:
            continue
        path = package_dir / f"{name.replace('.', '/')}.py"
        if "." in name or not path.is_file():
            raise ClosureError(f"the shipped checks need autograder/{name.replace('.', '/')}.py, which "
                               "is not a single module of the package (ship only flat modules)")
        needed.add(name)
        pending += sorted(module_level_imports(path.read_text(encoding="utf-8")))
    return sorted(needed)

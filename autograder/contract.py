"""The exercise contract as the stubs state it: which modules exist and their public functions.

The modules are the names in ``exercises/__init__.py``'s ``__all__`` (in that order, which is
the order of reports and results); the functions of a module are the public top-level
functions of ``exercises/<module>.py``, in file order. Nothing else lists them.

Standard library only, and the stubs are read with ``ast``, never imported: the student bundle
ships this module (``autograder release``), and the grader must not run exercise code to learn
names.
"""
from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

EXERCISES_DIR = Path(__file__).resolve().parent.parent / "exercises"


class ContractError(ValueError):
    """The stubs do not state a usable contract; the message names file and line."""


def _parse(path: Path) -> ast.Module:
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except OSError as exc:
        raise ContractError(f"{path}: cannot read: {exc.strerror}") from None
    except SyntaxError as exc:
        raise ContractError(f"{path}:{exc.lineno}: not valid Python: {exc.msg}") from None


@cache
def exercise_modules(exercises_dir: Path = EXERCISES_DIR) -> tuple[str, ...]:
    """The module names of ``__all__`` in ``exercises/__init__.py``, each with its stub file."""
    init = exercises_dir / "__init__.py"
    for node in _parse(init).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            try:
                names = ast.literal_eval(node.value)
            except ValueError:
                names = None
            if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
                raise ContractError(f"{init}:{node.lineno}: __all__ must be a literal list of module names")
            for name in names:
                if not (exercises_dir / f"{name}.py").is_file():
                    raise ContractError(f"{init}:{node.lineno}: __all__ names {name!r}, but {name}.py is missing")
            return tuple(names)
    raise ContractError(f"{init}: no __all__ listing the exercise modules")


@cache
def public_functions(module: str, exercises_dir: Path = EXERCISES_DIR) -> tuple[str, ...]:
    """The public top-level functions of ``exercises/<module>.py``, in file order."""
    tree = _parse(exercises_dir / f"{module}.py")
    return tuple(n.name for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_"))


def contract(exercises_dir: Path = EXERCISES_DIR) -> dict[str, tuple[str, ...]]:
    """module -> its functions, for every exercise module."""
    return {m: public_functions(m, exercises_dir) for m in exercise_modules(exercises_dir)}


def qualnames(exercises_dir: Path = EXERCISES_DIR) -> list[str]:
    """Every ``<module>.<function>`` of the contract, in contract order."""
    return [f"{m}.{f}" for m, fs in contract(exercises_dir).items() for f in fs]

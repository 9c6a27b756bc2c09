"""Build student-like submissions from the reference and its known mistakes.

Used by the project's tests, the benchmarks and `examples/`: a "correct student" is the
reference written as the six plain modules a student hands in; a "student with mistake X" is
the same with one function replaced by the mistake variant. The other functions keep their
correct behaviour, even those that call the replaced one (the reference module is shipped
beside it under another name, and its functions resolve names in their own module).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

from autograder.contract import exercise_modules
from reference.mistakes import MISTAKES

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "reference"


def student_source(module: str) -> str:
    """The reference module as a student would write it (imports `exercises.*`)."""
    source = (REFERENCE_DIR / f"{module}.py").read_text(encoding="utf-8")
    return re.sub(r"\breference\.(?=\w)", "exercises.", source)


def notebook_source(module: str) -> str:
    """The module as one notebook cell: its private helpers renamed `_<module>_<name>`.

    A notebook is one namespace, and modules may define private helpers of the same name with
    different signatures (attention's and transformer's `_check_float_tensor`).
    """
    source = student_source(module)
    tree = ast.parse(source)
    private = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))
               and node.name.startswith("_")}
    private |= {target.id for node in tree.body if isinstance(node, ast.Assign)
                for target in node.targets if isinstance(target, ast.Name) and target.id.startswith("_")}
    for name in sorted(private, key=len, reverse=True):
        source = re.sub(rf"(?<![\w.]){re.escape(name)}\b", f"_{module}{name}", source)
    return source


def _mistake_body(module: str) -> str:
    """The mistakes module rewritten to run beside a copy of the reference module."""
    source = (REFERENCE_DIR / "mistakes" / f"{module}.py").read_text(encoding="utf-8")
    lines = []
    for line in source.splitlines():
        if line.startswith("from __future__"):
            continue
        if line.startswith("from reference.mistakes import mistake"):
            lines.append("def mistake(*_args, **_kwargs):\n    return lambda fn: fn")
            continue
        line = re.sub(rf"^from reference import {module} as (\w+)$", rf"import refcopy_{module} as \1", line)
        line = re.sub(rf"^from reference\.{module} import", f"from refcopy_{module} import", line)
        lines.append(line)
    return "\n".join(lines)


def write_reference_submission(folder: Path) -> Path:
    """The six reference modules as a submission folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for module in exercise_modules():
        (folder / f"{module}.py").write_text(student_source(module), encoding="utf-8")
    return folder


def write_mistake_submission(folder: Path, mistake_id: str) -> Path:
    """The reference with exactly one function replaced by the variant `mistake_id`.

    `<module>.py` re-exports the correct functions from `refcopy_<module>.py` and the variant
    from `refmistake_<module>.py`, where the variant's own calls still reach the correct
    functions (a variant may call the function it replaces, e.g. with other arguments).
    """
    wrong = MISTAKES[mistake_id]
    write_reference_submission(folder)
    module = wrong.module
    (folder / f"refcopy_{module}.py").write_text(student_source(module), encoding="utf-8")
    (folder / f"refmistake_{module}.py").write_text(
        "from __future__ import annotations\n\n" + _mistake_body(module) + "\n", encoding="utf-8")
    (folder / f"{module}.py").write_text(
        "from __future__ import annotations\n\n"
        f"from refcopy_{module} import *  # every correct function\n"
        f"from refmistake_{module} import {wrong.fn.__name__} as {wrong.function}  # the one mistake\n",
        encoding="utf-8",
    )
    return folder

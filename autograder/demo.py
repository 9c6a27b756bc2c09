"""Build student-like submissions from the reference and its known mistakes.

Used by the project's tests, the benchmarks and `examples/`: a "correct student" is the
reference written as the six plain modules a student hands in; a "student with mistake X" is
the same with one function replaced by the mistake variant. The other functions keep their
correct behaviour, even those that call the replaced one (the reference module is shipped
beside it under another name, and its functions resolve names in their own module).
"""
from __future__ import annotations

import re
from pathlib import Path

from reference.mistakes import MISTAKES

MODULES = ("attention", "masks", "positional", "bpe", "decoding", "transformer")
REFERENCE_DIR = Path(__file__).resolve().parent.parent / "reference"


def student_source(module: str) -> str:
    """The reference module as a student would write it (imports `exercises.*`)."""
    source = (REFERENCE_DIR / f"{module}.py").read_text(encoding="utf-8")
    return re.sub(r"\breference\.(?=\w)", "exercises.", source)


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
    for module in MODULES:
        (folder / f"{module}.py").write_text(student_source(module), encoding="utf-8")
    return folder


def write_mistake_submission(folder: Path, mistake_id: str) -> Path:
    """The reference with exactly one function replaced by the variant `mistake_id`."""
    wrong = MISTAKES[mistake_id]
    write_reference_submission(folder)
    module = wrong.module
    (folder / f"refcopy_{module}.py").write_text(student_source(module), encoding="utf-8")
    # Collapsed multi-line imports such as `from reference.decoding import (\n a,\n b)` stay valid.
    body = _mistake_body(module)
    (folder / f"{module}.py").write_text(
        "from __future__ import annotations\n\n"
        f"from refcopy_{module} import *  # every correct function\n"
        f"{body}\n\n"
        f"{wrong.function} = {wrong.fn.__name__}  # the one function with the mistake\n",
        encoding="utf-8",
    )
    return folder

"""`autograder export-otter OUT`: the labs as otter-grader assignments.

For courses that standardise on otter-grader (https://otter-grader.readthedocs.io). Each lab
becomes one folder::

    OUT/<lab>/student/<lab>.ipynb     the notebook students fill in (stubs + handout docstrings)
    OUT/<lab>/student/tests/*.py      otter exception-based tests, for grader.check("<function>")
    OUT/<lab>/student/nlpt_checks/    the public checks and the small runner the tests call
    OUT/<lab>/autograder/             otter_config.json, tests/, nlpt_checks/, requirements.txt:
                                      the inputs of `otter generate` (Gradescope)
    OUT/<lab>/autograder.zip          otter's autograder zip, for `otter run -a autograder.zip nb`
    OUT/<lab>/solutions/<lab>.ipynb   the reference pasted in (only with --solutions)

Each test file gives one function its grading.yaml points when every public check of that
function passes on the notebook's definitions. The public checks are the student's own
self-checks (no reference, no hidden suite), and otter runs them inside the student's kernel:
see the README for what that means for trust.
"""
from __future__ import annotations

import ast
import json
import re
import zipfile
from pathlib import Path

import nbformat

from autograder import __version__, templating
from autograder.contract import public_functions
from autograder.course import OtterAssignment, load_course
from autograder.import_closure import import_closure

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# What the runner imports first; with what the lab's checks import, the closure is shipped as
# nlpt_checks/<name>.py with imports rewritten (import_closure.py).
RUNNER_IMPORTS = ("impl",)
FIXED_DATE = (2024, 1, 1, 0, 0, 0)
SUPPORT_PACKAGE = "nlpt_checks"


class ExportError(ValueError):
    """The export cannot be written (unknown lab, missing course file)."""


def _render(template: str, **values: object) -> str:
    return templating.CODE.get_template(template).render(grader_version=__version__, **values)


def lab_keys() -> list[str]:
    """The assignments of exercises/labs.yaml (``otter:``), in file order."""
    return [lab.key for lab in load_course().otter]


def lab_by_key(key: str) -> OtterAssignment:
    lab = load_course().otter_assignment(key)
    if lab is None:
        raise ExportError(f"unknown lab {key!r}; known labs: {', '.join(lab_keys())}")
    return lab


# --- notebooks ---------------------------------------------------------------------------------


def _source_cells(source: str, module: str, *, private_prefix: bool) -> tuple[str, list[str]]:
    """(module docstring, code cells): the imports, then one cell per top-level definition.

    `from __future__` and cross-module imports are dropped: in a notebook every module's
    functions share one namespace. With `private_prefix`, private names (``_helper``) become
    ``_<module>_helper`` so two modules' helpers cannot overwrite each other there.
    """
    tree = ast.parse(source)
    lines = source.splitlines()
    docstring = ast.get_docstring(tree) or ""
    body = tree.body[1:] if docstring else tree.body
    if private_prefix:
        private = {n.name for n in body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name.startswith("_")}
        private |= {t.id for n in body if isinstance(n, ast.Assign) for t in n.targets
                    if isinstance(t, ast.Name) and t.id.startswith("_")}
    cells: list[str] = []
    imports: list[str] = []
    for node in body:
        start = (node.decorator_list[0].lineno if getattr(node, "decorator_list", None) else node.lineno) - 1
        text = "\n".join(lines[start:node.end_lineno])
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("reference", "exercises"):
            # `from reference.attention import X as Y` -> `Y = X`; a plain import needs nothing.
            cells.extend(f"{a.asname} = {a.name}" for a in node.names if a.asname and a.asname != a.name)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(text)
            continue
        cells.append(text)
    if private_prefix:
        pattern = re.compile(r"\b(" + "|".join(map(re.escape, sorted(private))) + r")\b") if private else None
        if pattern:
            cells = [pattern.sub(lambda m: f"_{module}{m.group(1)}", cell) for cell in cells]
    return docstring, (["\n".join(imports)] if imports else []) + cells


def lab_notebook(lab: OtterAssignment, source_dir: Path | None = None, *,
                 solution: bool = False) -> nbformat.NotebookNode:
    """The lab's notebook: the stubs of `exercises/` (or, for a solution, `reference/`)."""
    source_dir = source_dir or PROJECT_ROOT / ("reference" if solution else "exercises")
    cells = [nbformat.v4.new_markdown_cell(
        f"# {lab.title}\n\nImplement every function below where it says `raise NotImplementedError`. "
        "Check a function with `grader.check(\"<function name>\")`, e.g. "
        f"`grader.check(\"{public_functions(lab.modules[0])[0]}\")`: it runs the course's public checks "
        "on your definitions. Keep demos and experiments in cells of their own."),
        nbformat.v4.new_code_cell("import otter\n\ngrader = otter.Notebook(tests_dir=\"tests\")"),
    ]
    for module in (*lab.builds_on, *lab.modules):
        path = source_dir / f"{module}.py"
        if not path.is_file():
            raise ExportError(f"{path}: missing (the {lab.key} notebook needs it)")
        docstring, code = _source_cells(path.read_text(encoding="utf-8"), module, private_prefix=solution)
        if module in lab.builds_on:
            heading = (f"## From an earlier lab: `{module}`\n\nNot graded here, but this lab calls it. "
                       "Paste your finished functions from that lab into the cells below.")
        else:
            heading = f"## `{module}`\n\n{docstring}"
        cells.append(nbformat.v4.new_markdown_cell(heading))
        cells.extend(nbformat.v4.new_code_cell(c) for c in code)
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    notebook.metadata["otter"] = {"assignment_name": lab.key}
    return notebook


# --- tests and the support package -----------------------------------------------------------


def lab_points(lab: OtterAssignment, config_path: Path | None = None) -> dict[str, float]:
    """qualname -> points, from grading.yaml, for the lab's graded modules."""
    from autograder.config import load_config

    config = load_config(config_path)
    points = {}
    for module in lab.modules:
        if module not in config.modules:
            raise ExportError(f"grading.yaml has no module {module!r} (lab {lab.key})")
        points.update({f"{module}.{f}": p for f, p in config.modules[module].functions.items()})
    return points


def otter_test_files(lab: OtterAssignment, config_path: Path | None = None) -> dict[str, str]:
    """File name -> otter exception-based test, one per graded function."""
    files = {}
    for qualname, points in lab_points(lab, config_path).items():
        name = qualname.split(".", 1)[1]
        files[f"{name}.py"] = _render("otter_test.py.j2", qualname=qualname, name=name, points=f"{points:g}")
    return files


def support_files(lab: OtterAssignment) -> dict[str, str]:
    """`nlpt_checks/...` -> text: the public checks of the lab and what they import."""
    checks = {module: (PROJECT_ROOT / "exercises" / "checks" / f"test_{module}.py").read_text(encoding="utf-8")
              for module in lab.modules}
    support = import_closure(RUNNER_IMPORTS, PROJECT_ROOT / "autograder", checks.values())

    def rewrite(text: str) -> str:
        return re.sub(rf"\bautograder\.({'|'.join(support)})\b", rf"{SUPPORT_PACKAGE}.\1", text)

    files = {f"{SUPPORT_PACKAGE}/__init__.py": '"""Public checks for the otter export (generated)."""\n',
             f"{SUPPORT_PACKAGE}/checks/__init__.py": ""}
    for name in support:
        files[f"{SUPPORT_PACKAGE}/{name}.py"] = rewrite(
            (PROJECT_ROOT / "autograder" / f"{name}.py").read_text(encoding="utf-8"))
    for module, text in checks.items():
        files[f"{SUPPORT_PACKAGE}/checks/test_{module}.py"] = rewrite(text)
    files[f"{SUPPORT_PACKAGE}/runner.py"] = _render("otter_runner.py.j2", modules=repr(tuple(lab.modules)))
    return files


def _torch_requirement() -> str:
    import torch

    return f"torch=={torch.__version__.split('+', 1)[0]}"


# --- writing -------------------------------------------------------------------------------------


def _write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def export_lab(lab: OtterAssignment, out: Path, *, solutions: bool = False, config_path: Path | None = None) -> Path:
    """Write OUT/<lab>/ (see the module docstring) and return that folder."""
    folder = out / lab.key
    tests = {f"tests/{name}": text for name, text in otter_test_files(lab, config_path).items()}
    support = support_files(lab)
    otter_config = json.dumps({"lang": "python", "assignment_name": lab.key, "show_stdout": True}, indent=2) + "\n"
    requirements = f"{_torch_requirement()}\npytest>=8\n"

    student = folder / "student"
    _write(student, {**tests, **support})
    nbformat.write(lab_notebook(lab), student / f"{lab.key}.ipynb")
    _write(folder / "autograder", {**tests, **support, "otter_config.json": otter_config,
                                   "requirements.txt": requirements})
    # otter's autograder zip: support files go under files/ (copied next to the submission).
    with zipfile.ZipFile(folder / "autograder.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        members = {**tests, **{f"files/{n}": t for n, t in support.items()},
                   "otter_config.json": otter_config, "requirements.txt": requirements}
        for name in sorted(members):
            archive.writestr(zipfile.ZipInfo(name, date_time=FIXED_DATE), members[name])
    if solutions:
        (folder / "solutions").mkdir(parents=True, exist_ok=True)
        nbformat.write(lab_notebook(lab, solution=True), folder / "solutions" / f"{lab.key}.ipynb")
    return folder


def export_otter(out: Path, labs: list[str] | None = None, *, solutions: bool = False,
                 config_path: Path | None = None) -> list[Path]:
    """Export the chosen labs (default: all) into OUT; returns the lab folders."""
    chosen = [lab_by_key(k) for k in labs] if labs else list(load_course().otter)
    return [export_lab(lab, out, solutions=solutions, config_path=config_path) for lab in chosen]

"""Build the lab notebooks ``exercises/notebooks/lab-2.3.N-<slug>.ipynb`` from the stubs.

Run ``python -m autograder.notebooks`` after changing a stub or ``exercises/labs.yaml`` (the
labs, module intros and notes: ``autograder.course``), or ``--check`` to verify that the
committed notebooks are up to date. Each notebook is: a title and what the lab teaches, a setup
cell (imports and the self-check helper), then for every function a short note (the maths and
the classic pitfall), a code cell with the stub exactly as in ``exercises/<module>.py``
(signature, docstring, ``raise NotImplementedError``) and a self-check cell::

    check("masks.causal_mask", globals())

which prints ``masks.causal_mask: 10 checks passed``, ``... not implemented yet`` or
``... 2 of 10 checks failed: <first message>`` (see ``autograder.selfcheck``).

Output is deterministic (no outputs, no execution counts, cell ids derived from the content's
role, e.g. ``code-masks-causal_mask``), so a test can compare the committed files byte for byte.
Graders read a notebook's definitions only (``autograder.intake``): the setup cell's helper
import sits in a ``try`` block, which intake skips, so a notebook grades in the sandbox.
"""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import nbformat

from autograder.contract import ContractError
from autograder.course import Course, Lab, load_course
from autograder.yamlsource import YamlError

ROOT = Path(__file__).resolve().parent.parent
EXERCISES_DIR = ROOT / "exercises"
NOTEBOOKS_DIR = EXERCISES_DIR / "notebooks"

SETUP_TAIL = '''
try:  # the self-check helper beside this notebook (the grader skips this block)
    from labcheck import check
except ImportError as error:  # opened outside exercises/notebooks/
    print(f"self-checks unavailable: {error}")

    def check(qualname, namespace):
        print(f"{qualname}: self-check unavailable")'''


def _stub_module(module: str) -> tuple[ast.Module, str]:
    source = (EXERCISES_DIR / f"{module}.py").read_text(encoding="utf-8")
    return ast.parse(source), source


def stub_source(module: str, function: str) -> str:
    """The stub of one function exactly as written in exercises/<module>.py."""
    tree, source = _stub_module(module)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            return "\n".join(source.splitlines()[start - 1:node.end_lineno])
    raise KeyError(f"exercises/{module}.py has no function {function}")


def _imports(module: str) -> list[str]:
    """The module's own imports (not __future__), as written."""
    tree, source = _stub_module(module)
    return [ast.get_source_segment(source, n) for n in tree.body
            if isinstance(n, (ast.Import, ast.ImportFrom)) and getattr(n, "module", None) != "__future__"]


def build_notebook(lab: Lab, course: Course | None = None) -> nbformat.NotebookNode:
    """The lab's notebook, without outputs (deterministic)."""
    course = course or load_course()
    text = course.notebook
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    cells = nb.cells

    def markdown(cell_id: str, text: str) -> None:
        cells.append(nbformat.v4.new_markdown_cell(text, id=cell_id))

    def code(cell_id: str, text: str) -> None:
        cells.append(nbformat.v4.new_code_cell(text, id=cell_id))

    markdown("title", f"# Lab {lab.number}: {lab.title}\n\n{lab.intro}")
    markdown("how-to", text.how_to)
    imports: list[str] = []
    for section in lab.sections:
        imports += [i for i in _imports(section.module) if i not in imports]
    code("setup", "from __future__ import annotations\n\n" + "\n".join(imports) + "\n" + SETUP_TAIL)
    for section in lab.sections:
        if section.carried_from:
            markdown(f"intro-{section.module}", text.carried_intro.format(lab=section.carried_from))
        else:
            markdown(f"intro-{section.module}", section.intro or course.modules[section.module].intro)
        for function in course.section_functions(section):
            qualname = f"{section.module}.{function}"
            if not section.carried_from:
                note = course.note(section.module, function)
                markdown(f"note-{section.module}-{function}", f"### `{function}`\n\n{note}")
            code(f"code-{section.module}-{function}", stub_source(section.module, function))
            code(f"check-{section.module}-{function}", f'check("{qualname}", globals())')
    markdown("submit", text.submit)
    return nb


def render(lab: Lab) -> str:
    """The notebook file's exact text."""
    return nbformat.writes(build_notebook(lab)) + "\n"


def write_all(folder: Path = NOTEBOOKS_DIR) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for lab in load_course().labs:
        path = folder / lab.filename
        path.write_text(render(lab), encoding="utf-8")
        paths.append(path)
    return paths


def stale(folder: Path = NOTEBOOKS_DIR) -> list[str]:
    """Names of notebooks in `folder` that differ from what the generator produces."""
    out = []
    for lab in load_course().labs:
        path = folder / lab.filename
        if not path.is_file() or path.read_text(encoding="utf-8") != render(lab):
            out.append(lab.filename)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.notebooks",
        description="Write the lab notebooks exercises/notebooks/lab-2.3.N-*.ipynb from the stubs "
                    "in exercises/*.py and the labs, intros and notes of exercises/labs.yaml (or, "
                    "with --check, verify that they are up to date). Exit codes: 0 done (or up "
                    "to date), 1 out of date (--check), 2 labs.yaml or a stub is invalid.",
    )
    parser.add_argument("--out", type=Path, default=NOTEBOOKS_DIR, help="folder (default: %(default)s)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 and name the notebooks that are out of date")
    args = parser.parse_args(argv)
    try:
        if args.check:
            names = stale(args.out)
            for name in names:
                print(f"out of date: {args.out / name} (run python -m autograder.notebooks)", file=sys.stderr)
            return 1 if names else 0
        for path in write_all(args.out):
            print(f"wrote {path}")
    except (YamlError, ContractError) as exc:  # a broken labs.yaml or stub: its file and line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

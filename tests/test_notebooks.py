"""The lab notebooks: up to date, valid, self-checking, and gradable.

Kernel execution is slow (a kernel start and a torch import, 10-20 s on the CI machines), so
two notebooks run in a real kernel: the stub of lab 2.3.2 (the one with carried-over cells
from another lab) and lab 2.3.1 with the reference pasted in (two modules, the most checks).
Every notebook's self-check cells are also run in-process against the notebook's own code
cells, stub and reference, which exercises the same `check` path without a kernel.
"""
from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import io
import re
from pathlib import Path

import nbformat
import pytest

from autograder import notebooks
from autograder.contract import exercise_modules
from autograder.course import load_course
from autograder.selfcheck import run_checks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = ROOT / "exercises" / "notebooks"
REFERENCE_DIR = ROOT / "reference"
COURSE = load_course()
LABS = {lab.number: lab for lab in COURSE.labs}
CHECK_CALL = re.compile(r'^check\("(\w+\.\w+)", globals\(\)\)$')


def read(lab) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS_DIR / lab.filename, as_version=4)


def stub_cells(nb) -> dict[str, nbformat.NotebookNode]:
    """qualname -> the code cell holding that function's stub."""
    return {c.id.removeprefix("code-").replace("-", ".", 1): c for c in nb.cells if c.id.startswith("code-")}


def check_cells(nb) -> dict[str, nbformat.NotebookNode]:
    out = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and (m := CHECK_CALL.match(cell.source)):
            out[m.group(1)] = cell
    return out


# --- the committed files ------------------------------------------------------------------


@pytest.mark.parametrize("number", sorted(LABS))
def test_committed_notebook_equals_generator_output(number):
    lab = LABS[number]
    committed = (NOTEBOOKS_DIR / lab.filename).read_text(encoding="utf-8")
    assert committed == notebooks.render(lab), "run: python -m autograder.notebooks"


def test_check_flag_reports_stale_notebooks(tmp_path, capsys):
    assert notebooks.main(["--out", str(tmp_path)]) == 0
    assert notebooks.main(["--out", str(tmp_path), "--check"]) == 0
    path = tmp_path / COURSE.labs[0].filename
    path.write_text(path.read_text(encoding="utf-8").replace("Attention", "Atention", 1), encoding="utf-8")
    assert notebooks.main(["--out", str(tmp_path), "--check"]) == 1
    assert COURSE.labs[0].filename in capsys.readouterr().err


@pytest.mark.parametrize("number", sorted(LABS))
def test_notebook_is_valid_and_has_no_outputs(number):
    nb = read(LABS[number])
    nbformat.validate(nb)
    ids = [cell.id for cell in nb.cells]
    assert len(ids) == len(set(ids))
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_every_function_is_taught_by_exactly_one_lab_named_in_its_module_docstring():
    taught: dict[str, str] = {}
    for lab in COURSE.labs:
        for section in lab.sections:
            if section.carried_from:
                continue
            for function in COURSE.section_functions(section):
                qualname = f"{section.module}.{function}"
                assert qualname not in taught, f"{qualname} in labs {taught[qualname]} and {lab.number}"
                taught[qualname] = lab.number
    expected = set()
    for module in exercise_modules():
        mod = importlib.import_module(f"exercises.{module}")
        docstring_labs = set(re.findall(r"2\.3\.\d", mod.__doc__))
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if fn.__module__ == mod.__name__ and not name.startswith("_"):
                expected.add(f"{module}.{name}")
                assert taught.get(f"{module}.{name}") in docstring_labs, (module, name, docstring_labs)
    assert set(taught) == expected


@pytest.mark.parametrize("number", sorted(LABS))
def test_stub_cells_are_the_exercise_stubs_and_each_has_a_self_check(number):
    lab = LABS[number]
    nb = read(lab)
    stubs, checks = stub_cells(nb), check_cells(nb)
    assert list(stubs) == COURSE.lab_functions(lab) == list(checks)
    for qualname, cell in stubs.items():
        module, function = qualname.split(".")
        fn = getattr(importlib.import_module(f"exercises.{module}"), function)
        assert cell.source == inspect.getsource(fn).rstrip("\n")
        # the self-check comes right after its stub
        assert nb.cells[nb.cells.index(cell) + 1] is checks[qualname]


# --- notebooks with code pasted in ----------------------------------------------------------


def _reference_parts(module: str, lab_modules: set[str]) -> tuple[str, dict[str, str], list[str]]:
    """reference/<module>.py as (support code, {function: source}, modules it needs from outside).

    Private helpers get a per-module prefix (several modules share one notebook namespace, and
    two of them define a `_check_params` with different signatures); imports from other
    reference modules become aliases of the names those modules define in the notebook.
    """
    tree = ast.parse((REFERENCE_DIR / f"{module}.py").read_text(encoding="utf-8"))
    private = {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("_")}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in private:
            node.id = f"_{module}_{node.id.lstrip('_')}"
        elif isinstance(node, ast.FunctionDef) and node.name in private:
            node.name = f"_{module}_{node.name.lstrip('_')}"
    support, functions, needs = [], {}, []
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the module docstring
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, ast.ImportFrom) and node.module.startswith("reference."):
            other = node.module.split(".", 1)[1]
            if other not in lab_modules:
                needs.append(other)
            support += [f"{a.asname} = {a.name}" for a in node.names if a.asname and a.asname != a.name]
        elif isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            functions[node.name] = ast.unparse(node)
        else:
            support.append(ast.unparse(node))
    return "\n\n".join(support), functions, needs


def solution_notebook(lab, replace: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """The lab's notebook with every stub cell replaced by the reference (or by `replace`)."""
    nb = read(lab)
    lab_modules = {s.module for s in lab.sections}
    extra, seen = [], set()
    for section in lab.sections:
        support, functions, needs = _reference_parts(section.module, lab_modules)
        for other in needs:  # e.g. lab 2.3.5's transformer needs attention: paste it whole
            if other not in seen:
                seen.add(other)
                other_support, other_functions, _ = _reference_parts(other, lab_modules)
                extra.append(other_support + "\n\n" + "\n\n".join(other_functions.values()))
        first = True
        for function in COURSE.section_functions(section):
            cell = next(c for c in nb.cells if c.id == f"code-{section.module}-{function}")
            cell.source = (support + "\n\n" if first else "") + functions[function]
            first = False
    for qualname, source in (replace or {}).items():
        module, function = qualname.split(".")
        next(c for c in nb.cells if c.id == f"code-{module}-{function}").source = source
    setup = next(i for i, c in enumerate(nb.cells) if c.id == "setup")
    for i, source in enumerate(extra):
        nb.cells.insert(setup + 1 + i, nbformat.v4.new_code_cell(source, id=f"pasted-{i}"))
    return nb


def exec_definitions(nb) -> dict:
    """Run every code cell except the self-checks in a fresh namespace (no kernel)."""
    namespace: dict = {"__name__": "__notebook__"}
    checks = set(map(id, check_cells(nb).values()))
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in nb.cells:
            if cell.cell_type == "code" and id(cell) not in checks:
                exec(compile(cell.source, f"<cell {cell.id}>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("number", sorted(LABS))
def test_self_checks_in_process_stub_then_reference(number):
    lab = LABS[number]
    stub_ns = exec_definitions(read(lab))
    solved_ns = exec_definitions(solution_notebook(lab))
    for qualname in COURSE.lab_functions(lab):
        assert run_checks(qualname, stub_ns).message == f"{qualname}: not implemented yet"
        message = run_checks(qualname, solved_ns).message
        assert re.fullmatch(rf"{re.escape(qualname)}: \d+ checks passed", message), message


def test_self_check_names_the_first_failure_of_a_wrong_function():
    lab = LABS["2.3.1"]
    wrong = (
        "def causal_mask(q_len, k_len=None, device=None):\n"
        "    k_len = q_len if k_len is None else k_len\n"
        "    return torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril(-1)\n"
    )
    summary = run_checks("masks.causal_mask", exec_definitions(solution_notebook(lab, {"masks.causal_mask": wrong})))
    assert summary.failed and summary.passed < summary.total
    assert summary.message.startswith(f"masks.causal_mask: {len(summary.failed)} of {summary.total} checks failed: ")
    assert "got" in summary.message and "expected" in summary.message


# --- a real kernel --------------------------------------------------------------------------


def execute(nb, timeout: int = 180) -> nbformat.NotebookNode:
    nbclient = pytest.importorskip("nbclient")
    client = nbclient.NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS_DIR)}}
    )
    client.execute()
    return nb


def output_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


@pytest.mark.slow
def test_stub_notebook_runs_in_a_kernel_and_every_self_check_says_not_implemented():
    nb = execute(read(LABS["2.3.2"]))
    for qualname, cell in check_cells(nb).items():
        assert output_text(cell).strip() == f"{qualname}: not implemented yet"
    assert not [c.id for c in nb.cells if c.cell_type == "code" and c.outputs and not c.id.startswith("check-")]


@pytest.mark.slow
def test_reference_notebook_runs_in_a_kernel_and_every_self_check_passes():
    nb = execute(solution_notebook(LABS["2.3.1"]))
    checks = check_cells(nb)
    assert len(checks) == 9
    for qualname, cell in checks.items():
        assert re.fullmatch(rf"{re.escape(qualname)}: \d+ checks passed\n", output_text(cell)), output_text(cell)


# --- grading -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def warm_worker():
    from autograder.config import load_config
    from autograder.grading import worker_from_config

    with worker_from_config(load_config()) as worker:
        yield worker


@pytest.mark.slow
@pytest.mark.parametrize("number", sorted(LABS))
def test_reference_notebook_grades_full_marks_on_its_functions(number, tmp_path, warm_worker, seed):
    from autograder.config import load_config
    from autograder.grading import grade_submission

    lab = LABS[number]
    path = tmp_path / lab.filename
    nbformat.write(solution_notebook(lab), path)
    result = grade_submission(path, load_config(), seed=seed, worker=warm_worker)
    scores = {f.qualname: f for f in result.functions}
    for qualname in COURSE.lab_functions(lab):
        function = scores[qualname]
        failures = [f"{c.case.case}: {c.case.message}" for c in function.cases if c.case.status != "passed"]
        assert function.points > 0 and function.score == pytest.approx(function.points), failures

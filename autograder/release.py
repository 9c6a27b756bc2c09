"""``autograder release OUT``: the student bundle.

What goes in (and nothing else):

- ``exercises/``: the stubs (refused if any public function does more than raise
  NotImplementedError), the public checks, the lab notebooks (generated fresh from the stubs)
  and their ``labcheck.py`` helper;
- ``nlp_selfcheck/``: the pytest plugin and what it imports (impl, checking, judge, tinylm,
  selfcheck), found by following module-level imports from the plugin, the self-check helper
  and the checks. It is shipped under its own package name, with imports rewritten, so that a
  bundle never loads the course's ``autograder`` even where the course project is installed;
  ``pytest.ini`` blocks the installed ``autograder`` entry point and ``conftest.py`` registers
  the bundle's copy;
- ``quizzes/``: the quiz engine and the banks, minus every ``graded: true`` question (a bank
  left with none is dropped), so no exam question or its key leaves the course;
- ``README.md`` (for students, with the points per function), ``requirements.txt`` and
  ``MANIFEST.json`` (the file list; it also marks OUT as a bundle that a later release may
  replace).

Never shipped: ``reference/`` (solutions and known mistakes), ``autograder/suites/`` (hidden
suites), ``grading.yaml`` (only its points and forbidden APIs appear, in the README), the
sandbox, the grader and the gradebook.
"""
from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

import yaml

from autograder import notebooks
from autograder.course import load_course
from autograder.import_closure import ClosureError, import_closure

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "nlp_selfcheck"  # the bundle's name for the shipped autograder modules
MARKER = "MANIFEST.json"
BUNDLE_KIND = "nlp-transformers student bundle"
SEED_MODULES = ("plugin", "selfcheck")
# quiz files that run the course server (autograder.server): `quiz serve` says so in the bundle
COURSE_ONLY_QUIZ_FILES = ("server.py",)

PYTEST_INI = """\
[pytest]
# The public checks, run against your code in exercises/ by the plugin in nlp_selfcheck/.
testpaths = exercises/checks
pythonpath = .
# If the course's grader is also installed here, its plugin (entry point "autograder") stays
# out: this folder's conftest.py registers its own copy.
addopts = -p no:autograder
"""

CONFTEST = '''\
"""Registers this bundle's pytest plugin (the impl fixture and NOT IMPLEMENTED reports)."""
pytest_plugins = ["nlp_selfcheck.plugin"]
'''

QUIZ_MAIN = '''\
"""`python -m quizzes ...`: the quiz command line (list, take, render, serve)."""
from quizzes.cli import main

main(prog_name="python -m quizzes")
'''

REQUIREMENTS = """\
torch>=2.2
pytest>=8
# lab notebooks
notebook
nbformat>=5.9
# quizzes
click>=8.1
rich>=13
jinja2>=3.1
pyyaml>=6
pydantic>=2.5
markdown-it-py>=3
latex2mathml>=3.77
"""


class ReleaseError(RuntimeError):
    """The bundle cannot be built (OUT is not safe to write, or a stub is not a stub)."""


# --- checks on the sources ------------------------------------------------------------------


def _is_stub(function: ast.FunctionDef) -> bool:
    """Docstring (optional) followed by `raise NotImplementedError(...)` and nothing else."""
    body = list(function.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    if len(body) != 1 or not isinstance(body[0], ast.Raise) or body[0].exc is None:
        return False
    exc = body[0].exc
    target = exc.func if isinstance(exc, ast.Call) else exc
    return isinstance(target, ast.Name) and target.id == "NotImplementedError"


def check_stubs(exercises_dir: Path) -> None:
    """Refuse to ship an exercise module whose public functions are not all stubs."""
    for path in sorted(exercises_dir.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_") and not _is_stub(node):
                raise ReleaseError(
                    f"{path}:{node.lineno}: {node.name} is not a stub (expected a docstring and "
                    "raise NotImplementedError); the bundle would give away code"
                )


# --- the plugin package -------------------------------------------------------------------

_IMPORT = re.compile(r"^(\s*)(from|import)\s+autograder\b")


def rewrite_imports(source: str, package: str = PACKAGE) -> str:
    """`from autograder.x import y` / `import autograder.x` -> the bundle's package name."""
    return "\n".join(_IMPORT.sub(rf"\1\2 {package}", line) for line in source.splitlines()) + "\n"


def plugin_modules(root: Path = ROOT) -> list[str]:
    """The autograder modules the bundle needs: closure of module-level imports."""
    checks = [p.read_text(encoding="utf-8") for p in sorted((root / "exercises" / "checks").glob("test_*.py"))]
    try:
        return import_closure(SEED_MODULES, root / "autograder", checks)
    except ClosureError as exc:
        raise ReleaseError(str(exc)) from None


# --- quiz banks ---------------------------------------------------------------------------


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings as `|` blocks, so filtered banks stay readable."""


def _str_representer(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str_representer)


def practice_banks(banks_dir: Path) -> tuple[dict[str, str], list[str]]:
    """Bank file name -> text with every graded question removed; and the removed ids.

    A bank without graded questions is copied verbatim (comments kept); one with only graded
    questions is left out.
    """
    from quizzes.loader import load_banks

    load_banks(banks_dir)  # validate first: a broken bank must not be half-filtered
    out, removed = {}, []
    for path in sorted(banks_dir.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
        graded = [q for q in data.get("questions", []) if q.get("graded") is True]
        if not graded:
            out[path.name] = text
            continue
        removed += [q["id"] for q in graded]
        data["questions"] = [q for q in data["questions"] if q.get("graded") is not True]
        if data["questions"]:
            out[path.name] = yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100)
    return out, removed


# --- the README -----------------------------------------------------------------------------


def points_table() -> str:
    """Points per function and forbidden APIs: the public part of grading.yaml."""
    from autograder.config import load_config

    config = load_config()
    lines = ["| function | points | must not call |", "|---|---|---|"]
    for module, settings in config.modules.items():
        forbidden = ", ".join(f"`{api}`" for api in settings.forbidden) or "-"
        for function, points in settings.functions.items():
            lines.append(f"| `{module}.{function}` | {points:g} | {forbidden} |")
    lines.append(f"| **total** | **{config.total_points:g}** | |")
    return "\n".join(lines)


def student_readme(labs: list[str], topics: list[str]) -> str:
    notebook_lines = "\n".join(f"- `exercises/notebooks/{name}`" for name in labs)
    topic_list = ", ".join(f"`{t}`" for t in topics) or "(none)"
    return f"""\
# NLP & Transformers: exercises, lab notebooks and practice quizzes

Your copy of the module's exercises. You write the functions in `exercises/` (as plain
modules or in the lab notebooks) and check yourself with the public checks; your submission
is graded later with hidden tests.

## Set up

```sh
python -m venv .venv && . .venv/bin/activate
pip install -r requirements.txt        # torch, pytest, Jupyter, the quiz engine's libraries
```

## Write and check the functions

Every function in `exercises/*.py` is a stub with its maths and a worked example in the
docstring. Replace the `raise NotImplementedError(...)` line with your code, then:

```sh
python -m pytest                       # every function: passed, failed or NOT IMPLEMENTED
python -m pytest -k causal_mask        # the checks of one function
python -m pytest exercises/checks/test_masks.py   # one module
```

A function you have not written yet is reported **NOT IMPLEMENTED**, not failed, and the
summary lists what is left. A failing check says what it got and what it expected. Each run
draws fresh random inputs; the seed is printed in the header, and `--seed N` replays a run.

## Lab notebooks

The same functions, lab by lab, with notes on the maths and the usual pitfalls:

{notebook_lines}

Open them with `jupyter notebook exercises/notebooks/`. Under each function a self-check cell
runs that function's public checks against the code in your notebook and prints one line, for
example `masks.causal_mask: 10 checks passed` or `... not implemented yet`. Keep the notebooks
in `exercises/notebooks/` (the self-check helper `labcheck.py` lives there).

## What to hand in

Either your `exercises/*.py` modules (a folder or a zip) or a lab notebook. Graders read only
your definitions (imports, functions, constants): demo and plotting cells are fine and are not
run. Keep the function names and signatures of the stubs. Some library calls are refused in
some modules (table below): they are what the hidden tests compare you with.

{points_table()}

## Practice quizzes

Concept quizzes on topics {topic_list}; they are scored on your machine and show the
explanation of every answer.

```sh
python -m quizzes list                 # the topics
python -m quizzes take attention       # a quiz in the terminal
python -m quizzes serve                # the same in your browser
```

## What is in this folder

```
exercises/          your modules (stubs), checks/ (public checks), notebooks/ (lab notebooks)
nlp_selfcheck/      the pytest plugin behind the checks and self-checks (no need to read it)
quizzes/            the quiz engine and the practice banks
pytest.ini, conftest.py   make `python -m pytest` use nlp_selfcheck
```
"""


# --- writing the bundle ----------------------------------------------------------------------


def _prepare(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ReleaseError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        marker = out / MARKER
        try:
            previous = json.loads(marker.read_text(encoding="utf-8")).get("kind")
        except (OSError, ValueError, AttributeError):
            previous = None
        if previous != BUNDLE_KIND:
            raise ReleaseError(f"{out} is not empty and holds no earlier bundle ({MARKER}); choose a new folder")
        shutil.rmtree(out)  # an earlier bundle of ours: replace it whole, no stale files
    out.mkdir(parents=True, exist_ok=True)


def build_release(out: Path | str, *, root: Path = ROOT, banks_dir: Path | None = None) -> dict:
    """Write the student bundle into `out`; return the manifest (also written as MANIFEST.json)."""
    out = Path(out)
    exercises_dir = root / "exercises"
    banks_dir = banks_dir or root / "quizzes" / "banks"
    check_stubs(exercises_dir)
    banks, removed = practice_banks(banks_dir)
    modules = plugin_modules(root)
    _prepare(out)
    files: dict[str, str] = {}

    for path in sorted(exercises_dir.glob("*.py")):
        files[f"exercises/{path.name}"] = path.read_text(encoding="utf-8")
    for path in sorted((exercises_dir / "checks").glob("*.py")):
        files[f"exercises/checks/{path.name}"] = rewrite_imports(path.read_text(encoding="utf-8"))
    labs = load_course().labs
    for lab in labs:
        files[f"exercises/notebooks/{lab.filename}"] = notebooks.render(lab)
    labcheck = (exercises_dir / "notebooks" / "labcheck.py").read_text(encoding="utf-8")
    files["exercises/notebooks/labcheck.py"] = rewrite_imports(labcheck)

    files[f"{PACKAGE}/__init__.py"] = (
        '"""The pytest plugin behind the public checks and the notebook self-checks."""\n'
    )
    for name in modules:
        source = (root / "autograder" / f"{name}.py").read_text(encoding="utf-8")
        files[f"{PACKAGE}/{name}.py"] = rewrite_imports(source)

    quizzes_dir = root / "quizzes"
    for path in sorted(quizzes_dir.rglob("*")):
        rel = path.relative_to(quizzes_dir)
        if (path.is_dir() or rel.parts[0] == "banks" or "__pycache__" in rel.parts or path.suffix == ".pyc"
                or rel.as_posix() in COURSE_ONLY_QUIZ_FILES):
            continue
        files[f"quizzes/{rel.as_posix()}"] = path.read_text(encoding="utf-8")
    files["quizzes/__main__.py"] = QUIZ_MAIN
    for name, text in banks.items():
        files[f"quizzes/banks/{name}"] = text

    files["pytest.ini"] = PYTEST_INI
    files["conftest.py"] = CONFTEST
    files["requirements.txt"] = REQUIREMENTS
    files["README.md"] = student_readme([lab.filename for lab in labs],
                                        [Path(n).stem for n in sorted(banks)])
    for rel, text in files.items():
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    manifest = {
        "kind": BUNDLE_KIND,
        "files": sorted(files),
        "plugin_modules": modules,
        "graded_questions_removed": len(removed),
    }
    (out / MARKER).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest

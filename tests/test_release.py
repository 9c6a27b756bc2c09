"""`autograder release`: the student bundle holds what students need and nothing they must not see.

The bundle is built once (module fixture) from the project, with quiz banks in which some
questions are marked `graded: true` (the project's banks have none today): a mixed bank and a
bank of graded questions only.
"""
from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from autograder.cli import main as cli
from autograder.contract import exercise_modules, public_functions
from autograder.demo import student_source
from autograder.release import (
    MARKER,
    ReleaseError,
    build_release,
    check_stubs,
    plugin_modules,
)
from quizzes.loader import load_banks
from reference.mistakes import MISTAKES

ROOT = Path(__file__).resolve().parent.parent
MODULES = exercise_modules()
MIXED_BANK, GRADED_ONLY_BANK = "masking", "hardware"


@pytest.fixture(scope="module")
def banks(tmp_path_factory) -> dict:
    """A copy of the banks where two masking questions and every hardware question are graded."""
    folder = tmp_path_factory.mktemp("banks")
    graded = []
    for path in sorted((ROOT / "quizzes" / "banks").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for index, question in enumerate(data["questions"]):
            if path.stem == GRADED_ONLY_BANK or (path.stem == MIXED_BANK and index in (1, 3)):
                question["graded"] = True
                graded.append(question)
        (folder / path.name).write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return {"folder": folder, "graded": graded}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, banks) -> Path:
    out = tmp_path_factory.mktemp("release") / "student"
    build_release(out, banks_dir=banks["folder"])
    return out


def bundle_texts(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def public_text() -> str:
    """What students see by design: stubs, public checks, the checks' plugin modules, quizzes.

    (tinylm.py validates its arguments with the same boilerplate lines as some reference
    helpers: such a line is not secret, it is public in both places.)
    """
    paths = [*sorted((ROOT / "exercises").rglob("*.py")), *sorted((ROOT / "quizzes").glob("*.py"))]
    paths += [ROOT / "autograder" / f"{name}.py" for name in plugin_modules()]
    return "\n".join(p.read_text(encoding="utf-8") for p in paths)


def code_lines(path: Path) -> set[str]:
    """Distinctive lines of the function bodies of a file (docstrings, imports, short lines left out)."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Module)) and ast.get_docstring(node) is not None:
            first = node.body[0]
            docstrings.update(range(first.lineno, first.end_lineno + 1))
    lines = source.splitlines()
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for number in range(node.body[0].lineno, node.end_lineno + 1):
                line = lines[number - 1].strip()
                if number not in docstrings and len(line) >= 30 and not line.startswith(("#", "from ", "import ")):
                    out.add(line)
    return out


# --- what must not be there -----------------------------------------------------------------


def test_no_reference_suite_or_grading_file_is_shipped(bundle):
    names = bundle_texts(bundle)
    assert not [n for n in names if n.startswith(("reference/", "autograder/")) or "/suites/" in n
                or "mistakes" in n or n.endswith("grading.yaml")]


def test_no_line_of_reference_mistake_or_suite_code_appears_in_shipped_code(bundle):
    """Every file but the practice banks, whose debugging snippets teach with one-liners such
    as `weights = torch.softmax(scores, dim=-1)` (their keys are the next tests' business)."""
    public = public_text()
    secret_files = [*sorted((ROOT / "reference").rglob("*.py")), *sorted((ROOT / "autograder" / "suites").glob("*.py"))]
    secret = {line: path.name for path in secret_files for line in code_lines(path) if line not in public}
    assert len(secret) > 200  # the search has something to find
    for name, text in bundle_texts(bundle).items():
        if name.startswith("quizzes/banks/"):
            continue
        leaked = [f"{origin}: {line}" for line, origin in secret.items() if line in text]
        assert not leaked, f"{name} contains secret code:\n" + "\n".join(leaked[:5])


def test_no_mistake_hint_appears_anywhere_nor_a_mistake_id_outside_the_quizzes(bundle):
    """Hints are the grader's feedback: never shipped. Ids are named in the contract handout
    (its table of common mistakes), and a few practice-quiz explanations cite them: allowed
    there only."""
    texts = bundle_texts(bundle)
    assert len(MISTAKES) >= 20
    for mistake in MISTAKES.values():
        for name, text in texts.items():
            assert mistake.hint not in text, f"{name} holds the hint of {mistake.id}"
            if not name.startswith("quizzes/banks/"):
                assert mistake.id not in text, f"{name} names mistake {mistake.id}"


def test_graded_questions_and_their_keys_are_left_out(bundle, banks):
    texts = bundle_texts(bundle)
    assert f"quizzes/banks/{GRADED_ONLY_BANK}.yaml" not in texts
    assert len(banks["graded"]) > 5
    for question in banks["graded"]:
        secrets = [question["id"], question["prompt"].strip(), question["explanation"].strip()]
        secrets += [c["text"] for c in question.get("choices", []) if c.get("correct")]
        secrets += [c["feedback"] for c in question.get("choices", [])]
        for name, text in texts.items():
            for secret in secrets:
                assert secret not in text, f"{name} holds {secret[:60]!r} of graded question {question['id']}"


def test_practice_questions_remain_and_the_banks_load(bundle, banks):
    shipped = load_banks(bundle / "quizzes" / "banks")
    graded_ids = {q["id"] for q in banks["graded"]}
    original = load_banks(ROOT / "quizzes" / "banks")
    expected = {q.id for bank in original.values() for q in bank.questions} - graded_ids
    got = {q.id for bank in shipped.values() for q in bank.questions}
    assert got == expected
    assert not [q.id for bank in shipped.values() for q in bank.questions if q.graded]
    assert set(shipped) == set(original) - {GRADED_ONLY_BANK}
    assert MIXED_BANK in shipped


def test_shipped_python_never_imports_the_course_packages(bundle):
    for path in sorted(bundle.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                assert name.split(".")[0] != "autograder", f"{path}:{node.lineno} imports {name}"
        for node in tree.body:  # reference only ever imported lazily (for --impl reference)
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] != "reference", f"{path}:{node.lineno}"


# --- what must be there, and work ----------------------------------------------------------


def test_bundle_contents_and_manifest(bundle):
    names = set(bundle_texts(bundle))
    for module in MODULES:
        assert f"exercises/{module}.py" in names and f"exercises/checks/test_{module}.py" in names
        assert (bundle / f"exercises/{module}.py").read_text() == (ROOT / f"exercises/{module}.py").read_text()
    assert len([n for n in names if n.startswith("exercises/notebooks/lab-2.3.")]) == 6
    assert {"README.md", "pytest.ini", "conftest.py", "requirements.txt", MARKER,
            "quizzes/__main__.py", "nlp_selfcheck/plugin.py", "nlp_selfcheck/selfcheck.py"} <= names
    manifest = json.loads((bundle / MARKER).read_text())
    assert set(manifest["files"]) | {MARKER} == names


def run(args: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_pytest_in_the_bundle_reports_every_function_not_implemented_with_its_own_plugin(bundle):
    done = run(["-m", "pytest", "-q", "-p", "no:randomly", "--trace-config"], bundle)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert f"PLUGIN registered: <module 'nlp_selfcheck.plugin' from '{bundle}" in out
    assert "autograder.plugin" not in out and str(ROOT / "autograder") not in out
    listed = re.search(r"not implemented yet: (\d+) functions -*\n((?:  \S+\n)+)", out)
    expected = sorted(f"{m}.{f}" for m in MODULES for f in public_functions(m))
    assert listed and int(listed.group(1)) == len(expected), out[-3000:]
    assert listed.group(2).split() == expected
    assert re.search(r"\b\d+ not implemented in", out) and " passed" not in out and " failed" not in out


@pytest.mark.slow
def test_reference_pasted_into_the_bundle_passes_its_checks_and_self_checks(bundle, tmp_path):
    copy = tmp_path / "student"
    shutil.copytree(bundle, copy)
    for module in ("masks", "attention", "transformer"):
        (copy / "exercises" / f"{module}.py").write_text(student_source(module), encoding="utf-8")
    checks = [f"exercises/checks/test_{m}.py" for m in ("masks", "attention", "transformer")]
    done = run(["-m", "pytest", "-q", "-p", "no:randomly", *checks], copy)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert re.search(r"\b\d+ passed", out) and "not implemented" not in out.lower() and "failed" not in out
    # the notebooks' helper, from the bundle's own package
    script = ("import sys; sys.path.insert(0, 'exercises/notebooks'); from labcheck import check; "
              "import exercises.masks as m, exercises.positional as p; "
              "check('masks.causal_mask', vars(m)); check('positional.apply_rope', vars(p)); "
              "import nlp_selfcheck.selfcheck as s; print(s.__file__)")
    done = run(["-c", script], copy)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.fullmatch(r"masks\.causal_mask: \d+ checks passed", lines[0]), lines
    assert lines[1] == "positional.apply_rope: not implemented yet"
    assert lines[2].startswith(str(copy))


# --- safety of the command --------------------------------------------------------------------


def test_stubs_that_hold_code_are_refused(tmp_path):
    check_stubs(ROOT / "exercises")  # the project's stubs pass
    (tmp_path / "masks.py").write_text(
        'def causal_mask(n):\n    """Doc."""\n    return n\n\n'
        'def ok(n):\n    """Doc."""\n    raise NotImplementedError("masks.ok: not implemented yet")\n'
    )
    with pytest.raises(ReleaseError, match=r"masks\.py:1: causal_mask is not a stub"):
        check_stubs(tmp_path)


def test_cli_refuses_a_folder_that_is_not_a_bundle_and_replaces_an_earlier_bundle(tmp_path, banks):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.tex").write_text("precious")
    result = CliRunner().invoke(cli, ["release", str(busy)])
    assert result.exit_code == 2 and "not empty" in result.output
    assert (busy / "thesis.tex").read_text() == "precious"

    out = tmp_path / "student"
    first = CliRunner().invoke(cli, ["release", str(out), "--banks", str(banks["folder"])])
    assert first.exit_code == 0, first.output
    (out / "stale.txt").write_text("from an old release")
    again = CliRunner().invoke(cli, ["release", str(out), "--banks", str(banks["folder"])])
    assert again.exit_code == 0 and not (out / "stale.txt").exists()
    assert f"{len(banks['graded'])} graded quiz questions left out" in again.output


def test_cli_help_says_what_is_left_out():
    result = CliRunner().invoke(cli, ["release", "--help"])
    assert result.exit_code == 0
    assert "reference/" in result.output and "graded quiz questions" in result.output

"""exercises/labs.yaml and the stubs: the project's course loads; mistakes name file, line and key.

The error cases use a two-function course in a temporary folder; the expected line numbers are
counted by hand in the YAML text below.
"""
from __future__ import annotations

import pytest

from autograder.contract import (
    ContractError,
    contract,
    exercise_modules,
    public_functions,
)
from autograder.course import load_course
from autograder.yamlsource import YamlError

STUB = '''"""A tiny exercise module."""


def first(x):
    """First."""
    raise NotImplementedError("tiny.first: not implemented yet")


def _helper():
    return 1


def second(x):
    """Second."""
    raise NotImplementedError("tiny.second: not implemented yet")
'''

COURSE = """\
notebook:
  how_to: work
  carried_intro: "from {lab}"
  submit: done
modules:
  tiny:
    intro: "## Tiny"
    notes:
      first: the first note
      second: the second note
labs:
  - number: "1.0.1"
    slug: tiny-lab
    title: Tiny
    intro: a lab
    sections:
      - module: tiny
otter:
  - key: lab_1_0_1
    title: Tiny
    modules: [tiny]
"""


@pytest.fixture
def exercises(tmp_path):
    folder = tmp_path / "exercises"
    folder.mkdir()
    (folder / "__init__.py").write_text('"""Exercises."""\n\n__all__ = ["tiny"]\n')
    (folder / "tiny.py").write_text(STUB)
    return folder


def load(exercises, text):
    path = exercises / "labs.yaml"
    path.write_text(text)
    return load_course(path, exercises)


def test_the_project_course_covers_every_stub_function_once():
    course = load_course()
    assert [m for m in course.modules] == list(exercise_modules())
    taught = [q for lab in course.labs for s in lab.sections if not s.carried_from
              for q in (f"{s.module}.{f}" for f in course.section_functions(s))]
    assert sorted(taught) == sorted(f"{m}.{f}" for m, fs in contract().items() for f in fs)


def test_the_contract_is_read_from_the_stubs(exercises):
    assert exercise_modules(exercises) == ("tiny",)
    assert public_functions("tiny", exercises) == ("first", "second")  # _helper is private


def test_a_tiny_course_loads(exercises):
    course = load(exercises, COURSE)
    lab = course.labs[0]
    assert lab.filename == "lab-1.0.1-tiny-lab.ipynb"
    assert course.lab_functions(lab) == ["tiny.first", "tiny.second"]
    assert course.note("tiny", "second") == "the second note"


def test_a_note_for_a_function_the_stub_does_not_define(exercises):
    text = COURSE.replace("      second: the second note\n", "      second: the second note\n      third: x\n")
    with pytest.raises(YamlError) as error:
        load(exercises, text)
    assert str(error.value) == (f"{exercises / 'labs.yaml'}:11: modules.tiny.notes.third: "
                                "exercises/tiny.py has no public function third")


def test_a_function_without_a_note(exercises):
    text = COURSE.replace("      first: the first note\n", "")
    with pytest.raises(YamlError, match=r"labs\.yaml:9: modules\.tiny\.notes: no note for first "):
        load(exercises, text)


def test_a_section_naming_an_unknown_function_and_an_untaught_function(exercises):
    text = COURSE.replace("      - module: tiny\n", "      - module: tiny\n        functions: [first, thrid]\n")
    with pytest.raises(YamlError) as error:
        load(exercises, text)
    lines = str(error.value).splitlines()
    assert lines[0].endswith(
        "labs.yaml:18: labs.0.sections.0.functions.1: exercises/tiny.py has no public function thrid")
    assert lines[1].endswith("labs.yaml:12: labs: no lab teaches tiny.second (add it to a section)")


def test_an_unknown_key_and_a_bad_lab_number(exercises):
    text = (COURSE.replace('number: "1.0.1"', "number: one")
            .replace("    title: Tiny\n    intro", "    titel: Tiny\n    intro"))
    with pytest.raises(YamlError) as error:
        load(exercises, text)
    message = str(error.value)
    assert "labs.yaml:12: labs.0.number: String should match pattern" in message
    assert "labs.yaml:14: labs.0.titel: Extra inputs are not permitted" in message


def test_a_carried_section_must_come_from_an_earlier_lab(exercises):
    text = COURSE.replace("      - module: tiny\n",
                          "      - module: tiny\n      - module: tiny\n        carried_from: \"9.9.9\"\n")
    with pytest.raises(YamlError, match=r"labs\.yaml:19: labs\.0\.sections\.1\.carried_from: no earlier lab 9\.9\.9"):
        load(exercises, text)


def test_every_module_needs_exactly_one_otter_assignment(exercises):
    text = COURSE + "  - key: again\n    title: Again\n    modules: [tiny]\n"
    with pytest.raises(YamlError, match=r"labs\.yaml:24: otter\.1\.modules\.0: tiny is already graded by lab_1_0_1"):
        load(exercises, text)


def test_all_must_name_existing_stubs(exercises):
    (exercises / "__init__.py").write_text('"""Exercises."""\n\n__all__ = ["tiny", "gone"]\n')
    with pytest.raises(ContractError, match=r"__init__\.py:3: __all__ names 'gone', but gone\.py is missing"):
        exercise_modules(exercises)

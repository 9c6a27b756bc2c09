"""exercises/labs.yaml: the labs, what their notebooks say, and one note per exercise function.

The file is checked against the stubs (``autograder.contract``): every exercise module needs an
intro and every public function a note and exactly one lab that teaches it; a note, section or
assignment that names something the stubs do not define is an error. Errors name file, line
and key, as grading.yaml's do.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from autograder.contract import EXERCISES_DIR, contract
from autograder.yamlsource import (
    YamlError,
    format_validation_error,
    line_of,
    load_with_lines,
)

COURSE_FILE = "labs.yaml"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NotebookText(Strict):
    """Text every lab notebook shares."""

    how_to: str = Field(description="how to work through a notebook and how it is graded")
    carried_intro: str = Field(description="heading of a carried section; {lab} is the lab it comes from")
    submit: str = Field(description="the closing cell")


class ModuleText(Strict):
    intro: str = Field(description="Markdown heading and note of the module's notebook section")
    notes: dict[str, str] = Field(description="function -> its note: the idea, then the classic pitfall")


class Section(Strict):
    """Functions of one exercise module in a lab (all of its functions when `functions` is None)."""

    module: str
    functions: tuple[str, ...] | None = None
    carried_from: str | None = Field(None, description="the lab that teaches these; this lab only needs them")
    intro: str | None = Field(None, description="replaces the module's intro in this lab")


class Lab(Strict):
    number: str = Field(pattern=r"^\d+\.\d+\.\d+$", description='"2.3.1"')
    slug: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", description='"attention-from-scratch"')
    title: str
    intro: str = Field(description="Markdown: what the lab teaches")
    sections: tuple[Section, ...]

    @property
    def filename(self) -> str:
        return f"lab-{self.number}-{self.slug}.ipynb"


class OtterAssignment(Strict):
    """One otter-grader assignment: graded modules, plus modules it builds on (not graded there)."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    modules: tuple[str, ...] = Field(min_length=1)
    builds_on: tuple[str, ...] = ()


class Course(Strict):
    notebook: NotebookText
    modules: dict[str, ModuleText]
    labs: tuple[Lab, ...]
    otter: tuple[OtterAssignment, ...]
    _contract: dict[str, tuple[str, ...]] = PrivateAttr(default_factory=dict)

    def functions(self, module: str) -> tuple[str, ...]:
        """The module's functions, as its stub defines them."""
        return self._contract[module]

    def section_functions(self, section: Section) -> tuple[str, ...]:
        return section.functions if section.functions is not None else self.functions(section.module)

    def lab_functions(self, lab: Lab) -> list[str]:
        """Every `<module>.<function>` that has a stub cell in the lab's notebook."""
        return [f"{s.module}.{f}" for s in lab.sections for f in self.section_functions(s)]

    def note(self, module: str, function: str) -> str:
        return self.modules[module].notes[function]

    def otter_assignment(self, key: str) -> OtterAssignment | None:
        return next((a for a in self.otter if a.key == key), None)


def _contract_errors(course: Course, stubs: dict[str, tuple[str, ...]]) -> list[tuple[tuple[Any, ...], str]]:
    """(location, message) for everything the file says that the stubs contradict."""
    errors: list[tuple[tuple[Any, ...], str]] = []
    for module in stubs:
        if module not in course.modules:
            errors.append((("modules",), f"no intro and notes for module {module} (exercises/__init__.py lists it)"))
    for module, text in course.modules.items():
        if module not in stubs:
            errors.append((("modules", module), f"not an exercise module; expected one of {', '.join(stubs)}"))
            continue
        missing = [f for f in stubs[module] if f not in text.notes]
        if missing:
            errors.append((("modules", module, "notes"),
                           f"no note for {', '.join(missing)} (exercises/{module}.py defines it)"))
        for function in text.notes:
            if function not in stubs[module]:
                errors.append((("modules", module, "notes", function),
                               f"exercises/{module}.py has no public function {function}"))
    taught: dict[str, tuple[Any, ...]] = {}
    numbers: set[str] = set()
    for i, lab in enumerate(course.labs):
        if lab.number in numbers:
            errors.append((("labs", i, "number"), f"lab {lab.number} appears twice"))
        for j, section in enumerate(lab.sections):
            where = ("labs", i, "sections", j)
            if section.module not in stubs:
                errors.append(((*where, "module"), f"not an exercise module; expected one of {', '.join(stubs)}"))
                continue
            if section.carried_from is not None and section.carried_from not in numbers:
                errors.append(((*where, "carried_from"), f"no earlier lab {section.carried_from}"))
            for k, function in enumerate(section.functions or ()):
                if function not in stubs[section.module]:
                    errors.append(((*where, "functions", k),
                                   f"exercises/{section.module}.py has no public function {function}"))
            if section.carried_from is None:
                for function in section.functions if section.functions is not None else stubs[section.module]:
                    qualname = f"{section.module}.{function}"
                    if qualname in taught:
                        errors.append((where, f"{qualname} is already taught by labs[{taught[qualname][1]}]"))
                    taught.setdefault(qualname, where)
        numbers.add(lab.number)
    untaught = [f"{m}.{f}" for m, fs in stubs.items() for f in fs if f"{m}.{f}" not in taught]
    if untaught:
        errors.append((("labs",), f"no lab teaches {', '.join(untaught)} (add it to a section)"))
    graded: dict[str, str] = {}
    for i, assignment in enumerate(course.otter):
        for field in ("modules", "builds_on"):
            for k, module in enumerate(getattr(assignment, field)):
                if module not in stubs:
                    errors.append((("otter", i, field, k),
                                   f"not an exercise module; expected one of {', '.join(stubs)}"))
                elif field == "modules" and module in graded:
                    errors.append((("otter", i, field, k), f"{module} is already graded by {graded[module]}"))
                elif field == "modules":
                    graded[module] = assignment.key
    ungraded = [m for m in stubs if m not in graded]
    if ungraded:
        errors.append((("otter",), f"no otter assignment grades {', '.join(ungraded)}"))
    return errors


def load_course(path: Path | str | None = None, exercises_dir: Path | None = None) -> Course:
    """Read and validate labs.yaml (default: the one beside the project's stubs)."""
    if path is None and exercises_dir is None:
        return _project_course()
    exercises_dir = Path(exercises_dir) if exercises_dir else EXERCISES_DIR
    return _load(Path(path) if path else exercises_dir / COURSE_FILE, exercises_dir)


@lru_cache(maxsize=1)
def _project_course() -> Course:
    return _load(EXERCISES_DIR / COURSE_FILE, EXERCISES_DIR)


def _load(path: Path, exercises_dir: Path) -> Course:
    data, node = load_with_lines(path)
    if not isinstance(data, dict):
        raise YamlError(f"{path}:1: expected a mapping with notebook, modules, labs and otter")
    try:
        course = Course.model_validate(data)
    except ValidationError as exc:
        raise YamlError(format_validation_error(path, node, exc)) from None
    stubs = contract(exercises_dir)
    errors = _contract_errors(course, stubs)
    if errors:
        raise YamlError("\n".join(
            f"{path}:{line_of(node, loc)}: {'.'.join(map(str, loc))}: {message}" for loc, message in errors))
    course._contract = stubs
    return course

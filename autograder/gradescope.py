"""`autograder gradescope OUT.zip`: the instructor's Gradescope autograder bundle.

Gradescope unzips the bundle into ``/autograder/source``, runs ``setup.sh`` once while it builds
the image, then ``run_autograder`` for every submission. The bundle holds::

    setup.sh               bubblewrap (apt), the CPU torch wheel, requirements.txt, the course
    run_autograder         bash: runs gradescope_runner.py with $AUTOGRADER_PYTHON
    gradescope_runner.py   standard library only: picks the submission, runs `autograder grade`,
                           always writes /autograder/results/results.json (score 0 on a crash)
    requirements.txt       the course's runtime dependencies except torch
    course/                pyproject.toml, grading.yaml, autograder/ (suites included),
                           reference/ (mistakes included), exercises/

It is the instructor's private bundle: the reference and the hidden suites are in it. Quizzes
are not (nothing here needs them, and some banks hold graded keys).

``AUTOGRADER_ROOT`` (default ``/autograder``) moves the whole layout, so tests can simulate it.
"""
from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from autograder import __version__, templating

PROJECT_ROOT = Path(__file__).resolve().parent.parent
COURSE_FILES = ("pyproject.toml", "README.md", "grading.yaml")
COURSE_FOLDERS = ("autograder", "reference", "exercises")
SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}
SKIPPED_SUFFIXES = (".pyc", ".pyo")
FIXED_DATE = (2024, 1, 1, 0, 0, 0)  # zip timestamps: the same course gives the same bytes
EXECUTABLE = 0o755
REGULAR = 0o644
GRADING_MARGIN_S = 240  # interpreter start, torch import and suite collection on top of the limit


class BundleError(ValueError):
    """The bundle cannot be built (missing course file, unusable option)."""


@dataclass(frozen=True)
class BundleInfo:
    """What was written, for the CLI's summary line."""

    path: Path
    members: int
    torch_version: str


def installed_torch_version() -> str:
    """The torch release this machine runs, without a local tag: '2.13.0+cpu' -> '2.13.0'."""
    import torch

    return torch.__version__.split("+", 1)[0]


def runtime_requirements(project_root: Path = PROJECT_ROOT) -> list[str]:
    """pyproject's runtime dependencies, torch left out (setup.sh installs the CPU wheel)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    pyproject = project_root / "pyproject.toml"
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BundleError(f"{pyproject}: cannot read the dependencies ({exc})") from None
    dependencies = data.get("project", {}).get("dependencies", [])
    return [d for d in dependencies if re.split(r"[\s<>=!~;\[]", d, maxsplit=1)[0].lower() != "torch"]


def course_files(project_root: Path = PROJECT_ROOT) -> list[Path]:
    """The course files the bundle carries, relative to project_root, sorted."""
    files = []
    for name in COURSE_FILES:
        if not (project_root / name).is_file():
            raise BundleError(f"{project_root / name}: missing (the bundle needs it)")
        files.append(Path(name))
    for folder in COURSE_FOLDERS:
        base = project_root / folder
        if not base.is_dir():
            raise BundleError(f"{base}: missing (the bundle needs it)")
        for path in base.rglob("*"):
            relative = path.relative_to(project_root)
            if path.is_symlink() or not path.is_file() or SKIPPED_PARTS & set(relative.parts):
                continue
            if path.suffix in SKIPPED_SUFFIXES:
                continue
            files.append(relative)
    return sorted(files)


def _render(template: str, **values: object) -> str:
    return templating.CODE.get_template(template).render(grader_version=__version__, **values)


def _add(archive: zipfile.ZipFile, name: str, data: bytes, mode: int = REGULAR) -> None:
    info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
    info.external_attr = (0o100000 | mode) << 16  # a regular file with these permissions
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def build_bundle(
    out_zip: Path,
    *,
    torch_version: str | None = None,
    timeout_s: int | None = None,
    project_root: Path = PROJECT_ROOT,
) -> BundleInfo:
    """Write the Gradescope autograder zip to `out_zip` and describe it."""
    from autograder.config import load_config

    torch_version = torch_version or installed_torch_version()
    if not re.fullmatch(r"\d+(\.\d+){1,2}", torch_version):
        raise BundleError(f"--torch-version {torch_version!r}: expected a release such as 2.13.0")
    if timeout_s is None:
        config = load_config(project_root / "grading.yaml")
        timeout_s = config.limits.submission_timeout_s + GRADING_MARGIN_S
    if timeout_s <= 0:
        raise BundleError(f"--timeout {timeout_s}: expected a positive number of seconds")
    files = course_files(project_root)
    requirements = "".join(f"{r}\n" for r in runtime_requirements(project_root))
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out_zip, "w") as archive:
        _add(archive, "setup.sh", _render("gradescope_setup.sh.j2", torch_version=torch_version).encode(),
             EXECUTABLE)
        _add(archive, "run_autograder", _render("gradescope_run_autograder.sh.j2").encode(), EXECUTABLE)
        _add(archive, "gradescope_runner.py", _render("gradescope_runner.py.j2", timeout_s=timeout_s).encode())
        _add(archive, "requirements.txt", requirements.encode())
        for relative in files:
            _add(archive, f"course/{relative.as_posix()}", (project_root / relative).read_bytes())
    return BundleInfo(out_zip, len(files) + 4, torch_version)

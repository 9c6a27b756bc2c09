"""Generate the disguised class the similarity benchmark (and its tests) run on.

Honest students: the reference and the four authors under `similarity_authors/`, written
independently of each other. Planted copies: each honest student's masks, attention and
transformer modules put through one disguise of `similarity_disguises` (or all of them), with
several random seeds. A pair is *planted* when one member is a copy of the other, *related*
when both are copies of one honest student (copies of each other too, so counted in neither
figure), and *independent* when their roots differ.
"""
from __future__ import annotations

import random
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from similarity_disguises import DISGUISES, all_at_once

BENCH_MODULES = ("masks", "attention", "transformer")
AUTHORS = {"reference": ROOT / "reference", **{
    name: HERE / "similarity_authors" / name for name in ("loops", "vectorised", "helpers", "wrong")}}
ALL = "all disguises at once"


@dataclass(frozen=True)
class Student:
    name: str
    root: str  # the honest author whose code this is
    disguise: str | None  # None for the honest author


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")


def build_class(folder: Path, seeds: int = 3, *, include_all: bool = True) -> list[Student]:
    """Write every submission as a folder under `folder`; returns who is who."""
    folder.mkdir(parents=True, exist_ok=True)
    students = []
    disguises = {**DISGUISES, **({ALL: all_at_once} if include_all else {})}
    for author, source_dir in AUTHORS.items():
        target = folder / author
        target.mkdir(exist_ok=True)
        for module in BENCH_MODULES:
            shutil.copyfile(source_dir / f"{module}.py", target / f"{module}.py")
        students.append(Student(author, author, None))
        for disguise_name, disguise in disguises.items():
            for seed in range(seeds):
                name = f"{author}-{_slug(disguise_name)}-{seed}"
                target = folder / name
                target.mkdir(exist_ok=True)
                rng = random.Random(f"{name}")
                for module in BENCH_MODULES:
                    source = (source_dir / f"{module}.py").read_text(encoding="utf-8")
                    (target / f"{module}.py").write_text(disguise(source, rng), encoding="utf-8")
                students.append(Student(name, author, disguise_name))
    return students


def pair_kind(a: Student, b: Student) -> str:
    if a.root != b.root:
        return "independent"
    if a.disguise is None or b.disguise is None:
        return "planted"
    return "related"

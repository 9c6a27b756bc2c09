"""Generate the disguised class the similarity benchmark (and its tests) run on.

Honest students: the reference and the five authors under `similarity_authors/`, written
independently of each other. Planted copies: each honest student's masks, attention and
transformer modules put through one disguise of `similarity_disguises` (or all of them), with
several random seeds; and, for every function, one honest student's code with that single
function (and the helpers it calls) taken from another author, the module then disguised.

Every submission records the honest author (root) of each function. A pair is *planted* when
one member is a whole copy of the other, *one function* when one member grafted a function of
the other, *independent* when no function has the same root on both sides, and *related*
otherwise (two copies of one author: copies of each other too, so counted in neither figure).
"""
from __future__ import annotations

import ast
import random
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from similarity_disguises import DISGUISES, all_at_once  # noqa: E402

from autograder.contract import contract  # noqa: E402
from autograder.similarity.extract import function_unit, parse_modules  # noqa: E402

BENCH_MODULES = ("masks", "attention", "transformer")
AUTHORS = {"reference": ROOT / "reference", **{
    name: HERE / "similarity_authors" / name for name in ("loops", "vectorised", "helpers", "textbook", "wrong")}}
ALL = "all disguises at once"
FUNCTIONS = [f"{m}.{f}" for m in BENCH_MODULES for f in contract()[m]]


@dataclass(frozen=True)
class Student:
    name: str
    root: str  # the honest author whose code this is (the base, for a graft)
    disguise: str | None  # None for the honest author
    roots: dict[str, str] = field(default_factory=dict, hash=False)  # qualname -> its author
    donor: str | None = None  # a graft: who the one function comes from


def _write(target: Path, sources: dict[str, str]) -> None:
    target.mkdir(exist_ok=True)
    for module, source in sources.items():
        (target / f"{module}.py").write_text(source, encoding="utf-8")


def _sources(author: str) -> dict[str, str]:
    return {m: (AUTHORS[author] / f"{m}.py").read_text(encoding="utf-8") for m in BENCH_MODULES}


def graft(base: dict[str, str], donor: dict[str, str], qualname: str) -> dict[str, str]:
    """`base` with `qualname` replaced by the donor's, its helpers renamed so nothing collides."""
    module, function = qualname.split(".")
    parsed, _ = parse_modules(donor)
    pieces = function_unit(parsed, module, function)
    helpers = {p.node.name for p in pieces[1:]}

    class Suffix(ast.NodeTransformer):
        def visit_Name(self, node):
            node.id = node.id + "_g" if node.id in helpers else node.id
            return node

        def visit_FunctionDef(self, node):
            node.name = node.name + "_g" if node.name in helpers else node.name
            return self.generic_visit(node)

        visit_ClassDef = visit_FunctionDef

    copied = [ast.unparse(Suffix().visit(ast.parse(p.source))) for p in pieces]
    imports = [ast.unparse(n) for p in {p.module for p in pieces} for n in ast.parse(donor[p]).body
               if isinstance(n, ast.Import) or (isinstance(n, ast.ImportFrom) and n.module != "__future__")]
    tree = ast.parse(base[module])
    lines = base[module].splitlines()
    target = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function)
    first_def = next(n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)))
    start = min([target.lineno] + [d.lineno for d in target.decorator_list])
    kept = lines[:start - 1] + lines[target.end_lineno:]
    at = first_def.lineno - 1  # imports before the first definition (after any __future__)
    out = dict(base)
    out[module] = "\n".join(kept[:at] + imports + kept[at:] + [""] + copied) + "\n"
    return out


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")


def build_class(folder: Path, seeds: int = 3, *, include_all: bool = True, grafts: bool = True) -> list[Student]:
    """Write every submission as a folder under `folder`; returns who is who."""
    folder.mkdir(parents=True, exist_ok=True)
    students = []
    disguises = {**DISGUISES, **({ALL: all_at_once} if include_all else {})}
    names = list(AUTHORS)
    for author, source_dir in AUTHORS.items():
        target = folder / author
        target.mkdir(exist_ok=True)
        for module in BENCH_MODULES:
            shutil.copyfile(source_dir / f"{module}.py", target / f"{module}.py")
        students.append(Student(author, author, None, {q: author for q in FUNCTIONS}))
        for disguise_name, disguise in disguises.items():
            for seed in range(seeds):
                name = f"{author}-{_slug(disguise_name)}-{seed}"
                target = folder / name
                target.mkdir(exist_ok=True)
                rng = random.Random(f"{name}")
                for module in BENCH_MODULES:
                    source = (source_dir / f"{module}.py").read_text(encoding="utf-8")
                    (target / f"{module}.py").write_text(disguise(source, rng), encoding="utf-8")
                students.append(Student(name, author, disguise_name, {q: author for q in FUNCTIONS}))
        if not grafts:
            continue
        for index, qualname in enumerate(FUNCTIONS):  # `author` takes one function from a neighbour
            donor = names[(names.index(author) + 1 + index % (len(names) - 1)) % len(names)]
            rng = random.Random(f"graft-{author}-{qualname}")
            disguise_name = rng.choice(sorted(DISGUISES))
            module = qualname.split(".")[0]
            sources = graft(_sources(author), _sources(donor), qualname)
            sources[module] = DISGUISES[disguise_name](sources[module], rng)
            name = f"{author}-takes-{qualname.replace('.', '-')}-from-{donor}"
            _write(folder / name, sources)
            roots = {q: author for q in FUNCTIONS} | {qualname: donor}
            students.append(Student(name, author, disguise_name, roots, donor))
    return students


def pair_kind(a: Student, b: Student) -> str:
    if not any(a.roots[q] == b.roots[q] for q in FUNCTIONS):
        return "independent"
    for x, y in ((a, b), (b, a)):
        if x.disguise is None and y.donor is None and y.root == x.name:
            return "planted"
        if x.disguise is None and y.donor == x.name:
            return "one function"
    return "related"

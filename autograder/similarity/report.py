"""What `autograder similarity` writes: the JSON pairs (pydantic) and the HTML side-by-side report."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from autograder import templating
from autograder.similarity.cluster import clusters
from autograder.similarity.run import SimilarityRun

MAX_PAIRS_SHOWN = 40  # pairs shown side by side in the HTML; the JSON lists every pair
MAX_FUNCTIONS_SHOWN = 6  # the strongest functions of a pair shown side by side


class Pair(BaseModel):
    a: str
    b: str
    score: float = Field(ge=0, le=1, description="size-weighted mean of the function scores")
    functions: dict[str, float] = Field(description="qualname -> score, for the functions both define")
    flagged: bool = Field(description="score or one function's score at or above the threshold")


class Cluster(BaseModel):
    students: list[str]
    functions: list[str] = Field(description="functions scoring above the threshold inside the cluster")


class SimilarityReport(BaseModel):
    """similarity.json: pairs sorted by score, descending."""

    threshold: float
    listed_from: float = Field(description="pairs scoring below this, and not flagged, are left out of `pairs`")
    students: int
    pairs: list[Pair]
    clusters: list[Cluster]
    skipped: dict[str, str] = Field(default_factory=dict, description="student -> why not compared")


def build_report(run: SimilarityRun, threshold: float) -> SimilarityReport:
    c = run.comparison
    listed_from = threshold / 2
    pairs = []
    n = len(c.students)
    best = np.max(np.stack(list(c.function_scores.values())), axis=0) if c.function_scores else c.score
    for i in range(n):
        for j in range(i + 1, n):
            score = float(c.score[i, j])
            if score < listed_from and best[i, j] < threshold:
                continue
            functions = {q: round(float(s[i, j]), 3) for q, s in c.function_scores.items()
                         if c.evidence[q][i] is not None and c.evidence[q][j] is not None}
            a, b = sorted((c.students[i], c.students[j]))
            pairs.append(Pair(a=a, b=b, score=round(score, 3),
                              functions=dict(sorted(functions.items(), key=lambda kv: -kv[1])),
                              flagged=bool(score >= threshold or best[i, j] >= threshold)))
    pairs.sort(key=lambda p: (-p.score, p.a, p.b))
    flagged = [p for p in pairs if p.flagged]
    groups = []
    for members in clusters(c.students, [(p.a, p.b) for p in flagged]):
        inside = set(members)
        functions = sorted({q for p in flagged if p.a in inside for q, s in p.functions.items() if s >= threshold})
        groups.append(Cluster(students=members, functions=functions))
    return SimilarityReport(threshold=threshold, listed_from=listed_from, students=n, pairs=pairs,
                            clusters=groups, skipped=run.skipped)


def write_json(report: SimilarityReport, path: Path) -> None:
    path.write_text(report.model_dump_json(indent=1) + "\n", encoding="utf-8")


def _side(text: str, lines: set[int]) -> list[tuple[str, bool]]:
    return [(line, number in lines) for number, line in enumerate(text.splitlines())]


def side_by_side(run: SimilarityRun, pair: Pair, threshold: float) -> list[dict]:
    """For each function of the pair worth reading: both codes, matched lines highlighted."""
    c = run.comparison
    index = {name: i for i, name in enumerate(c.students)}
    i, j = index[pair.a], index[pair.b]
    sections = []
    strong = [(q, s) for q, s in pair.functions.items() if s >= threshold] or list(pair.functions.items())[:1]
    for qualname, score in strong[:MAX_FUNCTIONS_SHOWN]:
        shared = c.shared(qualname, i, j)
        left, right = c.prints[i].functions[qualname], c.prints[j].functions[qualname]
        sections.append({"qualname": qualname, "score": score,
                         "left": _side(left.text, left.lines_of(shared)),
                         "right": _side(right.text, right.lines_of(shared))})
    return sections, len(strong) - len(sections)




def render_html(run: SimilarityRun, report: SimilarityReport, *, title: str = "Similarity") -> str:
    flagged = [p for p in report.pairs if p.flagged]
    shown = flagged[:MAX_PAIRS_SHOWN]
    details = [(p, *side_by_side(run, p, report.threshold)) for p in shown]
    return templating.HTML.get_template("similarity.html.j2").render(
        title=title, report=report, flagged=flagged, details=details, notes=run.notes,
        more=len(flagged) - len(shown),
    )


def write_html(run: SimilarityRun, report: SimilarityReport, path: Path) -> None:
    path.write_text(render_html(run, report), encoding="utf-8")

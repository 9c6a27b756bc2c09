"""Item analysis of scored quiz responses (`quiz stats`).

Input is one row per (student, question): points scored, points possible and, for choice
questions, which options the student picked. From the student x question score matrix

    s[i, j]  points of student i on item j,   m[j]  points possible on item j,
    T[i] = sum_j s[i, j]                      total score of student i,

we report, per item:

- difficulty  p_j = mean_i s[i, j] / m[j]   (the "p-value": share of the points earned;
  high = easy). Example: scores 1, 0, 1, 1 out of 1 -> p = 0.75.
- corrected point-biserial  r_j = corr_i( s[i, j] / m[j],  T[i] - s[i, j] ), the Pearson
  correlation of the item with the *rest* of the test, so the item does not correlate with
  itself. For a 0/1 item this is exactly the point-biserial coefficient. Undefined (None)
  when the item or the rest score is constant.
- distractor analysis: students ranked by T, the top and bottom 27% (Kelley's groups,
  at least one student each); for each option the share of each group that picked it. A good
  key is picked more by the upper group, a good distractor more by the lower group.

and, for the quiz,

- KR-20 = k/(k-1) * (1 - sum_j p_j q_j / var(X)), on items *dichotomised at full marks*
  (x[i, j] = 1 iff s[i, j] = m[j]; partial credit counts as wrong), p_j = mean_i x[i, j],
  q_j = 1 - p_j, X[i] = sum_j x[i, j]; var is the population variance (divide by N), the
  convention under which p q is the variance of a 0/1 item.
  Example: items x = [[1,1],[1,0],[0,0]] -> p = (2/3, 1/3), sum pq = 4/9,
  X = (2, 1, 0), var X = 2/3, KR-20 = 2 * (1 - (4/9)/(2/3)) = 2/3.
- Cronbach's alpha on the raw points (the same formula with var(s_j) for p_j q_j), which
  uses the partial credit that KR-20 throws away.

A student with no row for a question is counted as 0 points on it (not answered); the
report says how many such cells were filled in.

This module computes the statistics; quizzes/stats_responses.py reads the responses files and
quizzes/stats_report.py prints and renders the report.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from quizzes.stats_responses import Response, ResponsesError

# Kelley (1939): 27% upper/lower groups maximise the difference while keeping groups large.
GROUP_FRACTION = 0.27
# Thresholds for the "flag" column; conventional rules of thumb, not hard limits.
EASY_ABOVE, HARD_BELOW, WEAK_DISCRIMINATION = 0.90, 0.20, 0.20
NO_ANSWER = "(no answer)"


# ---------------------------------------------------------------------------- small maths


def mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def pvariance(xs: Sequence[float]) -> float:
    """Population variance (divide by N)."""
    mu = mean(xs)
    return sum((x - mu) ** 2 for x in xs) / len(xs)


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson correlation; None when either side is constant (the correlation is undefined)."""
    mx, my = mean(xs), mean(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    # Relative tolerance: float noise on a constant column must not give a huge spurious r.
    if sxx <= 1e-12 * max(1.0, mx * mx) * len(xs) or syy <= 1e-12 * max(1.0, my * my) * len(ys):
        return None
    return sxy / math.sqrt(sxx * syy)


def kr20(items: Sequence[Sequence[int]]) -> float | None:
    """KR-20 of a 0/1 matrix items[student][item]; None if k < 2 or the totals are constant."""
    if not items or len(items[0]) < 2:
        return None
    k = len(items[0])
    totals = [sum(row) for row in items]
    var_total = pvariance(totals)
    if var_total == 0:
        return None
    sum_pq = 0.0
    for j in range(k):
        p = mean([row[j] for row in items])
        sum_pq += p * (1 - p)
    return k / (k - 1) * (1 - sum_pq / var_total)


def cronbach_alpha(scores: Sequence[Sequence[float]]) -> float | None:
    """Cronbach's alpha of a score matrix scores[student][item]; None if k < 2 or totals constant."""
    if not scores or len(scores[0]) < 2:
        return None
    k = len(scores[0])
    var_total = pvariance([sum(row) for row in scores])
    if var_total == 0:
        return None
    sum_var = sum(pvariance([row[j] for row in scores]) for j in range(k))
    return k / (k - 1) * (1 - sum_var / var_total)


def group_size(n_students: int) -> int:
    """Size of each of the upper/lower groups: round(27% of N), at least 1."""
    return max(1, int(math.floor(GROUP_FRACTION * n_students + 0.5)))


# ---------------------------------------------------------------------------- results


@dataclass
class OptionStats:
    option: str
    upper: float  # share of the upper group that picked it
    lower: float
    overall: float

    @property
    def discrimination(self) -> float:
        """upper - lower: positive for a working key, negative for a working distractor."""
        return self.upper - self.lower


@dataclass
class ItemStats:
    question: str
    max_score: float
    difficulty: float
    discrimination: float | None  # corrected point-biserial
    full_marks: float  # share of students with full marks (the dichotomised p_j)
    partial: bool  # some score strictly between 0 and max: dichotomised for KR-20
    options: list[OptionStats] = field(default_factory=list)

    @property
    def flags(self) -> list[str]:
        out = []
        if self.difficulty > EASY_ABOVE:
            out.append("very easy")
        if self.difficulty < HARD_BELOW:
            out.append("very hard")
        if self.discrimination is None:
            out.append("no variance")
        elif self.discrimination < 0:
            out.append("negative discrimination")
        elif self.discrimination < WEAK_DISCRIMINATION:
            out.append("weak discrimination")
        return out


@dataclass
class QuizStats:
    students: list[str]
    totals: list[float]
    max_total: float
    items: list[ItemStats]
    kr20: float | None
    alpha: float | None
    group_size: int
    filled_missing: int  # (student, question) cells with no row, counted as 0
    notes: list[str] = field(default_factory=list)

    @property
    def n_students(self) -> int:
        return len(self.students)

    @property
    def mean_total(self) -> float:
        return mean(self.totals)

    @property
    def sd_total(self) -> float:
        return math.sqrt(pvariance(self.totals))


# ---------------------------------------------------------------------------- analysis


def analyse(responses: Iterable[Response]) -> QuizStats:
    """Compute every statistic from scored responses (see the module docstring for formulas)."""
    rows = list(responses)
    if not rows:
        raise ResponsesError("no responses: expected at least one (student, question) row")
    students: set[str] = set()
    questions: list[str] = []
    max_score: dict[str, Response] = {}
    cell: dict[tuple[str, str], Response] = {}
    for r in rows:
        students.add(r.student)
        if r.question not in max_score:
            questions.append(r.question)
            max_score[r.question] = r
        elif max_score[r.question].max_score != r.max_score:
            first = max_score[r.question]
            raise ResponsesError(
                f"{r.where}: question {r.question!r} has max_score {r.max_score:g}, "
                f"expected {first.max_score:g} as at {first.where}"
            )
        key = (r.student, r.question)
        if key in cell:
            raise ResponsesError(
                f"{r.where}: second row for student {r.student!r}, question {r.question!r} "
                f"(first at {cell[key].where}); expected one row per pair"
            )
        cell[key] = r
    students_sorted = sorted(students)
    m = [max_score[q].max_score for q in questions]
    # scores[i][j]: points of student i on question j (missing = 0, not answered)
    scores = [[cell[(s, q)].score if (s, q) in cell else 0.0 for q in questions] for s in students_sorted]
    filled = len(students_sorted) * len(questions) - len(cell)
    totals = [sum(row) for row in scores]
    full = [[1 if scores[i][j] >= m[j] - 1e-9 else 0 for j in range(len(questions))] for i in range(len(scores))]

    # Upper/lower groups by total; ties broken by student id so the report is reproducible.
    n_g = group_size(len(students_sorted))
    ranked = sorted(range(len(students_sorted)), key=lambda i: (-totals[i], students_sorted[i]))
    upper, lower = ranked[:n_g], ranked[-n_g:]

    items = []
    for j, q in enumerate(questions):
        prop = [scores[i][j] / m[j] for i in range(len(scores))]
        rest = [totals[i] - scores[i][j] for i in range(len(scores))]
        items.append(
            ItemStats(
                question=q,
                max_score=m[j],
                difficulty=mean(prop),
                discrimination=pearson(prop, rest),
                full_marks=mean([row[j] for row in full]),
                partial=any(0 < scores[i][j] < m[j] for i in range(len(scores))),
                options=_options(q, students_sorted, cell, upper, lower),
            )
        )
    notes = []
    if any(it.partial for it in items):
        notes.append("KR-20 dichotomises partial scores at full marks (partial credit counts as 0); "
                     "Cronbach's alpha uses the raw points.")
    if filled:
        notes.append(f"{filled} (student, question) pair(s) had no row and count as 0 points.")
    if 2 * n_g > len(students_sorted):
        notes.append(f"Only {len(students_sorted)} student(s): the upper and lower groups overlap.")
    return QuizStats(
        students=students_sorted,
        totals=totals,
        max_total=sum(m),
        items=items,
        kr20=kr20(full),
        alpha=cronbach_alpha(scores),
        group_size=n_g,
        filled_missing=filled,
        notes=notes,
    )


def _options(q: str, students: list[str], cell: dict, upper: list[int], lower: list[int]) -> list[OptionStats]:
    """Share of each group choosing each option of question q; [] if q has no choice data."""
    picks: list[tuple[str, ...]] = []
    has_choice = False
    for s in students:
        r = cell.get((s, q))
        if r is not None and r.choice is not None:
            has_choice = True
            picks.append(r.choice or (NO_ANSWER,))
        else:
            picks.append((NO_ANSWER,))
    if not has_choice:
        return []
    options = sorted({o for p in picks for o in p}, key=lambda o: (o == NO_ANSWER, o))

    def share(group: Sequence[int], option: str) -> float:
        return sum(option in picks[i] for i in group) / len(group)

    everyone = range(len(students))
    return [OptionStats(o, share(upper, o), share(lower, o), share(everyone, o)) for o in options]

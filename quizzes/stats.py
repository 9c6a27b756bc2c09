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
"""
from __future__ import annotations

import base64
import csv
import io
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Kelley (1939): 27% upper/lower groups maximise the difference while keeping groups large.
GROUP_FRACTION = 0.27
# Thresholds for the "flag" column; conventional rules of thumb, not hard limits.
EASY_ABOVE, HARD_BELOW, WEAK_DISCRIMINATION = 0.90, 0.20, 0.20
NO_ANSWER = "(no answer)"


class ResponsesError(ValueError):
    """Bad responses file: the message names the file, the line or record, and what was expected."""


@dataclass(frozen=True)
class Response:
    """One scored answer. `choice` is the options picked (choice texts), None if not a choice item."""

    student: str
    question: str
    score: float
    max_score: float
    choice: tuple[str, ...] | None = None
    where: str = ""  # "file:line" for error messages


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


# ---------------------------------------------------------------------------- loading


ChoiceResolver = Callable[[str, str, str, Any], "tuple[str, ...] | None"]


def load_responses(path: str | Path, quiz: str | None = None, choices: ChoiceResolver | None = None) -> list[Response]:
    """Read scored responses.

    - CSV with header ``student,question,score,max_score[,choice]``; a choice cell may hold
      several options separated by ``|``. Use choice *texts*: letters are shuffled per student.
    - JSON written by ``quiz score --out``: a list of ``{student, quiz, score, max_score,
      questions: [{question, answer, score, max_score, ...}]}``. With several quizzes in
      the file, ``quiz`` picks one. ``choices(student, quiz, question, answer)`` turns a raw
      answer (letters of the student's variant) into the option texts picked; see
      :func:`bank_choices`.
    - JSON list of flat records ``{student, question, score, max_score[, choice]}``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: spreadsheets write a BOM
    except (OSError, UnicodeDecodeError) as exc:
        raise ResponsesError(f"{path}: cannot read responses file ({exc})") from exc
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("{", "[")):
        return _load_json(path, text, quiz, choices)
    if quiz is not None:
        raise ResponsesError(f"{path}: a CSV of scored responses holds one quiz; --quiz is for `quiz score --out` JSON")
    return _load_csv(path, text)


def bank_choices(banks: dict) -> ChoiceResolver:
    """A resolver from raw answers to picked option texts, by re-presenting the student's
    variant and re-scoring (quizzes.scoring reports which displayed choices were picked).
    single/multiple: the picked choice texts; truefalse: "true"/"false"; others: None."""
    from quizzes.loader import find_question
    from quizzes.scoring import score
    from quizzes.variants import present

    def resolve(student: str, quiz: str, question_id: str, answer: Any) -> tuple[str, ...] | None:
        try:
            question = find_question(banks, question_id)
        except KeyError:
            return None
        if question.type == "truefalse":
            result = score(question, present(question, student, quiz), answer)
            if result.error:
                return ()
            return (str(question.answer if result.correct else not question.answer).lower(),)
        if question.type not in ("single", "multiple"):
            return None
        result = score(question, present(question, student, quiz), answer)
        return tuple(c.text for c in result.choices if c.picked)

    return resolve


def _number(value: Any, where: str, column: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ResponsesError(f"{where}: {column} is {value!r}, expected a number") from None
    if not math.isfinite(x):
        raise ResponsesError(f"{where}: {column} is {value!r}, expected a finite number")
    return x


def _make(student: Any, question: Any, score: Any, max_score: Any, choice: Any, where: str) -> Response:
    if not student or not str(student).strip():
        raise ResponsesError(f"{where}: student is empty, expected a student id")
    if not question or not str(question).strip():
        raise ResponsesError(f"{where}: question is empty, expected a question id")
    s, m = _number(score, where, "score"), _number(max_score, where, "max_score")
    if m <= 0:
        raise ResponsesError(f"{where}: max_score is {m:g}, expected > 0")
    if not 0 <= s <= m + 1e-9:
        raise ResponsesError(f"{where}: score is {s:g}, expected between 0 and max_score {m:g}")
    if choice is None or choice == "":
        picked = None
    elif isinstance(choice, str):
        picked = tuple(c.strip() for c in choice.split("|") if c.strip())
    elif isinstance(choice, (list, tuple)):
        picked = tuple(str(c) for c in choice)
    else:
        picked = (str(choice),)
    return Response(str(student).strip(), str(question).strip(), s, m, picked, where)


CSV_COLUMNS = ("student", "question", "score", "max_score")


def _load_csv(path: Path, text: str) -> list[Response]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise ResponsesError(f"{path}:1: empty file, expected a header student,question,score,max_score[,choice]")
    header = [h.strip().lower() for h in header]
    if tuple(header[:4]) != CSV_COLUMNS or len(header) > 5 or (len(header) == 5 and header[4] != "choice"):
        raise ResponsesError(
            f"{path}:1: header is {','.join(header)!r}, expected 'student,question,score,max_score[,choice]'"
        )
    out = []
    for line_no, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        where = f"{path}:{line_no}"
        if len(row) not in (4, 5) or len(row) > len(header):
            raise ResponsesError(f"{where}: {len(row)} columns, expected {len(header)} ({','.join(header)})")
        choice = row[4] if len(row) == 5 else None
        out.append(_make(row[0], row[1], row[2], row[3], choice, where))
    return out


def _load_json(path: Path, text: str, quiz: str | None, choices: ChoiceResolver | None) -> list[Response]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResponsesError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise ResponsesError(f"{path}: top level is {type(data).__name__}, expected a list "
                             "(as `quiz score --out` writes, or flat response records)")
    if data and all(isinstance(rec, dict) and "questions" in rec for rec in data):
        return _score_out_records(path, data, quiz, choices)
    if quiz is not None:
        raise ResponsesError(f"{path}: flat response records have no quiz; --quiz is for `quiz score --out` JSON")
    out = []
    for n, rec in enumerate(data):
        where = f"{path}: record {n}"
        if not isinstance(rec, dict):
            raise ResponsesError(f"{where}: is {type(rec).__name__}, expected an object")
        missing = [k for k in CSV_COLUMNS if k not in rec]
        if missing:
            raise ResponsesError(f"{where}: missing {', '.join(missing)}; expected keys "
                                 f"{', '.join(CSV_COLUMNS)}[, choice], or the output of `quiz score --out`")
        out.append(_make(rec["student"], rec["question"], rec["score"], rec["max_score"], rec.get("choice"), where))
    return out


def _score_out_records(path: Path, data: list, quiz: str | None, choices: ChoiceResolver | None) -> list[Response]:
    """Flatten `quiz score --out` (one entry per student and quiz) for one quiz."""
    quizzes = sorted({str(entry.get("quiz")) for entry in data})
    if quiz is None:
        if len(quizzes) > 1:
            raise ResponsesError(f"{path}: responses for {len(quizzes)} quizzes ({', '.join(quizzes)}); "
                                 "pick one with --quiz")
        quiz = quizzes[0]
    elif quiz not in quizzes:
        raise ResponsesError(f"{path}: no responses for quiz {quiz!r}; the file has {', '.join(quizzes)}")
    out = []
    for n, entry in enumerate(data):
        if str(entry.get("quiz")) != quiz:
            continue
        student = entry.get("student")
        if not isinstance(entry["questions"], list):
            kind = type(entry["questions"]).__name__
            raise ResponsesError(f"{path}: entry {n}: questions is {kind}, expected a list")
        for k, q in enumerate(entry["questions"]):
            where = f"{path}: entry {n} ({student}, {quiz}) question {k}"
            if not isinstance(q, dict) or any(key not in q for key in ("question", "score", "max_score")):
                raise ResponsesError(f"{where}: expected an object with question, score, max_score")
            picked = choices(str(student), quiz, str(q["question"]), q.get("answer")) if choices else None
            out.append(_make(student, q["question"], q["score"], q["max_score"],
                             list(picked) if picked is not None else None, where))
    return out


# ---------------------------------------------------------------------------- output


def _fmt(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def print_report(stats: QuizStats, console=None) -> None:
    """Rich tables: one row per item, then the distractor tables."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console(width=max(100, Console().width))  # ids and choices need room
    table = Table(title=f"Item analysis — {stats.n_students} students, {len(stats.items)} items")
    for col, just in [("Question", "left"), ("Max", "right"), ("Difficulty p", "right"),
                      ("Discrimination r", "right"), ("Full marks", "right"), ("Flags", "left")]:
        table.add_column(col, justify=just)
    for it in stats.items:
        table.add_row(it.question, f"{it.max_score:g}", _fmt(it.difficulty), _fmt(it.discrimination),
                      _fmt(it.full_marks), ", ".join(it.flags))
    console.print(table)
    console.print(
        f"Total: mean {stats.mean_total:.2f} / {stats.max_total:g}, sd {stats.sd_total:.2f}; "
        f"KR-20 {_fmt(stats.kr20)} (items scored 1 at full marks, else 0); Cronbach's alpha {_fmt(stats.alpha)}"
    )
    for note in stats.notes:
        console.print(f"[dim]Note: {note}[/dim]")
    for it in stats.items:
        if not it.options:
            continue
        t = Table(title=f"Distractors — {it.question} (groups of {stats.group_size})")
        for col in ("Option", "Upper 27%", "Lower 27%", "Upper − lower", "All"):
            t.add_column(col, justify="left" if col == "Option" else "right")
        for o in it.options:
            t.add_row(o.option, _fmt(o.upper), _fmt(o.lower), f"{o.discrimination:+.2f}", _fmt(o.overall))
        console.print(t)


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def plots(stats: QuizStats) -> dict[str, str]:
    """Base64 PNGs: difficulty vs discrimination scatter and the total-score histogram."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers / CI
    import matplotlib.pyplot as plt

    out = {}
    fig, ax = plt.subplots(figsize=(6, 4))
    pts = [(it.difficulty, it.discrimination, it.question) for it in stats.items if it.discrimination is not None]
    ax.scatter([p[0] for p in pts], [p[1] for p in pts], color="#1f6feb")
    for x, y, label in pts:
        ax.annotate(label, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.axhline(WEAK_DISCRIMINATION, color="grey", ls="--", lw=0.8)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-1.02, 1.02)
    ax.set_xlabel("difficulty p (share of points earned)")
    ax.set_ylabel("corrected point-biserial r")
    ax.set_title("Difficulty vs discrimination")
    out["scatter"] = _png(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(stats.totals, bins=min(20, max(5, len(set(stats.totals)))), range=(0, stats.max_total),
            color="#2da44e", edgecolor="white")
    ax.set_xlabel(f"total score (max {stats.max_total:g})")
    ax.set_ylabel("students")
    ax.set_title("Score distribution")
    out["histogram"] = _png(fig)
    plt.close(fig)
    return out


def render_html(stats: QuizStats, title: str = "Quiz item analysis") -> str:
    """The HTML report (template stats_report.html.j2, autoescaped) with embedded plots."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("quizzes", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
    )
    env.filters["fmt"] = _fmt
    return env.get_template("stats_report.html.j2").render(
        stats=stats, title=title, images=plots(stats), group_percent=round(GROUP_FRACTION * 100)
    )

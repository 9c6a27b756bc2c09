"""Cue audit: can a test-taking trick, used without knowing the topic, beat a random guess?

Every strategy answers the variants of ``STUDENTS`` simulated students (``present``, the real
shuffles) and is scored by :func:`quizzes.scoring.score`, so the figures are what a learner
using the trick would get. Chance level is the expected score of a uniformly random answer of
the same form, per question type:

========== ======================= =========================================================
type       strategy                chance level (per question, averaged over the bank)
========== ======================= =========================================================
single     longest option          mean score of the options = 1/N (plus any ``credit``)
single     second longest, second  1/N, as above: rewriting distractors to be longer than
           shortest, shortest      the key must not just move the key to another length rank
single     most / fewest words     1/N, as above (distractors that echo the prompt must not
           shared with the prompt  turn "avoid the echo" into the cue)
single     first option shown      1/N, as above (the shuffle's own check)
multiple   tick all                **0**: the target is zero, not chance (see below)
ordering   shown order             E[LIS of a random order] / n: 2/3, 0.604, 0.558, 0.523,
                                   0.495 for n = 3..7 (exact, by enumeration); orderings are
                                   shown with runs of at most ceil(sqrt(n)) either way
                                   (quizzes/variants.py), so this stays at or below chance
ordering   reversed shown order    the same
matching   words shared by a left  share of the right options each left may pick: 1/R
           and a right option
truefalse  always true / false     1/2
========== ======================= =========================================================

Margins. A bank passes when every strategy's mean is at most chance + ``max(0.10, 1/k)``,
k being the number of questions the strategy applies to in that bank (one question more than
chance in a small bank is noise, not a cue), and all banks pooled stay within chance + 0.05.
"Tick all" must earn exactly 0 on every multiple-select question: scoring is
``net_correct`` = max(0, (cp - wp) / C) (right ticks minus wrong ticks over the C right
options, as Canvas and Moodle grade it), so each question needs at least as many wrong
options as right ones (the other schemes give 0 as soon as one wrong option is ticked).

Two more checks, per question:

- a quiz page (one topic's variant as presented: title, description, every prompt and every
  displayed option) must not contain another question's answer verbatim: an accepted text
  answer, or a single- or multiple-choice key when none of that question's wrong options is on
  the page too (compared casefolded, whole words, answers of 3 characters or more);
- a matching question must not be solvable by pairing repeated words: the shared-words
  strategy may find at most one pair more than chance would.

``quiz audit`` prints these figures per bank (:func:`audit_banks`, :func:`print_audit`).
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from quizzes.model import AnyQuestion, Bank
from quizzes.scoring import score_presented
from quizzes.variants import Presented, longest_increasing, present

STUDENTS = 48  # simulated students per question: enough to average every shuffle's ties
BANK_MARGIN = 0.10  # a bank's strategy mean may exceed chance by max(BANK_MARGIN, 1/k)
POOLED_MARGIN = 0.05  # over all banks together
MIN_LEAK_CHARS = 3  # shorter answers ("no", "2") are not looked for in other prompts

STRATEGIES = {  # name: (question type, label)
    "longest": ("single", "longest option"),
    "second_longest": ("single", "2nd longest option"),
    "second_shortest": ("single", "2nd shortest option"),
    "shortest": ("single", "shortest option"),
    "overlap": ("single", "most prompt words"),
    "underlap": ("single", "fewest prompt words"),
    "first": ("single", "first option shown"),
    "tick_all": ("multiple", "tick all"),
    "shown_order": ("ordering", "shown order"),
    "reversed_order": ("ordering", "reversed order"),
    "word_match": ("matching", "repeated words"),
    "always_true": ("truefalse", "always true"),
    "always_false": ("truefalse", "always false"),
}

_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
STOP_WORDS = frozenset(
    "a an and are as at be by can do does for from has have how if in into is it its of on "
    "one or so that the their them then there these this to was what when which while who "
    "why will with you your not no all each than only".split()
)


def content_words(text: str) -> set[str]:
    """Casefolded words of ``text`` less stop words (one letter counts: "k" in "width k" and
    "O(n/k)" is the kind of echo a guesser pairs); a trailing plural ``s`` is dropped so
    "head" and "heads" count as shared.

    >>> sorted(content_words("The heads attend to the Keys, width k"))
    ['attend', 'head', 'k', 'key', 'width']
    """
    words = set()
    for word in _WORD.findall(text.casefold()):
        if word in STOP_WORDS:
            continue
        words.add(word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word)
    return words


@lru_cache(maxsize=16)
def ordering_chance(n: int) -> float:
    """Expected LCS(answer, key) / n of a uniformly random order of ``n`` items (exact).

    >>> ordering_chance(3)  # LIS 1, 2, 2, 2, 2, 3 over the six orders of three items
    0.6666666666666666
    """
    perms = list(itertools.permutations(range(n)))
    return sum(longest_increasing(list(p)) for p in perms) / (len(perms) * n)


@dataclass
class StrategyFigure:
    """One strategy on one bank: mean score and mean chance (fractions of the points) over
    the ``questions`` it applies to, and the bound it must stay under."""

    strategy: str
    questions: int
    score: float
    chance: float
    bound: float

    @property
    def ok(self) -> bool:
        return self.score <= self.bound + 1e-9


@dataclass
class BankAudit:
    topic: str
    figures: dict[str, StrategyFigure] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # one line per failed check
    # strategy -> question id -> (mean score, mean chance)
    per_question: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems and all(f.ok for f in self.figures.values())


def _fraction(p: Presented, answer) -> float:
    result = score_presented(p, answer)
    return result.fraction


def _pick_max(options, key) -> str:
    """Letter of the first shown option with the largest ``key`` (a test-taker reads top down)."""
    best = max(key(o) for o in options)
    return next(o.letter for o in options if key(o) == best)


def _single_chance(p: Presented) -> float:
    return sum(_fraction(p, o.letter) for o in p.options) / len(p.options)


def _word_match_answer(p: Presented) -> dict[str, str]:
    """Each left, top down, takes the unused right option sharing most words with it (by
    elimination, as a test-taker does); with nothing shared, the first unused one."""
    answer, free = {}, list(p.options)
    for n, left in enumerate(p.lefts, 1):
        words = content_words(left)
        pool = free or list(p.options)  # more lefts than rights: two lefts share a right
        letter = _pick_max(pool, lambda o, w=words: len(w & content_words(o.text)))
        answer[str(n)] = letter
        free = [o for o in free if o.letter != letter]
    return answer


def question_strategies(p: Presented) -> dict[str, tuple[float, float]]:
    """{strategy: (score, chance)} for the strategies that apply to ``p``'s type."""
    kind = p.type
    if kind == "single":
        chance = _single_chance(p)
        prompt_words = content_words(p.prompt)
        overlap = _pick_max(p.options, lambda o: len(prompt_words & content_words(o.text)))
        underlap = _pick_max(p.options, lambda o: -len(prompt_words & content_words(o.text)))
        by_length = sorted(p.options, key=lambda o: -len(o.text))  # stable: ties in shown order
        last = len(by_length) - 1
        return {
            "longest": (_fraction(p, by_length[0].letter), chance),
            "second_longest": (_fraction(p, by_length[min(1, last)].letter), chance),
            "second_shortest": (_fraction(p, by_length[max(0, last - 1)].letter), chance),
            "shortest": (_fraction(p, by_length[last].letter), chance),
            "overlap": (_fraction(p, overlap), chance),
            "underlap": (_fraction(p, underlap), chance),
            "first": (_fraction(p, p.options[0].letter), chance),
        }
    if kind == "multiple":
        return {"tick_all": (_fraction(p, [o.letter for o in p.options]), 0.0)}
    if kind == "ordering":
        letters = [o.letter for o in p.options]
        chance = ordering_chance(len(letters))
        return {"shown_order": (_fraction(p, letters), chance), "reversed_order": (_fraction(p, letters[::-1]), chance)}
    if kind == "matching":
        return {"word_match": (_fraction(p, _word_match_answer(p)), 1 / len(p.options))}
    if kind == "truefalse":
        return {"always_true": (_fraction(p, True), 0.5), "always_false": (_fraction(p, False), 0.5)}
    return {}


def _answers(question: AnyQuestion) -> tuple[list[str], list[str]]:
    """(texts that give ``question`` away when seen elsewhere on its page, its wrong options).
    A choice key is only given away when none of its wrong options is on the page too: a page
    naming RoPE and ALiBi does not say which of them is the answer."""
    if question.type in ("single", "multiple"):
        return [c.text for c in question.choices if c.correct], [c.text for c in question.choices if not c.correct]
    if question.type == "text":
        return list(question.accept), []
    return [], []


def _found(text: str, needle: str) -> bool:
    needle = _normal(needle)
    return len(needle) >= MIN_LEAK_CHARS and re.search(rf"(?<![\w-]){re.escape(needle)}(?![\w-])", text) is not None


def _normal(text: str) -> str:
    return " ".join(text.casefold().split())


def page_leaks(bank: Bank, page: list[Presented]) -> list[str]:
    """One line per answer of one question found verbatim in the header or in another question's
    prompt or options (ordering items and matching columns included)."""
    header = _normal(f"{bank.title}\n{bank.description}")
    shown = [(p.id, _normal(p.prompt), [_normal(o.text) for o in p.options] + [_normal(x) for x in p.lefts])
             for p in page]
    leaks = []
    for question in bank.questions:
        answers, wrong = _answers(question)
        texts = [("the quiz header", header)]
        for qid, prompt, options in shown:
            if qid != question.id:
                texts += [(f"the prompt of {qid}", prompt)] + [(f"an option of {qid}", o) for o in options]
        if any(_found(text, option) for _, text in texts for option in wrong):
            continue
        for answer in answers:
            where = list(dict.fromkeys(name for name, text in texts if _found(text, answer)))
            if where:
                leaks.append(f"{question.id}: answer {answer!r} appears in {', '.join(where)}")
    return leaks


def _bound(chance: float, k: int) -> float:
    return min(1.0, chance + max(BANK_MARGIN, 1 / k))


def audit_bank(bank: Bank, students: int = STUDENTS) -> BankAudit:
    """Every strategy and check on one bank (``students`` simulated variants per question)."""
    audit = BankAudit(bank.topic)
    pages = [[present(q, f"audit-{i}", bank.topic) for q in bank.questions] for i in range(students)]
    for column, question in enumerate(bank.questions):
        sums: dict[str, list[float]] = {}
        for page in pages:
            for name, (got, chance) in question_strategies(page[column]).items():
                acc = sums.setdefault(name, [0.0, 0.0])
                acc[0] += got
                acc[1] += chance
        for name, (got, chance) in sums.items():
            audit.per_question.setdefault(name, {})[question.id] = (got / students, chance / students)
    for name, by_question in audit.per_question.items():
        k = len(by_question)
        got = sum(s for s, _ in by_question.values()) / k
        chance = sum(c for _, c in by_question.values()) / k
        bound = 0.0 if name == "tick_all" else _bound(chance, k)
        audit.figures[name] = StrategyFigure(name, k, got, chance, bound)
    for qid, (got, _) in audit.per_question.get("tick_all", {}).items():
        if got > 0:
            audit.problems.append(f"{qid}: ticking every option earns {got:.0%} (needs as many wrong options as right)")
    for question in bank.questions:
        if question.type == "matching":
            got, chance = audit.per_question["word_match"][question.id]
            if got > chance + 1 / len(question.pairs) + 1e-9:
                audit.problems.append(
                    f"{question.id}: pairing repeated words scores {got:.0%} (chance {chance:.0%})")
    leaks = dict.fromkeys(line for page in pages[:4] for line in page_leaks(bank, page))
    audit.problems.extend(leaks)
    for figure in audit.figures.values():
        if not figure.ok:
            audit.problems.append(
                f"strategy '{STRATEGIES[figure.strategy][1]}' scores {figure.score:.0%} on {figure.questions} "
                f"{STRATEGIES[figure.strategy][0]} question(s), above {figure.bound:.0%} (chance {figure.chance:.0%})")
    return audit


def pooled(audits: Iterable[BankAudit]) -> dict[str, StrategyFigure]:
    """Each strategy over all banks together (question-weighted), bound chance + POOLED_MARGIN
    (0 for tick all)."""
    totals: dict[str, list[float]] = {}
    for audit in audits:
        for name, by_question in audit.per_question.items():
            acc = totals.setdefault(name, [0, 0.0, 0.0])
            acc[0] += len(by_question)
            acc[1] += sum(s for s, _ in by_question.values())
            acc[2] += sum(c for _, c in by_question.values())
    figures = {}
    for name, (k, got, chance) in totals.items():
        bound = 0.0 if name == "tick_all" else chance / k + POOLED_MARGIN
        figures[name] = StrategyFigure(name, int(k), got / k, chance / k, bound)
    return figures


def audit_banks(banks: dict[str, Bank], students: int = STUDENTS) -> tuple[list[BankAudit], dict[str, StrategyFigure]]:
    """Audit every bank, then pool the figures."""
    audits = [audit_bank(bank, students) for bank in banks.values()]
    return audits, pooled(audits)


def print_audit(audits: list[BankAudit], overall: dict[str, StrategyFigure], console) -> bool:
    """Print one row per bank and strategy (questions, score, chance, bound), the pooled rows
    and every problem; True when everything passes."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Cue audit: mean score of each strategy against chance (fraction of the points)")
    for name, justify in [("bank", "left"), ("strategy", "left"), ("type", "left"), ("n", "right"),
                          ("score", "right"), ("chance", "right"), ("bound", "right"), ("", "left")]:
        table.add_column(name, justify=justify)

    def rows(topic: str, figures: dict[str, StrategyFigure], last: bool) -> None:
        names = [n for n in STRATEGIES if n in figures]
        for i, name in enumerate(names):
            f = figures[name]
            kind, label = STRATEGIES[name]
            table.add_row(escape(topic) if i == 0 else "", label, kind, str(f.questions), f"{f.score:.2f}",
                          f"{f.chance:.2f}", f"{f.bound:.2f}", "ok" if f.ok else "[bold red]CUE[/]",
                          end_section=(i == len(names) - 1) and not last)

    pooled_rows = len(audits) > 1  # the pooled bound is about a whole set of banks
    for i, audit in enumerate(audits):
        rows(audit.topic, audit.figures, not pooled_rows and i == len(audits) - 1)
    if pooled_rows:
        rows(f"all {len(audits)} banks", overall, True)
    console.print(table)
    console.print(f"bounds: chance + max({BANK_MARGIN}, 1/n) per bank (n questions of the type), "
                  f"chance + {POOLED_MARGIN} over all banks; tick all must be 0")
    problems = [f"{a.topic}: {line}" for a in audits for line in a.problems]
    if pooled_rows:
        problems += [f"all banks: strategy '{STRATEGIES[f.strategy][1]}' scores {f.score:.0%}, above {f.bound:.0%}"
                     for f in overall.values() if not f.ok]
    for line in problems:
        console.print(f"[red]cue:[/] {escape(line)}", highlight=False)
    if not problems:
        console.print("no cues found")
    return not problems

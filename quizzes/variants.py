"""Personalised variants: the same question looks different per (student, quiz), reproducibly.

Seed: ``sha256(f"{student}|{quiz}|{question id}")``. Every random draw comes from that digest
(:class:`DigestRandom`): the params (in the order the bank declares them), then the order of
the choices / ordering items / matching right column (Fisher-Yates). Nothing else goes in (no
clock, no process state, and not :mod:`random`, whose shuffle/choice algorithms Python does not
promise to keep across versions), so a student gets the same variant on every machine and
every run, and ``quiz score`` can rebuild it from a responses file.

A :class:`Presented` question carries what a student sees (prompt with params filled in,
options with their displayed letters) plus the source question, which scoring needs. Views
for students are built from :meth:`Presented.student_view`, which holds no answers.

>>> from quizzes.loader import load_banks                                   # doctest: +SKIP
>>> q = load_banks()["attention"].questions[0]                              # doctest: +SKIP
>>> p = present(q, student="alice", quiz="attention")                       # doctest: +SKIP
>>> [(o.letter, o.text) for o in p.options]                                 # doctest: +SKIP
[('A', '...'), ('B', '...'), ...]
"""
from __future__ import annotations

import bisect
import hashlib
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

from quizzes.model import AnyQuestion, Bank
from quizzes.sandbox import render_prompt


@lru_cache(maxsize=256)
def letter(index: int) -> str:
    """Displayed label of option ``index``: A..Z, then AA, AB, ... (spreadsheet style)."""
    label = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        label = chr(ord("A") + rem) + label
    return label


def seed_digest(student: str, quiz: str, question_id: str) -> bytes:
    """sha256 of ``"{student}|{quiz}|{question id}"``: the source of all of a variant's draws."""
    return hashlib.sha256(f"{student}|{quiz}|{question_id}".encode()).digest()


def seed_for(student: str, quiz: str, question_id: str) -> int:
    """The variant seed as an integer (first 8 bytes of the digest, big-endian), for display."""
    return int.from_bytes(seed_digest(student, quiz, question_id)[:8], "big")


class DigestRandom:
    """Deterministic draws from a sha256 digest, read as a big integer in mixed radix.

    ``below(n)`` returns ``pool % n`` and keeps ``pool // n``. While the pool holds at least 64
    bits more than ``n`` needs, the bias is below 2**-64; when it runs low it is topped up with
    ``sha256(digest + counter)``.

    >>> r = DigestRandom(bytes(32)); [r.below(6) for _ in range(3)] == [0, 0, 0]
    True
    """

    def __init__(self, digest: bytes):
        self._digest = digest
        self._pool = int.from_bytes(digest, "big")
        self._bits = 8 * len(digest)
        self._blocks = 0

    def below(self, n: int) -> int:
        """A draw in ``range(n)``."""
        need = n.bit_length()
        while self._bits < need + 64:
            self._blocks += 1
            block = hashlib.sha256(self._digest + self._blocks.to_bytes(4, "big")).digest()
            self._pool = (self._pool << 256) | int.from_bytes(block, "big")
            self._bits += 256
        self._pool, r = divmod(self._pool, n)
        self._bits -= need
        return r

    def choice(self, seq):
        return seq[self.below(len(seq))]

    def permutation(self, n: int) -> list[int]:
        """A Fisher-Yates shuffle of ``range(n)``."""
        order = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self.below(i + 1)
            order[i], order[j] = order[j], order[i]
        return order


class Option(NamedTuple):
    """A displayed option: its ``letter``, its ``text``, and its ``index`` in the bank's list
    (``choices``, ``items``, or :meth:`MatchingQuestion.right_options`)."""

    letter: str
    text: str
    index: int


@dataclass(slots=True)  # not frozen: a frozen init costs a setattr call per field, per student
class Presented:
    """One question as one student sees it in one quiz."""

    question: AnyQuestion
    student: str
    quiz: str
    seed: int
    params: dict[str, Any] = field(default_factory=dict)
    prompt: str = ""
    explanation: str = ""
    options: tuple[Option, ...] = ()  # choices / ordering items / matching right column
    lefts: tuple[str, ...] = ()  # matching: left items, in bank order, numbered 1..n

    @property
    def id(self) -> str:
        return self.question.id

    @property
    def type(self) -> str:
        return self.question.type

    @property
    def points(self) -> float:
        return self.question.points

    def view_key(self) -> tuple:
        """Everything :meth:`student_view` depends on, hashable: renderers cache each
        question's HTML/Markdown on it, since many students share a choice order."""
        return (_static_view(self.question), self.prompt, tuple(o[:2] for o in self.options), self.lefts)

    def student_view(self) -> dict[str, Any]:
        """Everything a student may see before submitting, as plain data: no correct flags,
        no feedback, no explanation, no key. Student templates receive only this."""
        return view_from_key(self.view_key())


_STATIC: dict[int, tuple[AnyQuestion, tuple]] = {}


def _static_view(question: AnyQuestion) -> tuple:
    """(id, type, points, unit, sources): the part of a student view no variant changes.
    Cached by object identity (the question is kept alongside, so an id cannot be reused):
    renderers ask for it per student, and pydantic attribute misses are slow."""
    hit = _STATIC.get(id(question))
    if hit is None or hit[0] is not question:
        unit = question.unit if question.type == "numeric" else None
        static = (question.id, question.type, question.points, unit, tuple(question.sources))
        hit = _STATIC[id(question)] = (question, static)
    return hit[1]


def view_from_key(key: tuple) -> dict[str, Any]:
    """The student view (a dict for templates) from :meth:`Presented.view_key`."""
    (qid, kind, points, unit, sources), prompt, options, lefts = key
    return {
        "id": qid,
        "type": kind,
        "points": points,
        "prompt": prompt,
        "options": [{"letter": letter, "text": text} for letter, text in options],
        "lefts": list(lefts),
        "unit": unit,
        "sources": list(sources),
    }


def _order(rng: DigestRandom, n: int, avoid_identity: bool) -> list[int]:
    order = rng.permutation(n)
    if avoid_identity and n > 1 and order == list(range(n)):
        # Shown in the key's own order, a matching question answers itself.
        order = order[1:] + order[:1]
    return order


ORDERING_TRIES = 256  # seeded draws before the block fallback (n <= 7 never gets there)


def monotone_bound(n: int) -> int:
    """ceil(sqrt(n)): the longest run, in or against the key's order, an ordering may be shown
    with. No permutation does better (Erdős–Szekeres: LIS · LDS >= n), and for n >= 3 it is at
    most the expected LIS of a random order, so submitting the shown order, or its reverse,
    scores no more than a random guess (LCS(answer, key) / n; e.g. n = 5: 3/5 against 0.558).

    >>> [monotone_bound(n) for n in (2, 3, 4, 5, 9, 10)]
    [2, 2, 2, 3, 3, 4]
    """
    return math.isqrt(n - 1) + 1 if n > 1 else 1


def longest_increasing(seq: list[int]) -> int:
    """Length of the longest increasing subsequence (patience sorting), which is the LCS of
    ``seq`` and the key order ``range(n)``.

    >>> longest_increasing([1, 0, 3, 2]), longest_increasing([3, 2, 1, 0])
    (2, 1)
    """
    tails: list[int] = []
    for x in seq:
        i = bisect.bisect_left(tails, x)
        tails[i:i + 1] = [x]
    return len(tails)


def _far_from_key(order: list[int], bound: int) -> bool:
    return longest_increasing(order) <= bound and longest_increasing(order[::-1]) <= bound


def _block_order(n: int, bound: int) -> list[int]:
    """Blocks of ``bound`` items, the last block first, each block in key order:
    runs of at most ``bound`` both ways (e.g. n = 5: 3 4 | 0 1 2 -> [3, 4, 0, 1, 2])."""
    starts = list(range(0, n, bound))
    return [i for start in reversed(starts) for i in range(start, min(start + bound, n))]


def ordering_order(rng: DigestRandom, n: int) -> list[int]:
    """The shown order of an ordering question's ``n`` items (shown position -> key index):
    a seeded uniform draw among the permutations whose longest increasing and longest
    decreasing subsequences are both at most :func:`monotone_bound` (rejection sampling;
    after ORDERING_TRIES misses, :func:`_block_order`). With 2 items only the swap is left."""
    if n == 2:
        return [1, 0]
    bound = monotone_bound(n)
    for _ in range(ORDERING_TRIES):
        order = rng.permutation(n)
        if _far_from_key(order, bound):
            return order
    return _block_order(n, bound)


@lru_cache(maxsize=4096)
def _filled(text: str, params: tuple[tuple[str, Any], ...]) -> str:
    # Cached: a question has few param combinations, and the sandboxed render costs far more
    # than the rest of present().
    return render_prompt(text, dict(params))


def present(question: AnyQuestion, student: str, quiz: str) -> Presented:
    """Draw ``question``'s variant for ``student`` in ``quiz`` (deterministic)."""
    digest = seed_digest(student, quiz, question.id)
    rng = DigestRandom(digest)
    seed = int.from_bytes(digest[:8], "big")
    params: dict[str, Any] = {}
    prompt, explanation = question.prompt, question.explanation
    kind = question.type  # string compare: isinstance on pydantic models is slow in hot loops
    if kind == "numeric" and question.params:
        params = {name: rng.choice(p.options()) for name, p in question.params.items()}
        items = tuple(params.items())
        prompt, explanation = _filled(prompt, items), _filled(explanation, items)
    options: tuple[Option, ...] = ()
    lefts: tuple[str, ...] = ()
    if kind in ("single", "multiple"):
        texts = [c.text for c in question.choices]
        order = _order(rng, len(texts), False) if question.shuffle else list(range(len(texts)))
        options = tuple(Option(letter(i), texts[j], j) for i, j in enumerate(order))
    elif kind == "ordering":
        order = ordering_order(rng, len(question.items))
        options = tuple(Option(letter(i), question.items[j], j) for i, j in enumerate(order))
    elif kind == "matching":
        rights = question.right_options()
        order = _order(rng, len(rights), True)
        options = tuple(Option(letter(i), rights[j], j) for i, j in enumerate(order))
        lefts = tuple(p.left for p in question.pairs)
    return Presented(question, student, quiz, seed, params, prompt, explanation, options, lefts)


def present_bank(bank: Bank, student: str, quiz: str | None = None) -> list[Presented]:
    """Every question of ``bank``, in bank order, as ``student`` sees it (quiz = topic)."""
    quiz = bank.topic if quiz is None else quiz
    return [present(q, student, quiz) for q in bank.questions]

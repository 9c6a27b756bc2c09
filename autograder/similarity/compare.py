"""Compare a whole class per contract function: starter code subtracted, common code discounted.

For one function, each submission's evidence is its set of fingerprints minus every k-gram of
the starter code, minus the fingerprints held by more than `common_fraction` of the submissions
that define the function (the obvious way to write it is no evidence). Two submissions score

    dice = 2 |A & B| / (|A| + |B|),  damped by min(1, |A & B| / min_shared)

so a function too short to carry `min_shared` fingerprints of its own cannot flag a pair. A
pair's score is the mean of its function scores weighted by their sizes (|A| + |B|) / 2, over
the functions both define. The discount needs `DISCOUNT_FROM` submissions of the function:
in a smaller class, code most students share may simply be copied. Shared counts for all
pairs come from one matrix product per function (numpy), not from a loop over pairs.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from autograder.similarity.prints import SubmissionPrints

COMMON_FRACTION = 0.5  # "most of the class"
MIN_SHARED = 8  # fingerprints a function pair must share to count fully
DISCOUNT_FROM = 10  # below this many submissions of a function, "most of the class" means nothing
DEFAULT_THRESHOLD = 0.5


@dataclass
class ClassComparison:
    """Scores of every pair (indices into `students`) and what is needed to explain them."""

    students: list[str]
    prints: list[SubmissionPrints]
    score: np.ndarray  # (N, N), symmetric, 0 on the diagonal
    function_scores: dict[str, np.ndarray] = field(default_factory=dict)  # qualname -> (N, N)
    evidence: dict[str, list[set[int] | None]] = field(default_factory=dict)  # kept hashes

    def shared(self, qualname: str, a: int, b: int) -> set[int]:
        left, right = self.evidence[qualname][a], self.evidence[qualname][b]
        return (left & right) if left is not None and right is not None else set()


def compare_class(students: list[str], prints: list[SubmissionPrints], starter: set[int], *,
                  common_fraction: float = COMMON_FRACTION, min_shared: int = MIN_SHARED) -> ClassComparison:
    n = len(students)
    numerator = np.zeros((n, n))
    denominator = np.zeros((n, n))
    result = ClassComparison(students, prints, np.zeros((n, n)))
    qualnames = sorted({q for p in prints for q in p.functions})
    for qualname in qualnames:
        holders = [i for i, p in enumerate(prints) if qualname in p.functions]
        raw = {i: {h for h, _ in prints[i].functions[qualname].prints} - starter for i in holders}
        counts = Counter(h for hashes in raw.values() for h in hashes)
        cutoff = max(2, common_fraction * len(holders))
        common = {h for h, c in counts.items() if c > cutoff} if len(holders) >= DISCOUNT_FROM else set()
        evidence: list[set[int] | None] = [None] * n
        for i in holders:
            evidence[i] = raw[i] - common
        result.evidence[qualname] = evidence
        # only fingerprints two or more submissions hold can be shared: the matrix stays small
        column_of = {h: c for c, h in enumerate(sorted(h for h, c in counts.items() if c >= 2 and h not in common))}
        scores = np.zeros((n, n))
        if column_of and len(holders) >= 2:
            matrix = np.zeros((len(holders), len(column_of)), dtype=np.float32)
            for row, i in enumerate(holders):
                matrix[row, [column_of[h] for h in evidence[i] if h in column_of]] = 1.0
            shared = matrix @ matrix.T  # (holders, holders): fingerprints each pair shares
            sizes = np.array([len(evidence[i]) for i in holders], dtype=np.float64)
            total = sizes[:, None] + sizes[None, :]
            with np.errstate(divide="ignore", invalid="ignore"):
                dice = np.where(total > 0, 2 * shared / total, 0.0)
            dice *= np.minimum(1.0, shared / min_shared)
            index = np.ix_(holders, holders)
            scores[index] = dice
            numerator[index] += dice * total / 2
            denominator[index] += total / 2
        else:
            sizes = np.array([len(evidence[i]) for i in holders], dtype=np.float64)
            index = np.ix_(holders, holders)
            denominator[index] += (sizes[:, None] + sizes[None, :]) / 2
        np.fill_diagonal(scores, 0.0)
        result.function_scores[qualname] = scores
    with np.errstate(divide="ignore", invalid="ignore"):
        result.score = np.where(denominator > 0, numerator / denominator, 0.0)
    np.fill_diagonal(result.score, 0.0)
    return result

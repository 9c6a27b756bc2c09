"""Class comparison on hand-made fingerprints (expected scores worked by hand) and on the
benchmark's class (planted copies vs independently written authors)."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from autograder.batch import discover
from autograder.similarity.compare import (
    DEFAULT_THRESHOLD,
    DISCOUNT_FROM,
    MIN_SHARED,
    compare_class,
)
from autograder.similarity.prints import FunctionPrint, SubmissionPrints
from autograder.similarity.run import STARTER_DIR, run_similarity

ROOT = Path(__file__).resolve().parent.parent


def prints(**functions: set[int]) -> SubmissionPrints:
    """A submission whose functions hold exactly these fingerprint hashes."""
    return SubmissionPrints({
        name.replace("__", "."): FunctionPrint("", [], [(h, 0) for h in sorted(hashes)])
        for name, hashes in functions.items()})


COMMON = set(range(1, 21))  # 20 fingerprints everyone has
PAIR = set(range(100, 121))  # 21 more that only students 0 and 1 share


def test_fingerprints_most_of_the_class_holds_are_discounted():
    n = DISCOUNT_FROM + 2
    class_ = [prints(m__f=COMMON | (PAIR if i < 2 else {1000 + i})) for i in range(n)]
    result = compare_class([f"s{i}" for i in range(n)], class_, starter=set())
    # students 0 and 1: evidence = PAIR on both sides -> dice 2*21/(21+21) = 1
    assert result.function_scores["m.f"][0, 1] == pytest.approx(1.0)
    # any other pair shares only COMMON, which is gone: 0
    assert result.function_scores["m.f"][2, 3] == 0.0
    assert result.score[0, 2] == 0.0


def test_below_the_discount_size_shared_code_still_counts():
    n = DISCOUNT_FROM - 1
    class_ = [prints(m__f=COMMON | {1000 + i}) for i in range(n)]
    result = compare_class([f"s{i}" for i in range(n)], class_, starter=set())
    # 20 shared of 21 each: dice = 2*20/42
    assert result.function_scores["m.f"][0, 1] == pytest.approx(40 / 42)


def test_starter_fingerprints_are_subtracted():
    class_ = [prints(m__f=COMMON | {1000 + i}) for i in range(2)]
    result = compare_class(["a", "b"], class_, starter=COMMON)
    assert result.score[0, 1] == 0.0


def test_a_function_too_short_to_carry_min_shared_fingerprints_is_damped():
    few = set(range(MIN_SHARED // 2))
    result = compare_class(["a", "b"], [prints(m__f=few), prints(m__f=few)], starter=set())
    # identical (dice 1) but only MIN_SHARED/2 shared: damped to 1/2
    assert result.function_scores["m.f"][0, 1] == pytest.approx(0.5)


def test_pair_score_is_the_size_weighted_mean_of_function_scores():
    f = set(range(10))
    a = prints(m__f=f, m__g=set(range(100, 130)))
    b = prints(m__f=f, m__g=set(range(200, 230)))
    result = compare_class(["a", "b"], [a, b], starter=set())
    # f: score 1, size 10; g: score 0, size 30 -> (1*10 + 0*30) / 40
    assert result.score[0, 1] == pytest.approx(0.25)
    assert result.score[1, 0] == result.score[0, 1]
    assert result.score[0, 0] == 0.0


def test_functions_only_one_student_defines_do_not_count():
    f = set(range(10))
    result = compare_class(["a", "b"], [prints(m__f=f, m__g=set(range(50, 90))), prints(m__f=f)], starter=set())
    assert result.score[0, 1] == pytest.approx(1.0)


# --- on real code -------------------------------------------------------------------------

sys.path.insert(0, str(ROOT / "benchmarks"))
from similarity_class import AUTHORS, BENCH_MODULES, build_class, pair_kind  # noqa: E402


@pytest.fixture(scope="module")
def benchmark_class(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    students = build_class(folder, seeds=1, include_all=False)
    run = run_similarity(discover(folder), jobs=1)
    return students, run


def test_every_planted_copy_is_flagged_and_no_independent_pair_is(benchmark_class):
    students, run = benchmark_class
    c = run.comparison
    index = {name: i for i, name in enumerate(c.students)}
    planted = independent = 0
    for x in students:
        for y in students:
            if x.name >= y.name:
                continue
            kind = pair_kind(x, y)
            score = c.score[index[x.name], index[y.name]]
            if kind == "planted":
                planted += 1
                assert score >= DEFAULT_THRESHOLD, (x.name, y.name, score)
            elif kind == "independent":
                independent += 1
                assert score < DEFAULT_THRESHOLD, (x.name, y.name, score)
    assert planted == len(AUTHORS) * 7 and independent > 500


def test_a_single_copied_function_is_pointed_at(tmp_path):
    # loops writes its own code except sliding_window_mask, taken from helpers (with its helpers)
    own = tmp_path / "loops"
    shutil.copytree(ROOT / "benchmarks/similarity_authors/loops", own)
    helpers = (ROOT / "benchmarks/similarity_authors/helpers/masks.py").read_text()
    masks = (own / "masks.py").read_text()
    start = masks.index("def sliding_window_mask")
    end = masks.index("def additive_mask")
    copied = helpers[helpers.index("def _require_int"):helpers.index("def _positions")]
    copied += helpers[helpers.index("def _positions"):helpers.index("def causal_mask")]
    copied += helpers[helpers.index("def sliding_window_mask"):helpers.index("def additive_mask")]
    (own / "masks.py").write_text(masks[:start] + copied.replace("_require_int", "_need") + masks[end:])
    shutil.copytree(ROOT / "benchmarks/similarity_authors/helpers", tmp_path / "helpers")
    c = run_similarity(discover(tmp_path), jobs=1).comparison
    scores = {q: s[0, 1] for q, s in c.function_scores.items()}
    assert scores["masks.sliding_window_mask"] >= DEFAULT_THRESHOLD
    assert max(s for q, s in scores.items() if q != "masks.sliding_window_mask") < DEFAULT_THRESHOLD


def test_unmodified_stubs_are_not_similar(tmp_path):
    for student in ("a", "b"):
        (tmp_path / student).mkdir()
        for module in BENCH_MODULES:
            shutil.copyfile(STARTER_DIR / f"{module}.py", tmp_path / student / f"{module}.py")
    c = run_similarity(discover(tmp_path), jobs=1).comparison
    assert c.score[0, 1] == 0.0

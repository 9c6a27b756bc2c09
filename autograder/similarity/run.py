"""Similarity of a folder of submissions: read them like `autograder batch`, fingerprint
(cached, in parallel on a large class), compare, and collect what the reports need."""
from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from autograder.batch import BatchItem
from autograder.contract import (
    EXERCISES_DIR as STARTER_DIR,  # the stubs: code everyone starts from
)
from autograder.intake import load_submission
from autograder.similarity.cache import PrintCache
from autograder.similarity.compare import (
    COMMON_FRACTION,
    MIN_SHARED,
    ClassComparison,
    compare_class,
)
from autograder.similarity.extract import MAX_NESTING, source_nesting
from autograder.similarity.prints import (
    SubmissionPrints,
    starter_hashes,
    submission_prints,
)

PARALLEL_FROM = 16  # fewer uncached submissions than this are fingerprinted in this process


@dataclass
class SimilarityRun:
    comparison: ClassComparison
    skipped: dict[str, str] = field(default_factory=dict)  # student -> why not compared
    notes: dict[str, list[str]] = field(default_factory=dict)  # student -> modules left out
    cached: int = 0
    cache_problem: str | None = None


class Unanalysable(Exception):
    """A submission whose code is nested too deeply to normalise: listed as not compared."""


def prints_of(path: str) -> SubmissionPrints:
    """Fingerprint one submission (runs in a pool process)."""
    modules = load_submission(Path(path)).modules
    if any(source_nesting(source) > MAX_NESTING for source in set(modules.values())):
        raise Unanalysable("code nested too deeply to analyse")
    try:
        return submission_prints(modules)
    except RecursionError:  # a limit lower than the default: the AST walk cannot follow
        raise Unanalysable("code nested too deeply to analyse") from None


def _labels(items: list[BatchItem]) -> list[str]:
    """Student ids, made unique: two entries for one student keep both, named by file."""
    seen: dict[str, int] = {}
    for item in items:
        seen[item.student] = seen.get(item.student, 0) + 1
    return [f"{i.student} ({i.path.name})" if seen[i.student] > 1 else i.student for i in items]


def fingerprint_items(items: list[BatchItem], cache: PrintCache, *, jobs: int | None = None,
                      on_progress: Callable[[str], None] | None = None):
    """(labels, prints, skipped, cached count) for the readable items, cache first."""
    labels, skipped = [], {}
    readable = []
    for label, item in zip(_labels(items), items, strict=True):
        if item.error or not item.digest:
            skipped[label] = item.error or "unreadable"
            _tick(on_progress, label)
        else:
            readable.append((label, item))
    found: dict[str, SubmissionPrints] = {}
    todo = []
    for label, item in readable:
        cached = cache.get(item.digest)
        if cached is None:
            todo.append((label, item))
        else:
            found[label] = cached
            _tick(on_progress, label)
    cached_count = len(found)
    jobs = jobs or os.cpu_count() or 1
    if len(todo) >= PARALLEL_FROM and jobs > 1:
        # spawn: the parent may hold torch (batch --similarity); forking that is unsafe
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            futures = {pool.submit(prints_of, str(item.path)): (label, item) for label, item in todo}
            for future in as_completed(futures):
                label, item = futures[future]
                _record(label, item, future.result, found, skipped, cache)
                _tick(on_progress, label)
    else:
        for label, item in todo:
            _record(label, item, lambda item=item: prints_of(str(item.path)), found, skipped, cache)
            _tick(on_progress, label)
    labels = [label for label, _ in readable if label in found]
    return labels, [found[label] for label in labels], skipped, cached_count


def _record(label, item, compute, found, skipped, cache) -> None:
    """Store one submission's prints (and cache them), or why it could not be fingerprinted."""
    try:
        found[label] = compute()
    except Unanalysable as exc:
        skipped[label] = str(exc)
        return
    cache.put(item.digest, found[label])


def run_similarity(items: list[BatchItem], *, cache_path: Path | None = None, jobs: int | None = None,
                   common_fraction: float = COMMON_FRACTION, min_shared: int = MIN_SHARED,
                   on_progress: Callable[[str], None] | None = None) -> SimilarityRun:
    cache = PrintCache(cache_path)
    try:
        labels, prints, skipped, cached = fingerprint_items(items, cache, jobs=jobs, on_progress=on_progress)
    finally:
        cache.close()
    problem = cache.problem
    starter = starter_hashes(load_submission(STARTER_DIR).modules)
    comparison = compare_class(labels, prints, starter, common_fraction=common_fraction, min_shared=min_shared)
    notes = {label: p.notes for label, p in zip(labels, prints, strict=True) if p.notes}
    return SimilarityRun(comparison, skipped, notes, cached, problem)


def _tick(callback, label):
    if callback is not None:
        callback(label)

"""Grade a whole class: warm sandboxed workers, reference outputs cached, a resumable gradebook.

The parent process discovers submissions, skips those the gradebook already holds (same
student, same submission hash, same grader version), and hands the rest to a pool of grading
processes. Each keeps one warm sandbox worker (a zygote that imported torch once) and one
reference cache for the whole batch, so a submission costs a fork and the suite run, not an
interpreter start and a torch import. The parent is the only gradebook writer: one
transaction per graded submission, so `kill -9` loses nothing already reported.
"""
from __future__ import annotations

import csv
import multiprocessing
import os
import secrets
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder import __version__
from autograder.config import load_config
from autograder.fingerprint import GradeFingerprint, config_digest
from autograder.intake import Submission, SubmissionError, load_submission, student_id
from autograder.jobs import GradingSetup, grade_group_job, job_entries, pool_process_init
from autograder.unreadable import unreadable_digest, unreadable_result

SUBMISSION_SUFFIXES = (".py", ".ipynb", ".zip")


@dataclass
class BatchItem:
    """One submission found in the batch folder."""

    student: str
    path: Path
    digest: str | None = None
    error: str | None = None  # intake failed: recorded at 0 with this reason, never graded
    submission: Submission | None = None  # what the jobs carry (read once, by the client)


class GradingUnavailable(RuntimeError):
    """Grading cannot run at all here (the sandbox worker cannot start): not a student's fault."""


@dataclass
class BatchSummary:
    graded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # grading failed: not the student's fault
    unreadable: dict[str, str] = field(default_factory=dict)  # the submission's own failure: 0 points
    regraded: dict[str, str] = field(default_factory=dict)  # student -> why the old grade was stale


def read_roster(path: Path) -> dict[str, str]:
    """roster.csv with columns `student` and `submission` (a file or folder name in the batch)."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"student", "submission"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}:1: roster needs the columns student,submission; missing {sorted(missing)}")
        roster = {}
        for line, row in enumerate(reader, start=2):
            if not row["student"] or not row["submission"]:
                raise ValueError(f"{path}:{line}: empty student or submission")
            roster[row["submission"].strip()] = row["student"].strip()
        return roster


def discover(folder: Path, roster: dict[str, str] | None = None) -> list[BatchItem]:
    """Every submission in `folder` (sub-folders, .py, .ipynb, .zip), by name."""
    if not folder.is_dir():
        raise SubmissionError(f"{folder}: not a folder of submissions")
    items = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith((".", "_")):
            continue
        if not (path.is_dir() or path.suffix.lower() in SUBMISSION_SUFFIXES):
            continue
        student = (roster or {}).get(path.name) or student_id(path)
        item = BatchItem(student, path)
        try:
            item.submission = load_submission(path)
            item.digest = item.submission.digest
        except SubmissionError as exc:
            item.error = str(exc)
            item.digest = unreadable_digest(path)  # a batch run again skips it, as any grade
        items.append(item)
    return items


# --- the parent ----------------------------------------------------------------------------------


def run_batch(
    items: Iterable[BatchItem],
    gradebook: Any,
    *,
    config_path: Path | None = None,
    jobs: int | None = None,
    seed: int | None = None,
    cluster: str | None = None,
    group_size: int = 1,
    on_progress: Callable[[BatchItem, str], None] | None = None,
) -> BatchSummary:
    """Grade every item the gradebook does not hold yet; record each as it finishes.

    A row graded under another grading.yaml, grader, suite or reference (its fingerprint
    differs) is stale: it is graded again and replaced, and `summary.regraded` says why.
    """
    setup = GradingSetup.from_path(config_path)
    fingerprint = GradeFingerprint(setup.grader, config_digest(setup.config_text))
    seed = secrets.randbits(31) if seed is None else seed
    summary = BatchSummary()
    todo = []
    config = None
    for item in items:
        state, reason = gradebook.freshness(item.student, item.digest, __version__, fingerprint)
        if state == "fresh":
            summary.skipped.append(item.student)
            _notify(on_progress, item, "skipped")
            continue
        if reason:
            summary.regraded[item.student] = reason
        if item.error:  # unreadable: every test at 0 with the reason, as `grade` writes it
            config = config or load_config(config_path)
            gradebook.record(unreadable_result(item.path, item.error, config, student=item.student,
                                               digest=item.digest),
                             fingerprint=fingerprint)
            summary.unreadable[item.student] = item.error
            _notify(on_progress, item, "unreadable")
        else:
            todo.append(item)
    if not todo:
        return summary
    groups = [todo[i: i + group_size] for i in range(0, len(todo), max(1, group_size))]
    if cluster:
        from autograder.cluster import grade_on_cluster

        results = grade_on_cluster(cluster, groups, seed, setup)
    else:
        results = _grade_locally(groups, seed, setup, jobs or os.cpu_count() or 1)
    for item, status, payload in results:
        if status == "unavailable":
            close = getattr(results, "close", None)
            if close is not None:
                close()  # stop the pool: every other group would fail the same way
            raise GradingUnavailable(payload)
        if status == "ok" and payload.unreadable:  # its modules would not even load
            gradebook.record(payload, fingerprint=fingerprint)
            summary.unreadable[item.student] = payload.error
        elif status == "ok":
            gradebook.record(payload, fingerprint=fingerprint)
            summary.graded.append(item.student)
        else:
            gradebook.record_error(item.student, item.digest or "", __version__, str(item.path), payload,
                                   fingerprint=fingerprint)
            summary.errors[item.student] = payload
        _notify(on_progress, item, "error" if status != "ok" else
                "unreadable" if payload.unreadable else "graded")
    return summary


def _grade_locally(groups: list[list[BatchItem]], seed: int, setup: GradingSetup, jobs: int):
    """Yield (item, status, payload) as the local pool finishes groups of submissions."""
    # spawn: a fresh interpreter per grading process (forking a process that imported torch is unsafe)
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(groups)), mp_context=context,
                               initializer=pool_process_init, initargs=(setup,))
    try:
        futures = {pool.submit(grade_group_job, job_entries(group), seed, setup): group
                   for group in groups}
        for future in as_completed(futures):
            group = futures[future]
            try:
                outcomes = future.result()
            except Exception as exc:  # noqa: BLE001 - a grading process was lost
                outcomes = [("error", f"grading process lost: {type(exc).__name__}: {exc}")] * len(group)
            for item, (status, payload) in zip(group, outcomes, strict=True):
                yield item, status, payload
    finally:  # also when the caller stops early: queued groups are dropped, not graded
        pool.shutdown(wait=True, cancel_futures=True)


def _notify(callback, item, status):
    if callback is not None:
        callback(item, status)

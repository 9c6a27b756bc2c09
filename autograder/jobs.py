"""One grading job: what a pool process or a Dask worker needs, carried by value.

A job holds the submissions already read by the client (module sources, hash, intake notes),
the grading.yaml text in force and the client's grader fingerprint, never paths: a worker in
another directory, or on a machine without the course files, grades exactly what a local run
grades, and one running another version of the grader refuses instead of grading differently.
"""
from __future__ import annotations

import gc
import hashlib
import os
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.config import DEFAULT_PATH, load_config
from autograder.fingerprint import grader_fingerprint
from autograder.intake import Submission, load_submission


@dataclass(frozen=True)
class GradingSetup:
    """grading.yaml as the client read it, and the grader the client runs."""

    config_text: str
    config_name: str          # where the text came from, for messages
    grader: str               # grader_fingerprint() of the client

    @classmethod
    def from_path(cls, config_path: Path | None) -> GradingSetup:
        path = Path(config_path) if config_path else DEFAULT_PATH
        load_config(path)  # validated here: a bad file stops the batch before any job
        return cls(path.read_text(encoding="utf-8"), str(path), grader_fingerprint())


class ForeignGrader(RuntimeError):
    """The worker's grader differs from the client's: its grades would not be comparable."""


def job_entries(group: list) -> list[tuple[Submission, str]]:
    """What a job carries for a group of batch items: read submissions, never their paths."""
    return [(item.submission or load_submission(item.path), item.student) for item in group]


_PROCESS_STATE: dict[str, Any] = {}  # per process: config, warm workers, reference cache


def _config_file(setup: GradingSetup) -> Path:
    """The job's grading.yaml written once per process (the suites read a file)."""
    key = hashlib.sha256(setup.config_text.encode()).hexdigest()[:16]
    files = _PROCESS_STATE.setdefault("config_files", {})
    if key not in files:
        folder = Path(tempfile.mkdtemp(prefix="autograder-job-config-"))
        path = folder / "grading.yaml"
        path.write_text(setup.config_text, encoding="utf-8")
        files[key] = path
    return files[key]


def _die_with_parent() -> None:
    """End this pool process with the process that started it (the server, `autograder batch`),
    however that one ends. Killed, it would leave this one waiting forever on the pool's pipes,
    which the sibling processes hold open, with its sandbox workers (~0.3 GB each)."""
    import signal

    from autograder.sandbox.child import PR_SET_PDEATHSIG, prctl

    parent = os.getppid()
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it ended before the signal was asked for
        os._exit(1)


def pool_process_init(setup: GradingSetup) -> None:
    """Initializer of `autograder batch`'s pool processes."""
    _die_with_parent()
    init_process(setup)


def init_process(setup: GradingSetup) -> None:
    """Load the job's config and a reference cache in this process (pool initializer too)."""
    from autograder.refcache import ReferenceCache

    if _PROCESS_STATE.get("setup") == setup:
        return
    if setup.grader != grader_fingerprint():
        raise ForeignGrader(
            f"this worker runs another grader (fingerprint {grader_fingerprint()[:12]}, the "
            f"client's is {setup.grader[:12]}): install the same version of the course project "
            "on every Dask worker")
    path = _config_file(setup)
    for worker in _PROCESS_STATE.pop("workers", []):  # made under another grading.yaml
        worker.close()
    _PROCESS_STATE.update(setup=setup, config=load_config(path), config_path=path,
                          cache=ReferenceCache())


def warm_process(setup: GradingSetup, workers: int = 1) -> None:
    """Pool initializer of a long-lived server: besides `init_process`, start this process's
    `workers` sandbox workers (one per submission of the largest job it will be handed) and
    grade the reference solutions once, unrecorded, so that the suites,
    the reference and torch's kernels are loaded and the first upload after a start is graded
    as fast as the hundredth (a cold first grade costs about four warm ones in CPU). Never
    raises: a machine that cannot grade says so on the first job, where the upload records
    the reason."""
    _die_with_parent()
    try:
        init_process(setup)
        from autograder.workers import worker_from_config

        started = _PROCESS_STATE.setdefault("workers", [])
        while len(started) < max(1, workers):
            started.append(worker_from_config(_PROCESS_STATE["config"]).start(wait=False))
        for worker in started:
            worker.start(wait=True)
        _warm_up_grade(setup)
    except Exception:  # noqa: BLE001 - reported by the first job instead (see grade_group_job)
        for worker in _PROCESS_STATE.pop("workers", []):  # the first job starts afresh
            try:
                worker.close()
            except Exception:  # noqa: BLE001 - a worker that never started has nothing to close
                pass


def _warm_up_grade(setup: GradingSetup) -> None:
    from autograder.demo import write_reference_submission

    with tempfile.TemporaryDirectory(prefix="autograder-warm-up-") as folder:
        submission = load_submission(write_reference_submission(Path(folder) / "reference"))
    grade_group_job([(submission, "warm-up")], 0, setup)


def _freeze_long_lived() -> None:
    """After this process's first grade: what is alive now (torch, the grading stack, the
    suites) lives as long as the process, so it goes to the permanent generation; the full
    collections a grade triggers then walk only that grade's objects, not a torch-sized heap
    (~35 ms of each grade otherwise)."""
    if not _PROCESS_STATE.get("frozen"):
        gc.collect()
        gc.freeze()
        _PROCESS_STATE["frozen"] = True


def process_id() -> int:
    """A no-op job: handing one to each pool process makes the pool spawn (and warm) them all."""
    return os.getpid()


def grade_group_job(entries: list[tuple[Submission, str]], seed: int,
                    setup: GradingSetup, one_after_another: bool = False) -> list[tuple[str, Any]]:
    """Grade a group of read submissions (submission, student) in one suite run (each case's
    bodies in parallel threads, or `one_after_another`: see collect.FanOut).

    Runs in a pool process or on a Dask worker: the warm sandbox workers (one per group slot)
    and the reference cache live as long as that process does. Returns ("ok", GradeResult),
    ("error", message) or ("unavailable", message: this machine cannot grade) per entry; one
    failure never escapes as an exception.
    """
    from autograder.grading import grade_submissions
    from autograder.workers import worker_from_config

    try:
        init_process(setup)
        config = _PROCESS_STATE["config"]
        workers = _PROCESS_STATE.setdefault("workers", [])
        while len(workers) < len(entries):
            workers.append(worker_from_config(config).start(wait=False))
        results = grade_submissions(entries, config, workers[: len(entries)], seed=seed,
                                    config_path=_PROCESS_STATE["config_path"],
                                    cache=_PROCESS_STATE["cache"], one_after_another=one_after_another)
        _freeze_long_lived()
        return [("ok", result) for result in results]
    except ForeignGrader as exc:
        return [("unavailable", str(exc)) for _ in entries]
    except Exception as exc:  # noqa: BLE001 - one group's failure must not stop the batch
        from autograder.sandbox.client import SandboxUnavailable, SubmissionUnloadable

        if isinstance(exc, SandboxUnavailable) and not isinstance(exc, SubmissionUnloadable):
            return [("unavailable", str(exc)) for _ in entries]  # the machine, not the student
        message = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
        return [("error", message) for _ in entries]

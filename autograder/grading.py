"""Grade one submission: intake, sandboxed worker, hidden suites in the trusted process, scores."""
from __future__ import annotations

import contextlib
import io
import os
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from autograder.collect import FanOut
from autograder.config import GradingConfig
from autograder.intake import Submission, SubmissionError, load_submission, student_id
from autograder.result_types import CaseResult, FunctionScore, GradeResult
from autograder.scoring import score_cases
from autograder.student_text import storable
from autograder.unreadable import unreadable_result
from autograder.workers import worker_from_config

SUITES_DIR = Path(__file__).resolve().parent / "suites"
PYTEST_INI = Path(__file__).resolve().parent / "suites.ini"


def run_suites(
    implementation: Any,
    *,
    seed: int,
    device: str = "auto",
    suites_dir: Path = SUITES_DIR,
    modules: list[str] | None = None,
    config_path: Path | None = None,
    cache: Any = None,
) -> tuple[list[CaseResult], list[str]]:
    """Run the hidden suites against one implementation in this (trusted) process."""
    results, errors = run_suites_for_all([implementation], seed=seed, device=device, suites_dir=suites_dir,
                                         modules=modules, config_path=config_path, cache=cache)
    return results[0], errors


def run_suites_for_all(
    implementations: list[Any],
    *,
    seed: int,
    device: str = "auto",
    suites_dir: Path = SUITES_DIR,
    modules: list[str] | None = None,
    config_path: Path | None = None,
    cache: Any = None,
    config: GradingConfig | None = None,
    one_after_another: bool = False,
) -> tuple[list[list[CaseResult]], list[str]]:
    """One pytest session for several implementations: every case runs once per implementation
    (in parallel threads, or `one_after_another`: see FanOut).

    `config` (the grader's typed grading.yaml) reaches the suites through the stash; without
    it the plugin reads `config_path`.
    """
    targets = [str(suites_dir / f"test_{m}.py") for m in modules] if modules else [str(suites_dir)]
    fan_out = FanOut(implementations, cache, grading_config=config, one_after_another=one_after_another)
    args = [
        *targets, "-c", str(PYTEST_INI), "--rootdir", str(suites_dir),
        "-p", "autograder.plugin", "--seed", str(seed), "--device", device,
        # A suite's `assert ..., "message"` is feedback as written: pytest's rewritten asserts
        # need its terminal plugin (off below) and raise a bare AssertionError without it.
        "--assert=plain",
        # Grading needs none of pytest's extras; the unraisable-exception hook alone runs five
        # full gc.collect() passes per session (~0.5 s on a torch-sized heap).
        *[arg for name in NOT_NEEDED for arg in ("-p", f"no:{name}")],
    ]
    if config_path:
        args += ["--grading-config", str(config_path)]
    # pytest's own terminal output is not part of grading: send it away. Third-party plugins
    # installed beside the grader are not loaded (autoload off; ours is named with -p).
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), \
            contextlib.redirect_stderr(io.StringIO()) as errors, _no_plugin_autoload():
        status = pytest.main(args, plugins=[fan_out])
    status = pytest.ExitCode(status)
    if status in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR) or (
            status == pytest.ExitCode.INTERRUPTED and not fan_out.collection_errors):
        # a broken grader must not look like a submission scoring zero (collection errors
        # are reported in the results' notes instead)
        raise RuntimeError(f"the hidden suites did not run (pytest {status.name}): {errors.getvalue()[-2000:]}")
    return fan_out.cases, fan_out.collection_errors


NOT_NEEDED = ("cacheprovider", "unraisableexception", "threadexception", "faulthandler",
              "stepwise", "junitxml", "doctest", "pastebin", "legacypath",
              # per-test wrappers that cost ~1 ms a case and serve no purpose here: student code
              # runs in the worker, and the suites neither log nor print
              "logging", "warnings", "capture",
              # reporting, debugging and unittest support: results are read from FanOut, the
              # suites are plain functions, and a grading run is never interactive
              "terminal", "debugging", "unittest", "subtests", "setuponly", "setupplan",
              "tmpdir", "monkeypatch", "recwarn", "skipping")


@contextlib.contextmanager
def _no_plugin_autoload():
    previous = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = previous


def grade_submission(
    path: Path | str,
    config: GradingConfig,
    *,
    seed: int | None = None,
    worker: Any = None,
    config_path: Path | None = None,
    student: str | None = None,
    cache: Any = None,
) -> GradeResult:
    """Grade one submission in the sandbox. `worker` lets callers reuse a warm worker."""
    own_worker = worker is None
    if own_worker:
        worker = worker_from_config(config).start(wait=False)
    try:
        return grade_submissions([(Path(path), student)], config, [worker], seed=seed,
                                 config_path=config_path, cache=cache)[0]
    finally:
        if own_worker:
            worker.close()


def grade_submissions(
    entries: list[tuple[Path, str | None]],
    config: GradingConfig,
    workers: list[Any],
    *,
    seed: int | None = None,
    config_path: Path | None = None,
    cache: Any = None,
    one_after_another: bool = False,
) -> list[GradeResult]:
    """Grade several submissions in one suite run, each in its own warm sandboxed worker
    (`one_after_another`: see FanOut).

    `entries` are (path, student id or None); `workers` holds at least as many workers. The
    inputs of every case are drawn once and sent to every submission; the workers compute in
    parallel while this process compares. A submission that cannot be read, or whose modules
    cannot even be loaded in the worker, gets its unreadable result (autograder.unreadable):
    that is the student's failure, and the others are graded as usual.
    """
    from autograder.remote import RemoteImplementation
    from autograder.sandbox.client import SubmissionUnloadable

    require_device(config.device)
    started = time.perf_counter()
    seed = secrets.randbits(31) if seed is None else seed
    out: list[GradeResult | None] = [None] * len(entries)
    readable = []  # (index, submission, worker, import errors)
    implementations = []
    for index, ((path, student), worker) in enumerate(zip(entries, workers, strict=False)):
        # An entry is a path, or a submission the caller already read (batch and cluster jobs).
        try:
            submission = path if isinstance(path, Submission) else load_submission(path)
        except SubmissionError as exc:
            out[index] = unreadable_result(path, str(exc), config, student=student)
            continue
        try:
            failed_imports = worker.load_submission(submission.modules)
        except SubmissionUnloadable as exc:
            reason = f"{os.fsdecode(submission.path)}: {exc}"
            out[index] = unreadable_result(submission.path, reason, config, student=student,
                                           sandbox=worker.isolation, digest=submission.digest)
            continue
        readable.append((index, submission, worker, failed_imports))
        implementations.append(RemoteImplementation(
            worker, config.limits.call_timeout_s, submission.module_errors,
            budget_s=config.limits.submission_timeout_s,
        ))
    results, errors = [], []
    if implementations:
        results, errors = run_suites_for_all(implementations, seed=seed, device=config.device,
                                             config_path=config_path, cache=cache, config=config,
                                             one_after_another=one_after_another)
    elapsed = time.perf_counter() - started
    for (index, submission, worker, failed_imports), cases in zip(readable, results, strict=True):
        notes = list(submission.notes)
        notes += [f"{name}.py failed to import: {e['type']}: {e['message']}" for name, e in failed_imports.items()]
        notes += [f"suite collection error: {e}" for e in errors]
        out[index] = GradeResult(
            student=storable(entries[index][1] or student_id(submission.path)),
            submission=storable(os.fsdecode(submission.path)),
            digest=submission.digest,
            functions=_storable_text(score_cases(cases, config)),
            seed=seed,
            sandbox=worker.isolation,
            execution_time=elapsed / len(entries),
            notes=[storable(note) for note in notes],
        )
    return out


def require_device(device: str) -> None:
    """Raise DeviceUnavailable when grading.yaml's `device` cannot run here: checked before any
    case, or every case needing tensors would be recorded as a grader error in a partial grade."""
    import torch

    from autograder.sandbox.errors import DeviceUnavailable

    if device == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable(
            f"grading.yaml sets device: cuda, but torch {torch.__version__} sees no CUDA device on "
            "this machine (set device: auto to grade on the CPU where there is no GPU)")


def _storable_text(functions: list[FunctionScore]) -> list[FunctionScore]:
    """Messages carry what student code printed or raised: a lone surrogate in one could not
    be written to the report or the gradebook, so it becomes an escape."""
    for function in functions:
        for scored in function.cases:
            scored.case.message = storable(scored.case.message)
            if scored.case.hint is not None:
                scored.case.hint = storable(scored.case.hint)
    return functions

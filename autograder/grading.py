"""Grade one submission: intake, sandboxed worker, hidden suites in the trusted process, scores."""
from __future__ import annotations

import contextlib
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from autograder import __version__
from autograder.collect import CaseResult, ResultCollector
from autograder.config import GradingConfig
from autograder.intake import Submission, load_submission, student_id
from autograder.scoring import FunctionScore, score_cases
from autograder.workers import worker_from_config

SUITES_DIR = Path(__file__).resolve().parent / "suites"
PYTEST_INI = Path(__file__).resolve().parent / "suites.ini"


@dataclass
class GradeResult:
    """Everything the results file, the reports and the gradebook need."""

    student: str
    submission: str
    digest: str
    functions: list[FunctionScore]
    seed: int
    sandbox: str
    execution_time: float
    notes: list[str] = field(default_factory=list)
    grader_version: str = __version__
    error: str | None = None

    @property
    def score(self) -> float:
        return round(sum(f.score for f in self.functions), 6)

    @property
    def max_score(self) -> float:
        return round(sum(f.points for f in self.functions), 6)


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
    """Run the hidden suites against `implementation` in this (trusted) process."""
    targets = [str(suites_dir / f"test_{m}.py") for m in modules] if modules else [str(suites_dir)]
    collector = ResultCollector(implementation, cache)
    args = [
        *targets, "-c", str(PYTEST_INI), "--rootdir", str(suites_dir), "-q", "--no-header",
        "-p", "autograder.plugin", "--seed", str(seed), "--device", device, "--tb=no",
        # Grading needs none of pytest's extras; the unraisable-exception hook alone runs five
        # full gc.collect() passes per session (~0.5 s on a torch-sized heap).
        *[arg for name in NOT_NEEDED for arg in ("-p", f"no:{name}")],
    ]
    if config_path:
        args += ["--grading-config", str(config_path)]
    # pytest's own terminal output is not part of grading: send it away. Third-party plugins
    # installed beside the grader are not loaded (autoload off; ours is named with -p).
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), _no_plugin_autoload():
        pytest.main(args, plugins=[collector])
    return collector.cases, collector.collection_errors


NOT_NEEDED = ("cacheprovider", "unraisableexception", "threadexception", "faulthandler",
              "stepwise", "junitxml", "doctest", "pastebin", "legacypath")


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
    """Grade one submission in the sandbox. `worker` lets batch grading reuse a warm worker."""
    from autograder.remote import RemoteImplementation

    started = time.perf_counter()
    path = Path(path)
    seed = secrets.randbits(31) if seed is None else seed
    submission = load_submission(path)
    own_worker = worker is None
    if own_worker:
        worker = worker_from_config(config).start(wait=False)
    try:
        import_errors = worker.load_submission(submission.modules)
        implementation = RemoteImplementation(
            worker, config.limits.call_timeout_s, submission.module_errors,
            budget_s=config.limits.submission_timeout_s,
        )
        cases, errors = run_suites(
            implementation, seed=seed, device=config.device, config_path=config_path, cache=cache
        )
        mode = worker.isolation
    finally:
        if own_worker:
            worker.close()
    notes = list(submission.notes)
    notes += [f"{name}.py failed to import: {e['type']}: {e['message']}" for name, e in import_errors.items()]
    notes += [f"suite collection error: {e}" for e in errors]
    return GradeResult(
        student=student or student_id(path),
        submission=str(path),
        digest=submission.digest,
        functions=score_cases(cases, config),
        seed=seed,
        sandbox=mode,
        execution_time=time.perf_counter() - started,
        notes=notes,
    )


def grade_in_process(implementation: Any, config: GradingConfig, *, seed: int, student: str,
                     modules: list[str] | None = None) -> GradeResult:
    """Grade trusted code (reference, mistake variants) without a worker: for the project's tests."""
    started = time.perf_counter()
    cases, errors = run_suites(implementation, seed=seed, device=config.device, modules=modules)
    return GradeResult(
        student=student, submission=str(getattr(implementation, "spec", student)), digest="",
        functions=score_cases(cases, config), seed=seed, sandbox="none (trusted, in-process)",
        execution_time=time.perf_counter() - started,
        notes=[f"suite collection error: {e}" for e in errors],
    )

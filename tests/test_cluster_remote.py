"""`autograder batch --cluster tcp://...` against a real scheduler and worker processes.

The scheduler and the worker are started the way a cluster's are (`dask scheduler`,
`dask worker`), each in a working directory of its own; the batch runs from a third one with a
relative folder of submissions. Jobs carry the submissions' sources and grading.yaml, so the
worker needs neither the client's paths nor its working directory.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder import jobs
from autograder.intake import load_submission

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "submissions"

pytest.importorskip("distributed")


def _start(args: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=cwd, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def scheduler_and_worker(tmp_path):
    """A `dask scheduler` and one `dask worker`, each started in its own empty directory."""
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    for folder in ("scheduler", "worker"):
        (tmp_path / folder).mkdir()
    address_file = tmp_path / "scheduler" / "scheduler.json"
    scheduler = _start(dask + ["--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(address_file)],
                       tmp_path / "scheduler", tmp_path / "scheduler.log")
    procs = [scheduler]
    try:
        for _ in range(300):  # bounded: 30 s for the scheduler to write its address
            if address_file.exists() and address_file.read_text().strip().endswith("}"):
                break
            time.sleep(0.1)
        address = json.loads(address_file.read_text())["address"]
        worker = _start([sys.executable, "-m", "distributed.cli.dask_worker", address,
                         "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                         "--local-directory", str(tmp_path / "worker")],
                        tmp_path / "worker", tmp_path / "worker.log")
        procs.append(worker)
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)


def test_a_relative_folder_is_graded_by_workers_elsewhere(scheduler_and_worker, tmp_path):
    client_dir = tmp_path / "instructor"
    (client_dir / "class").mkdir(parents=True)
    for name in ("alice", "bob", "carol.ipynb"):
        source = EXAMPLES / name
        copy = shutil.copytree if source.is_dir() else shutil.copyfile
        copy(source, client_dir / "class" / name)
    proc = subprocess.run([sys.executable, "-m", "autograder.cli", "batch", "class",
                           "--cluster", scheduler_and_worker, "--seed", "1",
                           "--gradebook", "grades.sqlite", "--csv", "out/grades.csv"],
                          cwd=client_dir, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "Traceback" not in output and "no such file" not in output
    from autograder.gradebook import Gradebook

    with Gradebook(client_dir / "grades.sqlite") as book:
        rows = {row.student: row for row in book.latest(include_errors=True)}
        assert {s: r.status for s, r in rows.items()} == {s: "graded" for s in
                                                          ("alice", "bob", "carol")}
        mistakes = {s: {c.mistake for c in book.cases(r.id) if c.mistake}
                    for s, r in rows.items()}
    assert rows["alice"].score == rows["alice"].max_score
    assert mistakes == {"alice": set(), "bob": {"attention.no_scale"},
                        "carol": {"masks.causal_top_left"}}
    assert (client_dir / "out" / "grades.csv").exists()


def test_a_worker_running_another_grader_refuses(monkeypatch):
    setup = jobs.GradingSetup.from_path(None)
    foreign = jobs.GradingSetup(setup.config_text, setup.config_name, "0" * 64)
    monkeypatch.setattr(jobs, "_PROCESS_STATE", {})
    outcome = jobs.grade_group_job([(load_submission(EXAMPLES / "alice"), "alice")], 1, foreign)
    assert outcome[0][0] == "unavailable"
    assert "another grader" in outcome[0][1] and "same version" in outcome[0][1]


def test_a_job_carries_sources_and_config_text_not_paths():
    setup = jobs.GradingSetup.from_path(None)
    assert "modules:" in setup.config_text  # the text itself travels
    entries = jobs.job_entries([type("Item", (), {"submission": None, "path": EXAMPLES / "alice",
                                                  "student": "alice"})()])
    submission, student = entries[0]
    assert student == "alice" and "def causal_mask" in submission.modules["masks"]

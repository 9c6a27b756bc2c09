"""A grading pool's processes end with the process that started them, however it ends: a
server or `autograder batch` killed outright (SIGKILL, or an exit without shutting its pool
down) leaves no grading process behind, waiting forever on pipes its siblings hold open."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Starts a pool of two with `initializer`, prints the processes' pids, then exits at once
# without shutting the pool down (as a killed parent would).
PARENT = """
import multiprocessing, os, sys
from concurrent.futures import ProcessPoolExecutor
from autograder import jobs
setup = jobs.GradingSetup.from_path(None)
pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"),
                           initializer=getattr(jobs, sys.argv[1]), initargs=(setup,))
pids = {pool.submit(jobs.process_id).result(timeout=240) for _ in range(8)}
print(" ".join(map(str, sorted(pids))), flush=True)
os._exit(0)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
@pytest.mark.parametrize("initializer", ["pool_process_init", "warm_process"])
def test_pool_processes_end_with_their_parent(initializer):
    done = subprocess.run([sys.executable, "-c", PARENT, initializer], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    pids = [int(pid) for pid in done.stdout.split()]
    assert pids and os.getpid() not in pids
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [pid for pid in pids if _alive(pid)]
    for pid in left:  # do not leave them to the rest of the run
        os.kill(pid, 9)
    assert not left, f"grading processes outlived their parent: {left}"

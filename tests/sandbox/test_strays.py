"""Processes a submission left behind are found without any marker in their environment.

rlimits mode: every process of a submission child stays in the child's session (its seccomp
filter refuses setsid and setpgid), so when the zygote itself is gone (killed from outside, as
a crash would), closing the worker still finds and kills them by session.
"""
import os
import signal
import textwrap
import time

import pytest
from process_probe import pids_with, wait_until

from autograder.sandbox import Worker

SLEEPER = textwrap.dedent('''
    import os, sys

    def spawn(marker):
        if os.fork() == 0:
            try:
                os.setsid()                  # refused: the process stays in the session
                escaped = "escaped"
            except PermissionError:
                escaped = "kept"
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(120)",
                                      marker, escaped])
        return os.getsid(0)
''')






def test_strays_of_a_dead_zygote_are_killed_by_session():
    marker = f"autograder-stray-{os.getpid()}-{time.monotonic_ns()}"
    worker = Worker("rlimits", timeout_s=20)
    try:
        worker.load_submission({"decoding": SLEEPER})
        session = worker.call("decoding", "spawn", (marker,))
        assert wait_until(lambda: bool(pids_with(marker)))
        (pid,) = pids_with(marker)
        assert os.getsid(pid) == session  # setsid was refused
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            assert fh.read().split(b"\0")[-2] == b"kept"
        os.kill(worker._proc.pid, signal.SIGKILL)  # the zygote dies; nothing reaps its children
        worker._proc.wait(timeout=10)
    finally:
        worker.close()
    assert wait_until(lambda: not pids_with(marker)), "a process of the submission survived"


@pytest.mark.parametrize("name", ["AUTOGRADER_SANDBOX_TOKEN"])
def test_no_marker_variable_in_the_worker(name):
    with Worker("rlimits", timeout_s=20) as worker:
        worker.load_submission({"m": "import os\ndef env():\n    return sorted(os.environ)\n"})
        names = worker.call("m", "env")
    assert name not in names
    assert set(names) <= {"PATH", "LANG", "LC_ALL", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "HOME",
                          "TMPDIR", "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "LC_CTYPE"}

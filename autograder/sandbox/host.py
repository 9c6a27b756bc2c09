"""What the trusted side sets up on this machine for a worker: its environment, its uid, and
how to find its processes again (no marker in the environment).
"""
from __future__ import annotations

import os
import secrets
import signal
import time
from dataclasses import dataclass


@dataclass
class StrayMarks:
    """How an rlimits worker's processes are found once its zygote is gone (no env marker).

    Every process of a submission child stays in the child's session (its seccomp filter
    refuses setsid and setpgid), so the sessions of the zygote and of each child it forked
    find them all; a worker with a uid of its own is also found by that uid.
    """

    sessions: set[int]
    uid: int | None = None


def process_marks(pid: int) -> tuple[int, int] | None:
    """``(session id, uid)`` of a running process (None: gone or unreadable)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        session = int(stat[stat.rindex(b")") + 2:].split()[3])
        return session, os.stat(f"/proc/{pid}").st_uid
    except (OSError, ValueError, IndexError):
        return None


def kill_marked_processes(marks: StrayMarks) -> int:
    """SIGKILL every process in one of `marks`' sessions or running as its uid."""
    killed = 0
    me = os.getpid()
    for _ in range(50):
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == me:
                continue
            got = process_marks(int(name))
            if got and (got[0] in marks.sessions or (marks.uid is not None and got[1] == marks.uid)):
                found.append(int(name))
        if not found:
            break
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        time.sleep(0.01)
    return killed


def worker_environment(threads: int, home: str) -> dict[str, str]:
    """The worker's whole environment: an allow-list of what Python and torch need.

    Nothing of the grader's own environment is passed on (no database URL, no LMS token, no
    marker): only these names, plus the GPU selection variables where the grader has them.
    """
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "HOME": home, "TMPDIR": home}
    for name in ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    return env


def readable_by_anyone(path: str) -> bool:
    """Whether a user with no relation to the owner can reach and read `path`."""
    import stat as stat_mod

    path = os.path.abspath(path)
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return True  # absent: nothing to read there anyway
    wanted = stat_mod.S_IROTH | (stat_mod.S_IXOTH if stat_mod.S_ISDIR(mode) else 0)
    if mode & wanted != wanted:
        return False
    parent = os.path.dirname(path)
    while parent and parent != "/":
        try:
            if not os.stat(parent).st_mode & stat_mod.S_IXOTH:
                return False
        except OSError:
            return False
        parent = os.path.dirname(parent)
    return True


def own_uid_for_worker(paths) -> int | None:
    """A fresh unprivileged uid for an rlimits worker, when the grader runs as root.

    None where the grader is not root, or where one of `paths` (the interpreter, its stdlib and
    site dirs) is not readable by other users: a worker under another uid could not import.
    The uid is drawn from a range no account uses and checked against running processes.
    """
    if os.geteuid() != 0 or not all(readable_by_anyone(p) for p in paths):
        return None
    running = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            got = process_marks(int(name))
            if got:
                running.add(got[1])
    for _ in range(100):
        uid = 1_000_000 + secrets.randbelow(1_000_000)
        if uid not in running:
            return uid
    return None  # pragma: no cover

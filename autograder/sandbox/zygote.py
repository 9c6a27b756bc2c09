"""The worker's zygote: a Python that imported torch once and forks one child per submission.

This file runs INSIDE the sandbox (standard library, torch, and the other worker files; see
:mod:`autograder.sandbox.child` for the submission child). Started by the trusted side as
``python -I -S -c <boot> <config json>`` (:func:`main`).

Process tree and channels (``T`` = trusted grader, ``Z`` = zygote, ``C`` = submission child)::

    T --control socket (frames; SCM_RIGHTS)--> Z --fork--> C
    T --request pipe--> C --response pipe--> T          (one pair per forked C)

``Z`` serves control operations on its socket (stdin when started) and answers with the
replies of :mod:`autograder.sandbox.protocol`:

    {"op": "fork", "gen": n}   + 2 fds [request read end, response write end]
                                kill every descendant, wipe the scratch area, fork C on the fds
                                -> Forked(gen=n, pid=pid)
    {"op": "kill", "gen": n}    kill every descendant          -> Killed(gen=n)
    {"op": "strays", "gen": n}  kill every descendant but C    -> Strays(gen=n, count=k)
    (every ORPHAN_SWEEP_S)      kill daemons re-parented to Z  -> Strays(gen=n, count=k)
                                                                   (only when k > 0)
    {"op": "exit"}              kill every descendant and exit
    (unsolicited)               C ended by itself              -> Died(gen=n, status=raw
                                                                   wait status)
    (an op it cannot do)                                       -> ZygoteError(message)

``Z`` is a child subreaper, so a double-forked daemon is re-parented to it and is still found
by the descendant walk (and C's seccomp filter keeps every process of C in C's session).
"""
from __future__ import annotations

import gc
import importlib
import os
import select
import signal
import socket
import sys
import time

from autograder.sandbox import fences, frames, wire
from autograder.sandbox.child import OP_FENCE, PR_SET_PDEATHSIG, child_main, fcntl_dup_high, prctl
from autograder.sandbox.forbidden import GUARD, guard_thread_start, install_guards
from autograder.sandbox.protocol import (
    Died,
    Forked,
    Killed,
    Ready,
    Reply,
    Strays,
    WorkerConfig,
    ZygoteError,
)

ORPHAN_SWEEP_S = 0.25     # how often Z looks for daemons re-parented to it while C lives
_PR_SET_CHILD_SUBREAPER = 36


# ------------------------------------------------------------------------------------------
# finding and killing descendants
# ------------------------------------------------------------------------------------------

def _children_of(pid: int) -> list[int]:
    """Direct children of `pid` (via /proc/<pid>/task/*/children, else a /proc scan)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    ok = False
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out.extend(int(p) for p in fh.read().split())
            ok = True
        except (OSError, ValueError):
            continue
    if ok:
        return out
    for name in os.listdir("/proc"):  # pragma: no cover - kernels without CONFIG_PROC_CHILDREN
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    stat = fh.read()
                if int(stat[stat.rindex(b")") + 2:].split()[1]) == pid:
                    out.append(int(name))
            except (OSError, ValueError):
                continue
    return out


def _sigkill_each(pids: list[int]) -> int:
    """SIGKILL each pid; returns how many signals were delivered."""
    delivered = 0
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            delivered += 1
        except OSError:  # already gone
            pass
    return delivered


def _exited_children():
    """``(pid, raw wait status)`` of each child that has ended, without blocking."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        yield pid, status


def descendants(pid: int) -> list[int]:
    """Every descendant of `pid`, parents before children."""
    seen: list[int] = []
    todo = [pid]
    while todo:
        kids = _children_of(todo.pop())
        for kid in kids:
            if kid not in seen:
                seen.append(kid)
                todo.append(kid)
    return seen


# ------------------------------------------------------------------------------------------
# the zygote
# ------------------------------------------------------------------------------------------

class _Zygote:
    def __init__(self, config: WorkerConfig):
        self.config = config
        self.pid_namespace = config.pid_namespace
        self.scratch = config.scratch
        self.child_pid: int | None = None
        self.child_gen: int | None = None
        self.killing = False
        self.fds: list[int] = []

    # -- killing and reaping ----------------------------------------------------------------

    def reap(self) -> None:
        """Collect every exited child; report C's end unless we killed it ourselves."""
        for pid, status in _exited_children():
            if pid == self.child_pid:
                gen, self.child_pid, self.child_gen = self.child_gen, None, None
                if not self.killing:
                    self.kill_all()  # whatever C left behind goes with it
                    self.send(Died(gen=gen, status=status))

    def kill_all(self, spare: int | None = None) -> int:
        """SIGKILL every descendant except `spare`; repeat until none is left. Returns a count."""
        me = os.getpid()
        killed = 0
        self.killing = True
        try:
            if spare is None and self.pid_namespace and me != 1:
                try:
                    os.kill(-1, signal.SIGKILL)  # the whole PID namespace but us and its init
                except OSError:
                    pass
            for _ in range(1000):
                targets = [p for p in descendants(me) if p != spare]
                if not targets:
                    break
                killed += _sigkill_each(targets)
                time.sleep(0.001)
                self._reap_quietly(spare)
            self._reap_quietly(spare)
        finally:
            self.killing = False
        return killed

    def kill_orphans(self) -> int:
        """SIGKILL every process re-parented to us (a daemon C double-forked) and its tree.

        C and its own descendants are spared: C may be inside a call. Cheap when there is
        nothing to kill (one /proc read), so it runs a few times a second.
        """
        me = os.getpid()
        killed = 0
        for _ in range(100):
            orphans = [p for p in _children_of(me) if p != self.child_pid]
            if not orphans:
                break
            killed += _sigkill_each([v for o in orphans for v in (o, *descendants(o))])
            time.sleep(0.001)
            self.reap()
        return killed

    def _reap_quietly(self, spare: int | None) -> None:
        for pid, _status in _exited_children():
            if pid == self.child_pid and pid != spare:
                self.child_pid = self.child_gen = None

    def wipe_scratch(self) -> None:
        """Remove everything the previous child wrote (another submission must not see it)."""
        import shutil
        for name in os.listdir(self.scratch):
            path = os.path.join(self.scratch, name)
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.unlink(path)
            except OSError:
                pass
        os.makedirs(os.path.join(self.scratch, "work"), exist_ok=True)

    # -- control channel -----------------------------------------------------------------------

    def send(self, reply: Reply) -> None:
        frames.write_all_blocking(self.ctl, frames.pack_frame(reply.header()))

    def run(self) -> None:
        cfg = self.config
        self.ctl = fcntl_dup_high(0, 900)
        self.ctl_sock = socket.socket(fileno=self.ctl)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(2, 1)  # our own diagnostics go to the trusted side's log file
        os.close(null)
        if cfg.parent_pid:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != cfg.parent_pid:
                os._exit(1)
        prctl(_PR_SET_CHILD_SUBREAPER, 1)

        started = time.monotonic()
        import torch  # noqa: F401 - the point of the zygote: import once, fork many times
        import torch.nn.functional  # noqa: F401
        for name in ("math", "re", "collections", "itertools", "functools", "typing",
                     "dataclasses", "string", "unicodedata", "heapq", "operator", "copy"):
            importlib.import_module(name)
        wire._tinylm_class()
        _warm_up()
        install_guards(list(cfg.forbidden_apis))
        OP_FENCE.prepare(list(cfg.forbidden_apis))
        guard_thread_start(GUARD)
        # What is imported now lives as long as the zygote: in the permanent generation, a
        # forked child's collections never walk it (nor copy the shared pages they would touch).
        gc.collect()
        gc.freeze()
        import_s = time.monotonic() - started
        self.landlock = 0
        in_force = ["bubblewrap namespaces (user, pid, net, mount, ipc, uts)"] \
            if self.pid_namespace else []
        if cfg.drop_capabilities and fences.drop_capabilities():
            in_force.append("uid 0 without capabilities")
        elif os.geteuid() != 0 and cfg.own_uid:
            in_force.append(f"unprivileged uid {os.geteuid()} of its own")
        if cfg.landlock_read:
            os.makedirs(os.path.join(self.scratch, "work"), exist_ok=True)
            self.landlock = fences.apply_landlock(list(cfg.landlock_read), [self.scratch])
            if self.landlock:
                in_force.append(f"Landlock ABI {self.landlock} (reads: system and Python only; "
                              "writes: scratch only"
                              + ("; no TCP" if self.landlock >= 4 else "")
                              + ("; no signals out" if self.landlock >= 6 else "") + ")")
        in_force.append("rlimits (memory, CPU, files, output"
                      + (", processes" if os.geteuid() != 0 else "") + ")")

        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        os.set_blocking(wake_r, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.wake = (wake_r, wake_w)
        self.wipe_scratch()
        self.send(Ready(pid=os.getpid(), import_s=import_s, vm_bytes=_vm_size(),
                        landlock=self.landlock, fences=in_force))

        reader = frames.FrameReader(wire.Limits(max_frame_bytes=1 << 20))
        fds: list[int] = []
        last_sweep = time.monotonic()
        while True:
            try:
                ready, _, _ = select.select([self.ctl, wake_r], [], [],
                                            ORPHAN_SWEEP_S if self.child_pid else None)
            except InterruptedError:  # pragma: no cover - PEP 475 retries for us
                continue
            if self.child_pid and time.monotonic() - last_sweep >= ORPHAN_SWEEP_S:
                last_sweep = time.monotonic()
                count = self.kill_orphans()
                if count:
                    self.send(Strays(gen=self.child_gen, count=count))
            if wake_r in ready:
                try:
                    while os.read(wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
                self.reap()
            if self.ctl in ready:
                try:
                    data, anc, _flags, _addr = self.ctl_sock.recvmsg(
                        1 << 16, socket.CMSG_SPACE(16 * 4))
                except InterruptedError:  # pragma: no cover
                    continue
                for level, kind, payload in anc:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        usable = len(payload) - len(payload) % 4
                        fds.extend(int.from_bytes(payload[i:i + 4], sys.byteorder)
                                   for i in range(0, usable, 4))
                if not data:
                    self.shutdown()
                reader.feed(data)
                while (payload := reader.next_payload()) is not None:
                    header, _ = frames.unpack_payload(payload)
                    self.handle(header, fds)

    def handle(self, header: dict, fds: list[int]) -> None:
        op = header.get("op")
        gen = header.get("gen")
        if op == "fork":
            if len(fds) < 2:
                self.send(ZygoteError(message="fork without its two fds"))
                return
            req_r, resp_w = fds.pop(0), fds.pop(0)
            self.kill_all()
            self.reap()
            self.wipe_scratch()
            pid = os.fork()
            if pid == 0:
                try:
                    child_main(req_r, resp_w, self, header)
                finally:
                    os._exit(70)
            os.close(req_r)
            os.close(resp_w)
            self.child_pid, self.child_gen = pid, gen
            self.send(Forked(gen=gen, pid=pid))
        elif op == "kill":
            self.kill_all()
            self.reap()
            self.send(Killed(gen=gen))
        elif op == "strays":
            count = self.kill_all(spare=self.child_pid) if self.child_pid else 0
            self.send(Strays(gen=gen, count=count))
        elif op == "exit":
            self.shutdown()
        else:
            self.send(ZygoteError(message=f"unknown op {op!r:.40}"))

    def shutdown(self) -> None:
        self.kill_all()
        os._exit(0)


def _warm_up() -> None:
    """Run each family of ops once, so that forked children start warm.

    The first call of a torch kernel, and the first safetensors round trip, pay one-off
    initialisation (~0.45 s in all here); paid in the zygote, every child inherits it.
    Runs before the forbidden-API guards are installed, and calls none of them.
    """
    import torch

    causal = torch.ones(4, 4, dtype=torch.bool).tril()
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        x = torch.randn(2, 3, 4, 4).to(dtype)
        scores = (x @ x.transpose(-2, -1)) / 2.0
        weights = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
        torch.nan_to_num(weights).sum(-1)
        torch.log_softmax(x, dim=-1)
        torch.erf(x), torch.tanh(x), torch.sin(x), torch.cos(x), torch.exp(x), torch.sqrt(x.abs())
        x.mean(-1, keepdim=True), x.var(-1, unbiased=False), x.std(-1)
        torch.nn.functional.linear(x, x[0, 0], x[0, 0, 0])
        torch.cat([x, x], dim=-1).reshape(2, 3, 4, 2, 4).transpose(1, 2).contiguous().view(2, 4, -1)
        torch.sort(x, dim=-1, descending=True), torch.topk(x, 2), torch.cumsum(x, -1)
        torch.where(causal, x, torch.zeros((), dtype=dtype)), torch.isclose(x, x), x.argmax(-1)
        torch.outer(torch.arange(4, dtype=dtype), torch.arange(2, dtype=dtype)).float()
    torch.broadcast_shapes((2, 1), (1, 3))  # imports torch._refs on first use (~0.45 s)
    torch.multinomial(torch.ones(2, 5), 1, generator=torch.Generator().manual_seed(0))
    torch.arange(6).repeat_interleave(2).unique()
    jsonable, tensors = wire.encode_value({"x": torch.randn(2, 3), "i": torch.arange(3), "b": causal})
    header, received = frames.unpack_payload(frames.pack_frame({"v": jsonable}, tensors)[8:])
    wire.decode_value(header["v"], received)


def _vm_size() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


# ------------------------------------------------------------------------------------------

def main() -> None:
    """Entry point: ``python -I -S -c <boot> <config json>`` (see client.py)."""
    _Zygote(WorkerConfig.from_json(sys.argv[1])).run()


if __name__ == "__main__":  # pragma: no cover
    main()

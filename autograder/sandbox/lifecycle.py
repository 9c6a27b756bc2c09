"""The worker's processes on the trusted side: start and stop the zygote, fork and kill children.

:class:`WorkerLifecycle` is the half of :class:`autograder.sandbox.client.Worker` that owns its
processes: it picks the mode (bubblewrap, or rlimits where bubblewrap cannot run and the mode
is ``auto``), stages the worker code, starts the zygote with its
:class:`~autograder.sandbox.protocol.WorkerConfig`, waits for its
:class:`~autograder.sandbox.protocol.Ready` reply (falling back to rlimits when a bubblewrap
zygote never gets there under ``auto``), asks it to fork and kill submission children, and
tears everything down (also as a last resort, at garbage collection). The Worker owns the
settings and state these methods use; the frames travel through
:class:`~autograder.sandbox.channels.ZygoteChannels`.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

from autograder.sandbox import fences, frames, wire
from autograder.sandbox.channels import DeadlinePassed, ZygoteGone, close_fd
from autograder.sandbox.errors import SandboxUnavailable
from autograder.sandbox.host import StrayMarks, kill_marked_processes, own_uid_for_worker, worker_environment
from autograder.sandbox.layout import SYSTEM_READ_PATHS as _SYSTEM_READ_PATHS
from autograder.sandbox.layout import bwrap_command as _bwrap_command
from autograder.sandbox.layout import python_layout as _python_layout
from autograder.sandbox.layout import stage_worker_code as _stage_worker_code
from autograder.sandbox.probe import boot_line, explain_start_failure, namespaces_problem
from autograder.sandbox.protocol import Ready, ReplyKind, WorkerConfig
from autograder.sandbox.replies import text_list

_warned: set[str] = set()


def _warn_once(line: str) -> None:
    """One line on stderr per distinct warning and process (a batch starts many workers)."""
    if line not in _warned:
        _warned.add(line)
        print(line, file=sys.stderr, flush=True)


def _finalize(proc, marks: StrayMarks | None, dirs: list[str]) -> None:
    """Last-resort cleanup (garbage collection or interpreter exit)."""
    if proc is not None and proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass
    if marks is not None:
        kill_marked_processes(marks)
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


class WorkerLifecycle:
    """Starting, stopping and forking the worker's processes (mixed into Worker)."""

    def start(self, wait: bool = True):
        """Start the zygote (python + import torch) if it is not running.

        ``wait=False`` only launches it: the caller can import its own modules while the
        zygote imports torch on the other core; the first use waits for it to be ready.
        """
        with self._lock:
            if self.mode is None:
                problem = (namespaces_problem() if self.requested_mode != "rlimits"
                           else None)
                if self.requested_mode == "auto":
                    self.mode = "rlimits" if problem else "bubblewrap"
                    if problem:
                        self.fallback_reason = problem
                        _warn_once(f"warning: sandbox: auto falls back to rlimits: {problem}")
                elif self.requested_mode == "bubblewrap" and problem:
                    raise SandboxUnavailable(
                        f"sandbox: bubblewrap cannot run here: {problem} (fix that, or set "
                        "sandbox: auto or rlimits in grading.yaml)")
                else:
                    self.mode = self.requested_mode
            if self._proc is None or self._proc.poll() is not None:
                self._launch_zygote()
            if wait and self._ready_deadline is not None:
                self._await_ready()
        return self

    def close(self) -> None:
        """Kill the zygote, the child and everything they started; remove scratch files."""
        with self._lock:
            self._drop_child()
            if self._ctl is not None:
                try:
                    self._ctl.sendall(frames.pack_frame({"op": "exit"}))
                except OSError:
                    pass
            self._stop_zygote()

    def _stop_zygote(self) -> None:
        proc, self._proc = self._proc, None
        if self._ctl is not None:
            self._ctl.close()
            self._ctl = None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        _finalize(proc, self._marks if self.mode == "rlimits" else None, self._dirs)
        self._dirs = []
        if self._log is not None:
            self._log.close()
            self._log = None
        self._child_gen = None
        self._ready_deadline = None
        self._died.clear()
        self._acks.clear()

    def _launch_zygote(self) -> None:
        self._stop_zygote()
        layout = _python_layout()
        stage = tempfile.mkdtemp(prefix="autograder-worker-code-")
        self._dirs = [stage]
        _stage_worker_code(Path(stage) / "code")
        self._marks = StrayMarks(set())
        config = dict(
            threads=self.threads, memory_bytes=self.memory_bytes, data_bytes=self.data_bytes,
            cpu_s=self.cpu_s, max_processes=self.max_processes, max_open_files=self.max_open_files,
            max_file_bytes=self.max_file_bytes, max_output_bytes=self.max_output_bytes,
            cuda_memory_bytes=self.cuda_memory_bytes,
            forbidden_apis=tuple(sorted({a for apis in self.forbidden.values() for a in apis})),
            wire_limits=self.wire_limits,
        )  # the keyword arguments of WorkerConfig
        sys_path = list(layout.sys_path)
        user = None
        if self.mode == "bubblewrap":
            empty = os.path.join(stage, "empty")
            open(empty, "w").close()
            prefix = _bwrap_command(layout, os.path.join(stage, "code"), empty,
                                    self.max_tmp_bytes, self.gpu)
            config.update(scratch="/tmp", pid_namespace=True)
            env = worker_environment(self.threads, "/tmp")
            cwd = "/"
            self._trusted_fences = []
        else:
            scratch = tempfile.mkdtemp(prefix="autograder-worker-scratch-")
            self._dirs.append(scratch)
            sys_path[0] = os.path.join(stage, "code")
            prefix = []
            config.update(scratch=scratch, pid_namespace=False, parent_pid=os.getpid())
            if self.landlock:
                config["landlock_read"] = (*_SYSTEM_READ_PATHS, *layout.roots, os.path.join(stage, "code"))
            user = own_uid_for_worker([layout.executable] + sys_path[1:]) if self.own_uid else None
            if user is not None:
                os.chmod(stage, 0o755)
                os.chown(scratch, user, user)
                config["own_uid"] = True
                self._marks.uid = user
            elif os.geteuid() == 0:
                config["drop_capabilities"] = True
            # Same uid as the worker (or root without capabilities): make this process's own
            # /proc entries (environ, cwd, cmdline) unreadable to it. Lasts for this process.
            fences.set_dumpable(False)
            self._trusted_fences = ["grader's /proc entries private (not dumpable)"]
            env = worker_environment(self.threads, scratch)
            cwd = scratch
        boot = boot_line(sys_path, "from autograder.sandbox.zygote import main; main()")
        cmd = prefix + [layout.executable, "-I", "-S", "-c", boot, WorkerConfig(**config).to_json()]

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._log = tempfile.TemporaryFile(prefix="autograder-worker-log-")
        started = time.monotonic()
        try:
            ids = {} if user is None else {"user": user, "group": user, "extra_groups": []}
            self._proc = subprocess.Popen(cmd, stdin=theirs.fileno(), stdout=self._log,
                                          stderr=self._log, env=env, cwd=cwd,
                                          start_new_session=True, close_fds=True, **ids)
        except OSError as exc:
            ours.close()
            raise SandboxUnavailable(f"cannot start the worker: {exc}") from exc
        finally:
            theirs.close()
        self._ctl = ours
        self._ctl.setblocking(False)
        self._ctl_reader = frames.FrameReader(wire.Limits(max_frame_bytes=1 << 20))
        if self.mode == "rlimits":  # the zygote leads its own session (start_new_session)
            self._marks.sessions.add(self._proc.pid)
        self._finalizer = weakref.finalize(self, _finalize, self._proc,
                                           self._marks if self.mode == "rlimits" else None,
                                           list(self._dirs))
        self._launched_at = started
        self._ready_deadline = started + self.start_timeout_s

    def _await_ready(self) -> None:
        deadline, started = self._ready_deadline, self._launched_at
        while True:
            try:
                reply = self._next_ctl(deadline)
            except (DeadlinePassed, ZygoteGone):
                log = self._log_tail()
                self._stop_zygote()
                if self.mode == "bubblewrap":
                    problem = explain_start_failure(log, _python_layout())
                    if self.requested_mode == "auto":  # the zygote was the probe: fall back
                        self.fallback_reason = problem
                        _warn_once(f"warning: sandbox: auto falls back to rlimits: {problem}")
                        self.mode = "rlimits"
                        self._launch_zygote()
                        deadline, started = self._ready_deadline, self._launched_at
                        continue
                    raise SandboxUnavailable(
                        f"sandbox: bubblewrap cannot run here: {problem} (fix that, or set "
                        "sandbox: auto or rlimits in grading.yaml)", log=log) from None
                lines = [ln for ln in log.splitlines() if ln.strip()]
                raise SandboxUnavailable(
                    f"the rlimits worker did not start: {lines[-1] if lines else 'no message'}",
                    log=log) from None
            if isinstance(reply, Ready):
                break
        self._ready_deadline = None
        self.zygote_start_s = time.monotonic() - started
        self.zygote_vm_bytes = reply.vm_bytes
        abi = reply.landlock
        self.landlock_abi = abi if isinstance(abi, int) else 0
        self._zygote_fences = text_list(reply.fences)
        self.fences = self._zygote_fences + self._trusted_fences

    def _log_tail(self, limit: int = 4000) -> str:
        if self._log is None:
            return ""
        try:
            self._log.seek(0, os.SEEK_END)
            size = self._log.tell()
            self._log.seek(max(0, size - limit))
            return self._log.read().decode("utf-8", "replace")
        except OSError:  # pragma: no cover
            return ""

    def _drop_child(self) -> None:
        """Kill the current child (and its leftovers) through the zygote; close its pipes."""
        gen = self._child_gen
        close_fd(self._req_w)
        close_fd(self._resp_r)
        self._req_w = self._resp_r = None
        self._resp_reader = None
        self._child_gen = None
        if gen is None or self._ctl is None or gen in self._died:
            return
        try:
            self._send_ctl({"op": "kill", "gen": gen})
        except ZygoteGone:
            self._stop_zygote()
            return
        if not self._wait_ack(ReplyKind.KILLED, gen, 10):
            self._stop_zygote()  # a wedged zygote: tear the whole sandbox down

    def _fork_child(self) -> None:
        self.start()
        self._gen += 1
        gen = self._gen
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        for fd in (req_w, resp_r):
            os.set_inheritable(fd, False)
        try:
            self._send_ctl({"op": "fork", "gen": gen}, [req_r, resp_w])
        except ZygoteGone:
            for fd in (req_r, req_w, resp_r, resp_w):
                close_fd(fd)
            self._stop_zygote()
            self.start()
            return self._fork_child()
        finally:
            close_fd(req_r)
            close_fd(resp_w)
        self._req_w, self._resp_r, self._child_gen = req_w, resp_r, gen
        self._last_sweep = time.monotonic()  # the zygote killed every descendant before forking
        self._resp_reader = frames.FrameReader(self.wire_limits)
        if not self._wait_ack(ReplyKind.FORKED, gen, 30):
            log = self._log_tail()
            self._stop_zygote()
            last = (log.strip().splitlines() or ["no message"])[-1]
            raise SandboxUnavailable(f"the sandbox's zygote did not fork a child: {last}", log=log)

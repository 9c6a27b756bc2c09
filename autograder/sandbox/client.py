"""The trusted side of the sandbox: start a warm worker, load submissions, call functions.

A :class:`Worker` owns one zygote (a Python that imported torch once, inside bubblewrap or
under plain rlimits) and, per submission, one forked child that holds the student's modules.
Calls go straight to the child over a pipe pair; the zygote only forks, kills and reports
deaths. Costs: starting the zygote pays the interpreter and the torch import once (~2 s);
:meth:`Worker.load_submission` forks and imports the student's modules in milliseconds.

Every failure of student code is a typed :class:`SandboxError`; after a timeout or a death the
child (and every process it left behind) is killed and a fresh child is forked from the
zygote with the same submission on the next call, so one bad function costs only its own tests.

Not thread-safe across calls by design (one call at a time per worker; a lock enforces it).
``bubblewrap``'s ``--die-with-parent`` and the rlimits mode's ``PR_SET_PDEATHSIG`` fire when
the *thread* that started the worker exits: start workers from a long-lived thread.
"""
from __future__ import annotations

import keyword
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path

from autograder.sandbox import fences, wire
from autograder.sandbox.channels import ChildEnded, DeadlinePassed, ZygoteChannels, ZygoteGone, close_fd
from autograder.sandbox.errors import (
    CallTimeout,
    ForbiddenAPI,
    MemoryLimit,
    NotImplementedYet,
    OutputTooLarge,
    RefusedValue,
    SandboxError,
    SandboxUnavailable,
    StudentError,
    SubmissionUnloadable,
    WorkerDied,
)
from autograder.sandbox.host import StrayMarks, kill_marked_processes, own_uid_for_worker, worker_environment
from autograder.sandbox.layout import SYSTEM_READ_PATHS as _SYSTEM_READ_PATHS
from autograder.sandbox.layout import bwrap_command as _bwrap_command
from autograder.sandbox.layout import python_layout as _python_layout
from autograder.sandbox.layout import stage_worker_code as _stage_worker_code
from autograder.sandbox.probe import (
    boot_line,
    bubblewrap_available,
    bubblewrap_problem,
    explain_start_failure,
    namespaces_problem,
)
from autograder.sandbox.replies import CallResult, death_error, reply_result

__all__ = [
    "Worker", "Sandbox", "CallResult", "SandboxError", "NotImplementedYet", "StudentError",
    "CallTimeout", "WorkerDied", "MemoryLimit", "ForbiddenAPI", "RefusedValue",
    "OutputTooLarge", "SandboxUnavailable", "SubmissionUnloadable", "bubblewrap_available",
    "bubblewrap_problem",
]

# RLIMIT_AS of a submission child. torch 2.13's CPU build maps ~0.65 GiB right after import;
# 2 GiB leaves ~1.35 GiB for the exercises (tiny tensors) and stops the 64 GiB list bomb of the
# hostile set after ~1.4 GB written (1-3 s on a loaded 2-core machine, well inside a 10 s call).
DEFAULT_MEMORY_BYTES = 2 << 30
# Sweep for processes a call left behind after a call at most this often (see Worker.invoke).
STRAYS_INTERVAL_S = 0.1


_warned: set[str] = set()


def _warn_once(line: str) -> None:
    """One line on stderr per distinct warning and process (a batch starts many workers)."""
    if line not in _warned:
        _warned.add(line)
        print(line, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------
# the worker
# ------------------------------------------------------------------------------------------

def _text_list(value) -> list[str]:
    """A list of short strings from the worker (anything else: empty), bounded."""
    if not isinstance(value, list):
        return []
    return [item[:200] for item in value[:20] if isinstance(item, str)]


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


class Worker(ZygoteChannels):
    """A sandboxed, warm Python+torch worker that runs one submission at a time.

    Args:
        mode: ``"auto"`` (bubblewrap when it works here, else rlimits), ``"bubblewrap"`` or
            ``"rlimits"``. :attr:`mode` tells which one runs after :meth:`start`.
        timeout_s: default wall-clock limit of one call.
        memory_bytes: RLIMIT_AS of the submission child (torch alone maps ~0.65 GiB; see
            DEFAULT_MEMORY_BYTES).
        data_bytes: RLIMIT_DATA (None: not set).
        cpu_s: CPU seconds one call may use (RLIMIT_CPU, re-armed per call); default
            ``2 * timeout_s + 5``, a backstop behind the wall-clock timeout.
        max_processes: RLIMIT_NPROC when not root (root ignores it; the PID namespace or the
            descendant walk is what kills extra processes).
        max_open_files, max_file_bytes: RLIMIT_NOFILE and RLIMIT_FSIZE. Printed output goes to
            a file, so printing more than ``max_file_bytes`` ends in :class:`OutputTooLarge`.
        max_output_bytes: captured output kept per call (the rest is cut with a note).
        max_tmp_bytes: size of the private /tmp (bubblewrap mode).
        threads: torch threads in the child.
        forbidden: ``{module: [dotted API names]}`` refused while that module's functions run.
        wire_limits: bounds on messages (:class:`wire.Limits`).
        load_timeout_s: wall-clock limit for importing a submission's modules.
        start_timeout_s: wall-clock limit for starting the zygote.
        gpu: expose NVIDIA devices in the bubblewrap sandbox. RLIMIT_AS is then not set (CUDA
            reserves huge address ranges; use ``data_bytes``); `memory_bytes` caps the CUDA
            caching allocator on each device instead (a per-process memory fraction).
        landlock: in rlimits mode, fence the worker with Landlock where the kernel offers it:
            reads only beneath the Python install, the worker code and system library dirs,
            writes only in its scratch dir, no TCP, no signals to outside processes.
            :attr:`isolation` says whether it took effect.
        static_check: read each submission's source on this (trusted) side for forbidden APIs
            and dynamic routes to torch internals (:mod:`autograder.forbidden_static`); a
            flagged function is refused without running. Off only to test the worker's own
            run-time fences.
        own_uid: in rlimits mode under root, run the worker under a fresh unprivileged uid
            where the Python install is readable by other users (else: uid 0 without
            capabilities). :attr:`fences` lists the fences in force.
    """

    def __init__(self, mode: str = "auto", *, timeout_s: float = 10.0,
                 memory_bytes: int | None = DEFAULT_MEMORY_BYTES, data_bytes: int | None = None,
                 cpu_s: float | None = None, max_processes: int = 64, max_open_files: int = 256,
                 max_file_bytes: int = 64 << 20, max_output_bytes: int = 64 << 10,
                 max_tmp_bytes: int = 512 << 20, threads: int = 1,
                 forbidden: dict[str, list[str]] | None = None,
                 wire_limits: wire.Limits | None = None, load_timeout_s: float = 30.0,
                 start_timeout_s: float = 120.0, gpu: bool = False, landlock: bool = True,
                 static_check: bool = True, own_uid: bool = True):
        if mode not in ("auto", "bubblewrap", "rlimits"):
            raise ValueError(f"mode must be 'auto', 'bubblewrap' or 'rlimits', got {mode!r}")
        self.requested_mode = mode
        self.mode: str | None = None
        self.timeout_s = float(timeout_s)
        self.memory_bytes = None if gpu else memory_bytes
        # with CUDA the same limit caps the caching allocator per device instead (fences.py)
        self.cuda_memory_bytes = memory_bytes if gpu else None
        self.data_bytes = data_bytes
        self.cpu_s = cpu_s if cpu_s is not None else 2 * self.timeout_s + 5
        self.max_processes = max_processes
        self.max_open_files = max_open_files
        self.max_file_bytes = max_file_bytes
        self.max_output_bytes = max_output_bytes
        self.max_tmp_bytes = max_tmp_bytes
        self.threads = threads
        self.forbidden = {m: list(v) for m, v in (forbidden or {}).items()}
        self.wire_limits = wire_limits or wire.DEFAULT_LIMITS
        self.load_timeout_s = load_timeout_s
        self.start_timeout_s = start_timeout_s
        self.gpu = gpu
        self.landlock = landlock
        self.static_check = static_check
        self.own_uid = own_uid
        self._zygote_fences: list[str] = []
        self._trusted_fences: list[str] = []
        self.static_refusals: dict = {}  # {(module, function): forbidden_static.Finding}
        self.landlock_abi = 0
        self.fallback_reason: str | None = None  # why sandbox: auto did not get bubblewrap

        self.zygote_start_s: float | None = None  # last cold start, for reports and benchmarks
        self.restarts = 0                          # children re-forked after a failure
        self.strays_killed = 0                     # processes left behind by calls, killed
        self.import_errors: dict[str, dict] = {}
        self._lock = threading.RLock()
        self._proc: subprocess.Popen | None = None
        self._ready_deadline: float | None = None  # set while a launched zygote is not ready yet
        self._launched_at = 0.0
        self._ctl: socket.socket | None = None
        self._ctl_reader = wire.FrameReader(wire.Limits(max_frame_bytes=1 << 20))
        self._log = None
        self._marks: StrayMarks | None = None  # rlimits mode: how to find its processes
        self.fences: list[str] = []  # the fences in force, from the worker's own reports
        self._dirs: list[str] = []
        self._finalizer = None
        self._gen = 0
        self._child_gen: int | None = None
        self._req_w: int | None = None
        self._resp_r: int | None = None
        self._resp_reader: wire.FrameReader | None = None
        self._died: dict[int, int] = {}
        self._acks: set[tuple[str, int]] = set()
        self._seq = 0
        self._child_pid: int | None = None
        self._last_sweep = 0.0  # monotonic time of the last stray sweep (a fork sweeps too)
        self._modules: dict[str, str] | None = None
        self._load_forbidden: dict[str, list[str]] = {}
        self._skip: dict[str, dict] = {}

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> Worker:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self, wait: bool = True) -> Worker:
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
                    self._ctl.sendall(wire.pack_frame({"op": "exit"}))
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
        )  # the keyword arguments of wire.WorkerConfig
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
        cmd = prefix + [layout.executable, "-I", "-S", "-c", boot, wire.WorkerConfig(**config).to_json()]

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
        self._ctl_reader = wire.FrameReader(wire.Limits(max_frame_bytes=1 << 20))
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
                header = self._next_ctl(deadline)
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
            if header.get("kind") == "ready":
                break
        self._ready_deadline = None
        self.zygote_start_s = time.monotonic() - started
        self.zygote_vm_bytes = header.get("vm_bytes")
        abi = header.get("landlock")
        self.landlock_abi = abi if isinstance(abi, int) else 0
        self._zygote_fences = _text_list(header.get("fences"))
        self.fences = self._zygote_fences + self._trusted_fences

    @property
    def isolation(self) -> str:
        """One line for reports: the mode and exactly which fences are in force.

        E.g. ``rlimits: Landlock ABI 7 (...); /proc: its own entry only; seccomp (...)``. The
        child's own fences are known once a submission was loaded.
        """
        if self.mode is None:
            return "not started"
        return f"{self.mode}: {'; '.join(self.fences)}" if self.fences else self.mode

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

    # -- the submission child ------------------------------------------------------------------

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
        if not self._wait_ack("killed", gen, 10):
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
        self._resp_reader = wire.FrameReader(self.wire_limits)
        if not self._wait_ack("forked", gen, 30):
            log = self._log_tail()
            self._stop_zygote()
            last = (log.strip().splitlines() or ["no message"])[-1]
            raise SandboxUnavailable(f"the sandbox's zygote did not fork a child: {last}", log=log)

    def _ensure_child(self) -> None:
        if self._child_gen is not None:
            return
        if self._modules is None:
            raise RuntimeError("load_submission() first")
        for _attempt in range(len(self._modules) + 1):
            self._fork_child()
            header = {"op": "load", "modules": self._modules, "skip": self._skip,
                      "forbidden": self._load_forbidden}
            deadline = time.monotonic() + self.load_timeout_s
            current = None
            try:
                self._write_child(wire.pack_frame(header, None, self.wire_limits), deadline)
                while True:
                    reply, _ = self._read_child(deadline)
                    if reply.get("kind") == "importing":
                        current = reply.get("module")
                    elif reply.get("kind") == "loaded":
                        self.fences = (self._zygote_fences + _text_list(reply.get("fences"))
                                       + self._trusted_fences)
                        errors = reply.get("errors")
                        self.import_errors = {str(k): v for k, v in errors.items()
                                              if isinstance(v, dict)} if isinstance(errors, dict) else {}
                        return
            except DeadlinePassed:
                problem = {"type": "ImportTimeout",
                           "message": f"importing it took longer than {self.load_timeout_s:g} s",
                           "traceback": ""}
            except ChildEnded as ended:
                err = self._death_error(ended.status, "while importing")
                problem = {"type": type(err).__name__, "message": err.message, "traceback": ""}
            except (wire.WireError, ZygoteGone):
                problem = {"type": "WorkerDied", "message": "the worker broke the protocol "
                           "while importing", "traceback": ""}
            self._drop_child()
            if current not in self._modules or current in self._skip:
                current = next((m for m in self._modules if m not in self._skip), None)
            if current is None:
                break
            self._skip[current] = problem
        raise SubmissionUnloadable("the submission could not be loaded: every module's import "
                                   "ended the sandboxed child")

    # -- public API --------------------------------------------------------------------------------

    def load_submission(self, modules: dict[str, str],
                        forbidden: dict[str, list[str]] | None = None) -> dict[str, dict]:
        """Fork a fresh child holding `modules` ({name: source}); return the import errors.

        The result maps each module that failed to import to ``{"type", "message",
        "traceback"}``; calls into such a module raise :class:`StudentError` with that error.
        `forbidden` overrides the worker's ``{module: [apis]}`` for this submission.
        """
        if not isinstance(modules, dict) or not modules:
            raise ValueError("modules must be a non-empty {name: source} dict")
        for name, source in modules.items():
            if (not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name)
                    or name.startswith("_") or name in sys.stdlib_module_names
                    or name in ("torch", "safetensors", "autograder", "exercises", "numpy")):
                raise ValueError(f"bad module name {name!r}")
            if not isinstance(source, str):
                raise ValueError(f"module {name!r}: the source must be a str")
        with self._lock:
            self._drop_child()
            self._modules = dict(modules)
            self._load_forbidden = {m: list(v) for m, v in
                                    (self.forbidden if forbidden is None else forbidden).items()}
            self._skip = {}
            self.import_errors = {}
            self.static_refusals = {}
            if self.static_check and self._load_forbidden:
                from autograder.forbidden_static import check_submission
                self.static_refusals = check_submission(self._modules, self._load_forbidden)
            self._ensure_child()
            return dict(self.import_errors)

    def call(self, module: str, function: str, args=(), kwargs=None,
             timeout_s: float | None = None):
        """Call ``module.function(*args, **kwargs)`` in the child; return the decoded value."""
        return self.invoke(module, function, args, kwargs, timeout_s).value

    def invoke(self, module: str, function: str, args=(), kwargs=None,
               timeout_s: float | None = None) -> CallResult:
        """Like :meth:`call` but returns :class:`CallResult` (value, output, wall time)."""
        timeout = self.timeout_s if timeout_s is None else float(timeout_s)
        finding = (self.static_refusals.get((module, function))
                   or self.static_refusals.get((module, "*")))  # forbidden_static.WHOLE_MODULE
        if finding is not None:  # refused on the trusted side: the code never runs
            raise ForbiddenAPI(finding.message(f"{module}.{function}"), api=finding.api)
        with self._lock:
            jsonable, tensors = wire.encode_value([list(args), dict(kwargs or {})],
                                                  self.wire_limits)
            self._seq += 1
            seq = self._seq
            frame = wire.pack_frame({"op": "call", "seq": seq, "module": module,
                                     "function": function, "args": jsonable[0],
                                     "kwargs": jsonable[1]}, tensors, self.wire_limits)
            if self._child_gen is not None and self._ctl is not None:
                try:  # a child that died between calls is restarted, not blamed on this call
                    if select.select([self._ctl], [], [], 0)[0]:
                        self._pump_ctl()
                except ZygoteGone:
                    self._stop_zygote()
                if self._child_gen in self._died:
                    self._drop_child()
            restarted = self._child_gen is None and self._modules is not None and self._gen > 0
            self._ensure_child()
            if restarted:
                self.restarts += 1
            deadline = time.monotonic() + timeout
            what = f"{module}.{function}"
            try:
                self._write_child(frame, deadline)
                header, out_tensors = self._read_child(deadline)
            except DeadlinePassed:
                self._drop_child()
                raise CallTimeout(f"{what} did not finish within {timeout:g} s; the worker was "
                                  "killed and restarted") from None
            except ChildEnded as ended:
                self._drop_child()
                raise self._death_error(ended.status, "during the call") from None
            except ZygoteGone:
                self._stop_zygote()
                raise WorkerDied("the sandbox ended during the call; it will be restarted") from None
            except wire.FrameTooLarge as exc:
                self._drop_child()
                raise OutputTooLarge(f"{what} returned a message over the limit: {exc}") from None
            except wire.WireError as exc:
                self._drop_child()
                raise WorkerDied(f"the worker sent a malformed message ({exc}); it was "
                                 "restarted") from None
            if header.get("kind") != "result" or header.get("seq") != seq:
                self._drop_child()
                raise WorkerDied("the worker sent an unexpected message (something wrote to "
                                 "its protocol pipe); it was restarted")
            # Processes a call left behind die soon, not at the next load. A sweep wakes the
            # zygote (two context switches and a /proc walk, ~0.4 ms); once per interval is
            # enough, and the zygote itself kills re-parented daemons every ORPHAN_SWEEP_S.
            if time.monotonic() - self._last_sweep >= STRAYS_INTERVAL_S:
                self._last_sweep = time.monotonic()
                try:
                    self._send_ctl({"op": "strays", "gen": self._child_gen})
                except ZygoteGone:
                    pass
            return self._result(what, header, out_tensors)

    def _result(self, what: str, header: dict, tensors: dict) -> CallResult:
        return reply_result(what, header, tensors, wire_limits=self.wire_limits,
                            max_output_bytes=self.max_output_bytes)

    def _death_error(self, status: int | None, when: str) -> SandboxError:
        return death_error(status, when, memory_bytes=self.memory_bytes, cpu_s=self.cpu_s,
                           max_file_bytes=self.max_file_bytes)

Sandbox = Worker

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

The Worker is this module's submissions and calls plus two mixins: its processes
(:mod:`autograder.sandbox.lifecycle`) and its frames (:mod:`autograder.sandbox.channels`).
"""
from __future__ import annotations

import keyword
import select
import socket
import subprocess
import sys
import threading
import time

from autograder.sandbox import frames, wire
from autograder.sandbox.channels import ChildEnded, DeadlinePassed, ZygoteChannels, ZygoteGone
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
from autograder.sandbox.host import StrayMarks
from autograder.sandbox.lifecycle import WorkerLifecycle
from autograder.sandbox.probe import bubblewrap_available, bubblewrap_problem
from autograder.sandbox.protocol import ErrorInfo, Importing, Loaded, Result
from autograder.sandbox.replies import CallResult, death_error, reply_result, text_list

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


class Worker(WorkerLifecycle, ZygoteChannels):
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
        self.import_errors: dict[str, ErrorInfo] = {}
        self._lock = threading.RLock()
        self._proc: subprocess.Popen | None = None
        self._ready_deadline: float | None = None  # set while a launched zygote is not ready yet
        self._launched_at = 0.0
        self._ctl: socket.socket | None = None
        self._ctl_reader = frames.FrameReader(wire.Limits(max_frame_bytes=1 << 20))
        self._log = None
        self._marks: StrayMarks | None = None  # rlimits mode: how to find its processes
        self.fences: list[str] = []  # the fences in force, from the worker's own reports
        self._dirs: list[str] = []
        self._finalizer = None
        self._gen = 0
        self._child_gen: int | None = None
        self._req_w: int | None = None
        self._resp_r: int | None = None
        self._resp_reader: frames.FrameReader | None = None
        self._died: dict[int, int] = {}
        self._acks: set[tuple[str, int]] = set()
        self._seq = 0
        self._child_pid: int | None = None
        self._last_sweep = 0.0  # monotonic time of the last stray sweep (a fork sweeps too)
        self._modules: dict[str, str] | None = None
        self._load_forbidden: dict[str, list[str]] = {}
        self._skip: dict[str, ErrorInfo] = {}

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> Worker:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def isolation(self) -> str:
        """One line for reports: the mode and exactly which fences are in force.

        E.g. ``rlimits: Landlock ABI 7 (...); /proc: its own entry only; seccomp (...)``. The
        child's own fences are known once a submission was loaded.
        """
        if self.mode is None:
            return "not started"
        return f"{self.mode}: {'; '.join(self.fences)}" if self.fences else self.mode

    # -- the submission child ------------------------------------------------------------------

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
                self._write_child(frames.pack_frame(header, None, self.wire_limits), deadline)
                while True:
                    reply, _ = self._read_child(deadline)
                    if isinstance(reply, Importing):
                        current = reply.module
                    elif isinstance(reply, Loaded):
                        self.fences = (self._zygote_fences + text_list(reply.fences)
                                       + self._trusted_fences)
                        errors = reply.errors
                        self.import_errors = {str(k): v for k, v in errors.items()
                                              if isinstance(v, dict)} if isinstance(errors, dict) else {}
                        return
            except DeadlinePassed:
                problem = ErrorInfo(type="ImportTimeout", message="importing it took longer "
                                    f"than {self.load_timeout_s:g} s", traceback="")
            except ChildEnded as ended:
                err = self._death_error(ended.status, "while importing")
                problem = ErrorInfo(type=type(err).__name__, message=err.message, traceback="")
            except (wire.WireError, ZygoteGone):
                problem = ErrorInfo(type="WorkerDied", message="the worker broke the protocol "
                                    "while importing", traceback="")
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
            frame = frames.pack_frame({"op": "call", "seq": seq, "module": module,
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
                reply, out_tensors = self._read_child(deadline)
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
            if not isinstance(reply, Result) or reply.seq != seq:
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
            return self._result(what, reply, out_tensors)

    def _result(self, what: str, reply: Result, tensors: dict) -> CallResult:
        return reply_result(what, reply, tensors, wire_limits=self.wire_limits,
                            max_output_bytes=self.max_output_bytes)

    def _death_error(self, status: int | None, when: str) -> SandboxError:
        return death_error(status, when, memory_bytes=self.memory_bytes, cpu_s=self.cpu_s,
                           max_file_bytes=self.max_file_bytes)

Sandbox = Worker

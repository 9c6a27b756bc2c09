"""The submission child: forked from the zygote, it loads one submission and serves calls.

This file runs INSIDE the sandbox. It imports only the standard library, torch, safetensors,
the other worker files and (lazily, through wire) :mod:`autograder.tinylm`. No reference code,
suite, expected output or other submission is ever visible here.

``C`` (forked by :mod:`autograder.sandbox.zygote`) leads its own session, stacks its fences
(Landlock's /proc layer, seccomp, rlimits), then reads ``{"op": "load"}`` and
``{"op": "call"}`` requests from its pipe and answers each with one
:class:`~autograder.sandbox.protocol.Result` frame (:class:`_ChildServer`).
"""
from __future__ import annotations

import ctypes
import importlib
import importlib.abc
import importlib.util
import io
import os
import resource
import signal
import sys
import time
import traceback
import types

from autograder.sandbox import fences, frames, wire
from autograder.sandbox.forbidden import GUARD, OpFence, install_guards
from autograder.sandbox.protocol import (
    MEMORY_EXIT,
    ErrorInfo,
    Importing,
    Loaded,
    Outcome,
    Reply,
    Result,
    WorkerConfig,
)

OP_FENCE = OpFence()
PROTOCOL_FD_BASE = 1000   # C's protocol fds live at and above this number
PR_SET_PDEATHSIG = 1
_NOT_IMPLEMENTED = "not implemented yet"
_MAX_MESSAGE = 2000
_MAX_TRACEBACK = 4000


# ------------------------------------------------------------------------------------------
# small process helpers (the zygote uses them too)
# ------------------------------------------------------------------------------------------

def prctl(option: int, arg: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(option, arg, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def fcntl_dup_high(fd: int, low: int) -> int:
    import fcntl
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, low)



# ------------------------------------------------------------------------------------------
# the submission child
# ------------------------------------------------------------------------------------------

class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes ``exercises`` and ``exercises.<m>`` the same module objects as ``<m>``."""

    def __init__(self, names):
        self.names = set(names)

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "exercises":
            return importlib.util.spec_from_loader(fullname, self, is_package=True)
        head, _, tail = fullname.partition(".")
        if head == "exercises" and tail in self.names:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        if spec.name == "exercises":
            return None
        return importlib.import_module(spec.name.partition(".")[2])

    def exec_module(self, module):
        if module.__name__ == "exercises":
            module.__path__ = []


def child_main(req_r: int, resp_w: int, zygote, fork_header: dict) -> None:
    cfg = zygote.config
    os.setsid()  # the child's session marks every process it starts (seccomp keeps them in it)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    in_force = []
    if fences.hide_other_processes(_readable_paths(zygote), [zygote.scratch]):
        in_force.append("/proc: its own entry only")
    if fences.apply_seccomp():
        in_force.append("seccomp (no sockets, setsid, ptrace, namespaces, io_uring)")
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # protocol fds high and close-on-exec; everything else of the zygote's closed
    rfd = fcntl_dup_high(req_r, PROTOCOL_FD_BASE)
    wfd = fcntl_dup_high(resp_w, PROTOCOL_FD_BASE)
    keep = sorted({rfd, wfd})
    os.closerange(3, keep[0])
    os.closerange(keep[0] + 1, keep[1])
    os.closerange(keep[1] + 1, 1 << 16)

    work = os.path.join(zygote.scratch, "work")
    os.makedirs(work, exist_ok=True)
    os.chdir(work)
    capture_path = os.path.join(zygote.scratch, f".output-{os.getpid()}")
    capture = os.open(capture_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    os.unlink(capture_path)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(capture, 1)
    os.dup2(capture, 2)
    os.close(capture)
    sys.stdin = open(0, closefd=False)
    sys.stdout = io.TextIOWrapper(open(1, "wb", buffering=0, closefd=False),
                                  errors="backslashreplace", line_buffering=True,
                                  write_through=True)
    sys.stderr = io.TextIOWrapper(open(2, "wb", buffering=0, closefd=False),
                                  errors="backslashreplace", line_buffering=True,
                                  write_through=True)

    sys.dont_write_bytecode = True  # the work dir holds only the student's sources
    import torch
    torch.set_num_threads(max(1, int(cfg.threads)))
    fences.set_limits(cfg)
    server = _ChildServer(rfd, wfd, work, cfg, in_force)
    try:
        server.serve()
    except SystemExit as exc:  # sys.exit() in student code: end with its status
        code = exc.code
        os._exit(code if isinstance(code, int) and 0 <= code < 256 else (0 if code is None else 1))
    except MemoryError:
        os._exit(MEMORY_EXIT)
    os._exit(0)


def _readable_paths(zygote) -> list[str]:
    """What the child may read: the zygote's Landlock reads, or (bubblewrap, whose file system
    holds only what the sandbox shows) every top-level directory."""
    if zygote.landlock:
        return list(zygote.config.landlock_read)
    if zygote.pid_namespace:
        return [f"/{name}" for name in sorted(os.listdir("/")) if name != "proc"]
    return []


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _safe_str(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a student's __str__ may raise anything
        text = "<the exception's message could not be printed>"
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE] + f"... [{len(text) - _MAX_MESSAGE} characters cut]"
    return text


class _ChildServer:
    def __init__(self, rfd: int, wfd: int, work: str, cfg: WorkerConfig, in_force: list[str]):
        self.rfd, self.wfd, self.work, self.cfg = rfd, wfd, work, cfg
        self.fences = in_force
        self.pid = os.getpid()
        self.limits = cfg.wire_limits
        self.modules: dict[str, types.ModuleType] = {}
        self.import_errors: dict[str, ErrorInfo] = {}
        self.forbidden: dict[str, list[str]] = {}
        self.refused_ops: dict[str, dict] = {}
        self.max_output = int(cfg.max_output_bytes)
        self.max_file = cfg.max_file_bytes
        self.cpu_s = cfg.cpu_s

    def send(self, reply: Reply, tensors=None) -> None:
        try:
            frame = frames.pack_frame(reply.header(), tensors, self.limits)
        except wire.FrameTooLarge as exc:
            frame = frames.pack_frame(Result(getattr(reply, "seq", None), Outcome.TOO_LARGE,
                                             f"the return value is too large: {exc}").header())
        frames.write_all_blocking(self.wfd, frame)

    def serve(self) -> None:
        while True:
            msg = frames.read_frame_blocking(self.rfd, self.limits)
            if msg is None:
                return
            header, tensors = msg
            op = header.get("op")
            if op == "load":
                self.load(header)
            elif op == "call":
                self.call(header, tensors)
            else:
                self.send(Result(header.get("seq"), Outcome.ERROR,
                                 ErrorInfo(type="ProtocolError", message=f"unknown op {op!r:.40}",
                                           traceback="")))

    # -- loading -------------------------------------------------------------------------------

    def load(self, header: dict) -> None:
        sources: dict = header.get("modules", {})
        skip: dict = header.get("skip", {})
        if self.cfg.cuda_memory_bytes:  # before any student code could allocate
            note = fences.limit_cuda_memory(self.cfg.cuda_memory_bytes)
            self.fences.append(note or "no CUDA device: CUDA memory limit not needed")
        self.forbidden = {m: list(v) for m, v in header.get("forbidden", {}).items()}
        install_guards(sorted({api for apis in self.forbidden.values() for api in apis}))
        self.refused_ops = {m: OP_FENCE.refused(apis) for m, apis in self.forbidden.items()}
        for name, source in sources.items():
            with open(os.path.join(self.work, f"{name}.py"), "w", encoding="utf-8") as fh:
                fh.write(source)
        importlib.invalidate_caches()
        sys.path.insert(0, self.work)
        sys.meta_path.insert(0, _AliasFinder(sources))
        for name in sources:
            if name in skip:
                self.import_errors[name] = skip[name]
                continue
            if name in sys.modules:  # already imported by another module of the submission
                self.modules[name] = sys.modules[name]
                continue
            self.send(Importing(module=name))
            self.capture_reset()
            try:
                self.modules[name] = importlib.import_module(name)
            except BaseException as exc:  # noqa: BLE001 - SyntaxError, SystemExit, anything
                sys.modules.pop(name, None)
                self.import_errors[name] = ErrorInfo(
                    type=type(exc).__qualname__,
                    message=_safe_str(exc),
                    traceback=self.student_traceback(exc),
                )
        self.send(Loaded(errors=self.import_errors, output=self.capture_read()[0],
                         fences=self.fences))

    # -- calls -----------------------------------------------------------------------------------

    def capture_reset(self) -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        try:
            os.ftruncate(1, 0)
            os.lseek(1, 0, os.SEEK_SET)
        except OSError:  # the student closed or replaced fd 1: no output then
            pass

    def capture_read(self) -> tuple[str, bool]:
        """``(text, hit_file_limit)``: the call's output, cut to the output bound."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        try:
            size = os.fstat(1).st_size
            data = os.pread(1, self.max_output, 0)
        except OSError:
            return "", False
        text = data.decode("utf-8", "replace")
        if size > self.max_output:
            text += f"\n... [{size - self.max_output} more bytes of output cut]"
        return text, bool(self.max_file) and size >= int(self.max_file)

    def student_traceback(self, exc: BaseException) -> str:
        """The traceback restricted to frames in the submission's files, cut to a bound."""
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if f.filename.startswith(self.work + os.sep)]
        lines = traceback.format_list(frames)
        try:
            lines += traceback.format_exception_only(type(exc), exc)
        except Exception:  # noqa: BLE001
            lines.append(f"{type(exc).__qualname__}\n")
        text = "".join(lines)
        if len(text) > _MAX_TRACEBACK:
            text = "... [cut]\n" + text[-_MAX_TRACEBACK:]
        return text

    def call(self, header: dict, tensors: dict) -> None:
        seq = header.get("seq")
        module, function = header.get("module"), header.get("function")
        try:
            args = wire.decode_value(header.get("args", []), tensors, self.limits)
            kwargs = wire.decode_value(header.get("kwargs", {"$dict": []}), tensors, self.limits)
        except wire.WireError as exc:
            self.send(Result(seq, Outcome.ERROR,
                             ErrorInfo(type="WireError", message=str(exc), traceback="")))
            return
        if module in self.import_errors:
            err = dict(self.import_errors[module])
            err["message"] = f"{module}.py failed to import: {err['message']}"
            self.send(Result(seq, Outcome.ERROR, err))
            return
        mod = self.modules.get(module)
        fn = getattr(mod, function, None) if mod is not None else None
        if mod is None or not callable(fn):
            what = (f"the submission has no module {module!r}" if mod is None
                    else f"module {module!r} has no function {function!r}")
            self.send(Result(seq, Outcome.ERROR,
                             ErrorInfo(type="MissingFunction", message=what, traceback="")))
            return

        self.capture_reset()
        if self.cpu_s:
            limit = int(_cpu_used() + float(self.cpu_s)) + 1
            try:
                resource.setrlimit(resource.RLIMIT_CPU, (limit, limit + 1))
            except (ValueError, OSError):
                pass
        GUARD.active = frozenset(self.forbidden.get(module, ()))
        GUARD.where = f"{module}.{function}"
        GUARD.violation = None
        started = time.perf_counter()
        try:
            with OP_FENCE.watch(self.refused_ops.get(module, {}), GUARD.where, GUARD):
                value = fn(*args, **kwargs)
            failure = None
        except MemoryError as exc:
            value, failure = None, exc
        except Exception as exc:  # noqa: BLE001 - SystemExit/KeyboardInterrupt end the child
            value, failure = None, exc
        finally:
            GUARD.active = frozenset()
        if os.getpid() != self.pid:  # a fork the student's code made, back here: not a server
            os._exit(0)
        wall_s = time.perf_counter() - started
        output, hit_limit = self.capture_read()
        out_tensors = None
        if GUARD.violation is not None:
            outcome, detail = Outcome.FORBIDDEN, GUARD.violation
        elif hit_limit:
            outcome, detail = Outcome.TOO_LARGE, (f"the output reached the file-size limit of "
                                                  f"{self.max_file} bytes")
        elif isinstance(failure, MemoryError):
            outcome, detail = Outcome.MEMORY, ("MemoryError: the call ran out of memory (memory "
                                               f"limit {self.cfg.memory_bytes} bytes)")
        elif failure is not None:
            message = _safe_str(failure)
            if isinstance(failure, NotImplementedError) and _NOT_IMPLEMENTED in message.lower():
                outcome, detail = Outcome.NOT_IMPLEMENTED, message
            else:
                outcome, detail = Outcome.ERROR, ErrorInfo(
                    type=type(failure).__qualname__, message=message,
                    traceback=self.student_traceback(failure))
        else:
            try:
                # Counter -> dict, numpy.int64 -> int: values, not classes, are graded
                detail, out_tensors = wire.encode_value(wire.plain_value(value, self.limits),
                                                        self.limits)
                outcome = Outcome.OK
            except wire.RefusedType as exc:
                outcome, detail = Outcome.REFUSED, f"returned {exc}"
            except wire.WireError as exc:
                outcome, detail = Outcome.REFUSED, f"the return value cannot be sent: {exc}"
        del value, failure
        self.send(Result(seq, outcome, detail, output=output, wall_s=wall_s), out_tensors)



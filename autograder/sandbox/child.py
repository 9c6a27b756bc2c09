"""The worker side: a zygote that imported torch once, and one forked child per submission.

This file runs INSIDE the sandbox. It imports only the standard library, torch, safetensors,
:mod:`autograder.sandbox.wire` and (lazily, through wire) :mod:`autograder.tinylm`; the
trusted side copies exactly those files into a neutral directory mounted read-only. No
reference code, suite, expected output or other submission is ever visible here.

Process tree and channels (``T`` = trusted grader, ``Z`` = zygote, ``C`` = submission child)::

    T --control socket (frames; SCM_RIGHTS)--> Z --fork--> C
    T --request pipe--> C --response pipe--> T          (one pair per forked C)

``Z`` serves control operations on its socket (stdin when started):

    {"op": "fork", "gen": n}   + 2 fds [request read end, response write end]
                                kill every descendant, wipe the scratch area, fork C on the fds
                                -> {"kind": "forked", "gen": n, "pid": pid}
    {"op": "kill", "gen": n}    kill every descendant          -> {"kind": "killed", "gen": n}
    {"op": "strays", "gen": n}  kill every descendant but C    -> {"kind": "strays", "count": k}
    (every ORPHAN_SWEEP_S)      kill daemons re-parented to Z  -> {"kind": "strays", "count": k}
                                                                   (only when k > 0)
    {"op": "exit"}              kill every descendant and exit
    (unsolicited)               C ended by itself              -> {"kind": "died", "gen": n,
                                                                   "status": raw wait status}

``Z`` is a child subreaper, so a double-forked ``setsid`` daemon is re-parented to it and is
still found by the descendant walk. ``C`` reads ``{"op": "load"}`` then ``{"op": "call"}``
requests from its pipe and answers each with one ``{"kind": "result", ...}`` frame (see
:func:`_serve_call`).
"""
from __future__ import annotations

import ctypes
import importlib
import importlib.abc
import importlib.util
import io
import json
import os
import resource
import select
import signal
import socket
import sys
import time
import traceback
import types

from autograder.sandbox import fences, wire
from autograder.sandbox.forbidden import GUARD, OpFence, guard_thread_start, install_guards

OP_FENCE = OpFence()
MEMORY_EXIT = 87          # C's exit status when it ran out of memory outside the student's code
PROTOCOL_FD_BASE = 1000   # C's protocol fds live at and above this number
ORPHAN_SWEEP_S = 0.25     # how often Z looks for daemons re-parented to it while C lives
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_NOT_IMPLEMENTED = "not implemented yet"
_MAX_MESSAGE = 2000
_MAX_TRACEBACK = 4000


# ------------------------------------------------------------------------------------------
# small process helpers
# ------------------------------------------------------------------------------------------

def _prctl(option: int, arg: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(option, arg, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


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
    def __init__(self, config: dict):
        self.config = config
        self.pid_namespace = bool(config.get("pid_namespace"))
        self.scratch = config["scratch"]
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
                    self.send({"kind": "died", "gen": gen, "status": status})

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

    def send(self, header: dict) -> None:
        wire.write_all_blocking(self.ctl, wire.pack_frame(header))

    def run(self) -> None:
        cfg = self.config
        self.ctl = fcntl_dup_high(0, 900)
        self.ctl_sock = socket.socket(fileno=self.ctl)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(2, 1)  # our own diagnostics go to the trusted side's log file
        os.close(null)
        if cfg.get("parent_pid"):
            _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != cfg["parent_pid"]:
                os._exit(1)
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)

        started = time.monotonic()
        import torch  # noqa: F401 - the point of the zygote: import once, fork many times
        import torch.nn.functional  # noqa: F401
        for name in ("math", "re", "collections", "itertools", "functools", "typing",
                     "dataclasses", "string", "unicodedata", "heapq", "operator", "copy"):
            importlib.import_module(name)
        wire._tinylm_class()
        _warm_up()
        install_guards(cfg.get("forbidden_apis", []))
        OP_FENCE.prepare(cfg.get("forbidden_apis", []))
        guard_thread_start(GUARD)
        import_s = time.monotonic() - started
        self.landlock = 0
        in_force = ["bubblewrap namespaces (user, pid, net, mount, ipc, uts)"] \
            if self.pid_namespace else []
        if cfg.get("drop_capabilities") and fences.drop_capabilities():
            in_force.append("uid 0 without capabilities")
        elif os.geteuid() != 0 and cfg.get("own_uid"):
            in_force.append(f"unprivileged uid {os.geteuid()} of its own")
        if cfg.get("landlock"):
            os.makedirs(os.path.join(self.scratch, "work"), exist_ok=True)
            self.landlock = fences.apply_landlock(cfg["landlock"]["read"], [self.scratch])
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
        self.send({"kind": "ready", "pid": os.getpid(), "import_s": import_s,
                   "vm_bytes": _vm_size(), "landlock": self.landlock, "fences": in_force})

        reader = wire.FrameReader(wire.Limits(max_frame_bytes=1 << 20))
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
                    self.send({"kind": "strays", "gen": self.child_gen, "count": count})
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
                    header, _ = wire.unpack_payload(payload)
                    self.handle(header, fds)

    def handle(self, header: dict, fds: list[int]) -> None:
        op = header.get("op")
        gen = header.get("gen")
        if op == "fork":
            if len(fds) < 2:
                self.send({"kind": "error", "message": "fork without its two fds"})
                return
            req_r, resp_w = fds.pop(0), fds.pop(0)
            self.kill_all()
            self.reap()
            self.wipe_scratch()
            pid = os.fork()
            if pid == 0:
                try:
                    _child_main(req_r, resp_w, self, header)
                finally:
                    os._exit(70)
            os.close(req_r)
            os.close(resp_w)
            self.child_pid, self.child_gen = pid, gen
            self.send({"kind": "forked", "gen": gen, "pid": pid})
        elif op == "kill":
            self.kill_all()
            self.reap()
            self.send({"kind": "killed", "gen": gen})
        elif op == "strays":
            count = self.kill_all(spare=self.child_pid) if self.child_pid else 0
            self.send({"kind": "strays", "gen": gen, "count": count})
        elif op == "exit":
            self.shutdown()
        else:
            self.send({"kind": "error", "message": f"unknown op {op!r:.40}"})

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
    header, received = wire.unpack_payload(wire.pack_frame({"v": jsonable}, tensors)[8:])
    wire.decode_value(header["v"], received)


def fcntl_dup_high(fd: int, low: int) -> int:
    import fcntl
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, low)


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


def _child_main(req_r: int, resp_w: int, zygote: _Zygote, fork_header: dict) -> None:
    cfg = zygote.config
    os.setsid()  # the child's session marks every process it starts (seccomp keeps them in it)
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
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
    torch.set_num_threads(max(1, int(cfg.get("threads", 1))))
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


def _readable_paths(zygote: _Zygote) -> list[str]:
    """What the child may read: the zygote's Landlock reads, or (bubblewrap, whose file system
    holds only what the sandbox shows) every top-level directory."""
    if zygote.landlock:
        return list(zygote.config["landlock"]["read"])
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
    def __init__(self, rfd: int, wfd: int, work: str, cfg: dict, in_force: list[str]):
        self.rfd, self.wfd, self.work, self.cfg = rfd, wfd, work, cfg
        self.fences = in_force
        self.pid = os.getpid()
        self.limits = wire.Limits(**cfg.get("wire_limits", {}))
        self.modules: dict[str, types.ModuleType] = {}
        self.import_errors: dict[str, dict] = {}
        self.forbidden: dict[str, list[str]] = {}
        self.refused_ops: dict[str, dict] = {}
        self.max_output = int(cfg.get("max_output_bytes", 64 << 10))
        self.max_file = cfg.get("max_file_bytes")
        self.cpu_s = cfg.get("cpu_s")

    def send(self, header: dict, tensors=None) -> None:
        try:
            frame = wire.pack_frame(header, tensors, self.limits)
        except wire.FrameTooLarge as exc:
            frame = wire.pack_frame({"kind": "result", "seq": header.get("seq"),
                                     "too_large": f"the return value is too large: {exc}"})
        wire.write_all_blocking(self.wfd, frame)

    def serve(self) -> None:
        while True:
            msg = wire.read_frame_blocking(self.rfd, self.limits)
            if msg is None:
                return
            header, tensors = msg
            op = header.get("op")
            if op == "load":
                self.load(header)
            elif op == "call":
                self.call(header, tensors)
            else:
                self.send({"kind": "result", "seq": header.get("seq"),
                           "error": {"type": "ProtocolError", "message": f"unknown op {op!r:.40}",
                                     "traceback": ""}})

    # -- loading -------------------------------------------------------------------------------

    def load(self, header: dict) -> None:
        sources: dict = header.get("modules", {})
        skip: dict = header.get("skip", {})
        if self.cfg.get("cuda_memory_bytes"):  # before any student code could allocate
            note = fences.limit_cuda_memory(self.cfg["cuda_memory_bytes"])
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
            self.send({"kind": "importing", "module": name})
            self.capture_reset()
            try:
                self.modules[name] = importlib.import_module(name)
            except BaseException as exc:  # noqa: BLE001 - SyntaxError, SystemExit, anything
                sys.modules.pop(name, None)
                self.import_errors[name] = {
                    "type": type(exc).__qualname__,
                    "message": _safe_str(exc),
                    "traceback": self.student_traceback(exc),
                }
        self.send({"kind": "loaded", "errors": self.import_errors,
                   "output": self.capture_read()[0], "fences": self.fences})

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
        reply = {"kind": "result", "seq": seq}
        try:
            args = wire.decode_value(header.get("args", []), tensors, self.limits)
            kwargs = wire.decode_value(header.get("kwargs", {"$dict": []}), tensors, self.limits)
        except wire.WireError as exc:
            reply["error"] = {"type": "WireError", "message": str(exc), "traceback": ""}
            self.send(reply)
            return
        if module in self.import_errors:
            err = dict(self.import_errors[module])
            err["message"] = f"{module}.py failed to import: {err['message']}"
            reply["error"] = err
            self.send(reply)
            return
        mod = self.modules.get(module)
        fn = getattr(mod, function, None) if mod is not None else None
        if mod is None or not callable(fn):
            what = (f"the submission has no module {module!r}" if mod is None
                    else f"module {module!r} has no function {function!r}")
            reply["error"] = {"type": "MissingFunction", "message": what, "traceback": ""}
            self.send(reply)
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
        reply["wall_s"] = time.perf_counter() - started
        output, hit_limit = self.capture_read()
        reply["output"] = output
        out_tensors = None
        if GUARD.violation is not None:
            reply["forbidden"] = GUARD.violation
        elif hit_limit:
            reply["too_large"] = (f"the output reached the file-size limit of {self.max_file} "
                                  "bytes")
        elif isinstance(failure, MemoryError):
            reply["memory"] = "MemoryError: the call ran out of memory (memory limit " \
                              f"{self.cfg.get('memory_bytes')} bytes)"
        elif failure is not None:
            message = _safe_str(failure)
            if isinstance(failure, NotImplementedError) and _NOT_IMPLEMENTED in message.lower():
                reply["not_implemented"] = message
            else:
                reply["error"] = {"type": type(failure).__qualname__, "message": message,
                                  "traceback": self.student_traceback(failure)}
        else:
            try:
                # Counter -> dict, numpy.int64 -> int: values, not classes, are graded
                reply["ok"], out_tensors = wire.encode_value(wire.plain_value(value, self.limits),
                                                             self.limits)
            except wire.RefusedType as exc:
                reply["refused"] = f"returned {exc}"
            except wire.WireError as exc:
                reply["refused"] = f"the return value cannot be sent: {exc}"
        del value, failure
        self.send(reply, out_tensors)


# ------------------------------------------------------------------------------------------

def main() -> None:
    """Entry point: ``python -I -S -c <boot> <config json>`` (see client.py)."""
    config = json.loads(sys.argv[1])
    _Zygote(config).run()


if __name__ == "__main__":  # pragma: no cover
    main()

"""The fences of the worker's processes: rlimits, Landlock, seccomp, and no privileges.

This file runs INSIDE the sandbox (standard library only, through ctypes). Each function applies
one fence to the calling process and its future children and says whether it took effect, so
the worker can tell the trusted side exactly which fences are in force (:func:`fence_names`).

- :func:`set_limits`: address space, data, open files, file size, processes (not as root).
- :func:`apply_landlock`: file-system reads only beneath the given paths, writes only in the
  scratch dir, no TCP bind/connect (ABI >= 4), no signals or abstract sockets outside (ABI >= 6).
  :func:`hide_other_processes` stacks a layer in the submission child that leaves it only its
  own ``/proc/<pid>`` (the grader's environ, cwd and command line are out of reach).
- :func:`apply_seccomp`: a classic-BPF filter that refuses ``socket()`` (every family: TCP, UDP,
  raw, netlink, unix), ``setsid``/``setpgid`` (so every process of a child stays in its
  session, which is how strays are found), ``ptrace``/``process_vm_*``, namespaces and mounts,
  ``io_uring``, ``bpf``, ``perf_event_open``, ``userfaultfd`` and key rings. Written with
  ctypes rather than libseccomp's bindings: the worker imports only the standard library,
  torch and safetensors, and the filter is 30 instructions.
- :func:`drop_capabilities`: a worker that must stay uid 0 (the Python install is readable by
  root only) gives up every capability, so it cannot override file permissions or trace,
  signal or read the /proc entries of other processes.
"""
from __future__ import annotations

import ctypes
import errno
import os
import platform
import resource
import struct

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_PR_CAPBSET_DROP = 24
_PR_SET_DUMPABLE = 4
_SECCOMP_MODE_FILTER = 2


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def set_limits(cfg) -> None:  # cfg: a protocol.WorkerConfig (not imported here: fences stands alone)
    """The rlimits of a submission child (memory, files, output, processes; core dumps off)."""
    def setlimit(which, value):
        if value is None:
            return
        try:
            _soft, hard = resource.getrlimit(which)
            value = int(value)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass

    setlimit(resource.RLIMIT_CORE, 0)
    setlimit(resource.RLIMIT_AS, cfg.memory_bytes)
    setlimit(resource.RLIMIT_DATA, cfg.data_bytes)
    setlimit(resource.RLIMIT_NOFILE, cfg.max_open_files)
    setlimit(resource.RLIMIT_FSIZE, cfg.max_file_bytes)
    if cfg.max_processes and os.geteuid() != 0:  # root ignores RLIMIT_NPROC anyway
        setlimit(resource.RLIMIT_NPROC, cfg.max_processes)


# ------------------------------------------------------------------------------------------
# Landlock (rlimits mode): an unprivileged filesystem / network / signal fence
# ------------------------------------------------------------------------------------------


_SYS_LANDLOCK = (444, 445, 446)  # create_ruleset, add_rule, restrict_self (x86-64 and arm64)
_FS_READ = (1 << 0) | (1 << 2) | (1 << 3)     # EXECUTE | READ_FILE | READ_DIR
_FS_FILE_ONLY = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 14) | (1 << 15)


def apply_landlock(read_paths, write_paths, dev_path="/dev") -> int:
    """Restrict this process and its future children; return the Landlock ABI used (0: none).

    Reads are allowed beneath `read_paths`, everything beneath `write_paths`, reads and writes
    of device files beneath /dev. With ABI >= 4 no TCP bind/connect; with ABI >= 6 no signals
    to processes outside the sandbox and no abstract unix sockets outside it.
    """
    try:
        libc = _libc()
        abi = libc.syscall(_SYS_LANDLOCK[0], None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    except (OSError, AttributeError):
        return 0
    if abi < 1:
        return 0
    handled = (1 << 13) - 1
    if abi >= 2:
        handled |= 1 << 13
    if abi >= 3:
        handled |= 1 << 14
    if abi >= 5:
        handled |= 1 << 15
    attr = struct.pack("=Q", handled)
    if abi >= 4:
        attr += struct.pack("=Q", 0b11)          # BIND_TCP | CONNECT_TCP: none allowed
    if abi >= 6:
        attr += struct.pack("=Q", 0b11)          # scope: abstract unix sockets, signals
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = libc.syscall(_SYS_LANDLOCK[0], buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        return 0
    try:
        def allow(path, access):
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                return
            try:
                if not os.path.isdir(path):
                    access &= _FS_FILE_ONLY
                rule = ctypes.create_string_buffer(struct.pack("=Qi", access & handled, fd), 12)
                libc.syscall(_SYS_LANDLOCK[1], ctypes.c_int(ruleset), ctypes.c_int(1), rule,
                             ctypes.c_uint32(0))
            finally:
                os.close(fd)

        for path in read_paths:
            allow(path, _FS_READ)
        allow(dev_path, _FS_READ | (1 << 1) | (1 << 15))
        for path in write_paths:
            allow(path, handled)
        if libc.prctl(38, 1, 0, 0, 0) != 0:      # PR_SET_NO_NEW_PRIVS
            return 0
        if libc.syscall(_SYS_LANDLOCK[2], ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            return 0
    finally:
        os.close(ruleset)
    return int(abi)


def hide_other_processes(read_paths, write_paths) -> bool:
    """Stack a Landlock layer that keeps /proc to this process's own entry (and system files).

    `read_paths` are the zygote layer's reads (bubblewrap: the sandbox's top-level dirs); /proc
    is replaced by ``/proc/<own pid>`` and the few global files torch, Python and CUDA read
    (meminfo, cpuinfo, stat, sys, driver). A process forked
    later cannot read even its own entry: nothing it needs lives there.
    """
    if not read_paths:
        return False  # no Landlock layer below this one: reads would be cut everywhere
    pid = os.getpid()
    reads = [p for p in read_paths if p != "/proc"]
    reads += [f"/proc/{pid}", "/proc/meminfo", "/proc/cpuinfo", "/proc/stat", "/proc/sys",
              "/proc/driver"]  # /proc/driver/nvidia: what CUDA reads
    return apply_landlock(reads, write_paths) > 0


# ------------------------------------------------------------------------------------------
# seccomp
# ------------------------------------------------------------------------------------------

# audit arch, x32 bit (0: none), and the refused syscalls with the errno they get
_ARCHES = {
    "x86_64": (0xC000003E, 0x40000000, {
        "socket": 41, "setsid": 112, "setpgid": 109, "ptrace": 101, "process_vm_readv": 310,
        "process_vm_writev": 311, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "bpf": 321, "perf_event_open": 298, "unshare": 272,
        "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
        "keyctl": 250, "add_key": 248, "request_key": 249, "userfaultfd": 323,
        "fsopen": 430, "open_tree": 428, "move_mount": 429, "fsmount": 432}),
    "aarch64": (0xC00000B7, 0, {
        "socket": 198, "setsid": 157, "setpgid": 154, "ptrace": 117, "process_vm_readv": 270,
        "process_vm_writev": 271, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "bpf": 280, "perf_event_open": 241, "unshare": 97,
        "setns": 268, "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51,
        "keyctl": 219, "add_key": 217, "request_key": 218, "userfaultfd": 282,
        "fsopen": 430, "open_tree": 428, "move_mount": 429, "fsmount": 432}),
}
_ERRNO = {"socket": errno.EACCES}  # the rest get EPERM
_BPF_LD_W_ABS, _BPF_JEQ_K, _BPF_JGE_K, _BPF_RET_K = 0x20, 0x15, 0x35, 0x06
_RET_ALLOW, _RET_ERRNO, _RET_KILL_PROCESS = 0x7FFF0000, 0x00050000, 0x80000000


def seccomp_program(machine: str | None = None) -> bytes | None:
    """The filter for this machine's architecture as packed ``sock_filter``s (None: unknown).

    Layout: check the arch (else kill), refuse x32 syscalls, one compare per refused syscall
    jumping to its return, allow the rest.
    """
    arch = _ARCHES.get(machine or platform.machine())
    if arch is None:
        return None
    audit, x32, refused = arch
    ins: list[tuple[int, int, int, int]] = [(_BPF_LD_W_ABS, 0, 0, 4),          # arch
                                            (_BPF_JEQ_K, 1, 0, audit),
                                            (_BPF_RET_K, 0, 0, _RET_KILL_PROCESS),
                                            (_BPF_LD_W_ABS, 0, 0, 0)]          # syscall nr
    if x32:
        ins.append((_BPF_JGE_K, 0, 1, x32))
        ins.append((_BPF_RET_K, 0, 0, _RET_ERRNO | errno.EPERM))
    for name, number in refused.items():
        ins.append((_BPF_JEQ_K, 0, 1, number))
        ins.append((_BPF_RET_K, 0, 0, _RET_ERRNO | _ERRNO.get(name, errno.EPERM)))
    ins.append((_BPF_RET_K, 0, 0, _RET_ALLOW))
    return b"".join(struct.pack("=HBBI", *i) for i in ins)


def apply_seccomp() -> bool:
    """Install :func:`seccomp_program` on this process (and its future children)."""
    program = seccomp_program()
    if program is None:
        return False
    try:
        libc = _libc()
        count = len(program) // 8
        buf = ctypes.create_string_buffer(program, len(program))

        class _Fprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        prog = _Fprog(count, ctypes.cast(buf, ctypes.c_void_p))
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return False
        return libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) == 0
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return False


# ------------------------------------------------------------------------------------------
# privileges
# ------------------------------------------------------------------------------------------

def drop_capabilities() -> bool:
    """Give up every capability (bounding, effective, permitted, inheritable); uid stays."""
    try:
        libc = _libc()
        for cap in range(64):
            if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() != 22:
                return False  # EINVAL: past the last capability this kernel knows
        header = struct.pack("=Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
        data = ctypes.create_string_buffer(24)      # two zeroed __user_cap_data_struct
        hdr = ctypes.create_string_buffer(header, len(header))
        if libc.capset(hdr, data) != 0:
            return False
        libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)  # its own /proc entries: root-owned, private
        with open("/proc/self/status") as fh:
            eff = next(line for line in fh if line.startswith("CapEff:"))
        return int(eff.split()[1], 16) == 0
    except (OSError, AttributeError, StopIteration, ValueError):
        return False


def cuda_memory_fraction(limit_bytes: int, device_bytes: int) -> float:
    """The share of one device's memory that `limit_bytes` is, for
    ``torch.cuda.set_per_process_memory_fraction`` (clamped to [0, 1]; 1: no limit)."""
    if device_bytes <= 0 or limit_bytes <= 0:
        return 1.0
    return max(0.0, min(1.0, limit_bytes / device_bytes))


def limit_cuda_memory(limit_bytes: int) -> str | None:
    """Cap the CUDA caching allocator of this process at `limit_bytes` on every device.

    RLIMIT_AS cannot be used with CUDA (the driver reserves huge address ranges), so the
    configured memory limit becomes a per-device fraction instead; an allocation past it raises
    ``torch.OutOfMemoryError`` in the student's call. Returns the fence's description, or None
    where there is no CUDA device. Creates the CUDA context (once per submission child).
    """
    import torch

    if not torch.cuda.is_available():
        return None
    fractions = []
    for index in range(torch.cuda.device_count()):
        total = torch.cuda.get_device_properties(index).total_memory
        fraction = cuda_memory_fraction(int(limit_bytes), int(total))
        torch.cuda.set_per_process_memory_fraction(fraction, index)
        fractions.append(fraction)
    return (f"CUDA memory {int(limit_bytes) >> 20} MiB per device (fraction "
            f"{min(fractions):.4f})")


def set_dumpable(flag: bool) -> None:
    """PR_SET_DUMPABLE: 0 makes this process's /proc entries unreadable to its uid's others."""
    try:
        _libc().prctl(_PR_SET_DUMPABLE, 1 if flag else 0, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover
        pass

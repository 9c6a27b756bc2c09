"""Nothing of the grader reaches student code: environment, /proc, working directory, network.

The grader runs as a subprocess whose *initial* environment holds canary values (a course
server's database URL, Gradescope-like variables): that is what /proc/<pid>/environ shows, so
setting them in this test process would prove nothing. It starts a real worker in each sandbox
mode, listens on a loopback UDP port, a TCP port and a unix socket, and has a student module
try every route to them. A canary, a datagram, a connection or a listing of the grader's
directory reaching the student is a failure.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autograder.sandbox import bubblewrap_available
from autograder.sandbox.fences import seccomp_program
from autograder.sandbox.host import own_uid_for_worker, worker_environment

REPO = Path(__file__).resolve().parents[1]
MODES = ["rlimits"] + (["bubblewrap"] if bubblewrap_available() else [])
CANARIES = {
    "DATABASE_URL": "postgresql://canary-user:canary-pass@127.0.0.1/canary-db",
    "GRADESCOPE_SUBMISSION_ID": "canary-gradescope-4711",
    "GRADESCOPE_API_TOKEN": "canary-token-0815",
    "AUTOGRADER_SANDBOX_TOKEN": "canary-marker",
}

PROBE = textwrap.dedent('''
    import os, socket

    def _read(path, limit=1 << 16):
        try:
            with open(path, "rb") as fh:
                return fh.read(limit).decode("utf-8", "replace")
        except OSError as exc:
            return f"<{type(exc).__name__}>"

    def probe(grader_pid, grader_cwd, udp_port, tcp_port, unix_path):
        seen = {"environ": dict(os.environ), "uid": os.getuid(), "files": {}, "net": {},
                "caps": [line for line in _read("/proc/self/status").splitlines()
                         if line.startswith("CapEff:")]}
        try:
            pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        except OSError:  # /proc itself may be hidden
            pids = []
        for pid in ["self", str(os.getppid()), "1", str(grader_pid)] + [str(p) for p in pids]:
            seen["files"][f"/proc/{pid}/environ"] = _read(f"/proc/{pid}/environ")
            seen["files"][f"/proc/{pid}/cmdline"] = _read(f"/proc/{pid}/cmdline")
            try:
                seen["files"][f"/proc/{pid}/cwd"] = sorted(os.listdir(f"/proc/{pid}/cwd"))
            except OSError as exc:
                seen["files"][f"/proc/{pid}/cwd"] = f"<{type(exc).__name__}>"
        try:
            seen["files"]["grader_cwd"] = sorted(os.listdir(grader_cwd))
        except OSError as exc:
            seen["files"]["grader_cwd"] = f"<{type(exc).__name__}>"
        for name, family, kind, address in [
                ("udp", socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", udp_port)),
                ("udp6", socket.AF_INET6, socket.SOCK_DGRAM, ("::1", udp_port)),
                ("tcp", socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", tcp_port)),
                ("unix", socket.AF_UNIX, socket.SOCK_STREAM, unix_path)]:
            try:
                s = socket.socket(family, kind)
                s.settimeout(1)
                if kind == socket.SOCK_DGRAM:
                    s.sendto(b"canary-datagram", address)
                else:
                    s.connect(address)
                    s.sendall(b"canary-stream")
                seen["net"][name] = "sent"
                s.close()
            except OSError as exc:
                seen["net"][name] = f"<{type(exc).__name__}: {exc.errno}>"
        return repr(seen)
''')

GRADER = textwrap.dedent('''
    import json, os, socket, sys, time
    from autograder.sandbox import Worker

    mode, probe_source, workdir = sys.argv[1], sys.argv[2], sys.argv[3]
    os.chdir(workdir)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("127.0.0.1", 0))
    udp.setblocking(False)
    tcp = socket.socket(); tcp.bind(("127.0.0.1", 0)); tcp.listen(4); tcp.setblocking(False)
    unix_path = os.path.join(workdir, "grader.sock")
    unix = socket.socket(socket.AF_UNIX); unix.bind(unix_path); unix.listen(4)
    unix.setblocking(False)
    with Worker(mode, timeout_s=60) as w:
        w.load_submission({"bpe": probe_source})
        seen = w.call("bpe", "probe", (os.getpid(), workdir, udp.getsockname()[1],
                                       tcp.getsockname()[1], unix_path))
        fences = list(w.fences)
    time.sleep(0.2)
    received = []
    for name, sock in (("udp", udp), ("tcp", tcp), ("unix", unix)):
        try:
            got = sock.recv(100) if name == "udp" else sock.accept()
            received.append(name)
        except (BlockingIOError, OSError):
            pass
    print(json.dumps({"seen": seen, "fences": fences, "received": received}))
''')


def _grade_probe(mode: str, tmp_path: Path) -> dict:
    workdir = tmp_path / "grader-cwd"
    workdir.mkdir()
    (workdir / "grader-secret.txt").write_text("canary-file\n")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "PYTHONPATH": str(REPO), **CANARIES}
    done = subprocess.run([sys.executable, "-c", GRADER, mode, PROBE, str(workdir)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=workdir)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", MODES)
def test_no_canary_no_grader_view_no_network_reaches_student_code(mode, tmp_path):
    report = _grade_probe(mode, tmp_path)
    seen = report["seen"]
    for name, value in CANARIES.items():
        assert name not in seen and value not in seen, f"{name} reached the student ({mode})"
    assert "canary" not in seen
    assert "grader-secret.txt" not in seen and "grader.sock" not in seen
    assert report["received"] == [], f"the student reached the grader's sockets: {report}"
    for protocol in ("udp", "udp6", "tcp", "unix"):
        assert f"'{protocol}': 'sent'" not in seen, protocol
    fences = "; ".join(report["fences"])
    assert "seccomp" in fences
    if mode == "rlimits":
        assert "grader's /proc entries private" in fences
        if "Landlock" in fences:
            assert "/proc: its own entry only" in fences
        if os.geteuid() == 0:
            assert "uid 0 without capabilities" in fences or "unprivileged uid" in fences
        if "uid 0 without capabilities" in fences:
            assert "'CapEff:\\t0000000000000000'" in seen, seen[-400:]
    else:
        assert "bubblewrap namespaces" in fences


def test_worker_environment_is_an_allow_list(monkeypatch):
    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    env = worker_environment(2, "/scratch")
    assert env == {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
                   "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "HOME": "/scratch",
                   "TMPDIR": "/scratch", "CUDA_VISIBLE_DEVICES": "0"}


def test_own_uid_only_where_the_python_install_is_readable_by_anyone():
    import tempfile

    with tempfile.TemporaryDirectory(dir="/tmp") as root:  # /tmp: traversable by anyone
        os.chmod(root, 0o755)
        private = Path(root) / "private"
        private.mkdir(mode=0o700)
        (private / "lib").mkdir()
        shown = Path(root) / "shown"
        shown.mkdir(mode=0o755)
        if os.geteuid() != 0:
            assert own_uid_for_worker([str(shown)]) is None  # only root switches uids
            return
        assert own_uid_for_worker([str(private / "lib")]) is None
        uid = own_uid_for_worker([str(shown)])
        assert uid is not None and uid >= 1_000_000  # an id no account of this machine uses


def test_seccomp_program_refuses_sockets_and_session_changes():
    import struct

    program = seccomp_program("x86_64")
    ins = [struct.unpack("=HBBI", program[i:i + 8]) for i in range(0, len(program), 8)]
    assert ins[0] == (0x20, 0, 0, 4) and ins[1][3] == 0xC000003E  # the arch is checked first
    refused = {k for (code, _, _, k) in ins[4:] if code == 0x15}
    assert {41, 112, 109, 101} <= refused  # socket, setsid, setpgid, ptrace (x86-64 numbers)
    assert ins[-1] == (0x06, 0, 0, 0x7FFF0000)  # everything else is allowed
    assert seccomp_program("sparc") is None

"""What the sandboxed worker needs from this machine, and the bubblewrap command that gives it.

The worker is the grader's own interpreter started with ``-I -S`` and an explicit ``sys.path``
(the staged worker code, the standard library, the site-packages dirs that hold torch and
safetensors). That works the same for every ordinary install layout: a system or pyenv Python,
a venv inside the clone, under /tmp or under $HOME, a ``--system-site-packages`` venv.

In bubblewrap mode the file system is built from two kinds of rules, applied from the shallowest
path to the deepest so that the most specific rule wins:

- *show* a directory read-only (the Python install, each site-packages dir);
- *hide* one (the project root, $HOME, /tmp: an empty tmpfs), or mask one of the project's own
  entries inside a shown site-packages dir (an installed copy of ``reference/``, an editable
  install's ``.pth``).

So a venv inside the clone is shown although the clone around it is hidden, and a venv under
/tmp survives the private /tmp mounted over the real one.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = ("autograder", "reference", "exercises", "quizzes")
WORKER_MOUNT = "/opt/worker"
# bubblewrap: AUTOGRADER_BWRAP names it where it is not on PATH (the grader's own environment)
BWRAP = os.environ.get("AUTOGRADER_BWRAP") or shutil.which("bwrap") or "/usr/bin/bwrap"
# The files copied into the sandbox (relative to the autograder package): the one list.
WORKER_FILES = ("sandbox/__init__.py", "sandbox/wire.py", "sandbox/frames.py", "sandbox/protocol.py",
                "sandbox/zygote.py", "sandbox/child.py", "sandbox/forbidden.py", "sandbox/fences.py",
                "plain_values.py", "tinylm.py")
# Packages the worker imports at start (the probe imports exactly these).
WORKER_IMPORTS = ("torch", "safetensors")
# Read-only for the rlimits mode's Landlock fence (besides the Python install and worker code).
SYSTEM_READ_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
                     "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
                     "/etc/alternatives", "/proc", "/sys")
_SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives")


def under(path: str, root: str) -> bool:
    """Whether `path` is `root` or lies beneath it (plain string test on absolute paths)."""
    return path == root or path.startswith(root.rstrip("/") + "/")


@dataclass(frozen=True)
class PythonLayout:
    executable: str
    sys_path: tuple[str, ...]   # the sandboxed interpreter's sys.path (worker dir first)
    roots: tuple[str, ...]      # directories shown read-only (outside /usr)
    site_dirs: tuple[str, ...]  # site-packages dirs on sys_path (checked for project files)


def _package_parent(name: str) -> str | None:
    """The sys.path entry a top-level package is imported from (None: not installed)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
        return None
    origin = os.path.abspath(spec.origin)
    parent = os.path.dirname(origin)
    if spec.submodule_search_locations:  # a package: origin is <parent>/<name>/__init__.py
        parent = os.path.dirname(parent)
    return parent


def _is_site_dir(path: str) -> bool:
    return os.path.basename(path.rstrip("/")) in ("site-packages", "dist-packages")


@lru_cache(maxsize=1)
def python_layout() -> PythonLayout:
    """The interpreter, stdlib and site dirs the worker needs, found from this process."""
    executable = os.path.realpath(sys.executable)
    project = str(PROJECT_ROOT)
    base = {"base": sys.base_prefix, "platbase": sys.base_exec_prefix,
            "installed_base": sys.base_prefix, "installed_platbase": sys.base_exec_prefix}
    base_paths = sysconfig.get_paths(vars=base)
    stdlib = [os.path.abspath(p) for p in sys.path
              if p and os.path.isabs(p) and not _is_site_dir(p) and not under(p, project)
              and (under(p, sys.base_prefix) or under(p, sys.base_exec_prefix))]
    for key in ("stdlib", "platstdlib"):
        path = base_paths.get(key)
        if path and os.path.isdir(path) and path not in stdlib:
            stdlib.append(path)
    # Site dirs: every site-packages dir on sys.path (a venv's own and, for a
    # --system-site-packages venv, the base's) and wherever the worker's imports come from.
    # A site dir inside the clone (a .venv) is fine: only the project's own entries are masked.
    site = []
    candidates = [p for p in sys.path if p and os.path.isabs(p) and _is_site_dir(p)]
    candidates += [_package_parent(name) for name in WORKER_IMPORTS + ("numpy",)]
    for path in candidates:
        if path and os.path.isdir(path) and path != project and path not in site:
            site.append(os.path.abspath(path))
    sys_path = tuple(dict.fromkeys([WORKER_MOUNT] + stdlib + site))
    shown = {os.path.realpath(p) for p in (sys.base_prefix, sys.base_exec_prefix,
                                           os.path.dirname(os.path.dirname(executable)))
             if p and os.path.isdir(p)}
    shown |= set(stdlib) | set(site)
    shown |= {os.path.realpath(p) for p in site}  # a symlinked site dir: show its target too
    shown |= _link_targets(site, project)
    roots: list[str] = []
    for path in sorted(shown, key=len):
        if under(path, "/usr") or any(under(path, r) for r in roots):
            continue
        roots.append(path)
    return PythonLayout(executable, sys_path, tuple(roots), tuple(site))


def _link_targets(site_dirs: list[str], project: str) -> set[str]:
    """Where symlinked entries of the site dirs point (Nix-, spack- or hand-linked installs).

    A link into the project itself is not followed: the course stays hidden.
    """
    targets = set()
    for site in site_dirs:
        try:
            entries = list(os.scandir(site))
        except OSError:
            continue
        for entry in entries:
            if entry.is_symlink():
                target = os.path.realpath(entry.path)
                if os.path.exists(target) and not under(target, project):
                    targets.add(target)
    return targets


def project_entries(site_dir: str) -> list[tuple[str, bool]]:
    """``(path, is_dir)`` of the project's own files in a site-packages dir: to be masked."""
    out = []
    project = str(PROJECT_ROOT)
    try:
        names = os.listdir(site_dir)
    except OSError:
        return out
    for name in names:
        path = os.path.join(site_dir, name)
        is_dir = os.path.isdir(path)
        hide = (name in PROJECT_PACKAGES or name.startswith("__editable__")
                or name.startswith("nlp_transformers_autograder") or name.endswith(".egg-link"))
        if not hide and (name.endswith(".pth") or name.endswith(".dist-info")):
            probe = os.path.join(path, "direct_url.json") if is_dir else path
            try:
                with open(probe, "rb") as fh:
                    hide = project.encode() in fh.read(1 << 16)
            except OSError:
                pass
        if hide:
            out.append((path, is_dir))
    return out


def hidden_dirs() -> list[str]:
    """Directories the worker must not see even where a shown root would contain them."""
    dirs = [str(PROJECT_ROOT), "/tmp"]
    home = os.path.expanduser("~")
    if home not in ("/", "") and os.path.isabs(home):
        dirs.append(os.path.realpath(home))
    return [d for d in dict.fromkeys(dirs) if d != "/"]


def stage_worker_code(dest: Path) -> None:
    """Copy exactly :data:`WORKER_FILES` into `dest` (mounted at /opt/worker), read-only."""
    pkg = Path(__file__).resolve().parents[1]
    (dest / "autograder").mkdir(parents=True)
    (dest / "autograder" / "__init__.py").write_text('"""Worker-side copy (sandbox only)."""\n')
    for name in WORKER_FILES:
        target = dest / "autograder" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pkg / name, target)
    for path in dest.rglob("*"):
        path.chmod(0o555 if path.is_dir() else 0o444)
    dest.chmod(0o555)


def _depth(path: str) -> int:
    return len([part for part in path.split("/") if part])


def bwrap_command(layout: PythonLayout, stage: str, empty_file: str, tmp_bytes: int | None,
                  gpu: bool) -> list[str]:
    """The bubblewrap prefix that runs `layout.executable` in the sandbox file system."""
    cmd = [BWRAP, "--unshare-all", "--die-with-parent", "--new-session",
           "--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = f"/{name}"
        if os.path.islink(path):
            cmd += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            cmd += ["--ro-bind", path, path]
    for path in _SYSTEM_FILES:
        if os.path.exists(path):
            cmd += ["--ro-bind", path, path]
    # (depth, order at one depth, path, args): shallow first, so deeper rules win; at one
    # path a hide comes after a show (when the two collide, hiding wins).
    rules: list[tuple[int, int, str, list[str]]] = []
    shown = list(layout.roots) + ["/usr"]
    for path in hidden_dirs():
        if path != "/tmp" and not any(under(path, r) for r in shown):
            continue  # not inside anything shown: it does not exist in there at all
        args = ["--tmpfs", path]
        if path == "/tmp" and tmp_bytes and bwrap_supports_size():
            args = ["--size", str(int(tmp_bytes))] + args
        rules.append((_depth(path), 1, path, args))
    for root in layout.roots:
        rules.append((_depth(root), 0, root, ["--ro-bind", root, root]))
    for site in layout.site_dirs:
        for path, is_dir in project_entries(site):
            args = ["--tmpfs", path] if is_dir else ["--ro-bind", empty_file, path]
            rules.append((_depth(path), 2, path, args))
    for _, _, _, args in sorted(rules, key=lambda r: (r[0], r[1], r[2])):
        cmd += args
    cmd += ["--ro-bind", stage, WORKER_MOUNT, "--proc", "/proc", "--dev", "/dev"]
    if gpu:
        for name in sorted(os.listdir("/dev")):
            if name.startswith("nvidia"):
                cmd += ["--dev-bind", f"/dev/{name}", f"/dev/{name}"]
        for path in ("/sys", "/proc/driver/nvidia"):
            if os.path.exists(path):
                cmd += ["--ro-bind", path, path]
    cmd += ["--dir", "/tmp/work", "--chdir", "/tmp/work", "--"]
    return cmd


@lru_cache(maxsize=1)
def bwrap_supports_size() -> bool:
    try:
        out = subprocess.run([BWRAP, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return "--size" in out.stdout + out.stderr

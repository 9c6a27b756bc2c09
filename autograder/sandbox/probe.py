"""Can bubblewrap run the worker here? Probed once per process, in the worker's own layout.

Trusted side. :func:`bubblewrap_problem` runs the worker's boot and imports inside exactly the
file system a worker gets; :func:`explain_start_failure` turns a sandboxed interpreter's stderr
into one line for the user.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

from autograder.sandbox import layout as layout_mod
from autograder.sandbox.layout import BWRAP as _BWRAP
from autograder.sandbox.layout import bwrap_command as _bwrap_command
from autograder.sandbox.layout import python_layout as _python_layout
from autograder.sandbox.layout import stage_worker_code as _stage_worker_code


def boot_line(sys_path: list[str], then: str) -> str:
    return f"import sys; sys.path[:] = {sys_path!r}; {then}"


def _probe(imports: tuple[str, ...]) -> str | None:
    """Run the worker's boot up to `imports` in the bubblewrap file system; None if it works."""
    if not os.access(_BWRAP, os.X_OK):
        return f"{_BWRAP} is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    layout = _python_layout()
    with tempfile.TemporaryDirectory(prefix="autograder-bwrap-probe-") as tmp:
        empty = os.path.join(tmp, "empty")
        open(empty, "w").close()
        stage = Path(tmp) / "stage"
        _stage_worker_code(stage)
        cmd = _bwrap_command(layout, str(stage), empty, None, False)
        then = f"import {', '.join(imports)}" if imports else "pass"
        cmd += [layout.executable, "-I", "-S", "-c", boot_line(list(layout.sys_path), then)]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=120, stdin=subprocess.DEVNULL,
                                  env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
        except (OSError, subprocess.SubprocessError) as exc:
            return f"bubblewrap did not run: {exc}"
    if done.returncode == 0:
        return None
    return explain_start_failure(done.stderr.decode("utf-8", "replace"), layout)


def explain_start_failure(log: str, layout: layout_mod.PythonLayout) -> str:
    """One line saying why a sandboxed interpreter did not start, from its stderr."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    last = lines[-1] if lines else "it exited without a message"
    if last.startswith("bwrap:"):
        return (f"bubblewrap cannot create its sandbox here ({last}); in a container, allow "
                "unprivileged user namespaces, or use sandbox: rlimits")
    return (f"the worker's imports fail inside bubblewrap ({last}); interpreter "
            f"{layout.executable}, site dirs {', '.join(layout.site_dirs) or 'none'}")


@lru_cache(maxsize=1)
def namespaces_problem() -> str | None:
    """The quick check made before each first start: can bubblewrap start Python here?"""
    return _probe(())


@lru_cache(maxsize=1)
def bubblewrap_problem() -> str | None:
    """Why bubblewrap cannot run the worker here (None: it can), probed once per process.

    Runs the worker's own imports (its code, torch, safetensors) in exactly the file system a
    worker gets. Workers do not pay for this probe: a zygote that does not start in
    bubblewrap is the same probe, and ``sandbox: auto`` then falls back to rlimits.
    """
    return _probe(("autograder.sandbox.zygote",) + layout_mod.WORKER_IMPORTS)


def bubblewrap_available() -> bool:
    """Whether bubblewrap can start this Python in the sandbox layout (probed once)."""
    return bubblewrap_problem() is None

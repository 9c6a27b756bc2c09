"""What the stray-process tests look for: processes by a marker in their command line, and a
bounded wait for a condition."""
from __future__ import annotations

import os
import time


def pids_with(marker: str) -> list[int]:
    """Processes whose command line holds `marker` (ones that end while read are skipped)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as fh:
                    if marker.encode() in fh.read():
                        found.append(int(name))
            except OSError:
                continue
    return found


def wait_until(predicate, seconds: float = 10.0) -> bool:
    """Poll `predicate` every 50 ms for at most `seconds`; its last value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()

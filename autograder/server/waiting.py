"""Long polling: a request waiting for an upload's status to change is woken by the grading
thread the moment it claims or records that upload, instead of the client asking again and
again (40 students polling five times a second cost a core that grading needs).

The grading thread calls `changed(upload_id)`; a request awaits `wait(upload_id, timeout_s)`
on the server's event loop. Only this process's grading thread wakes it: with several server
processes on one PostgreSQL gradebook another process records the grade, so callers re-read
the store at least every `RECHECK_S`.
"""
from __future__ import annotations

import asyncio
import threading

RECHECK_S = 2.0  # a grade recorded by another server process is seen within this
MAX_WAIT_S = 30.0  # under common reverse proxies' 60 s read timeout


class UploadEvents:
    """Wakes the requests waiting on an upload when its status changes in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[int, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}

    def changed(self, upload_id: int) -> None:
        """From any thread: the upload was claimed or recorded."""
        with self._lock:
            waiters = list(self._waiting.get(upload_id, ()))
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that request's loop has closed: nothing left to wake
                pass

    async def wait(self, upload_id: int, timeout_s: float) -> None:
        """Return when the upload changes here, or after `timeout_s` (whichever is first)."""
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiting.setdefault(upload_id, set()).add(waiter)
        try:
            await asyncio.wait_for(waiter[1].wait(), timeout_s)
        except asyncio.TimeoutError:
            pass
        finally:
            with self._lock:
                waiters = self._waiting.get(upload_id)
                if waiters is not None:
                    waiters.discard(waiter)
                    if not waiters:
                        del self._waiting[upload_id]

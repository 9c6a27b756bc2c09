"""Run an ASGI app with uvicorn on a socket bound up front (so a busy port fails at start with
OSError, and port 0 reports the port it got), in the foreground or in a thread (tests)."""
from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

BACKLOG = 2048  # the listen queue: 200 simultaneous posts must not be dropped (stdlib had 5)


class ServerHandle:
    """`server_address`, `serve_forever()`, `start()` (a thread), `shutdown()`, `server_close()`."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 8000, *, verbose: bool = True,
                 proxy_headers: bool = False):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.socket.bind((host, port))
            self.socket.listen(BACKLOG)
        except OSError:
            self.socket.close()
            raise
        self.server_address = self.socket.getsockname()
        config = uvicorn.Config(app, log_level="info" if verbose else "warning", access_log=verbose,
                                backlog=BACKLOG, proxy_headers=proxy_headers, lifespan="on",
                                timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        self.server.run(sockets=[self.socket])

    def start(self) -> ServerHandle:
        self._thread = threading.Thread(target=self.serve_forever, name="asgi-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline and self._thread.is_alive():
            time.sleep(0.02)
        if not self.server.started:
            raise RuntimeError("the server did not start within 30 s")
        return self

    def shutdown(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)

    def server_close(self) -> None:
        self.socket.close()

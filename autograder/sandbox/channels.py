"""The wires of a worker on the trusted side: the zygote's control socket and the child's pipes.

:class:`ZygoteChannels` is the half of :class:`autograder.sandbox.client.Worker` that moves
frames: it sends control operations (with fds over SCM_RIGHTS), records what the zygote reports
(forks, kills, deaths, strays), and writes requests to / reads replies from the current
submission child within a deadline. Replies come back typed
(:func:`autograder.sandbox.protocol.read_reply`). The Worker owns the state these methods use
(``_ctl``, ``_ctl_reader``, ``_died``, ``_acks``, ``_child_pid``, ``_child_gen``, ``_marks``,
``strays_killed``, ``_req_w``, ``_resp_r``, ``_resp_reader``, ``wire_limits``).
"""
from __future__ import annotations

import array
import os
import select
import socket
import time

from autograder.sandbox import frames
from autograder.sandbox.protocol import Died, Forked, Killed, Reply, ReplyKind, Strays, read_reply


class ChildEnded(Exception):
    """The submission child ended; ``status`` is its raw wait status (None: unknown)."""

    def __init__(self, status: int | None):
        self.status = status


class DeadlinePassed(Exception):
    """A read or write did not complete before its deadline."""


class ZygoteGone(Exception):
    """The control socket closed or failed: the zygote is gone."""


def close_fd(fd: int | None) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


class ZygoteChannels:
    """Frames to and from the zygote and the submission child (mixed into Worker)."""

    def _send_ctl(self, header: dict, fds: list[int] | None = None) -> None:
        frame = frames.pack_frame(header)
        self._ctl.setblocking(True)
        self._ctl.settimeout(10)
        try:
            if fds:
                sent = self._ctl.sendmsg([frame], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                                    array.array("i", fds))])
                if sent < len(frame):
                    self._ctl.sendall(frame[sent:])
            else:
                self._ctl.sendall(frame)
        except OSError as exc:
            raise ZygoteGone() from exc
        finally:
            self._ctl.setblocking(False)

    def _pump_ctl(self) -> list[Reply]:
        """Read what the zygote sent; record deaths and acks; return its replies (of a known kind)."""
        try:
            data = self._ctl.recv(1 << 16)
        except BlockingIOError:
            return []
        except OSError as exc:
            raise ZygoteGone() from exc
        if not data:
            raise ZygoteGone()
        self._ctl_reader.feed(data)
        out = []
        while (payload := self._ctl_reader.next_payload()) is not None:
            header, _ = frames.unpack_payload(payload)
            reply = read_reply(header)
            if reply is None:  # not a reply kind: nothing to record, nothing to return
                continue
            if isinstance(reply, Died):
                if isinstance(reply.status, int):
                    self._died[reply.gen] = reply.status
            elif isinstance(reply, (Killed, Forked)):
                self._acks.add((reply.kind, reply.gen))
                if isinstance(reply, Forked):
                    self._child_pid = reply.pid
                    if self._marks is not None and isinstance(self._child_pid, int):
                        self._marks.sessions.add(self._child_pid)  # the child's own session
            elif isinstance(reply, Strays) and isinstance(reply.count, int):
                self.strays_killed += reply.count
            out.append(reply)
        return out

    def _next_ctl(self, deadline: float) -> Reply:
        pending: list[Reply] = []
        while not pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeadlinePassed()
            ready, _, _ = select.select([self._ctl], [], [], remaining)
            if ready:
                pending = self._pump_ctl()
        return pending[0]

    def _wait_ack(self, kind: ReplyKind, gen: int, seconds: float) -> bool:
        """Wait for the zygote's Killed or Forked reply for child `gen` (False: none came)."""
        deadline = time.monotonic() + seconds
        while (kind, gen) not in self._acks:
            if kind is ReplyKind.FORKED and gen in self._died:
                return True
            try:
                self._next_ctl(deadline)
            except (DeadlinePassed, ZygoteGone):
                return False
        self._acks.discard((kind, gen))
        return True

    def _write_child(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        os.set_blocking(self._req_w, False)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeadlinePassed()
            _, ready, _ = select.select([], [self._req_w], [], remaining)
            if not ready:
                continue
            try:
                n = os.write(self._req_w, view[: 1 << 20])
            except BrokenPipeError:
                raise ChildEnded(self._await_death(time.monotonic() + 5)) from None
            view = view[n:]

    def _await_death(self, deadline: float) -> int | None:
        gen = self._child_gen
        while gen not in self._died:
            try:
                self._next_ctl(deadline)
            except (DeadlinePassed, ZygoteGone):
                return None
        return self._died[gen]

    def _read_child(self, deadline: float) -> tuple[Reply | None, dict]:
        """The child's next frame as ``(reply, tensors)`` (reply None: not a reply kind);
        raises ChildEnded/DeadlinePassed/ZygoteGone."""
        while True:
            payload = self._resp_reader.next_payload()
            if payload is not None:
                header, tensors = frames.unpack_payload(payload, self.wire_limits)
                return read_reply(header), tensors
            if self._child_gen in self._died:
                raise ChildEnded(self._died[self._child_gen])
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeadlinePassed()
            watch = [self._ctl] + ([self._resp_r] if self._resp_r is not None else [])
            ready, _, _ = select.select(watch, [], [], remaining)
            if self._ctl in ready:
                self._pump_ctl()
            if self._resp_r is not None and self._resp_r in ready:
                try:
                    data = os.read(self._resp_r, min(self._resp_reader.wanted(), 1 << 22))
                except OSError:
                    data = b""
                if data:
                    self._resp_reader.feed(data)
                else:  # end of file: the child is gone; the zygote reports how
                    close_fd(self._resp_r)
                    self._resp_r = None
                    raise ChildEnded(self._await_death(min(deadline, time.monotonic() + 5)))

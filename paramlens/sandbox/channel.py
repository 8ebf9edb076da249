"""The control channel between the analysing process and the warm worker: JSON lines over a unix socket pair,
each line size-capped, with pipe descriptors passed alongside (SCM_RIGHTS). Never pickle: the worker runs next to
untrusted code, and nothing it sends may make the analysing process execute anything.

Why descriptors are passed: the forked child writes its events straight into a pipe the analysing process owns,
so the output cap and the reading stay in the parent and the worker never relays (or could forge) results.
"""

from __future__ import annotations

import array
import json
import select
import socket
import time
from typing import Any

MESSAGE_LIMIT = 64 * 1024 * 1024  # the request carries the instrumented file (source files are capped at 2 MB)
MAX_FDS = 4


class ChannelClosed(EOFError):
    """The other side went away."""


class ProtocolError(ValueError):
    """A message that is too long or not a JSON object."""


class Channel:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.pending_fds: list[int] = []

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, message: dict[str, Any], fds: list[int] | None = None) -> None:
        data = json.dumps(message, separators=(",", ":")).encode() + b"\n"
        if len(data) > MESSAGE_LIMIT:
            raise ProtocolError(f"message of {len(data):,} bytes exceeds the limit")
        if fds:
            sent = self.sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
            data = data[sent:]
        if data:
            self.sock.sendall(data)

    def has_message(self) -> bool:
        """A whole message is already buffered: select() on the socket would not see it (callers check first)."""
        return b"\n" in self.buffer

    def receive(self, timeout: float | None = None, wake_fd: int | None = None) -> tuple[dict[str, Any], list[int]] | None:
        """The next message and the descriptors that came with it. Returns None on timeout or when `wake_fd`
        became readable first; raises ChannelClosed at end of stream."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buffer:
            watched = [self.sock] + ([wake_fd] if wake_fd is not None else [])
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select(watched, [], [], remaining)
            if self.sock not in ready:
                return None
            data, ancillary, _flags, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(MAX_FDS * 4))
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds = array.array("i")
                    fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
                    self.pending_fds.extend(fds)
            if not data:
                raise ChannelClosed("the other side closed the channel")
            self.buffer += data
            if len(self.buffer) > MESSAGE_LIMIT:
                raise ProtocolError("message too long")
        line, _, rest = bytes(self.buffer).partition(b"\n")
        self.buffer = bytearray(rest)
        fds, self.pending_fds = self.pending_fds, []
        try:
            message = json.loads(line)
        except ValueError as error:
            raise ProtocolError(f"not JSON: {error}") from None
        if not isinstance(message, dict):
            raise ProtocolError("not a JSON object")
        return message, fds

    def close(self) -> None:
        self.sock.close()

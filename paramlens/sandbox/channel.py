"""The control channel between the analysing process and the warm worker: JSON messages over a unix socket pair,
each size-capped and framed by a 4-byte length, with pipe descriptors passed alongside (SCM_RIGHTS). Never pickle:
the worker runs next to untrusted code, and nothing it sends may make the analysing process execute anything.

Why a length and not a newline: descriptors travel with the first byte of the message they were sent with, and
one read may return several messages' bytes together with a later message's descriptors. The receiver therefore
never reads past the end of the message it is assembling (it knows where that is only from the length), so the
descriptors a read returns are always the current message's. With newline framing, a `drop_lineage` queued right
before a run request took the run's two pipes; the request arrived with none and was ignored, and the analysing
process waited 30 s for an answer.

Why descriptors are passed: the forked child writes its events straight into a pipe the analysing process owns,
so the output cap and the reading stay in the parent and the worker never relays (or could forge) results.
"""

from __future__ import annotations

import array
import json
import select
import socket
import struct
import time
from typing import Any

from paramlens.sandbox.protocol import parse_json

MESSAGE_LIMIT = 64 * 1024 * 1024  # the request carries the instrumented file (source files are capped at 2 MB)
MAX_FDS = 4
HEADER = struct.Struct("!I")
READ_CHUNK = 1024 * 1024


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
        body = json.dumps(message, separators=(",", ":")).encode()
        if len(body) > MESSAGE_LIMIT:
            raise ProtocolError(f"message of {len(body):,} bytes exceeds the limit")
        data = HEADER.pack(len(body)) + body
        if fds:
            sent = self.sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
            data = data[sent:]
        if data:
            self.sock.sendall(data)

    def _missing(self) -> int:
        """Bytes still to read for the message being assembled (never more: see the module's docstring)."""
        if len(self.buffer) < HEADER.size:
            return HEADER.size - len(self.buffer)
        size = HEADER.unpack_from(self.buffer)[0]
        if size > MESSAGE_LIMIT:
            raise ProtocolError("message too long")
        return HEADER.size + size - len(self.buffer)

    def has_message(self) -> bool:
        """A whole message is already buffered: select() on the socket would not see it (callers check first)."""
        return len(self.buffer) >= HEADER.size and self._missing() == 0

    def receive(self, timeout: float | None = None, wake_fd: int | None = None) -> tuple[dict[str, Any], list[int]] | None:
        """The next message and the descriptors that came with it. Returns None on timeout or when `wake_fd`
        became readable first (what was read so far stays buffered); raises ChannelClosed at end of stream."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (missing := self._missing()) > 0:
            watched = [self.sock] + ([wake_fd] if wake_fd is not None else [])
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select(watched, [], [], remaining)
            if self.sock not in ready:
                return None
            data, ancillary, _flags, _ = self.sock.recvmsg(min(missing, READ_CHUNK), socket.CMSG_SPACE(MAX_FDS * 4))
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds = array.array("i")
                    fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
                    self.pending_fds.extend(fds)
            if not data:
                raise ChannelClosed("the other side closed the channel")
            self.buffer += data
        body = bytes(self.buffer[HEADER.size:])
        self.buffer = bytearray()
        fds, self.pending_fds = self.pending_fds, []
        try:
            message = parse_json(body)
        except ValueError as error:
            raise ProtocolError(f"not JSON: {error}") from None
        if not isinstance(message, dict):
            raise ProtocolError("not a JSON object")
        return message, fds

    def close(self) -> None:
        self.sock.close()

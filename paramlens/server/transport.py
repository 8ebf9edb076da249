"""The LSP base protocol over a byte stream, read so that no client can make the server deaf.

pygls' own reader trusts every header: a `Content-Length` that is too large swallows the start of the next message,
one that is too small leaves the rest of the body to be read as a header, a header block without it is skipped
together with the body; from then on every message, `shutdown` included, is lost until stdin closes. Here:

- a header block is lines `Name: value` up to an empty line; anything else before it is garbage, dropped up to the
  next `Content-Length:` (logged once per episode);
- the body is the declared number of bytes when they parse as JSON (the normal, fast path); when they do not, the
  JSON value that starts the body decides: a value that ends earlier (length too large) is the message and what
  follows is read again as headers; a value that continues past the declared end (length too small) is read to its
  end; a header block without `Content-Length` is followed by one JSON value too;
- a declared length that is never reached while a complete JSON value already arrived (a client that sent one
  message with a wrong length and now waits for the answer) is taken after a short wait;
- a message whose params do not fit the method's type gets `-32602 Invalid params` (a request) or a log line (a
  notification), never an exception in the reader; JSON that does not parse gets `-32700` with id null.

Everything wrong is reported through `log` (the server sends it to `window/logMessage`), never as a popup.
When the stream cannot be resynchronised (more than MAX_GARBAGE bytes without a header) `serve` returns False:
the caller logs why and exits non-zero so that the client restarts the server.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
from typing import Any, Callable

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcInvalidParams

HEADER_LINE = re.compile(rb"^[A-Za-z][A-Za-z0-9-]*:[^\r\n]*$")
CONTENT_LENGTH = re.compile(rb"^content-length:\s*(\d+)\s*$", re.IGNORECASE)
MARKER = b"content-length:"
GRACE_SECONDS = 0.3       # a declared length not reached although a complete JSON value is here: take the value
MAX_HEADER = 64 * 1024    # bytes of one header block
MAX_GARBAGE = 16 * 1024 * 1024
CHUNK = 1 << 16

Log = Callable[[str], None]


class StreamReader:
    """Reads a file descriptor on a daemon thread (a blocking read never holds the event loop nor the exit) and
    hands the chunks to the loop."""

    def __init__(self, fd: int, loop: asyncio.AbstractEventLoop) -> None:
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._loop = loop
        self._fd = fd
        self.eof = False
        threading.Thread(target=self._pump, name="paramlens-stdin", daemon=True).start()

    def _pump(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, CHUNK)
            except OSError:
                chunk = b""
            try:
                self._loop.call_soon_threadsafe(self._queue.put_nowait, chunk)
            except RuntimeError:  # the loop is closed: the server is exiting
                return
            if not chunk:
                return

    async def read(self, timeout: float | None = None) -> bytes | None:
        """The next chunk; b"" at end of stream; None when `timeout` passed without data."""
        if self.eof:
            return b""
        try:
            chunk = await asyncio.wait_for(self._queue.get(), timeout) if timeout else await self._queue.get()
        except asyncio.TimeoutError:
            return None
        if not chunk:
            self.eof = True
        return chunk


def _complete_value(data: bytes | bytearray) -> int | None:
    """The end of the JSON value at the start of `data` (after whitespace), or None when there is none yet."""
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as error:
        text = bytes(data[:error.start]).decode("utf-8")
    stripped = len(text) - len(text.lstrip())
    try:
        _, end = json.JSONDecoder().raw_decode(text, stripped)
    except ValueError:
        return None
    return len(text[:end].encode("utf-8"))


class Framing:
    """The parser's state: the bytes read and not yet used."""

    def __init__(self, reader: StreamReader, log: Log) -> None:
        self.reader = reader
        self.log = log
        self.buffer = bytearray()
        self.discarded = 0

    async def fill(self, timeout: float | None = None) -> bool | None:
        """Read one more chunk: True, False at end of stream, None on timeout."""
        chunk = await self.reader.read(timeout)
        if chunk is None:
            return None
        if not chunk:
            return False
        self.buffer += chunk
        return True

    def resync(self, start: int = 1) -> bool:
        """Drop bytes up to the next `Content-Length:` after `start`; False when none is there yet (all but a
        possible partial marker dropped)."""
        lowered = self.buffer.lower()
        found = lowered.find(MARKER, start)
        if found >= 0:
            cut = found
        else:  # keep only an end that may be the start of a marker still arriving
            keep = next((k for k in range(min(len(MARKER) - 1, len(lowered)), 0, -1)
                         if lowered.endswith(MARKER[:k])), 0)
            cut = len(self.buffer) - keep
        self.discarded += cut
        del self.buffer[:cut]
        return found >= 0

    async def next_message(self) -> bytes | None:
        """The next message body, or None at end of stream (or when the stream cannot be resynchronised)."""
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            while end < 0:
                if len(self.buffer) > MAX_HEADER:
                    self.resync()
                    if self.discarded > MAX_GARBAGE:
                        self.log(f"more than {MAX_GARBAGE:,} bytes without an LSP header: cannot resynchronise")
                        return None
                if not await self.fill():
                    return None
                end = self.buffer.find(b"\r\n\r\n")
            lines = bytes(self.buffer[:end]).split(b"\r\n")
            start = next((i for i, line in enumerate(lines) if line), len(lines))
            lines = lines[start:]  # blank lines between messages are harmless
            if not lines:
                del self.buffer[:end + 4]
                continue
            if not all(HEADER_LINE.match(line) for line in lines):
                if self.resync():
                    self._report_discarded("bytes that are not an LSP header")
                elif self.discarded > MAX_GARBAGE:
                    self.log(f"more than {MAX_GARBAGE:,} bytes without an LSP header: cannot resynchronise")
                    return None
                elif not await self.fill():
                    return None
                continue
            lengths = [CONTENT_LENGTH.match(line) for line in lines]
            declared = next((int(m.group(1)) for m in lengths if m), None)
            del self.buffer[:end + 4]
            self._report_discarded("bytes that are not an LSP header")
            body = await self._body(declared)
            if body is not None:
                return body
            if self.reader.eof and not self.buffer:
                return None

    def _report_discarded(self, what: str) -> None:
        if self.discarded:
            self.log(f"skipped {self.discarded:,} {what}; reading again from the next Content-Length header")
            self.discarded = 0

    async def _body(self, declared: int | None) -> bytes | None:
        if declared is None:
            self.log("a header block without Content-Length: reading the JSON value that follows it")
            return await self._json_value(declared)
        while len(self.buffer) < declared:
            got = await self.fill(GRACE_SECONDS)
            if got is False:
                break
            if got is None and _complete_value(self.buffer) is not None:
                self.log(f"Content-Length {declared:,} is more than the message that was sent "
                         f"({_complete_value(self.buffer):,} bytes); taking the message")
                return self._take(_complete_value(self.buffer) or 0)
        body = bytes(self.buffer[:declared])
        try:
            json.loads(body)
        except ValueError:
            return await self._json_value(declared)
        del self.buffer[:declared]
        return body

    async def _json_value(self, declared: int | None) -> bytes | None:
        """The JSON value at the start of the buffer, read as far as it goes (a wrong or missing length)."""
        while True:
            end = _complete_value(self.buffer)
            if end is not None:
                if declared is not None and end != declared:
                    self.log(f"Content-Length {declared:,} does not match the message ({end:,} bytes); "
                             "taking the message and reading on after it")
                return self._take(end)
            lowered = self.buffer.lower()
            if lowered.find(MARKER, 1) >= 0 or self.reader.eof:
                self.log("a message body that is not JSON; skipping to the next Content-Length header")
                self.resync()
                return b""
            if await self.fill(GRACE_SECONDS * 4) is None:
                self.log("a message body that is not JSON; skipping to the next Content-Length header")
                self.resync()
                return b""

    def _take(self, end: int) -> bytes:
        body = bytes(self.buffer[:end])
        del self.buffer[:end]
        return body


def dispatch(protocol: Any, body: bytes, log: Log) -> None:
    """Structure and hand one message to pygls; answer what cannot be structured (never raise)."""
    if not body.strip():
        return
    try:
        raw = json.loads(body)
    except ValueError as error:
        log(f"a message that is not JSON ({error}); answered with Parse error")
        protocol._send_response(None, error=lsp.ResponseError(code=-32700, message=f"Parse error: {error}"))
        return
    if not isinstance(raw, dict):
        log("a message that is not a JSON object; answered with Invalid request")
        protocol._send_response(None, error=lsp.ResponseError(code=-32600, message="Invalid request: not an object"))
        return
    method = raw.get("method")
    is_request = "id" in raw and isinstance(method, str)
    if getattr(protocol, "_shutdown", False) and is_request:
        # pygls drops requests after `shutdown` without an answer; LSP says: answer them with an error
        protocol._send_response(raw["id"], error=lsp.ResponseError(
            code=-32600, message="Invalid request: the server is shutting down"))
        return
    try:
        message = protocol.structure_message(raw)
    except Exception as error:  # JsonRpcInvalidParams, JsonRpcInternalError: cattrs could not build the params
        code = -32602 if isinstance(error, JsonRpcInvalidParams) else -32603
        reason = _reason(error)
        if is_request:
            protocol._send_response(raw["id"], error=lsp.ResponseError(
                code=code, message=f"Invalid params for {method}: {reason}" if code == -32602 else
                f"Internal error for {method}: {reason}"))
        log(f"ignored {'request' if is_request else 'notification'} {method or '(no method)'}: invalid params "
            f"({reason})")
        return
    try:
        protocol.handle_message(message)
    except (SystemExit, KeyboardInterrupt):
        raise
    except Exception as error:  # a handler's own failure: pygls answers requests; never let it stop the reader
        log(f"{method or 'a message'} failed: {type(error).__name__}: {error}")


def _reason(error: BaseException) -> str:
    cause = error.__cause__ or error
    try:
        from cattrs import transform_error

        return "; ".join(transform_error(cause))[:500]  # type: ignore[arg-type]
    except Exception:
        return f"{type(cause).__name__}: {cause}"[:500]


async def serve(reader: StreamReader, protocol: Any, log: Log) -> bool:
    """Read and dispatch messages until end of stream (True) or a stream that cannot be resynchronised (False)."""
    framing = Framing(reader, log)
    while True:
        body = await framing.next_message()
        if body is None:
            return reader.eof
        dispatch(protocol, body, log)
        await asyncio.sleep(0)  # let the handlers that were scheduled run between messages

"""The watchdog's parts, shared by both executors, running in the analysing process (where the user's code can
never reach them): the reasons a run is stopped, the capped reader of the child's event stream, the cap on the
private directory, the scrubbed environment a child starts with, and the classification of how a run ended.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from typing import Any, Callable

from paramlens.sandbox.protocol import Event, RunLimits, RunResult, parse_json

RESULT_LIMIT = 32 * 1024 * 1024  # bytes of JSON events accepted from one run; past it the child is killed
STDERR_TAIL = 4000
DISK_LIMIT = 256 * 1024 * 1024   # bytes the run may leave in its private directory (each file: RLIMIT_FSIZE)
DISK_FILES_LIMIT = 10_000
DISK_POLL_SECONDS = 0.25


def scrubbed_environment(home: str) -> dict[str, str]:
    """Only what Python and torch need: no tokens, no proxies, nothing the user's shell exported."""
    keep = {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "SYSTEMROOT"}
    env = {key: value for key, value in os.environ.items() if key in keep}
    env.update({"MPLBACKEND": "Agg", "HOME": home, "TMPDIR": home, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8"})
    return env



class Stop:
    """Why the parent stopped a run (first reason wins) and an event that wakes the watchdog at once."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.event = threading.Event()

    def set(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self.event.set()


def disk_overflow(directory: str) -> bool:
    """True when the run's private directory holds more than DISK_LIMIT bytes or DISK_FILES_LIMIT entries:
    RLIMIT_FSIZE bounds each file, this bounds their sum."""
    total = count = 0
    for root, dirs, files in os.walk(directory):
        for name in files:
            count += 1
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue
        count += len(dirs)
        if total > DISK_LIMIT or count > DISK_FILES_LIMIT:
            return True
    return False


def kill_group(process: subprocess.Popen, wait: bool = True) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        pass
    if not wait:
        return
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


READ_CHUNK = 65536
READ_PAUSE_SECONDS = 0.002


class Collector:
    """Reads the child's event stream and stderr on threads, so a chatty child can never block on a full pipe.
    Past RESULT_LIMIT bytes of events it calls `on_overflow` (the watchdog then kills the child). Each event is
    decoded as it arrives, while the child is still running: decoding them all once it had ended took ~30 ms of a
    long file's resumed run (1,000 events) on the way to the report."""

    def __init__(self, events: Any, stderr: Any, on_overflow: Callable[[], None] | None = None,
                 on_eof: Callable[[], None] | None = None) -> None:
        self._events: list[dict[str, Any]] = []
        self._last_event: dict[str, Any] | None = None  # the last line, when it was a whole event
        self.size = 0
        self.truncated = False
        self.stderr_tail = b""
        self._on_overflow = on_overflow
        self._on_eof = on_eof
        self._open_streams = 2
        self._eof_lock = threading.Lock()
        self._threads = [threading.Thread(target=self._read_events, args=(events,), daemon=True),
                         threading.Thread(target=self._read_stderr, args=(stderr,), daemon=True)]
        for thread in self._threads:
            thread.start()

    def _read_events(self, stream: Any) -> None:
        """Split the stream into lines by hand: iterating a file by lines would buffer an endless line without
        a newline in the analysing process's memory."""
        partial: list[bytes] = []  # pieces of the current line (a list: joining per chunk would be quadratic)
        partial_size = 0
        try:
            for chunk in iter(lambda: stream.read1(READ_CHUNK), b""):
                if self.truncated:
                    continue  # drain until the watchdog's kill ends the stream
                if b"\n" not in chunk:
                    partial.append(chunk)
                    partial_size += len(chunk)
                    if self.size + partial_size > RESULT_LIMIT:
                        self._overflow()
                    continue
                pieces = (b"".join(partial) + chunk).split(b"\n")
                tail = pieces.pop()
                partial, partial_size = [tail], len(tail)
                for line in pieces:
                    self._keep(line + b"\n")
                if len(chunk) < READ_CHUNK and not self._done_read:
                    # the child writes an event a line: let a few milliseconds of them gather in the pipe rather
                    # than be woken by each (the child pays for every wake-up: ~1,100 of them cost a long file's
                    # resumed run ~20 ms of its ~150 ms of CPU); a run's end, its `done` event, is read at once
                    time.sleep(READ_PAUSE_SECONDS)
            if partial_size and not self.truncated:
                self._keep(b"".join(partial))
        finally:
            stream.close()
            self._stream_ended()

    def _keep(self, line: bytes) -> None:
        if self.truncated or self.size + len(line) > RESULT_LIMIT:
            self._overflow()
            return
        self.size += len(line)
        self._last_event = None
        try:
            event = parse_json(line)
        except ValueError:
            return  # a line cut short by a kill, or garbage the user's code wrote to the channel
        if isinstance(event, dict):
            self._events.append(event)
            self._last_event = event

    def _overflow(self) -> None:
        if not self.truncated and self._on_overflow is not None:
            self._on_overflow()
        self.truncated = True

    def _read_stderr(self, stream: Any) -> None:
        try:
            for chunk in iter(lambda: stream.read(4096), b""):
                self.stderr_tail = (self.stderr_tail + chunk)[-STDERR_TAIL:]
        finally:
            stream.close()
            self._stream_ended()

    def _stream_ended(self) -> None:
        with self._eof_lock:
            self._open_streams -= 1
            ended = self._open_streams == 0
        if ended and self._on_eof is not None:
            self._on_eof()

    @property
    def ended_with_done(self) -> bool:
        """Both streams are closed and the last event is `done`: the child finished and closed its channel."""
        return self._open_streams == 0 and self._done_read

    @property
    def _done_read(self) -> bool:
        """The last line read is the run's `done` event."""
        return self._last_event is not None and self._last_event.get("t") == Event.DONE

    def join(self, timeout: float = 10) -> None:
        for thread in self._threads:
            thread.join(timeout=timeout)

    def events(self) -> list[dict[str, Any]]:
        """The events read so far (every one, once both streams have ended and the threads are joined)."""
        return list(self._events)


STOP_MESSAGES = {
    "output": f"stopped: the code produced more than {RESULT_LIMIT // (1024 * 1024)} MB of results",
    "disk": f"stopped: the code wrote more than {DISK_LIMIT // (1024 * 1024)} MB (or {DISK_FILES_LIMIT:,} files) "
            "to its temporary directory",
    "cancelled": "cancelled: a newer version of the file is being analysed",
}


def classify(collected: Collector, returncode: int | None, stop: str | None, seconds: float,
             limits: RunLimits, executor_layers: list[str]) -> RunResult:
    """How the run ended, from the events, the exit status and why the parent stopped it (if it did)."""
    events = collected.events()
    stderr = collected.stderr_tail.decode("utf-8", "replace")
    start = next((e for e in events if e.get("t") == Event.START), None)
    layers = executor_layers + [layer for layer in (start or {}).get("isolation", []) if layer not in
                                executor_layers]

    def result(status: str, message: str | None, running: int | None = None, reason: str | None = None,
               **facts: Any) -> RunResult:
        return RunResult(events, status, message, seconds, running, stderr, layers, reason, facts)

    refused = next((e for e in events if e.get("t") == Event.REFUSED), None)
    if refused is not None:
        detail = str(refused.get("message"))
        return result("error", f"the sandbox could not be set up, nothing was run: {detail}", None, "refused",
                      detail=detail)
    finished = any(e.get("t") == Event.DONE for e in events)
    running = _running_index(events)
    if stop == "cancelled":
        return result("cancelled", STOP_MESSAGES["cancelled"], running, "cancelled")
    if finished and stop is None:
        return result("ok", None)
    if stop == "timeout":
        return result("timeout", f"stopped after {limits.timeout_seconds:g} s (the time limit)", running, "timeout",
                      seconds=limits.timeout_seconds)
    if stop == "output":
        return result("crashed", STOP_MESSAGES[stop], running, "output", mb=RESULT_LIMIT // (1024 * 1024))
    if stop == "disk":
        return result("crashed", STOP_MESSAGES[stop], running, "disk", mb=DISK_LIMIT // (1024 * 1024),
                      files=DISK_FILES_LIMIT)
    if returncode is not None and returncode < 0:
        signal_number = -returncode
        name = signal.Signals(signal_number).name if signal_number in signal.Signals._value2member_map_ else \
            str(signal_number)
        if signal_number == signal.SIGXCPU or (signal_number == signal.SIGKILL and
                                                 seconds >= limits.timeout_seconds):
            return result("timeout", f"stopped after using {limits.timeout_seconds:g} s of CPU time (the limit)",
                          running, "cpu", seconds=limits.timeout_seconds)
        return result("crashed", f"the process running the code was killed by {name}", running, "signal",
                      signal=name)
    if "MemoryError" in stderr or "can't allocate memory" in stderr:
        return result("memory", f"the code needed more than {limits.memory_mb} MB", running, "memory",
                      mb=limits.memory_mb)
    last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit status {returncode}"
    return result("crashed", f"the process running the code ended early: {last}", running, "exited", detail=last)


def _running_index(events: list[dict[str, Any]]) -> int | None:
    running = None
    for event in events:
        if event.get("t") == Event.BEGIN:
            running = event["index"]
        elif event.get("t") == Event.STATEMENT and event.get("index") == running:
            running = None
    return running


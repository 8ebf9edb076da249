"""Parent side of the execution boundary: start the child, feed it the units, enforce the limits, collect events.

`SubprocessExecutor` is the simple, portable executor: a fresh `python -I` per run with a wall-clock timeout
(the child's whole process group is killed), a cap on the result stream, a private temporary working directory
and a scrubbed environment; the child applies the same isolation layers as the warm worker's children
(isolation.py) where the system has them. `WorkerExecutor` (worker.py) is the warm one: it forks a child per run
from a process that imported torch once. `default_executor()` picks the safest one available.

Shared here: the event collector (capped), the output/disk watchdog and the classification of how a run ended.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from paramlens import options as opt
from paramlens.sandbox.launch import module_command

RESULT_LIMIT = 32 * 1024 * 1024  # bytes of JSON events accepted from one run; past it the child is killed
STDERR_TAIL = 4000
DISK_LIMIT = 256 * 1024 * 1024   # bytes the run may leave in its private directory (each file: RLIMIT_FSIZE)
DISK_FILES_LIMIT = 10_000
DISK_POLL_SECONDS = 0.25


@dataclass
class RunLimits:
    timeout_seconds: float = opt.TIMEOUT.default
    memory_mb: int = opt.MEMORY.default


@dataclass
class RunRequest:
    path: str
    units: list[dict[str, Any]]
    seed: int | None = opt.SEED.default
    limits: RunLimits = field(default_factory=RunLimits)
    python: str = sys.executable
    max_records: int = 8
    device: str = "cpu"          # cpu | meta | auto (cpu, but stop when the parameters exceed param_budget)
    param_budget: int = opt.PARAM_BUDGET.default
    loop_iterations: int = opt.LOOP_ITERATIONS.default
    loop_seconds: float = opt.LOOP_SECONDS.default

    def payload(self, required_layers: list[str]) -> dict[str, Any]:
        """The JSON the child reads: what to run and the limits it enforces on itself (every option of
        paramlens/options.py marked `payload`, under its own name)."""
        return {"path": self.path, "units": self.units, "seed": self.seed, "memory_mb": self.limits.memory_mb,
                "max_records": self.max_records, "device": self.device, "param_budget": self.param_budget,
                "loop_iterations": self.loop_iterations, "loop_seconds": self.loop_seconds,
                "cpu_seconds": opt.cpu_seconds(self.limits.timeout_seconds), "required_layers": required_layers}


@dataclass
class RunResult:
    events: list[dict[str, Any]]
    status: str            # ok | timeout | memory | crashed | cancelled | error
    message: str | None
    seconds: float
    running_index: int | None = None  # the unit that was running when the run ended abnormally
    stderr: str = ""
    isolation: list[str] = field(default_factory=list)  # the layers in force while the user's code ran
    fault: str | None = None  # "worker": the sandbox itself failed (not the user's code); the caller may retry

    @property
    def device(self) -> str:
        return next((e.get("device", "cpu") for e in self.events if e.get("t") == "start"), "cpu")

    @property
    def python(self) -> str | None:
        """The interpreter that ran the user's code (from the child's start event)."""
        return next((e.get("python") for e in self.events if e.get("t") == "start"), None)

    @property
    def over_budget(self) -> dict[str, Any] | None:
        return next((e for e in self.events if e.get("t") == "over_budget"), None)


class Executor(Protocol):
    def run(self, request: RunRequest) -> RunResult: ...


def _scrubbed_environment(home: str) -> dict[str, str]:
    """Only what Python and torch need: no tokens, no proxies, nothing the user's shell exported."""
    keep = {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "SYSTEMROOT"}
    env = {key: value for key, value in os.environ.items() if key in keep}
    env.update({"HOME": home, "TMPDIR": home, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8"})
    return env


class SubprocessExecutor:
    """A fresh interpreter per run (portable; the CLI's fallback where the warm worker's layers are missing)."""

    executor_layers = ["scrubbed-environment"]

    def __init__(self) -> None:
        self._current: subprocess.Popen | None = None
        self._cancelled = threading.Event()

    @property
    def isolation(self) -> list[str]:
        from paramlens.sandbox.isolation import probe

        return [s.name for s in probe() if s.active and s.name != "non-dumpable-worker"]

    def cancel(self) -> None:
        """Stop the run in progress (from another thread); `run` then returns with status "cancelled"."""
        self._cancelled.set()
        process = self._current
        if process is not None:
            _kill_group(process, wait=False)

    def close(self) -> None:
        self.cancel()

    def run(self, request: RunRequest) -> RunResult:
        limits = request.limits
        payload = json.dumps(request.payload(required_layers=[]))
        started = time.perf_counter()
        self._cancelled.clear()
        with tempfile.TemporaryDirectory(prefix="paramlens-") as workdir:
            cpu_seconds = int(limits.timeout_seconds) + 5

            def before_exec() -> None:  # runs in the child between fork and exec
                try:
                    import resource

                    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
                    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
                    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024 * 1024, 64 * 1024 * 1024))
                except (ImportError, ValueError, OSError):
                    pass

            process = subprocess.Popen(
                module_command(request.python, "paramlens.sandbox.child"),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=workdir,
                env=_scrubbed_environment(workdir), start_new_session=True,
                preexec_fn=before_exec if os.name == "posix" else None,
            )
            self._current = process
            stop = Stop()
            collected = Collector(process.stdout, process.stderr, on_overflow=lambda: stop.set("output"))
            try:
                assert process.stdin is not None
                process.stdin.write(payload.encode())
                process.stdin.close()
            except BrokenPipeError:
                pass
            deadline = started + limits.timeout_seconds
            next_disk_check = 0.0
            while process.poll() is None and stop.reason is None:
                now = time.perf_counter()
                if self._cancelled.is_set():
                    stop.set("cancelled")
                elif now >= deadline:
                    stop.set("timeout")
                elif now >= next_disk_check:
                    next_disk_check = now + DISK_POLL_SECONDS
                    if disk_overflow(workdir):
                        stop.set("disk")
                try:
                    process.wait(timeout=min(0.05, max(0.001, deadline - now)))
                except subprocess.TimeoutExpired:
                    pass
            _kill_group(process)
            self._current = None
            collected.join()
        seconds = time.perf_counter() - started
        if self._cancelled.is_set():
            stop.reason = "cancelled"
        return classify(collected, process.returncode, stop.reason, seconds, limits, self.executor_layers)


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


def _kill_group(process: subprocess.Popen, wait: bool = True) -> None:
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


class Collector:
    """Reads the child's event stream and stderr on threads, so a chatty child can never block on a full pipe.
    Past RESULT_LIMIT bytes of events it calls `on_overflow` (the watchdog then kills the child)."""

    def __init__(self, events: Any, stderr: Any, on_overflow: Callable[[], None] | None = None,
                 on_eof: Callable[[], None] | None = None) -> None:
        self.lines: list[bytes] = []
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
            for chunk in iter(lambda: stream.read1(65536), b""):
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
        self.lines.append(line)

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
        return self._open_streams == 0 and bool(self.lines) and b'"t": "done"' in self.lines[-1][:20]

    def join(self, timeout: float = 10) -> None:
        for thread in self._threads:
            thread.join(timeout=timeout)

    def events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line cut short by a kill, or garbage the user's code wrote to the channel
            if isinstance(event, dict):
                events.append(event)
        return events


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
    start = next((e for e in events if e.get("t") == "start"), None)
    layers = executor_layers + [layer for layer in (start or {}).get("isolation", []) if layer not in
                                executor_layers]

    def result(status: str, message: str | None, running: int | None = None) -> RunResult:
        return RunResult(events, status, message, seconds, running, stderr, layers)

    refused = next((e for e in events if e.get("t") == "refused"), None)
    if refused is not None:
        return result("error", f"the sandbox could not be set up, nothing was run: {refused.get('message')}")
    finished = any(e.get("t") == "done" for e in events)
    running = _running_index(events)
    if stop == "cancelled":
        return result("cancelled", STOP_MESSAGES["cancelled"], running)
    if finished and stop is None:
        return result("ok", None)
    if stop == "timeout":
        return result("timeout", f"stopped after {limits.timeout_seconds:g} s (the time limit)", running)
    if stop in STOP_MESSAGES:
        return result("crashed", STOP_MESSAGES[stop], running)
    if returncode is not None and returncode < 0:
        signal_number = -returncode
        name = signal.Signals(signal_number).name if signal_number in signal.Signals._value2member_map_ else \
            str(signal_number)
        if signal_number == signal.SIGXCPU or (signal_number == signal.SIGKILL and
                                                 seconds >= limits.timeout_seconds):
            return result("timeout", f"stopped after using {limits.timeout_seconds:g} s of CPU time (the limit)",
                          running)
        return result("crashed", f"the process running the code was killed by {name}", running)
    if "MemoryError" in stderr or "can't allocate memory" in stderr:
        return result("memory", f"the code needed more than {limits.memory_mb} MB", running)
    last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit status {returncode}"
    return result("crashed", f"the process running the code ended early: {last}", running)


def _running_index(events: list[dict[str, Any]]) -> int | None:
    running = None
    for event in events:
        if event.get("t") == "begin":
            running = event["index"]
        elif event.get("t") == "stmt" and event.get("index") == running:
            running = None
    return running


_DEFAULTS: dict[str, Executor] = {}
_DEFAULTS_LOCK = threading.Lock()


def default_executor(python: str | None = None) -> Executor:
    """The safest executor this machine supports, one per interpreter for the life of the process: the warm
    worker when Landlock and seccomp can both be applied, otherwise a fresh subprocess per run (which still
    applies every layer it can and reports which)."""
    key = python or sys.executable
    with _DEFAULTS_LOCK:
        executor = _DEFAULTS.get(key)
        if executor is None:
            from paramlens.sandbox.isolation import hardened_available

            if hardened_available():
                from paramlens.sandbox.warm import WorkerExecutor

                executor = WorkerExecutor(python=key)
                import atexit

                atexit.register(executor.close)
            else:
                executor = SubprocessExecutor()
            _DEFAULTS[key] = executor
        return executor

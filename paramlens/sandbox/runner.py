"""Parent side of the execution boundary: start the child, feed it the units, enforce the limits, collect events.

`SubprocessExecutor` is the simple, portable executor: a fresh `python -I` per run with a wall-clock timeout
(the child's whole process group is killed), a CPU-time limit, an address-space limit the child sets on itself
after importing torch, a cap on the result stream, a private temporary working directory and a scrubbed
environment. A warm, hardened worker (seccomp, Landlock) can replace it behind the same `Executor` protocol.
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
from typing import Any, Protocol

RESULT_LIMIT = 32 * 1024 * 1024  # bytes of JSON events accepted from one run
STDERR_TAIL = 4000


@dataclass
class RunLimits:
    timeout_seconds: float = 30.0
    memory_mb: int = 4096


@dataclass
class RunRequest:
    path: str
    units: list[dict[str, Any]]
    seed: int | None = 0
    limits: RunLimits = field(default_factory=RunLimits)
    python: str = sys.executable
    max_records: int = 8


@dataclass
class RunResult:
    events: list[dict[str, Any]]
    status: str            # ok | timeout | memory | crashed | error
    message: str | None
    seconds: float
    running_index: int | None = None  # the unit that was running when the run ended abnormally
    stderr: str = ""


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
    def run(self, request: RunRequest) -> RunResult:
        limits = request.limits
        payload = json.dumps({"path": request.path, "units": request.units, "seed": request.seed,
                              "memory_mb": limits.memory_mb, "max_records": request.max_records})
        started = time.perf_counter()
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
                [request.python, "-I", "-m", "paramlens.sandbox.child"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=workdir,
                env=_scrubbed_environment(workdir), start_new_session=True,
                preexec_fn=before_exec if os.name == "posix" else None,
            )
            collected = _Collector(process)
            try:
                assert process.stdin is not None
                process.stdin.write(payload.encode())
                process.stdin.close()
            except BrokenPipeError:
                pass
            timed_out = False
            try:
                process.wait(timeout=limits.timeout_seconds)
            except subprocess.TimeoutExpired:
                timed_out = True
            _kill_group(process)
            collected.join()
        seconds = time.perf_counter() - started
        return _classify(collected, process.returncode, timed_out, seconds, limits)


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class _Collector:
    """Reads the child's event stream and stderr on threads, so a chatty child can never block on a full pipe."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[bytes] = []
        self.size = 0
        self.truncated = False
        self.stderr_tail = b""
        self._threads = [threading.Thread(target=self._read_events, args=(process.stdout,), daemon=True),
                         threading.Thread(target=self._read_stderr, args=(process.stderr,), daemon=True)]
        for thread in self._threads:
            thread.start()

    def _read_events(self, stream: Any) -> None:
        for line in stream:
            if self.size + len(line) > RESULT_LIMIT:
                self.truncated = True
                continue
            self.size += len(line)
            self.lines.append(line)

    def _read_stderr(self, stream: Any) -> None:
        for chunk in iter(lambda: stream.read(4096), b""):
            self.stderr_tail = (self.stderr_tail + chunk)[-STDERR_TAIL:]

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=10)

    def events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.lines:
            try:
                events.append(json.loads(line))
            except ValueError:
                continue  # a line cut short by a kill
        return events


def _classify(collected: _Collector, returncode: int | None, timed_out: bool, seconds: float,
              limits: RunLimits) -> RunResult:
    events = collected.events()
    stderr = collected.stderr_tail.decode("utf-8", "replace")
    finished = any(e.get("t") == "done" for e in events)
    running = _running_index(events)
    if finished:
        return RunResult(events, "ok", None, seconds, stderr=stderr)
    if timed_out:
        return RunResult(events, "timeout", f"stopped after {limits.timeout_seconds:g} s (the time limit)",
                         seconds, running, stderr)
    if returncode is not None and returncode < 0:
        signal_number = -returncode
        name = signal.Signals(signal_number).name if signal_number in signal.Signals._value2member_map_ else \
            str(signal_number)
        status = "timeout" if signal_number in (signal.SIGXCPU, signal.SIGKILL) and seconds >= limits.timeout_seconds \
            else "crashed"
        return RunResult(events, status, f"the process running the code was killed by {name}", seconds, running,
                         stderr)
    if "MemoryError" in stderr or "can't allocate memory" in stderr:
        return RunResult(events, "memory", f"the code needed more than {limits.memory_mb} MB", seconds, running,
                         stderr)
    last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit status {returncode}"
    return RunResult(events, "crashed", f"the process running the code ended early: {last}", seconds, running,
                     stderr)


def _running_index(events: list[dict[str, Any]]) -> int | None:
    running = None
    for event in events:
        if event.get("t") == "begin":
            running = event["index"]
        elif event.get("t") == "stmt" and event.get("index") == running:
            running = None
    return running

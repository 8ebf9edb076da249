"""`SubprocessExecutor`: a fresh `python -I -m paramlens.sandbox.child` per run. Portable, and the fallback where
the warm worker's layers (Landlock, seccomp) are missing: the child still applies every isolation layer the system
has (isolation.py) and the parent keeps the same watchdog (watchdog.py) as for the warm worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time

from paramlens.sandbox.protocol import RunRequest, RunResult
from paramlens.sandbox.launch import module_command
from paramlens.sandbox.watchdog import DISK_POLL_SECONDS, Collector, Stop, classify, disk_overflow, kill_group, \
    scrubbed_environment


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
            kill_group(process, wait=False)

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
                env=scrubbed_environment(workdir), start_new_session=True,
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
            kill_group(process)
            self._current = None
            collected.join()
        seconds = time.perf_counter() - started
        if self._cancelled.is_set():
            stop.reason = "cancelled"
        return classify(collected, process.returncode, stop.reason, seconds, limits, self.executor_layers)


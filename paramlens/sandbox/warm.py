"""`WorkerExecutor`: the analysing process's side of the warm worker (worker.py).

The watchdog stays here, in the process the user's code can never touch: the wall-clock deadline, the cap on
the event stream, the cap on the private directory's size, cancellation from another thread, and the kill of the
child (asked of the worker, which has not reaped it; if the worker does not answer, the worker itself is killed
and the child dies with it through its parent-death signal). A dead worker is replaced at the next run.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

from paramlens.sandbox.channel import Channel, ChannelClosed, ProtocolError
from paramlens.sandbox.launch import module_command
from paramlens.sandbox.protocol import RunRequest, RunResult
from paramlens.sandbox.watchdog import DISK_POLL_SECONDS, Collector, Stop, classify, disk_overflow, \
    scrubbed_environment

KILL_GRACE_SECONDS = 3.0
STOP_GRACE_SECONDS = 0.3
FORK_REPLY_SECONDS = 30.0
LOG_TAIL = 2000


class WorkerUnavailable(RuntimeError):
    """The worker could not be started or stopped answering."""


@dataclass
class _WorkerProcess:
    process: subprocess.Popen
    channel: Channel
    workdir: str
    python: str
    torch: str
    meta_warm: bool
    pending_exit: bool = False  # the last child finished early; its exit report is still to be read
    ready: dict = field(default_factory=dict)  # the worker's "ready" message (what it preloaded, or why not)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Ask the worker to exit; if it is busy (warming imports after a run, a child to reap), kill it: it holds
        no state worth a wait, and a command-line run must not end seconds after its report."""
        try:
            self.channel.send({"t": "exit"})
        except OSError:
            pass
        self.channel.close()
        try:
            self.process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.channel.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self) -> str:
        try:
            with open(os.path.join(self.workdir, "worker.log"), "rb") as log:
                return log.read()[-LOG_TAIL:].decode("utf-8", "replace")
        except OSError:
            return ""


class _RunState:
    """One run in progress: why it is being stopped, and a pipe that wakes the watchdog at once."""

    def __init__(self) -> None:
        self.stop = Stop()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)

    def request_stop(self, reason: str) -> None:
        self.stop.set(reason)
        self.wake()

    def wake(self) -> None:
        try:
            os.write(self.wake_w, b"x")
        except OSError:
            pass

    def drain(self) -> None:
        try:
            while os.read(self.wake_r, 4096):
                pass
        except OSError:
            pass

    def close(self) -> None:
        os.close(self.wake_r)
        os.close(self.wake_w)


class WorkerExecutor:
    """Thread-safe; one run at a time (others wait). `cancel()` from any thread stops the run in progress, which
    then returns status "cancelled" within milliseconds."""

    executor_layers = ["scrubbed-environment", "non-dumpable-worker"]

    def __init__(self, python: str | None = None, warm_meta: bool = False, start_timeout: float = 120.0,
                 preload: bool = False) -> None:
        self.python = python or sys.executable
        self.warm_meta = warm_meta
        self.start_timeout = start_timeout
        self._workers: dict[str, _WorkerProcess] = {}
        # preload (a long-lived analysing process: the language server): after a run of a file that imports heavy
        # installed packages (transformers), a second worker imports them once, in the background; the file's next
        # runs fork from it. At most one such worker; replaced when one of its files changes on disk.
        self.preload = preload
        self._preloaded: dict[tuple, _WorkerProcess] = {}
        self._preload_files: dict[tuple, dict[str, float]] = {}
        self._preload_refused: set[tuple] = set()
        self._preload_starting: set[tuple] = set()
        self._run_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._active: _RunState | None = None
        self._last_layers: list[str] = []
        self._closed = False
        # incremental analysis: what the worker said about checkpoints between replies (parked, lost), and a
        # number that changes whenever a new worker starts (its checkpoints died with the old one)
        self._notices: list[dict] = []
        self.generation = 0

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start (and warm) the worker now, so the first run does not pay for importing torch."""
        with self._run_lock:
            self._ensure(self.python)

    def close(self) -> None:
        self.cancel()
        with self._run_lock:
            for worker in [*self._workers.values(), *self._preloaded.values()]:
                worker.stop()
            self._workers.clear()
            self._preloaded.clear()

    def cancel(self) -> None:
        with self._state_lock:
            if self._active is not None:
                self._active.request_stop("cancelled")

    def abandon(self) -> None:
        """The analysing process is exiting: kill every worker now, without waiting for a run in progress (a
        stopped worker would hold it for FORK_REPLY_SECONDS); their process groups die, their directories go."""
        self.cancel()
        for worker in [*self._workers.values(), *self._preloaded.values()]:
            worker.kill()

    def reap(self) -> None:
        """Collect the workers that died between runs (killed from outside), so that none stays a zombie until
        the next run, and remove their directories. The zombie is collected at once, whatever holds the run lock
        (`poll` is safe from any thread, and a run whose worker died sees it die either way); forgetting the worker
        and removing its directory wait until no run is in progress."""
        with self._state_lock:
            every = [*self._workers.values(), *self._preloaded.values()]
        for worker in every:
            worker.process.poll()
        if not self._run_lock.acquire(blocking=False):
            return
        try:
            for python, worker in list(self._workers.items()):
                if worker.process.poll() is not None:
                    worker.kill()
                    del self._workers[python]
            for key, worker in list(self._preloaded.items()):
                if worker.process.poll() is not None:
                    worker.kill()
                    del self._preloaded[key]
        finally:
            self._run_lock.release()

    @property
    def isolation(self) -> list[str]:
        """The layers in force in the last run's child, or (before any run) those this machine supports."""
        if self._last_layers:
            return list(self._last_layers)
        from paramlens.sandbox.isolation import probe

        return [status.name for status in probe() if status.active]

    @property
    def worker_pid(self) -> int | None:
        worker = self._workers.get(self.python)
        return worker.process.pid if worker is not None and worker.alive() else None

    def _ensure(self, python: str) -> _WorkerProcess:
        worker = self._workers.get(python)
        if worker is not None and worker.alive():
            return worker
        if worker is not None:
            worker.kill()
        worker = self._spawn(python)
        self._workers[python] = worker
        return worker

    def _spawn(self, python: str, extra: tuple[str, ...] = (), warm_meta: bool = False) -> _WorkerProcess:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        workdir = tempfile.mkdtemp(prefix="paramlens-worker-")
        with open(os.path.join(workdir, "worker.log"), "wb") as log:
            process = subprocess.Popen(
                module_command(python, "paramlens.sandbox.worker", str(theirs.fileno()),
                               *(["--warm-meta"] if self.warm_meta or warm_meta else []), *extra),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, cwd=workdir,
                env=scrubbed_environment(workdir), pass_fds=[theirs.fileno()], start_new_session=True)
        theirs.close()
        channel = Channel(ours)
        worker = _WorkerProcess(process, channel, workdir, python, "", self.warm_meta)
        try:
            received = channel.receive(timeout=self.start_timeout)
        except (ChannelClosed, ProtocolError, OSError):
            received = None
        if received is None or received[0].get("t") != "ready":
            tail = worker.log_tail()
            worker.kill()
            raise WorkerUnavailable("the sandbox worker did not start" + (f": {tail.strip().splitlines()[-1]}"
                                                                          if tail.strip() else ""))
        worker.torch = str(received[0].get("torch"))
        worker.ready = received[0]
        if not extra:  # the file's worker (not a preloaded one): checkpoints live there, a new one has none
            self.generation += 1
        return worker

    # -- preloaded workers --------------------------------------------------------------------------------------
    @staticmethod
    def _preload_key(request: RunRequest) -> tuple | None:
        if not request.preload:
            return None
        return (request.python, tuple(request.preload), request.module or "__main__", request.package_root or "")

    def _preloaded_worker(self, key: tuple | None) -> _WorkerProcess | None:
        """The worker that has this file's packages imported, when it is ready and its files are unchanged."""
        if key is None:
            return None
        with self._state_lock:
            worker = self._preloaded.get(key)
        if worker is None:
            return None
        if worker.alive() and not self._changed_on_disk(self._preload_files.get(key, {})):
            return worker
        with self._state_lock:
            self._preloaded.pop(key, None)
        worker.kill()
        return None

    @staticmethod
    def _changed_on_disk(files: dict[str, float]) -> bool:
        for path, mtime in files.items():
            try:
                if os.stat(path).st_mtime != mtime:
                    return True
            except OSError:
                return True
        return False

    def _start_preload(self, key: tuple, warm_meta: bool) -> None:
        """Start, in the background, the worker that imports the file's packages once (at most one is kept)."""
        with self._state_lock:
            if key in self._preloaded or key in self._preload_refused or key in self._preload_starting:
                return
            self._preload_starting.add(key)
        python, modules, module, root = key

        def start() -> None:
            try:
                worker = self._spawn(python, ("--preload", ",".join(modules), "--block", module, "--root", root),
                                     warm_meta=warm_meta)
            except WorkerUnavailable:
                with self._state_lock:
                    self._preload_refused.add(key)
                    self._preload_starting.discard(key)
                return
            ready = getattr(worker, "ready", {})
            with self._state_lock:
                self._preload_starting.discard(key)
                if ready.get("failed") or self._closed:
                    self._preload_refused.add(key)
                    stale = [worker]
                else:
                    stale = list(self._preloaded.values())
                    self._preloaded = {key: worker}
                    self._preload_files[key] = dict(ready.get("files") or {})
            for old in stale:
                old.kill()

        threading.Thread(target=start, name="paramlens-preload", daemon=True).start()

    # -- runs --------------------------------------------------------------------------------------------------
    def run(self, request: RunRequest) -> RunResult:
        with self._run_lock:
            state = _RunState()
            with self._state_lock:
                self._active = state
            try:
                result = self._run(request, state)
                key = self._preload_key(request)
                if self.preload and key is not None and result.status == "ok":
                    self._start_preload(key, warm_meta=result.device == "meta")
                return result
            finally:
                with self._state_lock:
                    self._active = None
                state.close()

    def _run(self, request: RunRequest, state: _RunState) -> RunResult:
        started = time.perf_counter()
        limits = request.limits
        try:
            worker = self._preloaded_worker(self._preload_key(request)) or self._ensure(request.python)
        except WorkerUnavailable as error:
            return RunResult([], "error", str(error), time.perf_counter() - started,
                             isolation=list(self.executor_layers), reason="worker",
                             reason_facts={"detail": str(error)}, fault="worker")
        result_r, result_w = os.pipe()
        _widen(result_w)
        stderr_r, stderr_w = os.pipe()
        collector = Collector(os.fdopen(result_r, "rb"), os.fdopen(stderr_r, "rb"),
                              on_overflow=lambda: state.request_stop("output"), on_eof=state.wake)
        returncode: int | None = None
        try:
            if worker.pending_exit:
                self._reap_previous(worker)
            try:
                payload = request.payload(["landlock", "seccomp"])
                if request.resume is not None:  # the rest of the file, from a parked checkpoint (checkpoint.py)
                    worker.channel.send({"t": "resume", "cid": request.resume["cid"], "request": payload},
                                        fds=[result_w, stderr_w])
                else:
                    worker.channel.send({"t": "run", "request": payload}, fds=[result_w, stderr_w])
            finally:
                os.close(result_w)
                os.close(stderr_w)
            forked = self._receive(worker, FORK_REPLY_SECONDS)
            if forked is not None and forked[0].get("t") == "missing":
                collector.join(timeout=5)
                return RunResult([], "error", "the checkpoint is gone", time.perf_counter() - started,
                                 isolation=list(self.executor_layers), reason="worker",
                                 reason_facts={"detail": "checkpoint"}, fault="checkpoint")
            if forked is None or forked[0].get("t") != "forked":
                raise WorkerUnavailable("the sandbox worker did not answer")
            run_dir = str(forked[0].get("dir"))
            deadline = request.deadline_seconds if request.deadline_seconds is not None else limits.timeout_seconds
            returncode = self._watch(worker, state, collector, run_dir, started + deadline)
        except (WorkerUnavailable, ChannelClosed, ProtocolError, OSError) as error:
            # the worker died or hung: kill it (its child dies with it); the next run starts a new one
            worker.kill()
            if self._workers.get(request.python) is worker:
                self._workers.pop(request.python, None)
            with self._state_lock:
                self._preloaded = {k: w for k, w in self._preloaded.items() if w is not worker}
            state.stop.set("worker")
            returncode = -signal.SIGKILL
            collector.join(timeout=2)
            result = classify(collector, returncode, None, time.perf_counter() - started, limits,
                              self.executor_layers)
            if result.status == "ok":
                return result
            result.status = "cancelled" if state.stop.reason == "cancelled" else "crashed"
            result.message = f"the sandbox worker stopped ({error}); results up to this point are shown"
            result.reason, result.reason_facts = ("cancelled", {}) if result.status == "cancelled" else \
                ("worker", {"detail": str(error)})
            result.fault = "worker"
            return result
        collector.join(timeout=5)
        result = classify(collector, returncode, state.stop.reason, time.perf_counter() - started, limits,
                          self.executor_layers)
        if result.isolation:
            self._last_layers = result.isolation
        return result

    def _reap_previous(self, worker: _WorkerProcess) -> None:
        """Read the exit report of the previous run's child (it finished; the worker has reaped it by now)."""
        deadline = time.monotonic() + KILL_GRACE_SECONDS
        while True:
            received = self._receive(worker, max(0.0, deadline - time.monotonic()))
            if received is None:
                raise WorkerUnavailable("the sandbox worker did not reap the previous run")
            if received[0].get("t") == "exit":
                worker.pending_exit = False
                return

    def _watch(self, worker: _WorkerProcess, state: _RunState, collector: Collector, run_dir: str,
               deadline: float) -> int | None:
        """Wait for the child's end; stop it on timeout, cancel, output or disk overflow. Returns its exit code,
        or None when it finished and closed its streams (the exit report is read at the next run: waiting for
        the kernel to tear down the child's copy of torch would add ~10 ms to every run)."""
        kill_sent: float | None = None
        next_disk_check = time.perf_counter() + DISK_POLL_SECONDS
        while True:
            now = time.perf_counter()
            if state.stop.reason is None:
                if now >= deadline:
                    state.stop.set("timeout")
                elif now >= next_disk_check:
                    next_disk_check = now + DISK_POLL_SECONDS
                    if disk_overflow(run_dir):
                        state.stop.set("disk")
            if state.stop.reason is not None and kill_sent is None:
                worker.channel.send({"t": "kill"})
                kill_sent = now
            if kill_sent is not None and now - kill_sent > KILL_GRACE_SECONDS:
                raise WorkerUnavailable("the sandbox worker did not stop the run")
            if kill_sent is None:
                wait = max(0.0, min(deadline, next_disk_check) - now)
            else:
                wait = max(0.0, kill_sent + KILL_GRACE_SECONDS - now)
            received = self._receive(worker, wait, wake_fd=state.wake_r if kill_sent is None else None)
            if received is not None and received[0].get("t") == "exit":
                return int(received[0].get("returncode", -1))
            state.drain()
            if kill_sent is None and state.stop.reason is None and collector.ended_with_done:
                # finished; make sure it really ends (a kill of an unreaped, exiting child is harmless)
                worker.channel.send({"t": "kill"})
                worker.pending_exit = True
                return None

    # -- checkpoints (incremental analysis) ----------------------------------------------------------------------
    def _receive(self, worker: _WorkerProcess, timeout: float | None, wake_fd: int | None = None):
        """The next reply from the worker; what it says unasked about checkpoints is kept for `notices()`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            received = worker.channel.receive(timeout=remaining, wake_fd=wake_fd)
            if received is None or received[0].get("t") not in ("parked", "lost"):
                return received
            for fd in received[1]:
                os.close(fd)
            self._notices.append(received[0])

    def notices(self) -> list[dict]:
        """Checkpoints the worker registered (`parked`: cid, index, lineage, pid) or lost since the last call."""
        if self._run_lock.acquire(blocking=False):
            try:
                worker = self._workers.get(self.python)
                if worker is not None and worker.alive():
                    try:
                        while True:
                            received = self._receive(worker, 0)
                            if received is None:
                                break
                            for fd in received[1]:
                                os.close(fd)
                            if received[0].get("t") == "exit":
                                worker.pending_exit = False
                    except (ChannelClosed, ProtocolError, OSError):
                        pass
            finally:
                self._run_lock.release()
        taken, self._notices = self._notices, []
        return taken

    def drop_checkpoints(self, cids: list[str]) -> None:
        self._tell({"t": "drop", "cids": list(cids)})

    def drop_lineage(self, lineage: str) -> None:
        self._tell({"t": "drop_lineage", "lineage": lineage})

    def _tell(self, message: dict) -> None:
        with self._run_lock:
            worker = self._workers.get(self.python)
            if worker is None or not worker.alive():
                return
            try:
                worker.channel.send(message)
            except OSError:
                pass


RESULT_PIPE_BYTES = 1 << 20


def _widen(fd: int) -> None:
    """A result pipe that holds a burst of events (a long file's final module table is ~180 KB) while the
    collector lets events gather (watchdog.READ_PAUSE_SECONDS), so the child does not wait to write them; the
    kernel's 64 KB when it refuses (its pipe-max-size, the user's pipe quota)."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, RESULT_PIPE_BYTES)
    except (OSError, AttributeError):
        pass

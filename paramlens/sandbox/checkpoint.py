"""Checkpoints inside the sandboxed child: the program's state after statement k, kept as a stopped process, so
that an edit at statement j > k runs j..n only (incremental analysis, paramlens/incremental/).

How a run stops at a checkpoint. Seccomp forbids the user's code to create processes, and a filter can only be
tightened, never relaxed, so the process that must fork later has to be allowed to fork now. Seccomp filters
belong to threads: the run installs its rules as two filters (seccomp.install_split). The *fork* filter (every
rule except the one on `clone`; `setsid`/`setpgid` refused) goes on every thread; then the *checkpoint thread* is
started (it keeps only the fork filter); then the *process* filter (`clone` only for threads, signals only to the
process itself) goes on the main thread, which runs the user's code: that thread, and every thread or process it
creates, cannot fork. Between two statements the main thread (ParamLens' code, after checking that the state can
be copied faithfully) asks the checkpoint thread to fork. The copy (the *parked* process) has one thread, the
checkpoint thread's; it registers with the worker through the lineage's registry socket and waits. To resume,
the worker hands it the remaining statements and new result pipes; it forks again, and that copy (the *resumed
run*) restores what a fork does not carry (below), starts its own checkpoint thread, puts the process filter on
itself and runs the statements on the same objects (`_UnitRunner`), then finishes as a full run does.

The user's code never runs on a thread that may fork: the checkpoint thread is started with `_thread` (no
`threading.settrace` hook), the garbage collector is off while it works (no `gc.callbacks`, no finalizers), a
parked process resets every signal handler, every module it needs is imported before the user's code runs, and a
run whose code installed an audit hook or an at-fork handler takes no more checkpoints. What is left is a program
that rewrites ParamLens' memory through ctypes to take that thread over: it could then fork, and its processes
would still be unable to exec, connect, write outside the lineage's directory or leave the lineage's process group
(which the worker and the analysing process kill).

What a fork does not carry, and how a resumed run still prints and reports exactly what a full run would:
- thread-local state of the main thread: torch's grad mode and the context variables (decimal contexts among them)
  are copied over; a checkpoint is not taken while inference mode, autocast, a torch function or dispatch mode
  (`torch.set_default_device`), a trace or profile function is in force, nor while threads of the user's, an
  interval timer or more than one torch thread exist (torch's worker threads do not survive a fork);
- Python's `random` is reseeded in every forked child (an at-fork handler of the standard library): its state is
  saved and restored; torch's generators live in memory and are preserved;
- files: a checkpoint is not taken while the program holds a descriptor open (an open file, a memory map's file
  stays mapped but its descriptor is checked), while the private directory holds more than SNAPSHOT_BYTES, a
  hard link or a special file; otherwise its content (names, bytes, modes, times, in directory order) is kept in
  the parked process and a resumed run recreates the private directory, at the same path, from it;
- time: once the user's code (directly or through a library) has read a clock of the `time` module, or once the
  run passed the analysing process's clock fence (the first statement that calls `datetime`'s now/today), no
  more checkpoints are taken, so no value computed before a checkpoint is ever compared with the time of a later
  run;
- `/proc/self`: Landlock allows the process that applied it to read its own `/proc/self`, not its forks; a
  resumed run in which the user's code opens a path under `/proc` stops with a `diverged` event and the analysing
  process runs the file in full instead.

Events (protocol.Event is not extended: these kinds are ours): `checkpoint` {index, cid} after a checkpoint was
taken, `diverged` {reason} when a resumed run cannot go on faithfully.
"""

from __future__ import annotations

import _thread
import array
import contextvars
import fcntl
import gc
import json
import os
import random
import resource
import select
import signal
import socket
import stat
import sys
import threading
import time
from typing import Any, Callable

from paramlens.sandbox.cleanup import remove_tree as _remove_tree
from paramlens.sandbox.channel import Channel, ChannelClosed, ProtocolError
from paramlens.sandbox.guards import audit_hook
from paramlens.sandbox.protocol import Probe

CHECKPOINT_EVENT = "checkpoint"
DIVERGED_EVENT = "diverged"
SNAPSHOT_BYTES = 16 * 1024 * 1024  # private directory content a checkpoint may copy
SNAPSHOT_ENTRIES = 2000
REGISTRY_MESSAGE = 4096
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4
CLOCKS = ("time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns", "process_time",
          "process_time_ns", "thread_time", "thread_time_ns", "clock_gettime", "clock_gettime_ns")
CLOCKS_WITHOUT_ARGUMENT = ("localtime", "gmtime", "ctime", "asctime", "strftime")
_PROC_READS = frozenset({"open", "os.listdir", "os.scandir"})  # the audit events a resumed run's /proc reads raise
OWN_CODE = os.path.dirname(os.path.abspath(__file__))
OWN_CLOCK_READERS = frozenset(os.path.join(OWN_CODE, name) for name in ("loops.py", "checkpoint.py", "child.py"))

ACTIVE: "Checkpointer | None" = None


SIGNAL_SCOPE_ABI = 6  # Landlock's scopes (signals and abstract unix sockets stay inside the sandbox)


def prepare(plan: Any, request: dict[str, Any], registry_fd: int, root: str) -> None:
    """In the run's child, before isolation: make this run one that can stop at checkpoints. Not on a kernel without
    Landlock's signal scoping (ABI 6): the checkpoint thread keeps only the fork filter, whose rules do not limit
    whom a signal may reach, so only Landlock would keep a taken-over checkpoint thread from signalling processes
    outside the run (docs/sandbox-checkpoints.md). The run then takes no checkpoints and is analysed in full."""
    global ACTIVE
    from paramlens.sandbox import landlock

    if landlock.abi_version() < SIGNAL_SCOPE_ABI:
        return
    checkpointer = Checkpointer(request, registry_fd, root, plan.private_dir)
    plan.keep_fds = list(plan.keep_fds) + [registry_fd]
    plan.writable_root = root
    plan.between_filters = checkpointer.start_thread
    checkpointer.install_watchers()
    ACTIVE = checkpointer


def send_registry(sock: socket.socket, message: dict[str, Any], fds: list[int]) -> None:
    data = json.dumps(message).encode()
    sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else [])


def receive_registry(sock: socket.socket) -> tuple[dict[str, Any], list[int]] | None:
    """One registry message (a SOCK_SEQPACKET record) and its descriptors; None at end of stream or for garbage."""
    data, ancillary, _flags, _ = sock.recvmsg(REGISTRY_MESSAGE, socket.CMSG_SPACE(4 * 4))
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            received = array.array("i")
            received.frombytes(payload[: len(payload) - len(payload) % received.itemsize])
            fds.extend(received)
    if not data:
        for fd in fds:
            os.close(fd)
        return None
    try:
        message = json.loads(data)
    except ValueError:
        message = None
    if not isinstance(message, dict):
        for fd in fds:
            os.close(fd)
        return {"t": "garbage"}, []
    return message, fds


class _Refused(Exception):
    """The state cannot be copied faithfully at this point (the message says why)."""


class Checkpointer:
    def __init__(self, request: dict[str, Any], registry_fd: int, root: str, private_dir: str) -> None:
        policy = request.get("checkpoints") or {}
        self.policy = policy
        self.run_token = str(policy.get("run", "0"))
        self.lineage = str(policy.get("lineage", ""))
        self.at = set(int(i) for i in policy.get("at", []))
        self.every = float(policy.get("every_seconds", 1.0))
        self.most = int(policy.get("max", 8))
        self.fence = policy.get("fence")
        self.snapshot_limit = int(policy.get("snapshot_bytes", SNAPSHOT_BYTES))
        self.registry = socket.socket(fileno=registry_fd)
        self.workspace = os.path.abspath(request["path"]) if request.get("path") else None
        self.root = root
        self.private_dir = private_dir
        self.taint: str | None = None      # why no more checkpoints are taken in this lineage
        self.diverged: str | None = None   # why this resumed run cannot be trusted
        self.taken = 0
        self.refusals: set[str] = set()
        self.since = 0.0                   # seconds run since the last checkpoint
        self.last_boundary = time.perf_counter()
        self.resumed = False
        self.known_fds: set[int] = {0, 1, 2, 3, registry_fd}
        self.command: tuple[int, int] | None = None  # pipe to the checkpoint thread
        self.reply: tuple[int, int] | None = None
        self.pending: dict[str, Any] | None = None   # what the next fork carries (set by the main thread)
        self.runner: Any = None
        self.loops: Any = None
        self.finish: Callable[..., None] | None = None
        self.resumed_at: float | None = None  # when this process started a resumed run (it times itself from there)
        self.parent_pid = os.getpid()
        self.fork_error = "fork failed"  # why the checkpoint thread's last fork failed (set by that thread)

    # -- set up --------------------------------------------------------------------------------------------
    def attach(self, runner: Any, loops: Any, finish: Callable[..., None]) -> None:
        self.runner, self.loops, self.finish = runner, loops, finish
        runner.after_unit = self.boundary

    def start_thread(self) -> None:
        """Start the checkpoint thread (between the two seccomp filters: it keeps only the fork filter)."""
        command, reply = os.pipe(), os.pipe()
        self.command, self.reply = command, reply
        self.known_fds.update(command + reply)
        _thread.start_new_thread(self._thread_main, (command[0], reply[1]))

    def install_watchers(self) -> None:
        """Before the user's code runs: notice what a checkpoint could not reproduce (clock reads, audit hooks,
        at-fork handlers, `/proc` in a resumed run). The wrappers call the originals and change no result."""
        import time as time_module

        for name in CLOCKS + CLOCKS_WITHOUT_ARGUMENT:
            original = getattr(time_module, name, None)
            if original is not None:
                setattr(time_module, name, self._clock(original, name, name in CLOCKS_WITHOUT_ARGUMENT))
        original_audit = sys.addaudithook

        def addaudithook(hook: Any) -> None:
            if self._foreign(hook):
                self.taint = self.taint or "the code installed an audit hook"
            return original_audit(hook)

        sys.addaudithook = addaudithook  # type: ignore[assignment]
        original_at_fork = os.register_at_fork

        def register_at_fork(**handlers: Any) -> None:
            if any(self._foreign(handler) for handler in handlers.values()):
                self.taint = self.taint or "the code registered an at-fork handler"
            return original_at_fork(**handlers)

        os.register_at_fork = register_at_fork  # type: ignore[assignment]
        original_audit(audit_hook(_PROC_READS, lambda: self.resumed, self._audit))

    def _foreign(self, handler: Any) -> bool:
        """Whether `handler` (a hook that would run on the checkpoint thread or in a parked process) is code of the
        user's: Python code outside the interpreter's libraries, or inside the file's own directory. The standard
        library and installed packages register such handlers themselves (logging, random, torch)."""
        from paramlens.sandbox.isolation import interpreter_paths

        function = getattr(handler, "__func__", handler)
        code = getattr(function, "__code__", None)
        if code is None:
            call = getattr(type(handler), "__call__", None)
            code = getattr(getattr(call, "__func__", call), "__code__", None)
            if code is None:
                return not callable(handler) or not type(handler).__module__ in ("builtins", "_thread")
        filename = os.path.abspath(code.co_filename)
        workspace = self.workspace
        if workspace and (filename == workspace or filename.startswith(os.path.dirname(workspace) + os.sep)):
            return True
        return not any(filename.startswith(path.rstrip(os.sep) + os.sep) for path in interpreter_paths())

    def _clock(self, original: Any, name: str, only_without_argument: bool) -> Any:
        checkpointer = self

        def clock(*args: Any, **kwargs: Any) -> Any:
            if not (only_without_argument and args) and checkpointer.taint is None and checkpointer._user_running():
                # ParamLens' own clock reads while the user's code runs (the loop budget) do not count; a probe
                # that calls a clock the user's code passed it (`__pl_c__(id, time.time)`) does
                if os.path.abspath(sys._getframe(1).f_code.co_filename) not in OWN_CLOCK_READERS:
                    checkpointer.taint = f"the code read the clock (time.{name})"
            return original(*args, **kwargs)

        clock.__name__ = getattr(original, "__name__", name)
        clock.__qualname__ = clock.__name__
        clock.__doc__ = getattr(original, "__doc__", None)
        clock.__wrapped__ = original  # type: ignore[attr-defined]
        return clock

    def _user_running(self) -> bool:
        runner = self.runner
        return runner is not None and runner.blocked.enabled

    def _audit(self, event: str, args: tuple) -> None:
        """A /proc read of the user's code in a resumed run (the hook calls this for _PROC_READS events once
        resumed)."""
        if self.diverged is not None or not self._user_running():
            return
        if args:
            path = args[0]
            if isinstance(path, bytes):
                path = path.decode(errors="replace")
            if isinstance(path, str) and os.path.abspath(path).startswith("/proc/"):
                self.diverged = f"the code read {path} (a resumed run may not read /proc)"
                try:
                    self.runner.emit({"t": DIVERGED_EVENT, "reason": self.diverged})
                except Exception:  # noqa: BLE001
                    pass

    # -- between statements (main thread) -------------------------------------------------------------------
    def boundary(self, unit: dict[str, Any]) -> None:
        now = time.perf_counter()
        self.since += now - self.last_boundary
        self.last_boundary = now
        if unit.get("example") or self.command is None or self.diverged is not None:
            return
        index = int(unit["index"])
        wanted = index in self.at or (self.since >= self.every and self.taken < self.most)
        if not wanted or (self.fence is not None and index >= int(self.fence)):
            return
        if self.taint is not None:
            self._refused(index, self.taint)
            return
        try:
            self.pending = self._capture(index)
        except _Refused as refusal:
            self._refused(index, str(refusal))
            return
        taken = self._fork()
        self.pending = None
        if taken:
            self.taken += 1
            self.since = 0.0
            self.runner.emit({"t": CHECKPOINT_EVENT, "index": index, "cid": f"{self.run_token}:{index}"})
        else:
            self._refused(index, self.fork_error)
        self.last_boundary = time.perf_counter()

    def _refused(self, index: int, reason: str) -> None:
        """Why no checkpoint was taken, said once per reason (the analysing process shows why a file gets none)."""
        if reason not in self.refusals:
            self.refusals.add(reason)
            self.runner.emit({"t": CHECKPOINT_EVENT, "index": index, "refused": reason})

    def _capture(self, index: int) -> dict[str, Any]:
        import torch

        if threading.active_count() != 1:
            raise _Refused("threads")
        if torch.get_num_threads() != 1:
            raise _Refused("torch threads")
        if sys.gettrace() is not None or sys.getprofile() is not None:
            raise _Refused("trace")
        for timer in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF):
            if signal.getitimer(timer) != (0.0, 0.0):
                raise _Refused("timer")
        if torch.is_inference_mode_enabled() or _autocast_enabled(torch):
            raise _Refused("torch mode")
        if torch._C._len_torch_function_stack() or torch._C._len_torch_dispatch_stack():
            raise _Refused("torch mode")
        self._check_stack()
        self._check_descriptors()
        snapshot = snapshot_directory(self.private_dir, self.snapshot_limit)
        handlers = {}
        for number in _catchable_signals():
            handlers[number] = signal.getsignal(number)
        return {"index": index, "cid": f"{self.run_token}:{index}", "snapshot": snapshot,
                "context": contextvars.copy_context(), "grad": torch.is_grad_enabled(),
                "random": random.getstate(), "handlers": handlers, "gc": gc.isenabled(),
                "mask": signal.pthread_sigmask(signal.SIG_BLOCK, [])}

    def _check_stack(self) -> None:
        """Only ParamLens' own frames between this one and the unit loop's caller (`execute`, or `_continue` in a
        resumed run): a resumed run continues with `runner.run` and `finish`, which is exactly what this stack
        would do next (not so inside an import, for instance)."""
        frame = sys._getframe(1)
        while frame is not None:
            code = frame.f_code
            if not code.co_filename.startswith(OWN_CODE):
                raise _Refused("stack")
            if code.co_name in ("execute", "_continue"):
                return
            frame = frame.f_back
        raise _Refused("stack")

    def _check_descriptors(self) -> None:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        for fd in range(0, min(soft, 4096)):
            if fd in self.known_fds:
                continue
            try:
                fcntl.fcntl(fd, fcntl.F_GETFD)
            except OSError:
                continue
            raise _Refused("open descriptor")

    def _fork(self) -> bool:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        enabled = gc.isenabled()
        gc.disable()  # nothing of the user's (gc.callbacks, finalizers) may run on the checkpoint thread
        try:
            os.write(self.command[1], b"f")
            answer = _read_exactly(self.reply[0], 1)
        finally:
            if enabled:
                gc.enable()
        return answer == b"k"

    # -- the checkpoint thread ------------------------------------------------------------------------------
    def _thread_main(self, command: int, reply: int) -> None:
        while True:
            try:
                if not _read_exactly(command, 1):
                    return
                pid = os.fork()
            except OSError as error:
                self.fork_error = f"fork failed: {os.strerror(error.errno) if error.errno else error}"
                try:
                    os.write(reply, b"e")
                except OSError:
                    return
                continue
            if pid == 0:
                self._parked()  # never returns
            try:
                os.write(reply, b"k")
            except OSError:
                return

    # -- the parked process -----------------------------------------------------------------------------------
    def _parked(self) -> None:
        code = 0
        try:
            gc.disable()
            for number in _catchable_signals():
                try:
                    signal.signal(number, signal.SIG_DFL)
                except (OSError, ValueError, RuntimeError):
                    pass
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2, 3):
                os.dup2(null, fd)
            os.close(null)
            for fd in [*self.command, *self.reply]:
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.known_fds.difference_update(self.command + self.reply)
            self.command = self.reply = None
            try:  # the analysing process measures a checkpoint's memory in /proc/<pid>/smaps_rollup
                _prctl(PR_SET_DUMPABLE, 1)
            except OSError:
                pass
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            pending = self.pending or {}
            itself = os.pidfd_open(os.getpid())
            send_registry(self.registry, {"t": "parked", "cid": pending.get("cid"), "index": pending.get("index"),
                                          "lineage": self.lineage}, [theirs.fileno(), itself])
            theirs.close()
            os.close(itself)
            self._serve(Channel(ours), pending)
        except BaseException:  # noqa: BLE001 - a parked process that cannot go on simply ends
            code = 1
        finally:
            os._exit(code)

    def _serve(self, channel: Channel, pending: dict[str, Any]) -> None:
        while True:
            try:
                received = channel.receive()
            except (ChannelClosed, ProtocolError, OSError):
                return
            if received is None:
                continue
            message, fds = received
            kind = message.get("t")
            if kind == "resume" and len(fds) == 2 and isinstance(message.get("request"), dict):
                self._spawn(channel, pending, message["request"], fds)
                self._compile_ahead(channel, message["request"])
            else:
                for fd in fds:
                    os.close(fd)
                if kind == "exit":
                    return

    def _compile_ahead(self, channel: Channel, request: dict[str, Any]) -> None:
        """While it waits for the next edit: the statements of the run it just resumed, compiled for the next
        resumed run (child._UnitRunner.compile_ahead), until a message arrives."""
        def interrupted() -> bool:
            return channel.has_message() or bool(select.select([channel], [], [], 0)[0])

        try:
            self.runner.compile_ahead(request.get("units") or [], interrupted)
        except Exception:  # noqa: BLE001 - an optimisation: without it the resumed run compiles as before
            pass

    def _spawn(self, channel: Channel, pending: dict[str, Any], request: dict[str, Any], fds: list[int]) -> None:
        """Fork the resumed run, report it (with a pidfd) to the worker, wait for it and report how it ended."""
        parked = os.getpid()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                channel.close()
                self._resume(pending, request, fds[0], fds[1], parked)
                code = 0
            except BaseException:  # noqa: BLE001
                try:
                    import traceback

                    traceback.print_exc()
                except BaseException:  # noqa: BLE001
                    pass
            finally:
                os._exit(code)
        for fd in fds:
            os.close(fd)
        pidfd = os.pidfd_open(pid)
        try:
            channel.send({"t": "forked", "pid": pid}, fds=[pidfd])
            while True:
                ready = [channel] if channel.has_message() else select.select([channel, pidfd], [], [])[0]
                if pidfd in ready:
                    _, status = os.waitpid(pid, 0)
                    channel.send({"t": "exit", "returncode": os.waitstatus_to_exitcode(status)})
                    return
                received = channel.receive(timeout=0)
                if received is not None:
                    message, extra = received
                    for fd in extra:
                        os.close(fd)
                    if message.get("t") in ("kill", "exit"):
                        os.kill(pid, signal.SIGKILL)
                        if message.get("t") == "exit":
                            os.waitpid(pid, 0)
                            raise SystemExit(0)
        except (ChannelClosed, ProtocolError, OSError):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            raise SystemExit(0)
        finally:
            os.close(pidfd)

    # -- the resumed run ----------------------------------------------------------------------------------------
    def _resume(self, pending: dict[str, Any], request: dict[str, Any], result_fd: int, stderr_fd: int,
                parked: int) -> None:
        self.resumed_at = time.perf_counter()
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parked:
            os._exit(70)
        try:
            _prctl(PR_SET_DUMPABLE, 0)
        except OSError:
            pass
        os.dup2(result_fd, 3)
        os.dup2(stderr_fd, 1)
        os.dup2(stderr_fd, 2)
        os.close(result_fd)
        os.close(stderr_fd)
        emit = self.runner.emit
        try:
            restore_directory(self.private_dir, self.root, pending.get("snapshot") or [])
        except OSError as error:
            emit({"t": DIVERGED_EVENT, "reason": f"the private directory could not be restored: {error}"})
            _end()
            return
        self.start_thread()
        from paramlens.sandbox import seccomp

        seccomp.install_process_filter()
        self.resumed = True
        random.setstate(pending["random"])
        for number, handler in (pending.get("handlers") or {}).items():
            try:
                if handler is not None:
                    signal.signal(number, handler)
            except (OSError, ValueError, TypeError, RuntimeError):
                pass
        signal.pthread_sigmask(signal.SIG_SETMASK, pending.get("mask") or [])
        self._apply_request(request)
        pending["context"].run(self._continue, request, pending)

    def _apply_request(self, request: dict[str, Any]) -> None:
        from paramlens.sandbox import child

        policy = request.get("checkpoints") or {}
        self.policy = policy
        self.run_token = str(policy.get("run", self.run_token))
        self.at = set(int(i) for i in policy.get("at", []))
        self.every = float(policy.get("every_seconds", self.every))
        self.most = int(policy.get("max", self.most))
        self.fence = policy.get("fence")
        self.taken = 0
        self.since = 0.0
        self.last_boundary = time.perf_counter()
        units = request["units"]
        resume = request.get("resume") or {}
        self.loops.replace_sites(int(resume.get("loop_base", 0)),
                                 [loop for unit in units for loop in unit.get("loops", [])])
        from paramlens.sandbox.summaries import remember_texts

        remember_texts(request.get("texts"))
        self.runner.namespace_writes = child._namespace_writes(request)
        self.runner.state_digest = bool(request.get("state_digest"))
        self.runner.compiled = 0  # this run's compiles, not those of the run before the checkpoint
        child.EXAMPLE_NAMES.clear()
        child.EXAMPLE_NAMES.update({unit["example"]["name"]: unit["example"]["expression"]
                                    for unit in units if unit.get("example")})
        # the examples to decide and build are this request's (sandbox/examples.py reads its plans by unit index)
        examples = self.runner.namespace.get(Probe.EXAMPLE)
        if examples is not None:
            examples.plans = {unit["index"]: unit["example"] for unit in units if unit.get("example")}

    def _continue(self, request: dict[str, Any], pending: dict[str, Any]) -> None:
        import torch

        torch.set_grad_enabled(pending["grad"])
        if pending.get("gc"):
            gc.enable()
        self.runner.run(request["units"])
        self.finish(self.resumed_at)
        _end()


def _end() -> None:
    """Close the result channel and the output streams, as run_isolated does after a full run."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    for fd in (3, 1, 2):
        try:
            os.close(fd)
        except OSError:
            pass


def _autocast_enabled(torch: Any) -> bool:
    for device in ("cpu", "cuda"):
        try:
            if torch.is_autocast_enabled(device):
                return True
        except (TypeError, RuntimeError):
            if device == "cuda" and torch.is_autocast_enabled():
                return True
    return False


def _read_exactly(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        try:
            chunk = os.read(fd, size - len(data))
        except InterruptedError:
            continue
        if not chunk:
            return data
        data += chunk
    return data


def _catchable_signals() -> list[int]:
    return [number for number in range(1, signal.NSIG) if number not in (signal.SIGKILL, signal.SIGSTOP)
            and number in signal.valid_signals()]


def _prctl(option: int, value: int) -> None:
    from paramlens.sandbox.isolation import prctl

    prctl(option, value)


# -- the private directory ------------------------------------------------------------------------------------

def snapshot_directory(directory: str, limit: int) -> list[tuple]:
    """Every entry below `directory`, in directory order: (relative path, "d"|"f"|"l", mode, atime_ns, mtime_ns,
    bytes or link target). Raises _Refused past `limit` bytes, for hard links and special files."""
    entries: list[tuple] = []
    total = 0

    def walk(relative: str) -> None:
        nonlocal total
        with os.scandir(os.path.join(directory, relative) if relative else directory) as listing:
            names = [entry.name for entry in listing]
        for name in names:
            path = os.path.join(relative, name) if relative else name
            full = os.path.join(directory, path)
            info = os.lstat(full)
            if len(entries) >= SNAPSHOT_ENTRIES:
                raise _Refused("too many files")
            if stat.S_ISLNK(info.st_mode):
                entries.append((path, "l", 0, info.st_atime_ns, info.st_mtime_ns, os.readlink(full)))
            elif stat.S_ISDIR(info.st_mode):
                entries.append((path, "d", stat.S_IMODE(info.st_mode), info.st_atime_ns, info.st_mtime_ns, None))
                walk(path)
            elif stat.S_ISREG(info.st_mode):
                if info.st_nlink > 1:
                    raise _Refused("hard link")
                total += info.st_size
                if total > limit:
                    raise _Refused("private directory too large")
                with open(full, "rb") as handle:
                    data = handle.read()
                entries.append((path, "f", stat.S_IMODE(info.st_mode), info.st_atime_ns, info.st_mtime_ns, data))
            else:
                raise _Refused("special file")

    try:
        walk("")
    except PermissionError as error:
        raise _Refused(f"unreadable: {error}") from None
    return entries


def restore_directory(directory: str, root: str, entries: list[tuple]) -> None:
    """Recreate `directory` (same path, new directory) with exactly `entries`, and make it the working directory.
    The old one is moved aside and removed (it lies in `root`, which Landlock lets the run write)."""
    aside = os.path.join(root, f".old-{os.getpid()}")
    if os.path.lexists(directory):
        os.rename(directory, aside)
    os.mkdir(directory, 0o700)
    directories = []
    for path, kind, mode, atime, mtime, data in entries:
        full = os.path.join(directory, path)
        if kind == "d":
            os.mkdir(full, 0o700)
            directories.append((full, mode, atime, mtime))
        elif kind == "l":
            os.symlink(data, full)
            os.utime(full, ns=(atime, mtime), follow_symlinks=False)
        else:
            with open(full, "wb") as handle:
                handle.write(data)
            os.chmod(full, mode)
            os.utime(full, ns=(atime, mtime))
    for full, mode, atime, mtime in reversed(directories):
        os.chmod(full, mode)
        os.utime(full, ns=(atime, mtime))
    os.chdir(directory)
    if os.path.lexists(aside):
        _remove_tree(aside)




__all__ = ["ACTIVE", "CHECKPOINT_EVENT", "DIVERGED_EVENT", "Checkpointer", "prepare", "receive_registry",
           "restore_directory", "send_registry", "snapshot_directory"]

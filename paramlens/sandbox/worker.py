"""The warm worker process: `python -I -m paramlens.sandbox.worker FD [--warm-meta]`.

It imports torch once (single-threaded, and it never runs a parallel op itself: forking a process whose OpenMP
pool ran hangs the child's next matmul), optionally warms up the meta device, then forks one fresh child per run.
The child isolates itself (isolation.py) and writes its events straight into pipes the analysing process passed
along with the request; the worker only forks, reports the child's pid, kills it when asked, reaps it and reports
how it ended. Because the worker reaps the child only after it exited, a kill it sends can never hit a recycled
pid.

The worker is started with a scrubbed environment, is not dumpable (a child can neither ptrace it nor read its
memory), and exits when the analysing process goes away (end of stream on the channel).
"""

from __future__ import annotations

import gc
import os
import select
import signal
import socket
import sys
import tempfile
from typing import Any

from paramlens.sandbox.cleanup import remove_tree as _remove_tree
from paramlens.sandbox.channel import Channel, ChannelClosed, ProtocolError
from paramlens.sandbox.isolation import make_non_dumpable


IDLE_BEFORE_WARMING_SECONDS = 1.0  # the training imports wait until no request came for this long


class Worker:
    def __init__(self, channel: Channel, warm_meta: bool) -> None:
        self.channel = channel
        self.meta_warm = False
        self.training_warm = False
        self.warm_when_idle = False  # the first run is over: import the training modules at the next idle moment
        self.workdir = os.getcwd()
        self.lineages: Any = None  # checkpoints of incremental analysis (lineages.py), made on first use
        # messages that arrived while a run went (the analysing process may send `drop` as soon as it has read a
        # run's results, before the worker has reaped it): handled, in order, once the run ended
        self.deferred: list[tuple[dict[str, Any], list[int]]] = []
        if warm_meta:
            self.warm_meta()

    def warm_meta(self) -> None:
        import gc

        from paramlens.sandbox.guards import warm_meta_device

        warm_meta_device()
        self.meta_warm = True
        gc.freeze()

    def warm_training(self) -> None:
        from paramlens.sandbox.guards import warm_training_imports

        try:
            warm_training_imports()
        except Exception:  # noqa: BLE001 - a torch without these optimizers: children import what they need
            pass
        self.training_warm = True
        gc.freeze()

    def serve(self) -> int:
        while True:
            if self.deferred:
                message, fds = self.deferred.pop(0)
            else:
                idle = IDLE_BEFORE_WARMING_SECONDS if self.warm_when_idle else None
                if self.lineages is not None and self.lineages.by_id:
                    waiting = self._lineage_events(idle)
                    if waiting is None:
                        self._warm_training_now()
                    if not waiting:
                        continue
                try:
                    received = self.channel.receive(timeout=idle)
                except (ChannelClosed, ProtocolError, OSError):
                    return 0
                if received is None:
                    if self.warm_when_idle:
                        self._warm_training_now()
                    continue
                message, fds = received
            kind = message.get("t")
            if kind == "run" and len(fds) == 2 and isinstance(message.get("request"), dict):
                if not self.run(message["request"], fds[0], fds[1]):
                    return 0
            elif kind in ("resume", "drop", "drop_lineage"):
                if not self.checkpoints(message, fds):
                    return 0
            elif kind == "warm_meta":
                _close_all(fds)
                if not self.meta_warm:
                    self.warm_meta()
                self.channel.send({"t": "warm", "meta": True})
            else:
                _close_all(fds)
                if kind == "exit":
                    return 0

    def run(self, request: dict[str, Any], result_fd: int, stderr_fd: int) -> bool:
        """Fork, wait, reap. Returns False when the analysing process went away (the worker then exits)."""
        if request.get("device") == "meta" and not self.meta_warm:
            self.warm_meta()  # once per worker; later meta runs start warm
        lineage = self._lineage(request)
        run_dir = tempfile.mkdtemp(prefix="run-", dir=self.workdir) if lineage is None else lineage.work
        worker_pid = os.getpid()
        pid = os.fork()
        if pid == 0:
            from paramlens.sandbox.child import run_forked

            run_forked(request, result_fd, stderr_fd, run_dir, worker_pid,  # never returns
                       None if lineage is None else {"registry_fd": lineage.theirs, "root": lineage.root})
        _close_all([result_fd, stderr_fd])
        if lineage is not None:
            self.lineages.started(lineage)
        connected = True
        try:
            self.channel.send({"t": "forked", "pid": pid, "dir": run_dir if lineage is None else lineage.root})
            returncode, connected = self._wait(pid, group=lineage is None)
            if connected:
                self.channel.send({"t": "exit", "returncode": returncode})
                # after the first run (which paid these imports itself, if it trains), so that the first analysis
                # of a session is not delayed and later children start warm; and only once no request came for a
                # moment, so that an edit made right after the file opened is not held up by them (~1.2 s)
                self.warm_when_idle = not self.training_warm
        except OSError:
            _kill(pid, group=lineage is None)
            self._reap_run(pid)
            connected = False
        finally:
            if lineage is None:
                _remove_tree(run_dir)
        return connected

    def _wait(self, pid: int, group: bool = True) -> tuple[int, bool]:
        try:
            pidfd: int | None = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pidfd = None  # old kernel: poll instead
        try:
            while True:
                status = self._status(pid)
                if status is not None:
                    return os.waitstatus_to_exitcode(status), True
                if self.lineages is not None and self.lineages.by_id and pidfd is not None and \
                        not self.channel.has_message():
                    # a run with checkpoints: its parked copies register while it goes
                    ready, _, _ = select.select([self.channel, pidfd] + self.lineages.fds(), [], [])
                    self.lineages.handle(ready)
                    if self.channel not in ready:
                        continue
                try:
                    received = self.channel.receive(timeout=None if pidfd is not None else 0.01, wake_fd=pidfd)
                except (ChannelClosed, ProtocolError):
                    _kill(pid, group)
                    self._reap_run(pid)
                    return -signal.SIGKILL, False
                if received is not None:
                    message, fds = received
                    if message.get("t") == "kill":
                        _close_all(fds)
                        _kill(pid, group)
                    else:
                        self.deferred.append((message, fds))
        finally:
            if pidfd is not None:
                os.close(pidfd)

    def _status(self, pid: int) -> int | None:
        if self.lineages is not None:
            return self.lineages.wait_status(pid)
        done, status = os.waitpid(pid, os.WNOHANG)
        return status if done else None

    def _reap_run(self, pid: int) -> None:
        if self.lineages is not None and self.lineages.wait_status(pid) is not None:
            return
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            if self.lineages is not None:
                self.lineages.reaped.pop(pid, None)

    # -- checkpoints (incremental analysis: checkpoint.py, lineages.py) ------------------------------------------
    def _lineage(self, request: dict[str, Any]) -> Any:
        policy = request.get("checkpoints")
        if not isinstance(policy, dict) or not isinstance(policy.get("lineage"), str):
            return None
        if self.lineages is None:
            from paramlens.sandbox.lineages import Lineages

            self.lineages = Lineages(self.workdir, self.channel.send)
        return self.lineages.ensure(policy["lineage"])

    def _lineage_events(self, timeout: float | None = None) -> bool | None:
        """Wait for the analysing process or a lineage; True when the analysing process has a message, None when
        nothing happened for `timeout` seconds."""
        if self.channel.has_message():
            return True
        ready, _, _ = select.select([self.channel] + self.lineages.fds(), [], [], timeout)
        if not ready:
            return None
        self.lineages.handle(ready)
        return self.channel in ready

    def _warm_training_now(self) -> None:
        self.warm_when_idle = False
        if not self.training_warm:
            self.warm_training()

    def checkpoints(self, message: dict[str, Any], fds: list[int]) -> bool:
        """`resume` (run the rest of a file from a parked checkpoint), `drop` (checkpoints), `drop_lineage`."""
        from paramlens.sandbox import lineages as parking

        kind = message.get("t")
        if self.lineages is None:
            self.lineages = parking.Lineages(self.workdir, self.channel.send)
        if kind == "drop":
            _close_all(fds)
            self.lineages.drop([str(cid) for cid in message.get("cids", [])])
            return True
        if kind == "drop_lineage":
            _close_all(fds)
            self.lineages.drop_lineage(str(message.get("lineage")))
            return True
        if len(fds) != 2 or not isinstance(message.get("request"), dict):
            _close_all(fds)
            return True
        started = parking.resume(self.channel, self.lineages, str(message.get("cid")), message["request"], fds,
                                 self.channel.send)
        if started is None:
            return True
        lineage, parked, pid, pidfd = started
        self.channel.send({"t": "forked", "pid": pid, "dir": lineage.root})
        returncode, connected = parking.wait_resumed(self.channel, self.lineages, parked, pidfd,
                                                     lambda message, fds: self.deferred.append((message, fds)))
        if connected:
            self.channel.send({"t": "exit", "returncode": returncode})
        return connected


def _kill(pid: int, group: bool = True) -> None:
    """The child is a session leader (its group id is its pid); it is not reaped yet, so the pid is still its.
    A run with checkpoints shares its group with its parked copies: only the run itself is killed."""
    for kill in (os.killpg, os.kill) if group else (os.kill,):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass




def preload(names: list[str], block: str, root: str) -> dict[str, Any]:
    """Import installed modules once, before any fork, so that every run of a file that imports them starts
    with them imported (transformers' `modeling_utils` takes seconds): `python -m` would import the same modules
    in the same way. Only modules of packages installed in this interpreter (its site-packages) are imported here,
    outside the sandbox, like torch itself; never a file of the workspace, and never `block`, the file being
    analysed (its package may import it: then the preload fails and is not used), and the file's own package only
    when it is the installed one (`root`, not a clone next to it). Returns what was imported and
    the files to watch (a changed file makes the analysing process replace this worker), or why it failed."""
    import importlib
    import importlib.util
    import threading

    from paramlens.sandbox.isolation import interpreter_paths

    roots = tuple(p.rstrip("/") + "/" for p in interpreter_paths() if "-packages" in p)

    class Blocked:
        def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
            if fullname == block:
                raise ImportError(f"{block} is the file being analysed; it is never preloaded")
            return None

    for name in names:
        try:
            spec = importlib.util.find_spec(name.split(".")[0])
        except (ImportError, ValueError):
            spec = None
        origin = getattr(spec, "origin", None) or ""
        if not origin or not os.path.realpath(origin).startswith(roots):
            return {"failed": f"{name.split('.')[0]} is not installed in the interpreter's site-packages"}
        if name.split(".")[0] == block.split(".")[0] and \
                os.path.realpath(os.path.dirname(os.path.dirname(origin))) != os.path.realpath(root):
            return {"failed": f"the file's package is not the one installed in {os.path.dirname(origin)}"}
    before = set(sys.modules)
    blocker = Blocked()
    sys.meta_path.insert(0, blocker)
    try:
        for name in names:
            importlib.import_module(name)
    except BaseException as error:  # noqa: BLE001 - this worker is then not used
        return {"failed": f"{type(error).__name__}: {error}"[:500]}
    finally:
        sys.meta_path.remove(blocker)
    if block in sys.modules:
        return {"failed": f"{block} was imported"}
    if threading.active_count() > 1:
        return {"failed": "importing them started threads (forking would not be safe)"}
    files: dict[str, float] = {}
    for name in set(sys.modules) - before:
        path = getattr(sys.modules[name], "__file__", None)
        if path:
            try:
                files[path] = os.stat(path).st_mtime
            except OSError:
                pass
    return {"preloaded": names, "files": files}


def main(argv: list[str]) -> int:
    fd = int(argv[1])
    make_non_dumpable()
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the analysing process, which closes us
    import torch

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    # everything the forked child needs, imported before it closes the file system
    import paramlens.sandbox.checkpoint  # noqa: F401
    import paramlens.sandbox.child  # noqa: F401
    import paramlens.sandbox.examples  # noqa: F401
    import paramlens.sandbox.gradients  # noqa: F401
    import paramlens.sandbox.guards  # noqa: F401
    import paramlens.sandbox.landlock  # noqa: F401
    import paramlens.sandbox.loops  # noqa: F401
    import paramlens.sandbox.probes  # noqa: F401
    import paramlens.sandbox.runtime  # noqa: F401
    import paramlens.sandbox.seccomp  # noqa: F401
    import paramlens.sandbox.summaries  # noqa: F401
    import paramlens.sandbox.symmetry  # noqa: F401

    from paramlens.sandbox.isolation import interpreter_paths

    interpreter_paths()  # cached for every child
    channel = Channel(socket.socket(fileno=fd))
    preloaded: dict[str, Any] = {}
    if "--preload" in argv:
        preloaded = preload(argv[argv.index("--preload") + 1].split(","), argv[argv.index("--block") + 1],
                            argv[argv.index("--root") + 1])
        if preloaded.get("failed"):
            channel.send({"t": "ready", "pid": os.getpid(), "torch": torch.__version__, **preloaded})
            return 0
    worker = Worker(channel, warm_meta="--warm-meta" in argv)
    # Objects that exist now are never collected: the children's garbage collector then does not touch (and
    # copy) the pages holding torch's millions of objects after each fork.
    gc.freeze()
    channel.send({"t": "ready", "pid": os.getpid(), "torch": torch.__version__,
                  "python": sys.version.split()[0], "meta_warm": worker.meta_warm, **preloaded})
    return worker.serve()


if __name__ == "__main__":
    code = main(sys.argv)
    os._exit(code)

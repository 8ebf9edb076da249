"""The worker's side of checkpoints (checkpoint.py): lineages and the parked processes they hold.

A *lineage* is one document's chain of runs: a fresh run with checkpoints starts one, and every run resumed from
one of its checkpoints belongs to it. Each lineage has a directory (`root`, the only place its processes may
write; the private directory is `root/work`) and a registry socket (SOCK_SEQPACKET) through which a process of the
lineage that parked at a checkpoint hands the worker its own channel and a pidfd of itself. Lineages never share a
checkpoint, a directory or a registry, so nothing of one document reaches another's runs.

The worker kills parked processes through their pidfds (never by a pid that may have been reused), drops them when
the analysing process says so, reports those that died (`lost`), and reaps every process that ends up its child:
it is a child subreaper, so a parked process whose run ended is reparented to it rather than to init.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import struct
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from paramlens.sandbox.cleanup import remove_tree
from paramlens.sandbox.channel import Channel, ChannelClosed, ProtocolError
from paramlens.sandbox.checkpoint import receive_registry

PR_SET_CHILD_SUBREAPER = 36
PARKED_PER_LINEAGE = 32   # more registrations than this are killed at once (the analysing process keeps fewer)
PARKED_IN_ALL = 64
FORK_REPLY_SECONDS = 30.0


@dataclass
class Parked:
    cid: str
    index: int
    lineage: str
    channel: Channel
    pidfd: int
    pid: int

    def kill(self) -> None:
        try:
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        except OSError:
            pass

    def close(self) -> None:
        try:
            self.channel.send({"t": "exit"})
        except OSError:
            pass
        self.kill()
        self.channel.close()
        try:
            os.close(self.pidfd)
        except OSError:
            pass


@dataclass
class Lineage:
    id: str
    root: str
    registry: socket.socket | None   # the worker's end (None once every process that could register ended)
    theirs: int | None               # the end the lineage's first run inherits (closed once it has)
    parked: dict[str, Parked] = field(default_factory=dict)

    @property
    def work(self) -> str:
        return os.path.join(self.root, "work")


class Lineages:
    def __init__(self, workdir: str, notify: Callable[[dict[str, Any]], None]) -> None:
        self.workdir = workdir
        self.notify = notify
        self.by_id: dict[str, Lineage] = {}
        self.reaped: dict[int, int] = {}  # pid -> exit status of children reaped while waiting for another
        try:
            from paramlens.sandbox.isolation import prctl

            prctl(PR_SET_CHILD_SUBREAPER, 1)
        except OSError:
            pass

    # -- lineages ------------------------------------------------------------------------------------------------
    def ensure(self, lineage_id: str) -> Lineage:
        lineage = self.by_id.get(lineage_id)
        if lineage is not None:
            return lineage
        root = tempfile.mkdtemp(prefix="lineage-", dir=self.workdir)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        os.set_inheritable(theirs.fileno(), True)
        lineage = Lineage(lineage_id, root, ours, theirs.detach())
        self.by_id[lineage_id] = lineage
        return lineage

    def started(self, lineage: Lineage) -> None:
        """Its first run has forked (and inherited the registry's other end): the worker's copy goes."""
        if lineage.theirs is not None:
            os.close(lineage.theirs)
            lineage.theirs = None

    def drop_lineage(self, lineage_id: str) -> None:
        lineage = self.by_id.pop(lineage_id, None)
        if lineage is None:
            return
        for parked in list(lineage.parked.values()):
            parked.close()
        if lineage.registry is not None:
            lineage.registry.close()
        if lineage.theirs is not None:
            os.close(lineage.theirs)
        self.reap()
        remove_tree(lineage.root)

    def drop(self, cids: list[str]) -> None:
        for lineage in self.by_id.values():
            for cid in cids:
                parked = lineage.parked.pop(cid, None)
                if parked is not None:
                    parked.close()
        self.reap()

    def close(self) -> None:
        for lineage_id in list(self.by_id):
            self.drop_lineage(lineage_id)

    def find(self, cid: str) -> tuple[Lineage, Parked] | None:
        for lineage in self.by_id.values():
            if cid in lineage.parked:
                return lineage, lineage.parked[cid]
        return None

    def count(self) -> int:
        return sum(len(lineage.parked) for lineage in self.by_id.values())

    # -- what to watch -----------------------------------------------------------------------------------------
    def fds(self, busy: Parked | None = None) -> list[Any]:
        """Registries and the channels of parked processes (not the one `busy` serving a resumed run)."""
        watched: list[Any] = []
        for lineage in self.by_id.values():
            if lineage.registry is not None:
                watched.append(lineage.registry)
            watched.extend(p.channel for p in lineage.parked.values() if p is not busy)
        return watched

    def handle(self, ready: list[Any], busy: Parked | None = None) -> None:
        for lineage in list(self.by_id.values()):
            if lineage.registry is not None and lineage.registry in ready:
                self._registration(lineage)
            for cid, parked in list(lineage.parked.items()):
                if parked is not busy and parked.channel in ready:
                    self._parked_spoke(lineage, parked)
        self.reap()

    def _registration(self, lineage: Lineage) -> None:
        registry = lineage.registry
        try:
            received = receive_registry(registry)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            received = None
        if received is None:
            # end of stream: every process of the lineage (its runs, its parked copies) ended, none can register
            # again, and a socket at end of stream is readable forever: watching it made the worker spin
            if lineage.theirs is None:
                registry.close()
                lineage.registry = None
            return
        message, fds = received
        if message.get("t") != "parked" or len(fds) != 2 or not isinstance(message.get("cid"), str) or \
                not isinstance(message.get("index"), int):
            for fd in fds:
                os.close(fd)
            return
        channel_fd, pidfd = fds
        sock = socket.socket(fileno=channel_fd)
        pid = _peer_pid(sock)
        parked = Parked(message["cid"], message["index"], lineage.id, Channel(sock), pidfd, pid)
        if message["cid"] in lineage.parked or len(lineage.parked) >= PARKED_PER_LINEAGE or \
                self.count() >= PARKED_IN_ALL:
            parked.close()
            return
        lineage.parked[parked.cid] = parked
        self.notify({"t": "parked", "cid": parked.cid, "index": parked.index, "lineage": lineage.id, "pid": pid})

    def _parked_spoke(self, lineage: Lineage, parked: Parked) -> None:
        """A parked process says nothing unasked: end of stream (it died) or noise, after which it is dropped."""
        try:
            received = parked.channel.receive(timeout=0)
        except (ChannelClosed, ProtocolError, OSError):
            received = None
        else:
            if received is not None:
                for fd in received[1]:
                    os.close(fd)
        lineage.parked.pop(parked.cid, None)
        parked.close()
        self.notify({"t": "lost", "cid": parked.cid, "lineage": lineage.id})

    # -- children ----------------------------------------------------------------------------------------------
    def reap(self) -> None:
        """Collect every child that ended (parked processes reparented to the worker among them)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.reaped[pid] = status
            if len(self.reaped) > 1000:
                self.reaped.pop(next(iter(self.reaped)))

    def wait_status(self, pid: int) -> int | None:
        """The exit status of child `pid`, reaped here or now; None while it runs."""
        if pid in self.reaped:
            return self.reaped.pop(pid)
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return self.reaped.pop(pid, None)
        return status if done else None


def _peer_pid(sock: socket.socket) -> int:
    try:
        data = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        return struct.unpack("3i", data)[0]
    except OSError:
        return 0


def resume(channel: Channel, lineages: Lineages, cid: str, request: dict[str, Any], fds: list[int],
           send_to_caller: Callable[[dict[str, Any]], None]) -> tuple[Lineage, Parked, int, int] | None:
    """Ask the parked process `cid` to fork a resumed run with `request`; returns (lineage, parked, pid, pidfd)."""
    found = lineages.find(cid)
    if found is None:
        _close(fds)
        send_to_caller({"t": "missing", "cid": cid})
        return None
    lineage, parked = found
    try:
        parked.channel.send({"t": "resume", "request": request}, fds=fds)
    except OSError:
        _close(fds)
        lineage.parked.pop(cid, None)
        parked.close()
        send_to_caller({"t": "missing", "cid": cid})
        return None
    _close(fds)
    deadline = time.monotonic() + FORK_REPLY_SECONDS
    while True:
        try:
            received = parked.channel.receive(timeout=max(0.0, deadline - time.monotonic()))
        except (ChannelClosed, ProtocolError, OSError):
            received = None
        if received is None or received[0].get("t") != "forked" or len(received[1]) != 1:
            if received is not None:
                _close(received[1])
            lineage.parked.pop(cid, None)
            parked.close()
            send_to_caller({"t": "missing", "cid": cid})
            return None
        pid = int(received[0].get("pid", 0))
        return lineage, parked, pid, received[1][0]


def wait_resumed(channel: Channel, lineages: Lineages, parked: Parked, pidfd: int,
                 defer: Callable[[dict[str, Any], list[int]], None]) -> tuple[int, bool]:
    """While a resumed run goes: kill it when asked (through its pidfd), keep serving registrations, hand every
    other message of the analysing process to `defer` (a `drop` sent as the run ends is done after it), and return
    (its exit code as its parked parent reported it, whether the analysing process is still there)."""
    try:
        while True:
            watched = [channel, parked.channel] + lineages.fds(busy=parked)
            ready = [c for c in (channel, parked.channel) if c.has_message()] or \
                select.select(watched, [], [])[0]
            if channel in ready:
                try:
                    received = channel.receive(timeout=0)
                except (ChannelClosed, ProtocolError, OSError):
                    _kill_pidfd(pidfd)
                    return -signal.SIGKILL, False
                if received is not None:
                    message, fds = received
                    if message.get("t") == "kill":
                        _close(fds)
                        _kill_pidfd(pidfd)
                    else:
                        defer(message, fds)
            if parked.channel in ready:
                try:
                    received = parked.channel.receive(timeout=0)
                except (ChannelClosed, ProtocolError, OSError):
                    _kill_pidfd(pidfd)
                    lineage = lineages.by_id.get(parked.lineage)
                    if lineage is not None:
                        lineage.parked.pop(parked.cid, None)
                    parked.close()
                    lineages.notify({"t": "lost", "cid": parked.cid, "lineage": parked.lineage})
                    return -signal.SIGKILL, True
                if received is not None:
                    message, fds = received
                    _close(fds)
                    if message.get("t") == "exit":
                        return int(message.get("returncode", -1)), True
            lineages.handle(ready, busy=parked)
    finally:
        os.close(pidfd)


def _kill_pidfd(pidfd: int) -> None:
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except OSError:
        pass


def _close(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass



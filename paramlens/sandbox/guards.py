"""Helpers that run inside the sandboxed child around the user's code: naming what the sandbox blocked, the
parameter budget of the `auto` device policy, and initialisers that tolerate the meta device.

None of this is a security layer (an audit hook can be bypassed with ctypes; the layers are in isolation.py):
it only turns what the layers did into clear reports.
"""

from __future__ import annotations

import errno
import socket
import sys
import weakref
from typing import Any

# audit event -> what kind of operation it is (see the PEP 578 audit events table)
_EVENT_KINDS = {
    "socket.__new__": "network", "socket.connect": "network", "socket.bind": "network",
    "socket.getaddrinfo": "network", "socket.gethostbyname": "network", "socket.sendto": "network",
    "subprocess.Popen": "process", "os.system": "process", "os.exec": "process", "os.posix_spawn": "process",
    "os.fork": "process", "os.forkpty": "process", "os.spawn": "process", "pty.spawn": "process",
    "os.kill": "signal", "os.killpg": "signal", "signal.pthread_kill": "signal",
    "open": "file", "os.mkdir": "file-write", "os.remove": "file-write", "os.rename": "file-write",
    "os.rmdir": "file-write", "os.symlink": "file-write", "os.link": "file-write", "os.chmod": "file-write",
    "os.truncate": "file-write", "os.listdir": "file-read", "os.scandir": "file-read",
    "shutil.rmtree": "file-write", "shutil.copyfile": "file-write",
}
_WRITE_FLAGS = 0o1 | 0o2 | 0o100 | 0o1000 | 0o2000  # O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND


class BlockedOperations:
    """Remembers the last sensitive operation the user's code attempted (through a PEP 578 audit hook), so that
    a PermissionError can be reported as "the sandbox blocked connecting to ('1.2.3.4', 80)" rather than a bare
    "Operation not permitted"."""

    def __init__(self) -> None:
        self.last: dict[str, str] | None = None
        self.enabled = False

    def install(self) -> None:
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple) -> None:
        if not self.enabled:
            return
        kind = _EVENT_KINDS.get(event)
        if kind is None:
            return
        try:
            if event == "open":
                path, mode, flags = (tuple(args) + (None, None, None))[:3]
                writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                    (isinstance(flags, int) and flags & _WRITE_FLAGS)
                kind = "file-write" if writes else "file-read"
                target = str(path)
            else:
                target = ", ".join(repr(a) for a in args[:3]) if event != "socket.__new__" else ""
            self.last = {"kind": kind, "operation": event, "target": target[:300]}
        except Exception:  # noqa: BLE001 - a diagnostic aid must never break the user's code
            pass

    def explain(self, error: BaseException) -> dict[str, str] | None:
        """What was blocked, when `error` (or an exception it was raised from) is the sandbox saying no."""
        seen: set[int] = set()
        current: BaseException | None = error
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            if isinstance(current, socket.gaierror) and self.last and self.last["kind"] == "network":
                return dict(self.last)
            if isinstance(current, OSError) and current.errno in (errno.EPERM, errno.EACCES):
                blocked = dict(self.last) if self.last else {"kind": "other", "operation": "", "target": ""}
                blocked["errno"] = errno.errorcode.get(current.errno, str(current.errno))
                return blocked
            current = current.__cause__ or current.__context__
        return None


class ParameterBudgetExceeded(BaseException):
    """Raised (as a BaseException, so `except Exception` in user code does not swallow it) when the live
    parameters built on the CPU exceed the budget: the run is redone on the meta device."""


class ParameterBudget:
    """Counts the elements of the parameters alive on real devices, as they are created. Wrapping
    `Parameter.__new__` sees every parameter (modules, deep copies, user-made ones) at the moment it exists,
    so a 7B-parameter definition is stopped after about one budget of memory instead of after 27 GB."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.live = 0
        self.peak = 0
        self.exceeded = False

    def install(self) -> None:
        from torch import nn

        original = nn.Parameter.__new__
        budget = self

        def guarded_new(cls: type, data: Any = None, requires_grad: bool = True) -> Any:
            parameter = original(cls, data, requires_grad)
            budget._count(parameter)
            return parameter

        nn.Parameter.__new__ = staticmethod(guarded_new)  # type: ignore[method-assign]

    def _count(self, parameter: Any) -> None:
        try:
            if parameter.device.type == "meta":
                return
            size = int(parameter.numel())
        except Exception:  # noqa: BLE001 - lazy parameters have no size yet
            return
        self.live += size
        self.peak = max(self.peak, self.live)
        weakref.finalize(parameter, self._release, size)
        if self.live > self.limit:
            self.exceeded = True
            raise ParameterBudgetExceeded(f"{self.live:,} parameters exceed the budget of {self.limit:,}")

    def _release(self, size: int) -> None:
        self.live -= size


def make_inits_meta_tolerant() -> None:
    """On the meta device some initialisers raise (e.g. `trunc_normal_` or `orthogonal_` on older torch):
    there are no values to initialise anyway, so such a call leaves the tensor as it is instead of breaking the
    construction of the whole model."""
    import torch
    from torch.nn import init

    def tolerant(function: Any) -> Any:
        def call(tensor: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return function(tensor, *args, **kwargs)
            except Exception:
                if isinstance(tensor, torch.Tensor) and tensor.device.type == "meta":
                    return tensor
                raise

        call.__wrapped__ = function  # type: ignore[attr-defined]
        call.__name__ = function.__name__
        call.__doc__ = function.__doc__
        return call

    for name in dir(init):
        value = getattr(init, name)
        if name.endswith("_") and not name.startswith("_") and callable(value):
            setattr(init, name, tolerant(value))


def warm_meta_device() -> None:
    """The first meta-device initialiser imports torch._dynamo (about 1-2.5 s); do it once in the worker so
    that forked children do not pay it."""
    import torch
    from torch import nn

    with torch.device("meta"):
        nn.Embedding(2, 2)
        nn.Linear(2, 2)
        nn.LayerNorm(2)

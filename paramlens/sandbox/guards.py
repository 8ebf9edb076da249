"""Helpers that run inside the sandboxed child around the user's code: naming what the sandbox blocked, the
parameter budget of the `auto` device policy, and initialisers that tolerate the meta device.

None of this is a security layer (an audit hook can be bypassed with ctypes; the layers are in isolation.py):
it only turns what the layers did into clear reports.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import weakref
from typing import Any, Callable

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
    "shutil.rmtree": "file-write", "shutil.copyfile": "file-write", "builtins.input": "input",
}
_WRITE_FLAGS = 0o1 | 0o2 | 0o100 | 0o1000 | 0o2000  # O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND


# kinds of operation the sandbox refuses every time it is attempted (seccomp: no sockets, no new processes), and
# reading from standard input (it is /dev/null: `input()` gets end-of-file)
_ALWAYS_REFUSED = frozenset({"network", "process"})


def audit_hook(events: Any, active: Callable[[], bool], handle: Callable[[str, tuple], None]) -> Callable:
    """An audit hook that calls `handle` for the `events` it watches while `active()`: a plain function, because
    every audit event of the process (and `id()`, a frame's `f_code`, `compile` and `exec` each raise one: ~12,000
    in 220 statements of a model file) calls every hook, and a bound method as a hook costs ~600 ns a call where a
    function that returns at once costs ~150 ns (CPython 3.11, this machine)."""

    def hook(event: str, args: tuple) -> None:
        if event in events and active():
            handle(event, args)

    return hook


class BlockedOperations:
    """Remembers the last sensitive operation the user's code attempted (through a PEP 578 audit hook), so that
    a PermissionError can be reported as "the sandbox blocked connecting to ('1.2.3.4', 80)" rather than a bare
    "Operation not permitted". An operation the sandbox refuses whenever it is attempted (a socket, a new
    process) and `input()` (standard input is empty) are also reported at once through `on_refused`, with the
    line of the user's file that attempted it, even when the program catches the error and goes on: what the
    program did then differs from what it does outside the sandbox."""

    def __init__(self, path: str | None = None, on_refused: Callable[[dict[str, Any]], None] | None = None,
                 certain: bool = False, writable: str | None = None) -> None:
        self.last: dict[str, str] | None = None
        self.enabled = False
        self.path = path
        self.on_refused = on_refused
        self.certain = certain  # seccomp is in force: the always-refused kinds really are refused
        # Landlock is in force: a write anywhere but this directory (and devices) is refused, e.g. through the
        # links to the project's files that the private directory holds
        self.writable = os.path.realpath(writable) if writable else None
        self.reported: set[tuple[int | None, str]] = set()

    def install(self) -> None:
        sys.addaudithook(audit_hook(_EVENT_KINDS, lambda: self.enabled, self._hook))

    def _hook(self, event: str, args: tuple) -> None:
        """A watched event (audit_hook calls this only for _EVENT_KINDS, only while enabled)."""
        kind = _EVENT_KINDS[event]
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
            if kind == "input" or (self.certain and kind in _ALWAYS_REFUSED) or \
                    (kind == "file-write" and self._outside_writable(args[0] if args else None)):
                self._report(self.last)
        except Exception:  # noqa: BLE001 - a diagnostic aid must never break the user's code
            pass

    def _outside_writable(self, target: Any) -> bool:
        """Whether a write to `target` is certainly refused: Landlock grants writes only below the private
        directory (and to devices)."""
        if self.writable is None or not isinstance(target, (str, bytes, os.PathLike)):
            return False
        real = os.path.realpath(os.fsdecode(target))
        return not (real == self.writable or real.startswith(self.writable + os.sep) or real.startswith("/dev/"))

    def _report(self, attempt: dict[str, str]) -> None:
        if self.on_refused is None:
            return
        line = self._user_line()
        key = (line, attempt["kind"])
        if key in self.reported:
            return
        self.reported.add(key)
        self.on_refused({**attempt, "line": line})

    def _user_line(self) -> int | None:
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code.co_filename == self.path:
                return frame.f_lineno
            frame = frame.f_back
        return None

    def explain(self, error: BaseException) -> dict[str, str] | None:
        """What was blocked, when `error` (or an exception it was raised from) is the sandbox saying no."""
        seen: set[int] = set()
        current: BaseException | None = error
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            if isinstance(current, socket.gaierror) and self.last and self.last["kind"] == "network":
                return dict(self.last)
            if isinstance(current, EOFError) and self.last and self.last["kind"] == "input":
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

    def __init__(self, limit: int, count_only: bool = False) -> None:
        self.limit = limit
        self.live = 0
        self.peak = 0
        self.exceeded = False
        # count_only: on the meta device too, and never stop (a meta run that checks whether the model would now
        # fit the budget, see analysis._execute)
        self.count_only = count_only

    def install(self) -> None:
        on_parameter_created(self._count)

    def _count(self, parameter: Any) -> None:
        try:
            if parameter.device.type == "meta" and not self.count_only:
                return
            size = int(parameter.numel())
        except Exception:  # noqa: BLE001 - lazy parameters have no size yet
            return
        self.live += size
        self.peak = max(self.peak, self.live)
        weakref.finalize(parameter, self._release, size)
        if self.live > self.limit and not self.count_only:
            self.exceeded = True
            raise ParameterBudgetExceeded(f"{self.live:,} parameters exceed the budget of {self.limit:,}")

    def _release(self, size: int) -> None:
        self.live -= size


_PARAMETER_LISTENERS: list[Callable[[Any], None]] = []


def on_parameter_created(listener: Callable[[Any], None]) -> None:
    """Call `listener(parameter)` whenever an `nn.Parameter` is created (by a module, a deep copy or the user).
    One wrapper of `Parameter.__new__` serves every listener (the parameter budget, the loop budget); it returns
    the parameter torch made, so the program sees no difference. A listener may raise a BaseException to stop the
    statement (the budget does)."""
    from torch import nn

    if not _PARAMETER_LISTENERS:
        original = nn.Parameter.__new__

        def created(cls: type, data: Any = None, requires_grad: bool = True) -> Any:
            parameter = original(cls, data, requires_grad)
            for notify in list(_PARAMETER_LISTENERS):
                notify(parameter)
            return parameter

        nn.Parameter.__new__ = staticmethod(created)  # type: ignore[method-assign]
    _PARAMETER_LISTENERS.append(listener)


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


def warm_training_imports() -> None:
    """The first optimizer a process builds imports torch._dynamo and sympy (about 1.2 s here). Training scripts
    always build one; done once in the worker, every forked child starts with them imported. Building an
    optimizer runs no parallel op, so forking afterwards stays safe."""
    import torch
    from torch import nn

    parameter = nn.Parameter(torch.zeros(1))
    torch.optim.SGD([parameter], lr=0.1)
    torch.optim.Adam([parameter], lr=0.1)


META_VALUE_TAG = "__paramlens_meta_value__"
_VALUE_READS = ("item", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__", "__complex__")


def tag_meta_value_reads() -> None:
    """On the meta device tensors have shapes but no values, so reading a value (`loss.item()`, `if loss < 10:`)
    raises. Such a failure is the meta device's, not the program's: the exception is tagged (same type, same
    message, re-raised unchanged) so that the report can say so instead of calling the line an error."""
    import torch

    def tagging(name: str) -> Any:
        original = getattr(torch.Tensor, name)

        def read(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return original(self, *args, **kwargs)
            except Exception as error:
                if getattr(self, "device", None) is not None and self.device.type == "meta":
                    try:
                        setattr(error, META_VALUE_TAG, True)
                    except Exception:  # noqa: BLE001 - an exception type without a __dict__
                        pass
                raise

        read.__name__ = getattr(original, "__name__", name)
        read.__doc__ = getattr(original, "__doc__", None)
        return read

    for name in _VALUE_READS:
        if hasattr(torch.Tensor, name):
            setattr(torch.Tensor, name, tagging(name))


def reads_meta_value(error: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, META_VALUE_TAG, False):
            return True
        current = current.__cause__ or current.__context__
    return False


CONTAINER_INDEX_TAG = "__paramlens_container_index__"


def tag_container_index_errors() -> None:
    """`net[5]` on a container with 3 children raises IndexError with a message whose words change between torch
    versions ("index 5 is out of range"). The exception is tagged with the facts (the index, the container's class
    and length) and re-raised unchanged, so PL004 is decided from data."""
    from torch import nn

    def tagging(cls: type) -> None:
        original = cls.__getitem__

        def getitem(self: Any, index: Any) -> Any:
            try:
                return original(self, index)
            except IndexError as error:
                if isinstance(index, int):
                    try:
                        setattr(error, CONTAINER_INDEX_TAG, {"index": index, "size": len(self),
                                                             "class": type(self).__name__})
                    except Exception:  # noqa: BLE001
                        pass
                raise

        getitem.__wrapped__ = original  # type: ignore[attr-defined]
        getitem.__doc__ = original.__doc__
        cls.__getitem__ = getitem

    for container in (nn.Sequential, nn.ModuleList, nn.ParameterList):
        tagging(container)


def container_index(error: BaseException) -> dict[str, Any] | None:
    value = getattr(error, CONTAINER_INDEX_TAG, None)
    return dict(value) if isinstance(value, dict) else None

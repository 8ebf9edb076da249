"""Landlock through raw syscalls (ctypes), so that no package and no library is needed.

Why raw syscalls: the PyPI `landlock` package only handles file rules; the network rules (TCP bind/connect, ABI 4)
and the scopes (abstract unix sockets and signals to processes outside the sandbox, ABI 6) need the syscalls
directly. The three syscalls have the same numbers on every architecture (444, 445, 446).

A ruleset "handles" a set of access rights: everything handled is denied unless a rule grants it beneath a path.
Rights the running kernel does not know (older ABI) are left out, so one ruleset works on ABI 1 to 7.
Landlock restricts only the calling thread and its future children/threads; callers apply it while the process
is single-threaded (right after fork).
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass, field

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1 << 0
RULE_PATH_BENEATH = 1

# filesystem rights, by the ABI that introduced them
FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13       # ABI 2
FS_TRUNCATE = 1 << 14    # ABI 3
FS_IOCTL_DEV = 1 << 15   # ABI 5
NET_BIND_TCP = 1 << 0    # ABI 4
NET_CONNECT_TCP = 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1                # ABI 6

FS_ABI1 = (1 << 13) - 1
FILE_ONLY_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
READ_ONLY = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
DEVICE_RW = FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE | FS_IOCTL_DEV


class LandlockError(OSError):
    """The kernel refused a Landlock call (the message says which)."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # the kernel struct is __attribute__((packed)): 12 bytes
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(number: int, *args: object) -> int:
    result = _libc.syscall(ctypes.c_long(number), *args)
    if result < 0:
        errno = ctypes.get_errno()
        raise LandlockError(errno, os.strerror(errno))
    return result


def abi_version() -> int:
    """The kernel's Landlock ABI (0 when Landlock is missing, disabled at boot, or this is not Linux)."""
    try:
        return _syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    except (LandlockError, AttributeError):
        return 0


def fs_rights(abi: int) -> int:
    rights = FS_ABI1
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


@dataclass
class Ruleset:
    """What the sandboxed child may touch: read-only trees, read-write trees, device files read-write."""

    read_only: list[str] = field(default_factory=list)
    read_write: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    deny_tcp: bool = True
    scope: bool = True


def restrict_self(rules: Ruleset) -> list[str]:
    """Build the ruleset, add the rules, and enforce it on the calling thread. Returns the layer names now in force
    (for example `landlock-fs`, `landlock-net`, `landlock-scope`). Raises LandlockError when Landlock is missing.
    The caller must already have set PR_SET_NO_NEW_PRIVS (the kernel requires it without CAP_SYS_ADMIN)."""
    abi = abi_version()
    if abi < 1:
        raise LandlockError(38, "Landlock is not available in this kernel")
    handled = fs_rights(abi)
    attr = _RulesetAttr(handled_access_fs=handled)
    size = 8
    layers = [f"landlock-fs (ABI {abi})"]
    if abi >= 4 and rules.deny_tcp:
        attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP  # handled with no rule: every port denied
        size = 16
        layers.append("landlock-net")
    if abi >= 6 and rules.scope:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        size = 24
        layers.append("landlock-scope")
    ruleset_fd = _syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    try:
        for path in rules.read_only:
            _allow(ruleset_fd, path, READ_ONLY & handled)
        for path in rules.read_write:
            _allow(ruleset_fd, path, handled)
        for path in rules.devices:
            _allow(ruleset_fd, path, DEVICE_RW & handled)
        _syscall(SYS_RESTRICT_SELF, ctypes.c_int(ruleset_fd), ctypes.c_uint32(0))
    finally:
        os.close(ruleset_fd)
    return layers


def _allow(ruleset_fd: int, path: str, rights: int) -> None:
    """Grant `rights` beneath `path`; a missing path is skipped (not every system has /lib64)."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            rights &= FILE_ONLY_RIGHTS  # directory rights on a file are EINVAL
        attr = _PathBeneathAttr(allowed_access=rights, parent_fd=fd)
        _syscall(SYS_ADD_RULE, ctypes.c_int(ruleset_fd), ctypes.c_int(RULE_PATH_BENEATH), ctypes.byref(attr),
                 ctypes.c_uint32(0))
    finally:
        os.close(fd)

"""A seccomp BPF filter written by hand (ctypes + the `seccomp` syscall): no libseccomp needed.

Why by hand: `libseccomp.so.2` is not on every machine and the filter is small. Denied syscalls return an errno
(EPERM), never kill the process, so the user's Python sees an `OSError` at the statement that tried and the run
goes on; `clone3` returns ENOSYS so glibc falls back to `clone`, which is allowed only with CLONE_THREAD (threads
keep working, new processes do not). Signals may only go to the sandboxed process itself (torch's threads use
`tgkill` on their own process).

The filter is installed with SECCOMP_FILTER_FLAG_TSYNC so that threads started earlier (torch's) get it too.

A run with checkpoints (incremental analysis, paramlens/sandbox/checkpoint.py) installs the same rules as two
filters instead of one (`install_split`): the *fork* filter on every thread (everything above except the rule on
`clone`, plus EPERM for `setsid`/`setpgid` so that no process of the run leaves its process group), then, on the
thread that runs the user's code only, the *process* filter (`clone` only with CLONE_THREAD, signals only to the
process itself). Seccomp filters belong to threads and are inherited by the threads and processes a thread
creates, so the user's code and every thread it starts cannot fork, while ParamLens' checkpoint thread, started
between the two, can.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
from dataclasses import dataclass
from typing import Callable

# classic BPF opcodes
LD_W_ABS = 0x20
JEQ_K = 0x15
JGE_K = 0x35
JSET_K = 0x45
RET_K = 0x06

RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
RET_KILL_PROCESS = 0x80000000
OFFSET_NR, OFFSET_ARCH, OFFSET_ARG0_LOW = 0, 4, 16  # struct seccomp_data, little-endian
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
CLONE_THREAD = 0x00010000
X32_SYSCALL_BIT = 0x40000000
SECCOMP_FILTER_FLAG_NONE = 0


@dataclass(frozen=True)
class Arch:
    """Syscall numbers of one architecture (only those the filter names)."""

    audit: int
    seccomp: int
    denied: dict[str, int]
    clone: int
    clone3: int
    kill: int
    own_process_signals: tuple[int, ...]  # tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo: arg0 is the target tgid
    process_groups: tuple[int, ...] = ()  # setsid, setpgid: denied by the fork filter (see install_split)


_COMMON_LATE = {"pidfd_send_signal": 424, "pidfd_getfd": 438, "io_uring_setup": 425, "io_uring_enter": 426,
                "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
                "fsmount": 432, "fspick": 433, "mount_setattr": 442}

X86_64 = Arch(
    audit=0xC000003E, seccomp=317, clone=56, clone3=435, kill=62, own_process_signals=(234, 129, 297),
    process_groups=(112, 109),
    denied={"socket": 41, "connect": 42, "accept": 43, "bind": 49, "listen": 50, "accept4": 288,
            "execve": 59, "execveat": 322, "fork": 57, "vfork": 58, "ptrace": 101, "unshare": 272, "setns": 308,
            "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "bpf": 321, "tkill": 200,
            "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "perf_event_open": 298,
            "userfaultfd": 323, "keyctl": 250, "add_key": 248, "request_key": 249, "swapon": 167, "swapoff": 168,
            "reboot": 169, "init_module": 175, "finit_module": 313, "delete_module": 176, "kexec_load": 246,
            "kexec_file_load": 320, "acct": 163, "name_to_handle_at": 303, "open_by_handle_at": 304,
            **_COMMON_LATE})

AARCH64 = Arch(
    audit=0xC00000B7, seccomp=277, clone=220, clone3=435, kill=129, own_process_signals=(131, 138, 240),
    process_groups=(157, 154),
    denied={"socket": 198, "bind": 200, "listen": 201, "accept": 202, "connect": 203, "accept4": 242,
            "execve": 221, "execveat": 281, "ptrace": 117, "unshare": 97, "setns": 268, "mount": 40,
            "umount2": 39, "pivot_root": 41, "chroot": 51, "bpf": 280, "tkill": 130, "process_vm_readv": 270,
            "process_vm_writev": 271, "kcmp": 272, "perf_event_open": 241, "userfaultfd": 282, "keyctl": 219,
            "add_key": 217, "request_key": 218, "swapon": 224, "swapoff": 225, "reboot": 142,
            "init_module": 105, "finit_module": 273, "delete_module": 106, "kexec_load": 104,
            "kexec_file_load": 294, "acct": 89, "name_to_handle_at": 264, "open_by_handle_at": 265,
            **_COMMON_LATE})

ARCHES = {"x86_64": X86_64, "aarch64": AARCH64}


class SeccompError(OSError):
    """The filter could not be installed (the message says why)."""


def current_arch() -> Arch | None:
    return ARCHES.get(platform.machine()) if os.name == "posix" and platform.system() == "Linux" else None


def kernel_supports_filters() -> bool:
    """True when this kernel was built with seccomp filters (the `Seccomp:` line in /proc/self/status)."""
    try:
        with open("/proc/self/status") as status:
            return any(line.startswith("Seccomp_filters:") or line.startswith("Seccomp:") for line in status)
    except OSError:
        return False


class _Program:
    """A tiny assembler: instructions with symbolic jump targets, resolved to 8-bit relative offsets."""

    def __init__(self) -> None:
        self.code: list[tuple[int, object, object, int]] = []
        self.labels: dict[str, int] = {}

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def op(self, code: int, k: int, true: object = 0, false: object = 0) -> None:
        self.code.append((code, true, false, k & 0xFFFFFFFF))

    def assemble(self) -> list[tuple[int, int, int, int]]:
        out = []
        for position, (code, true, false, k) in enumerate(self.code):
            jumps = []
            for target in (true, false):
                offset = self.labels[target] - position - 1 if isinstance(target, str) else int(target)
                if not 0 <= offset <= 255:
                    raise SeccompError(errno.E2BIG, f"BPF jump out of range ({offset})")
                jumps.append(offset)
            out.append((code, jumps[0], jumps[1], k))
        return out


FULL, FORK, PROCESS = "full", "fork", "process"  # the one filter of a run; the two of a checkpointed run


def build_filter(arch: Arch, own_pid: int, kind: str = FULL) -> list[tuple[int, int, int, int]]:
    """The filter program for `arch`; `own_pid` is the only process signals may be sent to. `kind`: FULL (every
    rule), or the two halves of a checkpointed run (see install_split): FORK (every rule but `clone` and the
    signal targets; process groups fixed) and PROCESS (only `clone` and the signal targets)."""
    eperm, enosys = RET_ERRNO | errno.EPERM, RET_ERRNO | errno.ENOSYS
    p = _Program()
    p.op(LD_W_ABS, OFFSET_ARCH)
    p.op(JEQ_K, arch.audit, 0, "kill")  # a syscall of another ABI (e.g. int 0x80 on x86_64): no way round
    p.op(LD_W_ABS, OFFSET_NR)
    if kind == FORK:
        if arch is X86_64:
            p.op(JGE_K, X32_SYSCALL_BIT, "eperm", 0)
        for number in sorted(set(arch.denied.values()) | set(arch.process_groups)):
            p.op(JEQ_K, number, "eperm", 0)
        p.op(JEQ_K, arch.clone3, "enosys", 0)
        p.op(RET_K, RET_ALLOW)
        p.label("eperm")
        p.op(RET_K, eperm)
        p.label("enosys")
        p.op(RET_K, enosys)
        p.label("kill")
        p.op(RET_K, RET_KILL_PROCESS)
        return p.assemble()
    if kind == FULL:
        if arch is X86_64:
            p.op(JGE_K, X32_SYSCALL_BIT, "eperm", 0)
        for number in sorted(set(arch.denied.values())):
            p.op(JEQ_K, number, "eperm", 0)
        p.op(JEQ_K, arch.clone3, "enosys", 0)
    p.op(JEQ_K, arch.clone, "clone", 0)
    p.op(JEQ_K, arch.kill, "kill_target", 0)
    for number in arch.own_process_signals:
        p.op(JEQ_K, number, "own_process", 0)
    p.op(RET_K, RET_ALLOW)
    p.label("clone")
    p.op(LD_W_ABS, OFFSET_ARG0_LOW)
    p.op(JSET_K, CLONE_THREAD, "allow", "eperm")
    p.label("kill_target")  # kill(pid): itself, its own process group (0 or -pid; it is a session leader)
    p.op(LD_W_ABS, OFFSET_ARG0_LOW)
    p.op(JEQ_K, own_pid, "allow", 0)
    p.op(JEQ_K, 0, "allow", 0)
    p.op(JEQ_K, -own_pid, "allow", "eperm")
    p.label("own_process")
    p.op(LD_W_ABS, OFFSET_ARG0_LOW)
    p.op(JEQ_K, own_pid, "allow", "eperm")
    p.label("allow")
    p.op(RET_K, RET_ALLOW)
    p.label("eperm")
    p.op(RET_K, eperm)
    p.label("enosys")
    p.op(RET_K, enosys)
    p.label("kill")
    p.op(RET_K, RET_KILL_PROCESS)
    return p.assemble()


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def install(own_pid: int | None = None) -> str:
    """Install the filter on every thread of this process. PR_SET_NO_NEW_PRIVS must already be set.
    Returns the layer name; raises SeccompError when this machine cannot."""
    _install(FULL, os.getpid() if own_pid is None else own_pid, SECCOMP_FILTER_FLAG_TSYNC)
    return "seccomp"


def install_fork_filter() -> None:
    """The first half of a checkpointed run's rules, on every thread (see the module's doc)."""
    _install(FORK, os.getpid(), SECCOMP_FILTER_FLAG_TSYNC)


def install_process_filter(own_pid: int | None = None) -> None:
    """The second half, on the calling thread only (and so on every thread and process it creates later): no new
    processes, signals only to this process."""
    _install(PROCESS, os.getpid() if own_pid is None else own_pid, SECCOMP_FILTER_FLAG_NONE)


def install_split(between: "Callable[[], None]") -> str:
    """Both halves, with `between()` called in between (it starts the checkpoint thread, which keeps the fork
    filter only). Returns the layer name."""
    install_fork_filter()
    between()
    install_process_filter()
    return "seccomp"


def _install(kind: str, own_pid: int, flags: int) -> None:
    arch = current_arch()
    if arch is None:
        raise SeccompError(errno.ENOSYS, f"no syscall table for {platform.machine()} on {platform.system()}")
    program = build_filter(arch, own_pid, kind)
    instructions = (_SockFilter * len(program))(*[_SockFilter(*i) for i in program])
    fprog = _SockFprog(len(program), instructions)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    result = libc.syscall(ctypes.c_long(arch.seccomp), ctypes.c_uint(SECCOMP_SET_MODE_FILTER),
                          ctypes.c_uint(flags), ctypes.byref(fprog))
    if result != 0:
        error = ctypes.get_errno() or errno.EINVAL
        raise SeccompError(error, f"seccomp filter refused: {os.strerror(error)}")

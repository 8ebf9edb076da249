"""The isolation layers applied inside the sandboxed child, in order, before any of the user's code runs.

Order matters: a new session (so the parent can kill the whole group), death with the parent, only the result
descriptors left open, a private working directory, resource limits, no new privileges (required by Landlock and
seccomp without root), Landlock (files, TCP, signal and abstract-socket scopes), and last the seccomp filter
(installed last because it forbids nothing the earlier steps need, and so that the earlier steps still may).

Both executors call `apply()` with the same plan, so the CLI's one-shot child and the warm worker's forked child
are isolated the same way. Each layer reports itself by name; a layer that cannot be applied is reported as
missing with the reason, and when the plan says a layer is required the run is refused instead (see child.py).
`probe()` says which layers this machine supports without applying anything (for `paramlens doctor` and for
choosing an executor).
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import sys
import sysconfig
from dataclasses import dataclass, field
from typing import Any

from paramlens import options as opt
from paramlens.sandbox.packages import package_of

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38

SYSTEM_READ_ONLY = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/ld.so.cache", "/etc/localtime",
                    "/sys/devices/system/cpu", "/proc/cpuinfo", "/proc/meminfo"]
DEVICES = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"]
REQUIRED_FOR_WORKER = ("landlock", "seccomp")


@dataclass
class Plan:
    """What `apply` needs; built by the child from the request (it is JSON-safe)."""

    private_dir: str
    workspace: str | None           # the user's file (its directory is readable, see `readable_workspace`)
    keep_fds: list[int]             # descriptors that stay open (stdin/stdout/stderr and the result channel)
    memory_mb: int = opt.MEMORY.default
    cpu_seconds: int = opt.cpu_seconds(opt.TIMEOUT.default)
    file_size_mb: int = 64
    open_files: int = 256
    parent_pid: int | None = None   # die at once if this process is already gone
    required: list[str] = field(default_factory=list)  # "landlock" / "seccomp": refuse to run without them
    # a run with checkpoints (incremental analysis, checkpoint.py): the directory Landlock makes writable, which
    # holds the private directory (a resumed run recreates the private directory inside it), and the function
    # that starts the checkpoint thread between the two halves of the seccomp filter (seccomp.install_split)
    writable_root: str | None = None
    between_filters: Any = field(default=None, repr=False)


class IsolationRefused(RuntimeError):
    """A required layer could not be applied: the user's code must not run."""


_libc = ctypes.CDLL(None, use_errno=True) if os.name == "posix" else None


def prctl(option: int, value: int) -> None:
    if _libc is None:
        raise OSError(38, "prctl is Linux-only")
    if _libc.prctl(ctypes.c_int(option), ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0),
                   ctypes.c_ulong(0)) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


def make_non_dumpable() -> bool:
    """PR_SET_DUMPABLE 0: a child can neither PTRACE_ATTACH to this process nor read its /proc memory."""
    try:
        prctl(PR_SET_DUMPABLE, 0)
        return True
    except OSError:
        return False


@functools.lru_cache(maxsize=1)
def interpreter_paths() -> tuple[str, ...]:
    """The interpreter, its standard library and every site-packages the child may import from, plus the
    `paramlens` package itself (not the directory holding it, which may be a whole source checkout). Cached:
    the worker computes it once before forking (sysconfig costs a few milliseconds)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            paths.add(sysconfig.get_path(key))
        except KeyError:
            pass
    paths.update(p for p in sys.path if p and ("site-packages" in p or "dist-packages" in p))
    import paramlens

    paths.add(os.path.dirname(os.path.abspath(paramlens.__file__)))
    return tuple(sorted(p for p in paths if p and not _too_broad(p)))


def _too_broad(path: str) -> bool:
    """Granting these would make the home directory (secrets, keys) or all temporary files readable."""
    real = os.path.realpath(path)
    home = _real_home()
    broad = {"/", "/tmp", "/var/tmp", "/home", "/root", "/dev/shm"}
    if home:
        broad.add(home)
    return real in broad or (home is not None and home.startswith(real.rstrip("/") + "/"))


def _real_home() -> str | None:
    """The account's home from the password database: $HOME inside the sandbox is the private directory."""
    try:
        import pwd

        return os.path.realpath(pwd.getpwuid(os.getuid()).pw_dir)
    except (ImportError, KeyError, OSError):
        return None


def readable_workspace(file_path: str | None) -> list[str]:
    """The user's file's directory (its local modules are importable), or only the file itself when that
    directory is too broad to hand out (a file directly in $HOME or /tmp). For a file inside a package, the
    directory holding the top-level package as well (its relative imports resolve there; see packages.py)."""
    if not file_path:
        return []
    path = os.path.abspath(file_path)
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        return []
    package = package_of(path)
    if package is not None and not _too_broad(package.root):
        return [package.root]
    if _too_broad(directory):
        return [path] if os.path.exists(path) else []
    return [directory]


def apply(plan: Plan) -> list[str]:
    """Apply every layer in order; return the names of the layers in force. Raises IsolationRefused when a
    required layer is missing."""
    layers: list[str] = []
    missing: dict[str, str] = {}
    if os.name != "posix":
        missing["all"] = "not a POSIX system"
        _check_required(plan, layers, missing)
        return layers
    try:
        if os.getsid(0) != os.getpid():
            os.setsid()
        layers.append("session")
    except OSError as error:
        missing["session"] = str(error)
    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if plan.parent_pid is not None and os.getppid() != plan.parent_pid:
            os._exit(70)  # the parent died between fork and prctl
        layers.append("parent-death-signal")
    except OSError as error:
        missing["parent-death-signal"] = str(error)
    _close_other_descriptors(plan.keep_fds)
    layers.append("closed-descriptors")
    _enter_private_directory(plan.private_dir)
    link_workspace_entries(plan.private_dir, plan.workspace)
    layers.append("private-directory")
    layers.append(_set_limits(plan))
    try:
        prctl(PR_SET_NO_NEW_PRIVS, 1)
        layers.append("no-new-privileges")
    except OSError as error:
        missing["no-new-privileges"] = str(error)
    if "no-new-privileges" in layers:
        layers.extend(_landlock(plan, missing))
        layers.extend(_seccomp(missing, plan.between_filters))
    else:
        missing["landlock"] = missing["seccomp"] = "needs PR_SET_NO_NEW_PRIVS"
    _check_required(plan, layers, missing)
    return layers


def _check_required(plan: Plan, layers: list[str], missing: dict[str, str]) -> None:
    for name in plan.required:
        if not any(layer.startswith(name) for layer in layers):
            raise IsolationRefused(f"{name} could not be applied: {missing.get(name, 'unavailable')}")


def _close_other_descriptors(keep: list[int]) -> None:
    """Nothing the worker or the analysing process had open (sockets, files, the worker's control channel)
    survives into the user's code."""
    low = 0
    for fd in sorted(set(keep)) + [None]:
        high = 1 << 20 if fd is None else fd
        if high > low:
            os.closerange(low, high)
        if fd is not None:
            low = fd + 1


def _enter_private_directory(path: str) -> None:
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chdir(path)
    for key in ("HOME", "TMPDIR", "TMP", "TEMP"):
        os.environ[key] = path
    import tempfile

    tempfile.tempdir = path


WORKSPACE_LINKS_LIMIT = 5000  # entries of the file's directory linked into the private directory


def link_workspace_entries(private_dir: str, file_path: str | None) -> int:
    """`python train.py` runs in the script's directory, so `open("config.yaml")` and `np.memmap("data/train.bin")`
    find the project's files. The run's working directory is the private directory (writes must land there), so
    every entry of the file's directory appears in it as a symbolic link: relative reads resolve as they would,
    what the program creates lands in the private directory, and writing through a link into the project is
    refused by Landlock (read-only) like any other write outside. Nothing is linked when the file's directory is
    too broad to hand out ($HOME, /tmp). Returns how many entries were linked."""
    if not file_path:
        return 0
    directory = os.path.dirname(os.path.abspath(file_path))
    if not os.path.isdir(directory) or _too_broad(directory):
        return 0
    linked = 0
    try:
        names = sorted(os.listdir(directory))[:WORKSPACE_LINKS_LIMIT]
    except OSError:
        return 0
    for name in names:
        try:
            os.symlink(os.path.join(directory, name), os.path.join(private_dir, name))
            linked += 1
        except OSError:
            continue
    return linked


def _set_limits(plan: Plan) -> str:
    import resource

    def limit(kind: int, value: int) -> None:
        try:
            resource.setrlimit(kind, (value, value))
        except (ValueError, OSError):
            soft, hard = resource.getrlimit(kind)
            if hard != resource.RLIM_INFINITY and value > hard:
                resource.setrlimit(kind, (hard, hard))

    limit(resource.RLIMIT_CORE, 0)
    limit(resource.RLIMIT_FSIZE, plan.file_size_mb * 1024 * 1024)
    limit(resource.RLIMIT_NOFILE, plan.open_files)
    # soft limit: SIGXCPU (which Python code may ignore); one second later the hard limit's SIGKILL
    resource.setrlimit(resource.RLIMIT_CPU, (plan.cpu_seconds, plan.cpu_seconds + 1))
    limit_address_space(plan.memory_mb)
    return "resource-limits"


def limit_address_space(budget_mb: int) -> None:
    """RLIMIT_AS = what the process maps now (torch imported) + the budget. Set after importing torch: set
    before, it can break the import of a CUDA build."""
    import resource

    try:
        with open("/proc/self/status") as status:
            size_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    except (OSError, StopIteration):
        return
    limit = size_kb * 1024 + budget_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _landlock(plan: Plan, missing: dict[str, str]) -> list[str]:
    from paramlens.sandbox import landlock

    rules = landlock.Ruleset(
        read_only=SYSTEM_READ_ONLY + list(interpreter_paths()) + readable_workspace(plan.workspace) + ["/proc/self"],
        read_write=[plan.writable_root or plan.private_dir], devices=DEVICES)
    try:
        return landlock.restrict_self(rules)
    except (OSError, AttributeError) as error:
        missing["landlock"] = str(error)
        return []


def _seccomp(missing: dict[str, str], between: Any = None) -> list[str]:
    from paramlens.sandbox import seccomp

    try:
        return [seccomp.install_split(between) if between is not None else seccomp.install()]
    except (OSError, AttributeError) as error:
        missing["seccomp"] = str(error)
        return []


@dataclass
class LayerStatus:
    name: str
    active: bool
    detail: str


def probe() -> list[LayerStatus]:
    """Which layers this machine can apply, without applying any (cheap: no fork)."""
    linux = sys.platform.startswith("linux")
    if linux:
        from paramlens.sandbox import landlock, seccomp
    posix = os.name == "posix"
    result = [
        LayerStatus("scrubbed-environment", True, "the sandboxed process starts with PATH/LANG only"),
        LayerStatus("session", posix, "setsid: the whole process group is killed on timeout" if posix
                    else "no process groups on this system"),
        LayerStatus("parent-death-signal", linux, "PR_SET_PDEATHSIG SIGKILL" if linux else "Linux only"),
        LayerStatus("closed-descriptors", posix, "only the result channel stays open"),
        LayerStatus("private-directory", True, "a fresh temporary working directory per run"),
        LayerStatus("resource-limits", posix, "RLIMIT_AS, RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_NOFILE, RLIMIT_CORE=0"
                    if posix else "only the wall-clock timeout applies"),
        LayerStatus("no-new-privileges", linux, "PR_SET_NO_NEW_PRIVS" if linux else "Linux only"),
        LayerStatus("non-dumpable-worker", linux, "PR_SET_DUMPABLE 0 in the warm worker" if linux else "Linux only"),
    ]
    abi = landlock.abi_version() if linux else 0
    if abi >= 1:
        result.append(LayerStatus("landlock-fs", True, f"Landlock ABI {abi}: read-only system, interpreter and "
                                  "workspace; read-write only the private directory"))
    else:
        result.append(LayerStatus("landlock-fs", False, "Landlock is not available in this kernel (needs Linux "
                                  "5.13+ with landlock in the lsm= boot list)" if linux else "Linux only"))
    result.append(LayerStatus("landlock-net", abi >= 4, "TCP bind/connect denied" if abi >= 4 else
                              f"needs Landlock ABI 4 (this kernel: {abi}); seccomp still denies sockets"))
    result.append(LayerStatus("landlock-scope", abi >= 6, "signals and abstract unix sockets stay inside the "
                              "sandbox" if abi >= 6 else f"needs Landlock ABI 6 (this kernel: {abi}); seccomp "
                              "still limits signals"))
    arch = seccomp.current_arch() if linux else None
    if arch is None:
        result.append(LayerStatus("seccomp", False, "no syscall table for this architecture/system"))
    elif not seccomp.kernel_supports_filters():
        result.append(LayerStatus("seccomp", False, "this kernel has no seccomp filters"))
    else:
        result.append(LayerStatus("seccomp", True, "EPERM for sockets, exec, fork, ptrace, namespaces, mount, bpf, "
                                  "io_uring, signals to other processes; ENOSYS for clone3"))
    return result


def hardened_available(statuses: list[LayerStatus] | None = None) -> bool:
    """True when both Landlock and seccomp can be applied here (the warm worker's requirement)."""
    statuses = statuses if statuses is not None else probe()
    active = {s.name for s in statuses if s.active}
    return "landlock-fs" in active and "seccomp" in active


def plan_from_request(request: dict[str, Any], private_dir: str, keep_fds: list[int],
                      parent_pid: int | None) -> Plan:
    return Plan(private_dir=private_dir, workspace=request.get("path"), keep_fds=keep_fds,
                memory_mb=int(request.get("memory_mb", opt.MEMORY.default)),
                cpu_seconds=int(request.get("cpu_seconds", opt.cpu_seconds(opt.TIMEOUT.default))),
                parent_pid=parent_pid, required=list(request.get("required_layers", [])))

"""Entry point of the sandboxed child: `python -I -m paramlens.sandbox.child`.

Two ways in: `main()` (a fresh interpreter, request on stdin) and `run_forked()` (a child the warm worker just
forked). Both apply the same isolation layers (isolation.py) before anything of the user's runs. It then runs the
units (every top-level statement of the file, as `python file.py` would, main block included) one by one in a
single namespace like a notebook run with errors allowed, and streams JSON events (one per line, kinds in
protocol.Event) to the result channel as it goes, so that whatever was observed before a timeout, a memory error or
a crash still reaches the parent.
"""

from __future__ import annotations

import __future__
import builtins
import codecs
import contextlib
import io
import json
import os
import re
import sys
import time
import traceback
import types
import warnings
from typing import Any, Callable

from paramlens import options as opt
from paramlens.sandbox import isolation
from paramlens.sandbox.argv import install_tolerant_argparse
from paramlens.sandbox.packages import UnitsFinder, UnitsLoader, module_name_of, package_of
from paramlens.sandbox.protocol import DEFAULT_LOOP_ITERATIONS, DEFAULT_LOOP_SECONDS, Event, Probe, event_line, \
    example_probe
from paramlens.sandbox.guards import BlockedOperations, ParameterBudget, ParameterBudgetExceeded, \
    container_index, make_inits_meta_tolerant, reads_meta_value, tag_container_index_errors, tag_meta_value_reads

# statements that can change which tensors a model holds without rebinding any name
STRUCTURAL_EDITS = ("add_module", "register_", ".weight =", ".bias =", "= nn.Parameter", "setattr(", "del ")
MAIN = "__main__"  # the name the user's file runs under, as with `python file.py`
EXAMPLE_NAMES: dict[str, str] = {}  # __pl_example_N__ -> the expression that built it, as the report names it
OUTPUT_LIMIT = 64_000  # characters of printed output kept per statement


class Capture(io.TextIOBase):
    """Stands in for sys.stdout: keeps what one statement prints (capped) and lets probes read slices of it. As
    such it answers what a notebook's code finds in Jupyter's `sys.stdout` (ipykernel's OutStream): `encoding`
    "UTF-8", `name` "stdout", and no `buffer` or `reconfigure`. A script's is `ScriptCapture`."""

    name = "stdout"

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0
        self._encoding = "UTF-8"

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.size < OUTPUT_LIMIT:
            kept = text[: OUTPUT_LIMIT - self.size]
            self.parts.append(kept)
            self.size += len(kept)
            self.dropped += len(text) - len(kept)
        else:
            self.dropped += len(text)
        return len(text)

    def flush(self) -> None:
        pass

    def tell_text(self) -> int:
        return self.size

    def text_since(self, position: int) -> str:
        return "".join(self.parts)[position:]

    def take(self) -> str:
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n… ({self.dropped} more characters not kept)"
        self.parts, self.size, self.dropped = [], 0, 0
        return text


class ScriptCapture(Capture):
    """The capture of a script's statements: it answers as the interpreter's own stdout does when it is a pipe, as
    for `python file.py | ...` (the sandbox's PYTHONIOENCODING is utf-8): its encoding and errors, `buffer` (bytes
    written there are kept with the text, in order), `reconfigure(...)` (which scripts call to print Unicode),
    `name`, `mode`."""

    name = "<stdout>"
    mode = "w"

    def __init__(self) -> None:
        super().__init__()
        self._encoding = "utf-8"
        self._errors = "strict"
        self.line_buffering = False
        self.buffer = _CapturedBytes(self)

    @property
    def errors(self) -> str:  # type: ignore[override]
        return self._errors

    def reconfigure(self, *, encoding: str | None = None, errors: str | None = None, newline: Any = None,
                    line_buffering: bool | None = None, write_through: bool | None = None) -> None:
        """As TextIOWrapper.reconfigure: what is kept is text either way, so only the answers change."""
        if encoding is not None:
            codecs.lookup(encoding)  # an unknown encoding raises LookupError, as it does there
            self._encoding = encoding
        if errors is not None:
            self._errors = errors
        if line_buffering is not None:
            self.line_buffering = bool(line_buffering)


class _CapturedBytes(io.RawIOBase):
    """`sys.stdout.buffer` of the capture: bytes written there are decoded with the stream's encoding and kept
    with the text (what a terminal shows of them; a character split between two writes is kept whole)."""

    def __init__(self, text: Capture) -> None:
        super().__init__()
        self._text = text
        self._decoding: tuple[str, Any] | None = None

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        raw = bytes(data)
        encoding = self._text.encoding
        if self._decoding is None or self._decoding[0] != encoding:
            self._decoding = (encoding, codecs.getincrementaldecoder(encoding)("replace"))
        self._text.write(self._decoding[1].decode(raw))
        return len(raw)


def _error_info(error: BaseException, path: str, blocked: BlockedOperations | None = None) -> dict[str, Any]:
    # what was blocked is read first: formatting the traceback opens source files, which the hook would see
    refused = blocked.explain(error) if blocked is not None else None
    if blocked is not None:
        blocked.enabled = False
    frames = traceback.extract_tb(error.__traceback__)
    user_frames = [f for f in frames if f.filename == path]
    innermost = user_frames[-1] if user_frames else None
    message = str(error)
    if isinstance(error, KeyError) and len(error.args) == 1:
        message = repr(error.args[0])
    return {"type": type(error).__name__, "message": message[:2000],
            "line": innermost.lineno if innermost else None,
            "function": innermost.name if innermost and innermost.name != "<module>" else None,
            "memory": _is_memory_error(error),
            # where it was raised when that is outside the user's file (e.g. inside a package it imports)
            "raised_in": f"{frames[-1].filename}:{frames[-1].lineno}" if frames and frames[-1].filename != path else None,
            "name": getattr(error, "name", None) if isinstance(error, NameError) else None,
            # an import that failed: the module it named (ModuleNotFoundError and ImportError both set .name)
            "import": isinstance(error, ImportError),
            # a value read on the meta device, where tensors have no values (`loss.item()` on a 7B model)
            "meta_value": reads_meta_value(error),
            # `net[5]` on a container of 3: the index, the container's class and length (PL004)
            "container_index": container_index(error),
            # `net[1].weight` on a ReLU: the attribute and the class of the object that lacks it (PL005)
            "attribute": _missing_attribute(error),
            # torch refused to compute with a lazy layer's UninitializedParameter (PL108)
            "uninitialized_parameter": _raised_by_uninitialized_parameter(error),
            "module": getattr(error, "name", None) if isinstance(error, ImportError) else None,
            "blocked": refused}


def _raised_by_uninitialized_parameter(error: BaseException) -> bool:
    """Whether torch's own refusal to use an `UninitializedParameter` raised this (a method of
    `UninitializedTensorMixin`, such as `__torch_function__` or the `shape` property, is on the traceback): decided
    from where it was raised, not from the message's words."""
    try:
        from torch.nn.parameter import UninitializedTensorMixin
    except ImportError:
        return False
    refusals = set()
    for member in vars(UninitializedTensorMixin).values():
        for function in (getattr(member, "__func__", None), getattr(member, "fget", None), member):
            code = getattr(function, "__code__", None)
            if code is not None:
                refusals.add(code)
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        tb = current.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code in refusals:
                return True
            tb = tb.tb_next
        current = current.__cause__ or current.__context__
    return False


def _missing_attribute(error: BaseException) -> dict[str, Any] | None:
    """For an AttributeError, what Python itself records: the attribute's name and the object that lacks it."""
    if not isinstance(error, AttributeError) or getattr(error, "name", None) is None:
        return None
    owner = getattr(error, "obj", None)
    from torch import nn

    return {"name": error.name, "class": type(owner).__name__, "module": isinstance(owner, nn.Module),
            "none": owner is None}


def _is_memory_error(error: BaseException) -> bool:
    if isinstance(error, MemoryError):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and ("can't allocate memory" in text or "DefaultCPUAllocator" in text)


def main() -> int:
    """The one-shot path (`SubprocessExecutor`): request on stdin, events on the original stdout."""
    request = json.loads(sys.stdin.read())
    # The result channel is the original stdout; fd 1 then points at stderr so stray C-level prints cannot corrupt
    # the JSON stream.
    channel_fd = os.dup(1)
    os.dup2(2, 1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.close(null)
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # never a file object of its own: see run_forked
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    started = time.perf_counter()
    import torch

    torch.set_num_threads(1)
    import paramlens.sandbox.examples  # noqa: F401 - imported before the sandbox closes the file system
    import paramlens.sandbox.gradients  # noqa: F401
    import paramlens.sandbox.loops  # noqa: F401
    import paramlens.sandbox.probes  # noqa: F401
    import paramlens.sandbox.runtime  # noqa: F401
    import paramlens.sandbox.summaries  # noqa: F401
    import paramlens.sandbox.symmetry  # noqa: F401

    if channel_fd != 3:
        os.dup2(channel_fd, 3)
        os.close(channel_fd)
    plan = isolation.plan_from_request(request, os.getcwd(), [0, 1, 2, 3], os.getppid())
    return run_isolated(request, plan, 3, started)


def run_forked(request: dict[str, Any], result_fd: int, stderr_fd: int, private_dir: str, parent_pid: int,
               checkpoints: dict[str, Any] | None = None) -> None:
    """The warm path: called in a child the worker has just forked (torch is already imported). Never
    returns: the child ends with os._exit so that none of the worker's exit handlers or buffers run twice.
    `checkpoints` ({registry_fd, root}, from the worker's lineage): the run may stop at checkpoints."""
    import fcntl

    code = 1
    try:
        started = time.perf_counter()
        moved_result = fcntl.fcntl(result_fd, fcntl.F_DUPFD, 10)
        moved_stderr = fcntl.fcntl(stderr_fd, fcntl.F_DUPFD, 10)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(moved_stderr, 1)
        os.dup2(moved_stderr, 2)
        os.dup2(moved_result, 3)
        os.close(null)
        # standard input is descriptor 0 itself. A file object of its own (`open(os.devnull)`) would hold a
        # descriptor the isolation closes; its number is then reused (the checkpoint thread's pipe), and dropping
        # the stale object later closed the reused descriptor: checkpoints failed whenever the numbers met
        sys.stdin = open(0, encoding="utf-8", closefd=False)
        plan = isolation.plan_from_request(request, private_dir, [0, 1, 2, 3], parent_pid)
        if checkpoints is not None:
            from paramlens.sandbox import checkpoint

            checkpoint.prepare(plan, request, checkpoints["registry_fd"], checkpoints["root"])
        code = run_isolated(request, plan, 3, started)
    except BaseException:  # noqa: BLE001 - report and leave; never fall back into the worker's loop
        try:
            traceback.print_exc()
        except BaseException:  # noqa: BLE001
            pass
    finally:
        os._exit(code)


def run_isolated(request: dict[str, Any], plan: isolation.Plan, channel_fd: int, started: float) -> int:
    """Apply the isolation layers, then run the units. Shared by both executors so they isolate alike."""
    channel = os.fdopen(channel_fd, "w", buffering=1, encoding="utf-8")

    def emit(event: dict) -> None:
        channel.write(event_line(event))

    try:
        layers = isolation.apply(plan)
    except isolation.IsolationRefused as refusal:
        emit({"t": Event.REFUSED, "message": str(refusal)})
        channel.flush()
        return 3
    # standard input is /dev/null on descriptor 0: `input()` reads end-of-file, as with `python file.py < /dev/null`
    sys.stdin = open(0, encoding="utf-8", closefd=False)
    execute(request, emit, layers, started)
    # Close the result channel and stdout/stderr before exiting: the parent sees the end of both streams now,
    # not after the kernel has torn down this process's copy of torch's address space (~10 ms).
    channel.close()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    for fd in (1, 2):
        try:
            os.close(fd)
        except OSError:
            pass
    return 0


def execute(request: dict[str, Any], emit: Callable[[dict], None], layers: list[str], started: float) -> None:
    """Run the units one by one in one namespace, as `python file.py` runs the file (its `__name__` is
    "__main__", so its main block runs), but like a notebook with errors allowed: a statement that raises is
    reported and the next one runs. Events stream out as they happen."""
    import torch

    from paramlens.sandbox.gradients import GradientObserver, innermost_user_line, variables_holding
    from paramlens.sandbox.loops import LoopBudget
    from paramlens.sandbox.probes import Probes
    from paramlens.sandbox.runtime import Recorder

    executing = time.perf_counter()
    from paramlens.sandbox.summaries import remember_texts

    remember_texts(request.get("texts"))
    device = request.get("device", "cpu")
    path = request["path"]
    blocked = BlockedOperations(path, lambda attempt: emit({"t": Event.SANDBOX_REFUSAL, **attempt}),
                                certain=any(layer.startswith("seccomp") for layer in layers),
                                writable=os.getcwd() if any(layer.startswith("landlock-fs") for layer in layers)
                                else None)
    blocked.install()
    # the import system would try to cache bytecode next to the modules the file imports (read-only here): a
    # refusal nobody asked for, so it does not try
    sys.dont_write_bytecode = True
    budget = None
    if device == "auto":
        budget = ParameterBudget(int(request.get("param_budget", opt.PARAM_BUDGET.default)))
        budget.install()
    elif device == "meta":
        make_inits_meta_tolerant()
        tag_meta_value_reads()
        if request.get("count_meta"):
            budget = ParameterBudget(int(request.get("param_budget", opt.PARAM_BUDGET.default)), count_only=True)
            budget.install()
    seed = request.get("seed")
    if seed is not None:
        import random

        random.seed(seed)
        torch.manual_seed(seed)
    # like `python file.py`: the file's directory first; for a file inside a package, like `python -m pkg.mod`:
    # the package's root first (so `import pkg` finds the package, not a same-named module next to the file),
    # then the file's directory (sibling imports written as absolute ones still work)
    directory = os.path.dirname(os.path.abspath(path))
    package = package_of(path)
    for entry in reversed([package.root, directory] if package is not None else [directory]):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    # A file inside an importable package is analysed as that module (`torchvision.models.resnet`): the import
    # system loads the instrumented code under that name, once, so the package's `__init__` (which may import the
    # same file) and its registries see it exactly once. A module the interpreter imported before the run (one of
    # torch's own files) cannot be loaded again under its name: it runs as a script, as before.
    module_name = module_name_of(path, package)
    if module_name is not None and module_name in sys.modules:
        module_name = None

    tag_container_index_errors()
    install_tolerant_argparse(path, emit)
    capture = Capture() if request.get("notebook") else ScriptCapture()
    # a loose script is the program's main module, as with `python file.py`: its `if __name__ == "__main__":`
    # block runs, and code that looks itself up in sys.modules (@dataclass, pickle, typing) finds it
    user_module = types.ModuleType(module_name or MAIN)
    if module_name is None:
        sys.modules[MAIN] = user_module
    namespace: dict[str, Any] = user_module.__dict__
    # `__builtins__` is the builtins module in a script's (and IPython's) main namespace, its dictionary in an
    # imported module's: code that writes `__builtins__.print` or `getattr(__builtins__, "profile", None)` meets what
    # it meets under Python (this module's own `__builtins__` is one or the other depending on how it was started)
    namespace.update({"__file__": path, "__builtins__": builtins if module_name is None else builtins.__dict__,
                      "__package__": package.name if package is not None else None})
    if module_name is None and not request.get("notebook"):
        namespace.update({"__cached__": None, "__annotations__": {}})  # as `python file.py` starts __main__
    OWN_MODULES.update({MAIN, module_name or MAIN})
    recorder = Recorder(emit, namespace, capture, max_records=int(request.get("max_records", 8)))
    probes = Probes(recorder, namespace)
    probes.install()
    from paramlens.sandbox.examples import ExampleRunner

    plans = {unit["index"]: unit["example"] for unit in request["units"] if unit.get("example")}
    namespace[Probe.EXAMPLE] = ExampleRunner(
        namespace, plans, emit, probes.has_instance, lambda index, model: probes.value(example_probe(index), model),
        OWN_MODULES, module_name, package.name if package is not None else None, Event.EXAMPLE, Event.FACTORIES,
        EXAMPLE_NAMES)
    loops = LoopBudget(int(request.get("loop_iterations", DEFAULT_LOOP_ITERATIONS)),
                       float(request.get("loop_seconds", DEFAULT_LOOP_SECONDS)),
                       [loop for unit in request["units"] for loop in unit.get("loops", [])], emit, recorder.loop_cut)
    loops.install()
    namespace.update({Probe.LOOP: loops.for_loop, Probe.WHILE: loops.while_tick, Probe.LOOP_END: loops.end})
    GradientObserver(emit, recorder.owners, lambda: innermost_user_line(path), recorder.max_records,
                     recorder.labels, variables=lambda value: variables_holding(namespace, value)).install()
    _track_instances(recorder.instantiated, recorder.structure_changed)
    shown: list[dict[str, str]] = []  # what the running statement displayed (a notebook cell's outputs)
    if request.get("notebook"):
        _install_notebook_names(namespace, shown)
    emit({"t": Event.START, "torch": torch.__version__, "python": sys.executable, "seed": seed,
          "device": "meta" if device == "meta" else "cpu", "isolation": layers,
          "import_seconds": round(time.perf_counter() - started, 3),
          **({"module": module_name, "package": namespace.get("__package__")} if module_name else {})})

    EXAMPLE_NAMES.update({unit["example"]["name"]: unit["example"]["expression"]
                          for unit in request["units"] if unit.get("example")})
    runner = _UnitRunner(namespace, path, device, emit, capture, blocked, budget, recorder)
    runner.shown = shown
    runner.namespace_writes = _namespace_writes(request)
    runner.state_digest = bool(request.get("state_digest"))

    def finish(resumed: float | None = None) -> None:
        """The run's last events; a run resumed from a checkpoint (`resumed`: when its process started) times
        itself from there, not from when the run it continues started."""
        _finish(namespace, runner, recorder, emit, started if resumed is None else resumed,
                executing if resumed is None else resumed, budget)

    own = [unit for unit in request["units"] if not unit.get("example")]
    added = [unit for unit in request["units"] if unit.get("example")]
    # incremental analysis (checkpoint.py): the run can stop at checkpoints between statements and be continued
    # later, from a copy of this process, with other statements. Never for a file that runs as its package's
    # module (inside the import system); the analysing process does not ask for them then
    from paramlens.sandbox import checkpoint

    if checkpoint.ACTIVE is not None and module_name is None:
        checkpoint.ACTIVE.attach(runner, loops, finish)
    if module_name is None:
        runner.run(own)
    else:
        _run_as_module(module_name, path, user_module, runner, own, emit)
    runner.run(added)
    finish()


def _finish(namespace: dict[str, Any], runner: "_UnitRunner", recorder: Any, emit: Callable[[dict], None],
            started: float, executing: float, budget: Any) -> None:
    from paramlens.sandbox.examples import module_classes
    from paramlens.sandbox.summaries import TEXTS_COMPUTED, used_texts

    emit({"t": Event.MODULES, "modules": _final_modules(namespace, runner.module_order, runner.module_lines,
                                                        recorder.labels())})
    emit({"t": Event.INSTANCES, "classes": _instantiated_classes(namespace, recorder.instantiated),
          "modules": module_classes(namespace, OWN_MODULES)})
    texts = used_texts()
    if texts:
        emit({"t": Event.TEXTS, "entries": texts, "computed": TEXTS_COMPUTED[0]})
    emit({"t": Event.DONE, "seconds": round(time.perf_counter() - started, 3),
          "execute_seconds": round(time.perf_counter() - executing, 4),
          "compiled": runner.compiled,  # statements compiled by this process (not by the parked one before it)
          **({"digest": state_digest(namespace)} if runner.state_digest else {}),
          **({"peak": budget.peak} if budget is not None and budget.count_only else {})})


OWN_MODULES: set[str] = set()  # the names the file's own classes have as `__module__` (its module name, __main__)


def _run_as_module(module_name: str, path: str, user_module: types.ModuleType, runner: "_UnitRunner",
                   units: list[dict[str, Any]], emit: Callable[[dict], None]) -> None:
    """Import the file under its own name with the instrumented units as its code (see packages.UnitsLoader); its
    `if __name__ == "__main__":` block runs afterwards, as `python -m` runs it, in the same module (never a second
    copy of the file). When the package's own import fails before it reaches the file (a broken `__init__`), the
    file's statements still run, in the same module; their imports of the package then fail at their lines."""
    import importlib

    body = [unit for unit in units if not unit.get("main_guard")]
    deferred = [unit for unit in units if unit.get("main_guard")]
    loader = UnitsLoader(user_module, lambda: runner.run(body))
    finder = UnitsFinder(module_name, path, loader)
    sys.meta_path.insert(0, finder)
    try:
        importlib.import_module(module_name)
    except BaseException as error:  # noqa: BLE001 - the package's code, not the file's: said, never fatal
        emit({"t": Event.NOTE, "kind": "package_import", "module": module_name, "ran": loader.loaded,
              "error": {"type": type(error).__name__, "message": str(error)[:2000]}})
    finally:
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)
    if not loader.loaded:
        user_module.__dict__.setdefault("__name__", module_name)
        runner.run(body)
    if deferred and not runner.stopped:
        user_module.__dict__["__name__"] = MAIN
        try:
            runner.run(deferred)
        finally:
            user_module.__dict__["__name__"] = module_name


_TERMINAL = object()  # `sys.stdout` is the capture: what `python file.py` would print on the terminal
FUTURE_FLAGS = 0
for _feature in __future__.all_feature_names:
    FUTURE_FLAGS |= getattr(__future__, _feature).compiler_flag


# (statement text, first line, compiler flags) -> its code object, compiled ahead by the parked process this run
# was forked from (`_UnitRunner.compile_ahead`)
COMPILED_AHEAD: dict[tuple[str, int, int], types.CodeType] = {}


def _compiled_quietly(code: str, path: str, first_line: int, flags: int) -> types.CodeType | None:
    """The statement compiled alone and moved down to `first_line`, or None when that compile warns or fails (any
    warning is an error meanwhile). The warnings filters list is swapped, not changed through `warnings`, which
    would make every warning the program already showed once show again (changing the filters resets what each
    module's registry remembers)."""
    filters = warnings.filters
    warnings.filters = [("error", None, Warning, None, 0)]  # a new list: an audit hook may change it
    try:
        return _moved_down(compile(code, path, "exec", flags=flags, dont_inherit=True), first_line - 1)
    except Exception:  # noqa: BLE001 - compiled in place by the caller, where it warns or raises as Python would
        return None
    finally:
        warnings.filters = filters


def _moved_down(code: types.CodeType, lines: int) -> types.CodeType:
    """`code` and every code object nested in it (functions, classes, lambdas, comprehensions) `lines` lines
    further down: each one's line table counts from its own first line."""
    constants = tuple(_moved_down(constant, lines) if isinstance(constant, types.CodeType) else constant
                      for constant in code.co_consts)
    return code.replace(co_firstlineno=code.co_firstlineno + lines, co_consts=constants)


class _UnitRunner:
    """Runs units one by one in the file's namespace, like a notebook with errors allowed: a statement that raises
    is reported and the next one runs. Events stream out as they happen. Used for the file's own statements (from
    inside the import system when the file is a package module) and for the examples after them. `after_unit`, when
    set (checkpoint.py), is called between statements."""

    def __init__(self, namespace: dict[str, Any], path: str, device: str, emit: Callable[[dict], None],
                 capture: Capture, blocked: BlockedOperations, budget: Any, recorder: Any) -> None:
        self.namespace, self.path, self.device, self.emit = namespace, path, device, emit
        self.capture, self.blocked, self.budget, self.recorder = capture, blocked, budget, recorder
        self.poisoned: dict[str, int] = {}  # name -> line of the statement that should have bound it
        self.module_order: list[str] = []
        self.module_lines: dict[str, int] = {}
        self.module_ids: dict[str, int] = {}
        self.bindings: tuple[list[str], list[int]] | None = None  # the namespace's names and ids after a statement
        self.stopped = False  # sys.exit(), or the parameter budget was exceeded: nothing more runs
        self.shown: list[dict[str, str]] = []  # what the running statement displayed (a notebook cell's outputs)
        self.after_unit: Callable[[dict[str, Any]], None] | None = None
        self.compiled = 0  # statements this process compiled (the others' code objects were compiled ahead)
        # the request's `bindings` (analyzers/bindings.namespace_writes); None: every name after every statement
        self.namespace_writes: dict[str, Any] | None = None
        self.state_digest = False  # the request asks for a digest of the final state in the `done` event
        # what the program made `sys.stdout` (a tee that writes to the stream it replaced, a file): its later
        # statements print there, as under Python; _TERMINAL: the capture (the terminal of `python file.py`)
        self.stdout: Any = _TERMINAL
        # the `from __future__ import ...` features the file's statements so far turned on: as in `python file.py`
        # (and IPython's cells), they hold for every statement after the import, not only for the one holding it
        self.future_flags = 0

    def _rebound_candidates(self, unit: dict[str, Any]) -> list[str]:
        """The names this statement may have rebound: those it binds where it stands, the names functions of the
        file declare `global`, `_` (a notebook's last shown value) and the example it builds; every name when
        the file reaches its namespace in other ways (`globals()`, `exec`, a star import: analyzers/bindings.py)
        or the statement binds where its text does not say (`:=` in a comprehension, `match` patterns). Looking
        at every name after every statement cost ~2 ms a statement in a resumed run of a 5,000-line file (each
        value touched in a forked copy)."""
        writes = self.namespace_writes
        if writes is None or writes.get("scan") or _binds_implicitly(unit["code"]):
            candidates, self.bindings = _rebound(self.namespace, self.bindings)
            return candidates
        names = [*unit["binds"], *writes.get("globals", ()), "_"]
        if unit.get("example"):
            names.append(unit["example"]["name"])
        return names

    def _keep_stdout(self, left: Any, real: Any) -> None:
        """What a statement left in `sys.stdout` is where the next ones print (a statement that redirects it, or
        wraps it in a logger that also writes to the terminal, does so for the rest of the program). Setting it
        back to the interpreter's own stream (`sys.__stdout__`, or the one the statement started with) is the
        terminal again: the capture."""
        self.stdout = _TERMINAL if left is self.capture or left is real or left is sys.__stdout__ else left

    def _compile(self, code: str, first_line: int) -> types.CodeType:
        """The statement's code object, its lines where they are in the file, with exactly the compiler flags
        Python would give it: the file's own future features, never this module's (`compile` inherits its caller's
        unless told not to, and this module is written with `annotations`: the user's annotations were turned into
        strings).

        The statement is compiled alone and its code objects moved down to its first line: placing it there with
        that many newlines in front made the tokenizer read them all (~0.12 ms a statement 4,500 lines down, most
        of what a `def` costs in a long file). What differs from a compile in place is only the line of the
        module-level code object itself (its RESUME, before the first instruction); tracebacks, warnings and every
        function's and class's lines are the same. A statement whose compile warns or fails is compiled again in
        place, so the warning or error names its line in the file exactly as before. A code object the parked
        process compiled ahead for the same text, line and flags (`compile_ahead`) is taken as it is."""
        flags = self.future_flags
        # moved down unless the program left something else than a list in `warnings.filters` (compiled in place)
        moved = first_line > 1 and isinstance(getattr(warnings, "filters", None), list)
        compiled = COMPILED_AHEAD.get((code, first_line, flags)) if moved else None
        if compiled is None:
            self.compiled += 1
            if moved:
                compiled = _compiled_quietly(code, self.path, first_line, flags)
            if compiled is None:
                compiled = compile("\n" * (first_line - 1) + code, self.path, "exec", flags=flags,
                                   dont_inherit=True)
        self.future_flags |= compiled.co_flags & FUTURE_FLAGS
        return compiled

    def compile_ahead(self, units: list[dict[str, Any]], interrupted: Callable[[], bool]) -> int:
        """Compile `units` now, as `_compile` would when they run (same text, line and compiler flags), and keep
        the code objects in COMPILED_AHEAD, in place of the ones kept before. A parked process (checkpoint.py)
        calls this while it waits, with the units of the run it just resumed: an edit resumes from the same
        checkpoint again and again (typing in one statement), and every statement after the edit is the same text
        at the same line, so its run takes the code object instead of compiling it (~0.05 ms a statement, ~10 ms
        of an edit near the end of a 5,000-line file). A statement whose compile warns or fails is not kept (the
        run compiles it in place, where it warns or raises as Python would). Stops as soon as `interrupted()`:
        a request is waiting. Returns how many code objects are kept."""
        flags = self.future_flags
        ahead: dict[tuple[str, int, int], types.CodeType] = {}
        for unit in units:
            if interrupted():
                break
            code, first_line = unit["code"], unit["first_code_line"]
            if first_line <= 1:
                continue
            key = (code, first_line, flags)
            compiled = COMPILED_AHEAD.get(key) or _compiled_quietly(code, self.path, first_line, flags)
            if compiled is None:
                continue  # the flags after it are still right: a statement that adds one compiles without warning
            ahead[key] = compiled
            flags |= compiled.co_flags & FUTURE_FLAGS
        COMPILED_AHEAD.clear()
        COMPILED_AHEAD.update(ahead)
        return len(ahead)

    def run(self, units: list[dict[str, Any]]) -> None:
        for unit in units:
            if self.stopped:
                return
            self.run_one(unit)
            if self.after_unit is not None and not self.stopped:
                self.after_unit(unit)

    def run_one(self, unit: dict[str, Any]) -> None:
        import torch

        namespace, recorder, capture, blocked, emit = self.namespace, self.recorder, self.capture, self.blocked, \
            self.emit
        index, line = unit["index"], unit["line"]
        emit({"t": Event.BEGIN, "index": index})
        status, error = "ok", None
        begun = time.perf_counter()
        cut_before = recorder.first_cut is not None
        real_stdout = sys.stdout
        sys.stdout = capture if self.stdout is _TERMINAL else self.stdout
        blocked.enabled, blocked.last = True, None
        try:
            with torch.device("meta") if self.device == "meta" else contextlib.nullcontext():
                exec(self._compile(unit["code"], unit["first_code_line"]), namespace)
        except SystemExit:
            status = "exit"
        except ParameterBudgetExceeded:
            status = "over_budget"
        except BaseException as exc:  # noqa: BLE001 - every failure of user code is reported, none escapes
            error = _error_info(exc, self.path, blocked)
            status = "error"
            if isinstance(exc, NameError) and error["name"] in self.poisoned:
                status = "dependent"
                error["depends_on"] = self.poisoned[error["name"]]
            for name in unit["binds"]:
                self.poisoned[name] = line
        finally:
            self._keep_stdout(sys.stdout, real_stdout)
            sys.stdout = real_stdout
            blocked.enabled = False
        if self.budget is not None and self.budget.exceeded:
            # the model is too big to materialise: the caller redoes the run on the meta device
            emit({"t": Event.OVER_BUDGET, "index": index, "params": self.budget.peak, "budget": self.budget.limit})
            self.stopped = True
            return
        if status in {"ok", "exit"}:
            for name in unit["binds"]:
                self.poisoned.pop(name, None)
        event = {"t": Event.STATEMENT, "index": index, "status": status,
                 "seconds": round(time.perf_counter() - begun, 4), "output": capture.take(), "error": error}
        if self.shown:
            event["shown"] = list(self.shown)
            self.shown.clear()
        if recorder.first_cut is not None:
            # printed (or raised) after a loop was shortened, partly (`during`) or entirely
            event["after_cut"] = {**recorder.first_cut, "during": not cut_before}
        emit(event)
        if recorder.constant_written:
            models = recorder.take_constant_models()
            emit({"t": Event.SYMMETRY, "index": index, "layers": _symmetry(recorder, models),
                  "models": None if models is None else sorted(models)})
        counts, tallies = recorder.take_counts(), recorder.take_tallies()
        if counts or tallies:  # evaluations past the record limit are only counted; the explanations say how many
            emit({"t": Event.COUNTS, "counts": counts, "tallies": tallies})
        # the module table whenever a module variable is (re)bound, so a timeout or crash later still leaves the
        # latest one (re-emitting it after every statement made long files quadratic)
        candidates = self._rebound_candidates(unit)
        changed = _track_modules(namespace, candidates, line, self.module_order, self.module_lines, self.module_ids)
        if changed:
            recorder.reindex(changed)
        elif any(word in unit["code"] for word in STRUCTURAL_EDITS):
            recorder.reindex_all()  # a model kept its name but may have gained, lost or re-tied parameters
        if changed:
            # only the (re)bound variables: re-sending the whole table made long files quadratic
            for entry in _final_modules(namespace, changed, self.module_lines, recorder.labels()):
                emit({"t": Event.MODULE, "module": entry})
        if status == "exit":
            self.stopped = True


class _NoIPython:
    """What `get_ipython()` returns in the sandbox, where no IPython runs: every magic, shell command or other call
    through it does nothing (the analysis reports them where they are written)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args, **kwargs: [] if name in ("getoutput", "system") else None

    def __repr__(self) -> str:
        return "<no IPython: ParamLens runs the notebook's code as plain Python>"


def _install_notebook_names(namespace: dict[str, Any], shown: list[dict[str, str]]) -> None:
    """The names a notebook's code finds in IPython's namespace: `display(...)` (its objects' text, as Jupyter's
    text/plain), `get_ipython()` (which does nothing here), `_` (the last value shown), and the hook that shows a
    cell's last expression (`__pl_display__`, which returns the value unchanged)."""
    last: list[Any] = [object()]

    def text_of(value: Any) -> str:
        try:
            text = repr(value)
        except Exception as error:  # noqa: BLE001 - a repr that fails shows as such, like IPython's formatter
            text = f"<repr failed: {type(error).__name__}: {error}>"
        return text[:OUTPUT_LIMIT]

    def display_hook(value: Any) -> Any:
        if value is not None:
            shown.append({"kind": "result", "text": text_of(value)})
            # IPython updates `_` unless the program bound it to something else
            if namespace.get("_", last[0]) is last[0]:
                namespace["_"] = value
                last[0] = value
        return value

    def display(*objects: Any, **_options: Any) -> None:
        for value in objects:
            shown.append({"kind": "display", "text": text_of(value)})

    namespace[Probe.DISPLAY] = display_hook
    namespace.setdefault("display", display)
    namespace.setdefault("get_ipython", _NoIPython)


DIGEST_ELEMENTS = 10_000_000  # a tensor larger than this is digested by shape and dtype only


def _symmetry(recorder: Any, models: set[str] | None) -> list[dict[str, Any]]:
    from paramlens.sandbox.symmetry import symmetry_facts

    try:
        return symmetry_facts(recorder.top_level_modules(models))
    except Exception:  # noqa: BLE001 - a check that cannot be made is simply not reported
        return []


def state_digest(namespace: dict) -> dict[str, str]:
    """A fingerprint of the program's final state: every top-level tensor and module (names, shapes, values) and
    the random number generators. Two runs of the same program that differ only in ParamLens' probes must agree
    on it (tests/test_faithful.py): the probes may observe, never change."""
    import hashlib
    import random

    import torch
    from torch import nn

    def tensor_bytes(tensor: torch.Tensor) -> bytes:
        head = f"{list(tensor.shape)}{tensor.dtype}{tensor.device.type}".encode()
        if tensor.device.type == "meta" or tensor.numel() > DIGEST_ELEMENTS or tensor.is_sparse or \
                isinstance(tensor, nn.parameter.UninitializedTensorMixin):
            return head
        return head + tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes()

    digest: dict[str, str] = {}
    for name, value in sorted(namespace.items()):
        if name.startswith("__"):
            continue
        hasher = hashlib.sha256()
        try:
            if isinstance(value, nn.Module):
                for key, tensor in value.state_dict(keep_vars=True).items():
                    hasher.update(key.encode())
                    hasher.update(tensor_bytes(tensor))
            elif isinstance(value, torch.Tensor):
                hasher.update(tensor_bytes(value))
            else:
                continue
        except Exception:  # noqa: BLE001 - a tensor subclass that cannot be read: leave it out
            continue
        digest[name] = hasher.hexdigest()[:16]
    digest["__rng__"] = hashlib.sha256(torch.get_rng_state().numpy().tobytes() +
                                       repr(random.getstate()).encode()).hexdigest()[:16]
    return digest


def _track_instances(instantiated: set[type], structure_changed: Callable[[Any], None]) -> None:
    """Which module classes had an instance at some point of the run, even one that lived only inside a function
    (`def main(): model = Net()`): torch's global registration hooks see every module that registers a parameter,
    a buffer or a child. The same hooks, and `Module._apply` (`.to()`, `to_empty()`, `.half()`, which swap
    parameters without registering them), tell the recorder that a model's structure changed, so that the names it
    gives tensors are the ones they have now. The hooks return None and the wrapper returns what `_apply` returns,
    so nothing is replaced."""
    from torch.nn.modules import module as torch_module

    def seen(module: Any, name: str, value: Any) -> None:
        instantiated.add(type(module))
        if isinstance(value, torch_module.Module):
            instantiated.add(type(value))
        structure_changed(module)

    for register in ("register_module_module_registration_hook", "register_module_parameter_registration_hook",
                     "register_module_buffer_registration_hook"):
        hook = getattr(torch_module, register, None)
        if hook is not None:
            hook(seen)
    original_apply = torch_module.Module._apply

    def applied(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original_apply(self, *args, **kwargs)
        structure_changed(self)
        return result

    applied.__wrapped__ = original_apply  # type: ignore[attr-defined]
    torch_module.Module._apply = applied  # type: ignore[method-assign]


def _instantiated_classes(namespace: dict, instantiated: set[type]) -> list[str]:
    """The file's own module classes that had an instance during the run (built directly, inside another model,
    inside a function, or by a factory): which classes a library file's explanation really showed."""
    import torch.nn as nn

    from paramlens.sandbox.runtime import reachable_module_types

    own = {value for value in namespace.values() if isinstance(value, type) and issubclass(value, nn.Module) and
           value.__module__ in OWN_MODULES}
    seen = reachable_module_types(namespace) | instantiated
    return sorted(cls.__name__ for cls in own if any(issubclass(kind, cls) for kind in seen))


def _namespace_writes(request: dict[str, Any]) -> dict[str, Any] | None:
    """The request's `bindings`, when well formed (anything else: look at every name)."""
    writes = request.get("bindings")
    if isinstance(writes, dict) and isinstance(writes.get("globals", []), list) and \
            all(isinstance(name, str) for name in writes.get("globals", [])):
        return writes
    return None


_IMPLICIT_BINDING = re.compile(r":=|\bimport\s*\*|^[ \t]*match\b", re.M)


def _binds_implicitly(code: str) -> bool:
    """A statement whose bindings bound_names does not list: a walrus (it binds in the module even inside a
    comprehension), a star import, a `match` statement's capture patterns."""
    return bool(_IMPLICIT_BINDING.search(code))


def _rebound(namespace: dict, before: tuple[list[str], list[int]] | None) -> tuple[list[str], tuple]:
    """The names whose binding may have changed since `before` (the names and object ids after the previous
    statement), and the bindings now. Compared at C speed (a long file's namespace has thousands of names, and
    looking at each of them in Python after every statement made the run quadratic); when names were added,
    removed or reordered, every name is a candidate."""
    names = list(namespace)
    ids = list(map(id, namespace.values()))
    if before is None:
        return names, (names, ids)
    known, known_ids = before
    if len(names) < len(known) or names[:len(known)] != known:
        return names, (names, ids)  # a name was deleted (or deleted and bound again): look at all of them
    # the usual case: the same names, perhaps new ones after them (a statement binds a new variable); the few
    # rebound ones are found by halving (slices compare at C speed)
    changed: list[int] = []
    _differing(ids, known_ids, 0, len(known_ids), changed)
    return [names[k] for k in changed] + names[len(known):], (names, ids)


def _differing(now: list[int], before: list[int], low: int, high: int, out: list[int]) -> None:
    if now[low:high] == before[low:high]:
        return
    if high - low <= 16:
        out.extend(k for k in range(low, high) if now[k] != before[k])
        return
    middle = (low + high) // 2
    _differing(now, before, low, middle, out)
    _differing(now, before, middle, high, out)


def _track_modules(namespace: dict, candidates: list[str], line: int, order: list[str], lines: dict[str, int],
                   ids: dict[str, int]) -> list[str]:
    """Records which module each top-level name holds and where it was bound; returns the names that changed.
    Besides the user's names, the examples ParamLens built (`__pl_example_N__`) are tracked. Only `candidates`
    (the names whose object changed since the last statement) are looked at."""
    from torch import nn

    changed: list[str] = []
    for name in candidates:
        value = namespace.get(name)
        if not isinstance(value, nn.Module) or (name.startswith("__") and not _is_example(name)):
            continue
        if name not in lines:
            order.append(name)
        if ids.get(name) != id(value):
            ids[name] = id(value)
            lines[name] = line
            changed.append(name)
    return changed


def _is_example(name: str) -> bool:
    return name.startswith("__pl_example_") and name.endswith("__")


def _final_modules(namespace: dict, order: list[str], lines: dict[str, int],
                   labels: dict[str, Any] | None = None) -> list[dict]:
    from torch import nn

    from paramlens.sandbox.summaries import ParameterCensus, dtype_name, is_uninitialized

    modules = []
    for name in order:
        module = namespace.get(name)
        if not isinstance(module, nn.Module):
            continue
        census = ParameterCensus(module)
        unique, with_duplicates = census.counts
        keys = list(module.state_dict().keys())  # once: it builds the whole state dict
        persistent = set(keys)
        modules.append({
            "name": EXAMPLE_NAMES.get(name, name), "line": lines[name], "class": type(module).__name__,
            "origin": "example" if _is_example(name) else "top-level",
            "param_count": unique, "param_count_with_duplicates": with_duplicates,
            "parameters": [{"name": n, "shape": None if is_uninitialized(p) else list(p.shape),
                            "dtype": dtype_name(p.dtype), "requires_grad": bool(p.requires_grad)}
                           for n, p in census.named],
            "tied": census.tied,
            "buffers": [{"name": n, "shape": list(b.shape), "persistent": n in persistent}
                        for n, b in module.named_buffers()],
            "state_dict_keys": keys,
            **(labels or {}),
        })
    return modules


if __name__ == "__main__":
    code = main()
    os._exit(code)  # threads the user's code left running must not keep the process alive

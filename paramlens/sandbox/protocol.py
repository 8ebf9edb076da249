"""What crosses the execution boundary, spelled once for both sides.

The analysing process (analyzers/instrument.py, analysis.py, observations.py, the executors) and the sandboxed
child (child.py, probes.py) agree on three things: the request (what to run, with which limits), the result (the
events the child streamed and how the run ended), and the names inside them: the probe functions the instrumented
program calls and the kinds of events the child emits. Keeping them here means a probe or an event kind cannot be
renamed on one side only. Nothing here imports torch: the analysing process never does.
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Protocol

from paramlens import options as opt

try:  # a compiled JSON library, when the interpreter has it (the server's has; a user's own may not)
    import orjson as _orjson
except ImportError:  # pragma: no cover - the standard library's encoder and decoder, as before
    _orjson = None

# the defaults, bounds and names of every option: paramlens/options.py (one definition)
DEFAULT_PARAM_BUDGET = opt.PARAM_BUDGET.default
DEFAULT_LOOP_ITERATIONS = opt.LOOP_ITERATIONS.default
DEFAULT_LOOP_SECONDS = opt.LOOP_SECONDS.default


class Probe:
    """Names of the functions the instrumented program calls (installed into its namespace by probes.py)."""

    VALUE = "__pl_v__"        # __pl_v__(id, expr): the value of an expression when it is evaluated
    METHOD = "__pl_m__"       # __pl_m__(id, obj, "method", *a, **k): a method call; generators recorded lazily
    CALL = "__pl_c__"         # __pl_c__(id, f, *a, **k): a call that may be a module's forward
    APPLY = "__pl_a__"        # __pl_a__(id, obj, fn): Module.apply with every visit recorded
    INIT = "__pl_i__"         # __pl_i__(id, f, *a, **k): an nn.init call with before/after statistics
    WATCH = "__pl_w__"        # __pl_w__(id, phase, lambda: tensor): snapshot around an in-place edit
    TRANSFORM = "__pl_t__"    # __pl_t__(id, f, *a, **k): a call that reshapes a model's tensors, before and after
    SAVE = "__pl_s__"         # __pl_s__(id, f, obj, ...): a torch.save call, with what it wrote
    LOOP = "__pl_loop__"      # for x in __pl_loop__(id, iterable): a for loop under the loop budget
    WHILE = "__pl_while__"    # while __pl_while__(id, condition): a while loop under the loop budget
    LOOP_END = "__pl_end__"   # __pl_end__(id); break / return: a while loop left without its condition
    HAS_INSTANCE = "__pl_has_instance__"  # whether the file's class already has an instance (examples)
    EXAMPLE = "__pl_example__"  # __pl_example__(unit index): decide and build an example (sandbox/examples.py)
    DISPLAY = "__pl_display__"  # __pl_display__(expr): a notebook cell's last expression, its value shown (IPython)


def event_line(event: dict[str, Any]) -> str:
    """One event as the line the child writes. Values lists already spell NaN and infinity as torch prints them
    (summaries.plain_values); any other non-finite number left in an event (an argument `float("nan")`, a
    statistic of an exploded gradient) becomes null, "not a finite number", as in the statistics, and a key JSON
    cannot take (a tuple) becomes its text. Writing an event never fails on what it holds: it runs inside the
    user's statement, where a failure would be reported as theirs.

    Written by orjson when the child's interpreter has it: a long file's edit streams ~1 MB of events, mostly
    floats, which the standard library's encoder writes at ~80 MB/s (~15 ms of the run) and orjson ten times
    faster. An event holding anything but dicts with string keys, lists, tuples, strings, integers of 64 bits,
    floats, booleans and None (a subclass of one of them, a datetime, a NumPy number...) is written by the
    standard library as before, so both write the same values; orjson also writes a non-finite float as null."""
    if _orjson is not None:
        try:
            return _orjson.dumps(event, default=_not_plain, option=_ORJSON_PLAIN).decode() + "\n"
        except TypeError:  # orjson.JSONEncodeError: something only the standard library's rules decide
            pass
    try:
        return json.dumps(event, allow_nan=False, default=str) + "\n"
    except (ValueError, TypeError):
        return json.dumps(_plain_json(event), allow_nan=False, default=str) + "\n"


def _not_plain(value: Any) -> Any:
    raise TypeError(type(value).__name__)  # the event goes to the standard library's encoder


# what orjson would write its own way (ISO dates, dataclasses as objects, subclasses as their base) goes to
# `default` instead, which sends the event to the standard library's encoder
_ORJSON_PLAIN = (_orjson.OPT_PASSTHROUGH_DATETIME | _orjson.OPT_PASSTHROUGH_DATACLASS |
                 _orjson.OPT_PASSTHROUGH_SUBCLASS) if _orjson is not None else 0


def parse_json(data: bytes | str) -> Any:
    """A JSON text read from the child or the worker: by orjson when installed (about three times faster on a
    long file's ~1 MB of events an edit), by the standard library when orjson would read it otherwise (it reads
    an integer beyond 64 bits as a float: any run of 19 digits sends the text to the standard library) or refuses
    it (a NaN literal, an escaped lone surrogate), so the values are exactly those `json.loads` returns. Raises
    ValueError when it is not JSON."""
    if _orjson is not None and (_LONG_DIGITS_BYTES if isinstance(data, bytes) else _LONG_DIGITS).search(data) is None:
        try:
            return _orjson.loads(data)
        except ValueError:  # orjson.JSONDecodeError
            pass
    return json.loads(data)


_LONG_DIGITS = re.compile(r"[0-9]{19}")
_LONG_DIGITS_BYTES = re.compile(rb"[0-9]{19}")


def _plain_json(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key if isinstance(key, str) else str(key): _plain_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_json(item) for item in value]
    return value


def example_probe(index: int) -> int:
    """The probe id of the example unit `index`: negative, so it never collides with the findings' ids."""
    return -(index + 1)


class Event:
    """Kinds of the JSON events the child streams (the `t` field), in the order a run emits them."""

    REFUSED = "refused"          # a required isolation layer is missing: nothing ran
    START = "start"              # torch version, device, isolation layers in force, seed
    NOTE = "note"                # something the run did differently from `python file.py` (argparse)
    BEGIN = "begin"              # a top-level statement starts
    PROBE = "probe"              # one observation of a probe
    COUNTS = "counts"            # evaluations past the record limit, and tallies of simple results
    LOOP_CUT = "cut"             # a loop was shortened by the loop budget
    SANDBOX_REFUSAL = "denied"   # the sandbox refused an operation the code attempted (network, process, file)
    BACKWARD = "backward"        # a backward pass ran: which parameters got gradients, and shared ones per use
    TEXTS = "texts"              # at the end: the tensor texts this run used (how many it computed), for the next run
    SYMMETRY = "symmetry"        # after a statement that set a weight matrix to a constant: are its units symmetric
    STATEMENT = "stmt"           # a top-level statement ended: ok / error / dependent / exit
    MODULE = "module"            # one (re)bound module variable
    OVER_BUDGET = "over_budget"  # auto device policy: the model is too big for the CPU, redo on meta
    MODULES = "modules"          # the authoritative module table at the end
    INSTANCES = "instances"      # the file's module classes that had an instance at the end, and all of them
    EXAMPLE = "example"          # what an example unit decided: building (class, expression, how) or skipped (reason)
    FACTORIES = "factories"      # the file's no-argument functions that return a model, the default one first
    DONE = "done"
    BUDGET = "budget"            # added by the analysing process: the run was redone on meta, and why


@dataclass
class RunLimits:
    timeout_seconds: float = opt.TIMEOUT.default
    memory_mb: int = opt.MEMORY.default
    # a loop is cut after the iteration in which it has run at least this many iterations and this long
    loop_iterations: int = DEFAULT_LOOP_ITERATIONS
    loop_seconds: float = DEFAULT_LOOP_SECONDS


# tensor texts a request carries into the next run of the same document (summaries.py): the statements after an
# edit in a long file use hundreds (the 222 statements after an edit 90 % down the 5,012-line benchmark file use
# ~600); at ~500 bytes a text, 2,048 are about 1 MB of request
TEXTS_CARRIED = 2048


@dataclass
class RunRequest:
    path: str
    units: list[dict[str, Any]]
    seed: int | None = opt.SEED.default
    limits: RunLimits = field(default_factory=RunLimits)
    python: str = sys.executable
    max_records: int = 8
    device: str = "cpu"          # cpu | meta | auto (cpu, but stop when the parameters exceed param_budget)
    param_budget: int = DEFAULT_PARAM_BUDGET
    # on the meta device, count the parameters as the CPU run would (the DONE event's `peak`): a file that went over
    # the budget last time starts on meta, and is redone on the CPU if it now fits (analysis._execute)
    count_meta: bool = False
    # what the warm worker may import once and keep (analyzers/imports.preload_candidates), the module name the
    # file runs as (never preloaded) and its package's root; the executor's business, not the child's
    preload: list[str] | None = field(default_factory=list)  # None: not decided yet (analysis.preload_facts)
    module: str | None = None
    package_root: str | None = None
    notebook: bool = False       # a notebook's cells: `display()`, `get_ipython()` and each cell's value shown
    # the `done` event carries a digest of the final state (child.state_digest): for the tests that check the probes
    # change nothing; it reads every tensor of every model, so an ordinary run does not compute it
    state_digest: bool = False
    # incremental analysis (paramlens/incremental/, sandbox/checkpoint.py): where the run may stop at checkpoints
    # ({lineage, run, at, every_seconds, max, fence}), the checkpoint it continues from ({cid, index, loop_base};
    # `units` are then the statements after it), and the wall-clock time left (the time limit minus the time the
    # run up to that checkpoint took; the limit itself is still `limits.timeout_seconds`)
    checkpoints: dict[str, Any] | None = None
    resume: dict[str, Any] | None = None
    deadline_seconds: float | None = None
    # tensor texts earlier runs of the same document computed ([key, text], summaries.tensor_text's cache)
    texts: list[list[str]] = field(default_factory=list)
    # how the child finds the names a statement rebinds (analyzers/bindings.namespace_writes): absent, it looks at
    # every name after every statement
    bindings: dict[str, Any] | None = None

    def payload(self, required_layers: list[str]) -> dict[str, Any]:
        """The JSON the child reads: what to run and the limits it enforces on itself (every option of
        paramlens/options.py marked `payload`, under its own name)."""
        return {"path": self.path, "units": self.units, "seed": self.seed, "memory_mb": self.limits.memory_mb,
                "max_records": self.max_records, "device": self.device, "param_budget": self.param_budget,
                "count_meta": self.count_meta,
                "loop_iterations": self.limits.loop_iterations, "loop_seconds": self.limits.loop_seconds,
                "cpu_seconds": opt.cpu_seconds(self.limits.timeout_seconds), "required_layers": required_layers,
                "notebook": self.notebook,
                **({"checkpoints": self.checkpoints} if self.checkpoints is not None else {}),
                **({"resume": self.resume} if self.resume is not None else {}),
                **({"texts": self.texts} if self.texts else {}),
                **({"bindings": self.bindings} if self.bindings is not None else {}),
                **({"state_digest": True} if self.state_digest else {})}


@dataclass
class RunResult:
    events: list[dict[str, Any]]
    status: str            # ok | timeout | memory | crashed | cancelled | error
    message: str | None
    seconds: float
    running_index: int | None = None  # the unit that was running when the run ended abnormally
    stderr: str = ""
    isolation: list[str] = field(default_factory=list)  # the layers in force while the user's code ran
    # why the run ended as it did, as data for the report to put in words (the message above is English, for logs):
    # timeout / cpu (seconds), memory (mb), output (mb), disk (mb, files), signal (name), exited (detail),
    # cancelled, refused (detail), worker (detail)
    reason: str | None = None
    reason_facts: dict[str, Any] = field(default_factory=dict)
    fault: str | None = None  # "worker": the sandbox itself failed (not the user's code); the caller may retry
    # incremental analysis: the observations of the events the run begins with (a checkpoint's prefix), folded once
    # and kept with the checkpoint (observations.Fold); never sent anywhere
    prefix_fold: Any = None
    # how many of `events` are that prefix: the events of statements before the checkpoint, never one that ends a
    # run (over budget, texts, done), so the scans for those start after them (~10,000 events in a long file)
    prefix_events: int = 0

    def _start(self) -> dict[str, Any]:
        return next((e for e in self.events if e.get("t") == Event.START), {})

    @property
    def device(self) -> str:
        return self._start().get("device", "cpu")

    @property
    def python(self) -> str | None:
        """The interpreter that ran the user's code (from the child's start event)."""
        return self._start().get("python")

    @property
    def over_budget(self) -> dict[str, Any] | None:
        return next((e for e in self.own_events() if e.get("t") == Event.OVER_BUDGET), None)

    def own_events(self) -> list[dict[str, Any]]:
        """The events this run streamed itself (all of them, unless it continued a checkpoint's prefix)."""
        return self.events[self.prefix_events:] if self.prefix_events else self.events


class Executor(Protocol):
    def run(self, request: RunRequest) -> RunResult: ...

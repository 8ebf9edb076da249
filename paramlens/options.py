"""The one definition of every ParamLens option: its default, its bounds, and the name it has on each surface.

An option is read from up to four places, and each of them takes its name, default and bounds from here:

- the command line (`--timeout 10`),
- `[tool.paramlens]` in the project's `pyproject.toml` (`timeout = 10`),
- the editor's settings (`paramlens.timeout` in VS Code, `initializationOptions` / `workspace/configuration` for
  every LSP client),
- the run request the sandboxed child reads (`"memory_mb": 4096`), for the options that limit the run itself.

Nothing else restates a default: `AnalysisOptions`, the sandbox's request and the server's settings all point here,
and the tests compare `editor-client/package.json` with this table. A value out of bounds is an `OptionError`
whose text exists in English and Chinese; where it came from decides what happens to it (a usage error on the
command line, a configuration error for `pyproject.toml`, a logged warning and the previous value for the editor).

This module imports nothing heavy: the sandboxed child reads its defaults from it too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from paramlens.messages import message_id, t


class OptionError(ValueError):
    """A value an option cannot take; `text(locale)` says why in the reader's language (paramlens/messages)."""

    def __init__(self, message: str, translated: dict[str, str] | None = None, **values: Any) -> None:
        self.message, self.values, self.translated = message, values, translated or {}
        super().__init__(self.en)

    @property
    def en(self) -> str:
        return self.text("en")

    def text(self, locale: str) -> str:
        # values that are messages themselves (`{kind}`: "an integer") are put in the same language
        words = {key: t(locale, message) for key, message in self.translated.items()}
        return t(locale, self.message, **self.values, **words)


KINDS = {bool: message_id("true or false"), int: message_id("an integer"), float: message_id("a number"),
         str: message_id("a string")}


@dataclass(frozen=True)
class Option:
    """One option. `name` is its attribute on `AnalysisOptions` / the server's settings and, when `payload` is
    true, its key in the run request the child reads."""

    name: str
    kind: type
    default: Any
    help: str                          # what it does (an English message id), for --help, package.json, the docs
    minimum: float | None = None
    exclusive_minimum: bool = False    # minimum itself is not allowed (a time of 0 s means nothing)
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    nullable: bool = False             # None (or "" from an editor) means "not set": the default behaviour
    cli: str | None = None             # "--timeout"
    metavar: str | None = None
    toml: str | None = None            # key in [tool.paramlens]; None: a project cannot set it
    setting: str | None = None         # key in the editor's `paramlens` section; None: not an editor setting
    payload: bool = False              # carried to the sandboxed child in the run request
    live: bool = False                 # the server applies a change at once, without re-running anything

    def check(self, value: Any) -> Any:
        """`value` as this option's kind, or OptionError. Integers are accepted where a number is wanted; bool is
        never taken for a number (JSON `true` is not 1 second)."""
        if value is None or (self.nullable and value == ""):
            if self.nullable:
                return None
            raise OptionError("{label} needs a value", label=self.label)
        kind = self.kind
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            raise OptionError("{label} must be {kind}, not {value!r}", {"kind": KINDS[kind]}, label=self.label,
                              value=value)
        if kind is float and not math.isfinite(value):
            raise OptionError("{label} must be a finite number, not {value!r}", label=self.label, value=value)
        if self.choices and value not in self.choices:
            raise OptionError("{label} must be one of {choices}, not {value!r}", label=self.label,
                              choices=", ".join(self.choices), value=value)
        if self.minimum is not None and (value < self.minimum or (self.exclusive_minimum and value == self.minimum)):
            message = message_id("{label} must be greater than {minimum:g}, not {value!r}") \
                if self.exclusive_minimum else message_id("{label} must be at least {minimum:g}, not {value!r}")
            raise OptionError(message, label=self.label, minimum=self.minimum, value=value)
        if self.maximum is not None and value > self.maximum:
            raise OptionError("{label} must be at most {maximum:g}, not {value!r}", label=self.label,
                              maximum=self.maximum, value=value)
        return value

    @property
    def label(self) -> str:
        """How the user named it: the first surface it has."""
        return self.cli or (f"paramlens.{self.setting}" if self.setting else self.name)

    def describe_bounds(self) -> str:
        """`> 0`, `1 … 1,000,000`, `auto | cpu | meta`: for --help and the docs."""
        if self.choices:
            return " | ".join(self.choices)
        low = None if self.minimum is None else (f"> {_number(self.minimum)}" if self.exclusive_minimum else
                                                 f">= {_number(self.minimum)}")
        high = None if self.maximum is None else f"<= {_number(self.maximum)}"
        return ", ".join(part for part in (low, high) if part)


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


# -- what the analysis does -------------------------------------------------------------------------------------
EXECUTE = Option("execute", bool, True, "Run the file's model-building code in the sandbox to observe real values; "
                 "off: static analysis only.",
                 cli="--no-exec", setting="execution")
TIMEOUT = Option("timeout_seconds", float, 30.0, "Seconds one run of a file may take before it is stopped (PL901).", minimum=0, exclusive_minimum=True, maximum=3600,
                 cli="--timeout", metavar="SECONDS", toml="timeout", setting="timeout")
MEMORY = Option("memory_mb", int, 4096, "Memory, in MB, the file's code may allocate during a run.", minimum=64, maximum=1_048_576, cli="--memory-mb", metavar="MB",
                toml="memory-mb", setting="memoryMb", payload=True)
SEED = Option("seed", int, 0, "The torch.manual_seed set before the file runs, so values are the same on every run.", minimum=0, maximum=2**32 - 1, cli="--seed",
              metavar="N", toml="seed", setting="seed", payload=True)
DEVICE = Option("device", str, "auto", "auto: the CPU, or torch's meta device (shapes only, no memory) for models "
                "larger than the parameter budget; cpu or meta: always that one.",
                choices=("auto", "cpu", "meta"), cli="--device", toml="device", setting="device", payload=True)
PARAM_BUDGET = Option("param_budget", int, 50_000_000, "Models with more parameters than this are analysed on "
                      "torch's meta device: every shape, count and tie, but no values.",
                      minimum=1, maximum=10**13, cli="--param-budget", metavar="N", toml="param-budget",
                      setting="paramBudget", payload=True)
LOOP_ITERATIONS = Option("loop_iterations", int, 2, "A loop is cut after the iteration in which it has run at least "
                         "this many iterations and for at least the loop seconds.",
                         minimum=1, maximum=1_000_000, cli="--loop-iterations", metavar="N", toml="loop-iterations",
                         setting="loopIterations", payload=True)
LOOP_SECONDS = Option("loop_seconds", float, 0.2, "Seconds a loop runs at least before it may be cut (and it must "
                      "have run the loop iterations too).",
                      minimum=0, exclusive_minimum=True, maximum=3600, cli="--loop-seconds", metavar="SECONDS",
                      toml="loop-seconds", setting="loopSeconds", payload=True)
PYTHON = Option("python", str, None, "The Python interpreter that runs the file's code (it needs torch). Empty: the "
                "one ParamLens runs in.",
                nullable=True, cli="--python", metavar="PATH", setting="interpreter")
LOCALE = Option("locale", str, None, "Language of explanations and diagnostics: en or zh-CN. Empty: the editor's "
                "(or LANG's) language.",
                choices=("en", "zh-CN"), nullable=True, cli="--locale", setting="locale")

# -- the language server only -----------------------------------------------------------------------------------
EXECUTE_OUTSIDE_WORKSPACE = Option(
    "execute_outside_workspace", bool, False, "Also run files that lie outside every workspace folder (off: they "
    "get static analysis only).",
    setting="executeOutsideWorkspace")
DEBOUNCE = Option("debounce_ms", int, 300, "Milliseconds to wait after the last keystroke before analysing again. "
                  "Unset: the wait adapts to what the document's last analysis cost and to the typing speed, up to "
                  "300 ms; set: exactly this long.",
                  minimum=0, maximum=60_000, setting="debounceMs", live=True)
INCREMENTAL = Option("incremental", bool, True, "Re-analyse an edited document from its first changed statement: "
                     "the static work is cached per statement and the run continues from a checkpoint (a stopped "
                     "copy of the sandboxed run) taken before it; off: every analysis runs the whole file.",
                     setting="incremental")
CHECKPOINTS = Option("checkpoints", int, 16, "Checkpoints kept at most, over all open documents (the least recently "
                     "used go first); 0 turns them off (every edit then runs the whole file again).",
                     minimum=0, maximum=64, setting="checkpoints")
CHECKPOINT_MEMORY = Option("checkpoint_memory_mb", int, 2048, "Memory, in MB, the kept checkpoints may hold together "
                           "(their proportional share, Pss); past it the least recently used go first.",
                           minimum=64, maximum=1_048_576, setting="checkpointMemoryMb")
HINT_PARAMETERS = Option("parameters", bool, True, "Inlay hint with the parameter count after layer constructors "
                         "(`8×4 + 8 = 40 params` after `nn.Linear(4, 8)`).",
                         setting="inlayHints.parameters", live=True)
HINT_FORWARD_SHAPES = Option("forward_shapes", bool, True, "Inlay hint with the output shape after forward calls "
                             "(`→ [2, 1]` after `net(X)`).",
                             setting="inlayHints.forwardShapes", live=True)
HINT_SHARED_LAYERS = Option("shared_layers", bool, True, "Inlay hint \"shared with line N\" where one layer object "
                            "is used in several places.",
                            setting="inlayHints.sharedLayers", live=True)

# what `analyze` reads (AnalysisOptions has exactly these fields, plus executor, rules and examples)
ANALYSIS: tuple[Option, ...] = (EXECUTE, TIMEOUT, MEMORY, SEED, DEVICE, PARAM_BUDGET, LOOP_ITERATIONS, LOOP_SECONDS,
                                PYTHON, LOCALE)
SERVER_ONLY: tuple[Option, ...] = (EXECUTE_OUTSIDE_WORKSPACE, DEBOUNCE, INCREMENTAL, CHECKPOINTS, CHECKPOINT_MEMORY)
INLAY_HINTS: tuple[Option, ...] = (HINT_PARAMETERS, HINT_FORWARD_SHAPES, HINT_SHARED_LAYERS)
ALL: tuple[Option, ...] = ANALYSIS + SERVER_ONLY + INLAY_HINTS

BY_NAME = {option.name: option for option in ANALYSIS + SERVER_ONLY}
BY_TOML = {option.toml: option for option in ALL if option.toml}
PAYLOAD = tuple(option for option in ANALYSIS if option.payload)


def default(name: str) -> Any:
    """The default of the analysis or server option called `name` (the sandboxed child's fallback too)."""
    return BY_NAME[name].default


def cpu_seconds(timeout_seconds: float) -> int:
    """The child's RLIMIT_CPU for a wall-clock timeout: a little above it, so the parent's timeout says why."""
    return int(timeout_seconds) + 2


__all__ = ["ALL", "ANALYSIS", "BY_NAME", "BY_TOML", "INLAY_HINTS", "Option", "OptionError", "PAYLOAD",
           "SERVER_ONLY", "cpu_seconds", "default"]

"""The Report data model and its JSON rendering.

Every front end (CLI now, language server later) renders the same objects, so the JSON contract in DESIGN.md is
defined here once. Positions are 1-based lines and 1-based columns counted in characters; `end_column` is
exclusive (it points one past the last character), like LSP ranges shifted to 1-based.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from paramlens import __version__


@dataclass(frozen=True, order=True)
class Span:
    """A source range: 1-based line and column, end column exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int

    def contains(self, line: int, column: int) -> bool:
        """True when the 1-based position lies inside the range (end inclusive, so a cursor after the last
        character still counts, as editors expect for hovers)."""
        if (line, column) < (self.line, self.column):
            return False
        return (line, column) <= (self.end_line, self.end_column)

    def size(self) -> tuple[int, int]:
        return (self.end_line - self.line, self.end_column - self.column if self.end_line == self.line else 10**6)


@dataclass
class ParameterInfo:
    name: str
    shape: list[int]
    dtype: str
    requires_grad: bool


@dataclass
class BufferInfo:
    name: str
    shape: list[int]
    persistent: bool


@dataclass
class ModuleInfo:
    name: str
    line: int
    class_name: str
    param_count: int
    param_count_with_duplicates: int
    parameters: list[ParameterInfo]
    tied: list[list[str]]
    buffers: list[BufferInfo]
    state_dict_keys: list[str]
    # "top-level": a variable of the file; "example": a class the file never instantiates, built by ParamLens
    # (`name` is then the expression used, e.g. `GPT(GPTConfig())`)
    origin: str = "top-level"
    # the line of the first loop the loop budget cut, when this entry was observed after it (else None)
    after_cut: int | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["class"] = data.pop("class_name")
        # keep the contract's key order
        order = ["name", "line", "class", "param_count", "param_count_with_duplicates", "parameters", "tied",
                 "buffers", "state_dict_keys", "origin", "after_cut"]
        return {key: data[key] for key in order}


@dataclass
class Explanation:
    span: Span
    pattern: str
    markdown: str
    facts: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"line": self.span.line, "column": self.span.column, "end_line": self.span.end_line,
                "end_column": self.span.end_column, "pattern": self.pattern, "markdown": self.markdown,
                "facts": self.facts}


@dataclass
class Fix:
    title: str
    replacement: str
    span: Span


@dataclass
class Diagnostic:
    span: Span
    code: str
    severity: str  # "error" | "warning" | "information" | "hint"
    message: str
    fix: Fix | None = None

    def to_json(self) -> dict[str, Any]:
        fix = None
        if self.fix is not None:
            fix = {"title": self.fix.title, "replacement": self.fix.replacement, "line": self.fix.span.line,
                   "column": self.fix.span.column, "end_line": self.fix.span.end_line,
                   "end_column": self.fix.span.end_column}
        return {"code": self.code, "severity": self.severity, "line": self.span.line, "column": self.span.column,
                "end_line": self.span.end_line, "end_column": self.span.end_column, "message": self.message,
                "fix": fix}


@dataclass
class SkippedStatement:
    line: int
    reason: str


@dataclass
class LoopCut:
    """A loop the loop budget shortened: where, how far it got (and of how many), how often it was entered and cut."""

    line: int
    iterations: int            # iterations run at the first cut
    of: int | None             # the iterable's length, when it has one
    seconds: float             # wall time of the iterations that ran, at the first cut
    times: int = 1             # how many times the loop was cut (an inner loop is cut once per outer iteration)
    function: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "iterations": self.iterations, "of": self.of, "seconds": round(self.seconds, 3),
                "times": self.times, "function": self.function}


@dataclass
class Execution:
    status: str  # ok | skipped | partial | timeout | memory | crashed | blocked | error
    device: str | None = "cpu"
    seconds: float = 0.0
    message: str | None = None
    seed: int | None = None
    skipped: list[SkippedStatement] = field(default_factory=list)
    isolation: list[str] = field(default_factory=list)  # sandbox layers in force while the code ran
    loops_cut: list[LoopCut] = field(default_factory=list)  # loops the loop budget shortened, in line order
    # the options the run was given (paramlens/options.py names: timeout_seconds, memory_mb, device, ...), as
    # sent to the sandbox; empty when nothing ran
    options: dict[str, Any] = field(default_factory=dict)
    # the dotted name the file ran as when it is a module of an importable package (`torchvision.models.resnet`)
    module: str | None = None
    # when the run ended with no model built at all (no module variable, no example): why, in one sentence
    nothing_built: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "device": self.device, "seconds": round(self.seconds, 3),
                "message": self.message, "seed": self.seed,
                "skipped": [{"line": s.line, "reason": s.reason} for s in self.skipped],
                "isolation": list(self.isolation), "loops_cut": [cut.to_json() for cut in self.loops_cut],
                "options": dict(self.options), "module": self.module, "nothing_built": self.nothing_built}


@dataclass
class Factory:
    """A function of the file that builds a model with no arguments (`def resnet50(*, weights=None, **kwargs)`)."""

    name: str
    line: int
    class_name: str | None  # the class its return annotation names, when it does
    built: bool = False      # the one built as the example in this run

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "line": self.line, "class": self.class_name, "built": self.built}


@dataclass
class NotebookReport:
    """What a notebook (an .ipynb, or a .py file with `# %%` cells) adds to its report: the program its code cells
    made (paramlens/notebooks/program.py: the map between its lines and the cells) and, per cell, what the fresh run
    produced and how it compares with the output the notebook stored."""

    program: Any
    cells: list[dict[str, Any]] = field(default_factory=list)

    @property
    def relative(self) -> bool:
        """Positions are told as (cell, line in the cell): an .ipynb, not a .py file with cells."""
        return bool(self.program.relative)

    def to_cell(self, line: int) -> tuple[int, int] | None:
        return self.program.to_cell(line)

    def to_program(self, cell: int, line: int) -> int | None:
        return self.program.to_program(cell, line)

    def to_json(self) -> dict[str, Any]:
        return {"format": self.program.kind, "cells": self.cells}


@dataclass(frozen=True)
class SharedPlace:
    """One place a shared layer object is put into a container, and the name the source gives it there."""

    span: Span
    name: str | None


@dataclass
class FileReport:
    path: str
    execution: Execution
    modules: list[ModuleInfo] = field(default_factory=list)
    explanations: list[Explanation] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # the file's no-argument model factories, the default example first (the one built has `built`)
    factories: list[Factory] = field(default_factory=list)
    notebook: NotebookReport | None = None
    # where each shared layer object is put (the `shared_module` findings, as their explanations are placed): PL201's
    # related information, which must not wait for the explanations to be built. Not part of the JSON
    shared_places: list[SharedPlace] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = {"path": self.path, "execution": self.execution.to_json(),
                "modules": [m.to_json() for m in self.modules],
                "explanations": [e.to_json() for e in self.explanations],
                "diagnostics": [d.to_json() for d in self.diagnostics],
                "factories": [f.to_json() for f in self.factories]}
        if self.notebook is not None:
            data["notebook"] = self.notebook.to_json()
            if self.notebook.relative:
                from paramlens.notebooks.positions import to_cells

                to_cells(data, self.notebook.program)
        return data

    def explanation_at(self, line: int, column: int) -> Explanation | None:
        """The innermost explanation whose range contains the position (what a hover shows)."""
        hits = [e for e in self.explanations if e.span.contains(line, column)]
        if not hits:
            return None
        return min(hits, key=lambda e: (e.span.size(), -e.span.line, -e.span.column))

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)

    # -- explanations built when first read ----------------------------------------------------------------------
    # The diagnostics of a report need the rules only; its explanations (every hover's Markdown, in one language)
    # cost about as much as the rest of a long file's re-analysis after an edit. The language server publishes the
    # diagnostics first and has the explanations built right after (server.py); whoever reads `explanations`
    # first (a hover, the CLI's renderer, `to_json`) builds them, once, under a lock.
    def defer_explanations(self, build: Callable[..., list[Explanation]]) -> None:
        """`build(stop)` builds them, giving up (ExplanationsInterrupted) when `stop` (None: never) answers True."""
        with self._explaining:
            self._pending = build

    @property
    def explanations_pending(self) -> bool:
        return self._pending is not None

    def complete(self, stop: Callable[[], bool] | None = None, wait: bool = True) -> bool:
        """Build the explanations now, if they are still to be built. `stop` (asked between explanations) gives up
        when it answers True, keeping nothing half-built: the language server stops building a report's
        explanations when a newer version of the document waits to be analysed. `wait=False`: when another thread
        is building them, leave it to that one at once (the language server's analysis thread must not wait for a
        build a hover started). Whether they are built, by this call or before it."""
        if self._pending is None:
            return True
        if not self._explaining.acquire(blocking=wait):
            return False
        try:
            self._build_pending(stop)
        except ExplanationsInterrupted:
            return False
        finally:
            self._explaining.release()
        return True

    def _explanations_now(self, stop: Callable[[], bool] | None = None) -> list[Explanation]:
        if self._pending is not None:
            with self._explaining:
                self._build_pending(stop)
        return self._built

    def _build_pending(self, stop: Callable[[], bool] | None) -> None:
        """Under the lock. The build stays pending until it has finished: a reader meanwhile (a hover while the
        language server's analysis thread builds them) waits on the lock for it, instead of reading the empty list
        a report starts with. A build that fails or gives up leaves it pending: nothing half-built is kept, the
        next reader builds them."""
        build = self._pending
        if build is not None:
            self._built = build(stop)
            self._pending = None

    def _set_explanations(self, explanations: list[Explanation]) -> None:
        with self._explaining:
            self._pending, self._built = None, explanations


class ExplanationsInterrupted(Exception):
    """A build of explanations given up because its `stop` said so (FileReport.complete)."""


def _explaining_lock(report: FileReport) -> threading.Lock:
    lock = report.__dict__.get("_explaining_lock")
    if lock is None:
        lock = report.__dict__.setdefault("_explaining_lock", threading.Lock())
    return lock


# `explanations` stays a dataclass field (its place in __init__, equality, asdict) but is read and written through
# a property, so that it can be built when first read; the generated __init__ assigns it through the setter
FileReport._explaining = property(_explaining_lock)  # type: ignore[attr-defined]
FileReport._pending = None  # type: ignore[attr-defined]
FileReport.explanations = property(FileReport._explanations_now,  # type: ignore[assignment]
                                   FileReport._set_explanations)


def torch_version() -> str | None:
    """The installed torch's version, read from package metadata so that the analysing process never imports
    torch (importing it costs a second and ~225 MB)."""
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


def report_json(files: list[FileReport]) -> dict[str, Any]:
    version = torch_version()
    if version is not None:
        version = version.split("+")[0]
    return {"paramlens": __version__, "torch": version, "files": [f.to_json() for f in files]}

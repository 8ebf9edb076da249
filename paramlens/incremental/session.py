"""One document's incremental analyses: static caches, the checkpoints of its runs, and which one an edit resumes
from.

`Session.analyze(source, path, options)` returns what `analysis.analyze` returns for the same text. The static part
comes from static.py; the run continues from the deepest checkpoint whose prefix is unchanged: the units are
chained by hash (a unit's hash covers its code, lines and loops, and every unit before it), a checkpoint taken
after statement k is valid while the hash of unit k is the one it was taken under, and the events the runs
observed up to it are reused as they are. A run takes checkpoints where the analysing process asks (right before
the statement the last edit changed, so that the next keystroke there runs only that statement and the rest) and
every `every` seconds of running (a sixth of the last full run). Checkpoints whose prefix changed are dropped at
once; the others are bounded by `Budget` (count and memory, over all documents). A run that cannot be resumed
faithfully (the checkpoint is gone, the run diverged, the worker failed, the model outgrew the CPU) is done again
from the start, as a full analysis does it.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

from paramlens import analysis
from paramlens.analysis import AnalysisOptions
from paramlens.analyzers.instrument import Unit, example_units
from paramlens.analyzers.source import SourceSyntaxError
from paramlens.explain.i18n import normalize_locale
from paramlens.incremental import static
from paramlens.observations import Fold
from paramlens.report import FileReport
from paramlens.sandbox.checkpoint import CHECKPOINT_EVENT, DIVERGED_EVENT
from paramlens.sandbox.protocol import TEXTS_CARRIED, Event, RunRequest, RunResult

LOG = logging.getLogger("paramlens.incremental")
FIRST_EVERY_SECONDS = 0.25     # checkpoint spacing before the file's run time is known
CHECKPOINTS_PER_RUN = 8
NEVER_SECONDS = 1e9            # a checkpoint spacing no run reaches (JSON has no infinity)
REMEASURE_SECONDS = 10.0
SPREAD_FROM_STATEMENTS = 64    # a first run of at least this many statements stops at regular points instead
FIRST_RUN_SPREAD = 4           # ... at this many, evenly spaced (each fork of the growing program costs ~60 ms)
# a statement that reads the wall clock through datetime (not seen by the run's clock watch): no checkpoint after it.
# Matched on the instrumented code, where a call may be passed to a probe uncalled (`__pl_c__(3, date.today)`)
_DATETIME_CLOCK = re.compile(r"\b(?:now|today|utcnow)\b")


@functools.lru_cache(maxsize=16_384)
def _reads_datetime_clock(code: str) -> bool:
    """Whether a statement's code names a datetime clock (the run's clock fence). Once per text: an edit hands back
    the same code strings for the statements it did not touch (their hashes cached), and searching all 2,000 of a
    long file's at every edit cost ~2 ms."""
    return _DATETIME_CLOCK.search(code) is not None
_COUNTER = itertools.count(1)


@dataclass
class Checkpoint:
    cid: str
    index: int                 # the statement it was taken after
    line: int                  # that statement's first line (for the status)
    key: str                   # the hash of units 0..index it was taken under
    lineage: str
    prefix_events: list[dict[str, Any]]
    prefix_seconds: float
    created: float
    used: float
    pid: int | None = None     # known once the worker registered it (confirmed)
    memory_mb: float = 0.0
    measured: bool = False
    # the keys of the tensor texts its process holds because requests carried them (the run that took it, and the
    # runs that run was resumed from): a run resumed from it is sent only the others
    texts: frozenset[str] = frozenset()
    # the observations of prefix_events, folded when a run first resumes from it (observations.Fold)
    fold: Any = None

    @property
    def confirmed(self) -> bool:
        return self.pid is not None


class Budget:
    """The checkpoints of every document of one server: at most `count` of them and `memory_mb` of their private
    memory; past either, the least recently used go first."""

    def __init__(self, count: int, memory_mb: int) -> None:
        self.count = count
        self.memory_mb = memory_mb
        self.sessions: list[Session] = []
        self.lock = threading.Lock()
        self.measured = time.monotonic()

    def register(self, session: "Session") -> None:
        with self.lock:
            self.sessions.append(session)

    def unregister(self, session: "Session") -> None:
        with self.lock:
            if session in self.sessions:
                self.sessions.remove(session)

    def live(self) -> list[tuple["Session", Checkpoint]]:
        with self.lock:
            return [(session, checkpoint) for session in self.sessions for checkpoint in session.checkpoints]

    def enforce(self, measure: bool = True) -> None:
        """Measure, then drop least recently used checkpoints until both bounds hold. Reading a process's
        smaps_rollup walks its whole address space (4–13 ms for a process that imported torch), so checkpoints
        never measured are measured here, and all of them again every REMEASURE_SECONDS (a parked process's share
        changes as its siblings come and go). `measure=False` (the language server, on the path of an edit: it
        measures right after publishing, see server.py) enforces the count, and the memory as last measured."""
        live = self.live()
        now = time.monotonic()
        again = measure and now - self.measured >= REMEASURE_SECONDS
        if again:
            self.measured = now
        for _, checkpoint in live:
            if not measure:
                break
            if checkpoint.pid is not None and checkpoint.pid > 0 and (again or not checkpoint.measured):
                checkpoint.memory_mb = private_memory_mb(checkpoint.pid)
                checkpoint.measured = True
        live.sort(key=lambda pair: pair[1].used)
        total = sum(c.memory_mb for _, c in live)
        while live and (len(live) > self.count or total > self.memory_mb):
            session, checkpoint = live.pop(0)
            total -= checkpoint.memory_mb
            session.drop([checkpoint])

    def status(self) -> dict[str, Any]:
        live = self.live()
        return {"count": len(live), "memory_mb": round(sum(c.memory_mb for _, c in live), 1),
                "max_count": self.count, "max_memory_mb": self.memory_mb,
                "documents": len({id(s) for s, _ in live})}


def private_memory_mb(pid: int) -> float:
    """The memory only this process holds (proportional share of what it shares: Pss), from /proc."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class LastAnalysis:
    """What the last analysis of a document did (the server's `paramlens/status`)."""

    seconds: float = 0.0
    static_seconds: float = 0.0
    run_seconds: float = 0.0
    reparsed: int = 0          # statements parsed again
    recognised: int = 0        # statements recognised and instrumented again
    statements: int = 0        # statements of the file
    resumed_after_line: int | None = None  # the checkpoint the run continued from (None: from the start)
    statements_run: int = 0
    fallback: str | None = None  # why the run was done from the start although a checkpoint existed
    texts_computed: int | None = None  # tensor texts the run formatted (the others came from the carried ones)
    statements_compiled: int | None = None  # statements the run compiled (the others came compiled ahead by its
    # parked process: child._UnitRunner.compile_ahead)

    def to_json(self) -> dict[str, Any]:
        return {"seconds": round(self.seconds, 4), "static_seconds": round(self.static_seconds, 4),
                "run_seconds": round(self.run_seconds, 4), "reparsed": self.reparsed,
                "recognised": self.recognised, "statements": self.statements,
                "resumed_after_line": self.resumed_after_line, "statements_run": self.statements_run,
                "fallback": self.fallback, "texts_computed": self.texts_computed,
                "statements_compiled": self.statements_compiled}


class Session:
    """Not thread-safe: one document's analyses run one after the other (the server's analysis thread)."""

    def __init__(self, budget: Budget | None = None, checkpoints: bool = True) -> None:
        self.document: static.Document | None = None
        self.checkpoints: list[Checkpoint] = []
        self.lineage: str | None = None
        self.lineage_key: Any = None
        self.generation: int | None = None
        self.executor: Any = None
        self.keys: list[str] = []       # unit hashes of the last run
        self._unit_digests: dict[int, tuple[Unit, bytes]] = {}  # each unit's own digest (see _unit_keys)
        self.budget = budget
        self.use_checkpoints = checkpoints
        self.last = LastAnalysis()
        self.full_run_seconds: float | None = None
        # the first statement the last analysis found changed: the same again means the user is still typing in it
        self.editing: int | None = None
        self.texts: OrderedDict[str, str] = OrderedDict()  # tensor texts its runs computed (key -> text)
        # measured after the report (the language server): the memory of new checkpoints is read off the edit's path
        self.measure_later = False
        # the caller drops the analysis of a cancelled run (the language server: a newer version replaced it): once
        # the run comes back cancelled nothing more is built (the report of a long file: ~50–70 ms the newer
        # version's analysis would wait for on the same thread). The API's default keeps what the run observed
        self.drop_cancelled = False
        if budget is not None:
            budget.register(self)

    # -- the analysis --------------------------------------------------------------------------------------------
    def analyze(self, source: str, path: str, options: AnalysisOptions | None = None) -> FileReport:
        options = options or AnalysisOptions()
        started = time.perf_counter()
        self.last = LastAnalysis()
        locale = normalize_locale(options.locale)
        if analysis.runs_as_notebook(source, path):
            # a notebook's cells, as one program (analysis.analyze reads them, keeps cell positions): its static
            # part from the per-statement caches, its run continued from a checkpoint like a file's (Jupyter never
            # runs the cells above an edit again)
            report = _unless_dropped(path, lambda: analysis.analyze(source, path, options, incremental=self))
            self.last.seconds = time.perf_counter() - started
            return report
        try:
            document = static.update(self.document, source)
        except SourceSyntaxError as error:
            self.last.seconds = time.perf_counter() - started
            return analysis.syntax_error_report(error, path, locale)
        except static.Uncacheable:
            self.document = None
            return self._full(source, path, options, started)
        except Exception:  # noqa: BLE001 - a bug here must never cost the user an analysis
            LOG.warning("incremental parse failed; analysing %s whole", path, exc_info=True)
            self.document = None
            return self._full(source, path, options, started)
        self.document = document
        try:
            prepared = self._prepared(document, source, path, options, started)
            report = _unless_dropped(path, lambda: analysis._analyze_parsed(
                None, source, path, options, locale, recognise=options.probes, prepared=prepared,
                execute=self._execute))
        except Exception:  # noqa: BLE001 - as analysis.analyze: the full path handles internal errors its way
            LOG.warning("incremental analysis of %s failed; analysing it whole", path, exc_info=True)
            self.document = None
            self.forget()
            return self._full(source, path, options, started)
        self.last.seconds = time.perf_counter() - started
        return report

    def analyze_notebook(self, notebook: Any, path: str, options: AnalysisOptions | None = None) -> FileReport:
        """A notebook an editor sent cell by cell (the language server's notebook sync), run as `analyze` runs an
        .ipynb: its runs continue from this document's checkpoints."""
        options = options or AnalysisOptions()
        started = time.perf_counter()
        self.last = LastAnalysis()
        report = _unless_dropped(path, lambda: analysis.analyze_notebook(notebook, path, options, incremental=self))
        self.last.seconds = time.perf_counter() - started
        return report

    # -- the hooks analysis.analyze calls for a notebook -------------------------------------------------------------
    @property
    def execute(self) -> Any:
        return self._execute

    def prepare_program(self, source: str, path: str, program: Any,
                        options: AnalysisOptions) -> analysis.Prepared | None:
        """A notebook program's findings, units (each cell's last expression shown), torch decision and body from
        the per-statement caches; None when they cannot be used (the caller then does the static part whole)."""
        begun = time.perf_counter()
        try:
            document = static.update(self.document, source)
            prepared = self._prepared(document, source, path, options, begun,
                                      program.display_cells() if program is not None else None)
        except Exception:  # noqa: BLE001 - the whole static part is the fallback, never a lost analysis
            LOG.info("notebook program of %s not taken from the caches; analysing it whole", path, exc_info=True)
            self.document = None
            return None
        self.document = document
        return prepared

    def _prepared(self, document: static.Document, source: str, path: str, options: AnalysisOptions,
                  begun: float, cells: list[tuple[int, int]] | None = None) -> analysis.Prepared:
        """The static part of a file or notebook program from the per-statement caches: its findings, its units
        (examples after them), whether it uses torch, its body; what it reparsed and recognised goes in `last`."""
        findings, units, recognised = static.assemble(document, options.probes, cells)
        if options.execute and options.examples:
            units += example_units(static.examples(document, source, path, options.example), len(units), source)
        torch_used = static.torch_used(document, path) if options.execute else None
        self.last.reparsed, self.last.recognised = document.reparsed, recognised
        self.last.statements = len(document.chunks)
        self.last.static_seconds = time.perf_counter() - begun
        # the preload candidates only if the run needs them (_run): a run from a checkpoint never does
        return analysis.Prepared(findings, units, torch_used, static.body(document),
                                 static.namespace_writes(document), preload=False)

    def _full(self, source: str, path: str, options: AnalysisOptions, started: float) -> FileReport:
        report = analysis.analyze(source, path, options)
        self.last.seconds = time.perf_counter() - started
        self.last.fallback = self.last.fallback or "whole file"
        return report

    # -- the run -------------------------------------------------------------------------------------------------
    def _execute(self, path: str, units: list[Unit], options: AnalysisOptions, request: RunRequest) -> RunResult:
        begun = time.perf_counter()
        # the tensor texts this document's runs computed: with the same seed an edited file meets the same values
        # again, and formatting them is most of a probed statement's time (sandbox/summaries.tensor_text)
        request.texts = _latest_texts(self.texts)
        try:
            run = self._run(path, units, options, request)
        finally:
            self.last.run_seconds = time.perf_counter() - begun
        self.last.texts_computed = None
        own = run.own_events()
        done = next((e for e in reversed(own) if e.get("t") == Event.DONE), None)
        compiled = done.get("compiled") if done is not None else None
        self.last.statements_compiled = compiled if isinstance(compiled, int) else None
        for event in own:
            if event.get("t") == Event.TEXTS and isinstance(event.get("entries"), list):
                computed = event.get("computed")
                self.last.texts_computed = computed if isinstance(computed, int) else None
                for entry in event["entries"]:
                    if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
                        continue
                    key, text = entry
                    if isinstance(text, str):  # computed by that run
                        self.texts[key] = text
                    if key in self.texts:  # used by it: kept the longest
                        self.texts.move_to_end(key)
        while len(self.texts) > TEXTS_CARRIED:
            self.texts.popitem(last=False)
        if self.drop_cancelled and run.status == "cancelled":
            raise analysis.AnalysisCancelled(run.message or "")
        return run

    def _run(self, path: str, units: list[Unit], options: AnalysisOptions, request: RunRequest) -> RunResult:
        executor = options.executor or analysis.default_executor(options.python)
        # no checkpoints for a file that runs as its package's module: its statements run inside the import system
        # (sandbox/child._run_as_module), and the worker that keeps its package imported makes its runs fast
        if not self.use_checkpoints or not hasattr(executor, "notices") or request.device == "meta" or \
                request.python != getattr(executor, "python", None) or request.module is not None:
            self.forget()
            self.last.statements_run = len(units)
            if request.preload is None:  # left to the run (Prepared.preload): this one may use them
                if self.document is not None:
                    analysis.preload_facts(request, static.body(self.document), path)
                else:
                    request.preload = []
            return analysis._execute(path, units, options, request)
        # the checkpoints live in the file's own worker: a package the file imports (transformers) is imported
        # once by its first run and kept by the checkpoints after the imports, not by a preloading worker
        request.preload = []
        self._sync(executor)
        key = _lineage_key(request)
        if key != self.lineage_key:
            self.forget()
            self.lineage_key = key
        file_units = [u for u in units if u.example is None]
        keys = _unit_keys(file_units, self._unit_digests)
        self._drop_invalid(keys)
        first_changed = next((i for i, (a, b) in enumerate(zip(keys, self.keys)) if a != b),
                             min(len(keys), len(self.keys)))
        resume = max((c for c in self.checkpoints if c.confirmed and c.index < len(keys) and
                      keys[c.index] == c.key), key=lambda c: c.index, default=None)
        fence = next((u.index for u in file_units if _reads_datetime_clock(u.code)), None)
        run = None
        # still typing in the statement the last edit changed: the checkpoints a resumed run would take after it
        # would all be invalidated by the next keystroke (each a fork of the whole program, ~5–15 ms on the edit's
        # path); the one right before it is still taken. Once the edits move on, the regular spacing is back
        typing = first_changed == self.editing
        self.editing = first_changed
        if resume is not None:
            run = self._resume(resume, units, request, keys, first_changed, fence, spread=not typing)
        if run is None:
            run = self._fresh(units, request, keys, first_changed, fence)
        if run.over_budget is not None:
            # too big for the CPU: as analysis._execute does, the whole run again on the meta device
            self.forget()
            over = run.over_budget
            plain = replace(request, units=[u.to_json() for u in units], device="meta", checkpoints=None,
                            resume=None, deadline_seconds=None)
            run = analysis._run_once_more_on_fault(executor, plain)
            run.events.insert(0, {"t": Event.BUDGET, "params": over.get("params"), "budget": over.get("budget")})
            self.last.statements_run = len(units)
        self.keys = keys
        if self.budget is not None:
            self.budget.enforce(measure=not self.measure_later)
        return run

    def _fresh(self, units: list[Unit], request: RunRequest, keys: list[str], first_changed: int,
               fence: int | None) -> RunResult:
        executor = self.executor
        self._new_lineage()
        token = f"r{next(_COUNTER)}"
        at = [first_changed - 1] if first_changed > 0 else []
        file_statements = len(keys)
        spread = True
        if self.full_run_seconds is None and file_statements >= SPREAD_FROM_STATEMENTS:
            # the run's length is not known yet (the document was just opened): checkpoints at a few regular
            # points of the file instead of every FIRST_EVERY_SECONDS, so that the first edit of a long file,
            # wherever it is, resumes near it, and its first analysis is not slower than one without checkpoints
            # (each checkpoint forks the program, and the run then copies every page it writes: 13 of them cost a
            # 5,000-line file ~0.5 s of its ~6 s run; 4 of them cost ~0.1 s). Later runs take them by time
            at += [file_statements * k // (FIRST_RUN_SPREAD + 1) for k in range(1, FIRST_RUN_SPREAD + 1)]
            spread = False
        request.checkpoints = self._policy(token, sorted(set(at)), fence, spread)
        request.resume = None
        request.deadline_seconds = None
        self.last.resumed_after_line = None
        self.last.statements_run = len(units)
        run = executor.run(request)
        if run.fault == "worker":  # as analysis._run_once_more_on_fault: once more, on a fresh worker
            LOG.warning("the sandbox worker failed (%s); running the file once more on a fresh worker", run.message)
            self._sync(executor)
            self._new_lineage()
            request.checkpoints = self._policy(f"r{next(_COUNTER)}", [], fence)
            run = executor.run(request)
        # the run's checkpoints live in the worker that ran it (the executor starts one on its first run: without
        # this, _sync would take the new generation for a replaced worker and forget them)
        self.generation = getattr(executor, "generation", None)
        self._record(run, [], 0.0, keys, units, frozenset(key for key, _ in request.texts or ()))
        if run.status == "ok":
            self.full_run_seconds = run.seconds
        return _without_markers(run, [], 0.0)

    def _resume(self, checkpoint: Checkpoint, units: list[Unit], request: RunRequest, keys: list[str],
                first_changed: int, fence: int | None, spread: bool = True) -> RunResult | None:
        executor = self.executor
        token = f"r{next(_COUNTER)}"
        at = [first_changed - 1] if first_changed - 1 > checkpoint.index else []
        suffix = [u for u in units if u.index > checkpoint.index]
        loop_base = sum(len(u.loops) for u in units if u.index <= checkpoint.index and u.example is None)
        # the parked process keeps the texts earlier requests carried to it: the request (JSON the worker and the
        # parked process each decode before the run starts: ~30 ms for the 1 MB of a 5,000-line file) carries the rest
        texts = [entry for entry in request.texts or () if entry[0] not in checkpoint.texts]
        held = checkpoint.texts | {key for key, _ in texts}
        resumed = replace(request, units=[u.to_json() for u in suffix], texts=texts,
                          checkpoints=self._policy(token, at, fence, spread),
                          resume={"cid": checkpoint.cid, "index": checkpoint.index, "loop_base": loop_base},
                          deadline_seconds=max(0.05, request.limits.timeout_seconds - checkpoint.prefix_seconds))
        checkpoint.used = time.monotonic()
        run = executor.run(resumed)
        if run.fault == "checkpoint" or run.fault == "worker":
            self.last.fallback = "checkpoint gone" if run.fault == "checkpoint" else "worker failed"
            self.drop([checkpoint], tell=run.fault == "checkpoint")
            if run.fault == "worker":
                self._sync(executor)
            return None
        diverged = next((e for e in run.events if e.get("t") == DIVERGED_EVENT), None)
        if diverged is not None:
            self.last.fallback = f"diverged: {diverged.get('reason')}"
            LOG.info("resumed run diverged (%s); running the file from the start", diverged.get("reason"))
            return None
        if run.status == "cancelled":
            # the checkpoints it reached are still good; what it observed is dropped by the caller
            self._record(run, checkpoint.prefix_events, checkpoint.prefix_seconds, keys, units, held)
            return _without_markers(run, checkpoint.prefix_events, checkpoint.prefix_seconds)
        self._record(run, checkpoint.prefix_events, checkpoint.prefix_seconds, keys, units, held)
        self.last.resumed_after_line = checkpoint.line
        self.last.statements_run = len(suffix)
        if checkpoint.fold is None:
            checkpoint.fold = Fold.of(checkpoint.prefix_events)
        combined = _without_markers(run, checkpoint.prefix_events, checkpoint.prefix_seconds)
        combined.prefix_fold = checkpoint.fold
        return combined

    def _policy(self, token: str, at: list[int], fence: int | None, spread: bool = True) -> dict[str, Any]:
        """Checkpoints at the statements `at`, and (`spread`) every so many seconds of the run."""
        every = FIRST_EVERY_SECONDS if self.full_run_seconds is None else max(0.05, self.full_run_seconds / 6)
        if not spread:
            every = NEVER_SECONDS
        return {"lineage": self.lineage, "run": token, "at": [i for i in at if i >= 0], "every_seconds": every,
                "max": CHECKPOINTS_PER_RUN, "fence": fence}

    def _record(self, run: RunResult, prefix: list[dict], prefix_seconds: float, keys: list[str],
                units: list[Unit], texts: frozenset[str]) -> None:
        """Checkpoints the run took, with the events up to each (the prefix's reused, the run's after it) and the
        keys of the texts the requests carried to its process."""
        by_index = {u.index: u for u in units}
        kept: list[dict] = list(prefix)
        seconds = prefix_seconds
        now = time.monotonic()
        for event in run.events:
            kind = event.get("t")
            if kind == CHECKPOINT_EVENT:
                index = event.get("index")
                if "cid" in event and isinstance(index, int) and index < len(keys):
                    self.checkpoints.append(Checkpoint(str(event["cid"]), index, by_index[index].line, keys[index],
                                                       self.lineage or "", list(kept), seconds, now, now,
                                                       texts=texts))
                continue
            if kind == Event.STATEMENT:
                seconds += float(event.get("seconds") or 0.0)
            kept.append(event)
        self._sync(self.executor)

    def _new_lineage(self) -> None:
        if self.lineage is not None and self.executor is not None:
            self.executor.drop_lineage(self.lineage)
        self.checkpoints = []
        self.lineage = f"{uuid.uuid4().hex[:12]}"

    def _sync(self, executor: Any) -> None:
        """What the worker said about checkpoints (registered, lost), and a new worker (all of them gone)."""
        if executor is not self.executor or getattr(executor, "generation", None) != self.generation:
            if executor is self.executor and self.checkpoints:
                LOG.info("the sandbox worker was replaced; its checkpoints are gone")
            self.executor = executor
            self.generation = getattr(executor, "generation", None)
            self.checkpoints = []
            self.lineage = None
        for notice in executor.notices():
            _SHARED_NOTICES.setdefault(id(executor), []).append(notice)
        pending = _SHARED_NOTICES.get(id(executor), [])
        mine = {c.cid: c for c in self.checkpoints}
        rest, orphans = [], []
        for notice in pending:
            checkpoint = mine.get(str(notice.get("cid")))
            if checkpoint is not None and notice.get("lineage") == checkpoint.lineage:
                if notice.get("t") == "parked":
                    checkpoint.pid = int(notice.get("pid") or 0) or -1
                else:
                    self.checkpoints.remove(checkpoint)
            elif self.lineage is not None and notice.get("lineage") == self.lineage:
                if notice.get("t") == "parked":  # taken by a run whose event was lost (a kill): not kept
                    orphans.append(str(notice.get("cid")))
            else:
                rest.append(notice)  # another document's
        _SHARED_NOTICES[id(executor)] = rest[-500:]
        if orphans:
            executor.drop_checkpoints(orphans)

    def _drop_invalid(self, keys: list[str]) -> None:
        invalid = [c for c in self.checkpoints if c.index >= len(keys) or keys[c.index] != c.key]
        if invalid:
            self.drop(invalid)

    def drop(self, checkpoints: list[Checkpoint], tell: bool = True) -> None:
        self.checkpoints = [c for c in self.checkpoints if c not in checkpoints]
        if tell and self.executor is not None:
            self.executor.drop_checkpoints([c.cid for c in checkpoints])

    def forget(self) -> None:
        """Drop every checkpoint (the options that shape a run changed, or the document closed)."""
        if self.lineage is not None and self.executor is not None:
            self.executor.drop_lineage(self.lineage)
        self.checkpoints = []
        self.lineage = None

    def close(self) -> None:
        self.forget()
        if self.budget is not None:
            self.budget.unregister(self)

    def status(self) -> dict[str, Any]:
        return {"checkpoints": [{"after_line": c.line, "memory_mb": round(c.memory_mb, 1), "ready": c.confirmed}
                                for c in sorted(self.checkpoints, key=lambda c: c.index)],
                "last": self.last.to_json()}


_SHARED_NOTICES: dict[int, list[dict]] = {}  # notices for other documents' sessions, per executor


def _unless_dropped(path: str, analyse: Any) -> FileReport:
    """`analyse()`, or the report of a cancelled run when the session's caller drops those (drop_cancelled)."""
    try:
        return analyse()
    except analysis.AnalysisCancelled as cancelled:
        return analysis.cancelled_report(path, str(cancelled) or None)


def _lineage_key(request: RunRequest) -> tuple:
    payload = request.payload([])
    return (request.path, request.python, request.limits.timeout_seconds,
            *(json.dumps(payload.get(name), sort_keys=True) for name in
              ("seed", "memory_mb", "max_records", "device", "param_budget", "loop_iterations", "loop_seconds",
               "cpu_seconds")))


TEXTS_BYTES_CARRIED = 1_000_000  # a request carries at most about this much tensor text (a conv weight's is ~4 KB)


def _latest_texts(texts: "OrderedDict[str, str]") -> list[list[str]]:
    """The latest texts the document's runs used, at most TEXTS_CARRIED of them and about TEXTS_BYTES_CARRIED in
    all (the request is JSON the worker and the resumed process read before the run starts), oldest first."""
    carried: list[list[str]] = []
    size = 0
    for key, text in reversed(texts.items()):
        size += len(key) + len(text)
        if len(carried) >= TEXTS_CARRIED or size > TEXTS_BYTES_CARRIED:
            break
        carried.append([key, text])
    carried.reverse()
    return carried


def _unit_keys(units: list[Unit], digests: dict[int, tuple[Unit, bytes]]) -> list[str]:
    """Unit k's key covers units 0..k: a checkpoint after k is valid while it is unchanged. A unit is hashed by its
    dataclass repr (every field, in field order, strings quoted: as exact as its JSON, half the time: ~13 ms of a
    5,000-line file's edit went to sorted JSON). Units are never changed in place, and the static part hands back the
    same Unit for a statement it did not touch: its digest is kept in `digests` (by identity; replaced by this
    call's units), so an edit hashes the reprs of the units it changed (~10 ms of the 5,000-line file otherwise)."""
    keys = []
    running = hashlib.blake2b(digest_size=16)
    kept: dict[int, tuple[Unit, bytes]] = {}
    for unit in units:
        known = digests.get(id(unit))
        if known is None or known[0] is not unit:
            known = (unit, hashlib.blake2b(repr(unit).encode(), digest_size=16).digest())
        kept[id(unit)] = known
        running.update(known[1])
        keys.append(running.copy().hexdigest())
    digests.clear()
    digests.update(kept)
    return keys


def _without_markers(run: RunResult, prefix: list[dict], prefix_seconds: float) -> RunResult:
    """The run as a full run would have streamed it: the prefix's events, then this run's (no checkpoint
    events); the isolation layers are those the prefix's start event names."""
    events = list(prefix) + [e for e in run.events if e.get("t") != CHECKPOINT_EVENT]
    combined = replace(run, events=events, seconds=prefix_seconds + run.seconds, prefix_events=len(prefix))
    if prefix:
        start = next((e for e in prefix if e.get("t") == Event.START), None)
        if start is not None:
            layers = list(run.isolation)
            combined.isolation = layers + [layer for layer in start.get("isolation", []) if layer not in layers]
    return combined


__all__ = ["Budget", "Checkpoint", "LastAnalysis", "Session", "private_memory_mb"]

"""`paramlens serve`: the pygls LanguageServer. Handlers only read the cached snapshot or hand work to the
scheduler; everything else lives in `features.py` (LSP conversions), `scheduler.py` (when to analyse),
`policy.py` (what may run), `positions.py` (line maps kept from edits), `protocol.py` (document notifications),
`transport.py` (reading the stream) and `lifecycle.py` (start, exit, signals)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import replace
from typing import Any

import attrs
from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from paramlens import __version__
from paramlens.analysis import AnalysisOptions, analyze, analyze_notebook
from paramlens.config import ConfigError, load_config
from paramlens.explain.i18n import normalize_locale
from paramlens.incremental.debounce import Debounce
from paramlens.server.heap import Heap
from paramlens.incremental.session import Budget, Session
from paramlens.messages import t
from paramlens.report import FileReport
from paramlens.server import features, notebooks
from paramlens.server.lifecycle import in_daemon_thread, run_stdio, stop_everything
from paramlens.server.policy import Decision
from paramlens.server.policy import decide as policy_decide
from paramlens.server.positions import EditLog
from paramlens.server.protocol import ParamLensProtocol
from paramlens.server.scheduler import Scheduler
from paramlens.server.settings import ServerSettings, layered

log = logging.getLogger(__name__)
STATUS_NOTIFICATION = "paramlens/status"
REPORT_REQUEST = "paramlens/report"


def _make_executor() -> Any:
    """The warm, isolated worker when this platform has one; otherwise a fresh subprocess per run. The server owns
    it, so that it can stop it and remove its directories whenever the server ends."""
    from paramlens.sandbox.subprocess_executor import SubprocessExecutor

    try:
        from paramlens.sandbox.isolation import hardened_available
        from paramlens.sandbox.warm import WorkerExecutor

        if not hardened_available():
            return SubprocessExecutor()  # no seccomp/Landlock here: it says so in the report
        # meta is warmed on first use: cold start matters more; heavy packages a file imports are kept imported
        return WorkerExecutor(warm_meta=False, preload=True)
    except Exception:  # the worker cannot be set up on this machine: fall back to the portable executor
        log.exception("the warm worker is not available")
        return SubprocessExecutor()


def _replace_surrogates(text: str) -> tuple[str, tuple[int, int] | None]:
    """`text` with every lone surrogate (which no encoding can write, and an editor can send) replaced by U+FFFD,
    which keeps every position; and where the first one was (0-based line, UTF-16 column), if any."""
    try:
        text.encode("utf-8")
        return text, None
    except UnicodeEncodeError as error:
        first = error.start
    line = text.count("\n", 0, first)
    column = first - (text.rfind("\n", 0, first) + 1)
    before = text[first - column:first]
    column = sum(2 if ord(ch) > 0xFFFF else 1 for ch in before)
    cleaned = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    return cleaned, (line, column)


class ParamLensServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("paramlens", __version__, protocol_cls=ParamLensProtocol, notebook_document_sync=notebooks.SYNC)
        self.settings = ServerSettings()
        self.initialization_options: Any = None   # the two layers settings come from (settings.py)
        self.configuration: Any = None
        self.client_locale: str | None = None
        self.executor = None
        self.pull_diagnostics = False
        self.scheduler = Scheduler(self._analyse, self._on_result, self._cancel_running, self._on_error)
        self.first_run_done = False
        self.event_loop: asyncio.AbstractEventLoop | None = None
        self.edit_logs: dict[str, EditLog] = {}
        self.decisions: dict[str, Decision] = {}
        self.surrogates: dict[str, tuple[int, int]] = {}  # uri -> where the first lone surrogate is
        self.examples: dict[str, str] = {}  # uri -> the factory chosen in the editor to build as the example
        self._lines: dict[str, tuple[int | None, list[str]]] = {}
        self.published_cells: dict[str, set[str]] = {}  # notebook -> the cell URIs that were given diagnostics
        self.shutdown_received = False
        self._executor_lock = threading.Lock()
        # incremental analysis (paramlens/incremental/): one session per document (its static caches and
        # checkpoints, never shared), the bounds on every document's checkpoints, the adaptive debounce
        self.sessions: dict[str, Session] = {}
        self.debounces: dict[str, Debounce] = {}
        self.heap = Heap()  # what survives an analysis is frozen for the garbage collector (heap.py)
        self.budget = Budget(self.settings.checkpoints, self.settings.checkpoint_memory_mb)

    def ensure_executor(self) -> Any:
        """The server's one executor (made on first use, from whichever thread needs it first): never the
        process-wide default, which the server could not stop."""
        with self._executor_lock:
            if self.executor is None:
                self.executor = _make_executor()
            return self.executor

    def edit_log(self, uri: str) -> EditLog:
        return self.edit_logs.setdefault(uri, EditLog())

    def log_noise(self, message: str) -> None:
        """A client's mistake (bad framing, bad params, a closed document): a line in its log, never a popup."""
        try:
            self.log(lsp.MessageType.Warning, f"ParamLens ignored a message: {message}")
        except Exception:  # the client is gone
            pass

    def report_server_error(self, error: Exception, source: Any) -> None:
        """pygls' errors (a handler that raised, a message it could not read) go to the log, not to a popup."""
        self.log_noise(f"{type(error).__name__}: {error}")

    # -- helpers -------------------------------------------------------------------------------------------------
    @property
    def locale(self) -> str:
        return normalize_locale(self.settings.locale or self.client_locale)

    def _options(self, path: str) -> AnalysisOptions:
        """Defaults, then the project's `[tool.paramlens]`, then what the client set (paramlens/options.py)."""
        options = AnalysisOptions(locale=self.locale, executor=self.ensure_executor())
        try:
            project = load_config(path)
        except ConfigError as error:  # on the analysis thread: hand the message to the event loop
            if self.event_loop is not None:
                self.event_loop.call_soon_threadsafe(self.log, lsp.MessageType.Warning,
                                                     f"ignoring the ParamLens configuration: {error}")
        else:
            options = replace(options, rules=project.rules).with_values(project.options)
        return options.with_values(self.settings.analysis_values()).with_values({"locale": self.locale})

    def _analyse(self, uri: str, text: Any) -> Any:
        path = to_fs_path(uri) or uri
        decision = self.decisions.get(uri) or Decision(True, False)
        if isinstance(text, notebooks.NotebookInput):
            report = self._analyse_notebook(uri, path, text, decision)
            self.scheduler.later(self.heap.after_analysis)
            return report
        text, surrogate = _replace_surrogates(text)
        if surrogate is not None and uri not in self.surrogates and self.event_loop is not None:
            self.event_loop.call_soon_threadsafe(self.log, lsp.MessageType.Warning, f"{uri}: lone surrogates "
                                                 "replaced by U+FFFD for the analysis")
        if surrogate is None:
            self.surrogates.pop(uri, None)
        else:
            self.surrogates[uri] = surrogate
        options = self._options(path)
        if uri in self.examples:
            options = replace(options, example=self.examples[uri])
        if not decision.execute:
            options = replace(options, execute=False)
        session = self._session(uri)
        begun = time.perf_counter()
        if self.settings.incremental:
            report = session.analyze(text, path, options)
        else:
            session.forget()
            report = analyze(text, path, options)
        self.debounces.setdefault(uri, Debounce()).analysed(time.perf_counter() - begun,
                                                            cancelled=report.execution.status == "cancelled")
        if decision.reason and report.execution.status == "skipped" and options.execute is False and \
                self.settings.execute:
            report.execution.message = decision.reason
        return report

    def _session(self, uri: str) -> Session:
        """The document's incremental session, with the current settings' checkpoint bounds."""
        session = self.sessions.get(uri)
        if session is None:
            session = self.sessions[uri] = Session(self.budget)
            session.measure_later = True  # the budget measures new checkpoints after the report is published
            session.drop_cancelled = True  # the scheduler drops the report of a run it cancelled: none is built
        session.use_checkpoints = self.settings.incremental and self.settings.checkpoints > 0
        self.budget.count, self.budget.memory_mb = self.settings.checkpoints, self.settings.checkpoint_memory_mb
        return session

    def _after_analysis(self) -> None:
        """Work that must not delay a report: the checkpoints' memory (Budget.enforce reads each new parked
        process's smaps_rollup) and the garbage collector's bookkeeping (heap.py)."""
        try:
            self.budget.enforce()
        finally:
            self.heap.after_analysis()

    def _analyse_notebook(self, uri: str, path: str, given: notebooks.NotebookInput, decision: Decision) -> Any:
        """A notebook's cells as one program, with the outputs its saved file stored."""
        cleaned = tuple(replace(cell, text=_replace_surrogates(cell.text)[0]) for cell in given.cells)
        notebook = notebooks.to_notebook(replace(given, cells=cleaned), path)
        options = self._options(path)
        if not decision.execute:
            options = replace(options, execute=False)
        if self.settings.incremental:
            report = self._session(uri).analyze_notebook(notebook, path, options)
        else:
            report = analyze_notebook(notebook, path, options)
        if decision.reason and report.execution.status == "skipped" and options.execute is False and \
                self.settings.execute:
            report.execution.message = decision.reason
        return report

    def _cancel_running(self) -> None:
        cancel = getattr(self.executor, "cancel", None)
        if cancel is not None:
            cancel()

    def _on_error(self, uri: str, error: BaseException) -> None:
        self.log(lsp.MessageType.Error, f"ParamLens could not analyse {uri}: {type(error).__name__}: {error}")
        self.status("error")

    def log(self, kind: lsp.MessageType, message: str) -> None:
        self.window_log_message(lsp.LogMessageParams(type=kind, message=message))

    def status(self, state: str) -> None:
        isolation = getattr(self.executor, "isolation", None)
        self.protocol.notify(STATUS_NOTIFICATION, {"state": state, "execution": self.settings.execute,
                                                   "isolation": isolation or [],
                                                   "incremental": self.incremental_status()})

    def incremental_status(self) -> dict[str, Any]:
        """`incremental` in `paramlens/status`: the checkpoints over all documents (count, memory, bounds) and, per
        open document, what its last analysis did and the wait before the next one."""
        documents = []  # a list, not an object keyed by URI: clients turn objects into records (pygls: namedtuples)
        for uri, session in list(self.sessions.items()):
            debounce = self.debounces.get(uri)
            documents.append({"uri": uri, **session.status(), **(debounce.to_json() if debounce else {}),
                              "debounce_ms": round(self.debounce_seconds(uri) * 1000, 1)})
        return {"enabled": self.settings.incremental, "adaptive_debounce": self.settings.adaptive_debounce,
                "checkpoints": self.budget.status(), "documents": documents}

    def debounce_seconds(self, uri: str) -> float:
        maximum = self.settings.debounce_ms / 1000
        debounce = self.debounces.get(uri)
        if not self.settings.adaptive_debounce or debounce is None:
            return maximum
        return debounce.delay(maximum)

    def notebook_of(self, uri: str) -> str | None:
        """The (unquoted) URI of the open notebook a cell document belongs to, or None for any other document."""
        if not self._initialized():
            return None
        notebook = self.workspace.get_notebook_document(cell_uri=uri)
        return notebooks.key(notebook.uri) if notebook is not None else None

    def cell_view(self, cell_uri: str, notebook_uri: str) -> features.View | None:
        """The notebook's shown snapshot seen through one of its cells (its lines in the program, mapped by the
        edits made in the cell since the analysis)."""
        state = self.scheduler.documents.get(notebook_uri)
        cell_key = notebooks.key(cell_uri)
        document = self.workspace.text_documents.get(cell_key)
        if state is None or state.shown is None or document is None:
            return None
        snapshot = state.shown
        given, program = snapshot.text, getattr(snapshot.report.notebook, "program", None)
        number = given.number_of(cell_key) if isinstance(given, notebooks.NotebookInput) else None
        place = program.cell(number) if program is not None and number is not None else None
        if place is None:
            return None
        analysed = given.cells[number - 1]
        cached = self._lines.get(cell_key)
        if cached is None or cached[0] != document.version:
            cached = (document.version, document.source.split("\n"))
            self._lines[cell_key] = cached
        inner = self.edit_log(cell_key).map_for(analysed.version, analysed.text.count("\n") + 1, document.version or 0)
        return features.View(snapshot, cached[1], notebooks.CellLineMap(inner, place.start - 1, place.count))

    def view(self, uri: str) -> features.View | None:
        """The shown snapshot seen from the current text: the current lines are split once per version, the
        line map is kept from the edits (never a comparison of the two texts per request)."""
        notebook = self.notebook_of(uri)
        if notebook is not None:
            return self.cell_view(uri, notebook)
        state = self.scheduler.documents.get(uri)
        document = self.workspace.text_documents.get(uri) if self._initialized() else None
        if state is None or state.shown is None or document is None:
            return None
        cached = self._lines.get(uri)
        if cached is None or cached[0] != document.version:
            cached = (document.version, document.source.split("\n"))
            self._lines[uri] = cached
        snapshot = state.shown
        line_map = self.edit_log(uri).map_for(snapshot.version, snapshot.line_count, document.version or 0)
        return features.View(snapshot, cached[1], line_map)

    def _initialized(self) -> bool:
        try:
            self.workspace
            return True
        except RuntimeError:
            return False

    def workspace_folders(self) -> list[str]:
        paths = [to_fs_path(folder.uri) for folder in self.workspace.folders.values()]
        if self.workspace.root_uri:
            paths.append(to_fs_path(self.workspace.root_uri))
        return [path for path in paths if path]

    def schedule_notebook(self, uri: str, immediately: bool = False) -> None:
        """Analyse an open notebook: all its code cells, once, however many cells the edit touched."""
        given = notebooks.notebook_input(self.workspace, uri) if self._initialized() else None
        if given is None:
            return
        decision = policy_decide(uri, "python", self.settings.execute, self.settings.execute_outside_workspace,
                                 self.workspace_folders(), self.locale)
        self.decisions[given.uri] = decision
        delay = 0.0 if immediately else self.settings.debounce_ms / 1000
        self.scheduler.request(given.uri, given.version, given, delay)

    def schedule(self, uri: str, immediately: bool = False) -> None:
        """Analyse an open document (never one that was not opened: nothing is read from disk)."""
        if self._initialized() and notebooks.key(uri) in self.workspace.notebook_documents:
            self.schedule_notebook(uri, immediately)
            return
        document = self.workspace.text_documents.get(uri) if self._initialized() else None
        if document is None:
            return
        decision = policy_decide(uri, document.language_id, self.settings.execute,
                                 self.settings.execute_outside_workspace, self.workspace_folders(), self.locale)
        self.decisions[uri] = decision
        if not decision.analyse:
            return
        if not immediately:
            self.debounces.setdefault(uri, Debounce()).edited()
        delay = 0.0 if immediately else self.debounce_seconds(uri)
        self.scheduler.request(uri, document.version or 0, document.source, delay)

    def forget(self, uri: str) -> None:
        self.scheduler.forget(uri)
        for table in (self.edit_logs, self.decisions, self.surrogates, self._lines, self.published_cells,
                      self.debounces):
            table.pop(uri, None)
        session = self.sessions.pop(uri, None)
        if session is not None:  # its checkpoints go, on the analysis thread (never wait for a run here)
            self.scheduler.later(session.close)

    def _on_result(self, uri: str) -> None:
        state = self.scheduler.documents[uri]
        report = state.latest.report if state.latest else None
        if not self.first_run_done:
            self.first_run_done = True
        shown = [snapshot for snapshot in (state.good, state.latest) if snapshot is not None]
        if shown and isinstance(shown[0].text, notebooks.NotebookInput):
            oldest: dict[str, int] = {}
            for snapshot in shown:  # each cell keeps the edits made since the oldest shown version of that cell
                for cell in snapshot.text.cells:
                    oldest[cell.uri] = min(oldest.get(cell.uri, cell.version), cell.version)
            for cell_uri, version in oldest.items():
                self.edit_log(cell_uri).forget_before(version)
        elif shown:
            self.edit_log(uri).forget_before(min(snapshot.version for snapshot in shown))
        self.publish(uri)  # first: what the user waits for
        # then, on the analysis thread (never at the same time as a publish, which it would slow down by holding
        # the interpreter): the checkpoints' memory and the garbage collector's bookkeeping
        self.scheduler.later(self._after_analysis)
        self._announce(uri, report)
        if report is not None and report.explanations_pending:
            # the diagnostics are out; the explanations (hovers, inlay hints, code lenses) are built next, on the
            # analysis thread, and the client is asked to refresh what it shows from them once they are there. A
            # hover that comes first waits for them off the event loop (explained), building them if need be
            analysed = state.latest.version if state.latest else None
            self.scheduler.later(lambda: self._explain(report, uri, analysed))
        else:
            self.refresh_views()

    def _announce(self, uri: str, report: Any) -> None:
        """The status notification and the log line of a published analysis (how its run ended, what it skipped)."""
        self.status("ready" if self.settings.execute else "disabled")
        if report is None:
            return
        execution = report.execution
        message = f"{uri}: execution {execution.status}"
        if execution.message:
            message += f" ({execution.message})"
        for skipped in execution.skipped:
            message += f"\n  line {skipped.line}: not run, {skipped.reason}"
        self.log(lsp.MessageType.Log, message)

    def _explain(self, report: Any, uri: str, version: int | None) -> None:
        """Build a published report's explanations, unless the analysis of a newer version of its document waits
        for the analysis thread (its debounce is over): building them takes a long file ~0.2–0.4 s, which that
        analysis, and so the diagnostics the user waits for, would wait for at every pause in typing. The build stops
        then (asked every few explanations) and keeps nothing: the newer report's explanations are built after it,
        and a hover on the old one meanwhile builds them itself."""

        def superseded() -> bool:
            state = self.scheduler.documents.get(uri)
            return state is None or (version is not None and state.queued is not None and state.queued > version)

        try:
            # not waiting for a build a hover started (that one refreshes the views when it is done)
            if not report.complete(stop=superseded, wait=False):
                return
        except Exception as error:  # noqa: BLE001 - a bug in ParamLens: hovers then show nothing, said in the log
            log.warning("building the explanations failed (%s: %s)", type(error).__name__, error, exc_info=True)
        if self.event_loop is not None:
            self.event_loop.call_soon_threadsafe(self.refresh_views)

    async def explained(self, report: FileReport | None) -> None:
        """A report's explanations, built if they are not yet: on a thread of the event loop's pool, never on the
        loop itself (a long file's take ~0.1–0.4 s, and a loop building them answers no other request and reads no
        edit meanwhile). When the analysis thread is building them already, this waits for that build (the
        report's lock); when that build gives way to a newer analysis, this one builds them."""
        if report is not None and report.explanations_pending:
            await asyncio.get_running_loop().run_in_executor(None, report.complete)
            self.refresh_views()  # the inlay hints and code lenses shown before they were built come from them now

    def refresh_views(self) -> None:
        """Ask the client to request inlay hints and code lenses again (they come from the latest report)."""
        capabilities = self.client_capabilities.workspace
        if capabilities and capabilities.inlay_hint and capabilities.inlay_hint.refresh_support:
            self.workspace_inlay_hint_refresh(None)
        if capabilities and capabilities.code_lens and capabilities.code_lens.refresh_support:
            self.workspace_code_lens_refresh(None)

    def publish(self, uri: str) -> None:
        if self._initialized() and uri in self.workspace.notebook_documents:
            self.publish_cells(uri)
            return
        view = self.view(uri)
        if view is None:
            return
        if self.pull_diagnostics:
            capabilities = self.client_capabilities.workspace
            if capabilities and capabilities.diagnostics and capabilities.diagnostics.refresh_support:
                self.workspace_diagnostic_refresh(None)
            return
        document = self.workspace.text_documents.get(uri)
        self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
            uri=uri, diagnostics=self.diagnostics_of(view, uri), version=document.version if document else None))

    def publish_cells(self, notebook_uri: str) -> None:
        """Diagnostics per cell document (each cell its own URI), and an empty list for a cell that had some and no
        longer has, or is gone. Always pushed, even to a client that pulls diagnostics: vscode-languageclient pulls
        only for documents it opened itself or that have a tab, and a cell has neither (its tab is the notebook's)."""
        notebook = self.workspace.notebook_documents.get(notebook_uri)
        if notebook is None:
            return
        before = self.published_cells.get(notebook_uri, set())
        now = set()
        for cell in notebook.cells:
            view = self.cell_view(cell.document, notebook_uri)
            items = self.diagnostics_of(view, cell.document) if view is not None else []
            if items or notebooks.key(cell.document) in before:
                document = self.workspace.text_documents.get(notebooks.key(cell.document))
                self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
                    uri=cell.document, diagnostics=items, version=document.version if document else None))
            if items:
                now.add(notebooks.key(cell.document))
        for gone in before - {notebooks.key(cell.document) for cell in notebook.cells}:
            self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=gone, diagnostics=[]))
        self.published_cells[notebook_uri] = now

    def diagnostics_of(self, view: features.View, uri: str) -> list[lsp.Diagnostic]:
        items = features.diagnostics(view, uri, self.locale)
        where = self.surrogates.get(uri)
        if where is not None:  # said once, where it starts, not per character
            position = lsp.Position(*where)
            items.append(lsp.Diagnostic(
                range=lsp.Range(position, lsp.Position(where[0], where[1] + 1)), severity=lsp.DiagnosticSeverity.Information,
                source="paramlens", message=t(
                    self.locale, "This document contains characters that are not valid Unicode (lone surrogates, "
                                 "from here on); ParamLens analysed it with U+FFFD in their place.")))
        return items

    async def refresh_settings(self) -> bool:
        """Ask the client for the `paramlens` section. False when it cannot be asked or has nothing to say (no
        section): then the settings it pushed, if any, count."""
        capabilities = self.client_capabilities.workspace
        if not (capabilities and capabilities.configuration):
            return False
        try:
            values = await self.workspace_configuration_async(
                lsp.ConfigurationParams(items=[lsp.ConfigurationItem(section="paramlens")]))
        except Exception as error:
            self.log(lsp.MessageType.Warning, f"could not read settings: {error}")
            return False
        answer = values[0] if values else None
        if not answer:
            return False
        self.configuration = answer
        self.apply_settings()
        return True

    def apply_settings(self) -> None:
        warnings: list[str] = []
        self.settings = layered(self.initialization_options, self.configuration, warnings)
        for warning in warnings:
            self.log(lsp.MessageType.Warning, warning)


server = ParamLensServer()


@server.feature(lsp.INITIALIZE)
def on_initialize(ls: ParamLensServer, params: lsp.InitializeParams) -> None:
    ls.client_locale = params.locale
    ls.initialization_options = params.initialization_options
    ls.apply_settings()
    text_document = params.capabilities.text_document
    ls.pull_diagnostics = bool(text_document and text_document.diagnostic)


@server.feature(lsp.INITIALIZED)
async def on_initialized(ls: ParamLensServer, params: lsp.InitializedParams) -> None:
    ls.event_loop = asyncio.get_running_loop()
    await ls.refresh_settings()
    ls.status("starting")
    if ls.settings.execute:
        await _start_worker(ls)
    ls.status("ready" if ls.settings.execute else "disabled")


async def _start_worker(ls: ParamLensServer) -> None:
    """Start the warm torch worker in the background, with `$/progress` while it imports torch."""
    start = getattr(ls.ensure_executor(), "start", None)
    if start is None:
        return
    token = "paramlens/worker-start"
    window = ls.client_capabilities.window
    progress = bool(window and window.work_done_progress)
    if progress:
        try:
            await ls.work_done_progress.create_async(token)
            ls.work_done_progress.begin(token, lsp.WorkDoneProgressBegin(
                title=t(ls.locale, "ParamLens: starting the torch worker")))
        except Exception:
            progress = False
    try:
        await in_daemon_thread(start)
    except Exception as error:
        from paramlens.sandbox.subprocess_executor import SubprocessExecutor

        ls.log(lsp.MessageType.Warning, f"the torch worker did not start ({error}); using a fresh process per run")
        ls.executor = SubprocessExecutor()
    finally:
        if progress:
            ls.work_done_progress.end(token, lsp.WorkDoneProgressEnd())


@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: ParamLensServer, params: lsp.DidOpenTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri, immediately=True)


@server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: ParamLensServer, params: lsp.DidChangeTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: ParamLensServer, params: lsp.DidSaveTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri, immediately=True)


@server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: ParamLensServer, params: lsp.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.forget(uri)
    if not ls.pull_diagnostics:
        ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


@server.feature(lsp.NOTEBOOK_DOCUMENT_DID_OPEN)
def notebook_did_open(ls: ParamLensServer, params: lsp.DidOpenNotebookDocumentParams) -> None:
    ls.schedule_notebook(params.notebook_document.uri, immediately=True)


@server.feature(lsp.NOTEBOOK_DOCUMENT_DID_CHANGE)
def notebook_did_change(ls: ParamLensServer, params: lsp.DidChangeNotebookDocumentParams) -> None:
    ls.schedule_notebook(params.notebook_document.uri)


@server.feature(lsp.NOTEBOOK_DOCUMENT_DID_SAVE)
def notebook_did_save(ls: ParamLensServer, params: lsp.DidSaveNotebookDocumentParams) -> None:
    """Saved: the stored outputs on disk may have changed (PL921), so analyse again now."""
    ls.schedule_notebook(params.notebook_document.uri, immediately=True)


@server.feature(lsp.NOTEBOOK_DOCUMENT_DID_CLOSE)
def notebook_did_close(ls: ParamLensServer, params: lsp.DidCloseNotebookDocumentParams) -> None:
    uri = notebooks.key(params.notebook_document.uri)
    published = ls.published_cells.get(uri, set())
    ls.forget(uri)
    for cell in params.cell_text_documents:
        ls.forget(notebooks.key(cell.uri))
        if notebooks.key(cell.uri) in published:
            ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=cell.uri, diagnostics=[]))


@server.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def did_change_configuration(ls: ParamLensServer, params: lsp.DidChangeConfigurationParams) -> None:
    """Every setting applies live, in this process: the warm worker (and its imported torch) stays. Settings that
    change what an analysis produces re-analyse the open documents; inlay-hint kinds only refresh the hints."""
    before = ls.settings
    if not await ls.refresh_settings() and params.settings:
        ls.configuration = params.settings
        ls.apply_settings()
    after = ls.settings
    if after.execute and not before.execute:
        await _start_worker(ls)
    ls.status("ready" if after.execute else "disabled")
    if reanalysis_needed(before, after, ls):
        for uri in list(ls.scheduler.documents):
            ls.schedule(uri, immediately=True)
    elif after.inlay_hints != before.inlay_hints:
        capabilities = ls.client_capabilities.workspace
        if capabilities and capabilities.inlay_hint and capabilities.inlay_hint.refresh_support:
            ls.workspace_inlay_hint_refresh(None)


def reanalysis_needed(before: ServerSettings, after: ServerSettings, ls: ParamLensServer) -> bool:
    """Whether the reports must be made again: an analysis option, the locale (reports hold their text) or the
    execution policy changed."""
    keep = ("inlay_hints", "debounce_ms", "adaptive_debounce", "checkpoints", "checkpoint_memory_mb", "incremental")
    return attrs.evolve(before, **{k: getattr(after, k) for k in keep}) != after or \
        normalize_locale(before.locale or ls.client_locale) != normalize_locale(after.locale or ls.client_locale)


@server.feature(lsp.TEXT_DOCUMENT_HOVER)
async def hover(ls: ParamLensServer, params: lsp.HoverParams) -> lsp.Hover | None:
    view = ls.view(params.text_document.uri)
    await ls.explained(view.snapshot.report if view else None)
    return features.hover(view, params.position) if view else None


@server.feature(lsp.TEXT_DOCUMENT_DIAGNOSTIC,
                lsp.DiagnosticOptions(identifier="paramlens", inter_file_dependencies=False,
                                      workspace_diagnostics=False))
def pull_diagnostics(ls: ParamLensServer, params: lsp.DocumentDiagnosticParams) -> lsp.DocumentDiagnosticReport:
    if ls.notebook_of(params.text_document.uri) is not None:
        # a cell: its diagnostics are pushed (publish_cells), so that a client that also pulls shows them once
        return lsp.RelatedFullDocumentDiagnosticReport(items=[])
    view = ls.view(params.text_document.uri)
    items = ls.diagnostics_of(view, params.text_document.uri) if view else []
    return lsp.RelatedFullDocumentDiagnosticReport(items=items)


@server.feature(lsp.TEXT_DOCUMENT_INLAY_HINT, lsp.InlayHintOptions(resolve_provider=False))
async def inlay_hints(ls: ParamLensServer, params: lsp.InlayHintParams) -> list[lsp.InlayHint]:
    view = ls.view(params.text_document.uri)
    await ls.explained(view.snapshot.report if view else None)
    return features.inlay_hints(view, params.range, ls.settings.inlay_hints, ls.locale) if view else []


@server.feature(lsp.TEXT_DOCUMENT_CODE_ACTION,
                lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]))
def code_actions(ls: ParamLensServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
    view = ls.view(params.text_document.uri)
    return features.code_actions(view, params.text_document.uri, params.range, ls.locale) if view else []


@server.feature(lsp.TEXT_DOCUMENT_CODE_LENS, lsp.CodeLensOptions(resolve_provider=False))
async def code_lens(ls: ParamLensServer, params: lsp.CodeLensParams) -> list[lsp.CodeLens]:
    view = ls.view(params.text_document.uri)
    await ls.explained(view.snapshot.report if view else None)
    return features.code_lenses(view, ls.locale, params.text_document.uri) if view else []


@server.command(features.BUILD_EXAMPLE)
def build_example(ls, *arguments):  # type: ignore[no-untyped-def] # pygls passes the command's arguments
    """`paramlens.buildExample [uri, name]`: build the factory `name` as the document's example from now on
    (the code lens above each factory of a file)."""
    uri, name = (list(arguments or []) + [None, None])[:2]
    if not isinstance(uri, str) or not isinstance(name, str) or not name.isidentifier():
        ls.log_noise(f"{features.BUILD_EXAMPLE} needs [uri, factory name], got {arguments!r}")
        return
    ls.examples[uri] = name
    if uri in ls.scheduler.documents:
        ls.schedule(uri, immediately=True)


@server.command(features.CHOOSE_EXAMPLE)
async def choose_example(ls, *arguments):  # type: ignore[no-untyped-def]
    """`paramlens.chooseExample [uri]`: offer the file's factories (the first few, ranked) as a message with
    buttons (every client shows `window/showMessageRequest`); the chosen one is built from then on."""
    uri = (list(arguments or []) + [None])[0]
    view = ls.view(uri) if isinstance(uri, str) else None
    if view is None or not view.snapshot.report.factories:
        return
    names = [f.name for f in view.snapshot.report.factories if not f.built][:features.CHOICES]
    answer = await ls.window_show_message_request_async(lsp.ShowMessageRequestParams(
        type=lsp.MessageType.Info, message=t(ls.locale, "Build which factory as the example?"),
        actions=[lsp.MessageActionItem(title=name) for name in names]))
    if answer is not None and answer.title in names:
        build_example(ls, uri, answer.title)


@server.feature(REPORT_REQUEST)
async def report_request(ls: ParamLensServer, params: Any) -> dict | None:
    """`paramlens/report {textDocument: {uri}}` -> `{version, report}`: the JSON of the last analysed version (the
    same as one entry of `paramlens check --format json`), or null before the first analysis. For editor plugins
    that show more than hovers, and for the tests that check what the analysis was given."""
    document = getattr(params, "text_document", None) or getattr(params, "textDocument", None)
    uri = getattr(document, "uri", None)
    if isinstance(uri, str):  # a notebook, or one of its cells: the notebook's report
        uri = ls.notebook_of(uri) or (notebooks.key(uri) if ls._initialized() and notebooks.key(uri) in
                                      ls.workspace.notebook_documents else uri)
    state = ls.scheduler.documents.get(uri) if isinstance(uri, str) else None
    snapshot = state.latest if state is not None else None
    if snapshot is None:
        return None
    await ls.explained(snapshot.report)
    return {"version": snapshot.version, "report": snapshot.report.to_json()}


@server.feature(lsp.SHUTDOWN)
def on_shutdown(ls: ParamLensServer, params: Any) -> None:
    """Stop the run in progress and the worker (bounded: a stopped worker is killed, not waited for)."""
    ls.shutdown_received = True
    stop_everything(ls)


@server.feature(lsp.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
def did_change_workspace_folders(ls: ParamLensServer, params: lsp.DidChangeWorkspaceFoldersParams) -> None:
    """The execution policy depends on the folders: decide again for the open documents."""
    for uri in list(ls.scheduler.documents):
        ls.schedule(uri, immediately=True)


def main(tcp: bool = False, host: str = "127.0.0.1", port: int = 2087) -> int:
    logging.basicConfig(level=logging.WARNING)
    # pygls logs a traceback on stderr for every message it cannot read; we answer and log those ourselves
    logging.getLogger("pygls").setLevel(logging.CRITICAL)
    if tcp:
        server.start_tcp(host, port)
        return 0
    return run_stdio(server)

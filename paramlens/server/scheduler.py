"""When to analyse: debounce edits, run one analysis at a time off the event loop, cancel or drop stale runs.

The event loop never waits for torch: `analyze` runs on a single worker thread (the sandbox executes one program at
a time anyway). When a newer version of the document that is being analysed arrives, the running child is killed
through the executor's `cancel()` (when it has one) and its result is dropped; a finished result for an older
version is kept only if nothing newer has been analysed yet, so hovers never go backwards.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from paramlens.report import FileReport
from paramlens.server.features import Snapshot

log = logging.getLogger(__name__)

Analyse = Callable[[str, str], FileReport]  # (uri, text) -> report


@dataclass
class DocumentState:
    uri: str
    version: int = -1
    pending: asyncio.Task | None = None
    latest: Snapshot | None = None   # the newest analysed version, whatever its outcome
    good: Snapshot | None = None     # the newest analysed version that parsed
    cancelled: set[int] = field(default_factory=set)
    # the newest version whose analysis waits for the analysis thread (its debounce is over): the explanations of an
    # older report being built there give way to it (server._explain)
    queued: int | None = None

    @property
    def shown(self) -> Snapshot | None:
        """What hovers and diagnostics use: the last version that parsed (typing leaves syntax errors behind)."""
        return self.good or self.latest


def parsed(report: FileReport) -> bool:
    return not any(d.code == "PL000" for d in report.diagnostics)


class Scheduler:
    def __init__(self, analyse: Analyse, on_result: Callable[[str], None],
                 cancel_running: Callable[[], None] | None = None,
                 on_error: Callable[[str, BaseException], None] | None = None) -> None:
        self._analyse = analyse
        self._on_result = on_result
        self._cancel_running = cancel_running
        self._on_error = on_error
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="paramlens-analysis")
        self._running: tuple[str, int] | None = None
        self._idle = threading.Event()
        self._idle.set()
        self.documents: dict[str, DocumentState] = {}
        self.runs = 0

    def state(self, uri: str) -> DocumentState:
        return self.documents.setdefault(uri, DocumentState(uri))

    def request(self, uri: str, version: int, text: str, delay_seconds: float) -> None:
        state = self.state(uri)
        state.version = version
        if state.pending is not None and not state.pending.done():
            state.pending.cancel()
        running = self._running
        if running is not None and running[0] == uri and running[1] < version and self._cancel_running:
            state.cancelled.add(running[1])
            self._cancel_running()
        state.pending = asyncio.ensure_future(self._run_later(state, version, text, delay_seconds))

    def forget(self, uri: str) -> None:
        state = self.documents.pop(uri, None)
        if state and state.pending is not None:
            state.pending.cancel()

    async def _run_later(self, state: DocumentState, version: int, text: str, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        if state.version != version:
            return
        loop = asyncio.get_running_loop()
        state.queued = version
        try:
            report = await loop.run_in_executor(self._pool, self._guarded, state.uri, version, text)
        except asyncio.CancelledError:
            return
        except Exception as error:  # an internal failure: log it, keep the last results, never publish it
            log.exception("analysis failed")
            if self._on_error:
                self._on_error(state.uri, error)
            return
        if version in state.cancelled:
            state.cancelled.discard(version)
            return
        if state.latest is not None and state.latest.version > version:
            return
        snapshot = Snapshot(version, text, report)
        state.latest = snapshot
        if parsed(report):
            state.good = snapshot
        self.runs += 1
        if self.documents.get(state.uri) is state:
            self._on_result(state.uri)

    def _guarded(self, uri: str, version: int, text: str) -> FileReport:
        self._running = (uri, version)
        self._idle.clear()
        try:
            return self._analyse(uri, text)
        finally:
            self._running = None
            self._idle.set()

    def later(self, work: Callable[[], object]) -> None:
        """Run `work` on the analysis thread, after the analysis in progress (it may wait for the sandbox)."""
        try:
            self._pool.submit(work)
        except RuntimeError:  # shut down
            pass

    def shutdown(self) -> None:
        for state in self.documents.values():
            if state.pending is not None:
                state.pending.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def wait_idle(self, timeout: float) -> bool:
        """Wait (up to `timeout`) until no analysis is running; whether none is."""
        return self._idle.wait(timeout)

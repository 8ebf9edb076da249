"""How `paramlens serve` starts and ends over stdio, whatever the client does.

It ends when stdin closes, on `exit`, or on SIGTERM/SIGINT; each time, within about a second: the run in progress is
cancelled, the sandbox worker is stopped (or killed, when it does not answer: a stopped worker is never waited
for), its temporary directory removed, and the process exits without waiting for the analysis thread. Exit status:
0 after `shutdown`, 1 otherwise (LSP: `exit` without `shutdown` is 1; so is a client that vanished), 143 on
SIGTERM, 1 when the stream could not be read any more (logged first, so the client restarts the server).

While it runs, workers that die between runs (killed from outside) are reaped every REAP_SECONDS: no zombie waits
for the next run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import time
from typing import Any

from lsprotocol import types as lsp
from pygls.io_ import StdoutWriter

from paramlens.server import transport

log = logging.getLogger(__name__)
STOP_SECONDS = 0.8     # how long a stop waits for the worker and the analysis thread before killing
REAP_SECONDS = 0.5


def stop_everything(ls: Any, wait: float = STOP_SECONDS) -> None:
    """Cancel the run, stop the worker (kill it if it does not stop within `wait`), remove its directories."""
    deadline = time.monotonic() + wait
    ls.scheduler.shutdown()
    executor = ls.executor
    if executor is None:
        return
    cancel = getattr(executor, "cancel", None)
    if cancel is not None:
        cancel()
    close = getattr(executor, "close", None)
    if close is not None:
        closing = threading.Thread(target=close, name="paramlens-close", daemon=True)
        closing.start()
        closing.join(max(0.0, deadline - time.monotonic()))
        if closing.is_alive():
            abandon = getattr(executor, "abandon", None)
            if abandon is not None:
                abandon()
    ls.scheduler.wait_idle(max(0.05, deadline - time.monotonic()))


def in_daemon_thread(function: Any) -> "asyncio.Future[Any]":
    """Run a blocking call (starting the worker, reaping it) on a daemon thread: unlike the loop's default
    executor, nothing waits for it when the server exits (a start blocked behind a run would hold the exit)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(setter: Any, value: Any) -> None:
        if not future.done():
            setter(value)

    def target() -> None:
        try:
            result = function()
        except BaseException as error:  # handed to the awaiting coroutine
            try:
                loop.call_soon_threadsafe(settle, future.set_exception, error)
            except RuntimeError:  # the loop is closed: the server is exiting
                pass
        else:
            try:
                loop.call_soon_threadsafe(settle, future.set_result, result)
            except RuntimeError:
                pass

    threading.Thread(target=target, name="paramlens-blocking", daemon=True).start()
    return future


async def _reap(ls: Any) -> None:
    while True:
        await asyncio.sleep(REAP_SECONDS)
        reap = getattr(ls.executor, "reap", None)
        if reap is not None:
            try:
                await in_daemon_thread(reap)
            except Exception:
                log.debug("reaping workers failed", exc_info=True)


async def _serve(ls: Any) -> int:
    loop = asyncio.get_running_loop()
    ls.event_loop = loop
    signalled: asyncio.Future[int] = loop.create_future()
    for number in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(number, lambda n=number: signalled.done() or signalled.set_result(128 + n))
        except (NotImplementedError, RuntimeError):  # not on this platform
            pass
    reader = transport.StreamReader(sys.stdin.fileno(), loop)
    reading = asyncio.ensure_future(transport.serve(reader, ls.protocol, ls.log_noise))
    reaping = asyncio.ensure_future(_reap(ls))
    try:
        done, _ = await asyncio.wait({reading, signalled}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        reaping.cancel()
        # the handlers still pending are cancelled when the loop ends; pygls' callbacks then log each as an
        # "exception in callback" with a traceback: nothing a user should read on the way out
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    if signalled in done:
        reading.cancel()
        return signalled.result()
    if not reading.result():
        ls.log(lsp.MessageType.Error, "ParamLens cannot read the messages any more (see the lines above); exiting so "
                                      "that the client starts it again")
        return 1
    return 0 if ls.shutdown_received else 1


def run_stdio(ls: Any) -> int:
    """Serve LSP on stdin/stdout until the end; never returns normally (os._exit: no thread holds the exit)."""
    ls.protocol.set_writer(StdoutWriter(sys.stdout.buffer))
    try:
        code = asyncio.run(_serve(ls))
    except SystemExit as exit_:  # the `exit` notification: pygls decided 0 or 1 from `shutdown`
        code = exit_.code if isinstance(exit_.code, int) else 1
    except KeyboardInterrupt:
        code = 130
    stop_everything(ls)
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    logging.shutdown()
    os._exit(code)

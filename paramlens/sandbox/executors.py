"""Which executor runs the user's code: the safest this machine supports, one per interpreter for the life of the
analysing process."""

from __future__ import annotations

import sys
import threading

from paramlens.sandbox.protocol import Executor

_DEFAULTS: dict[str, Executor] = {}
_DEFAULTS_LOCK = threading.Lock()


def default_executor(python: str | None = None) -> Executor:
    """The safest executor this machine supports, one per interpreter for the life of the process: the warm
    worker when Landlock and seccomp can both be applied, otherwise a fresh subprocess per run (which still
    applies every layer it can and reports which)."""
    key = python or sys.executable
    with _DEFAULTS_LOCK:
        executor = _DEFAULTS.get(key)
        if executor is None:
            from paramlens.sandbox.isolation import hardened_available

            if hardened_available():
                from paramlens.sandbox.warm import WorkerExecutor

                executor = WorkerExecutor(python=key)
                import atexit

                atexit.register(executor.close)
            else:
                from paramlens.sandbox.subprocess_executor import SubprocessExecutor

                executor = SubprocessExecutor()
            _DEFAULTS[key] = executor
        return executor


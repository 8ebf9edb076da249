"""Runs the instrumented slice away from the analysing process and brings back what the probes observed.

The boundary is `Executor.run(RunRequest) -> RunResult` (see `runner.py`): the analysis only builds a request and
reads JSON events back, so a hardened, warm worker can replace the subprocess executor without touching the rest.
Only `child.py` and `runtime.py` ever execute inside the sandboxed process; they import torch, nothing else of
ParamLens' heavy dependencies.
"""

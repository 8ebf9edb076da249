"""Runs the user's program away from the analysing process and brings back what the probes observed.

The boundary is `Executor.run(RunRequest) -> RunResult` (protocol.py, which also names every probe and event
kind): the analysis only builds a request and reads JSON events back. Parent side: executors.py (which executor),
warm.py (the warm forking worker's client), subprocess_executor.py (a fresh interpreter per run), watchdog.py
(limits, the capped event reader, how a run ended). Sandboxed side: worker.py (forks), child.py (isolates itself,
runs the statements), probes.py and runtime.py (observations), loops.py (the loop budget), gradients.py (what a
backward pass did), guards.py and isolation.py. Only the sandboxed side imports torch.
"""

"""Sandbox overhead: what running a file in the sandbox costs beyond the code's own run time.

Measures, in one run on this machine:
  1. the same instrumented run of examples/parameter_management.py through the warm worker (a forked, isolated
     child) and through a fresh interpreter per run (SubprocessExecutor): overhead = wall time of
     `executor.run` minus the child's own time executing the units (`execute_seconds` in the `done` event);
  2. the seed example end to end (`analyze`), warm, and cold (`paramlens check` in a fresh process);
  3. GPT-2-sized and LLaMA-7B-sized definitions through `paramlens check` (auto device policy: meta), with
     the wall time and the peak memory of the whole process tree (sampled every 10 ms from /proc).
Prints a table and writes benchmarks/results/sandbox_overhead.json.

    .venv/bin/python benchmarks/sandbox_overhead.py [--repeat 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from paramlens.analysis import AnalysisOptions, analyze  # noqa: E402
from paramlens.analyzers.instrument import instrument  # noqa: E402
from paramlens.analyzers.source import parse_source  # noqa: E402
from paramlens.analyzers.walker import recognize_all  # noqa: E402
from paramlens.sandbox.protocol import RunRequest  # noqa: E402
from paramlens.sandbox.subprocess_executor import SubprocessExecutor  # noqa: E402
from paramlens.sandbox.warm import WorkerExecutor  # noqa: E402

SEED = ROOT / "examples" / "parameter_management.py"
LLAMA = ROOT / "examples" / "llama_shaped.py"
GPT2 = '''import torch
from torch import nn


def block(width):
    return nn.ModuleDict({"ln_1": nn.LayerNorm(width), "attn": nn.Linear(width, 3 * width),
                          "proj": nn.Linear(width, width), "ln_2": nn.LayerNorm(width),
                          "fc": nn.Linear(width, 4 * width), "out": nn.Linear(4 * width, width)})


model = nn.ModuleDict({"wte": nn.Embedding(50257, 768), "wpe": nn.Embedding(1024, 768),
                       "h": nn.ModuleList(block(768) for _ in range(12)), "ln_f": nn.LayerNorm(768)})
model["lm_head"] = nn.Linear(768, 50257, bias=False)
model["lm_head"].weight = model["wte"].weight
'''


def seed_request() -> RunRequest:
    source = SEED.read_text()
    parsed = parse_source(source)
    units = instrument(parsed, recognize_all(parsed))
    return RunRequest(path=str(SEED), units=[u.to_json() for u in units])


def overhead(executor, repeat: int) -> dict:
    walls, overheads = [], []
    for _ in range(repeat):
        request = seed_request()
        started = time.perf_counter()
        result = executor.run(request)
        wall = time.perf_counter() - started
        done = next(e for e in result.events if e.get("t") == "done")
        walls.append(wall)
        overheads.append(wall - done["execute_seconds"])
    return {"wall_ms": 1000 * statistics.median(walls), "overhead_ms": 1000 * statistics.median(overheads),
            "overhead_min_ms": 1000 * min(overheads), "runs": repeat}


def tree_peak_rss(process: subprocess.Popen) -> tuple[int, threading.Thread]:
    """Peak of the summed RSS of `process` and its descendants (bytes), sampled until it exits."""
    peak = [0]

    def descendants(pid: int) -> list[int]:
        found = [pid]
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as children:
                    for child in children.read().split():
                        found.extend(descendants(int(child)))
        except OSError:
            pass
        return found

    def sample() -> None:
        while process.poll() is None:
            total = 0
            for pid in descendants(process.pid):
                try:
                    with open(f"/proc/{pid}/statm") as statm:
                        total += int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
                except OSError:
                    pass
            peak[0] = max(peak[0], total)
            time.sleep(0.01)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    return peak, thread


def cli(path: Path) -> dict:
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "paramlens", "check", str(path), "--format", "json"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, sampler = tree_peak_rss(process)
    out, _ = process.communicate(timeout=300)
    sampler.join()
    data = json.loads(out)["files"][0]
    return {"seconds": time.perf_counter() - started, "peak_tree_mb": peak[0] / 2**20,
            "device": data["execution"]["device"], "status": data["execution"]["status"],
            "params": [m["param_count"] for m in data["modules"]]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    results: dict = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                 "kernel": platform.release()}}
    warm = WorkerExecutor()
    started = time.perf_counter()
    warm.start()
    results["worker_start_s"] = time.perf_counter() - started
    overhead(warm, 2)  # first runs touch pages once
    results["warm_run"] = overhead(warm, args.repeat)
    results["fresh_interpreter_run"] = overhead(SubprocessExecutor(), max(3, args.repeat // 3))
    seed_source = SEED.read_text()
    times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        analyze(seed_source, str(SEED), AnalysisOptions(executor=warm))
        times.append(time.perf_counter() - started)
    results["seed_end_to_end_warm_s"] = statistics.median(times)
    results["seed_end_to_end_cold_cli"] = cli(SEED)
    warm.close()
    with tempfile.TemporaryDirectory() as directory:
        gpt2 = Path(directory) / "gpt2_shaped.py"
        gpt2.write_text(GPT2)
        results["gpt2_cli"] = cli(gpt2)
    results["llama_cli"] = cli(LLAMA)

    rows = [
        ("worker start (import torch once)", f"{results['worker_start_s']:.2f} s"),
        ("seed run, warm worker: wall / sandbox overhead",
         f"{results['warm_run']['wall_ms']:.0f} ms / {results['warm_run']['overhead_ms']:.1f} ms"),
        ("seed run, fresh interpreter: wall / overhead",
         f"{results['fresh_interpreter_run']['wall_ms']:.0f} ms / "
         f"{results['fresh_interpreter_run']['overhead_ms']:.0f} ms"),
        ("seed analyze() end to end, warm", f"{results['seed_end_to_end_warm_s'] * 1000:.0f} ms"),
        ("seed `paramlens check`, cold",
         f"{results['seed_end_to_end_cold_cli']['seconds']:.2f} s, peak {results['seed_end_to_end_cold_cli']['peak_tree_mb']:.0f} MB"),
        ("GPT-2-sized `paramlens check`",
         f"{results['gpt2_cli']['seconds']:.2f} s, peak {results['gpt2_cli']['peak_tree_mb']:.0f} MB, "
         f"{results['gpt2_cli']['device']}, {results['gpt2_cli']['params']}"),
        ("LLaMA-7B-sized `paramlens check`",
         f"{results['llama_cli']['seconds']:.2f} s, peak {results['llama_cli']['peak_tree_mb']:.0f} MB, "
         f"{results['llama_cli']['device']}, {results['llama_cli']['params']}"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    out = ROOT / "benchmarks" / "results" / "sandbox_overhead.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

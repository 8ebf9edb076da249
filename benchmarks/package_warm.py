"""Re-analysis of a package's model file after an edit, as the language server does it (issue 13): `analyze()`
with one warm `WorkerExecutor`, the file edited between runs. ParamLens with `preload=True` (the server's
executor: a second worker keeps the file's installed packages imported) against the baselines in the same run:
the same executor without it (every run imports transformers again in its fresh child), a cold
`paramlens check` (a new process), and `python -c "import <the module>"` (the floor of any cold run).

    .venv/bin/python benchmarks/package_warm.py [--file transformers/models/bert/modeling_bert.py] [--runs 5]
                                                [--out benchmarks/results/package_warm.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from paramlens.analysis import AnalysisOptions, analyze
from paramlens.sandbox.warm import WorkerExecutor

ROOT = Path(__file__).resolve().parent.parent
PRELOAD_WAIT_SECONDS = 120.0


def wait_for_preload(executor: WorkerExecutor) -> float:
    """Seconds until the preloading worker is ready (the user reads the first results meanwhile)."""
    started = time.perf_counter()
    while time.perf_counter() - started < PRELOAD_WAIT_SECONDS:
        with executor._state_lock:
            if executor._preloaded or (executor._preload_refused and not executor._preload_starting):
                break
        time.sleep(0.1)
    return time.perf_counter() - started


def measure(path: Path, runs: int, preload: bool) -> dict:
    source = path.read_text(encoding="utf-8")
    executor = WorkerExecutor(preload=preload)
    samples: list[dict] = []
    waited = None
    try:
        for run in range(runs):
            if run == 1 and preload:
                waited = wait_for_preload(executor)
            started = time.perf_counter()
            report = analyze(source + f"\n# edit {run}\n", str(path), AnalysisOptions(executor=executor, locale="en"))
            execution = report.execution
            samples.append({"seconds": time.perf_counter() - started, "run_seconds": execution.seconds,
                            "status": execution.status, "device": execution.device,
                            "modules": len(report.modules),
                            "errors": sum(1 for d in report.diagnostics if d.severity == "error")})
            print(f"{'preload' if preload else 'baseline':8} run {run}: {samples[-1]['seconds']:.2f} s "
                  f"(sandboxed run {execution.seconds:.2f} s, {execution.status}, {execution.device}, "
                  f"{len(report.modules)} modules)", flush=True)
        preloaded = bool(executor._preloaded)
    finally:
        executor.close()
    return {"samples": samples, "preload_ready_after_s": waited, "preloaded_worker": preloaded}


def timed(command: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--file", default="transformers/models/bert/modeling_bert.py")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cold-runs", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "package_warm.json"))
    args = parser.parse_args()
    package = args.file.split("/")[0]
    spec = importlib.util.find_spec(package)
    if spec is None:
        sys.exit(f"{package} is not installed in this interpreter")
    path = Path(list(spec.submodule_search_locations)[0]).parent / args.file
    module = args.file.removesuffix(".py").replace("/", ".")
    results: dict = {"file": args.file}
    results["import_floor"] = timed([sys.executable, "-c", f"import {module}"], args.cold_runs)
    results["cold_check"] = timed([sys.executable, "-m", "paramlens", "check", "--format", "json", str(path)],
                                  args.cold_runs)
    print(f"python -c 'import {module}': {min(results['import_floor']):.2f} s; "
          f"cold paramlens check: {min(results['cold_check']):.2f} s", flush=True)
    results["baseline"] = measure(path, args.runs, False)
    results["preload"] = measure(path, args.runs, True)
    print(f"\n{args.file}: cold `paramlens check` {statistics.median(results['cold_check']):.2f} s (median), "
          f"`import {module}` {statistics.median(results['import_floor']):.2f} s")
    print("\n| executor | first run s | edit→report after the first run: median s (min–max) "
          "| sandboxed run: median s |\n|---|---|---|---|")
    for name in ("baseline", "preload"):
        samples = results[name]["samples"]
        later = [s["seconds"] for s in samples[1:]]
        print(f"| {name} | {samples[0]['seconds']:.2f} | {statistics.median(later):.2f} "
              f"({min(later):.2f}–{max(later):.2f}) | "
              f"{statistics.median(s['run_seconds'] for s in samples[1:]):.2f} |")
    if results["preload"]["preload_ready_after_s"] is not None:
        print(f"\npreloading worker ready {results['preload']['preload_ready_after_s']:.1f} s after the first run")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()

"""ParamLens on the model files of real packages, analysed in place (issue 13): transformers' `models/`, timm's
`models/` and torchvision's `models/` folders, as installed in the interpreter that runs this script. Per file:
did ParamLens crash, did it report an error on unmodified package code (a false error), did it build a model,
and when it built nothing, did it say why (`execution.nothing_built`); the wall time of `analyze()` with a warm
worker (as the language server runs it). The baseline, in the same run on the same file: a plain `python -c
"import <module>"`, which is what importing the file costs without ParamLens.

    .venv/bin/python benchmarks/package_models.py [--packages transformers,timm,torchvision] [--sample N]
                                                  [--seed 0] [--timeout 120] [--out FILE]

`--sample N` takes N files per package (a seeded random choice, the same every run); without it every file of
the folders is analysed (transformers alone has ~2,600: hours on 2 cores). A package that does not import in
this interpreter is listed as such and skipped.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from paramlens.analysis import AnalysisOptions, analyze
from paramlens.sandbox.warm import WorkerExecutor

ROOT = Path(__file__).resolve().parent.parent


def package_files(package: str) -> tuple[list[Path], str | None]:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return [], f"{package} is not installed"
    completed = subprocess.run([sys.executable, "-c", f"import {package}"], capture_output=True, text=True,
                               timeout=600)
    if completed.returncode != 0:
        return [], f"{package} does not import here: {(completed.stderr.strip().splitlines() or ['?'])[-1]}"
    models = Path(list(spec.submodule_search_locations)[0]) / "models"
    return sorted(p for p in models.rglob("*.py") if "__pycache__" not in p.parts), None


def module_of(package: str, path: Path) -> str:
    base = Path(importlib.util.find_spec(package).submodule_search_locations[0]).parent
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def baseline_import(module: str, timeout: float) -> float | None:
    started = time.perf_counter()
    try:
        completed = subprocess.run([sys.executable, "-c", f"import torch\nimport {module}"], capture_output=True,
                                   timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    return time.perf_counter() - started if completed.returncode == 0 else None


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--packages", default="transformers,timm,torchvision")
    parser.add_argument("--sample", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "package_models.json"))
    args = parser.parse_args()
    executor = WorkerExecutor()
    executor.start()
    rows, skipped = [], {}
    try:
        for package in args.packages.split(","):
            files, why = package_files(package)
            if why:
                skipped[package] = why
                print(f"{package}: skipped ({why})", flush=True)
                continue
            if args.sample and args.sample < len(files):
                files = sorted(random.Random(args.seed).sample(files, args.sample))
            for path in files:
                module = module_of(package, path)
                row = {"package": package, "file": module.replace(".", "/") + ".py", "module": module}
                source = path.read_text(encoding="utf-8")
                started = time.perf_counter()
                try:
                    report = analyze(source, str(path), AnalysisOptions(executor=executor, locale="en",
                                                                        timeout_seconds=args.timeout))
                except Exception as error:  # noqa: BLE001 - a crash is what this measures
                    row.update(crashed=True, error=f"{type(error).__name__}: {error}")
                    rows.append(row)
                    continue
                row["seconds"] = time.perf_counter() - started
                errors = [f"{d.code} line {d.span.line}: {d.message[:200]}" for d in report.diagnostics
                          if d.severity == "error"]
                classes = [e for e in report.explanations if e.pattern == "module_class"]
                row.update(crashed=report.execution.status in {"crashed", "error"}, status=report.execution.status,
                           errors=errors, built=[m.name for m in report.modules], defines_module=bool(classes),
                           nothing_built=report.execution.nothing_built, device=report.execution.device)
                if not args.no_baseline:
                    row["baseline_seconds"] = baseline_import(row["module"], args.timeout)
                rows.append(row)
                mark = "built" if row["built"] else "nothing"
                print(f"{row['seconds']:6.2f} s  {mark:7}  {len(errors)} err  {row['file']}", flush=True)
    finally:
        executor.close()
    summary = {}
    for package in sorted({r["package"] for r in rows}):
        mine = [r for r in rows if r["package"] == package]
        with_modules = [r for r in mine if r.get("defines_module")]
        nothing = [r for r in mine if not r.get("built")]
        times = [r["seconds"] for r in mine if "seconds" in r]
        base = [r["baseline_seconds"] for r in mine if r.get("baseline_seconds") is not None]
        summary[package] = {
            "files": len(mine), "crashes": sum(1 for r in mine if r.get("crashed")),
            "false_errors": sum(len(r.get("errors") or []) for r in mine),
            "files_with_errors": sum(1 for r in mine if r.get("errors")),
            "built": sum(1 for r in mine if r.get("built")),
            "define_module": len(with_modules),
            "built_of_define_module": sum(1 for r in with_modules if r.get("built")),
            "nothing_built": len(nothing), "nothing_built_with_reason": sum(1 for r in nothing if r.get("nothing_built")),
            "median_seconds": statistics.median(times) if times else None, "p90_seconds": percentile(times, 0.9),
            "baseline_median_seconds": statistics.median(base) if base else None,
            "baseline_p90_seconds": percentile(base, 0.9) if base else None}
    header = ("package", "files", "crashes", "false errors", "built", "built / defines nn.Module", "nothing built: "
              "reason given", "median s", "p90 s", "baseline import median s", "p90 s")
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for package, s in summary.items():
        share = s["built_of_define_module"] / s["define_module"] if s["define_module"] else float("nan")
        print(f"| {package} | {s['files']} | {s['crashes']} | {s['false_errors']} | {s['built']} | "
              f"{s['built_of_define_module']}/{s['define_module']} ({share:.0%}) | "
              f"{s['nothing_built_with_reason']}/{s['nothing_built']} | {s['median_seconds'] or 0:.2f} | "
              f"{s['p90_seconds']:.2f} | {s['baseline_median_seconds'] or float('nan'):.2f} | "
              f"{s['baseline_p90_seconds'] or float('nan'):.2f} |")
    for package, why in skipped.items():
        print(f"| {package} | skipped: {why} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"python": sys.version.split()[0], "sample": args.sample, "seed": args.seed,
                               "summary": summary, "skipped": skipped, "files": rows}, indent=1))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()

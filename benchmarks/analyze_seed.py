"""How long `analyze` takes on the seed example, split into its static and executed parts, next to the baseline
of running the same file with plain `python` in the same session. Prints a table and writes JSON.

    .venv/bin/python benchmarks/analyze_seed.py [--repeat 5] [--out benchmarks/results/analyze_seed.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from paramlens.analysis import AnalysisOptions, analyze
from paramlens.analyzers.instrument import instrument
from paramlens.analyzers.source import parse_source
from paramlens.analyzers.walker import recognize_all

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "parameter_management.py"


def _time(function, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "analyze_seed.json"))
    args = parser.parse_args()
    source = EXAMPLE.read_text()

    def static() -> None:
        parsed = parse_source(source)
        instrument(parsed, recognize_all(parsed))

    rows = {
        "baseline: python example.py": _time(lambda: subprocess.run([sys.executable, str(EXAMPLE)], check=True,
                                                                     capture_output=True), args.repeat),
        "baseline: python -c 'import torch'": _time(lambda: subprocess.run([sys.executable, "-c", "import torch"],
                                                                            check=True), args.repeat),
        "paramlens static (parse+recognize+instrument)": _time(static, args.repeat),
        "paramlens analyze --no-exec": _time(lambda: analyze(source, str(EXAMPLE), AnalysisOptions(execute=False)),
                                             args.repeat),
        "paramlens analyze (full)": _time(lambda: analyze(source, str(EXAMPLE)), args.repeat),
    }
    print(f"{'measurement':<48} {'median s':>9} {'min s':>8} {'max s':>8}")
    results = {}
    for name, samples in rows.items():
        results[name] = {"median": statistics.median(samples), "min": min(samples), "max": max(samples),
                         "samples": samples}
        print(f"{name:<48} {statistics.median(samples):>9.3f} {min(samples):>8.3f} {max(samples):>8.3f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"example": str(EXAMPLE.relative_to(ROOT)), "lines": source.count("\n"),
                               "repeat": args.repeat, "results": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""What observing a training step costs: the `optimizer.step()` probe (sandbox/reshaping/optimization.py) copies the
optimizer's parameters before each recorded call of a line (the first `max_records`, 8; later calls run
unobserved) to tell which moved and by how much. This measures that hot path against the same file run without
pattern probes (`probes=False`: loop budgets only), in the same run, with a warm worker, for models of growing size
(the copy is capped at 5 M values).

    .venv/bin/python benchmarks/training_probe_cost.py [--repeat 5] [--steps 20]

Prints a table (model size, run with probes, run without, the difference per recorded step) and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from paramlens.analysis import AnalysisOptions, analyze  # noqa: E402

TEMPLATE = """import torch
from torch import nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear({width}, {width}), nn.ReLU(), nn.Linear({width}, {width}), nn.ReLU(),
                      nn.Linear({width}, 1))
optimizer = torch.optim.{optimizer}(model.parameters(), lr=0.01)
x, y = torch.randn(32, {width}), torch.randn(32, 1)
for step in range({steps}):
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
print(loss.item())
"""

WIDTHS = (32, 256, 1024, 1536)   # ~2 k, ~130 k, ~2.1 M, ~4.7 M parameters
OPTIMIZERS = ("SGD", "AdamW")


def run(path: Path, source: str, probes: bool, steps: int, repeat: int) -> dict:
    # every step runs: the loop budget is set above the number of steps
    options = AnalysisOptions(locale="en", probes=probes, loop_iterations=steps + 1, loop_seconds=0.0)
    analyze(source, str(path), options)  # warm: the worker, the optimizer's imports
    walls, runs = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        report = analyze(source, str(path), options)
        walls.append(time.perf_counter() - started)
        runs.append(report.execution.seconds or 0.0)
    steps_seen = [e for e in report.explanations if e.pattern == "training_step"]
    return {"wall_median": statistics.median(walls), "run_median": statistics.median(runs),
            "status": report.execution.status, "step_explanations": len(steps_seen),
            "params": sum(m.param_count for m in report.modules)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "training_probe_cost.json"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for optimizer in OPTIMIZERS:
            for width in WIDTHS:
                path = Path(directory) / f"train_{optimizer}_{width}.py"
                source = TEMPLATE.format(width=width, optimizer=optimizer, steps=args.steps)
                path.write_text(source)
                probed = run(path, source, True, args.steps, args.repeat)
                plain = run(path, source, False, args.steps, args.repeat)
                recorded = min(8, args.steps)  # the probe observes the first max_records calls of the line
                rows.append({"optimizer": optimizer, "width": width, "params": probed["params"],
                             "with_probes": probed, "without_probes": plain,
                             "extra_per_recorded_step_ms":
                                 (probed["run_median"] - plain["run_median"]) * 1000 / recorded})
    print(f"{'optimizer':<9} {'params':>10} {'run, probes':>12} {'run, none':>10} {'extra / recorded step':>22} "
          f"{'status':>8}")
    for row in rows:
        print(f"{row['optimizer']:<9} {row['params']:>10,} {row['with_probes']['run_median'] * 1000:>10.0f} ms "
              f"{row['without_probes']['run_median'] * 1000:>7.0f} ms {row['extra_per_recorded_step_ms']:>19.1f} ms "
              f"{row['with_probes']['status']:>8}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"steps": args.steps, "repeat": args.repeat, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What running everything costs: main blocks, training loops under the loop budget, backward passes.

Before issue 11 ParamLens skipped training, `if __name__ == "__main__":` blocks and anything it took for file
writes; now it runs what Python runs, with loops cut by the loop budget. This measures both, in the same run on the
same machine: the *before* side is the last commit before that change (default 31f5082), checked out into a
cache directory with a virtual environment of its own (CPU torch from the local wheel), the *after* side is this
tree. For each file of the seed, tests/models/ and tests/corpus/:

- `check`: wall time of `paramlens check --format json FILE` (a new process: worker start included);
- warm: median wall time of `analyze()` with a warm worker (what an editor's re-analysis costs, debounce aside),
  and the child's own run time; what ran (statements skipped, loops cut, backward passes observed).

And the seed's edit→diagnostics through the language server (debounce 0), before and after.

    .venv/bin/python benchmarks/execution_cost.py [--before REV] [--repeat 5] [--edits 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lsp_latency import Session  # noqa: E402

from lsprotocol import types as lsp  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / "results" / "before-tree"
FILES = [ROOT / "examples" / "parameter_management.py"] + sorted((ROOT / "tests" / "models").glob("*.py")) + \
    sorted((ROOT / "tests" / "corpus").glob("*.py"))

DRIVER = r'''
import json, statistics, sys, time
from paramlens.analysis import AnalysisOptions, analyze
path, repeat = sys.argv[1], int(sys.argv[2])
source = open(path, encoding="utf-8").read()
analyze(source, path, AnalysisOptions())  # starts and warms the worker
walls, runs = [], []
for _ in range(repeat):
    started = time.perf_counter()
    report = analyze(source, path, AnalysisOptions())
    walls.append(time.perf_counter() - started)
    runs.append(report.execution.seconds)
data = report.to_json()
explanations = data["explanations"]
print(json.dumps({
    "warm_median": statistics.median(walls), "run_median": statistics.median(runs),
    "status": data["execution"]["status"], "skipped": len(data["execution"]["skipped"]),
    "loops_cut": len(data["execution"].get("loops_cut", [])),
    "backward_sites": sum(1 for e in explanations if e["pattern"] == "backward"),
    "errors": sum(1 for d in data["diagnostics"] if d["severity"] == "error")}))
'''


def prepare_before(revision: str) -> Path:
    """A checkout of `revision` with its own virtual environment; reused while the revision is the same."""
    tree = CACHE / revision
    python = tree / ".venv" / "bin" / "python"
    if python.exists():
        return python
    CACHE.mkdir(parents=True, exist_ok=True)
    if not tree.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), revision], check=True,
                       capture_output=True)
    subprocess.run([sys.executable, "-m", "venv", str(tree / ".venv")], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run(pip + ["torch==2.13.0"], check=True)
    subprocess.run(pip + ["-e", str(tree)], check=True)
    return python


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARAMLENS", "PYTHONPATH"))}
    env["NO_COLOR"] = "1"
    return env


def measure(python: Path, path: Path, repeat: int) -> dict:
    started = time.perf_counter()
    subprocess.run([str(python), "-m", "paramlens", "check", "--format", "json", str(path)], capture_output=True,
                   env=clean_env(), cwd=str(path.parent), timeout=600)
    check = time.perf_counter() - started
    driven = subprocess.run([str(python), "-c", DRIVER, str(path), str(repeat)], capture_output=True, text=True,
                            env=clean_env(), cwd=str(path.parent), timeout=1200)
    lines = [line for line in driven.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"error": driven.stderr[-500:]}
    result["check"] = check
    return result


async def edit_to_diagnostics(python: Path, edits: int) -> float:
    seed = FILES[0]
    text = seed.read_text(encoding="utf-8")
    uri = seed.as_uri()
    server = Session([str(python), "-m", "paramlens", "serve"])
    await server.start()
    await server.open(uri, text)
    await server.wait_diagnostics(uri, 1)
    samples = []
    lines = text.split("\n")
    target = next(i for i, line in enumerate(lines) if "nn.Linear(" in line)
    for version in range(2, 2 + edits):
        lines[target] = lines[target].replace("nn.Linear(4, 8)", "nn.Linear(4, 9)") if version % 2 else \
            lines[target].replace("nn.Linear(4, 9)", "nn.Linear(4, 8)")
        begun = time.perf_counter()
        server.client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
            [lsp.TextDocumentContentChangeWholeDocument(text="\n".join(lines))]))
        await server.wait_diagnostics(uri, version)
        samples.append(time.perf_counter() - begun)
    await server.stop()
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default="31f5082", help="the revision that skipped training and main blocks")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "execution_cost.json"))
    args = parser.parse_args()
    sides = {"before": prepare_before(args.before), "after": Path(sys.executable)}
    results: dict = {"before_revision": args.before, "files": {}}
    for path in FILES:
        name = f"{path.parent.name}/{path.name}"
        results["files"][name] = {side: measure(python, path, args.repeat) for side, python in sides.items()}
    results["seed_edit_to_diagnostics"] = {side: asyncio.run(edit_to_diagnostics(python, args.edits))
                                           for side, python in sides.items()}
    print(f"{'file':<34} {'check s':>15} {'warm analyze ms':>17} {'run ms':>15}  after: skipped/cut/backward/errors")
    for name, entry in results["files"].items():
        before, after = entry["before"], entry["after"]
        if "error" in before or "error" in after:
            print(f"{name:<34} failed: {before.get('error') or after.get('error')}")
            continue
        print(f"{name:<34} {before['check']:>6.2f} → {after['check']:>6.2f} "
              f"{before['warm_median'] * 1000:>7.0f} → {after['warm_median'] * 1000:>6.0f} "
              f"{before['run_median'] * 1000:>6.0f} → {after['run_median'] * 1000:>6.0f}  "
              f"{before['skipped']}→{after['skipped']} / {after['loops_cut']} / {after['backward_sites']} / "
              f"{before['errors']}→{after['errors']}")
    edit = results["seed_edit_to_diagnostics"]
    print(f"seed edit→diagnostics median (debounce 0): {edit['before'] * 1000:.0f} ms → {edit['after'] * 1000:.0f} ms")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

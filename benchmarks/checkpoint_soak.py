"""Soak test of incremental analysis' checkpoints: many documents sharing one worker and one checkpoint budget,
random single-statement edits, cancels from another thread at random moments, full analyses in between, and
sessions that forget their checkpoints. What it reproduces: the intermittent 30 s stall of issue 15 (a run
request that lost its pipes to the message queued before it; the worker then never answered). Before the fix it
stalled within 40 rounds; it must not stall at all now.

Prints a table (per kind of analysis: count, median, p95, max) and the stalls (an analysis over --stall-seconds),
and writes JSON. Usage: python benchmarks/checkpoint_soak.py [--rounds 250] [--seed 1] [--checkpoints 4]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from paramlens import analysis  # noqa: E402
from paramlens.analysis import AnalysisOptions  # noqa: E402
from paramlens.incremental.session import Budget, Session  # noqa: E402
from paramlens.sandbox.executors import default_executor  # noqa: E402

FILES = [ROOT / "examples" / "parameter_management.py"] + sorted((ROOT / "tests" / "corpus").glob("*.py"))[:6] + \
    sorted((ROOT / "tests" / "models").glob("*.py"))[:3]
_NUMBER = re.compile(r"\b([1-9]\d?)\b")


def edited(text: str, rng: random.Random) -> str:
    """One small integer literal of one line changed (shapes, counts, values): a realistic single-statement edit."""
    lines = text.splitlines(keepends=True)
    candidates = [i for i, line in enumerate(lines) if _NUMBER.search(line) and not line.lstrip().startswith("#")]
    if not candidates:
        return text
    index = rng.choice(candidates)
    lines[index] = _NUMBER.sub(lambda m: str(max(1, int(m.group(1)) + rng.choice([-1, 1, 2]))), lines[index], 1)
    return "".join(lines)


def soak(rounds: int, seed: int, checkpoints: int, stall_seconds: float) -> dict:
    rng = random.Random(seed)
    texts = {path: path.read_text() for path in FILES}
    budget = Budget(checkpoints, 2048)
    sessions = {path: Session(budget) for path in FILES}
    executor = default_executor()
    options = AnalysisOptions(locale="en", loop_iterations=3, loop_seconds=0.0, executor=executor)
    samples: dict[str, list[float]] = {"incremental": [], "full": [], "cancelled": []}
    stalls, fallbacks, forgets = [], {}, 0
    generation = None  # the worker's generation after the first analysis: a stall ended with a new worker
    for number in range(rounds):
        path = rng.choice(FILES[:4]) if rng.random() < 0.7 else rng.choice(FILES)
        draw = rng.random()
        if draw < 0.05:
            sessions[path].forget()
            forgets += 1
            continue
        if rng.random() < 0.8:
            texts[path] = edited(texts[path], rng)
        timer = None
        if rng.random() < 0.15:
            timer = threading.Timer(rng.uniform(0.0, 0.4), executor.cancel)
            timer.start()
        begun = time.monotonic()
        if draw < 0.12:
            analysis.analyze(texts[path], str(path), options)
            kind = "full"
        else:
            sessions[path].analyze(texts[path], str(path), options)
            kind = "incremental"
            reason = sessions[path].last.fallback
            if reason:
                fallbacks[reason.split(":")[0]] = fallbacks.get(reason.split(":")[0], 0) + 1
        seconds = time.monotonic() - begun
        if timer is not None:
            timer.cancel()
        samples["cancelled" if timer is not None else kind].append(seconds)
        if generation is None:
            generation = getattr(executor, "generation", 0)
        if seconds > stall_seconds:
            stalls.append({"round": number, "file": path.name, "kind": kind, "seconds": round(seconds, 2)})
    for session in sessions.values():
        session.close()
    summary = {kind: {"count": len(values), "median_ms": round(statistics.median(values) * 1000, 1),
                      "p95_ms": round(sorted(values)[int(0.95 * (len(values) - 1))] * 1000, 1),
                      "max_ms": round(max(values) * 1000, 1)} for kind, values in samples.items() if values}
    replaced = getattr(executor, "generation", 0) - (generation or 0)
    return {"rounds": rounds, "seed": seed, "checkpoints": checkpoints, "stall_seconds": stall_seconds,
            "stalls": stalls, "fallbacks": fallbacks, "forgets": forgets, "workers_replaced": replaced,
            "analyses": summary}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=250)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--checkpoints", type=int, default=4, help="the budget's count (small: many drops)")
    parser.add_argument("--stall-seconds", type=float, default=8.0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "checkpoint_soak.json"))
    args = parser.parse_args()
    result = soak(args.rounds, args.seed, args.checkpoints, args.stall_seconds)
    print(f"{'analyses':<12} {'count':>6} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}")
    for kind, row in result["analyses"].items():
        print(f"{kind:<12} {row['count']:>6} {row['median_ms']:>10} {row['p95_ms']:>8} {row['max_ms']:>8}")
    print(f"stalls over {args.stall_seconds:g} s: {len(result['stalls'])} {result['stalls']}")
    print(f"run from the start instead of resumed: {result['fallbacks']}; sessions forgotten: {result['forgets']}; "
          f"workers replaced: {result['workers_replaced']}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 1 if result["stalls"] or result["workers_replaced"] else 0


if __name__ == "__main__":
    raise SystemExit(main())

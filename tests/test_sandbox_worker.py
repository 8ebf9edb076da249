"""The warm worker's life cycle and the device policy, through real runs: cancellation, a dead worker replaced,
warm overhead, the meta device for models too big to build, and the same layers in both executors."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from paramlens.analysis import AnalysisOptions, analyze
from paramlens.sandbox.isolation import hardened_available
from paramlens.sandbox.subprocess_executor import SubprocessExecutor
from paramlens.sandbox.warm import WorkerExecutor

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "examples" / "parameter_management.py"
LLAMA = ROOT / "examples" / "llama_shaped.py"

pytestmark = pytest.mark.skipif(not hardened_available(), reason="needs Landlock and seccomp (Linux)")


@pytest.fixture(scope="module")
def executor():
    executor = WorkerExecutor(warm_meta=True)
    executor.start()
    yield executor
    executor.close()


def analyse(path: Path, executor, source: str | None = None, **options):
    source = source if source is not None else path.read_text()
    return analyze(source, str(path), AnalysisOptions(executor=executor, **options))


def test_cancel_from_another_thread_returns_promptly(executor, tmp_path):
    path = tmp_path / "slow.py"
    source = "import time\nimport torch\nnet = torch.nn.Linear(4, 8)\n\ndef nap():\n    time.sleep(60)\n\nnap()\n"
    path.write_text(source)
    threading.Timer(1.0, executor.cancel).start()
    started = time.perf_counter()
    report = analyse(path, executor, source, timeout_seconds=30)
    elapsed = time.perf_counter() - started
    assert report.execution.status == "cancelled"
    assert elapsed < 2.5
    assert [m.name for m in report.modules] == ["net"]
    assert analyse(SEED, executor).execution.status == "ok"  # and the next run is fine


def test_a_dead_worker_is_replaced(executor):
    first = executor.worker_pid
    subprocess.run(["kill", "-9", str(first)], check=True)
    time.sleep(0.2)
    report = analyse(SEED, executor)
    assert report.execution.status == "ok"
    assert executor.worker_pid not in (None, first)


def test_warm_runs_are_fast_and_isolated(executor):
    analyse(SEED, executor)
    started = time.perf_counter()
    report = analyse(SEED, executor)
    assert report.execution.status == "ok"
    assert time.perf_counter() - started < 3.0
    layers = report.execution.isolation
    for layer in ("non-dumpable-worker", "session", "resource-limits", "no-new-privileges", "seccomp"):
        assert layer in layers
    assert any(layer.startswith("landlock-fs") for layer in layers)


def test_both_executors_apply_the_same_layers(executor):
    warm = analyse(SEED, executor).execution.isolation
    fresh = analyse(SEED, SubprocessExecutor()).execution.isolation
    assert set(warm) - set(fresh) == {"non-dumpable-worker"}


def test_llama_shaped_model_is_counted_on_meta_through_the_cli():
    started = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, "-m", "paramlens", "check", str(LLAMA),
                             "--format", "json"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    elapsed = time.perf_counter() - started
    import json

    data = json.loads(result.stdout)["files"][0]
    assert data["execution"]["device"] == "meta"
    assert data["execution"]["status"] == "ok"
    assert [(m["name"], m["param_count"]) for m in data["modules"]] == [("model", 6_738_415_616)]
    assert elapsed < 10
    peak_kb = int(result.stderr.strip().splitlines()[-1])
    assert peak_kb < 2 * 1024 * 1024


def test_device_policy_small_model_stays_on_cpu_with_values(executor):
    report = analyse(SEED, executor)
    assert report.execution.device == "cpu"


def test_forced_meta_device_keeps_shapes_and_survives_failing_inits(executor, tmp_path):
    path = tmp_path / "meta.py"
    source = ("import torch\nfrom torch import nn\n\nnet = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))\n"
              "nn.init.orthogonal_(net[0].weight)\nnn.init.trunc_normal_(net[2].weight)\n"
              "value = net[0].weight.sum().item()\n")
    path.write_text(source)
    report = analyse(path, executor, source, device="meta")
    assert report.execution.device == "meta"
    assert "values are not available" in report.execution.message
    assert [(m.name, m.param_count) for m in report.modules] == [("net", 58)]
    assert report.modules[0].parameters[0].shape == [8, 4]


def test_budget_switches_to_meta(executor, tmp_path):
    path = tmp_path / "wide.py"
    source = "import torch\nfrom torch import nn\n\nnet = nn.Sequential(nn.Linear(1000, 1000), nn.Linear(1000, 10))\n"
    path.write_text(source)
    small = analyse(path, executor, source, param_budget=2_000_000)
    assert small.execution.device == "cpu"
    big = analyse(path, executor, source, param_budget=500_000)
    assert big.execution.device == "meta"
    assert big.modules[0].param_count == 1_011_010


def test_removing_a_run_directory_never_changes_the_files_its_links_point_to(tmp_path):
    """A private directory links the project's entries (and the run may add links); the run may also make its
    directories read-only. Removal makes them writable, but never through a link: the worker (and the lineage
    registry of incremental analysis) is not sandboxed, and chmod through a link changed the user's file."""
    import os
    import stat

    from paramlens.sandbox.cleanup import make_removable, remove_tree

    outside = tmp_path / "project_file.py"
    outside.write_text("x = 1\n", encoding="utf-8")
    outside.chmod(0o444)
    run = tmp_path / "run"
    (run / "inner").mkdir(parents=True)
    os.symlink(outside, run / "inner" / "link.py")
    (run / "inner").chmod(0o500)
    # the error handler itself (as root, rmtree never needs it: root ignores the directory's mode)
    make_removable(os.unlink, str(run / "inner" / "link.py"), None)
    assert stat.S_IMODE(outside.stat().st_mode) == 0o444 and not (run / "inner" / "link.py").exists()
    remove_tree(str(run))
    assert not run.exists()
    assert outside.exists() and stat.S_IMODE(outside.stat().st_mode) == 0o444

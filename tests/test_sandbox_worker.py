"""The warm worker's life cycle and the device policy, through real runs: cancellation, a dead worker replaced,
warm overhead, the meta device for models too big to build, and the same layers in both executors."""

from __future__ import annotations

import os
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
from rawlsp import zombie

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



def test_a_worker_killed_from_outside_is_collected_even_while_the_run_lock_is_held():
    """The server reaps dead workers every half second (lifecycle.py). CI once saw a killed worker stay a zombie
    for 10 s: the reap skipped every turn while something held the run lock. Collecting the process must not
    wait for the lock (forgetting it and removing its directory may)."""
    executor = WorkerExecutor()
    try:
        executor.start()
        worker = executor.worker_pid
        assert worker is not None
        os.kill(worker, 9)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{worker}/stat").exists() and not zombie(worker) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert zombie(worker), "the killed worker should be a zombie until it is collected"
        with executor._run_lock:  # as a run in progress, or a message to the worker being sent, would
            executor.reap()
            assert not zombie(worker), "the dead worker stayed a zombie while the run lock was held"
        executor.reap()
        assert executor.worker_pid is None
        assert analyse(SEED, executor).execution.status == "ok"  # and the next run starts a new worker
    finally:
        executor.close()

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



def test_the_collector_keeps_every_whole_event_and_nothing_else():
    """Events are decoded as they arrive (while the child runs); what is kept is what a decode of the whole stream
    after the run kept: whole JSON objects in order, not garbage the user's code wrote to the channel, not a line a
    kill cut short, not JSON that is no event."""
    import json

    from paramlens.sandbox.watchdog import Collector

    events_r, events_w = os.pipe()
    stderr_r, stderr_w = os.pipe()
    collector = Collector(os.fdopen(events_r, "rb"), os.fdopen(stderr_r, "rb"))
    sent = [{"t": "start", "n": 1}, {"t": "stmt", "output": "é\n" * 50_000}, {"t": "done"}]
    with os.fdopen(events_w, "wb") as events, os.fdopen(stderr_w, "wb") as stderr:
        events.write(json.dumps(sent[0]).encode() + b"\n" + b"not json\n" + b"[1, 2]\n")
        events.write(json.dumps(sent[1]).encode() + b"\n")
        stderr.write(b"a warning\n")
        events.write(json.dumps(sent[2]).encode() + b"\n")
        assert not collector.ended_with_done  # the streams are still open
    collector.join()
    assert collector.events() == sent
    assert collector.ended_with_done
    assert collector.stderr_tail == b"a warning\n"

    events_r, events_w = os.pipe()
    stderr_r, stderr_w = os.pipe()
    collector = Collector(os.fdopen(events_r, "rb"), os.fdopen(stderr_r, "rb"))
    with os.fdopen(events_w, "wb") as events, os.fdopen(stderr_w, "wb"):
        events.write(json.dumps(sent[0]).encode() + b"\n" + b'{"t": "stmt", "output": "cut sh')
    collector.join()
    assert collector.events() == sent[:1]
    assert not collector.ended_with_done

def test_a_stream_the_child_wrote_is_seen_to_end_with_done():
    """The watchdog stops waiting for a run once its streams closed after a `done` event (waiting for the exit
    status too would add the teardown of the child's address space, ~10 ms, to every run). The lines are the
    child's own (protocol.event_line: orjson writes no spaces), not hand-written JSON."""
    from paramlens.sandbox.protocol import Event, event_line
    from paramlens.sandbox.watchdog import Collector

    for last, done in (({"t": Event.DONE, "seconds": 0.5}, True), ({"t": Event.STATEMENT, "output": '"t": "done"'},
                                                                   False)):
        events_r, events_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        collector = Collector(os.fdopen(events_r, "rb"), os.fdopen(stderr_r, "rb"))
        with os.fdopen(events_w, "wb") as events, os.fdopen(stderr_w, "wb"):
            events.write(event_line({"t": Event.START, "n": 1}).encode() + event_line(last).encode())
        collector.join()
        assert collector.events()[-1] == last
        assert collector.ended_with_done is done, last


def test_descriptors_stay_with_the_message_they_were_sent_with():
    """A run request carries its two result pipes. When a descriptor-less message ("drop_lineage") was queued just
    before it, one read used to take both messages' bytes and the pipes, and hand the pipes to the first: the run
    request then arrived with none, was ignored, and the analysing process waited 30 s for a reply (the stall of
    incremental analysis)."""
    import os
    import socket

    from paramlens.sandbox.channel import Channel

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    sender, receiver = Channel(ours), Channel(theirs)
    first_r, first_w = os.pipe()
    second_r, second_w = os.pipe()
    try:
        sender.send({"t": "drop_lineage", "lineage": "a"})
        sender.send({"t": "run", "request": {"units": ["x" * 200_000]}}, fds=[first_w, second_w])
        sender.send({"t": "kill"})
        message, fds = receiver.receive(timeout=5)
        assert (message["t"], fds) == ("drop_lineage", [])
        message, fds = receiver.receive(timeout=5)
        assert message["t"] == "run" and len(fds) == 2
        for fd, (reader, _) in zip(fds, ((first_r, first_w), (second_r, second_w))):
            os.write(fd, b"!")
            assert os.read(reader, 1) == b"!"  # the very pipes that were sent
            os.close(fd)
        message, fds = receiver.receive(timeout=5)
        assert (message["t"], fds) == ("kill", [])
    finally:
        for fd in (first_r, first_w, second_r, second_w):
            os.close(fd)
        sender.close()
        receiver.close()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_an_idle_worker_does_not_spin_on_a_lineage_whose_processes_all_ended(tmp_path):
    """Once every process of a lineage ended (its checkpoints dropped), its registry socket reads end of stream
    forever: the worker must stop watching it, not spin on it while it waits for the next request."""
    from paramlens.incremental.session import Budget, Session

    executor = WorkerExecutor()
    try:
        session = Session(Budget(16, 2048))
        path = tmp_path / "model.py"
        source = SEED.read_text()
        options = AnalysisOptions(executor=executor, locale="en")
        session.analyze(source, str(path), options)
        session.analyze(source + "print(1)\n", str(path), options)  # a run that stops before the new statement
        assert session.checkpoints, f"the run took no checkpoints: nothing to test ({session.last.to_json()})"
        session.drop(list(session.checkpoints))  # every parked process of the lineage ends; the run ended already
        time.sleep(0.5)
        worker = executor.worker_pid
        # an idle worker uses no CPU at all; a spinning one uses a whole core (~1 s each second). The worker's
        # one-off training imports (after IDLE_BEFORE_WARMING_SECONDS idle, ~1.2 s) may fill the first windows
        used = []
        for _ in range(6):
            before = _cpu_seconds(worker)
            time.sleep(1.0)
            used.append(_cpu_seconds(worker) - before)
            if used[-1] < 0.3:
                break
        assert used[-1] < 0.3, used
    finally:
        executor.close()


@pytest.mark.parametrize("checkpoints", [False, True])
def test_the_training_imports_wait_until_the_worker_is_idle(tmp_path, checkpoints):
    """After its first run the worker imports what building an optimizer needs (torch._dynamo, sympy: ~1.2 s), so
    later children start with them; but only once no request came for IDLE_BEFORE_WARMING_SECONDS, so that an
    edit made right after a file opened is not held up by those imports. Observed in the children: the run that
    comes at once starts without them, the one after a pause with them (the user's own code tells)."""
    from paramlens.incremental.session import Budget, Session
    from paramlens.sandbox.worker import IDLE_BEFORE_WARMING_SECONDS

    path = tmp_path / "asks.py"
    source = ("import sys\nimport torch\nif 'torch._dynamo' in sys.modules:\n    warm = torch.nn.Linear(1, 1)\n"
              "else:\n    cold = torch.nn.Linear(1, 1)\n")
    path.write_text(source)
    executor = WorkerExecutor()
    session = Session(Budget(4, 2048)) if checkpoints else None

    def built(text: str) -> str:
        options = AnalysisOptions(executor=executor)
        report = session.analyze(text, str(path), options) if session else analyze(text, str(path), options)
        assert report.execution.status == "ok"
        return " ".join(module.name for module in report.modules)

    try:
        assert built(source) == "cold"                  # the first run of a fresh worker
        assert built(source + "# again\n") == "cold"    # at once: the worker did not stop to import
        time.sleep(IDLE_BEFORE_WARMING_SECONDS + 2.5)     # idle: it imports them now (~1.2 s)
        later = built(source + "# later\n")
        assert later == "warm" or session is not None
        if session is not None:  # a resumed run continues a parked copy of the first run: a fresh run tells
            session.forget()
            assert built(source + "# fresh\n") == "warm"
    finally:
        if session is not None:
            session.close()
        executor.close()

"""The sandbox's guarantees, proven on this machine by running hostile code through `analyze()` (and the CLI).

Every case starts with `net = nn.Linear(4, 8)`, then does something the sandbox must stop. Each test asserts that
the operation failed (nothing was written, connected, started or signalled) AND that the model built before it is
still reported. The hostile operations are wrapped in functions, as hostile code would hide them.

The cases that test the hard limits (time, memory, disk) run with a loop budget that never cuts (`loop_seconds`
of an hour): hostile code can always spin where the loop budget does not reach (a comprehension, recursion, a
C call), so the limits must hold by themselves. The cases at the end run with the default budget: what ParamLens
now runs (main blocks, training loops, backward) must stay bounded too.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from paramlens.analysis import AnalysisOptions, analyze
from paramlens.sandbox.isolation import hardened_available, probe
from paramlens.sandbox.warm import WorkerExecutor

ROOT = Path(__file__).resolve().parents[1]
PRELUDE = "import os\nimport torch\nfrom torch import nn\n\nnet = nn.Linear(4, 8)\n\n"
ACTIVE = {s.name for s in probe() if s.active}

pytestmark = pytest.mark.skipif(not hardened_available(), reason="needs Landlock and seccomp (Linux): "
                                + ", ".join(sorted({"landlock-fs", "seccomp"} - ACTIVE)) + " missing here")


@pytest.fixture(scope="module")
def executor():
    executor = WorkerExecutor()
    executor.start()
    yield executor
    executor.close()


@pytest.fixture
def workspace(tmp_path):
    directory = tmp_path / "workspace"
    directory.mkdir()
    return directory


NEVER_CUT = 3600.0  # a loop budget no test run reaches: the hard limits alone must stop the code


def run(executor, workspace, body, timeout=10.0, memory_mb=1024, loop_seconds=NEVER_CUT, device="cpu", **values):
    """Analyse PRELUDE + body (with {name} placeholders filled by repr of `values`) as workspace/model.py."""
    source = PRELUDE + textwrap.dedent(body).format(**{k: repr(v) for k, v in values.items()})
    path = workspace / "model.py"
    path.write_text(source)
    started = time.perf_counter()
    report = analyze(source, str(path), AnalysisOptions(timeout_seconds=timeout, memory_mb=memory_mb, device=device,
                                                        executor=executor, loop_seconds=loop_seconds))
    report.wall_seconds = time.perf_counter() - started
    return report


def assert_model_kept(report):
    assert report.modules, f"no modules reported: {report.execution}"
    net = report.modules[0]
    assert (net.name, net.class_name, net.param_count) == ("net", "Linear", 40)


def blocked_kinds(report):
    return [d.message for d in report.diagnostics if d.code == "PL902"]


def assert_blocked(report, words):
    messages = blocked_kinds(report)
    assert messages, f"nothing reported as blocked: {[(d.code, d.message) for d in report.diagnostics]}"
    assert report.execution.status == "blocked"
    assert any(words in m for m in messages), messages


# -- files ----------------------------------------------------------------------------------------------------

def test_write_to_home_directory_is_blocked(executor, workspace):
    target = Path.home() / f"paramlens-abuse-{uuid.uuid4().hex}"
    try:
        report = run(executor, workspace, """
            def attack():
                with open({target}, "w") as f:
                    f.write("pwned")

            attack()
            """, target=str(target))
        assert not target.exists()
    finally:
        target.unlink(missing_ok=True)
    assert_model_kept(report)
    assert_blocked(report, "writing a file")


def test_write_to_workspace_is_blocked(executor, workspace):
    report = run(executor, workspace, """
        def attack():
            open({target}, "w").write("pwned")
            os.remove({source})

        attack()
        """, target=str(workspace / "pwned.txt"), source=str(workspace / "model.py"))
    assert not (workspace / "pwned.txt").exists()
    assert (workspace / "model.py").exists()
    assert_model_kept(report)
    assert_blocked(report, "writing a file")


def test_reading_secrets_outside_the_workspace_is_blocked(executor, workspace, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-42")
    report = run(executor, workspace, """
        def steal():
            return open({secret}).read()

        stolen = steal()
        print(stolen)
        """, secret=str(secret))
    assert "TOP-SECRET-42" not in json.dumps([e.to_json() for e in report.explanations])
    assert_model_kept(report)
    assert_blocked(report, "reading a file")


def test_reading_the_parents_environment_is_blocked(executor, workspace):
    report = run(executor, workspace, """
        def steal_worker():
            return open(f"/proc/{{os.getppid()}}/environ", "rb").read()

        def steal_analyser():
            return open(f"/proc/{analysing_pid}/environ", "rb").read()

        a = steal_worker()
        b = steal_analyser()
        """, analysing_pid=os.getpid())
    assert_model_kept(report)
    refused = [d for d in report.diagnostics if d.code == "PL902"]
    assert len(refused) == 2 and all("environ" in d.message and d.severity == "information" for d in refused)
    source = (workspace / "model.py").read_text()
    assert sorted(d.span.line for d in refused) == [i + 1 for i, text in enumerate(source.splitlines())
                                                    if "/environ" in text]


def test_private_directory_is_writable_and_files_are_capped(executor, workspace):
    report = run(executor, workspace, """
        def scratch():
            with open("scratch.bin", "wb") as f:
                f.write(b"ok")
            return open("scratch.bin", "rb").read()

        data = scratch()

        def huge():
            with open("huge.bin", "wb") as f:
                f.write(b"\\0" * (100 * 1024 * 1024))

        huge()
        """)
    assert_model_kept(report)
    raised = [d.message for d in report.diagnostics if d.code == "PL900"]
    assert len(raised) == 1 and "File too large" in raised[0], raised  # RLIMIT_FSIZE: one error, at `huge()`


def test_filling_the_temporary_directory_is_stopped(executor, workspace):
    report = run(executor, workspace, """
        def fill():
            for i in range(1000):
                with open(f"part{{i}}.bin", "wb") as f:
                    f.write(b"\\1" * (60 * 1024 * 1024))

        fill()
        """, timeout=20)
    assert_model_kept(report)
    assert report.execution.status == "crashed"
    assert "temporary directory" in report.execution.message


# -- network ----------------------------------------------------------------------------------------------------

def test_tcp_connect_is_blocked(executor, workspace):
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.5)
    port = server.getsockname()[1]
    try:
        report = run(executor, workspace, """
            import socket

            def phone_home():
                socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"secret")

            phone_home()
            """, port=port)
        with pytest.raises(socket.timeout):
            server.accept()
    finally:
        server.close()
    assert_model_kept(report)
    assert_blocked(report, "network access")


def test_udp_unix_and_abstract_sockets_are_blocked(executor, workspace, tmp_path):
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.3)
    unix_path = str(tmp_path / "host.sock")
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(unix_path)
    unix.listen()
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract_name = f"\0paramlens-abuse-{uuid.uuid4().hex}"
    abstract.bind(abstract_name)
    abstract.listen()
    unix.settimeout(0.3)
    abstract.settimeout(0.3)
    try:
        report = run(executor, workspace, """
            import socket

            def udp():
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", {udp_port}))

            def unix():
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect({unix_path})

            def abstract():
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect({abstract_name})

            udp()
            unix()
            abstract()
            """, udp_port=udp.getsockname()[1], unix_path=unix_path, abstract_name=abstract_name)
        with pytest.raises(socket.timeout):
            udp.recv(10)
        for listener in (unix, abstract):
            with pytest.raises(socket.timeout):
                listener.accept()
    finally:
        for s in (udp, unix, abstract):
            s.close()
    assert_model_kept(report)
    assert len(blocked_kinds(report)) == 3


def test_dns_lookup_fails(executor, workspace):
    report = run(executor, workspace, """
        import socket

        def resolve():
            return socket.getaddrinfo("example.com", 443)

        address = resolve()
        """)
    assert_model_kept(report)
    assert_blocked(report, "network access")


# -- processes ----------------------------------------------------------------------------------------------------

def test_subprocess_system_exec_and_multiprocessing_are_blocked(executor, workspace, tmp_path):
    markers = [tmp_path / f"ran-{name}" for name in ("subprocess", "system", "exec", "multiprocessing")]
    report = run(executor, workspace, """
        import multiprocessing
        import subprocess

        def with_subprocess():
            subprocess.run(["touch", {m0}])

        def with_system():
            status = os.system("touch " + {m1})
            if status != 0:
                raise OSError(f"os.system failed with status {{status}}")

        def with_exec():
            os.execv("/usr/bin/touch", ["touch", {m2}])

        def with_multiprocessing():
            p = multiprocessing.Process(target=os.mkdir, args=({m3},))
            p.start()
            p.join()

        with_subprocess()
        with_system()
        with_exec()
        with_multiprocessing()
        """, m0=str(markers[0]), m1=str(markers[1]), m2=str(markers[2]), m3=str(markers[3]))
    assert not any(m.exists() for m in markers)
    assert_model_kept(report)
    # each refusal at the line that attempted it (os.system too: the shell could not start), as information
    assert len(blocked_kinds(report)) == 4
    assert all(d.severity == "information" for d in report.diagnostics if d.code == "PL902")
    # the code's own error after the refusal is not called an error in the user's code: it follows from the refusal
    raised = [d for d in report.diagnostics if d.code == "PL900"]
    assert [d.severity for d in raised] == ["information"] and "os.system failed" in raised[0].message


def test_fork_bomb_is_blocked(executor, workspace):
    report = run(executor, workspace, """
        def bomb():
            while True:
                os.fork()

        bomb()
        """)
    assert_model_kept(report)
    assert_blocked(report, "starting a program or a process")


def test_thread_bomb_is_bounded(executor, workspace):
    report = run(executor, workspace, """
        import threading
        import time

        def bomb():
            while True:
                threading.Thread(target=time.sleep, args=(600,), daemon=False).start()

        bomb()
        after = nn.Linear(2, 2)
        """, timeout=8, memory_mb=512)
    assert_model_kept(report)
    assert report.wall_seconds < 20
    # the address-space limit stops thread creation; the threads that never finish do not keep the run alive
    assert report.execution.status in {"partial", "memory", "timeout"}


# -- memory, time, output -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("bomb", [
    "chunks = []\n    while True:\n        chunks.append(bytearray(10 * 1024 * 1024))",
    "return torch.empty(10 ** 11)",
], ids=["gradual", "sudden"])
def test_memory_bombs_are_stopped(executor, workspace, bomb):
    report = run(executor, workspace, "def bomb():\n    " + bomb + "\n\nbomb()\n", memory_mb=512)
    assert_model_kept(report)
    assert report.execution.status == "memory"


def test_cpu_loop_ignoring_sigxcpu_is_stopped(executor, workspace):
    report = run(executor, workspace, """
        import signal

        def spin():
            signal.signal(signal.SIGXCPU, signal.SIG_IGN)
            while True:
                pass

        spin()
        """, timeout=3)
    assert_model_kept(report)
    assert report.execution.status == "timeout"
    assert report.wall_seconds < 8


@pytest.mark.parametrize("body", [
    "import time\n\ndef nap():\n    time.sleep(600)\n\nnap()\n",
    "import time\n\ndef survive():\n    while True:\n        try:\n            time.sleep(600)\n"
    "        except BaseException:\n            pass\n\nsurvive()\n",
], ids=["sleeping", "catches-BaseException"])
def test_wall_clock_limit_cannot_be_escaped(executor, workspace, body):
    report = run(executor, workspace, body, timeout=3)
    assert_model_kept(report)
    assert report.execution.status == "timeout"
    assert any(d.code == "PL901" for d in report.diagnostics)
    assert report.wall_seconds < 8


def test_flooding_stdout_is_capped(executor, workspace):
    report = run(executor, workspace, """
        import sys

        def flood():
            for _ in range(20000):
                print("x" * 1000)
                os.write(1, b"y" * 1000)
                sys.stderr.write("z" * 1000)

        flood()
        after = nn.Linear(2, 2)
        """)
    assert_model_kept(report)
    assert [m.name for m in report.modules] == ["net", "after"]


def test_flooding_the_result_channel_is_stopped(executor, workspace):
    report = run(executor, workspace, """
        def flood():
            chunk = b"{{" * 65536
            while True:
                os.write(3, chunk)

        flood()
        """)
    assert_model_kept(report)
    assert report.execution.status == "crashed"
    assert "MB of results" in report.execution.message


# -- the parent, descriptors, crashes -------------------------------------------------------------------------------

def test_signalling_or_tracing_the_parent_is_blocked(executor, workspace):
    worker_pid = executor.worker_pid
    report = run(executor, workspace, """
        import ctypes
        import signal

        def kill_parent():
            os.kill(os.getppid(), signal.SIGKILL)

        def kill_analyser():
            os.kill({analysing_pid}, 0)

        def kill_everything():
            os.kill(-1, 0)

        def trace_parent():
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.ptrace(16, os.getppid(), 0, 0) != 0:  # PTRACE_ATTACH
                raise PermissionError(ctypes.get_errno(), "ptrace refused")

        kill_parent()
        kill_analyser()
        kill_everything()
        trace_parent()
        """, analysing_pid=os.getpid())
    assert_model_kept(report)
    assert len(blocked_kinds(report)) == 4
    assert executor.worker_pid == worker_pid  # the worker survived


def test_inherited_descriptors_are_closed(executor, workspace, tmp_path):
    secret = tmp_path / "open-secret.txt"
    secret.write_text("secret")
    handle = open(secret)
    os.set_inheritable(handle.fileno(), True)
    try:
        report = run(executor, workspace, """
            def descriptors():
                open_fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
                raise RuntimeError(f"FDS={{open_fds}}")

            descriptors()
            """)
    finally:
        handle.close()
    assert_model_kept(report)
    message = next(d.message for d in report.diagnostics if d.code == "PL900")
    fds = json.loads(message.split("FDS=")[1].split("]")[0] + "]")
    assert set(fds) <= {0, 1, 2, 3, 4}  # stdio, the result channel, and the listdir's own descriptor


@pytest.mark.parametrize("body,status", [
    ("import ctypes\n\ndef crash():\n    ctypes.string_at(0)\n\ncrash()\n", "crashed"),
    ("def leave():\n    os._exit(3)\n\nleave()\n", "crashed"),
], ids=["ctypes-segfault", "os._exit"])
def test_crashes_keep_earlier_results_and_the_worker(executor, workspace, body, status):
    report = run(executor, workspace, body)
    assert_model_kept(report)
    assert report.execution.status == status
    again = run(executor, workspace, "")  # the worker is still usable
    assert again.execution.status == "ok"


def test_module_doing_io_at_import_is_blocked(executor, workspace, tmp_path):
    target = tmp_path / "imported-write.txt"
    (workspace / "evil.py").write_text(f"open({str(target)!r}, 'w').write('pwned')\n")
    report = run(executor, workspace, "import evil\n")
    assert not target.exists()
    assert_model_kept(report)
    assert_blocked(report, "writing a file")


# -- through the real CLI -------------------------------------------------------------------------------------------

def test_cli_applies_the_same_isolation(workspace, tmp_path):
    target = tmp_path / "cli-write.txt"
    path = workspace / "model.py"
    path.write_text(PRELUDE + f"def attack():\n    open({str(target)!r}, 'w')\n\n\nattack()\n")
    result = subprocess.run([sys.executable, "-m", "paramlens", "check", str(path), "--format", "json"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    data = json.loads(result.stdout)["files"][0]
    assert result.returncode == 0  # a refusal is the sandbox's doing, not an error in the file
    assert not target.exists()
    assert data["execution"]["status"] == "blocked"
    assert [m["name"] for m in data["modules"]] == ["net"]
    assert any(d["code"] == "PL902" for d in data["diagnostics"])
    text = subprocess.run([sys.executable, "-m", "paramlens", "check", str(path), "--locale", "zh-CN"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "沙箱" in text.stdout and "seccomp" in text.stdout


# -- what now runs (main blocks, training, backward) stays bounded, with the default loop budget ------------------------

def test_a_main_block_that_trains_forever_is_shortened(executor, workspace):
    report = run(executor, workspace, """
        def train_forever():
            optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
            x = torch.randn(32, 4)
            while True:
                loss = net(x).pow(2).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

        if __name__ == "__main__":
            train_forever()
        """, loop_seconds=0.2)
    assert_model_kept(report)
    assert report.execution.status == "partial"
    assert [cut.iterations >= 2 for cut in report.execution.loops_cut] == [True]
    assert not [d for d in report.diagnostics if d.severity == "error"]
    assert report.wall_seconds < 10


def test_a_loop_that_allocates_every_iteration_is_stopped(executor, workspace):
    """Either the loop budget or the memory limit ends it; either way the report says which, and the analysing
    process and the model built before it are untouched."""
    report = run(executor, workspace, """
        def hoard():
            kept = []
            while True:
                kept.append(torch.ones(100_000_000))

        hoard()
        """, memory_mb=1024, loop_seconds=0.2)
    assert_model_kept(report)
    if report.execution.status == "memory":
        assert any("memory" in d.message for d in report.diagnostics if d.severity == "error")
    else:
        assert report.execution.status == "partial" and report.execution.loops_cut


def test_backward_on_a_7b_parameter_meta_model(executor, workspace):
    """A LLaMA-7B-shaped model trained on the meta device: forward, backward and an AdamW step run with no memory;
    the loop is shortened, `loss.item()` is information (the meta device has no values), nothing is an error."""
    llama = (ROOT / "examples" / "llama_shaped.py").read_text()
    body = llama + """

def forward(tokens):
    x = model["embed_tokens"](tokens)
    for layer in model["layers"]:
        h = layer["input_layernorm"](x)
        x = x + layer["mlp"]["down_proj"](layer["mlp"]["gate_proj"](h) * layer["mlp"]["up_proj"](h))
    return model["lm_head"](model["norm"](x))


optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
tokens = torch.randint(0, VOCAB, (1, 8))
for step in range(100):
    loss = torch.nn.functional.cross_entropy(forward(tokens).view(-1, VOCAB), tokens.view(-1))
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
print(loss.item())
"""
    path = workspace / "llama_train.py"
    path.write_text(body)
    started = time.perf_counter()
    report = analyze(body, str(path), AnalysisOptions(timeout_seconds=60, memory_mb=2048, device="auto",
                                                      executor=executor))
    assert time.perf_counter() - started < 60
    assert report.execution.device == "meta"
    assert [m.param_count for m in report.modules if m.name == "model"] == [6_738_415_616]
    assert report.execution.loops_cut and not [d for d in report.diagnostics if d.severity == "error"]
    [value_read] = [d for d in report.diagnostics if d.code == "PL900"]
    assert value_read.severity == "information" and "meta device" in value_read.message

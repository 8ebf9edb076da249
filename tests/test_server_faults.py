"""The server survives any client (issue 17): each fault is sent over a raw stdio connection (rawlsp.py), and the
tests check that every request gets a response within a bound, that the next normal hover is still right, that
protocol noise goes to the log and never to a popup, and that after EOF, `exit` or SIGTERM no process of the
server is left and its temporary directories are gone."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import torch

from rawlsp import RawServer, alive, zombie

ANSWER_SECONDS = 10  # a bound for "answered", far above the milliseconds it takes
MODEL = "import torch\nfrom torch import nn\nnet = nn.Linear(4, 8)\nfor name, p in net.named_parameters():\n" \
        "    print(name)\n"
# runs until the time limit: one long call (a `sleep` is not run at all, and loops are cut by the loop budget)
SLOW = "import torch\nfrom torch import nn\nnet = nn.Linear(4, 8)\ntotal = sum(range(10 ** 12))\n"


def _expected_shape() -> str:
    return "[" + ", ".join(map(str, torch.nn.Linear(4, 8).weight.shape)) + "]"


def _position(text: str, snippet: str, offset: int = 2) -> tuple[int, int]:
    start = text.index(snippet) + offset
    return text.count("\n", 0, start), start - (text.rfind("\n", 0, start) + 1)


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = root / "ws"
        self.tmp = root / "tmp"
        self.root.mkdir()
        self.tmp.mkdir()

    def file(self, name: str, text: str) -> str:
        path = self.root / name
        path.write_text(text, encoding="utf-8")
        return path.as_uri()


def _good_hover(server: RawServer, uri: str) -> None:
    line, character = _position(MODEL, "named_parameters")
    answer = server.hover(uri, line, character, timeout=ANSWER_SECONDS)
    value = answer["result"]["contents"]["value"]
    assert "`weight`" in value and _expected_shape() in value, value


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """One server that every protocol fault of this module is sent to, in turn."""
    workspace = Workspace(tmp_path_factory.mktemp("faults"))
    server = RawServer(workspace.tmp, workspace.root)
    server.initialize(workspace.root)
    uri = workspace.file("model.py", MODEL)
    server.open(uri, MODEL)
    server.wait_report(uri)
    yield server, uri, workspace
    server.kill()


@pytest.mark.parametrize("fault", ["length 20 too large", "length 10 too small", "no Content-Length",
                                   "garbage between messages"])
def test_framing_errors_are_answered_and_the_server_reads_on(session, fault):
    server, uri, _ = session
    line, character = _position(MODEL, "named_parameters")
    request = server.request_message("textDocument/hover", {"textDocument": {"uri": uri},
                                                            "position": {"line": line, "character": character}})
    if fault == "length 20 too large":
        server.send(request, delta=20)
    elif fault == "length 10 too small":
        server.send(request, delta=-10)
    elif fault == "no Content-Length":
        server.send(request, headers=b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n")
    else:
        server.send_bytes(b"\x00garbage\r\nnot a header at all\r\n\r\n{\"half\": ")
        server.send(request)
    answer = server.response(request["id"], timeout=ANSWER_SECONDS)
    assert "result" in answer or "error" in answer
    _good_hover(server, uri)
    shutdown = server.request("paramlens/report", {"textDocument": {"uri": uri}}, timeout=ANSWER_SECONDS)
    assert shutdown["result"]["report"]["execution"]["status"] == "ok"
    assert server.popups() == []


@pytest.mark.parametrize("method,params,with_params", [
    ("textDocument/hover", {"textDocument": {"uri": "file:///x.py"}, "position": {"line": -1, "character": 0}}, True),
    ("textDocument/hover", None, False),
    ("textDocument/inlayHint", {"textDocument": {"uri": "file:///x.py"}}, True),
    ("textDocument/codeLens", {"textDocument": 5}, True),
])
def test_invalid_params_get_invalid_params(session, method, params, with_params):
    server, uri, _ = session
    message = server.request_message(method, params, with_params=with_params)
    server.send(message)
    answer = server.response(message["id"], timeout=ANSWER_SECONDS)
    assert answer["error"]["code"] == -32602, answer
    _good_hover(server, uri)
    assert server.popups() == []
    assert any("invalid params" in line for line in server.logs())


def test_changes_and_saves_of_documents_that_are_not_open_are_logged(session, tmp_path):
    server, uri, workspace = session
    never_opened = workspace.file("never_opened.py", MODEL)
    server.notify("textDocument/didChange", {"textDocument": {"uri": never_opened, "version": 2},
                                             "contentChanges": [{"text": MODEL + "\n"}]})
    server.notify("textDocument/didSave", {"textDocument": {"uri": never_opened}})
    server.notify("textDocument/didClose", {"textDocument": {"uri": never_opened}})
    _good_hover(server, uri)
    assert server.report(never_opened) is None, "a file that was never opened was read and analysed"
    assert server.popups() == []
    assert sum("which is not open" in line for line in server.logs()) >= 3


def test_lone_surrogates_are_analysed_and_said_once(session):
    server, _, workspace = session
    text = MODEL + "# a comment an editor sent with \ud800 in it\nother = nn.Linear(2, 3)\n"
    uri = workspace.file("surrogate.py", "")
    server.open(uri, text)
    report = server.wait_report(uri)
    assert report["execution"]["status"] == "ok", report["execution"]
    assert [m["name"] for m in report["modules"]] == ["net", "other"]
    notes = [d for d in server.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics" and
                                        m["params"]["uri"] == uri, what="diagnostics")["params"]["diagnostics"]
             if "U+FFFD" in d["message"]]
    assert len(notes) == 1 and notes[0]["range"]["start"]["line"] == MODEL.count("\n")


# -- exits ------------------------------------------------------------------------------------------------------

def _started_with_a_slow_run(tmp_path: Path) -> tuple[RawServer, Workspace, dict[int, str]]:
    workspace = Workspace(tmp_path)
    server = RawServer(workspace.tmp, workspace.root)
    server.initialize(workspace.root)
    uri = workspace.file("slow.py", SLOW)
    server.open(uri, SLOW)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the run is under way: the worker has forked a child
        tree = server.descendants()
        if sum("paramlens" in command for command in tree.values()) >= 2:
            return server, workspace, tree
        time.sleep(0.1)
    raise AssertionError(f"no run started: {server.descendants()}")


def _gone(server: RawServer, workspace: Workspace, tree: dict[int, str], returncode: int, expected: int) -> None:
    assert returncode == expected, server.stderr.decode(errors="replace")[-2000:]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(alive(pid) for pid in tree):
        time.sleep(0.05)
    assert not [pid for pid in tree if alive(pid)], f"left running: {tree}"
    assert list(workspace.tmp.iterdir()) == [], "temporary directories left behind"
    assert b"Traceback" not in server.stderr


def test_stdin_eof_during_a_run_cancels_it_and_exits(tmp_path):
    server, workspace, tree = _started_with_a_slow_run(tmp_path)
    server.close_stdin()
    _gone(server, workspace, tree, server.wait(timeout=ANSWER_SECONDS), 1)


def test_exit_without_shutdown_is_status_1_and_cleans_up(tmp_path):
    server, workspace, tree = _started_with_a_slow_run(tmp_path)
    server.notify("exit", None)
    _gone(server, workspace, tree, server.wait(timeout=ANSWER_SECONDS), 1)


def test_shutdown_then_exit_is_status_0(tmp_path):
    server, workspace, tree = _started_with_a_slow_run(tmp_path)
    answer = server.request("shutdown", None, timeout=ANSWER_SECONDS)
    assert "result" in answer
    late = server.request("textDocument/hover", {"textDocument": {"uri": "file:///x.py"},
                                                 "position": {"line": 0, "character": 0}}, timeout=ANSWER_SECONDS)
    assert late["error"]["code"] == -32600, "a request after shutdown is answered with an error"
    server.notify("exit", None)
    _gone(server, workspace, tree, server.wait(timeout=ANSWER_SECONDS), 0)


def test_sigterm_cleans_up(tmp_path):
    server, workspace, tree = _started_with_a_slow_run(tmp_path)
    server.process.send_signal(signal.SIGTERM)
    _gone(server, workspace, tree, server.wait(timeout=ANSWER_SECONDS), 128 + signal.SIGTERM)


# -- faults of the environment --------------------------------------------------------------------------------

def _worker_pid(server: RawServer, running: bool = False) -> int:
    """The warm worker (the server's child); with `running`, once it has forked the child of a run."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        tree = server.descendants()
        workers = [pid for pid, command in tree.items() if "paramlens.sandbox.worker" in command]
        own = [pid for pid in workers if _parent(pid) == server.process.pid]
        if own and (not running or len(workers) > len(own)):
            return own[0]
        time.sleep(0.05)
    raise AssertionError("no worker")


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[1])


def test_a_worker_killed_between_runs_is_reaped(tmp_path):
    workspace = Workspace(tmp_path)
    server = RawServer(workspace.tmp, workspace.root)
    try:
        server.initialize(workspace.root)
        uri = workspace.file("model.py", MODEL)
        server.open(uri, MODEL)
        server.wait_report(uri)
        worker = _worker_pid(server)
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + ANSWER_SECONDS
        while time.monotonic() < deadline and (zombie(worker) or alive(worker)):
            time.sleep(0.05)
        assert not zombie(worker) and not alive(worker), \
            "the killed worker is still a zombie; the server's last log lines:\n" + "\n".join(server.logs()[-8:])
        _good_hover(server, uri)
    finally:
        server.kill()


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "stopped"])
def test_a_worker_lost_during_a_run_is_retried_once_on_a_fresh_one(tmp_path, stop):
    workspace = Workspace(tmp_path)
    server = RawServer(workspace.tmp, workspace.root)
    try:
        server.initialize(workspace.root)
        text = "import torch\nfrom torch import nn\nnet = nn.Linear(4, 8)\ntotal = sum(range(2 * 10 ** 8))\n"
        uri = workspace.file("model.py", text)
        if stop == signal.SIGSTOP:  # stopped while idle: the next run finds it deaf
            warm = workspace.file("warm.py", MODEL)
            server.open(warm, MODEL)
            server.wait_report(warm)
            os.kill(_worker_pid(server), signal.SIGSTOP)
            server.open(uri, text)
        else:
            server.open(uri, text)
            os.kill(_worker_pid(server, running=True), signal.SIGKILL)
        report = server.wait_report(uri, timeout=120)
        assert report["execution"]["status"] == "ok", report["execution"]
        assert [m["name"] for m in report["modules"]] == ["net"]
        assert not [d for d in report["diagnostics"] if d["severity"] == "error"], report["diagnostics"]
        assert server.popups() == []
    finally:
        server.kill()


def test_a_worker_lost_twice_is_information_on_the_document_not_an_error_on_a_line(tmp_path):
    workspace = Workspace(tmp_path)
    server = RawServer(workspace.tmp, workspace.root)
    try:
        server.initialize(workspace.root)
        text = "import torch\nfrom torch import nn\nnet = nn.Linear(4, 8)\ntotal = sum(range(10 ** 12))\n"
        uri = workspace.file("model.py", text)
        server.open(uri, text)
        first = _worker_pid(server, running=True)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 60
        second = first
        while second == first and time.monotonic() < deadline:  # the retry, on a fresh worker
            second = _worker_pid(server, running=True)
        os.kill(second, signal.SIGKILL)
        report = server.wait_report(uri, timeout=120)
        assert report["diagnostics"], report
        assert not [d for d in report["diagnostics"] if d["severity"] == "error"], report["diagnostics"]
        note = next(d for d in report["diagnostics"] if d["code"] == "PL901")
        assert note["severity"] == "information" and note["line"] == 1 and "not a fault of this file" in note["message"]
        assert server.popups() == []
    finally:
        server.kill()

"""What the language server executes, one test per row of the policy (paramlens/server/policy.py, README): only
Python documents; `untitled:` buffers run; a `file:` outside every workspace folder is static unless
`executeOutsideWorkspace`; a file that was never opened is never read nor run; the stricter of
`initializationOptions` and the configuration answer wins. Driven over raw stdio (rawlsp.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rawlsp import RawServer

MODEL = "import torch\nfrom torch import nn\nnet = nn.Linear(4, 8)\n"


@pytest.fixture()
def workspace(tmp_path):
    root, outside, tmp = tmp_path / "ws", tmp_path / "outside", tmp_path / "tmp"
    for directory in (root, outside, tmp):
        directory.mkdir()
    return root, outside, tmp


def _server(tmp: Path, root: Path, options: dict | None = None, configuration: dict | None = None) -> RawServer:
    server = RawServer(tmp, root)
    server.configuration = configuration
    server.initialize(root, options)
    return server


def _status(server: RawServer, uri: str) -> tuple[str, str | None]:
    report = server.wait_report(uri)
    return report["execution"]["status"], report["execution"]["message"]


def test_a_python_file_inside_the_workspace_runs(workspace):
    root, _, tmp = workspace
    server = _server(tmp, root)
    try:
        uri = (root / "model.py").as_uri()
        server.open(uri, MODEL)
        assert _status(server, uri)[0] == "ok"
    finally:
        server.kill()


@pytest.mark.parametrize("language", ["plaintext", "markdown"])
def test_documents_in_other_languages_are_not_analysed(workspace, language):
    root, _, tmp = workspace
    server = _server(tmp, root)
    try:
        other = (root / f"notes.{language}").as_uri()
        server.open(other, MODEL, language=language)
        python = (root / "model.py").as_uri()
        server.open(python, MODEL)  # analysed after the other one was seen
        assert _status(server, python)[0] == "ok"
        assert server.report(other) is None
    finally:
        server.kill()


def test_untitled_buffers_run(workspace):
    root, _, tmp = workspace
    server = _server(tmp, root)
    try:
        uri = "untitled:Untitled-1"
        server.open(uri, MODEL)
        assert _status(server, uri)[0] == "ok"
    finally:
        server.kill()


def test_a_file_outside_every_workspace_folder_is_static(workspace):
    root, outside, tmp = workspace
    server = _server(tmp, root)
    try:
        uri = (outside / "model.py").as_uri()
        server.open(uri, MODEL)
        status, message = _status(server, uri)
        assert status == "skipped" and "outside every workspace folder" in message
    finally:
        server.kill()


def test_execute_outside_workspace_runs_it(workspace):
    root, outside, tmp = workspace
    server = _server(tmp, root, {"executeOutsideWorkspace": True})
    try:
        uri = (outside / "model.py").as_uri()
        server.open(uri, MODEL)
        assert _status(server, uri)[0] == "ok"
    finally:
        server.kill()


def test_a_file_that_was_never_opened_is_never_read(workspace):
    root, _, tmp = workspace
    server = _server(tmp, root)
    try:
        never = root / "never_opened.py"
        never.write_text(MODEL, encoding="utf-8")
        server.notify("textDocument/didSave", {"textDocument": {"uri": never.as_uri()}})
        server.notify("textDocument/didChange", {"textDocument": {"uri": never.as_uri(), "version": 2},
                                                 "contentChanges": [{"text": MODEL}]})
        opened = (root / "model.py").as_uri()
        server.open(opened, MODEL)
        assert _status(server, opened)[0] == "ok"
        assert server.report(never.as_uri()) is None
        assert server.diagnostics(never.as_uri()) is None
    finally:
        server.kill()


@pytest.mark.parametrize("initialization,configuration", [(False, True), (True, False)],
                         ids=["init off, configuration on", "init on, configuration off"])
def test_the_stricter_of_initialization_options_and_configuration_wins(workspace, initialization, configuration):
    root, _, tmp = workspace
    server = _server(tmp, root, {"execution": initialization}, {"execution": configuration})
    try:
        time.sleep(0.5)  # the configuration answer arrives after `initialized`
        uri = (root / "model.py").as_uri()
        server.open(uri, MODEL)
        status, _ = _status(server, uri)
        assert status == "skipped"
        assert not [cmd for cmd in server.descendants().values() if "paramlens.sandbox" in cmd], \
            "execution is off, yet a worker was started"
    finally:
        server.kill()


def test_a_class_whose_constructor_the_sandbox_blocked_is_not_said_never_created(run_cli, tmp_path):
    model = tmp_path / "blocked.py"
    model.write_text("import socket\nimport torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n"
                     "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(2, 2)\n"
                     "        socket.create_connection(('127.0.0.1', 9))\n\n\nnet = Net()\n", encoding="utf-8")
    code, out, err = run_cli("check", "--format", "json", str(model))
    import json

    diagnostics = json.loads(out)["files"][0]["diagnostics"]
    assert any(d["code"] == "PL902" for d in diagnostics), diagnostics
    assert not [d for d in diagnostics if "never creates" in d["message"]], diagnostics

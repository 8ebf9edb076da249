"""What the language server executes, one test per row of the policy (paramlens/server/policy.py, README): only
Python documents; `untitled:` buffers run; a `file:` outside every workspace folder is static unless
`executeOutsideWorkspace`; a file that was never opened is never read nor run; the stricter of
`initializationOptions` and the configuration answer wins. Driven over raw stdio (rawlsp.py)."""

from __future__ import annotations

import time

import pytest

from rawlsp import RawServer

MODEL = "import torch\nfrom torch import nn\nnet = nn.Linear(4, 8)\n"


@pytest.fixture()
def workspace(tmp_path):
    root, outside, tmp = tmp_path / "ws", tmp_path / "outside", tmp_path / "tmp"
    for directory in (root, outside, tmp):
        directory.mkdir()
    return root, outside, tmp


@pytest.fixture()
def serve(workspace):
    """serve(options, configuration) -> an initialized server rooted at the workspace; killed after the test."""
    root, _, tmp = workspace
    started: list[RawServer] = []

    def start(options: dict | None = None, configuration: dict | None = None) -> RawServer:
        server = RawServer(tmp, root)
        started.append(server)
        server.configuration = configuration
        server.initialize(root, options)
        return server

    yield start
    for server in started:
        server.kill()


def _status(server: RawServer, uri: str) -> tuple[str, str | None]:
    report = server.wait_report(uri)
    return report["execution"]["status"], report["execution"]["message"]


def test_a_python_file_inside_the_workspace_runs(workspace, serve):
    root, _, _ = workspace
    server = serve()
    uri = (root / "model.py").as_uri()
    server.open(uri, MODEL)
    assert _status(server, uri)[0] == "ok"


@pytest.mark.parametrize("language", ["plaintext", "markdown"])
def test_documents_in_other_languages_are_not_analysed(workspace, serve, language):
    root, _, _ = workspace
    server = serve()
    other = (root / f"notes.{language}").as_uri()
    server.open(other, MODEL, language=language)
    python = (root / "model.py").as_uri()
    server.open(python, MODEL)  # analysed after the other one was seen
    assert _status(server, python)[0] == "ok"
    assert server.report(other) is None


def test_untitled_buffers_run(workspace, serve):
    root, _, _ = workspace
    server = serve()
    uri = "untitled:Untitled-1"
    server.open(uri, MODEL)
    assert _status(server, uri)[0] == "ok"


def test_a_file_outside_every_workspace_folder_is_static(workspace, serve):
    root, outside, _ = workspace
    server = serve()
    uri = (outside / "model.py").as_uri()
    server.open(uri, MODEL)
    status, message = _status(server, uri)
    assert status == "skipped" and "outside every workspace folder" in message


def test_execute_outside_workspace_runs_it(workspace, serve):
    root, outside, _ = workspace
    server = serve({"executeOutsideWorkspace": True})
    uri = (outside / "model.py").as_uri()
    server.open(uri, MODEL)
    assert _status(server, uri)[0] == "ok"


def test_a_file_that_was_never_opened_is_never_read(workspace, serve):
    root, _, _ = workspace
    server = serve()
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


@pytest.mark.parametrize("initialization,configuration", [(False, True), (True, False)],
                         ids=["init off, configuration on", "init on, configuration off"])
def test_the_stricter_of_initialization_options_and_configuration_wins(workspace, serve, initialization,
                                                                     configuration):
    root, _, _ = workspace
    server = serve({"execution": initialization}, {"execution": configuration})
    time.sleep(0.5)  # the configuration answer arrives after `initialized`
    uri = (root / "model.py").as_uri()
    server.open(uri, MODEL)
    status, _ = _status(server, uri)
    assert status == "skipped"
    assert not [cmd for cmd in server.descendants().values() if "paramlens.sandbox" in cmd], \
        "execution is off, yet a worker was started"


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

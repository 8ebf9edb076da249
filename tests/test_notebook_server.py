"""Notebooks in the language server, end to end: the real `paramlens serve` over stdio, driven by pytest-lsp with
VS Code's client capabilities plus its notebook synchronisation (`notebookDocument/didOpen|didChange|didSave|
didClose`, LSP 3.17), cells named the way VS Code names them (`vscode-notebook-cell:` URIs with a percent-encoded
fragment). Every value checked comes from torch running the concatenated code cells (tests/oracle.py)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import attrs
import nbformat
import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from oracle import run_oracle

ROOT = Path(__file__).resolve().parent.parent
SERVER = [sys.executable, "-m", "paramlens", "serve"]

CELL_1 = "import torch\nfrom torch import nn\n\nnet = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))\n"
CELL_2 = "X = torch.rand(size=(2, 4))\nprint(net[0].weight.shape)\nnet(X)"
CELL_3 = "def init(m):\n    if type(m) == nn.Linear:\n        nn.init.zeros_(m.bias)\n\nnet.apply(init)"
MARKDOWN = "# 参数管理\n\nThe cells below build and inspect a network."


def capabilities() -> lsp.ClientCapabilities:
    """VS Code's capabilities (pytest-lsp's recording predates notebook support) with the notebook synchronisation
    VS Code 1.100 announces."""
    return attrs.evolve(client_capabilities("visual-studio-code"), notebook_document=lsp.NotebookDocumentClientCapabilities(
        synchronization=lsp.NotebookDocumentSyncClientCapabilities(dynamic_registration=True,
                                                                    execution_summary_support=True)))


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient, tmp_path):
    @lsp_client.feature("paramlens/status")
    def status(params):
        return None

    @lsp_client.feature("workspace/codeLens/refresh")
    def code_lens_refresh(params):
        return None

    @lsp_client.feature("workspace/inlayHint/refresh")
    def inlay_hint_refresh(params):
        return None

    result = await lsp_client.initialize_session(lsp.InitializeParams(
        capabilities=capabilities(), root_uri=tmp_path.as_uri(),
        workspace_folders=[lsp.WorkspaceFolder(uri=tmp_path.as_uri(), name="notebooks")],
        initialization_options={"debounceMs": 50}))
    lsp_client.sync = result.capabilities.notebook_document_sync
    lsp_client.folder = tmp_path
    yield
    await lsp_client.shutdown_session()


def cell_uri(path: Path, handle: int) -> str:
    """How VS Code names a cell document: the notebook's path, and a fragment that is percent-encoded base64."""
    import base64
    from urllib.parse import quote

    fragment = "W" + str(handle) + "s" + base64.b64encode(b"file").decode()
    return f"vscode-notebook-cell:{path.as_posix()}#{quote(fragment, safe='')}"


def open_notebook(client: LanguageClient, path: Path, cells: list[tuple[str, str]]) -> list[str]:
    """Opens a notebook of (kind, text) cells as VS Code does; returns the cells' URIs."""
    uris = [cell_uri(path, index) for index in range(len(cells))]
    client.notebook_document_did_open(lsp.DidOpenNotebookDocumentParams(
        notebook_document=lsp.NotebookDocument(
            uri=path.as_uri(), notebook_type="jupyter-notebook", version=0,
            cells=[lsp.NotebookCell(kind=lsp.NotebookCellKind.Code if kind == "code" else lsp.NotebookCellKind.Markup,
                                    document=uri) for uri, (kind, _) in zip(uris, cells)]),
        cell_text_documents=[lsp.TextDocumentItem(uri=uri, language_id="python" if kind == "code" else "markdown",
                                                  version=1, text=text) for uri, (kind, text) in zip(uris, cells)]))
    return uris


async def wait_until(predicate, timeout: float = 90.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting for the server")
        await asyncio.sleep(0.05)


async def hover(client: LanguageClient, uri: str, line: int, character: int) -> str:
    result = await client.text_document_hover_async(lsp.HoverParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri), position=lsp.Position(line=line, character=character)))
    return result.contents.value if result else ""


def _plain(value):
    """pygls hands a custom request's answer back as nested named tuples: make it JSON-shaped again."""
    if hasattr(value, "_asdict"):
        return {key: _plain(item) for key, item in value._asdict().items()}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def codes(client: LanguageClient, uri: str) -> list[str]:
    return [d.code for d in client.diagnostics.get(uri, [])]


@pytest.mark.asyncio(loop_scope="function")
async def test_notebook_sync_is_advertised(client: LanguageClient):
    selector = client.sync.notebook_selector[0]
    assert selector.notebook == "jupyter-notebook"
    assert {cell.language for cell in selector.cells} >= {"python", "markdown"}


@pytest.mark.asyncio(loop_scope="function")
async def test_hover_in_a_cell_on_a_name_defined_in_another(client: LanguageClient):
    path = client.folder / "nb.ipynb"
    uris = open_notebook(client, path, [("markdown", MARKDOWN), ("code", CELL_1), ("code", CELL_2),
                                        ("code", CELL_3)])
    await wait_until(lambda: uris[3] in client.diagnostics)
    program = CELL_1 + CELL_2 + "\n" + CELL_3 + "\n"
    line = program.split("\n").index("print(net[0].weight.shape)") + 1
    oracle = run_oracle(program, str(path), capture={line: ["list(net[0].weight.shape)", "list(net(X).shape)",
                                                            "net(X)"]})
    shape = oracle.value(line, "list(net[0].weight.shape)")
    text = await hover(client, uris[2], 1, CELL_2.split("\n")[1].index("weight") + 2)
    assert "net[0].weight" in text and f"[{', '.join(map(str, shape))}]" in text
    forward = await hover(client, uris[2], 2, 1)
    assert "forward" in forward and str(oracle.value(line, "list(net(X).shape)")).replace(" ", "") in \
        forward.replace(" ", "")
    first = oracle.value(line, "net(X)")[0][0]
    assert f"{first:.4f}" in forward  # the value torch computed, printed as torch prints it
    # the markdown cell is not Python: nothing is said about it
    assert await hover(client, uris[0], 0, 3) == ""
    assert not client.diagnostics.get(uris[0])


@pytest.mark.asyncio(loop_scope="function")
async def test_diagnostics_go_to_the_cell_and_follow_an_edit(client: LanguageClient):
    path = client.folder / "edit.ipynb"
    uris = open_notebook(client, path, [("markdown", MARKDOWN), ("code", CELL_1), ("code", CELL_2),
                                        ("code", CELL_3)])
    await wait_until(lambda: "PL102" in codes(client, uris[3]))
    exact = next(d for d in client.diagnostics[uris[3]] if d.code == "PL102")
    assert exact.range.start.line == 1  # `if type(m) == nn.Linear:` is the cell's second line
    assert "PL102" not in codes(client, uris[1]) + codes(client, uris[2])
    # the user edits cell 2 (its second line) so that it uses a name no cell defines
    client.notebook_document_did_change(lsp.DidChangeNotebookDocumentParams(
        notebook_document=lsp.VersionedNotebookDocumentIdentifier(version=1, uri=path.as_uri()),
        change=lsp.NotebookDocumentChangeEvent(cells=lsp.NotebookDocumentCellChanges(text_content=[
            lsp.NotebookDocumentCellContentChanges(
                document=lsp.VersionedTextDocumentIdentifier(uri=uris[2], version=2),
                changes=[lsp.TextDocumentContentChangePartial(
                    range=lsp.Range(lsp.Position(1, 0), lsp.Position(1, len("print(net[0].weight.shape)"))),
                    text="print(undefined_net.weight)")])]))))
    await wait_until(lambda: "PL900" in codes(client, uris[2]))
    raised = next(d for d in client.diagnostics[uris[2]] if d.code == "PL900")
    assert raised.range.start.line == 1 and "undefined_net" in raised.message
    assert "PL900" not in codes(client, uris[1]) + codes(client, uris[3])
    # the notebook's report names cells, not program lines
    report = _plain(await client.protocol.send_request_async("paramlens/report", {"textDocument": {"uri": uris[2]}}))
    assert report is not None
    diagnostics = report["report"]["diagnostics"]
    assert {d["cell"] for d in diagnostics if d["code"] == "PL900"} == {3}
    # closing the notebook clears every cell's diagnostics
    client.notebook_document_did_close(lsp.DidCloseNotebookDocumentParams(
        notebook_document=lsp.NotebookDocumentIdentifier(uri=path.as_uri()),
        cell_text_documents=[lsp.TextDocumentIdentifier(uri=uri) for uri in uris]))
    await wait_until(lambda: not client.diagnostics.get(uris[2], [None]) and not client.diagnostics.get(uris[3], [None]))


@pytest.mark.asyncio(loop_scope="function")
async def test_stored_outputs_of_the_saved_file_are_compared(client: LanguageClient):
    """The saved .ipynb (written here by nbformat) stores an output for cell 3 from a session where it ran twice:
    execution counts 1, 2, 4. The server reads the stored outputs from disk (LSP does not carry them)."""
    path = client.folder / "stored.ipynb"
    increment = "net[0].bias.data += 1\nnet[0].bias.data"
    program = CELL_1 + increment + "\n"
    line = len(CELL_1.split("\n"))
    oracle = run_oracle(program, str(path), capture={line: ["net[0].bias.data"]},
                        before={line: ["net[0].bias.data + 2"]})
    twice = oracle.value_before(line, "net[0].bias.data + 2")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell(MARKDOWN),
                      nbformat.v4.new_code_cell(CELL_1, execution_count=1),
                      nbformat.v4.new_code_cell(increment, execution_count=3, outputs=[nbformat.v4.new_output(
                          "execute_result", data={"text/plain": f"tensor({[round(v, 4) for v in twice]})"},
                          execution_count=3)])]
    nbformat.write(notebook, path)
    uris = open_notebook(client, path, [("markdown", MARKDOWN), ("code", CELL_1), ("code", increment)])
    await wait_until(lambda: "PL921" in codes(client, uris[2]))
    stored = next(d for d in client.diagnostics[uris[2]] if d.code == "PL921")
    assert "[3]" in stored.message and "[1]" in stored.message and stored.range.start.line == 0
    assert "PL921" not in codes(client, uris[1])

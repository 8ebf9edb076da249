"""Language-server latency, measured by one LSP client over stdio, with peers measured in the same run.

- hover latency (p50/p95 over a few hundred hovers on parameter sites) of `paramlens serve`, next to
  jedi-language-server hovering the same positions of the same file;
- edit-to-diagnostics latency (an edit that changes a layer size, until diagnostics for that version arrive);
- cold start: process start to first diagnostics, next to `python -c "import torch"` (the floor).
- notebooks (issue 14): the example notebook opened through LSP notebook synchronisation, hover p50/p95 on its cells
  and an edit in one cell → its diagnostics, next to the same code cells as one .py file in the same server
  (`--only-notebook` runs just this).

- while an edit is pending (issue 17): hover, inlay-hint (a 100-line viewport, as an editor asks) and code-lens
  latency p50/p95 right after one keystroke whose analysis has not run yet (debounce 60 s), next to the same
  requests with nothing pending (the baseline, same server, same run), on the generated 5,012-line file and a
  10,000-line one; `--compare-with DIR` measures a server from another checkout (e.g. one before the change)
  the same way in the same run.

Files: the seed example and a generated 5,000-line model file. Prints a table and writes JSON.

    .venv/bin/pip install jedi-language-server   # the peer (optional; skipped when absent)
    .venv/bin/python benchmarks/lsp_latency.py [--hovers 300] [--edits 20] [--pending-requests 100]
        [--compare-with /path/to/other/checkout] [--only-pending] [--only-notebook]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "examples" / "parameter_management.py"
sys.path.insert(0, str(ROOT / "tests"))  # rawlsp: the raw stdio client the fault tests use


def generated_model(lines: int = 5000) -> str:
    """A long but ordinary model file: many blocks built by functions, initialised, inspected."""
    parts = ["import torch", "from torch import nn", "", ""]
    index = 0
    while sum(p.count("\n") + 1 for p in parts) < lines:
        width = 4 + index % 13
        parts += [
            f"def block_{index}():",
            f"    return nn.Sequential(nn.Linear({width}, {width * 2}), nn.ReLU(), nn.Linear({width * 2}, {width}))",
            "",
            "",
            f"def init_{index}(m):",
            "    if isinstance(m, nn.Linear):",
            "        nn.init.xavier_uniform_(m.weight)",
            "        nn.init.zeros_(m.bias)",
            "",
            "",
            f"net_{index} = block_{index}()",
            f"net_{index}.apply(init_{index})",
            f"print(*[(name, p.shape) for name, p in net_{index}.named_parameters()])",
            f"net_{index}[0].weight.data[0, 0] = 1.0",
            f"net_{index}.state_dict()['0.bias']",
            "",
        ]
        index += 1
    return "\n".join(parts) + "\n"


def hover_positions(text: str, limit: int) -> list[lsp.Position]:
    needles = ["named_parameters", "state_dict", ".apply(", "xavier_uniform_", "nn.Linear(", ".weight"]
    positions = []
    for number, line in enumerate(text.split("\n")):
        for needle in needles:
            column = line.find(needle)
            if column >= 0:
                positions.append(lsp.Position(number, column + 2))
    step = max(1, len(positions) // limit)
    return (positions[::step] * (1 + limit // max(1, len(positions))))[:limit]


class Session:
    def __init__(self, command: list[str], cwd: str | None = None, debounce_ms: int = 0) -> None:
        self.command = command
        self.cwd = cwd
        self.debounce_ms = debounce_ms
        self.client = LanguageClient("paramlens-bench", "1")
        self.diagnostics: dict[str, asyncio.Event] = {}
        self.versions: dict[str, int | None] = {}

        self.published: list[tuple[str, int | None]] = []  # every publish, in order (the typing case counts them)

        @self.client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def published(params: lsp.PublishDiagnosticsParams) -> None:
            self.published.append((params.uri, params.version))
            self.versions[params.uri] = params.version
            self.diagnostics.setdefault(params.uri, asyncio.Event()).set()

        self.status: Any = None  # the latest paramlens/status: what the last analysis did (incremental.documents)

        @self.client.feature("paramlens/status")
        def status(params: Any) -> None:
            self.status = params

        for method in ("window/logMessage", "$/progress"):
            self.client.feature(method)(lambda params: None)
        self.client.feature("window/workDoneProgress/create")(lambda params: None)
        self.client.feature("workspace/configuration")(lambda params: [None for _ in params.items])

    async def start(self, root: Path = ROOT) -> None:
        await self.client.start_io(*self.command, **({"cwd": self.cwd} if self.cwd else {}))
        await self.client.initialize_async(lsp.InitializeParams(
            capabilities=lsp.ClientCapabilities(), root_uri=root.as_uri(),
            initialization_options={"debounceMs": self.debounce_ms}))
        self.client.initialized(lsp.InitializedParams())

    async def open(self, uri: str, text: str) -> None:
        self.diagnostics[uri] = asyncio.Event()
        self.client.text_document_did_open(lsp.DidOpenTextDocumentParams(
            lsp.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))

    async def wait_diagnostics(self, uri: str, version: int, timeout: float = 120) -> None:
        deadline = time.perf_counter() + timeout
        while self.versions.get(uri) != version:
            event = self.diagnostics.setdefault(uri, asyncio.Event())
            event.clear()
            await asyncio.wait_for(event.wait(), max(0.01, deadline - time.perf_counter()))

    async def hover(self, uri: str, position: lsp.Position) -> float:
        started = time.perf_counter()
        self.last_hover = await self.client.text_document_hover_async(
            lsp.HoverParams(lsp.TextDocumentIdentifier(uri), position))
        return time.perf_counter() - started

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(self.client.shutdown_async(None), 10)
            self.client.exit(None)
        except Exception:
            pass
        await self.client.stop()



def measure_pending(label: str, cwd: str, path: Path, text: str, requests: int) -> dict:
    """Latencies with nothing pending (baseline) and right after one keystroke that is not analysed yet. A raw
    stdio client (tests/rawlsp.py: json.loads, no typed structuring) so that the client's own cost stays out."""
    from rawlsp import RawServer

    uri = path.as_uri()
    with tempfile.TemporaryDirectory(prefix="paramlens-bench-tmp-") as tmp:
        server = RawServer(Path(tmp), Path(cwd))
        try:
            server.initialize(path.parent, {"debounceMs": 60_000})
            server.open(uri, text)
            server.wait_report(uri, timeout=900) if label == "this checkout" else \
                server.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics", timeout=900)
            lines = text.split("\n")
            middle = len(lines) // 2
            viewport = {"start": {"line": middle, "character": 0},
                        "end": {"line": min(len(lines), middle + 100), "character": 0}}
            positions = [p for p in hover_positions(text, requests * 4) if middle <= p.line < middle + 100] or \
                hover_positions(text, requests)
            document = {"uri": uri}

            def timed(method: str, params: dict) -> float:
                started = time.perf_counter()
                answer = server.request(method, params, timeout=120)
                assert "result" in answer, answer
                return time.perf_counter() - started

            def round_of_requests() -> dict[str, list[float]]:
                samples: dict[str, list[float]] = {"hover": [], "inlay": [], "lens": []}
                for index in range(requests):
                    position = positions[index % len(positions)]
                    samples["hover"].append(timed("textDocument/hover", {
                        "textDocument": document, "position": {"line": position.line, "character": position.character}}))
                    samples["inlay"].append(timed("textDocument/inlayHint", {"textDocument": document,
                                                                             "range": viewport}))
                    samples["lens"].append(timed("textDocument/codeLens", {"textDocument": document}))
                return samples

            idle = round_of_requests()
            # one keystroke near the top: every line below it moves; its analysis waits for the 60 s debounce
            target = next(i for i, line in enumerate(lines) if "nn.Linear(" in line)
            column = lines[target].index("nn.Linear(")
            at = {"line": target, "character": column}
            server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                                     "contentChanges": [{"range": {"start": at, "end": at},
                                                                         "text": "x"}]})
            pending = round_of_requests()
        finally:
            server.kill()
    result = {"server": label, "lines": len(lines), "requests": requests}
    for kind in ("hover", "inlay", "lens"):
        result[f"{kind}_idle_p50"] = percentile(idle[kind], 0.5)
        result[f"{kind}_idle_p95"] = percentile(idle[kind], 0.95)
        result[f"{kind}_pending_p50"] = percentile(pending[kind], 0.5)
        result[f"{kind}_pending_p95"] = percentile(pending[kind], 0.95)
    return result


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def measure_file(name: str, path: Path, text: str, args: argparse.Namespace, results: dict) -> None:
    uri = path.as_uri()
    positions = hover_positions(text, args.hovers)
    server = Session([sys.executable, "-m", "paramlens", "serve"])
    started = time.perf_counter()
    await server.start()
    await server.open(uri, text)
    await server.wait_diagnostics(uri, 1)
    cold = time.perf_counter() - started
    hovers = [await server.hover(uri, p) for p in positions]
    edits = []
    lines = text.split("\n")
    target = next(i for i, line in enumerate(lines) if "nn.Linear(" in line)
    original = lines[target]
    # the first layer's output size, changed and changed back: the statement and everything after it run again
    # (it once toggled nothing, by a replace that was its own inverse, and timed an appended comment)
    changed = re.sub(r"nn\.Linear\((\s*[^,()]+),\s*(\d+)", lambda m: f"nn.Linear({m.group(1)}, {int(m.group(2)) * 2}",
                     original, count=1)
    assert changed != original, original
    for version in range(2, 2 + args.edits):
        lines[target] = changed if version % 2 == 0 else original
        edited = "\n".join(lines) + f"\n# edit {version}\n"
        begun = time.perf_counter()
        server.client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
            [lsp.TextDocumentContentChangeWholeDocument(text=edited)]))
        await server.wait_diagnostics(uri, version)
        edits.append(time.perf_counter() - begun)
    await server.stop()
    entry = {"cold_start_to_diagnostics": cold, "hover_p50": percentile(hovers, 0.5),
             "hover_p95": percentile(hovers, 0.95), "hovers": len(hovers),
             "edit_to_diagnostics_median": statistics.median(edits), "edits": len(edits)}
    jedi = shutil.which("jedi-language-server") or str(Path(sys.executable).parent / "jedi-language-server")
    if Path(jedi).exists():
        peer = Session([jedi])
        await peer.start()
        await peer.open(uri, text)
        await asyncio.sleep(1.0)
        await peer.hover(uri, positions[0])  # let jedi parse the file once
        peer_hovers = [await peer.hover(uri, p) for p in positions]
        await peer.stop()
        entry.update({"jedi_hover_p50": percentile(peer_hovers, 0.5), "jedi_hover_p95": percentile(peer_hovers, 0.95)})
    results[name] = entry


NOTEBOOK = ROOT / "examples" / "parameter_management.ipynb"


async def measure_notebook(args: argparse.Namespace, results: dict) -> None:
    """The example notebook through LSP notebook synchronisation (cells named as VS Code names them), next to the
    same code cells joined into one .py file opened in the same server (the baseline): hover p50/p95 on the same
    sites, open → first diagnostics, and an edit in one cell (or the same line of the file) → its diagnostics."""
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    with tempfile.TemporaryDirectory(prefix="paramlens-bench-nb-") as directory:
        folder = Path(directory)
        path = folder / NOTEBOOK.name
        path.write_text(NOTEBOOK.read_text())
        cells, file_lines, starts = [], [], {}
        for index, cell in enumerate(notebook.cells):
            uri = f"vscode-notebook-cell:{path.as_posix()}#W{index}sZmlsZQ%3D%3D"
            cells.append((uri, cell.cell_type, cell.source))
            if cell.cell_type == "code":
                starts[uri] = len(file_lines)
                file_lines.extend(cell.source.split("\n"))
        file_path = folder / "parameter_management_cells.py"
        file_text = "\n".join(file_lines) + "\n"
        file_path.write_text(file_text)
        sites = [(uri, position) for uri, kind, text in cells if kind == "code"
                 for position in hover_positions(text, 10 ** 6)]
        sites = (sites * (1 + args.hovers // max(1, len(sites))))[:args.hovers]
        server = Session([sys.executable, "-m", "paramlens", "serve"])
        started = time.perf_counter()
        await server.client.start_io(*server.command)
        await server.client.initialize_async(lsp.InitializeParams(
            capabilities=lsp.ClientCapabilities(notebook_document=lsp.NotebookDocumentClientCapabilities(
                synchronization=lsp.NotebookDocumentSyncClientCapabilities())),
            root_uri=folder.as_uri(), initialization_options={"debounceMs": 0}))
        server.client.initialized(lsp.InitializedParams())
        code_uris = [uri for uri, kind, _ in cells if kind == "code"]
        for uri in code_uris:
            server.diagnostics[uri] = asyncio.Event()
        server.client.notebook_document_did_open(lsp.DidOpenNotebookDocumentParams(
            notebook_document=lsp.NotebookDocument(uri=path.as_uri(), notebook_type="jupyter-notebook", version=0, cells=[
                lsp.NotebookCell(kind=lsp.NotebookCellKind.Code if kind == "code" else lsp.NotebookCellKind.Markup,
                                 document=uri) for uri, kind, _ in cells]),
            cell_text_documents=[lsp.TextDocumentItem(uri=uri, language_id="python" if kind == "code" else "markdown",
                                                      version=1, text=text) for uri, kind, text in cells]))
        await asyncio.wait_for(asyncio.wait([asyncio.ensure_future(server.diagnostics[uri].wait())
                                             for uri in code_uris], return_when=asyncio.FIRST_COMPLETED), 300)
        cold = time.perf_counter() - started
        await server.open(file_path.as_uri(), file_text)
        await server.wait_diagnostics(file_path.as_uri(), 1)
        cell_hovers, file_hovers, answered = [], [], {"cell": 0, "file": 0, "same": 0}
        for uri, position in sites:  # interleaved: the same site as a cell, then in the file
            cell_hovers.append(await server.hover(uri, position))
            in_cell = server.last_hover
            file_hovers.append(await server.hover(file_path.as_uri(), lsp.Position(starts[uri] + position.line,
                                                                                   position.character)))
            in_file = server.last_hover
            answered["cell"] += in_cell is not None
            answered["file"] += in_file is not None
            answered["same"] += (in_cell is not None and in_file is not None
                                 and in_cell.contents.value.split("\n")[0] == in_file.contents.value.split("\n")[0])
        # an edit in the cell that builds the first network (or the same line of the file) that changes a layer size,
        # until that cell's diagnostics arrive: even versions make `Linear(4, 9)` feed `Linear(8, 1)` (PL001 on the
        # cell), odd versions undo it (the cell's diagnostics are published again, empty). The server publishes only
        # cells that have or had diagnostics, so an edit that changes nothing would never be answered on that cell.
        target = next(uri for uri, kind, text in cells if kind == "code" and "nn.Linear(4, 8)" in text)
        text = dict((uri, text) for uri, _, text in cells)[target]
        cell_edits, file_edits = [], []
        for version in range(2, 2 + args.edits):
            size = "9" if version % 2 == 0 else "8"
            new = text.replace("nn.Linear(4, 8)", f"nn.Linear(4, {size})", 1)
            server.versions.pop(target, None)
            begun = time.perf_counter()
            server.client.notebook_document_did_change(lsp.DidChangeNotebookDocumentParams(
                notebook_document=lsp.VersionedNotebookDocumentIdentifier(version=version, uri=path.as_uri()),
                change=lsp.NotebookDocumentChangeEvent(cells=lsp.NotebookDocumentCellChanges(text_content=[
                    lsp.NotebookDocumentCellContentChanges(
                        document=lsp.VersionedTextDocumentIdentifier(uri=target, version=version),
                        changes=[lsp.TextDocumentContentChangeWholeDocument(text=new)])]))))
            await server.wait_diagnostics(target, version)
            cell_edits.append(time.perf_counter() - begun)
            edited = file_text.replace("nn.Linear(4, 8)", f"nn.Linear(4, {size})", 1)
            begun = time.perf_counter()
            server.client.text_document_did_change(lsp.DidChangeTextDocumentParams(
                lsp.VersionedTextDocumentIdentifier(uri=file_path.as_uri(), version=version),
                [lsp.TextDocumentContentChangeWholeDocument(text=edited)]))
            await server.wait_diagnostics(file_path.as_uri(), version)
            file_edits.append(time.perf_counter() - begun)
        await server.stop()
    results["notebook"] = {
        "cells": len(cells), "code_cells": len(code_uris), "hovers": len(sites),
        "hovers_answered_in_cells": answered["cell"], "hovers_answered_in_file": answered["file"],
        "hovers_same_heading": answered["same"],
        "open_to_first_diagnostics": cold,
        "cell_hover_p50": percentile(cell_hovers, 0.5), "cell_hover_p95": percentile(cell_hovers, 0.95),
        "file_hover_p50": percentile(file_hovers, 0.5), "file_hover_p95": percentile(file_hovers, 0.95),
        "cell_edit_to_diagnostics_median": statistics.median(cell_edits),
        "file_edit_to_diagnostics_median": statistics.median(file_edits), "edits": len(cell_edits)}


def import_torch_seconds(repeat: int = 3) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


async def main_async(args: argparse.Namespace) -> dict:
    results: dict = {"import_torch_seconds": import_torch_seconds()}
    if args.only_notebook:
        await measure_notebook(args, results)
        return results
    if args.only_incremental:
        await measure_incremental(args, results)
        return results
    if not args.only_pending:
        if not args.only_files:
            await measure_notebook(args, results)
        await measure_file("seed example", SEED, SEED.read_text(), args, results)
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "generated_model.py"
            text = generated_model(args.lines)
            path.write_text(text)
            await measure_file(f"generated {text.count(chr(10))}-line model", path, text, args, results)
    if args.only_files:
        return results
    if not args.only_pending and not args.no_incremental:
        await measure_incremental(args, results)
    servers = [("this checkout", str(ROOT))]
    if args.compare_with:
        servers.append((args.compare_with, args.compare_with))
    results["pending_edit"] = []
    for lines in (args.lines, 10_000):
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / f"generated_{lines}.py"
            text = generated_model(lines)
            path.write_text(text)
            for label, cwd in servers:
                results["pending_edit"].append(measure_pending(label, cwd, path, text, args.pending_requests))
    return results


# -- incremental analysis (issue 15): long files re-analysed from the first changed statement -----------------------
# Kept in functions of its own (measure_incremental and its helpers), called once from main_async.

def transformer_file() -> str:
    """~1,500 lines of real model code: torch's own `nn/modules/transformer.py` as installed (relative imports made
    absolute so that it runs as a script), then a script that builds, initialises, inspects and trains its models."""
    import torch.nn.modules.transformer as module

    source = Path(module.__file__).read_text()
    source = re.sub(r"^from \.(\w+) import", r"from torch.nn.modules.\1 import", source, flags=re.M)
    parts = [source, "", "", "import torch.nn as nn", "",
             # every class of the file built once, small (a class never built would be built by ParamLens with its
             # defaults: nn.Transformer's are 44 M parameters, which sends the whole file to the meta device)
             "model = Transformer(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1, "
             "dim_feedforward=32, dropout=0.0, batch_first=True)",
             "print(sum(p.numel() for p in model.parameters()))",
             "out = model(torch.randn(2, 5, 16), torch.randn(2, 3, 16))",
             "print(out.shape)", ""]
    index = 0
    while sum(p.count("\n") + 1 for p in parts) < 1500:
        d = 8 * (1 + index % 4)
        parts += [
            f"encoder_layer_{index} = TransformerEncoderLayer(d_model={d}, nhead=2, dim_feedforward={2 * d}, "
            "dropout=0.0, batch_first=True)",
            f"encoder_{index} = TransformerEncoder(encoder_layer_{index}, num_layers=2, enable_nested_tensor=False)",
            f"print(sum(p.numel() for p in encoder_{index}.parameters()))",
            f"for name, p in encoder_{index}.named_parameters():",
            "    if p.dim() > 1:",
            "        xavier_uniform_(p)",
            f"x_{index} = torch.randn(2, 5, {d})",
            f"y_{index} = encoder_{index}(x_{index})",
            f"print(y_{index}.shape)",
            f"y_{index}.sum().backward()",
            f"print(encoder_{index}.layers[0].linear1.weight.grad.shape)",
            f"encoder_{index}.layers[1].linear2.weight.data.fill_(0.0)",
            f"print(list(encoder_{index}.state_dict())[:3])",
            "",
        ]
        index += 1
    return "\n".join(parts) + "\n"


class _DefaultSettingsSession(Session):
    """A client that leaves every setting at its default (no `debounceMs`: the adaptive debounce)."""

    async def start(self, root: Path = ROOT) -> None:
        await self.client.start_io(*self.command, **({"cwd": self.cwd} if self.cwd else {}))
        await self.client.initialize_async(lsp.InitializeParams(
            capabilities=lsp.ClientCapabilities(), root_uri=root.as_uri(), initialization_options=self.options))
        self.client.initialized(lsp.InitializedParams())


def _tree_memory(root_pid: int) -> tuple[float, float]:
    """(RSS summed, PSS summed where readable else RSS) of a process and all its descendants, in MB."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    rss = pss = 0.0
    stack = [root_pid]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        resident = 0.0
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    resident = int(line.split()[1]) / 1024
        except OSError:
            continue
        proportional = resident
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    proportional = int(line.split()[1]) / 1024
        except OSError:
            pass
        rss += resident
        pss += proportional
    return rss, pss


class _MemorySampler:
    """Peak memory of the server's process tree. A sample reads smaps_rollup of every process in the tree (the
    worker, each parked checkpoint, the running child): ~75 ms of CPU for the long file's ~18 processes. Sampled
    every 0.2 s while edits were timed, it took a share of the 2 cores from the runs it overlapped (the long file's
    last-third edit measured 711 ms against 527 ms without it, same code). So the timed edits are sampled in the
    pauses between them (every checkpoint is parked then), and the running child's share is caught by sampling
    continuously during extra, untimed edits at the end (`run_peak`)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.peak_rss = self.peak_pss = 0.0
        self.task: asyncio.Task | None = None

    def _pid(self) -> int | None:
        server = getattr(self.session.client, "_server", None)
        return getattr(server, "pid", None)

    async def sample(self) -> None:
        pid = self._pid()
        if pid is not None:
            rss, pss = await asyncio.get_running_loop().run_in_executor(None, _tree_memory, pid)
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)

    async def _loop(self) -> None:
        while True:
            await self.sample()
            await asyncio.sleep(0.1)

    def start(self) -> None:
        """Sample continuously (for the untimed edits)."""
        self.task = asyncio.ensure_future(self._loop())

    def stop(self) -> dict:
        if self.task is not None:
            self.task.cancel()
        return {"peak_tree_rss_mb": round(self.peak_rss, 1), "peak_tree_pss_mb": round(self.peak_pss, 1)}


async def _edits_at(server: Session, uri: str, text: str, line: int, count: int, version: int,
                    pause: float, breakdowns: list[dict] | None = None,
                    sampler: "_MemorySampler | None" = None) -> tuple[list[float], int]:
    """`count` edits of one line (a space typed and removed inside its first call), each timed until that version's
    diagnostics arrive, `pause` seconds apart (a user who stops typing to look). The `sampler` measures the memory
    at the end of each pause, never while an edit is timed."""
    lines = text.split("\n")
    original = lines[line]
    column = original.index("(") + 1
    samples = []
    breakdowns = breakdowns if breakdowns is not None else []
    for number in range(count):
        version += 1
        lines[line] = original[:column] + " " + original[column:] if number % 2 == 0 else original
        begun = time.perf_counter()
        server.client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
            [lsp.TextDocumentContentChangeWholeDocument(text="\n".join(lines))]))
        await server.wait_diagnostics(uri, version, timeout=600)
        samples.append(time.perf_counter() - begun)
        await asyncio.sleep(pause)
        breakdowns.append(_last_analysis(server, uri))
        if sampler is not None:
            await sampler.sample()
    return samples, version


def _last_analysis(server: Session, uri: str) -> dict:
    """What the server says its last analysis of `uri` did (paramlens/status): the wait before it and its parts."""
    incremental = getattr(server.status, "incremental", None)
    for document in getattr(incremental, "documents", None) or []:
        if getattr(document, "uri", None) == uri:
            last = getattr(document, "last", None)
            return {"debounce_ms": getattr(document, "debounce_ms", None),
                    "seconds": getattr(last, "seconds", None), "static_seconds": getattr(last, "static_seconds", None),
                    "run_seconds": getattr(last, "run_seconds", None),
                    "statements_run": getattr(last, "statements_run", None),
                    "resumed_after_line": getattr(last, "resumed_after_line", None),
                    "texts_computed": getattr(last, "texts_computed", None)}
    return {}


def _line_with(text: str, needle: str, at_least: int) -> int:
    lines = text.split("\n")
    return next(i for i in range(at_least, len(lines)) if lines[i].startswith(needle))


async def _incremental_file(name: str, path: Path, text: str, cases: dict[str, tuple[str, float]], edits: int,
                            options: dict, results: dict, pause: float = 0.3) -> None:
    uri = path.as_uri()
    server = _DefaultSettingsSession([sys.executable, "-m", "paramlens", "serve"])
    server.options = options
    sampler = _MemorySampler(server)
    started = time.perf_counter()
    await server.start(ROOT if path.is_relative_to(ROOT) else path.parent)  # inside the workspace: it runs
    await server.open(uri, text)
    await server.wait_diagnostics(uri, 1, timeout=900)
    entry: dict = {"lines": text.count("\n"), "settings": options, "open_to_diagnostics": time.perf_counter() - started}
    await sampler.sample()
    version = 1
    line = 0
    for case, (needle, fraction) in cases.items():
        line = _line_with(text, needle, int(text.count("\n") * fraction))
        breakdowns: list[dict] = []
        samples, version = await _edits_at(server, uri, text, line, edits, version, pause, breakdowns, sampler)
        entry[case] = {"line": line + 1, "median": statistics.median(samples), "first": samples[0],
                       "samples": samples, "server": breakdowns,
                       **{f"{part}_median": statistics.median(b[part] for b in breakdowns)
                          for part in ("seconds", "static_seconds", "run_seconds", "debounce_ms")
                          if breakdowns and all(b.get(part) is not None for b in breakdowns)}}
    between_edits = sampler.stop()
    sampler.start()  # the running child's share too: two more edits, untimed, sampled all along
    _, version = await _edits_at(server, uri, text, line, 2, version, pause)
    await asyncio.sleep(0.5)
    entry.update(sampler.stop())
    entry["peak_between_edits_pss_mb"] = between_edits["peak_tree_pss_mb"]
    await server.stop()
    results.setdefault("incremental", {})[name] = entry


async def _typing_file(name: str, path: Path, text: str, needle: str, fraction: float, bursts: int, keys: int,
                       gap: float, results: dict) -> None:
    """What a user who types feels, with the default settings (the adaptive debounce): `bursts` bursts of `keys`
    keystrokes `gap` seconds apart (digits typed after the number a statement ends with, so that every version
    parses and runs), each timed from its last keystroke until that version's diagnostics arrive; and how many
    versions of a burst were analysed and published on the way (the runs typing started and did not cancel)."""
    uri = path.as_uri()
    server = _DefaultSettingsSession([sys.executable, "-m", "paramlens", "serve"])
    server.options = {}
    await server.start(ROOT if path.is_relative_to(ROOT) else path.parent)
    await server.open(uri, text)
    await server.wait_diagnostics(uri, 1, timeout=900)
    lines = text.split("\n")
    line = _line_with(text, needle, int(text.count("\n") * fraction))
    while not lines[line].rstrip()[-1:].isdigit():  # the first such statement that ends with a number
        line = _line_with(text, needle, line + 1)
    original = lines[line].rstrip()
    version, samples, published = 1, [], []
    for burst in range(bursts):
        first = version + 1
        seen = len(server.published)
        for key in range(keys):
            version += 1
            lines[line] = original + "".join(str((burst + k) % 10) for k in range(key + 1))
            last_key = time.perf_counter()
            server.client.text_document_did_change(lsp.DidChangeTextDocumentParams(
                lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
                [lsp.TextDocumentContentChangeWholeDocument(text="\n".join(lines))]))
            if key < keys - 1:
                await asyncio.sleep(gap)
        await server.wait_diagnostics(uri, version, timeout=600)
        samples.append(time.perf_counter() - last_key)
        published.append(len({v for u, v in server.published[seen:] if u == uri and v is not None and v >= first}))
        await asyncio.sleep(1.5)  # the user stops to look; the explanations are built
    await server.stop()
    results.setdefault("typing", {})[name] = {
        "lines": text.count("\n"), "line": line + 1, "bursts": bursts, "keys": keys, "gap_ms": gap * 1000,
        "last_key_to_diagnostics_median": statistics.median(samples), "samples": samples,
        "versions_published_per_burst": published}


async def measure_incremental(args: argparse.Namespace, results: dict) -> None:
    """Edit→diagnostics with incremental analysis, in the same run as the cases above."""
    await _typing_file("seed, typing in the last statements", SEED, SEED.read_text(), "net[2].weight.data[0, 0] =",
                       0.9, args.bursts, 6, 0.12, results)
    await _incremental_file("seed, default settings", SEED, SEED.read_text(),
                            {"edit of the first layer (early: ~all statements run again)": ("net = nn.Sequential(", 0.0),
                             "edit of the last statement": ("print(net[2].weight.data[0] ==", 0.95)},
                            args.edits, {}, results, pause=0.6)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "generated_model.py"
        text = generated_model(args.lines)
        path.write_text(text)
        cases = {"edit in the last third": ("net_", 0.9), "edit in the first tenth": ("net_", 0.05)}
        await _incremental_file("generated long file, incremental", path, text, cases, args.long_edits,
                                {"debounceMs": 0}, results)
        await _incremental_file("generated long file, incremental off", path, text,
                                {"edit in the first tenth": ("net_", 0.05)}, max(2, args.long_edits // 3),
                                {"debounceMs": 0, "incremental": False}, results)
        await _typing_file("generated long file, typing in the last third", path, text, "net_", 0.9, args.bursts,
                           6, 0.12, results)  # into `net_…[0].weight.data[0, 0] = 1.0`
        real = Path(directory) / "transformer_model.py"
        real_text = transformer_file()
        real.write_text(real_text)
        await _incremental_file("torch transformer.py + script", real, real_text,
                                {"edit in the last third": ("y_", 0.9)}, args.long_edits, {"debounceMs": 0},
                                results)


def print_typing(results: dict) -> None:
    for name, entry in results.get("typing", {}).items():
        print(f"{name:<48} {entry['lines']:>6} lines, line {entry['line']}: {entry['bursts']} bursts of {entry['keys']} "
              f"keys {entry['gap_ms']:.0f} ms apart; last key→diagnostics median "
              f"{entry['last_key_to_diagnostics_median'] * 1000:.0f} ms "
              f"({', '.join(f'{s * 1000:.0f}' for s in entry['samples'])}); versions published per burst "
              f"{entry['versions_published_per_burst']}")


def print_incremental(results: dict) -> None:
    print(f"{'incremental (issue 15)':<36} {'lines':>6} {'open→diag':>10}  case: median (first) ms")
    for name, entry in results.get("incremental", {}).items():
        cases = "; ".join(f"{case} @{value['line']}: {value['median'] * 1000:.0f} ({value['first'] * 1000:.0f})"
                          for case, value in entry.items() if isinstance(value, dict) and "median" in value)
        print(f"{name:<36} {entry['lines']:>6} {entry['open_to_diagnostics']:>9.1f}s  {cases}; peak tree RSS "
              f"{entry['peak_tree_rss_mb']:.0f} MB, PSS {entry['peak_tree_pss_mb']:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hovers", type=int, default=300)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--pending-requests", type=int, default=100)
    parser.add_argument("--compare-with", default=None, help="another checkout whose server to measure too")
    parser.add_argument("--only-pending", action="store_true", help="only the pending-edit measurement")
    parser.add_argument("--only-notebook", action="store_true", help="only the notebook measurement")
    parser.add_argument("--only-incremental", action="store_true", help="only the incremental cases (issue 15)")
    parser.add_argument("--only-files", action="store_true", help="only the seed and long-file table (cold, hover, edit)")
    # 12: the median of 6 (the first, which resumes farther back, among them) moved by ±40 ms from run to run
    parser.add_argument("--long-edits", type=int, default=12, help="edits per incremental long-file case")
    parser.add_argument("--bursts", type=int, default=5, help="bursts of typing per typing case")
    parser.add_argument("--no-incremental", action="store_true", help="skip the incremental cases (issue 15)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "lsp_latency.json"))
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    notebook = results.get("notebook")
    if notebook:
        print(f"notebook ({notebook['cells']} cells, {notebook['code_cells']} code) vs the same cells as one .py file, "
              f"same server, {notebook['hovers']} hovers each (answered: {notebook['hovers_answered_in_cells']} in "
              f"cells, {notebook['hovers_answered_in_file']} in the file, {notebook['hovers_same_heading']} with the "
              f"same first line)")
        print(f"{'':<22} {'hover p50':>10} {'hover p95':>10} {'edit→diag med':>14}")
        for kind in ("cell", "file"):
            print(f"{'notebook cells' if kind == 'cell' else '.py file':<22} {notebook[f'{kind}_hover_p50'] * 1000:>7.2f} ms "
                  f"{notebook[f'{kind}_hover_p95'] * 1000:>7.2f} ms {notebook[f'{kind}_edit_to_diagnostics_median'] * 1000:>11.0f} ms")
        print(f"server start + notebook open → first cell diagnostics: {notebook['open_to_first_diagnostics'] * 1000:.0f} ms")
    if args.only_notebook or args.only_incremental:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2))
        print_incremental(results)
        print_typing(results)
        print(f"wrote {args.out}")
        return
    print(f"{'pending edit':<34} {'lines':>6} " + " ".join(f"{k + ' ' + w:>15}" for k in ("hover", "inlay", "lens")
                                                           for w in ("idle p95", "pending p95")))
    for entry in results.get("pending_edit", []):
        print(f"{entry['server'][:34]:<34} {entry['lines']:>6} " + " ".join(
            f"{entry[f'{k}_{w}_p95'] * 1000:>12.2f} ms" for k in ("hover", "inlay", "lens") for w in ("idle", "pending")))
    out = Path(args.out)  # written before printing: a printing mistake must not lose a 10-minute run
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print_incremental(results)
    print_typing(results)
    floor = results["import_torch_seconds"]
    print(f"python -c 'import torch': {floor * 1000:.0f} ms (cold-start floor)")
    header = f"{'file':<28} {'cold→diag ms':>12} {'hover p50':>10} {'hover p95':>10} {'jedi p50':>9} {'jedi p95':>9} " \
             f"{'edit→diag med':>14}"
    print(header)
    for name, entry in results.items():
        if not isinstance(entry, dict) or "cold_start_to_diagnostics" not in entry:
            continue  # the incremental and notebook cases have tables of their own
        print(f"{name:<28} {entry['cold_start_to_diagnostics'] * 1000:>12.0f} {entry['hover_p50'] * 1000:>10.2f} "
              f"{entry['hover_p95'] * 1000:>10.2f} {entry.get('jedi_hover_p50', float('nan')) * 1000:>9.2f} "
              f"{entry.get('jedi_hover_p95', float('nan')) * 1000:>9.2f} "
              f"{entry['edit_to_diagnostics_median'] * 1000:>14.0f}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

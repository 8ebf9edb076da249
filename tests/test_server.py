"""The language server end to end: the real `paramlens serve` over stdio, driven by pytest-lsp with VS Code's
client capabilities. Every number checked comes from torch run on the same code in the test (tests/oracle.py)."""

from __future__ import annotations

import asyncio
import math
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from oracle import run_oracle

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "examples" / "parameter_management.py"
SERVER = [sys.executable, "-m", "paramlens", "serve"]


def _initialize(locale: str = "en", **options) -> lsp.InitializeParams:
    return lsp.InitializeParams(capabilities=client_capabilities("visual-studio-code"), locale=locale,
                                root_uri=ROOT.as_uri(), initialization_options={"debounceMs": 50, **options})


def _answer_like_vscode(lsp_client: LanguageClient) -> None:
    """The requests VS Code's capabilities promise to answer, and the server's status notification."""
    lsp_client.statuses = []

    @lsp_client.feature("workspace/codeLens/refresh")
    def code_lens_refresh(params):
        return None

    @lsp_client.feature("workspace/inlayHint/refresh")
    def inlay_hint_refresh(params):
        return None

    @lsp_client.feature("paramlens/status")
    def status(params):
        lsp_client.statuses.append(_plain(params))


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient):
    _answer_like_vscode(lsp_client)
    await lsp_client.initialize_session(_initialize())
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client_zh(lsp_client: LanguageClient):
    _answer_like_vscode(lsp_client)
    await lsp_client.initialize_session(_initialize("zh-CN"))
    yield
    await lsp_client.shutdown_session()


def _plain(value):
    """pygls hands unknown notifications' params over as namedtuples: back to dicts and lists."""
    if hasattr(value, "_asdict"):
        return {key: _plain(item) for key, item in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def seed_source() -> str:
    return SEED.read_text()


def position_of(source: str, snippet: str, occurrence: int = 1, offset: int = 0) -> lsp.Position:
    start = -1
    for _ in range(occurrence):
        start = source.index(snippet, start + 1)
    before = source[:start]
    line = before.count("\n")
    column = start - (before.rfind("\n") + 1)
    return lsp.Position(line=line, character=column + offset)


async def wait_until(predicate, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting for the server")
        await asyncio.sleep(0.05)


def add_workspace_folder(client: LanguageClient, path: Path) -> None:
    """Files outside every workspace folder are not run (the execution policy): make `path` one."""
    client.workspace_did_change_workspace_folders(lsp.DidChangeWorkspaceFoldersParams(
        event=lsp.WorkspaceFoldersChangeEvent(added=[lsp.WorkspaceFolder(uri=path.as_uri(), name=path.name)],
                                              removed=[])))


def open_document(client: LanguageClient, uri: str, text: str, version: int = 1) -> None:
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(
        lsp.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)))


def replace_all(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)]))


async def hover_text(client: LanguageClient, uri: str, position: lsp.Position) -> str:
    result = await client.text_document_hover_async(lsp.HoverParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri), position=position))
    return result.contents.value if result else ""


async def open_seed(client: LanguageClient) -> str:
    uri = SEED.as_uri()
    open_document(client, uri, seed_source())
    await wait_until(lambda: uri in client.diagnostics)
    return uri


@pytest.mark.asyncio(loop_scope="function")
async def test_hovers_show_values_torch_computed(client: LanguageClient):
    source = seed_source()
    uri = await open_seed(client)
    state_line = position_of(source, "print(net[2].state_dict())").line + 1
    oracle = run_oracle(source, str(SEED), capture={state_line: ["net[2].bias", "net[0].weight"]})

    text = await hover_text(client, uri, position_of(source, "net[0].named_parameters()", offset=8))
    shape = oracle.value(state_line, "net[0].weight")
    assert f"[{len(shape)}, {len(shape[0])}]" in text and "`weight`" in text and "`bias`" in text

    text = await hover_text(client, uri, position_of(source, "net[2].state_dict()", offset=8))
    bias = oracle.value(state_line, "net[2].bias")[0]
    assert f"{bias:.4f}" in text

    text = await hover_text(client, uri, position_of(source, "nn.init.xavier_uniform_", offset=10))
    fan_out, fan_in = len(shape), len(shape[0])
    assert f"{math.sqrt(6 / (fan_in + fan_out)):.4f}" in text

    text = await hover_text(client, uri, position_of(source, "net.apply(init_normal)", offset=5))
    assert "`net.0`" in text and "`net.1`" in text and "nothing changed" in text

    text = await hover_text(client, uri, position_of(source, "net[2].weight.data[0, 0] = 100", offset=20))
    assert "net.4.weight" in text and "net.2.weight" in text


@pytest.mark.asyncio(loop_scope="function")
async def test_chinese_locale_from_initialize(client_zh: LanguageClient):
    source = seed_source()
    uri = await open_seed(client_zh)
    text = await hover_text(client_zh, uri, position_of(source, "nn.init.constant_(m.weight, 1)", offset=10))
    assert "对称性" in text
    messages = [d.message for d in client_zh.diagnostics[uri]]
    assert any("精确类型判断" in m for m in messages)


@pytest.mark.asyncio(loop_scope="function")
async def test_diagnostics_inlay_hints_and_code_lenses(client: LanguageClient):
    source = seed_source()
    uri = await open_seed(client)
    diagnostics = client.diagnostics[uri]
    codes = {d.code for d in diagnostics}
    assert {"PL101", "PL102", "PL104", "PL201"} <= codes
    shared = next(d for d in diagnostics if d.code == "PL201")
    assert shared.related_information and len(shared.related_information) == 2
    oracle = run_oracle(source, str(SEED))
    hints = await client.text_document_inlay_hint_async(lsp.InlayHintParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri),
        range=lsp.Range(lsp.Position(0, 0), lsp.Position(len(source.splitlines()), 0))))
    labels = [h.label for h in hints]
    net = oracle.module("net")
    assert any(label.endswith(f"{net['param_count']:,} params ({net['param_count_with_duplicates']:,} counting shared "
                              "twice)") for label in labels)
    assert "8×4 + 8 = 40 params" in labels  # Linear(4, 8): 8×4 weight + 8 bias, as the oracle's net[0] confirms
    assert [p["shape"] for p in net["parameters"]][:2] == [[8, 4], [8]]
    assert any(label.startswith("shared with line") for label in labels)
    lenses = await client.text_document_code_lens_async(lsp.CodeLensParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri)))
    titles = [lens.command.title for lens in lenses]
    assert any(t.startswith(f"net: Sequential, {net['param_count']:,} parameters") for t in titles)


@pytest.mark.asyncio(loop_scope="function")
async def test_quick_fix_applied_and_reanalysed(client: LanguageClient):
    source = seed_source()
    uri = await open_seed(client)
    target = next(d for d in client.diagnostics[uri] if d.code == "PL104")
    actions = await client.text_document_code_action_async(lsp.CodeActionParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri), range=target.range,
        context=lsp.CodeActionContext(diagnostics=[target])))
    fix = next(a for a in actions if a.diagnostics and a.diagnostics[0].code == "PL104")
    edit = fix.edit.changes[uri][0]
    lines = source.split("\n")
    line = lines[edit.range.start.line]
    lines[edit.range.start.line] = line[:edit.range.start.character] + edit.new_text + line[edit.range.end.character:]
    replace_all(client, uri, "\n".join(lines), version=2)
    await wait_until(lambda: not any(d.code == "PL104" for d in client.diagnostics.get(uri, [])) and
                     any(d.code == "PL102" for d in client.diagnostics.get(uri, [])))
    assert "is None" in "\n".join(lines)


@pytest.mark.asyncio(loop_scope="function")
async def test_typing_with_syntax_errors_keeps_last_results(client: LanguageClient):
    source = seed_source()
    uri = await open_seed(client)
    before = {d.code for d in client.diagnostics[uri]}
    # rapid typing at the end of the file, many intermediate versions do not parse
    typed = "\nextra = nn.Linear(3, 2)\n"
    version = 1
    for cut in range(1, len(typed) + 1):
        version += 1
        replace_all(client, uri, source + typed[:cut], version)
        await asyncio.sleep(0.005)
    final = source + typed
    # the hover on an unchanged line still answers from the last good analysis
    text = await hover_text(client, uri, position_of(final, "net[0].named_parameters()", offset=8))
    assert "`weight`" in text
    # and eventually the final version is analysed: its new module gets a code lens
    async def has_extra() -> bool:
        lenses = await client.text_document_code_lens_async(lsp.CodeLensParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri)))
        return any(lens.command.title.startswith("extra:") for lens in lenses)

    for _ in range(600):
        if await has_extra():
            break
        await asyncio.sleep(0.1)
    assert await has_extra()
    assert before <= {d.code for d in client.diagnostics[uri]}
    assert not any(d.code == "PL000" for d in client.diagnostics[uri])


@pytest.mark.asyncio(loop_scope="function")
async def test_configuration_turns_execution_off(client: LanguageClient):
    source = seed_source()
    uri = await open_seed(client)
    client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(
        settings={"paramlens": {"execution": False}}))
    position = position_of(source, "net[0].named_parameters()", offset=8)
    for _ in range(600):
        text = await hover_text(client, uri, position)
        if "static analysis only" in text:
            break
        await asyncio.sleep(0.1)
    assert "static analysis only" in text


@pytest.mark.asyncio(loop_scope="function")
async def test_server_survives_a_crashing_file(client: LanguageClient, tmp_path):
    path = tmp_path / "crash.py"
    text = "import torch\nfrom torch import nn\nnet = nn.Linear(4, 8)\nimport ctypes\nctypes.string_at(0)\n"
    uri = path.as_uri()
    add_workspace_folder(client, tmp_path)
    open_document(client, uri, text)
    await wait_until(lambda: uri in client.diagnostics)
    assert any(d.code == "PL901" and d.range.start.line == 4 for d in client.diagnostics[uri])
    hover = await hover_text(client, uri, position_of(text, "nn.Linear(4, 8)", offset=4))
    assert "40 parameters" in hover
    # still serving: the seed example analyses normally afterwards
    seed_uri = await open_seed(client)
    assert any(d.code == "PL102" for d in client.diagnostics[seed_uri])


@pytest.mark.asyncio(loop_scope="function")
async def test_typing_hundreds_of_edits_in_the_middle(client: LanguageClient):
    """Type a block into the middle of the seed example one character at a time (most versions do not parse):
    the server keeps answering, answers at the right (shifted) lines while typing, and ends with the diagnostics
    of the final text at the final text's lines."""
    source = seed_source()
    uri = await open_seed(client)
    anchor = source.index("print(X)\n") + len("print(X)\n")
    block = ("\n\ndef init_extra(m):\n    if type(m) == nn.Linear:\n        nn.init.zeros_(m.bias)\n\n\n"
             "extra = nn.Linear(3, 2)\nextra.apply(init_extra)\n")
    version = 1
    for cut in range(1, len(block) + 1):
        version += 1
        text = source[:anchor] + block[:cut] + source[anchor:]
        replace_all(client, uri, text, version)
        if cut % 25 == 0:  # hover below the insertion while typing: mapped to the shifted line, never stale
            hovered = await hover_text(client, uri, position_of(text, "net[0].named_parameters()", offset=8))
            assert hovered == "" or "named_parameters" in hovered
        await asyncio.sleep(0.002)
    assert version > 100
    final = source[:anchor] + block + source[anchor:]
    typed_line = position_of(final, "if type(m) == nn.Linear:\n        nn.init.zeros_").line
    grad_line = position_of(final, "net[2].weight.grad == None").line

    def settled() -> bool:
        diagnostics = client.diagnostics.get(uri, [])
        return any(d.code == "PL102" and d.range.start.line == typed_line for d in diagnostics) and \
            any(d.code == "PL104" and d.range.start.line == grad_line for d in diagnostics)

    await wait_until(settled, timeout=120)
    hovered = await hover_text(client, uri, position_of(final, "extra.apply(init_extra)", offset=7))
    assert "init_extra" in hovered
    assert not any(d.code == "PL000" for d in client.diagnostics[uri])
    # the typed document (analysed incrementally with the default settings: cached statements) ends with
    # exactly the diagnostics of the same text opened fresh
    fresh = (ROOT / "examples" / "typed_then_opened_fresh.py").as_uri()
    open_document(client, fresh, final)
    await wait_until(lambda: fresh in client.diagnostics, timeout=120)

    def shown(key: str) -> list:
        return [(d.code, d.severity, d.range.start.line, d.range.start.character, d.range.end.line,
                 d.range.end.character, d.message) for d in client.diagnostics.get(key, [])]

    try:
        await wait_until(lambda: shown(uri) == shown(fresh), timeout=60)
    finally:
        assert shown(uri) == shown(fresh)
    assert client.statuses and _plain(client.statuses[-1])["incremental"]["enabled"] is True


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client_few_checkpoints(lsp_client: LanguageClient):
    _answer_like_vscode(lsp_client)
    await lsp_client.initialize_session(_initialize(checkpoints=2))
    yield
    await lsp_client.shutdown_session()


def _edit_last_print(text: str, suffix: str) -> str:
    lines = text.rstrip("\n").split("\n")
    index = max(i for i, line in enumerate(lines) if line.startswith("print("))
    lines[index] = lines[index][:-1] + f", {suffix!r})"
    return "\n".join(lines) + "\n"


@pytest.mark.asyncio
async def test_checkpoints_in_status_bounded_per_document(client_few_checkpoints: LanguageClient):
    """Incremental analysis in `paramlens/status`: the checkpoints (count, memory) stay within the `checkpoints`
    bound over all documents, a document's re-analysis resumes from its own checkpoints only, and an edit above a
    checkpoint drops it."""
    client = client_few_checkpoints
    seed = seed_source()
    uri = await open_seed(client)
    text, version = seed, 1

    def documents() -> dict:
        return {d["uri"]: d for d in client.statuses[-1]["incremental"]["documents"]} if client.statuses else {}

    async def edit(key: str, new_text: str, new_version: int) -> dict:
        count = len(client.statuses)
        replace_all(client, key, new_text, new_version)
        await wait_until(lambda: len(client.statuses) > count, timeout=120)
        await asyncio.sleep(0.5)  # let the debounce and run of this version finish
        return {**client.statuses[-1]["incremental"], "documents": documents()}

    for number in range(3):
        text, version = _edit_last_print(text, f"edit {number}"), version + 1
        status = await edit(uri, text, version)
    document = status["documents"][uri]
    assert document["last"]["resumed_after_line"] is not None, document
    assert document["last"]["statements_run"] < document["last"]["statements"], document
    assert 1 <= status["checkpoints"]["count"] <= 2 and status["checkpoints"]["max_count"] == 2
    assert status["checkpoints"]["memory_mb"] > 0
    assert all(c["after_line"] < text.count("\n") for c in document["checkpoints"])

    # a second document with the same text: never resumes from the first one's checkpoints
    other = (ROOT / "examples" / "same_text_other_document.py").as_uri()
    open_document(client, other, text)
    await wait_until(lambda: other in client.diagnostics, timeout=120)
    await wait_until(lambda: other in documents() and documents()[other]["last"]["statements"] > 0, timeout=120)
    first = documents()[other]["last"]
    assert first["resumed_after_line"] is None, first
    other_text, other_version = text, 1
    for number in range(2):
        other_text, other_version = _edit_last_print(other_text, f"other {number}"), other_version + 1
        status = await edit(other, other_text, other_version)
    assert status["checkpoints"]["count"] <= 2  # the bound holds over both documents
    assert status["checkpoints"]["documents"] <= 2

    # an edit of the first statement that builds a model: every checkpoint of that document lay below it
    line = next(i for i, row in enumerate(text.split("\n")) if row.startswith("net = "))
    rows = text.split("\n")
    rows[line] = rows[line] + "  # changed"
    rows.insert(line + 1, "print('inserted')")
    text, version = "\n".join(rows), version + 1
    before = {c["after_line"] for c in status["documents"].get(uri, {}).get("checkpoints", [])}
    status = await edit(uri, text, version)
    document = status["documents"][uri]
    assert document["last"]["resumed_after_line"] is None or document["last"]["resumed_after_line"] <= line, \
        (document, before)


def test_publishing_a_shared_layers_diagnostic_does_not_build_the_explanations():
    """Diagnostics are published before the explanations are built (a long file's take 0.2–0.4 s). PL201's related
    information (every place the shared layer is put) was read from the explanations, so a file with a shared
    layer built them all on the way to its diagnostics. The places come from the report's findings now: the same
    places the `shared_module` explanations have, and the explanations are still to be built."""
    from paramlens.analysis import AnalysisOptions, analyze
    from paramlens.server import features

    source = seed_source()
    report = analyze(source, str(SEED), AnalysisOptions(locale="en"))
    lines = source.split("\n")
    view = features.View(features.Snapshot(1, source, report), lines, features.LineMap(len(lines)))
    assert report.explanations_pending
    shared = next(d for d in features.diagnostics(view, SEED.as_uri(), "en") if d.code == "PL201")
    assert report.explanations_pending
    places = [view.range(e.span) for e in report.explanations if e.pattern == "shared_module"]
    related = [info.location.range for info in shared.related_information]
    assert len(related) == 2 and related == [p for p in places if shared.range.start.line <= p.start.line <=
                                             shared.range.end.line]
    # each place names the layer as the source spells it there, in the client's language
    for locale, template in (("en", "`{}` placed here"), ("zh-CN", "`{}` 放在这里")):
        shared = next(d for d in features.diagnostics(view, SEED.as_uri(), locale) if d.code == "PL201")
        for info in shared.related_information:
            where = info.location.range
            spelled = lines[where.start.line][where.start.character:where.end.character]
            assert spelled.isidentifier() and info.message == template.format(spelled), (locale, info.message)


def _long_model_file(blocks: int) -> str:
    """A long model file: blocks built by functions, initialised by `apply`, inspected (~16 lines each)."""
    parts = ["import torch", "from torch import nn", "", ""]
    for index in range(blocks):
        width = 4 + index % 13
        parts += [f"def block_{index}():",
                  f"    return nn.Sequential(nn.Linear({width}, {width * 2}), nn.ReLU(), nn.Linear({width * 2}, {width}))",
                  "", "",
                  f"def init_{index}(m):",
                  "    if isinstance(m, nn.Linear):",
                  "        nn.init.xavier_uniform_(m.weight)",
                  "        nn.init.zeros_(m.bias)",
                  "", "",
                  f"net_{index} = block_{index}()",
                  f"net_{index}.apply(init_{index})",
                  f"print(*[(name, p.shape) for name, p in net_{index}.named_parameters()])",
                  f"net_{index}[0].weight.data[0, 0] = 1.0", ""]
    return "\n".join(parts) + "\n"


def test_a_hover_that_builds_the_explanations_leaves_the_server_answering(tmp_path):
    """Explanations are built after the diagnostics are published (a long file's take ~0.1–0.4 s). A hover that
    arrives meanwhile waited for them on the server's event loop, which then answered nothing else (not even a
    request that needs no explanation) and read no edit until they were built. It waits off the loop now: a
    code-action request sent right after the hover is answered first, and the hover shows what torch computed.
    Over a raw connection (rawlsp.py), so the hover leaves as soon as the diagnostics arrive."""
    from torch import nn

    from rawlsp import RawServer

    root, tmp = tmp_path / "ws", tmp_path / "tmp"
    root.mkdir()
    tmp.mkdir()
    path = root / "long_model.py"
    source = _long_model_file(180)
    path.write_text(source)
    uri = path.as_uri()
    server = RawServer(tmp, root)
    try:
        server.initialize(root)
        server.open(uri, source)
        server.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics" and
                        m["params"]["uri"] == uri, timeout=180, what="the diagnostics")
        last = 179
        where = position_of(source, f"net_{last}.named_parameters()", offset=len(f"net_{last}.") + 2)
        position = {"line": where.line, "character": where.character}
        hover = server.request_message("textDocument/hover", {"textDocument": {"uri": uri}, "position": position})
        actions = server.request_message("textDocument/codeAction", {
            "textDocument": {"uri": uri}, "range": {"start": position, "end": position},
            "context": {"diagnostics": []}})
        server.send(hover)
        server.send(actions)
        text = server.response(hover["id"], timeout=60)["result"]["contents"]["value"]
        server.response(actions["id"], timeout=60)
        answered = [m.get("id") for m in server.seen if m.get("id") in (hover["id"], actions["id"])]
        assert answered == [actions["id"], hover["id"]]
    finally:
        server.kill()
    width = 4 + last % 13
    net = nn.Sequential(nn.Linear(width, width * 2), nn.ReLU(), nn.Linear(width * 2, width))
    for name, parameter in net.named_parameters():
        assert f"`{name}`" in text and f"[{', '.join(map(str, parameter.shape))}]" in text

"""In the editor: the factories of a package's model file get code lenses; the one built as the example says so
and offers the others, every other one builds itself when clicked (`paramlens.buildExample`), and the report
follows. The real `paramlens serve`, driven by pytest-lsp like tests/test_server.py."""

from __future__ import annotations

import pytest
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from test_options import _plain
from test_server import ROOT, client, open_document, wait_until  # noqa: F401 - the fixture

RESNET = ROOT / "tests" / "packages" / "regpkg" / "models" / "resnet.py"


async def report_of(client: LanguageClient, uri: str) -> dict | None:
    answer = await client.protocol.send_request_async("paramlens/report", {"textDocument": {"uri": uri}})
    return (_plain(answer) or {}).get("report")


@pytest.mark.asyncio(loop_scope="function")
async def test_factory_lenses_choose_the_example(client: LanguageClient):  # noqa: F811
    source = RESNET.read_text()
    uri = RESNET.as_uri()
    open_document(client, uri, source)
    await wait_until(lambda: uri in client.diagnostics, timeout=120)
    lenses = await client.text_document_code_lens_async(lsp.CodeLensParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri)))
    lines = source.splitlines()
    by_line = {lens.range.start.line: lens.command for lens in lenses if lens.command and lens.command.command}
    built_line = lines.index("def resnet50(*, weights: Optional[str] = None, progress: bool = True, **kwargs: Any) -> ResNet:")
    other_line = lines.index("def resnet18(*, weights: Optional[str] = None, progress: bool = True, **kwargs: Any) -> ResNet:")
    assert by_line[built_line].title == "built as the example: resnet50 ▾"
    assert by_line[built_line].command == "paramlens.chooseExample"
    assert by_line[other_line].command == "paramlens.buildExample"
    assert list(by_line[other_line].arguments) == [uri, "resnet18"]
    await client.workspace_execute_command_async(lsp.ExecuteCommandParams(
        command="paramlens.buildExample", arguments=[uri, "resnet18"]))
    for _ in range(1200):
        report = await report_of(client, uri)
        if report and [m["name"] for m in report["modules"]] == ["resnet18()"]:
            break
        await __import__("asyncio").sleep(0.1)
    report = await report_of(client, uri)
    assert [m["name"] for m in report["modules"]] == ["resnet18()"]
    assert [f["name"] for f in report["factories"] if f["built"]] == ["resnet18"]
    assert not any(d["severity"] == "error" for d in report["diagnostics"])

"""The one options model (paramlens/options.py) on every surface: the extension's package.json is generated from it,
each bound holds on the command line, in `[tool.paramlens]` and in the server's settings, `[tool.paramlens]` applies
and the command line wins over it, and every setting the extension contributes reaches the analysis over LSP with
its value (read back from what the sandbox was given, or from what the user sees)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient

from paramlens import options as opt
from paramlens.config import ConfigError, parse_config
from paramlens.server.settings import layered, structure
from rawlsp import process_tree
from test_server import SEED, SERVER, _answer_like_vscode, _initialize, hover_text, open_document, position_of, \
    replace_all, wait_until

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_JSON = ROOT / "editor-client" / "package.json"
sys.path.insert(0, str(ROOT / "scripts"))

import sync_settings  # noqa: E402


def test_package_json_settings_are_generated_from_the_options_model():
    contributed = json.loads(PACKAGE_JSON.read_text())["contributes"]["configuration"]["properties"]
    assert contributed == sync_settings.properties(), "run python scripts/sync_settings.py"
    assert {key.removeprefix("paramlens.") for key in contributed} == {o.setting for o in opt.ALL if o.setting}


def _out_of_bounds(option: opt.Option) -> list:
    values = []
    if option.minimum is not None:
        values.append(option.kind(option.minimum) if option.exclusive_minimum else option.kind(option.minimum - 1))
    if option.maximum is not None:
        values.append(option.kind(option.maximum + 1))
    if option.choices:
        values.append("not-a-choice")
    return values


BOUNDED = [(option, value) for option in opt.ALL for value in _out_of_bounds(option)]


@pytest.mark.parametrize("option,value", BOUNDED, ids=[f"{o.name}={v}" for o, v in BOUNDED])
def test_a_value_out_of_bounds_is_refused_on_every_surface(option: opt.Option, value, run_cli, tmp_path):
    with pytest.raises(opt.OptionError) as refused:
        option.check(value)
    assert refused.value.en and any("\u4e00" <= ch <= "\u9fff" for ch in refused.value.text("zh-CN"))
    if option.toml:
        with pytest.raises(ConfigError, match=option.toml):
            parse_config({option.toml: value})
    if option.setting and option not in opt.INLAY_HINTS and option is not opt.LOCALE:
        warnings: list[str] = []
        settings = structure({option.setting: value}, warnings)
        assert getattr(settings, option.name) == option.default and option.name not in settings.explicit
        assert any(option.setting in warning for warning in warnings), warnings
    if option.cli and option is not opt.LOCALE:
        code, _, err = run_cli("check", "--no-exec", option.cli, str(value), "examples/parameter_management.py")
        assert code == 2 and option.cli in err and "Traceback" not in err


def test_stricter_execution_wins_between_initialization_options_and_configuration():
    off_then_on = layered({"execution": False}, {"execution": True}, [])
    on_then_off = layered({"execution": True}, {"execution": False}, [])
    assert off_then_on.execute is False and on_then_off.execute is False
    assert layered({}, {"execution": True}, []).execute is True
    assert layered({"executeOutsideWorkspace": False}, {"executeOutsideWorkspace": True}, []) \
        .execute_outside_workspace is False
    # for the other options the later layer wins, and a bad later value does not undo a good earlier one
    assert layered({"timeout": 5}, {"timeout": 9}, []).timeout_seconds == 9
    assert layered({"timeout": 5}, {"timeout": -1}, []).timeout_seconds == 5


def test_project_options_apply_and_the_command_line_wins(run_cli, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text('[tool.paramlens]\ntimeout = 7\nloop-iterations = 5\n'
                                            'loop-seconds = 0.25\nseed = 3\n', encoding="utf-8")
    model = project / "model.py"
    model.write_text("import torch\nfrom torch import nn\nnet = nn.Linear(2, 3)\n", encoding="utf-8")
    code, out, err = run_cli("check", "--format", "json", str(model))
    assert code == 0, err
    given = json.loads(out)["files"][0]["execution"]["options"]
    assert (given["timeout_seconds"], given["loop_iterations"], given["loop_seconds"], given["seed"]) == \
        (7, 5, 0.25, 3)
    assert given["memory_mb"] == opt.MEMORY.default and given["device"] == opt.DEVICE.default
    code, out, err = run_cli("check", "--format", "json", "--timeout", "9", "--loop-iterations", "4",
                             "--loop-seconds", "0.5", str(model))
    given = json.loads(out)["files"][0]["execution"]["options"]
    assert (given["timeout_seconds"], given["loop_iterations"], given["loop_seconds"], given["seed"]) == \
        (9, 4, 0.5, 3)


# -- every contributed setting, over LSP ------------------------------------------------------------------------

def _changed(option: opt.Option, interpreter: str):
    """A valid value other than the default (one that keeps the seed example small and on the CPU)."""
    if option is opt.PYTHON:
        return interpreter
    if option is opt.LOCALE:
        return "zh-CN"
    if option.kind is bool:
        return not option.default
    if option.choices:
        return next(choice for choice in option.choices if choice != option.default and choice != "meta")
    if option is opt.DEBOUNCE:
        return 60_000
    if option.kind is int:
        return option.default + 1
    return option.default * 1.5


async def _report(client: LanguageClient, uri: str) -> dict | None:
    answer = await client.protocol.send_request_async("paramlens/report", {"textDocument": {"uri": uri}})
    return _plain(answer)


def _plain(value):
    """pygls hands a custom request's answer back as nested named tuples: make it JSON-shaped again."""
    if hasattr(value, "_asdict"):
        return {key: _plain(item) for key, item in value._asdict().items()}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


async def _report_for(client: LanguageClient, uri: str, version: int, timeout: float = 120) -> dict:
    found: dict = {}

    async def poll() -> None:
        while True:
            answer = await _report(client, uri)
            if answer and answer["version"] >= version:
                found.update(answer)
                return
            await asyncio.sleep(0.1)

    await asyncio.wait_for(poll(), timeout)
    return found


async def _hints(client: LanguageClient, uri: str, source: str) -> list:
    return list(await client.text_document_inlay_hint_async(lsp.InlayHintParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri),
        range=lsp.Range(lsp.Position(0, 0), lsp.Position(len(source.splitlines()), 0)))) or [])


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def settings_client(lsp_client: LanguageClient):
    _answer_like_vscode(lsp_client)
    await lsp_client.initialize_session(_initialize())
    yield
    await lsp_client.shutdown_session()


def _workers(server_pid: int) -> dict[int, str]:
    """The server's torch workers: its direct children running the worker module (a run and the checkpoints
    parked by incremental analysis are forks of a worker, with the same command line, one level further down)."""
    def parent(pid: int) -> int | None:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        return int(stat[stat.rindex(")") + 2:].split()[1])

    return {pid: cmd for pid, cmd in process_tree(server_pid).items()
            if "paramlens.sandbox.worker" in cmd and parent(pid) == server_pid}


@pytest.mark.asyncio(loop_scope="function")
async def test_every_contributed_setting_reaches_the_analysis(settings_client: LanguageClient, tmp_path):
    client = settings_client
    contributed = json.loads(PACKAGE_JSON.read_text())["contributes"]["configuration"]["properties"]
    by_setting = {option.setting: option for option in opt.ALL if option.setting}
    wrapper = tmp_path / "python-wrapper"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    wrapper.chmod(0o755)
    values = {key.removeprefix("paramlens."): _changed(by_setting[key.removeprefix("paramlens.")], str(wrapper))
              for key in contributed}
    checked: set[str] = set()
    statuses = client.statuses  # paramlens/status (test_server._answer_like_vscode): the incremental settings
    source = SEED.read_text()
    uri = SEED.as_uri()
    open_document(client, uri, source)
    before = await _report_for(client, uri, 1)
    assert before["report"]["execution"]["options"]["timeout_seconds"] == opt.TIMEOUT.default
    hints_before = await _hints(client, uri, source)

    # everything but execution itself and the debounce changed at once, applied live
    section: dict = {}
    for key, value in values.items():
        if key in ("execution", "debounceMs"):
            continue
        head, _, tail = key.partition(".")
        (section.setdefault(head, {}).__setitem__(tail, value) if tail else section.__setitem__(head, value))
    client.set_configuration(section, section="paramlens")
    client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(settings=None))

    def analysed_with_new_settings() -> bool:
        return bool(client.diagnostics.get(uri)) and any("精确类型判断" in d.message for d in client.diagnostics[uri])

    await wait_until(analysed_with_new_settings, timeout=120)
    after = (await _report(client, uri))["report"]
    given = after["execution"]["options"]
    for option in opt.ANALYSIS:
        if option.setting in values and option.setting not in ("execution", "locale"):
            expected = values[option.setting]
            assert given[option.name] == expected, (option.setting, given)
            checked.add(option.setting)
    assert after["execution"]["status"] == "ok", after["execution"]
    # incremental analysis (server-side settings): in the status sent after that analysis
    incremental = statuses[-1]["incremental"]
    assert incremental["enabled"] is values["incremental"], incremental
    assert incremental["checkpoints"]["max_count"] == values["checkpoints"], incremental
    assert incremental["checkpoints"]["max_memory_mb"] == values["checkpointMemoryMb"], incremental
    checked.update({"incremental", "checkpoints", "checkpointMemoryMb"})
    # the locale: the hover is in Chinese now
    text = await hover_text(client, uri, position_of(source, "nn.init.constant_(m.weight, 1)", offset=10))
    assert "对称性" in text
    checked.add("locale")
    # the inlay hint kinds, all turned off (there were hints before)
    assert hints_before and not await _hints(client, uri, source)
    checked.update(o.setting for o in opt.INLAY_HINTS)
    # a file outside the workspace runs only when executeOutsideWorkspace is on: it is on now
    outside = tmp_path / "outside.py"
    outside_text = "import torch\nfrom torch import nn\nnet = nn.Linear(2, 3)\n"
    open_document(client, outside.as_uri(), outside_text)
    assert (await _report_for(client, outside.as_uri(), 1))["report"]["execution"]["status"] == "ok"
    checked.add("executeOutsideWorkspace")

    # the debounce: a long one keeps an edit from being analysed for now
    client.set_configuration({**section, "debounceMs": values["debounceMs"]}, section="paramlens")
    client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(settings=None))
    await asyncio.sleep(1.0)
    settled = (await _report(client, uri))["version"]
    replace_all(client, uri, source + "\nextra = nn.Linear(3, 2)\n", version=settled + 1)
    await asyncio.sleep(3.0)
    assert (await _report(client, uri))["version"] == settled, "analysed before the 60 s debounce ran out"
    checked.add("debounceMs")

    # execution off: the open documents are analysed again at once, and nothing runs
    client.set_configuration({**section, "execution": False}, section="paramlens")
    client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(settings=None))

    async def static_only() -> bool:
        answer = await _report(client, uri)
        return bool(answer) and answer["report"]["execution"]["status"] == "skipped"

    for _ in range(1200):
        if await static_only():
            break
        await asyncio.sleep(0.1)
    assert await static_only()
    checked.add("execution")
    assert checked == set(values), f"settings contributed but not checked: {set(values) - checked}"


@pytest.mark.asyncio(loop_scope="function")
async def test_locale_and_inlay_hints_change_live_without_a_restart(settings_client: LanguageClient):
    client = settings_client
    source = SEED.read_text()
    uri = SEED.as_uri()
    open_document(client, uri, source)
    await wait_until(lambda: uri in client.diagnostics, timeout=120)
    server_pid = client._server.pid
    workers_before = _workers(server_pid)
    assert workers_before, "the warm worker runs under the server"
    position = position_of(source, "nn.init.constant_(m.weight, 1)", offset=10)
    assert "symmetry" in await hover_text(client, uri, position)
    full = lsp.Range(lsp.Position(0, 0), lsp.Position(len(source.splitlines()), 0))

    async def hint_labels() -> list[str]:
        hints = await client.text_document_inlay_hint_async(lsp.InlayHintParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri), range=full))
        return [hint.label for hint in hints]

    labels = await hint_labels()
    assert any(label.startswith("→ [") for label in labels)

    client.set_configuration({"inlayHints": {"forwardShapes": False}}, section="paramlens")
    client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(settings=None))
    for _ in range(100):
        labels = await hint_labels()
        if not any(label.startswith("→ [") for label in labels):
            break
        await asyncio.sleep(0.05)
    assert labels and not any(label.startswith("→ [") for label in labels)

    client.set_configuration({"inlayHints": {"forwardShapes": False}, "locale": "zh-CN"}, section="paramlens")
    client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(settings=None))
    text = ""
    for _ in range(1200):
        text = await hover_text(client, uri, position)
        if "对称性" in text:
            break
        await asyncio.sleep(0.1)
    assert "对称性" in text
    assert any("个参数" in label for label in await hint_labels())
    assert client._server.returncode is None and client._server.pid == server_pid
    workers_after = _workers(server_pid)
    assert workers_after == workers_before, "the torch worker was restarted"


def test_the_docs_name_every_option_on_every_surface():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    editors = (ROOT / "docs" / "editors.md").read_text(encoding="utf-8")
    for option in opt.ALL:
        for name in (option.cli, option.toml):
            if name:
                assert f"`{name}" in readme, f"README.md does not mention {name}"
        if option.setting:
            head = option.setting.split(".")[0]
            assert f"`{head}`" in editors, f"docs/editors.md does not mention the setting {head}"

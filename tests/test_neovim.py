"""Smoke test: the language server driven by a real editor, Neovim's built-in LSP client, headless, started as
docs/editors.md says: `/path/to/venv/bin/paramlens serve`, from the release wheel installed in a fresh virtual
environment (the `release` fixture), not from the source tree.

Skipped with the reason when Neovim is not installed (Debian package `neovim`; `.ci/run` installs it when it can).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from oracle import run_oracle

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "examples" / "parameter_management.py"
SCRIPT = ROOT / "tests" / "editors" / "neovim_hover.lua"

pytestmark = pytest.mark.skipif(shutil.which("nvim") is None,
                                reason="Neovim is not installed (apt-get install neovim)")


def _run(tmp_path: Path, release, locale: str, snippet: str) -> dict:
    source = SEED.read_text()
    start = source.index(snippet)
    line = source[:start].count("\n")
    column = start - (source[:start].rfind("\n") + 1) + 4
    out = tmp_path / f"nvim-{locale}.json"
    env = dict(os.environ, PL_OUT=str(out), PL_SERVER=str(release.paramlens), PL_ROOT=str(ROOT), PL_LOCALE=locale,
               PL_LINE=str(line), PL_COL=str(column), HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path))
    subprocess.run(["nvim", "--headless", "--clean", "-n", "-c", f"luafile {SCRIPT}", str(SEED)], env=env,
                   timeout=240, capture_output=True, check=False)
    assert out.exists(), "Neovim did not write its result"
    return json.loads(out.read_text())


def test_neovim_shows_hover_and_diagnostics(tmp_path, release):
    seen = _run(tmp_path, release, "en", "net[0].named_parameters()")
    assert seen["ready"]
    codes = {d["code"] for d in seen["diagnostics"]}
    assert {"PL102", "PL104"} <= codes
    truth = run_oracle(SEED.read_text(), str(SEED))
    shapes = [p["shape"] for p in truth.module("net")["parameters"]][:2]
    # net[0] is Linear(4, 8) both where the hover points and in the final net: the same shapes
    for shape in shapes:
        assert "[" + ", ".join(map(str, shape)) + "]" in seen["hover"]


def test_neovim_chinese_locale(tmp_path, release):
    seen = _run(tmp_path, release, "zh-CN", "net.apply(init_normal)")
    assert "后序遍历" in seen["hover"]

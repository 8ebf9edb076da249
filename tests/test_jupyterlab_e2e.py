"""ParamLens in real JupyterLab: JupyterLab 4 with jupyterlab-lsp (both from the package registry, pinned in the
`jupyter` extra that scripts/setup.sh installs) started headless on a copy of the example notebook; jupyter-lsp finds
ParamLens through its `jupyter_lsp_spec_v1` entry point, exactly as after `pip install paramlens jupyterlab-lsp`;
headless Chromium (playwright-core, the set-up of the code-server test) holds Control over `Linear` in a cell and
reads ParamLens' hover, with the shapes torch computes here, and finds its diagnostics drawn in the cells.
Screenshots go to editor-client/e2e/artifacts/jupyterlab-*.png.

Skipped with the reason when JupyterLab or jupyterlab-lsp is not installed in this interpreter, node/npm or Chromium
are missing (and Chromium cannot be installed: not root or no apt-get), playwright-core cannot be installed, or
PARAMLENS_SKIP_JUPYTERLAB_E2E is set.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CLIENT = REPO / "editor-client"
SCRIPT = CLIENT / "e2e" / "jupyterlab-e2e.mjs"
ARTIFACTS = CLIENT / "e2e" / "artifacts"
NOTEBOOK = REPO / "examples" / "parameter_management.ipynb"
TIMEOUT_SECONDS = 10 * 60


def _skip_reason() -> str | None:
    if os.environ.get("PARAMLENS_SKIP_JUPYTERLAB_E2E"):
        return "PARAMLENS_SKIP_JUPYTERLAB_E2E is set"
    for module in ("jupyterlab", "jupyterlab_lsp", "jupyter_lsp"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed in {sys.executable} (pip install -e '.[jupyter]')"
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Chromium is driven with playwright-core from node)"
    if not Path("/usr/bin/chromium").exists():
        can_install = shutil.which("apt-get") is not None and hasattr(os, "geteuid") and os.geteuid() == 0
        if not can_install:
            return "chromium is not installed and cannot be installed here (needs root and apt-get)"
        command = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"]
        environment = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        installed = subprocess.run(command, capture_output=True, text=True, env=environment)
        if installed.returncode != 0:  # a fresh machine may have no package lists yet
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True, env=environment)
            installed = subprocess.run(command, capture_output=True, text=True, env=environment)
        if installed.returncode != 0 or not Path("/usr/bin/chromium").exists():
            return f"chromium could not be installed: {installed.stderr[-300:]}"
    if not (CLIENT / "node_modules" / "playwright-core").is_dir():
        installed = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=CLIENT,
                                   capture_output=True, text=True)
        if installed.returncode != 0:
            return f"playwright-core could not be installed (npm ci): {installed.stderr[-300:]}"
    return None


def _expected_shapes() -> dict[str, list[int]]:
    """The parameters of `nn.Linear(4, 8)` as torch itself reports them."""
    code = ("import json, torch\nfrom torch import nn\n"
            "print(json.dumps({n: list(p.shape) for n, p in nn.Linear(4, 8).named_parameters()}))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    return json.loads(completed.stdout)


def test_jupyter_lsp_finds_paramlens_and_starts_it_with_this_interpreter():
    """The spec entry point (no browser needed): jupyter-lsp's own schema accepts it, and its command is this
    interpreter with ParamLens, never a `paramlens` found on PATH."""
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group="jupyter_lsp_spec_v1") if ep.name == "paramlens"]
    assert len(found) == 1
    specs = found[0].load()(None)
    assert specs["paramlens"]["argv"] == [sys.executable, "-m", "paramlens", "serve"]
    assert specs["paramlens"]["languages"] == ["python"]
    if importlib.util.find_spec("jupyter_lsp") is None:
        pytest.skip("jupyter-lsp is not installed: its schema cannot be checked")
    from jupyter_lsp.schema import LANGUAGE_SERVER_SPEC_MAP

    assert list(LANGUAGE_SERVER_SPEC_MAP.iter_errors(specs)) == []


def test_jupyterlab_shows_paramlens_in_a_notebook(tmp_path):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    folder = tmp_path / "lab"
    folder.mkdir()
    shutil.copy(NOTEBOOK, folder / NOTEBOOK.name)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    command = ["node", str(SCRIPT), "--python", sys.executable, "--folder", str(folder), "--notebook", NOTEBOOK.name,
               "--expected", json.dumps(_expected_shapes()), "--artifacts", str(ARTIFACTS)]
    try:
        result = subprocess.run(command, cwd=CLIENT, capture_output=True, text=True, timeout=TIMEOUT_SECONDS,
                                stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"jupyterlab-e2e.mjs did not finish in {TIMEOUT_SECONDS} s:\n{error.stdout or ''}")
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"jupyterlab-e2e.mjs failed (exit {result.returncode}):\n{output[-8000:]}"
    assert "passed" in result.stdout and (ARTIFACTS / "jupyterlab-hover.png").exists(), output[-8000:]

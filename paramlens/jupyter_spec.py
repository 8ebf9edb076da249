"""ParamLens' entry in jupyter-lsp (the server side of jupyterlab-lsp): `pip install paramlens jupyterlab-lsp` is all
a JupyterLab user does. jupyter-lsp finds language servers through the `jupyter_lsp_spec_v1` entry point group
(pyproject.toml points it here) and starts each spec's `argv` as given, so the command names the interpreter this
code runs in (`sys.executable`, the environment that has ParamLens and, usually, torch), never a `paramlens` that
happens to be first on PATH.

jupyterlab-lsp sends one document per notebook (its code cells joined, magics written as `get_ipython()` calls) under
`.virtual_documents/`; ParamLens recognises that form (paramlens/notebooks/program.py)."""

from __future__ import annotations

import sys
from typing import Any

KEY = "paramlens"


def spec(manager: Any = None) -> dict[str, dict[str, Any]]:
    """The spec jupyter-lsp validates against its schema (`version` is the schema's current version)."""
    try:
        from jupyter_lsp.schema import SPEC_VERSION
    except Exception:  # noqa: BLE001 - outside jupyter-lsp (the tests read the spec directly)
        SPEC_VERSION = 2
    return {KEY: {
        "display_name": "ParamLens",
        "argv": [sys.executable, "-m", "paramlens", "serve"],
        "languages": ["python"],
        "mime_types": ["text/python", "text/x-ipython"],
        "version": SPEC_VERSION,
        "urls": {"home": "https://github.com/paramlens/paramlens",
                 "issues": "https://github.com/paramlens/paramlens/issues"},
        "install": {"pip": "pip install paramlens"},
        "env": {"PYTHONUNBUFFERED": "1"},
    }}


def is_installed(manager: Any = None) -> bool:
    return True


spec.is_installed = is_installed  # type: ignore[attr-defined]

#!/usr/bin/env bash
# Creates .venv in the repository and installs ParamLens into it with the CPU build of torch.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
# The CPU build first, pinned, so that nothing later pulls a multi-GB CUDA build.
"${PIP[@]}" "torch==2.13.0"
"${PIP[@]}" -e ".[test]"
# JupyterLab + jupyterlab-lsp (pinned) for the JupyterLab end-to-end test; without them that test is skipped
"${PIP[@]}" -e ".[test,jupyter]" 2>/dev/null \
  || echo "setup: JupyterLab could not be installed; tests/test_jupyterlab_e2e.py will be skipped" >&2
.venv/bin/paramlens --version

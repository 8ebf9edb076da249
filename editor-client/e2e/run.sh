#!/usr/bin/env bash
# End-to-end test of the packaged extension in real VS Code: code-server 4.100.3 in headless Chromium.
# 1. installs code-server into a cache outside the repository (fast when cached; Debian packages if missing),
# 2. builds the release .vsix (scripts/release.sh) if there is none or it is older than the sources, and unpacks it
#    into a fresh extensions directory,
# 3. makes (once, cached) a virtual environment with torch and without ParamLens: the interpreter the extension is
#    pointed at, so the hover can only come from the server the .vsix carries,
# 4. computes the expected parameter shapes with torch (never typed literals),
# 5. runs vscode-e2e.mjs, offline (its own network namespace with only loopback, when it can make one): a
#    trusted folder (real values) and Restricted Mode (static only, nothing runs), then a third time with the
#    example notebook open in VS Code's notebook editor (a hover from a cell, PL921 and PL102 on cells).
# Screenshots and logs go to editor-client/e2e/artifacts/. Exit 0 on success; exit 0 with a line starting
# "E2E SKIPPED:" only when code-server cannot be installed here; non-zero on any failure.
set -euo pipefail
E2E_DIR="$(cd "$(dirname "$0")" && pwd)"
CLIENT_DIR="$(dirname "$E2E_DIR")"
REPO_DIR="$(dirname "$CLIENT_DIR")"
CACHE="${PARAMLENS_CODE_SERVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/paramlens-code-server}"
ARTIFACTS="$E2E_DIR/artifacts"
PYTHON="$REPO_DIR/.venv/bin/python"
EXAMPLE="examples/parameter_management.py"
NOTEBOOK="examples/parameter_management.ipynb"   # the notebook scenario: the same chapter in the notebook editor
start=$(date +%s)
elapsed() { echo "$(( $(date +%s) - start ))s"; }

for tool in node npm; do
  command -v "$tool" >/dev/null 2>&1 || { echo "E2E SKIPPED: $tool is not installed"; exit 0; }
done
if [ ! -x "$PYTHON" ] || ! (cd / && "$PYTHON" -c "import paramlens, torch") 2>/dev/null; then
  echo "FAILED: $PYTHON with paramlens and torch is needed: run bash scripts/setup.sh first" >&2
  exit 1
fi

# -- code-server (cached) ----------------------------------------------------------------------------------------
mkdir -p "$CACHE"
if ! bash "$E2E_DIR/install-code-server.sh" "$CACHE" > "$CACHE/install.log" 2>&1; then
  tail -n 20 "$CACHE/install.log" >&2 || true
  echo "E2E SKIPPED: code-server 4.100.3 could not be installed here (log: $CACHE/install.log)"
  exit 0
fi
CODE_SERVER="$CACHE/code-server-4.100.3/package"
echo "code-server ready ($(elapsed))"
[ -x /usr/bin/chromium ] || { echo "FAILED: /usr/bin/chromium is missing after the install" >&2; exit 1; }
# the example notebook's headings are Chinese: without a CJK font the screenshots show boxes (best effort)
if ! dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null | grep -q "install ok installed" \
    && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-noto-cjk >/dev/null 2>&1 \
    || echo "fonts-noto-cjk could not be installed: Chinese text shows as boxes in the screenshots"
fi

# -- the extension ----------------------------------------------------------------------------------------------
cd "$CLIENT_DIR"
if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/@vscode/vsce ]; then
  echo "installing the extension's npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi
VERSION=$(node -p "require('./package.json').version")
VSIX="$REPO_DIR/dist/paramlens-$VERSION.vsix"
if [ ! -f "$VSIX" ] || [ -n "$(cd "$REPO_DIR" && find editor-client/src editor-client/package.json editor-client/esbuild.mjs \
    editor-client/bundled/serve.py paramlens -newer "$VSIX" -print -quit)" ]; then
  echo "no up-to-date $VSIX: running scripts/release.sh"
  (cd "$REPO_DIR" && bash scripts/release.sh dist >/dev/null)
fi
echo "extension: $VSIX ($(stat -c %s "$VSIX") bytes)"
RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/paramlens-e2e.XXXXXX")"
trap 'rm -rf "$RUN_DIR"' EXIT
EXTENSIONS="$RUN_DIR/extensions"
mkdir -p "$EXTENSIONS"
# A .vsix is a zip whose extension/ folder is the installed extension: unpack that folder as
# <publisher>.<name>-<version>, the layout of VS Code's extensions directory.
(cd / && "$PYTHON" - "$VSIX" "$EXTENSIONS/paramlens.paramlens-$VERSION" <<'PY'
import os, sys, zipfile
vsix, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(vsix) as archive:
    for name in archive.namelist():
        if name.startswith("extension/") and not name.endswith("/"):
            path = os.path.join(target, name[len("extension/"):])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as out:
                out.write(archive.read(name))
PY
)
test -f "$EXTENSIONS/paramlens.paramlens-$VERSION/dist/extension.js"

# -- an interpreter with torch and without ParamLens (cached outside the repository) -------------------------------
TORCH=$(cd / && "$PYTHON" -c "import importlib.metadata as m; print(m.version('torch'))")
TORCH_ONLY="$CACHE/torch-only-$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-$TORCH"
if [ ! -x "$TORCH_ONLY/bin/python" ] || ! (cd / && "$TORCH_ONLY/bin/python" -c "import torch") 2>/dev/null; then
  echo "making $TORCH_ONLY (torch==${TORCH%%+*}, no ParamLens)"
  rm -rf "$TORCH_ONLY"
  "$(cd / && "$PYTHON" -c 'import sys; print(sys._base_executable)')" -m venv "$TORCH_ONLY"
  "$TORCH_ONLY/bin/python" -m pip install --quiet --disable-pip-version-check "torch==${TORCH%%+*}" numpy \
    2>&1 | grep -v "^WARNING: Location" || true
fi
if (cd / && "$TORCH_ONLY/bin/python" -c "import paramlens") 2>/dev/null; then
  echo "FAILED: $TORCH_ONLY has ParamLens installed; the test needs an interpreter without it" >&2
  exit 1
fi
echo "interpreter: $TORCH_ONLY/bin/python (torch $TORCH, no ParamLens)"

# -- expected values, from torch ---------------------------------------------------------------------------------
EXPECTED=$(cd / && "$PYTHON" -c '
import json, torch
from torch import nn
torch.manual_seed(0)
print(json.dumps({name: list(p.shape) for name, p in nn.Linear(4, 8).named_parameters()}))')
echo "expected from torch: $EXPECTED"

rm -rf "$ARTIFACTS"
mkdir -p "$ARTIFACTS"
status=0
# offline: a network namespace with only loopback (code-server and Chromium talk over 127.0.0.1), when root
OFFLINE=()
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 \
    && unshare --net true 2>/dev/null; then
  OFFLINE=(unshare --net sh -c 'ip link set lo up && exec "$@"' offline)
  echo "offline: each scenario runs in its own network namespace (loopback only)"
else
  echo "not root or no unshare: the scenarios run with this machine's network"
fi
for scenario in ${PARAMLENS_E2E_SCENARIOS:-trusted restricted notebook}; do
  file="$EXAMPLE"
  [ "$scenario" = notebook ] && file="$NOTEBOOK"
  "${OFFLINE[@]}" node "$E2E_DIR/vscode-e2e.mjs" --scenario "$scenario" --code-server "$CODE_SERVER" \
    --extensions "$EXTENSIONS" --folder "$REPO_DIR" --file "$file" --interpreter "$TORCH_ONLY/bin/python" \
    --expected "$EXPECTED" --artifacts "$ARTIFACTS" || status=1
done
if [ "$status" = 0 ]; then
  echo "E2E PASSED in $(elapsed); screenshots in $ARTIFACTS"
else
  echo "E2E FAILED after $(elapsed); screenshots and logs in $ARTIFACTS" >&2
fi
exit "$status"

#!/usr/bin/env bash
# The release build: the wheel, the sdist and the VS Code extension (.vsix, which carries the wheel's ParamLens
# and its server dependencies in bundled/libs/), all with the one version number of paramlens/__init__.py.
# usage: bash scripts/release.sh [--no-vsix] [OUT_DIR]   (default dist/; needs .venv from scripts/setup.sh, and
#        node/npm for the .vsix; --no-vsix, for a machine without node, builds the wheel and the sdist only)
# Prints the files it made. Exits non-zero if a version disagrees or a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
VSIX_TOO=1
if [ "${1:-}" = "--no-vsix" ]; then VSIX_TOO=0; shift; fi
OUT="$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)"
PYTHON="${PYTHON:-.venv/bin/python}"
VERSION=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' paramlens/__init__.py)
[ -n "$VERSION" ] || { echo "release: no __version__ in paramlens/__init__.py" >&2; exit 1; }
CLIENT_VERSION=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' editor-client/package.json)
if [ "$CLIENT_VERSION" != "$VERSION" ]; then
  echo "release: editor-client/package.json has version $CLIENT_VERSION, paramlens/__init__.py $VERSION;" \
       "set both to the same number" >&2
  exit 1
fi

rm -f "$OUT"/paramlens-"$VERSION"*
# --no-isolation: the build backend (setuptools) of this environment, nothing fetched
"$PYTHON" -m build --no-isolation --sdist --wheel --outdir "$OUT" . >"$OUT/build.log" 2>&1 \
  || { tail -n 30 "$OUT/build.log" >&2; exit 1; }
WHEEL="$OUT/paramlens-$VERSION-py3-none-any.whl"
SDIST="$OUT/paramlens-$VERSION.tar.gz"
[ -f "$WHEEL" ] && [ -f "$SDIST" ] || { echo "release: the build made no $WHEEL / $SDIST" >&2; exit 1; }

ARTIFACTS=("$WHEEL" "$SDIST")
if [ "$VSIX_TOO" = 1 ]; then
  "$PYTHON" scripts/bundle_python.py "$WHEEL" editor-client/bundled/libs
  VSIX="$OUT/paramlens-$VERSION.vsix"
  (
    cd editor-client
    [ -d node_modules/@vscode/vsce ] || npm ci --no-audit --no-fund --loglevel=error >/dev/null
    npx --no-install vsce package --no-dependencies --target linux-x64 --out "$VSIX" >/dev/null
  )
  ARTIFACTS+=("$VSIX")
fi
rm -f "$OUT/build.log"
for artifact in "${ARTIFACTS[@]}"; do
  echo "$artifact ($(stat -c %s "$artifact") bytes)"
done

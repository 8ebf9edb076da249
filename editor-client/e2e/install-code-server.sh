#!/usr/bin/env bash
# Installs code-server 4.100.3 (VS Code 1.100.3, the last release that runs on Node 20) into a cache directory
# outside the repository, offline except for the npm registry and Debian packages (see shared NOTES.md):
# its own postinstall downloads ripgrep from GitHub, which is unreachable here, so its steps are done by hand.
# Usage: install-code-server.sh CACHE_DIR. Prints nothing but progress; exits non-zero when it cannot install.
set -euo pipefail
VERSION=4.100.3
CACHE="${1:?usage: install-code-server.sh CACHE_DIR}"
ROOT="$CACHE/code-server-$VERSION"
if [ -f "$ROOT/.complete" ]; then
  exit 0
fi

missing_apt=()
for pkg in libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev pkg-config ripgrep chromium; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing_apt+=("$pkg")
done
if [ ${#missing_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages: ${missing_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_apt[@]}" >/dev/null
  else
    echo "missing Debian packages (${missing_apt[*]}) and not root: cannot install them" >&2
    exit 1
  fi
fi

rm -rf "$ROOT.partial"
mkdir -p "$ROOT.partial"
cd "$ROOT.partial"
echo "fetching code-server@$VERSION from the npm registry"
tarball=$(npm pack --silent "code-server@$VERSION")
tar -xzf "$tarball"
rm -f "$tarball"
export npm_config_yes=true npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
echo "installing VS Code's server dependencies (several minutes on a fresh machine)"
(cd package/lib/vscode && npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
mkdir -p package/lib/vscode/node_modules/@vscode/ripgrep/bin
cp "$(command -v rg)" package/lib/vscode/node_modules/@vscode/ripgrep/bin/rg
(cd package/lib/vscode && npm rebuild argon2 --loglevel=error >/dev/null)
ln -sfn node_modules package/lib/vscode/node_modules.asar
(cd package/lib/vscode/extensions && npm install --omit=dev --no-audit --no-fund --loglevel=error >/dev/null)
(cd package && npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null \
  && npm rebuild argon2 --loglevel=error >/dev/null)
cd "$CACHE"
rm -rf "$ROOT"
mv "$ROOT.partial" "$ROOT"
touch "$ROOT/.complete"
echo "code-server $VERSION installed in $ROOT"

"""How the VS Code extension gets a server into an interpreter that has torch but no ParamLens: the two designs of
issue 16, measured in the same run on the same machine.

- bundled (what the .vsix does): the extension runs `bundled/serve.py` from its own directory in the user's
  interpreter; nothing is installed. Measured: the environment check, and process start to first diagnostics of the
  seed example.
- install on click (the baseline): `pip install` of the carried wheel into that interpreter, then
  `python -m paramlens serve`. Measured: the install (with this machine's index, for libcst, pygls, lsprotocol,
  attrs, cattrs), whether it can be done offline (`--no-index`, only the wheel), and the same start to diagnostics.

Both interpreters are fresh virtual environments with only torch (and numpy). Prints a table and writes JSON.

    bash scripts/release.sh                       # the wheel and editor-client/bundled/libs
    .venv/bin/python benchmarks/extension_server.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lsp_latency import SEED, Session  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = ROOT / "editor-client" / "bundled" / "serve.py"


def torch_only_venv(directory: Path) -> Path:
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(directory)], check=True)
    torch = metadata.version("torch").split("+")[0]
    subprocess.run([str(directory / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    f"torch=={torch}", "numpy"], check=True, capture_output=True)
    return directory / "bin" / "python"


def timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd="/")
    return time.perf_counter() - started, result


async def start_to_diagnostics(command: list[str]) -> float:
    session = Session(command)
    started = time.perf_counter()
    await session.start()
    await session.open(SEED.as_uri(), SEED.read_text())
    await session.wait_diagnostics(SEED.as_uri(), 1)
    elapsed = time.perf_counter() - started
    await session.stop()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "extension_server.json"))
    args = parser.parse_args()
    version = re.search(r'__version__ = "(.+)"', (ROOT / "paramlens" / "__init__.py").read_text()).group(1)
    wheel = ROOT / "dist" / f"paramlens-{version}-py3-none-any.whl"
    bundle = ROOT / "editor-client" / "bundled" / "libs"
    if not wheel.exists() or not bundle.exists():
        raise SystemExit("run bash scripts/release.sh first (the wheel and the bundle are measured)")
    vsix = ROOT / "dist" / f"paramlens-{version}.vsix"
    results: dict = {"vsix_bytes": vsix.stat().st_size if vsix.exists() else None,
                     "bundle_bytes": sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file()),
                     "wheel_bytes": wheel.stat().st_size}
    with tempfile.TemporaryDirectory(prefix="paramlens-bench-") as directory:
        bundled_python = torch_only_venv(Path(directory) / "bundled")
        check_seconds, check = timed([str(bundled_python), str(LAUNCHER), "check"])
        results["bundled"] = {"check_seconds": check_seconds, "check": json.loads(check.stdout),
                              "start_to_diagnostics": asyncio.run(start_to_diagnostics(
                                  [str(bundled_python), str(LAUNCHER), "serve"]))}
        installed_python = torch_only_venv(Path(directory) / "installed")
        offline_seconds, offline = timed([str(installed_python), "-m", "pip", "install", "--quiet", "--no-index",
                                          "--disable-pip-version-check", str(wheel)])
        install_seconds, install = timed([str(installed_python), "-m", "pip", "install", "--quiet",
                                          "--disable-pip-version-check", str(wheel)])
        added = subprocess.run([str(installed_python), "-m", "pip", "list", "--format", "json"], capture_output=True,
                               text=True).stdout
        results["install_on_click"] = {
            "offline_install_ok": offline.returncode == 0,
            "offline_install_error": offline.stderr.strip().splitlines()[-1:] if offline.returncode else [],
            "install_seconds": install_seconds, "install_ok": install.returncode == 0,
            "packages_after": sorted(p["name"] for p in json.loads(added)),
            "start_to_diagnostics": asyncio.run(start_to_diagnostics(
                [str(installed_python), "-m", "paramlens", "serve"])) if install.returncode == 0 else None}
    bundled, clicked = results["bundled"], results["install_on_click"]
    print(f"{'design':<18} {'before the server':<44} {'start→diagnostics':>18}")
    print(f"{'bundled (.vsix)':<18} {'check ' + format(bundled['check_seconds'] * 1000, '.0f') + ' ms, nothing installed':<44} "
          f"{bundled['start_to_diagnostics'] * 1000:>15.0f} ms")
    before = (f"pip install {clicked['install_seconds']:.1f} s (offline: "
              f"{'ok' if clicked['offline_install_ok'] else 'fails'})")
    after = clicked["start_to_diagnostics"]
    print(f"{'install on click':<18} {before:<44} {(after or float('nan')) * 1000:>15.0f} ms")
    print(f".vsix {results['vsix_bytes'] or 0:,} bytes (bundle {results['bundle_bytes']:,} bytes unpacked); "
          f"wheel {results['wheel_bytes']:,} bytes")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

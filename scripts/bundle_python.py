"""Fills `editor-client/bundled/libs/` with the ParamLens wheel and the server's dependencies, so that the `.vsix`
runs its own server in the user's interpreter (see editor-client/bundled/serve.py and the README's "VS Code").

usage: python scripts/bundle_python.py WHEEL LIBS_DIR

- the ParamLens wheel and the pure-Python dependencies (pygls, lsprotocol, attrs, cattrs, typing_extensions, and
  exceptiongroup / tomli for Python 3.10), at the versions this environment has (the combination the tests ran);
- nbformat and its dependencies (the saved .ipynb of an open notebook: its stored outputs);
- libcst, whose parser is compiled per Python version, and rpds-py (jsonschema's, for nbformat), likewise: their
  Python files once, and their `....cpython-3XY-...so` for every version in PYTHONS that pip can get for this
  platform (the file names differ, so they sit side by side and each interpreter loads its own). This environment's own copy is always there; a version pip cannot
  download is left out and is missing from the manifest, whose `pythons` the extension checks.
- `paramlens-bundle.json`: the ParamLens version, the platform and the Python versions the bundle serves.

Only pip, by package name, through the index this machine is configured with.
"""

from __future__ import annotations

import glob
import json
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

PURE = ["pygls", "lsprotocol", "attrs", "cattrs", "typing_extensions"]
# nbformat reads the saved .ipynb of a notebook open in the editor (its stored outputs, PL921); not pinned to this
# environment's versions, some of which need a newer Python than the oldest the bundle serves: pip picks the newest
# that supports it
PURE_FOR_NOTEBOOKS = ["nbformat", "fastjsonschema", "jsonschema", "jsonschema-specifications", "referencing",
                      "jupyter_core", "traitlets", "platformdirs"]
# compiled packages, shipped like libcst: (distribution, import package, prefix of its per-Python extension files,
# whether the server needs it to start). rpds-py (jsonschema's, for nbformat) only serves the stored-output comparison
# of notebooks: a Python version it has no build for (3.10 for recent releases) is still served, without that.
# orjson only makes the run's events faster to write and read (sandbox/protocol.py falls back to json).
NATIVE = [("libcst", "libcst", "libcst/native.", True), ("rpds-py", "rpds", "rpds/rpds.", False),
          ("orjson", "orjson", "orjson/orjson.", False)]
PURE_FOR_OLD_PYTHON = ["exceptiongroup", "tomli"]   # cattrs and config.py need them before Python 3.11
PYTHONS = ["3.10", "3.11", "3.12", "3.13", "3.14"]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]
NOT_SHIPPED = ("tests", "__pycache__")


def pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True)


def pinned(name: str) -> str:
    try:
        return f"{name}=={metadata.version(name)}"
    except metadata.PackageNotFoundError:
        return name


def install_pure(wheel: Path, libs: Path) -> None:
    requirements = [str(wheel)] + [pinned(name) for name in PURE] + PURE_FOR_NOTEBOOKS + PURE_FOR_OLD_PYTHON
    # pure wheels only (tomli, for one, also has compiled ones for a single Python version), for the oldest Python
    result = pip("install", "--quiet", "--no-deps", "--no-compile", "--only-binary=:all:", "--implementation", "py",
                 "--python-version", PYTHONS[0], "--target", str(libs), *requirements)
    if result.returncode != 0:
        raise SystemExit(f"pip could not install the pure dependencies:\n{result.stderr[-3000:]}")


def copy_own_natives(libs: Path) -> dict[str, str]:
    """This interpreter's copy of each compiled package (Python files + its extension); their versions."""
    import importlib

    versions = {}
    for distribution, package, _, _ in NATIVE:
        source = Path(importlib.import_module(package).__file__).parent
        shutil.copytree(source, libs / package, ignore=shutil.ignore_patterns(*NOT_SHIPPED))
        versions[distribution] = metadata.version(distribution)
    return versions


def add_native_parsers(libs: Path, versions: dict[str, str]) -> list[str]:
    """The compiled extension of every package in NATIVE for every Python in PYTHONS that pip can download; the
    Python versions now served (those that have all of them)."""
    own = f"{sys.version_info.major}.{sys.version_info.minor}"
    served = [own]
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return served  # other platforms: this interpreter's extensions only
    with tempfile.TemporaryDirectory(prefix="paramlens-bundle-") as download:
        for python in PYTHONS:
            if python == own:
                continue
            complete = True
            for distribution, _, prefix, required in NATIVE:
                version = versions[distribution]
                platform_args = [arg for name in PLATFORMS for arg in ("--platform", name)]
                result = pip("download", "--quiet", "--no-deps", "--only-binary=:all:", "--python-version", python,
                             *platform_args, "--dest", download, f"{distribution}=={version}")
                tag = "cp" + python.replace(".", "")
                wheel_name = distribution.replace("-", "_")
                wheels = glob.glob(os.path.join(download, f"{wheel_name}-{version}-{tag}-*.whl"))
                if result.returncode != 0 or not wheels:
                    print(f"bundle: no {distribution} {version} for Python {python} here; the bundle will "
                          + ("not serve it" if required else "serve it without what needs it"), file=sys.stderr)
                    complete = complete and not required
                    continue
                with zipfile.ZipFile(wheels[0]) as archive:
                    natives = [n for n in archive.namelist() if n.startswith(prefix) and n.endswith(".so")]
                    for name in natives:
                        (libs / name).write_bytes(archive.read(name))
                complete = complete and (bool(natives) or not required)
            if complete:
                served.append(python)
    return sorted(served, key=lambda v: tuple(map(int, v.split("."))))


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    wheel, libs = Path(argv[1]).resolve(), Path(argv[2]).resolve()
    shutil.rmtree(libs, ignore_errors=True)
    libs.mkdir(parents=True)
    install_pure(wheel, libs)
    served = add_native_parsers(libs, copy_own_natives(libs))
    for leftover in libs.glob("*.dist-info"):
        if not leftover.name.startswith(("paramlens", "libcst", "rpds")):
            for path in leftover.iterdir():   # keep the licences, drop the installer's records
                if path.name in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json"):
                    path.unlink()
    shutil.rmtree(libs / "bin", ignore_errors=True)  # the console script: the extension starts serve.py
    for cache in libs.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    sys.path.insert(0, str(libs))
    import paramlens

    manifest = {"paramlens": paramlens.__version__, "platform": sysconfig.get_platform(), "pythons": served}
    (libs / "paramlens-bundle.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    size = sum(p.stat().st_size for p in libs.rglob("*") if p.is_file())
    print(f"bundle: {libs} ({size / 1e6:.1f} MB), ParamLens {paramlens.__version__}, Python {', '.join(served)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

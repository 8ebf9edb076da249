"""Fills `editor-client/bundled/libs/` with the ParamLens wheel and the server's dependencies, so that the `.vsix`
runs its own server in the user's interpreter (see editor-client/bundled/serve.py and the README's "VS Code").

usage: python scripts/bundle_python.py WHEEL LIBS_DIR

- the ParamLens wheel and the pure-Python dependencies (pygls, lsprotocol, attrs, cattrs, typing_extensions, and
  exceptiongroup / tomli for Python 3.10), at the versions this environment has (the combination the tests ran);
- libcst, whose parser is compiled per Python version: its Python files once, and its `native.cpython-3XY-...so`
  for every version in PYTHONS that pip can get for this platform (the file names differ, so they sit side by
  side and each interpreter loads its own). This environment's own copy is always there; a version pip cannot
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
    requirements = [str(wheel)] + [pinned(name) for name in PURE] + PURE_FOR_OLD_PYTHON
    # pure wheels only (tomli, for one, also has compiled ones for a single Python version), for the oldest Python
    result = pip("install", "--quiet", "--no-deps", "--no-compile", "--only-binary=:all:", "--implementation", "py",
                 "--python-version", PYTHONS[0], "--target", str(libs), *requirements)
    if result.returncode != 0:
        raise SystemExit(f"pip could not install the pure dependencies:\n{result.stderr[-3000:]}")


def copy_own_libcst(libs: Path) -> str:
    """This interpreter's libcst (Python files + its compiled parser); returns its version."""
    import libcst

    source = Path(libcst.__file__).parent
    shutil.copytree(source, libs / "libcst", ignore=shutil.ignore_patterns(*NOT_SHIPPED))
    return metadata.version("libcst")


def add_native_parsers(libs: Path, version: str) -> list[str]:
    """The compiled parser of every Python in PYTHONS that pip can download; the versions now served."""
    own = f"{sys.version_info.major}.{sys.version_info.minor}"
    served = [own]
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return served  # other platforms: this interpreter's parser only
    with tempfile.TemporaryDirectory(prefix="paramlens-bundle-") as download:
        for python in PYTHONS:
            if python == own:
                continue
            platform_args = [arg for name in PLATFORMS for arg in ("--platform", name)]
            result = pip("download", "--quiet", "--no-deps", "--only-binary=:all:", "--python-version", python,
                         *platform_args, "--dest", download, f"libcst=={version}")
            tag = "cp" + python.replace(".", "")
            wheels = glob.glob(os.path.join(download, f"libcst-{version}-{tag}-*.whl"))
            if result.returncode != 0 or not wheels:
                print(f"bundle: no libcst {version} for Python {python} here; the bundle will not serve it",
                      file=sys.stderr)
                continue
            with zipfile.ZipFile(wheels[0]) as archive:
                natives = [n for n in archive.namelist() if n.startswith("libcst/native.") and n.endswith(".so")]
                for name in natives:
                    (libs / name).write_bytes(archive.read(name))
            if natives:
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
    served = add_native_parsers(libs, copy_own_libcst(libs))
    for leftover in libs.glob("*.dist-info"):
        if not leftover.name.startswith(("paramlens", "libcst")):
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

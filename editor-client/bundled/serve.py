"""Starts the ParamLens language server from the extension's own copy, in the user's interpreter.

The extension carries ParamLens and its pure-Python dependencies in `libs/` next to this file (made by
scripts/bundle_python.py from the release wheel; libcst's compiled parser for every Python version listed in
`libs/paramlens-bundle.json`). They go first on `sys.path`, so the server never depends on what the interpreter has
installed, and nothing is installed into the user's environment. The user's torch is used where it is: the sandbox
runs the user's code in this same interpreter.

    python serve.py serve     the language server over stdio
    python serve.py check     one JSON line: this interpreter, whether the bundled server can run in it, its torch
"""

from __future__ import annotations

import json
import os
import sys

LIBS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libs")


def check() -> dict:
    """What the extension needs to know before it starts the server: the server imports here, and torch exists
    (found without importing it: that takes a second or more)."""
    from importlib import metadata, util

    found = {"python": sys.executable, "version": ".".join(map(str, sys.version_info[:3])), "server": None,
             "paramlens": None, "torch": None, "bundle": None}
    try:
        with open(os.path.join(LIBS, "paramlens-bundle.json"), encoding="utf-8") as manifest:
            found["bundle"] = json.load(manifest)
    except (OSError, ValueError):
        pass
    try:
        import libcst.native  # noqa: F401  (compiled: exists only for the Python versions the bundle has)
        import paramlens
        import pygls  # noqa: F401

        found["server"] = "ok"
        found["paramlens"] = paramlens.__version__
    except Exception as error:  # an interpreter the bundle cannot serve: say why
        found["server"] = f"{type(error).__name__}: {error}"
    if util.find_spec("torch") is not None:
        try:
            found["torch"] = metadata.version("torch")
        except metadata.PackageNotFoundError:
            found["torch"] = "unknown version"
    return found


def main() -> int:
    sys.path.insert(0, LIBS)
    command = sys.argv[1:] or ["serve"]
    if command == ["check"]:
        print(json.dumps(check()))
        return 0
    from paramlens.cli import main as cli

    return cli(command)


if __name__ == "__main__":
    raise SystemExit(main())

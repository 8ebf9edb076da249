"""The command line that starts a ParamLens module (the warm worker, the one-shot child) in another interpreter.

The interpreter that runs the user's code is the user's (it has their torch); ParamLens itself may live elsewhere:
in the VS Code extension's bundled copy, in a `pipx` / `uv tool` environment, or in a different version in the
user's environment. So the module is not looked up on the target's `sys.path` (`python -m paramlens...`, which
would fail, or import another ParamLens whose protocol differs) but loaded from this very package's directory:
the target gets the same code as the analysing process, and nothing else of this environment (its libcst, pygls
or numpy, possibly built for another Python) appears on its `sys.path`.

`-I` (isolated mode) stays: no PYTHONPATH, no user site-packages, no current directory on `sys.path`.
"""

from __future__ import annotations

import os

import paramlens

PACKAGE_DIR = os.path.dirname(os.path.abspath(paramlens.__file__))

BOOT = os.path.join(PACKAGE_DIR, "sandbox", "boot.py")


def module_command(python: str, module: str, *args: str) -> list[str]:
    """`python -I -m module args...`, with `paramlens` taken from this package's directory (boot.py)."""
    return [python, "-I", BOOT, module, *args]

"""Which package a file belongs to, so that its relative imports (`from ..utils import x`) work in the sandbox.

Why: model files in real projects live in packages (torchvision's `models/resnet.py`, a repo's `model/gpt.py`)
and import their siblings relatively. Run as a loose script, every such import fails and nothing after it can be
built. Python resolves a relative import from the importing module's `__package__`, and finds the package through
`sys.path`; so the child sets both, and the sandbox lets the child read the directory that holds the package.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class PackageContext:
    root: str   # the directory that contains the top-level package (goes on sys.path)
    name: str   # dotted name of the file's own package, e.g. "torchvision.models"


def package_of(path: str | None) -> PackageContext | None:
    """The package whose directory holds `path` (every directory up to the root has an `__init__.py`), or None
    for a loose script or a file that does not exist on disk (an unsaved buffer)."""
    if not path:
        return None
    directory = os.path.dirname(os.path.abspath(path))
    parts: list[str] = []
    while os.path.isfile(os.path.join(directory, "__init__.py")):
        name = os.path.basename(directory)
        if not name.isidentifier():
            break
        parts.append(name)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    if not parts:
        return None
    return PackageContext(root=directory, name=".".join(reversed(parts)))

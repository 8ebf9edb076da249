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


def module_name_of(path: str | None, package: PackageContext | None = None) -> str | None:
    """The dotted name the import system gives the file (`torchvision.models.resnet`; the package's own name for its
    `__init__.py`), or None for a loose script or a file name that is no identifier (`my-model.py` cannot be
    imported)."""
    package = package if package is not None else package_of(path)
    if package is None or not path:
        return None
    stem, extension = os.path.splitext(os.path.basename(path))
    if extension != ".py":
        return None
    if stem == "__init__":
        return package.name
    return f"{package.name}.{stem}" if stem.isidentifier() else None


class UnitsLoader:
    """Loads the file under its own module name with ParamLens' instrumented code instead of the file's bytes: the
    import system calls `exec_module` once, wherever the import comes from (the package's `__init__`, a sibling, or
    ParamLens' own `import_module`), so the package and its registries see the module exactly once."""

    def __init__(self, module, run) -> None:  # type: ignore[no-untyped-def]
        self.module = module
        self.run = run
        self.loaded = False

    def create_module(self, spec):  # type: ignore[no-untyped-def]
        return self.module

    def exec_module(self, module) -> None:  # type: ignore[no-untyped-def]
        self.loaded = True
        self.run()


class UnitsFinder:
    """A meta path finder that answers for one module name only, before the file system finders."""

    def __init__(self, name: str, path: str, loader: UnitsLoader) -> None:
        self.name, self.path, self.loader = name, path, loader

    def find_spec(self, fullname, path=None, target=None):  # type: ignore[no-untyped-def]
        if fullname != self.name or self.loader.loaded:
            return None
        import importlib.util

        is_package = os.path.basename(self.path) == "__init__.py"
        return importlib.util.spec_from_file_location(
            fullname, self.path, loader=self.loader,
            submodule_search_locations=[os.path.dirname(self.path)] if is_package else None)

    def invalidate_caches(self) -> None:
        pass

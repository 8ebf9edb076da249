"""Whether a file can use torch, decided from what it imports (never from the text "torch" appearing in it).

Why: ParamLens runs a file only when running it can show something about parameters. A file that imports torch
directly does; so does `import timm; timm.create_model("resnet50")` (timm imports torch), `from model import GPT`
(a sibling module that imports torch) and `from .layers import Block`. A file whose imports are all the standard
library or packages that do not depend on torch (a `setup.py`, a plotting script) has nothing to show.

The decision, for each module the file imports (anywhere in it, functions included):
- `torch` or `torch.*`: yes;
- a relative import, or a module that is a file or package next to the file (or in its package root): that
  module's own imports are judged the same way (a few levels deep);
- an installed distribution: yes when it, or what it requires (a few levels deep), requires torch; a requirement
  under an extra counts (transformers asks for torch through `transformers[torch]`);
- the standard library: no;
- anything else (not installed, dynamic `importlib.import_module(...)`): unknown, so yes: running it costs one
  sandboxed run and an import that fails is reported as such (PL903).
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Iterable

import libcst as cst

LOCAL_DEPTH = 3           # levels of local modules followed
REQUIREMENT_DEPTH = 3     # levels of distribution requirements followed
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_DYNAMIC_IMPORTS = {"__import__", "import_module"}


class _Imports(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.absolute: set[str] = set()      # top-level names of absolute imports
        self.relative: list[tuple[int, str]] = []  # (level, dotted module after the dots)
        self.dynamic = False

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            self.absolute.add(_dotted(alias.name).split(".")[0])

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        module = _dotted(node.module) if node.module is not None else ""
        if node.relative:
            self.relative.append((len(node.relative), module))
        elif module:
            self.absolute.add(module.split(".")[0])

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        name = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) \
            else None
        if name in _DYNAMIC_IMPORTS:
            self.dynamic = True


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return ""


def uses_torch(module: cst.Module, path: str | None) -> bool:
    return _judge(module, os.path.abspath(path) if path else None, LOCAL_DEPTH, set())


def imports_of(node: cst.CSTNode, code: str | None = None) -> _Imports:
    """What one statement imports (incremental analysis caches this per statement). With the statement's `code`:
    an ASCII statement without the word `import` imports nothing (`import`, `from ... import`, `__import__` and
    `import_module` all spell it), so its tree is not walked (that walk over every statement of a long file was a
    second of its first analysis). Python folds non-ASCII letters of names to ASCII, so such code is walked."""
    found = _Imports()
    if code is not None and code.isascii() and "import" not in code:
        return found
    node.visit(found)
    return found


def uses_torch_found(found: _Imports, path: str | None) -> bool:
    """uses_torch, from the imports of every statement of the file."""
    return _judge_found(found, os.path.abspath(path) if path else None, LOCAL_DEPTH, set())


def _judge(module: cst.Module, path: str | None, depth: int, visited: set[str]) -> bool:
    found = _Imports()
    module.visit(found)
    return _judge_found(found, path, depth, visited)


def _judge_found(found: _Imports, path: str | None, depth: int, visited: set[str]) -> bool:
    if found.dynamic:
        return True
    directory = os.path.dirname(path) if path else None
    roots = _search_roots(path)
    for name in sorted(found.absolute):
        if name == "torch":
            return True
        local = next((found_path for root in roots if (found_path := _local_module(name, root)) is not None), None)
        if local is not None:
            if _local_uses_torch(local, depth, visited):
                return True
            continue
        if name in sys.stdlib_module_names or name == "__future__":
            continue
        if _installed_uses_torch(name) is not False:
            return True
    for level, name in found.relative:
        if directory is None:
            continue
        base = directory
        for _ in range(level - 1):
            base = os.path.dirname(base)
        target = _local_module(name, base) if name else os.path.join(base, "__init__.py")
        if target is None or _local_uses_torch(target, depth, visited):
            return True  # a relative import that cannot be resolved here: let the run say what it is
    return False


def _search_roots(path: str | None) -> list[str]:
    """Where the run finds the file's own modules: its directory and, for a file inside a package, the package
    root (the child puts both on sys.path)."""
    if not path:
        return []
    from paramlens.sandbox.packages import package_of

    roots = [os.path.dirname(path)]
    package = package_of(path)
    if package is not None:
        roots.insert(0, package.root)
    return roots


def _local_module(name: str, directory: str) -> str | None:
    """The file a dotted module name resolves to next to the importing file (`pkg.mod` -> pkg/mod.py)."""
    parts = name.split(".")
    base = os.path.join(directory, *parts)
    for candidate in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(candidate):
            return candidate
    return None


def _local_uses_torch(path: str, depth: int, visited: set[str]) -> bool:
    if path in visited:
        return False
    visited.add(path)
    if depth <= 0:
        return True  # too deep to follow: assume it may
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(2_000_000)
        module = cst.parse_module(text)
    except (OSError, UnicodeDecodeError, cst.ParserSyntaxError):
        return True
    return _judge(module, path, depth - 1, visited)


@functools.lru_cache(maxsize=None)
def _installed_uses_torch(top_level: str) -> bool | None:
    """True/False for an installed top-level module, None when no installed distribution provides it."""
    distributions = _distributions_of().get(top_level)
    if not distributions:
        return None
    return any(_requires_torch(name, REQUIREMENT_DEPTH, frozenset()) for name in distributions)


@functools.lru_cache(maxsize=1)
def _distributions_of() -> dict[str, list[str]]:
    from importlib import metadata

    try:
        return dict(metadata.packages_distributions())
    except Exception:  # noqa: BLE001 - a broken metadata entry must not stop the analysis
        return {}


@functools.lru_cache(maxsize=None)
def _requires_torch(distribution: str, depth: int, seen: frozenset[str]) -> bool:
    key = _normalise(distribution)
    if key == "torch":
        return True
    if depth <= 0 or key in seen:
        return False
    return any(_requires_torch(name, depth - 1, seen | {key}) for name in _requirements(distribution))


def _requirements(distribution: str) -> Iterable[str]:
    from importlib import metadata

    try:
        requires = metadata.requires(distribution) or []
    except Exception:  # noqa: BLE001 - not installed under that name
        return []
    names = []
    for requirement in requires:
        match = _REQUIREMENT_NAME.match(requirement)
        if match:
            names.append(match.group(1))
    return names


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def preload_candidates(module: cst.Module, path: str | None, module_name: str | None) -> list[str]:
    """Modules the warm worker may import once and keep for the next runs of this file (sandbox/warm.py): the
    installed packages it imports that use torch (`transformers`, `timm`), and, for a module of a package, the
    modules of its own package it imports (`from ...modeling_utils import PreTrainedModel` in
    `transformers.models.bert.modeling_bert` is `transformers.modeling_utils`) and the packages the import goes
    through. Only the file's module-level imports count (a function's imports run when it is called). The worker
    imports only those installed in its interpreter (site-packages), never a file of the workspace, and never the
    file itself."""
    own_top = module_name.split(".")[0] if module_name else None
    package = module_name.rsplit(".", 1)[0] if module_name else None
    if path and module_name and os.path.basename(path) == "__init__.py":
        package = module_name
    found: list[str] = []
    for level, name in _module_level_imports(module.body):
        if level:
            if package is None:
                continue
            parts = package.split(".")
            if level - 1 >= len(parts):
                continue
            base = ".".join(parts[:len(parts) - (level - 1)])
            found.append(f"{base}.{name}" if name else base)
            continue
        top = name.split(".")[0]
        if top == own_top:
            found.append(name)
        elif top not in sys.stdlib_module_names and top != "torch" and _installed_uses_torch(top):
            found.append(top)
    if package is not None and module_name != package:
        parts = package.split(".")
        found += [".".join(parts[:n]) for n in range(1, len(parts) + 1)]  # the packages the import goes through
    return [name for name in dict.fromkeys(found) if name != module_name]


def _module_level_imports(body) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    """(relative level, dotted module) of the imports that run when the module runs: top-level statements and
    those inside `if` / `try` / `with` blocks, not inside functions or classes. A shallow walk (no visitor): it
    runs on every edit of a large file."""
    found: list[tuple[int, str]] = []
    pending = list(body)
    while pending:
        statement = pending.pop(0)
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if isinstance(small, cst.Import):
                    found.extend((0, _dotted(alias.name)) for alias in small.names)
                elif isinstance(small, cst.ImportFrom):
                    name = _dotted(small.module) if small.module is not None else ""
                    found.append((len(small.relative), name))
        elif isinstance(statement, (cst.If, cst.Try, cst.With, cst.TryStar)):
            for block in (statement.body, getattr(statement, "orelse", None), getattr(statement, "finalbody", None),
                          *getattr(statement, "handlers", ())):
                inner = getattr(block, "body", None)
                inner = getattr(inner, "body", inner)
                if isinstance(inner, (list, tuple)):
                    pending.extend(inner)
    return found

"""Resolving names to what they import: `nn.Linear` -> `torch.nn.Linear`, `init.normal_` ->
`torch.nn.init.normal_`, `print` -> `builtins.print`.

libcst's QualifiedNameProvider does this with full scope analysis and costs about half of the static analysis
time; parameter code only needs the import aliases of the file, collected in one pass over its import statements.
"""

from __future__ import annotations

import builtins
from typing import Iterator

import libcst as cst

BUILTIN_NAMES = frozenset(dir(builtins))


def _dotted(node: cst.CSTNode) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr.value}" if inner else None
    return None


def dotted_name(node: cst.CSTNode) -> str | None:
    """`torch.nn.Linear` for the expression `torch.nn.Linear`; None for anything that is not a dotted name."""
    return _dotted(node)


def _module_name(node: cst.CSTNode | None) -> str:
    return _dotted(node) or "" if node is not None else ""


def iter_statements(body: "list[cst.CSTNode] | tuple") -> "Iterator[cst.CSTNode]":
    """Every statement and small statement, nested blocks included, without descending into expressions: a
    cheap walk for facts that live at statement level (imports, defs, classes, simple assignments)."""
    for statement in body:
        yield statement
        if isinstance(statement, cst.SimpleStatementLine):
            yield from statement.body
            continue
        for field in ("body", "orelse", "finalbody"):
            block = getattr(statement, field, None)
            if block is None:
                continue
            if isinstance(block, (cst.IndentedBlock, cst.SimpleStatementSuite)):
                yield from iter_statements(block.body)
            elif isinstance(block, cst.CSTNode) and hasattr(block, "body"):
                yield from iter_statements([block])
        for handler in getattr(statement, "handlers", ()):
            yield from iter_statements(handler.body.body)


class NameResolver:
    def __init__(self, module: cst.Module) -> None:
        self.aliases: dict[str, str] = {}
        self.bound: set[str] = set()
        for node in iter_statements(module.body):
            if isinstance(node, cst.Import):
                for alias in node.names:
                    full = _module_name(alias.name)
                    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                        self.aliases[alias.asname.name.value] = full
                    else:
                        first = full.split(".")[0]
                        self.aliases[first] = first
            elif isinstance(node, cst.ImportFrom):
                if node.relative or isinstance(node.names, cst.ImportStar):
                    continue
                base = _module_name(node.module)
                for alias in node.names:
                    name = _module_name(alias.name)
                    local = alias.asname.name.value if alias.asname is not None and \
                        isinstance(alias.asname.name, cst.Name) else name
                    self.aliases[local] = f"{base}.{name}"
            elif isinstance(node, (cst.FunctionDef, cst.ClassDef)):
                self.bound.add(node.name.value)
            elif isinstance(node, cst.Assign):
                for target in node.targets:
                    if isinstance(target.target, cst.Name):
                        self.bound.add(target.target.value)

    def qualnames(self, node: cst.CSTNode) -> set[str]:
        dotted = _dotted(node)
        if dotted is None:
            return set()
        first, _, rest = dotted.partition(".")
        if first in self.aliases:
            resolved = self.aliases[first]
            return {f"{resolved}.{rest}" if rest else resolved}
        if first in self.bound:
            return {dotted}
        if first in BUILTIN_NAMES:
            return {f"builtins.{dotted}"}
        return {dotted}

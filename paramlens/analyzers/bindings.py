"""What each top-level statement binds in the module namespace.

The child runs the file statement by statement, like notebook cells with errors allowed. When a statement raises,
the names it would have bound are remembered, so that a later statement failing only because one of them is missing
is reported as depending on that failure ("needs `model`, which line 12 should have defined") rather than as a
second, unrelated error.
"""

from __future__ import annotations

import re
from typing import Any

import libcst as cst

# Ways code of the file can write the module's namespace other than by binding a name where it stands: through the
# namespace's dict or the module object (`globals()`, `vars()`, `sys.modules[__name__]`, `import __main__`, a
# frame's or function's globals), `exec`/`eval`, a star import, or IPython. When the file has any of them, the
# child looks at every name after every statement instead of the names each statement binds.
_REACHES_THE_NAMESPACE = re.compile(
    r"\b(?:globals|vars|locals|exec|eval|__import__|importlib|__main__|f_globals|__globals__|__dict__|get_ipython)"
    r"\b|\bsys\s*\.\s*modules\b|\bimport\s*\*")
_GLOBAL_DECLARATION = re.compile(r"^[ \t]*global[ \t]+([A-Za-z_][\w \t,]*)", re.M)


def namespace_writes(source: str) -> dict[str, Any]:
    """How the child can tell, after a top-level statement, which names it may have rebound (sandbox/child.py
    tracks which model each name holds): `globals`, the names a function of the file declares `global` (any
    statement may call it); `scan`, whether some code reaches the namespace in a way no statement's text shows, so
    that every name must be looked at. Read from the source text: an over-approximation is only slower."""
    return combined_writes([text_writes(source)])


def combined_writes(pieces: list[tuple[bool, frozenset[str]]]) -> dict[str, Any]:
    """namespace_writes of a text from what `text_writes` found in each of its pieces (incremental analysis keeps
    each statement's)."""
    return {"scan": any(scan for scan, _ in pieces), "globals": sorted(set().union(*(names for _, names in pieces)))}


def text_writes(text: str) -> tuple[bool, frozenset[str]]:
    """(whether `text` reaches the namespace some hidden way, the names it declares `global`). Neither pattern
    spans two statements, so a file's answer is its statements' answers together (a `# … import` comment ending one
    statement and a `*a, b = …` starting the next matched as a star import in the whole text: only slower)."""
    declared = frozenset(name.strip() for match in _GLOBAL_DECLARATION.finditer(text)
                         for name in match.group(1).split(",") if name.strip().isidentifier())
    return bool(_REACHES_THE_NAMESPACE.search(text)), declared


class OwnCodeVisitor(cst.CSTVisitor):
    """Visits the code that runs when its node runs: not the bodies of nested defs, classes and lambdas (those
    run only when called)."""

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False


def bound_names(statement: cst.CSTNode) -> set[str]:
    """Names a top-level statement binds in the module namespace (not inside nested defs or comprehensions)."""
    names: set[str] = set()

    class Collect(OwnCodeVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            names.add(node.name.value)
            return False

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            names.add(node.name.value)
            return False

        def visit_ListComp(self, node: cst.ListComp) -> bool:
            return False

        def visit_SetComp(self, node: cst.SetComp) -> bool:
            return False

        def visit_DictComp(self, node: cst.DictComp) -> bool:
            return False

        def visit_GeneratorExp(self, node: cst.GeneratorExp) -> bool:
            return False

        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            _targets(node.target, names)

        def visit_AugAssign(self, node: cst.AugAssign) -> None:
            _targets(node.target, names)

        def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
            _targets(node.target, names)

        def visit_For(self, node: cst.For) -> None:
            _targets(node.target, names)

        def visit_AsName(self, node: cst.AsName) -> None:
            _targets(node.name, names)

        def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
            _targets(node.target, names)

        def visit_Import(self, node: cst.Import) -> None:
            for alias in node.names:
                if alias.asname is None:
                    names.add(_first_name(alias.name))

        def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
            if isinstance(node.names, cst.ImportStar):
                return
            for alias in node.names:
                if alias.asname is None:
                    names.add(_first_name(alias.name))

    statement.visit(Collect())
    return names


def _first_name(node: cst.CSTNode) -> str:
    while isinstance(node, cst.Attribute):
        node = node.value
    return node.value if isinstance(node, cst.Name) else ""


def _targets(node: cst.CSTNode, into: set[str]) -> None:
    if isinstance(node, cst.Name):
        into.add(node.value)
    elif isinstance(node, (cst.Tuple, cst.List)):
        for element in node.elements:
            _targets(element.value, into)
    elif isinstance(node, cst.StarredElement):
        _targets(node.value, into)

"""What each top-level statement binds in the module namespace.

The child runs the file statement by statement, like notebook cells with errors allowed. When a statement raises,
the names it would have bound are remembered, so that a later statement failing only because one of them is missing
is reported as depending on that failure ("needs `model`, which line 12 should have defined") rather than as a
second, unrelated error.
"""

from __future__ import annotations

import libcst as cst


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

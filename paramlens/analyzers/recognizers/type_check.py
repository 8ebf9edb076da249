"""`type(m) == nn.Linear` (and `!=`, `is`): an exact type test that misses subclasses and, before their first
forward, lazy modules. Static only; the rule PL102 turns it into a diagnostic with an `isinstance` fix."""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext
from paramlens.analyzers.findings import NONE, Finding


# the node types this recognizer looks at (the walker dispatches on them)
NODE_TYPES = (cst.Comparison,)


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    if not isinstance(node, cst.Comparison) or len(node.comparisons) != 1:
        return []
    left, comparison = node.left, node.comparisons[0]
    if not isinstance(comparison.operator, (cst.Equal, cst.NotEqual, cst.Is, cst.IsNot)):
        return []
    if not (isinstance(left, cst.Call) and "builtins.type" in ctx.qualnames(left.func) and len(left.args) == 1):
        return []
    cls = ctx.is_module_constructor(comparison.comparator)
    if cls is None:
        return []
    negated = isinstance(comparison.operator, (cst.NotEqual, cst.IsNot))
    subject = ctx.code(left.args[0].value)
    replacement = f"{'not ' if negated else ''}isinstance({subject}, {ctx.code(comparison.comparator)})"
    return [Finding("type_check", ctx.span(node), None, NONE,
                    {"text": ctx.code(node), "class": cls, "replacement": replacement}, function=ctx.function)]

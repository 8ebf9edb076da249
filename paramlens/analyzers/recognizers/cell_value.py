"""A bare expression statement at top level (`net[0].weight.data[0], net[0].bias.data[0]`): in a notebook its
value is the cell's output, so the explanation shows that value as torch printed it."""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext
from paramlens.analyzers.findings import VALUE, Finding


# the node types this recognizer looks at (the walker dispatches on them)
NODE_TYPES = (cst.Expr,)


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    if not (isinstance(node, cst.Expr) and ctx.at_top_level):
        return []
    value = node.value
    if isinstance(value, cst.Call) and any(q.startswith("builtins.") for q in ctx.qualnames(value.func)):
        return []  # print(...) and friends return None
    if isinstance(value, (cst.SimpleString, cst.ConcatenatedString, cst.Ellipsis, cst.Integer)):
        return []  # docstrings and placeholders
    return [Finding("cell_value", ctx.span(node), value, VALUE, {"text": ctx.code(value)})]

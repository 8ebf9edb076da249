"""`module.apply(fn)`: the probe records every module `fn` visited, in torch's order (children first), and which
parameters each call changed, with before/after statistics."""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext
from paramlens.analyzers.findings import APPLY, Finding


# the node types this recognizer looks at (the walker dispatches on them)
NODE_TYPES = (cst.Call,)


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "apply"):
        return []
    if len(node.args) != 1 or node.args[0].keyword is not None or node.args[0].star:
        return []
    fn = node.args[0].value
    fn_name = fn.value if isinstance(fn, cst.Name) else None
    if isinstance(fn, cst.Attribute):
        fn_name = fn.attr.value
    return [Finding("apply", ctx.span(node), node, APPLY,
                    {"receiver": ctx.code(node.func.value), "fn": fn_name, "fn_text": ctx.code(fn),
                     "text": ctx.code(node)}, function=ctx.function)]

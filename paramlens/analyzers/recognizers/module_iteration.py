"""`named_parameters()` / `parameters()` (and the buffer and submodule iterators) on a layer or a net, wherever
they appear: in a comprehension, under `print(*...)`, inside an init function. The probe materialises the
generator once, records it, and hands the user the same items."""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext
from paramlens.analyzers.findings import METHOD, Finding

ITERATORS = {
    "named_parameters": "named_parameters",
    "parameters": "parameters",
    "named_buffers": "buffers",
    "buffers": "buffers",
    "named_modules": "modules",
    "modules": "modules",
    "named_children": "modules",
    "children": "modules",
}


# the node types this recognizer looks at (the walker dispatches on them)
NODE_TYPES = (cst.Call,)


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)):
        return []
    method = node.func.attr.value
    if method not in ITERATORS or ctx.in_target(node):
        return []
    return [Finding(ITERATORS[method], ctx.span(node), node, METHOD,
                    {"method": method, "receiver": ctx.code(node.func.value), "text": ctx.code(node)},
                    function=ctx.function)]

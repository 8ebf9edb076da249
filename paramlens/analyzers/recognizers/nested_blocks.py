"""Nested blocks: `net.add_module(name, block1())` and functions that build and return modules (`block1`,
`block2`). The function's `return` value is recorded for each call, so the explanation at `def block2` can show
what every call produced."""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext
from paramlens.analyzers.findings import METHOD, VALUE, Finding


# the node types this recognizer looks at (the walker dispatches on them)
NODE_TYPES = (cst.Call, cst.Return)


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and \
            node.func.attr.value in {"add_module", "register_module"}:
        return [Finding("add_module", ctx.span(node), node, METHOD,
                        {"method": node.func.attr.value, "receiver": ctx.code(node.func.value),
                         "text": ctx.code(node)}, function=ctx.function)]
    if isinstance(node, cst.Return) and node.value is not None and ctx.function_stack and not ctx.class_depth:
        return [Finding("builder_return", ctx.span(node), node.value, VALUE,
                        {"function": ctx.function, "text": ctx.code(node.value)}, function=ctx.function)]
    return []

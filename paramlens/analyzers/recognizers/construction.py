"""Module construction: `nn.Linear(4, 8)`, `nn.Sequential(...)`, a module class of this file, and calls of
functions that build modules (`block1()`), observed as the module object they produced."""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext
from paramlens.analyzers.findings import VALUE, Finding


# the node types this recognizer looks at (the walker dispatches on them)
NODE_TYPES = (cst.Call,)


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    if not isinstance(node, cst.Call):
        return []
    class_name = ctx.is_module_constructor(node.func)
    if class_name is not None:
        return [Finding("module", ctx.span(node), node, VALUE,
                        {"class": class_name, "text": ctx.code(node), "top_level": ctx.at_top_level},
                        function=ctx.function)]
    if isinstance(node.func, cst.Name) and node.func.value in ctx.local_functions:
        return [Finding("builder_call", ctx.span(node), node, VALUE,
                        {"function": node.func.value, "text": ctx.code(node)}, function=ctx.function)]
    return []

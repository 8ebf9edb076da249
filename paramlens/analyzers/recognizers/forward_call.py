"""Forward calls at top level: `net(X)`, `rgnet(X)`, `model.encoder(x)`. Statically any call of a value could
be a module's forward; the probe records only calls whose callee turns out to be an nn.Module."""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext
from paramlens.analyzers.findings import CALL, Finding


# the node types this recognizer looks at (the walker dispatches on them)
NODE_TYPES = (cst.Call,)


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    if not isinstance(node, cst.Call) or ctx.function_stack or ctx.class_depth:
        return []
    func = node.func
    if not isinstance(func, (cst.Name, cst.Attribute, cst.Subscript)):
        return []
    if isinstance(func, cst.Name) and (func.value in ctx.local_functions or func.value in ctx.module_classes):
        return []
    names = ctx.qualnames(func)
    if any(n.startswith(("builtins.", "torch.", "numpy.", "math.", "os.", "sys.")) for n in names):
        return []
    if any(isinstance(arg.value, cst.Lambda) for arg in node.args):
        return []
    return [Finding("forward", ctx.span(node), node, CALL, {"text": ctx.code(node), "callee": ctx.code(func)})]

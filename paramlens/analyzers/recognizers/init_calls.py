"""`nn.init.*_` calls (normal_, zeros_, constant_, xavier_uniform_, kaiming_normal_, ...), usually inside an init
function: each call is recorded with its arguments, the bound or std torch derived from the tensor's fans, and the
statistics of the tensor before and after."""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext
from paramlens.analyzers.findings import INIT, Finding


# the node types this recognizer looks at (the walker dispatches on them)
NODE_TYPES = (cst.Call,)


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    if not isinstance(node, cst.Call):
        return []
    name = ctx.is_nn_init(node.func)
    if name is None:
        return []
    return [Finding("init", ctx.span(node), node, INIT,
                    {"init": name, "text": ctx.code(node),
                     "tensor": ctx.code(node.args[0].value) if node.args else None}, function=ctx.function)]

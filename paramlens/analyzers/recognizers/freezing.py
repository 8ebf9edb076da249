"""Freezing: `module.requires_grad_(False)` (or a parameter's): the probe records how many parameters are
trainable afterwards."""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext
from paramlens.analyzers.findings import METHOD, Finding

NODE_TYPES = (cst.Call,)


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    if not (isinstance(node.func, cst.Attribute) and node.func.attr.value == "requires_grad_"):
        return []
    return [Finding("freeze", ctx.span(node), node, METHOD,
                    {"method": "requires_grad_", "text": ctx.code(node), "receiver": ctx.code(node.func.value)},
                    function=ctx.function)]

"""Freezing: `module.requires_grad_(False)` (or a parameter's): the probe records how many parameters are
trainable afterwards; `param.requires_grad = False` (often in a loop over `model.parameters()`): the probe records
the tensor right after the assignment, with its owner."""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext
from paramlens.analyzers.findings import AFTER, METHOD, Finding

NODE_TYPES = (cst.Call, cst.Assign)


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    if isinstance(node, cst.Assign):
        return _assignment(node, ctx)
    if not (isinstance(node.func, cst.Attribute) and node.func.attr.value == "requires_grad_"):
        return []
    return [Finding("freeze", ctx.span(node), node, METHOD,
                    {"method": "requires_grad_", "text": ctx.code(node), "receiver": ctx.code(node.func.value)},
                    function=ctx.function)]


def _assignment(node: cst.Assign, ctx: RecognitionContext) -> list[Finding]:
    if len(node.targets) != 1:
        return []
    target = node.targets[0].target
    if not (isinstance(target, cst.Attribute) and target.attr.value == "requires_grad"):
        return []
    return [Finding("requires_grad_assignment", ctx.span(node), node, AFTER,
                    {"text": ctx.code(node), "tensor": ctx.code(target.value), "value": ctx.code(node.value)},
                    function=ctx.function, watch_text=ctx.code(target.value))]

"""A backward pass: `loss.backward()` or `torch.autograd.backward(...)`. The run records which parameters received
gradients and, for a parameter used more than once in the forward pass (a shared layer, tied weights), what each
use contributed (sandbox/gradients.py); the probe here counts how often the call ran."""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext
from paramlens.analyzers.findings import METHOD, VALUE, Finding

NODE_TYPES = (cst.Call,)


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    func = node.func
    if isinstance(func, cst.Attribute) and func.attr.value == "backward":
        if "torch.autograd.backward" in ctx.qualnames(func):
            return [Finding("backward", ctx.span(node), node, VALUE, {"text": ctx.code(node), "receiver": None},
                            function=ctx.function)]
        return [Finding("backward", ctx.span(node), node, METHOD,
                        {"method": "backward", "text": ctx.code(node), "receiver": ctx.code(func.value)},
                        function=ctx.function)]
    if "torch.autograd.backward" in ctx.qualnames(func):
        return [Finding("backward", ctx.span(node), node, VALUE, {"text": ctx.code(node), "receiver": None},
                        function=ctx.function)]
    return []

"""An optimizer built from a model's parameters, often in groups from `named_parameters()` (no weight decay on
biases and norms): the probe records each group's tensors, sizes and options."""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext
from paramlens.analyzers.findings import VALUE, Finding

NODE_TYPES = (cst.Call,)


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    for name in ctx.qualnames(node.func):
        if name.startswith("torch.optim.") and name.rsplit(".", 1)[1][:1].isupper() and \
                ".lr_scheduler." not in name:
            return [Finding("optimizer", ctx.span(node), node, VALUE,
                            {"text": ctx.code(node), "class": name.rsplit(".", 1)[1]}, function=ctx.function)]
    return []

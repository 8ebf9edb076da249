"""Checkpoints: `model.load_state_dict(sd, strict=...)` with its missing and unexpected keys, `torch.load(...)`
and `torch.save(...)` (which the sandbox lets write only into its private directory) with what they read or wrote."""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext
from paramlens.analyzers.findings import METHOD, SAVE, VALUE, Finding

NODE_TYPES = (cst.Call,)


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    if isinstance(node.func, cst.Attribute) and node.func.attr.value == "load_state_dict":
        strict = next((a.value for a in node.args if a.keyword is not None and a.keyword.value == "strict"), None)
        return [Finding("load_state_dict", ctx.span(node), node, METHOD,
                        {"method": "load_state_dict", "text": ctx.code(node), "receiver": ctx.code(node.func.value),
                         "strict": ctx.code(strict) if strict is not None else "True"}, function=ctx.function)]
    names = ctx.qualnames(node.func)
    if "torch.load" in names:
        return [Finding("torch_load", ctx.span(node), node, VALUE, {"text": ctx.code(node)}, function=ctx.function)]
    if "torch.save" in names:
        return [Finding("torch_save", ctx.span(node), node, SAVE, {"text": ctx.code(node)}, function=ctx.function)]
    return []

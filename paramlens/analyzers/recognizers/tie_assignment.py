"""Tying by attribute assignment: `self.lm_head.weight = self.wte.weight`. After it, both names hold one
Parameter; the probe records that Parameter right after the line ran."""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext, is_param_attr_name
from paramlens.analyzers.findings import AFTER, Finding

NODE_TYPES = (cst.Assign,)


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    if len(node.targets) != 1:
        return []
    target, value = node.targets[0].target, node.value
    if not (isinstance(target, cst.Attribute) and is_param_attr_name(target.attr.value) and
            target.attr.value not in {"data", "grad"}):
        return []
    if not (isinstance(value, cst.Attribute) and is_param_attr_name(value.attr.value) and
            value.attr.value not in {"data", "grad"}):
        return []
    # observed right after the assignment, when both names already hold the one Parameter
    return [Finding("tie_assignment", ctx.span(node), node, AFTER,
                    {"text": ctx.code(node), "target": ctx.code(target), "source": ctx.code(value)},
                    function=ctx.function, watch_text=ctx.code(target))]

"""Parameter attribute access: `net[2].bias`, `.weight`, `.data`, `.grad`, indexing into them, `type(...)` of a
parameter, and comparisons such as `net[2].weight.grad == None` or `net[2].weight.data[0] == net[4].weight.data[0]`.
"""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext, attribute_chain_root_attr, is_param_attr_name
from paramlens.analyzers.findings import VALUE, Finding


def _is_none(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


# the node types this recognizer looks at (the walker dispatches on them)
NODE_TYPES = (cst.Attribute, cst.Subscript, cst.Call, cst.Comparison)


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    if ctx.in_target(node):
        return []
    if isinstance(node, cst.Attribute) and is_param_attr_name(node.attr.value) and id(node) not in ctx.call_funcs:
        return [Finding("param_attr", ctx.span(node), node, VALUE,
                        {"attr": node.attr.value, "text": ctx.code(node)}, function=ctx.function)]
    if isinstance(node, cst.Subscript) and attribute_chain_root_attr(node.value):
        return [Finding("param_index", ctx.span(node), node, VALUE, {"text": ctx.code(node)},
                        function=ctx.function)]
    if isinstance(node, cst.Call) and "builtins.type" in ctx.qualnames(node.func) and len(node.args) == 1 \
            and attribute_chain_root_attr(node.args[0].value):
        return [Finding("param_type", ctx.span(node), node, VALUE,
                        {"text": ctx.code(node), "argument": ctx.code(node.args[0].value)}, function=ctx.function)]
    if isinstance(node, cst.Comparison) and len(node.comparisons) == 1:
        left, target = node.left, node.comparisons[0]
        operator = type(target.operator).__name__
        right = target.comparator
        if isinstance(left, cst.Attribute) and left.attr.value == "grad" and _is_none(right):
            return [Finding("grad_none", ctx.span(node), node, VALUE,
                            {"text": ctx.code(node), "operator": operator, "receiver": ctx.code(left.value)},
                            function=ctx.function)]
        if attribute_chain_root_attr(left) or attribute_chain_root_attr(right):
            return [Finding("param_compare", ctx.span(node), node, VALUE,
                            {"text": ctx.code(node), "operator": operator, "left": ctx.code(left),
                             "right": ctx.code(right)}, function=ctx.function)]
    return []

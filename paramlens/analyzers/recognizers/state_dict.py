"""`layer.state_dict()`, `net.state_dict()` and key lookup `net.state_dict()['2.bias']`."""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext
from paramlens.analyzers.findings import VALUE, Finding


def _is_state_dict_call(node: cst.CSTNode) -> bool:
    return (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
            and node.func.attr.value == "state_dict")


# the node types this recognizer looks at (the walker dispatches on them)
NODE_TYPES = (cst.Call, cst.Subscript)


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    if ctx.in_target(node):
        return []
    if _is_state_dict_call(node):
        assert isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
        return [Finding("state_dict", ctx.span(node), node, VALUE,
                        {"receiver": ctx.code(node.func.value), "text": ctx.code(node)}, function=ctx.function)]
    if isinstance(node, cst.Subscript) and _is_state_dict_call(node.value) and len(node.slice) == 1:
        element = node.slice[0].slice
        key = None
        if isinstance(element, cst.Index) and isinstance(element.value, cst.SimpleString):
            key = element.value.evaluated_value
        return [Finding("state_dict_key", ctx.span(node), node, VALUE,
                        {"key": key, "receiver": ctx.code(node.value.func.value),  # type: ignore[attr-defined]
                         "text": ctx.code(node)}, function=ctx.function)]
    return []

"""One tensor moved toward another in place, as an exponential moving average of weights does:
`ema_p.lerp_(p, 1 - decay)` or `ema_p.mul_(decay).add_(p, alpha=1 - decay)`. Both calls of the chained form are
probed (TRANSFORM): the `mul_` probe keeps the value before the whole update for the `add_` probe, whose record then
holds before, factor, alpha, source and after. Not inside `forward`."""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext
from paramlens.analyzers.findings import TRANSFORM, Finding

NODE_TYPES = (cst.Call,)


def _method(node: cst.CSTNode, name: str) -> bool:
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == name


def is_ema_update(node: cst.CSTNode) -> bool:
    """`x.lerp_(...)`, or `x.mul_(d).add_(...)` (the outer call)."""
    return _method(node, "lerp_") or (_method(node, "add_") and _method(node.func.value, "mul_"))


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    if ctx.function == "forward" or not isinstance(node, cst.Call) or not is_ema_update(node):
        return []
    lerp = _method(node, "lerp_")
    target = node.func.value if lerp else node.func.value.func.value
    source = ctx.code(node.args[0].value) if node.args else None
    found = [Finding("ema_update", ctx.span(node), node, TRANSFORM,
                     {"text": ctx.code(node), "target": ctx.code(target), "source": source,
                      "form": "lerp_" if lerp else "mul_add"}, function=ctx.function)]
    if not lerp:  # the inner `mul_` (visited after its parent): its probe hands the value before to `add_`'s
        inner = node.func.value
        found.append(Finding("ema_scale", ctx.span(inner), inner, TRANSFORM, {"text": ctx.code(inner)},
                             function=ctx.function))
    return found

"""Methods that re-draw, re-allocate, cast or replace a model's tensors: `to_empty(device=...)`,
`reset_parameters()`, `.half()` / `.float()` / `.double()` / `.bfloat16()` / `.to(...)`, and timm's
`reset_classifier(num_classes)`, and transformers' `post_init()` / `tie_weights()` (the class's `_init_weights`
applied to every submodule, then the ties). Probed around the call (TRANSFORM); the probe observes only when the receiver
turns out to be an nn.Module (`x.to(device)` on a tensor is left alone), so the recognizer can go by the method's
name. Not inside `forward`, where such calls act on activations."""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext
from paramlens.analyzers.findings import TRANSFORM, Finding

NODE_TYPES = (cst.Call,)

METHODS = {"to_empty": "to_empty", "reset_parameters": "reset_parameters", "_reset_parameters": "reset_parameters",
           "half": "cast", "float": "cast", "double": "cast", "bfloat16": "cast", "to": "cast",
           "reset_classifier": "reset_classifier", "post_init": "post_init", "tie_weights": "post_init"}


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    return method_calls_around(node, ctx, METHODS)


def method_calls_around(node: cst.CSTNode, ctx: RecognitionContext, methods: dict[str, str]) -> list[Finding]:
    """`x.method(...)` for a method of `methods` (-> its pattern), probed around the call (TRANSFORM): the probe
    decides in the run what `x` is. Not inside `forward`, where such calls act on activations."""
    if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)) or ctx.function == "forward":
        return []
    pattern = methods.get(node.func.attr.value)
    if pattern is None:
        return []
    return [Finding(pattern, ctx.span(node), node, TRANSFORM,
                    {"text": ctx.code(node), "method": node.func.attr.value, "receiver": ctx.code(node.func.value)},
                    function=ctx.function)]

"""What becomes part of a module's state: `register_buffer(name, tensor, persistent=...)`,
`register_parameter(name, param)`, `nn.Parameter(...)`, `self.x = nn.Buffer(tensor, persistent=...)` (registered
on assignment, as transformers 5 writes its position tables), and a plain tensor assigned to `self.x` in a module
(`self.mask = torch.ones(4)`), which is neither a parameter nor a buffer."""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext
from paramlens.analyzers.findings import METHOD, VALUE, Finding

NODE_TYPES = (cst.Call, cst.Assign)


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    if isinstance(node, cst.Call):
        if isinstance(node.func, cst.Attribute) and node.func.attr.value in {"register_buffer", "register_parameter"}:
            persistent = next((a.value for a in node.args if a.keyword is not None and a.keyword.value == "persistent"),
                              None)
            return [Finding("register", ctx.span(node), node, METHOD,
                            {"method": node.func.attr.value, "text": ctx.code(node),
                             "receiver": ctx.code(node.func.value),
                             "persistent": ctx.code(persistent) if persistent is not None else "True"},
                            function=ctx.function)]
        if "torch.nn.Parameter" in ctx.qualnames(node.func) or "torch.nn.parameter.Parameter" in ctx.qualnames(node.func):
            return [Finding("parameter_new", ctx.span(node), node, VALUE, {"text": ctx.code(node)},
                            function=ctx.function)]
        return []
    if len(node.targets) != 1 or not ctx.function_stack or ctx.function != "__init__":
        return []
    target, value = node.targets[0].target, node.value
    if not (isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) and target.value.value == "self"):
        return []
    if not isinstance(value, cst.Call):
        return []
    names = ctx.qualnames(value.func)
    if {"torch.nn.Buffer", "torch.nn.parameter.Buffer"} & set(names):
        persistent = next((a.value for a in value.args if a.keyword is not None and a.keyword.value == "persistent"),
                          None)
        return [Finding("register", ctx.span(node), value, VALUE,
                        {"method": "Buffer", "text": ctx.code(node), "receiver": "self", "attribute": target.attr.value,
                         "persistent": ctx.code(persistent) if persistent is not None else "True"},
                        function=ctx.function)]
    if not any(n.startswith("torch.") and not n.startswith("torch.nn.") for n in names):
        return []
    return [Finding("tensor_attribute", ctx.span(node), value, VALUE,
                    {"text": ctx.code(node), "attribute": target.attr.value}, function=ctx.function)]

"""`layer.state_dict()`, `net.state_dict()` and key lookup `net.state_dict()['2.bias']`, also through a variable:
`sd = net.state_dict(); sd["fc2.bias"]` or `sd.get("fc2.bias")` (the dict's keys are observed where it is looked up,
so a key that does not exist is PL003 with the nearest real keys)."""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext
from paramlens.analyzers.findings import VALUE, Finding


def _is_state_dict_call(node: cst.CSTNode) -> bool:
    return (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
            and node.func.attr.value == "state_dict")


def _loads_state(node: cst.CSTNode, ctx: RecognitionContext) -> bool:
    """A call whose result is a state dict: `.state_dict()`, `torch.load(...)`, safetensors' `load_file(...)`."""
    if _is_state_dict_call(node):
        return True
    if not isinstance(node, cst.Call):
        return False
    names = ctx.qualnames(node.func)
    return "torch.load" in names or any(name.endswith("safetensors.torch.load_file") for name in names)


def _literal_key(node: cst.CSTNode) -> str | None:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


# the node types this recognizer looks at (the walker dispatches on them)
NODE_TYPES = (cst.Call, cst.Subscript, cst.Assign)


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    if isinstance(node, cst.Assign):
        if len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name) and _loads_state(node.value, ctx):
            ctx.state_dict_names.add((ctx.function, node.targets[0].target.value))
        return []
    if ctx.in_target(node):
        return []
    lookup = _lookup_through_variable(node, ctx)
    if lookup is not None:
        return [lookup]
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


def _lookup_through_variable(node: cst.CSTNode, ctx: RecognitionContext) -> Finding | None:
    """`sd["key"]` or `sd.get("key", ...)` where `sd` holds a state dict: the probe records the dict (its keys)."""
    if isinstance(node, cst.Subscript) and isinstance(node.value, cst.Name) and len(node.slice) == 1 and \
            isinstance(node.slice[0].slice, cst.Index):
        name, key, how = node.value, _literal_key(node.slice[0].slice.value), "subscript"
    elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "get" and \
            isinstance(node.func.value, cst.Name) and node.args and node.args[0].keyword is None:
        name, key, how = node.func.value, _literal_key(node.args[0].value), "get"
    else:
        return None
    if key is None or (ctx.function, name.value) not in ctx.state_dict_names:
        return None
    return Finding("state_dict_lookup", ctx.span(node), name, VALUE,
                   {"key": key, "variable": name.value, "how": how, "text": ctx.code(node)}, function=ctx.function)

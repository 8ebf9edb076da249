"""A layer placed at several positions of a container whose elements are known only at run time:
`nn.Sequential(*layers)` with `layers = [shared, nn.ReLU(), shared]` or a list filled by `.append` in a loop,
`nn.ModuleList(blocks)`, `nn.Sequential(*[block for _ in range(3)])`, or literal arguments that reach one object
through different names (`nn.Sequential(a, alias)`). Which positions share an object is decided from the run, by
identity: the finding links to the container's construction, whose record lists each child and the first position
holding the same object. Literal repeats of one name are left to shared_modules."""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext
from paramlens.analyzers.findings import NONE, Finding
from paramlens.analyzers.recognizers import shared_modules

NODE_TYPES = (cst.Call,)


def _literal(node: cst.CSTNode) -> bool:
    return isinstance(node, (cst.List, cst.Tuple))


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    if not isinstance(node, cst.Call) or ctx.is_module_constructor(node.func) not in shared_modules.CONTAINERS:
        return []
    if shared_modules.recognize(node, ctx):
        return []  # the same name written twice: explained by shared_modules
    positional = [arg for arg in node.args if arg.keyword is None and arg.star != "**"]
    dynamic = [arg.value for arg in positional if (arg.star == "*" and not _literal(arg.value)) or
               (arg.star == "" and len(positional) == 1 and not _literal(arg.value) and
                ctx.is_module_constructor(node.func) == "ModuleList")]
    facts = {"container": ctx.code(node.func), "container_node": node, "observed": True}
    if dynamic:
        return [Finding("shared_module", ctx.span(value), None, NONE, {**facts, "index": None, "text": ctx.code(value)},
                        function=ctx.function) for value in dynamic[:1]]
    if any(arg.star for arg in positional):
        return []
    elements = [arg.value for arg in positional]
    if len(elements) == 1 and _literal(elements[0]):
        elements = [e.value for e in elements[0].elements]  # nn.ModuleList([a, b])
    return [Finding("shared_module", ctx.span(element), None, NONE, {**facts, "index": index, "text": ctx.code(element)},
                    function=ctx.function)
            for index, element in enumerate(elements) if isinstance(element, (cst.Name, cst.Attribute, cst.Subscript))]

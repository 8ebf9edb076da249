"""A layer object placed at several positions of one container (`nn.Sequential(..., shared, ..., shared, ...)`):
the positions share one set of parameters. Static: the same name appears more than once among the container's
arguments; the run confirms it is one object and which parameter names are tied."""

from __future__ import annotations

from collections import defaultdict

import libcst as cst

from paramlens.analyzers.context import RecognitionContext
from paramlens.analyzers.findings import NONE, Finding

CONTAINERS = {"Sequential", "ModuleList"}


# the node types this recognizer looks at (the walker dispatches on them)
NODE_TYPES = (cst.Call,)


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    if not isinstance(node, cst.Call) or ctx.is_module_constructor(node.func) not in CONTAINERS:
        return []
    elements: list[cst.CSTNode] = []
    for arg in node.args:
        if arg.star == "*" and isinstance(arg.value, (cst.List, cst.Tuple)):
            elements.extend(e.value for e in arg.value.elements)
        elif arg.star == "" and isinstance(arg.value, (cst.List, cst.Tuple)):
            elements.extend(e.value for e in arg.value.elements)  # nn.ModuleList([a, b, a])
        elif arg.keyword is None and not arg.star:
            elements.append(arg.value)
    positions: dict[str, list[tuple[int, cst.CSTNode]]] = defaultdict(list)
    for index, element in enumerate(elements):
        if isinstance(element, cst.Name):
            positions[element.value].append((index, element))
    findings = []
    for name, uses in positions.items():
        if len(uses) < 2:
            continue
        indices = [index for index, _ in uses]
        for index, element in uses:
            findings.append(Finding("shared_module", ctx.span(element), None, NONE,
                                    {"name": name, "positions": indices, "position": index,
                                     "container": ctx.code(node.func), "container_span": None},
                                    function=ctx.function))
        # the container itself carries the facts for the explanation; link the finding to its construction
        for finding in findings[-len(uses):]:
            finding.facts["container_node"] = node
    return findings

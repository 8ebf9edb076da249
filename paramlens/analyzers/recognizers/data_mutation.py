"""In-place edits of a parameter: `net[0].weight.data[:] += 1`, `net[0].weight.data[0, 0] = 42`,
`m.weight.data *= mask`, `p.data.fill_(0)`, or `with torch.no_grad(): net[0].weight[0, 0] = 1`.

The instrumenter snapshots the parameter just before and just after the statement, so the explanation can show
what changed (and which other names see the change when the parameter is shared)."""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext, is_param_attr_name
from paramlens.analyzers.findings import WATCH, Finding
from paramlens.analyzers.recognizers.ema_updates import is_ema_update

INPLACE_METHODS_SUFFIX = "_"


def watched_prefix(target: cst.CSTNode) -> tuple[cst.CSTNode, bool] | None:
    """The parameter expression a target writes into, and whether the write goes through `.data`.
    `net[0].weight.data[0, 0]` -> (`net[0].weight`, True); `net[0].weight[0, 0]` -> (`net[0].weight`, False)."""
    node = target
    chain: list[cst.CSTNode] = []
    while isinstance(node, (cst.Attribute, cst.Subscript)):
        chain.append(node)
        node = node.value
    # walk from the root outwards and stop at the first `.data`, else at the last parameter attribute
    through_data = False
    best: cst.CSTNode | None = None
    for link in reversed(chain):
        if isinstance(link, cst.Attribute):
            if link.attr.value == "data":
                through_data = True
                return link.value, through_data
            if is_param_attr_name(link.attr.value) and link.attr.value != "grad":
                best = link
    if best is None:
        return None
    return best, through_data


# the node types this recognizer looks at (the walker dispatches on them)
NODE_TYPES = (cst.AugAssign, cst.Assign, cst.Expr)


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    target: cst.CSTNode | None = None
    kind = ""
    if isinstance(node, cst.AugAssign):
        target, kind = node.target, "augassign"
    elif isinstance(node, cst.Assign) and len(node.targets) == 1 and \
            isinstance(node.targets[0].target, (cst.Subscript, cst.Attribute)):
        target, kind = node.targets[0].target, "assign"
        if isinstance(target, cst.Attribute) and target.attr.value != "data":
            return []  # `m.weight = nn.Parameter(...)` rebinds, it does not edit in place
    elif isinstance(node, cst.Expr) and isinstance(node.value, cst.Call) and \
            isinstance(node.value.func, cst.Attribute) and node.value.func.attr.value.endswith(INPLACE_METHODS_SUFFIX) \
            and not node.value.func.attr.value.startswith("_"):
        target, kind = node.value.func.value, "method"
    if target is None or (kind == "method" and is_ema_update(node.value)):
        return []  # `ema.weight.lerp_(p, w)`: explained as a move toward `p` (ema_updates)
    found = watched_prefix(target) if kind != "method" else _method_prefix(target)
    if found is None:
        return []
    watched, through_data = found
    # the probe reads the watched tensor again before and after the statement; an expression with a call in it
    # (`get_model().weight`) would run that call twice more, so such a site is explained without values
    probe = None if _contains_call(watched) else WATCH
    return [Finding("data_mutation", ctx.span(node), node, probe,
                    {"text": ctx.code(node), "kind": kind, "through_data": through_data,
                     "watched": ctx.code(watched)},
                    function=ctx.function, watch_text=ctx.code(watched) if probe else None)]


def _contains_call(node: cst.CSTNode) -> bool:
    class Calls(cst.CSTVisitor):
        def __init__(self) -> None:
            super().__init__()
            self.found = False

        def visit_Call(self, call: cst.Call) -> bool:
            self.found = True
            return False

    visitor = Calls()
    node.visit(visitor)
    return visitor.found


def _method_prefix(receiver: cst.CSTNode) -> tuple[cst.CSTNode, bool] | None:
    if isinstance(receiver, cst.Attribute) and receiver.attr.value == "data":
        return receiver.value, True
    if isinstance(receiver, (cst.Attribute, cst.Subscript)):
        return watched_prefix(receiver)
    return None

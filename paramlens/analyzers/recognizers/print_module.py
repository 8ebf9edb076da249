"""`print(module)` (and `print` of anything else at top level, whose captured output is shown like a notebook
cell's)."""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext
from paramlens.analyzers.findings import NONE, VALUE, Finding


# the node types this recognizer looks at (the walker dispatches on them)
NODE_TYPES = (cst.Call,)


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    if not (isinstance(node, cst.Call) and "builtins.print" in ctx.qualnames(node.func)):
        return []
    findings = []
    if ctx.at_top_level:
        findings.append(Finding("print_output", ctx.span(node), None, NONE, {"text": ctx.code(node)}))
    if len(node.args) == 1 and node.args[0].keyword is None and not node.args[0].star and \
            isinstance(node.args[0].value, (cst.Name, cst.Subscript, cst.Attribute)):
        arg = node.args[0].value
        findings.append(Finding("print_module", ctx.span(node), arg, VALUE,
                                {"text": ctx.code(node), "argument": ctx.code(arg)}, function=ctx.function))
    return findings

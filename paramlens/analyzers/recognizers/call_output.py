"""A call statement outside any function (`main()` under `if __name__ == "__main__":`, `train(model)` at top level):
what the program printed while it ran is that statement's output, as a notebook cell shows it, so it is explained
like a top-level `print` (nothing is shown when the call printed nothing)."""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext
from paramlens.analyzers.findings import NONE, Finding

NODE_TYPES = (cst.Expr,)


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    if not (isinstance(node, cst.Expr) and isinstance(node.value, cst.Call)) or ctx.function is not None or \
            ctx.class_depth:
        return []
    call = node.value
    if any(name.startswith("builtins.") for name in ctx.qualnames(call.func)):
        return []  # print(...) is explained by print_module; other builtins print nothing of the program's
    return [Finding("print_output", ctx.span(call), None, NONE, {"text": ctx.code(call)})]

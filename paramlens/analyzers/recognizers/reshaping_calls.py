"""Calls that reshape a model's tensors, recognised by the function they name: pruning (`prune.l1_unstructured`,
`ln_structured`, `global_unstructured`, `prune.remove`, ...), weight / spectral norm and other parametrizations
(`parametrizations.weight_norm`, `parametrize.remove_parametrizations`, the older `nn.utils.weight_norm`),
`torch.func.functional_call` / `stack_module_state`, `copy.deepcopy`, and a module class looked up by a name
computed at run time (`getattr(nn, name)(...)`). Each is probed around the call (TRANSFORM): the probe decides from
the function object what to observe, so an alias or a wrapper the static names miss is still observed right."""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext
from paramlens.analyzers.findings import TRANSFORM, Finding

NODE_TYPES = (cst.Call,)

PRUNE = "torch.nn.utils.prune."
PRUNE_FUNCTIONS = {"l1_unstructured", "random_unstructured", "ln_structured", "random_structured",
                   "global_unstructured", "identity", "custom_from_mask"}
PARAMETRIZE = {"torch.nn.utils.parametrizations.weight_norm", "torch.nn.utils.parametrizations.spectral_norm",
               "torch.nn.utils.parametrizations.orthogonal", "torch.nn.utils.parametrize.register_parametrization",
               "torch.nn.utils.parametrize.remove_parametrizations", "torch.nn.utils.weight_norm",
               "torch.nn.utils.spectral_norm", "torch.nn.utils.remove_weight_norm",
               "torch.nn.utils.remove_spectral_norm"}
OTHERS = {"torch.func.functional_call": "functional_call", "torch.nn.utils.stateless.functional_call":
          "functional_call", "torch.func.stack_module_state": "stack_module_state", "copy.deepcopy": "deepcopy"}


def pattern_of(ctx: RecognitionContext, func: cst.BaseExpression) -> str | None:
    """The pattern a called function names, from its resolved import path."""
    for name in ctx.qualnames(func):
        if name.startswith(PRUNE):
            short = name[len(PRUNE):]
            if short == "remove":
                return "prune_remove"
            if short in PRUNE_FUNCTIONS:
                return "prune"
        if name in PARAMETRIZE:
            return "parametrize"
        if name in OTHERS:
            return OTHERS[name]
    return None


def is_nn_getattr(ctx: RecognitionContext, func: cst.BaseExpression) -> bool:
    """`getattr(nn, name)` / `getattr(torch.nn, name)`: a module class chosen by a name computed at run time."""
    if not (isinstance(func, cst.Call) and "builtins.getattr" in ctx.qualnames(func.func) and len(func.args) >= 2):
        return False
    return "torch.nn" in ctx.qualnames(func.args[0].value)


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    if not isinstance(node, cst.Call):
        return []
    pattern = "module_by_name" if is_nn_getattr(ctx, node.func) else pattern_of(ctx, node.func)
    if pattern is None:
        return []
    facts = {"text": ctx.code(node), "function": ctx.code(node.func)}
    if node.args:
        facts["first"] = ctx.code(node.args[0].value)
    if pattern == "module_by_name":
        facts["name"] = ctx.code(node.func.args[1].value)
    return [Finding(pattern, ctx.span(node), node, TRANSFORM, facts, function=ctx.function)]

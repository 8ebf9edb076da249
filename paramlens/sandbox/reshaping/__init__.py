"""What a call that reshapes a model's tensors did, for the `__pl_t__` probe (probes.py): pruning and
`prune.remove`, weight / spectral norm parametrizations and `remove_parametrizations`, `torch.func.functional_call`
and `stack_module_state`, `copy.deepcopy`, a module class looked up by name, `to_empty`, `reset_parameters`, dtype
casts (`.half()`, `.to(dtype)`), `reset_classifier`, and in-place updates that move one tensor toward another
(`ema.lerp_(p, w)`, `ema.mul_(d).add_(p, alpha=1 - d)`); a training step's `optimizer.step()`, `zero_grad()` and a
learning-rate scheduler's `step()` (optimization.py).

Why a probe of its own: these calls replace, wrap, rename or re-draw tensors, so an explanation needs the state
*before* the call next to the state after (which names appeared, which objects were kept, what a mask zeroed), and
that is gone once the call has run. The kind is decided from the callable itself (its identity or, for a bound
method, its receiver's type and name), never from how the source spells it. Nothing here runs the user's code or
writes a tensor: only reads, clones and torch's own read-only helpers. In particular a parametrized tensor is read
only when every parametrization on it is a pure function (weight norm): reading a spectral-norm weight in training
mode runs a power iteration that changes its `_u` / `_v` buffers.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from paramlens.sandbox.reshaping import copies, func, methods, optimization, parametrize, pruning, updates
from paramlens.sandbox.reshaping.observation import HANDLERS, Observation

PRUNE_MODULE = "torch.nn.utils.prune"
PARAMETRIZE_MODULES = {"torch.nn.utils.parametrizations", "torch.nn.utils.parametrize", "torch.nn.utils.weight_norm",
                       "torch.nn.utils.spectral_norm"}


def kind_of(function: Any) -> str | None:
    """Which kind of reshaping call `function` is, from the object itself; None when it is none of them."""
    if isinstance(function, type):
        return "construct" if issubclass(function, nn.Module) else None
    receiver = getattr(function, "__self__", None)
    name = getattr(function, "__name__", "")
    training = optimization.kind(receiver if receiver is not None else optimization.wrapped_optimizer(function), name)
    if training is not None:
        return training
    if isinstance(receiver, nn.Module):
        if name in methods.CASTS:
            return "cast"
        if name in {"reset_parameters", "_reset_parameters"}:
            return "reset_parameters"
        if name in methods.POST_INIT:
            return "post_init"
        return name if name in {"to_empty", "reset_classifier"} else None
    if isinstance(receiver, torch.Tensor):
        return "tensor_update" if name in updates.TENSOR_UPDATES else None
    if function is copy.deepcopy:
        return "deepcopy"
    if function is torch.func.functional_call or function is _stateless_functional_call():
        return "functional_call"
    if function is torch.func.stack_module_state:
        return "stack_module_state"
    module = getattr(function, "__module__", None)
    if module == PRUNE_MODULE and callable(function) and not isinstance(function, type):
        return "prune_remove" if name == "remove" else "prune"
    if module in PARAMETRIZE_MODULES and not isinstance(function, type):
        return "parametrize"
    return None


def _stateless_functional_call() -> Any:
    try:
        from torch.nn.utils import stateless
        return stateless.functional_call
    except Exception:  # noqa: BLE001 - a torch without the deprecated alias
        return None


HANDLERS.update({
    "prune": (pruning.before, pruning.after), "prune_remove": (pruning.remove_before, pruning.remove_after),
    "parametrize": (parametrize.before, parametrize.after),
    "functional_call": (func.functional_call_before, func.functional_call_after),
    "stack_module_state": (None, func.stack_after), "deepcopy": (None, copies.deepcopy_after),
    "construct": (None, copies.construct_after), "cast": (methods.module_before, methods.cast_after),
    "to_empty": (methods.module_before, methods.to_empty_after),
    "reset_classifier": (methods.module_before, methods.reset_classifier_after),
    "reset_parameters": (methods.reset_before, methods.reset_after),
    "post_init": (methods.post_init_before, methods.post_init_after),
    "tensor_update": (updates.before, updates.after),
    "optimizer_step": (optimization.step_before, optimization.step_after),
    "zero_grad": (optimization.zero_grad_before, optimization.zero_grad_after),
    "scheduler_step": (optimization.scheduler_before, optimization.scheduler_after),
})
# kinds after which a model's tensors may have new names or objects: the owner index is rebuilt
STRUCTURAL = {"prune", "prune_remove", "parametrize", "to_empty", "reset_classifier", "cast"}


__all__ = ["Observation", "kind_of", "STRUCTURAL"]

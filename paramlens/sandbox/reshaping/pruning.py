"""Pruning (`torch.nn.utils.prune`): per tensor, what the mask zeroed, what it had zeroed before, the magnitude or
slice norm that separated pruned from kept values, and what `prune.remove` folded back."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from paramlens.sandbox.reshaping.observation import Observation
from paramlens.sandbox.reshaping.state import NAMES_LIMIT, ModuleState, owner_label, scalar, structure_diff

def _registered(module: nn.Module, name: str) -> torch.Tensor | None:
    """The parameter a pruning call works on: `<name>_orig` once pruned, else `<name>` itself (never the value a
    pruning hook or a parametrization computes)."""
    found = module._parameters.get(f"{name}_orig")
    return found if found is not None else module._parameters.get(name)


def _prune_targets(observation: Observation) -> list[tuple[nn.Module, str]]:
    """(module, tensor name) pairs a pruning call works on; a `global_unstructured` iterable is read only when it
    is a list or tuple (reading a generator would consume it)."""
    arguments = observation.arguments()
    if "parameters" in arguments:
        pairs = arguments["parameters"]
        if not isinstance(pairs, (list, tuple)):
            return []
        return [(m, n) for m, n in pairs if isinstance(m, nn.Module) and isinstance(n, str)]
    module, name = arguments.get("module"), arguments.get("name")
    return [(module, name)] if isinstance(module, nn.Module) and isinstance(name, str) else []


def _mask_zeros(module: nn.Module, name: str) -> int | None:
    mask = module._buffers.get(f"{name}_mask")
    return None if mask is None else int((mask == 0).sum().item())


def before(observation: Observation) -> None:
    targets = _prune_targets(observation)
    observation.state["targets"] = targets
    observation.state["before"] = [
        {"tensor": _registered(m, n), "zeros": _mask_zeros(m, n), "state": ModuleState.of(m)} for m, n in targets]


def _pruning_methods(module: nn.Module, name: str) -> list[str]:
    for hook in module._forward_pre_hooks.values():
        if getattr(hook, "_tensor_name", None) == name:
            inner = getattr(hook, "_pruning_methods", None)
            return [type(m).__name__ for m in inner] if inner else [type(hook).__name__]
    return []


def _magnitude_split(orig: torch.Tensor, mask: torch.Tensor) -> dict[str, Any]:
    """The largest |w| that was pruned and the smallest |w| that was kept (an L1 prune keeps every larger one)."""
    magnitude = orig.detach().abs()
    pruned, kept = magnitude[mask == 0], magnitude[mask != 0]
    return {"largest_pruned": pruned.max().item() if pruned.numel() else None,
            "smallest_kept": kept.min().item() if kept.numel() else None}


def _pruned_slices(orig: torch.Tensor, mask: torch.Tensor, dim: int, norm: Any) -> dict[str, Any]:
    """Which slices along `dim` an Ln-structured prune zeroed, with the norms torch ranked them by."""
    dim = dim % mask.dim()
    moved = mask.movedim(dim, 0).reshape(mask.shape[dim], -1)
    zeroed = (moved == 0).all(dim=1)
    indices = [int(i) for i in torch.nonzero(zeroed).flatten().tolist()]
    facts: dict[str, Any] = {"dim": dim, "slices": int(mask.shape[dim]), "pruned_slices": indices[:NAMES_LIMIT],
                             "pruned_slice_count": len(indices), "norm": scalar(norm)}
    with contextlib.suppress(Exception):
        values = orig.detach().movedim(dim, 0).reshape(orig.shape[dim], -1).to(torch.float64)
        norms = torch.norm(values, p=norm, dim=1)
        facts["largest_pruned_norm"] = norms[zeroed].max().item() if zeroed.any() else None
        facts["smallest_kept_norm"] = norms[~zeroed].min().item() if (~zeroed).any() else None
    return facts


def after(observation: Observation, result: Any) -> dict[str, Any]:
    arguments = observation.arguments()
    method = arguments.get("pruning_method")
    facts: dict[str, Any] = {
        "amount": scalar(arguments.get("amount", arguments.get("kwargs", {}).get("amount"))),
        "method": getattr(method, "__name__", None), "targets": []}
    for (module, name), before in zip(observation.state["targets"], observation.state["before"]):
        mask = module._buffers.get(f"{name}_mask")
        orig = module._parameters.get(f"{name}_orig")
        if mask is None or orig is None:
            continue
        zeros, numel = int((mask == 0).sum().item()), mask.numel()
        entry: dict[str, Any] = {
            "module": owner_label(module, observation.owners), "name": name, "zeros": zeros, "numel": numel,
            "zeros_before": before["zeros"], "orig_is_former": orig is before["tensor"],
            "methods": _pruning_methods(module, name), "shape": list(mask.shape),
            "diff": structure_diff(before["state"], ModuleState.of(module))}
        value = module.__dict__.get(name)
        if isinstance(value, torch.Tensor):
            entry["pruned_value"] = {"parameter": isinstance(value, nn.Parameter),
                                     "zeros": int((value == 0).sum().item())}
        if entry["methods"] and all(m == "L1Unstructured" for m in entry["methods"]):
            entry.update(_magnitude_split(orig, mask))
        if entry["methods"] and entry["methods"][-1] == "LnStructured":
            entry.update(_pruned_slices(orig, mask, int(arguments.get("dim", -1)), arguments.get("n")))
        facts["targets"].append(entry)
    if facts["method"] == "L1Unstructured" and facts["targets"]:
        # global magnitude pruning: one threshold across every tensor
        facts.update(_magnitude_split(
            torch.cat([module._parameters[f"{name}_orig"].detach().flatten() for module, name in
                       observation.state["targets"] if f"{name}_orig" in module._parameters]),
            torch.cat([module._buffers[f"{name}_mask"].flatten() for module, name in observation.state["targets"]
                       if f"{name}_mask" in module._buffers])))
    return facts


def remove_before(observation: Observation) -> None:
    arguments = observation.arguments()
    module, name = arguments.get("module"), arguments.get("name")
    if isinstance(module, nn.Module) and isinstance(name, str):
        observation.state.update({"module": module, "name": name, "orig": module._parameters.get(f"{name}_orig"),
                                  "mask_zeros": _mask_zeros(module, name), "state": ModuleState.of(module)})


def remove_after(observation: Observation, result: Any) -> dict[str, Any]:
    module, name = observation.state.get("module"), observation.state.get("name")
    if module is None:
        return {}
    weight = module._parameters.get(name)
    facts: dict[str, Any] = {"module": owner_label(module, observation.owners), "name": name,
                             "mask_zeros": observation.state["mask_zeros"],
                             "diff": structure_diff(observation.state["state"], ModuleState.of(module)),
                             "methods_left": _pruning_methods(module, name)}
    if isinstance(weight, torch.Tensor):
        facts.update({"zeros": int((weight == 0).sum().item()), "numel": weight.numel(),
                      "same_object": weight is observation.state["orig"], "parameter": isinstance(weight, nn.Parameter),
                      "shape": list(weight.shape)})
    return facts

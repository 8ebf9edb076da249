"""The state a reshaping call is compared against: a module's named tensors and submodules by reference, each
tensor's shape, dtype and device as they were, the diff of two such states by identity, and small JSON-safe helpers
the kinds share."""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from paramlens.sandbox.summaries import dtype_name, is_uninitialized

Owners = Callable[[Any], list]


NAMES_LIMIT = 64  # names listed per record (added, removed, substituted ...)


def bound_arguments(function: Callable, args: tuple, kwargs: dict) -> dict[str, Any]:
    """The call's arguments by parameter name, defaults included ({} when the signature cannot be read)."""
    try:
        bound = inspect.signature(function).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return {}
    bound.apply_defaults()
    return dict(bound.arguments)


def scalar(value: Any) -> Any:
    """A JSON-safe scalar for a number, a 0-dim tensor, a dtype or a device; None otherwise."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no inf / nan
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.device.type != "meta":
        return value.item()
    if isinstance(value, (torch.dtype, torch.device)):
        return str(value).replace("torch.", "")
    return None


@dataclass
class ModuleState:
    """A module's named tensors (duplicates included, so ties are visible) and submodules, by reference, with each
    tensor's shape, dtype and device as they were when the state was taken (a cast keeps the Parameter objects and
    swaps their data, so a reference alone would show the dtype after)."""

    params: list[tuple[str, torch.Tensor]]
    buffers: list[tuple[str, torch.Tensor]]
    modules: list[tuple[str, nn.Module]]
    briefs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, module: nn.Module) -> "ModuleState":
        state = cls(list(module.named_parameters(remove_duplicate=False)),
                    list(module.named_buffers(remove_duplicate=False)),
                    list(module.named_modules(remove_duplicate=False)))
        state.briefs = {name: tensor_brief(name, tensor, kind) | {"id": id(tensor)}
                        for name, tensor, kind in state.tensors()}
        return state

    def tensors(self) -> list[tuple[str, torch.Tensor, str]]:
        return [(n, t, "parameter") for n, t in self.params] + [(n, t, "buffer") for n, t in self.buffers]

    def param_count(self) -> int:
        seen: dict[int, int] = {}
        for _, tensor in self.params:
            seen[id(tensor)] = 0 if is_uninitialized(tensor) else tensor.numel()
        return sum(seen.values())


def tensor_brief(name: str, tensor: torch.Tensor, kind: str) -> dict[str, Any]:
    lazy = is_uninitialized(tensor)
    numel = 0 if lazy else tensor.numel()
    return {"name": name, "kind": kind, "shape": None if lazy else list(tensor.shape), "numel": numel,
            "dtype": dtype_name(tensor.dtype), "device": tensor.device.type,
            "bytes": 0 if tensor.device.type == "meta" else numel * tensor.element_size(),  # meta holds no memory
            "parameter": isinstance(tensor, nn.Parameter)}


def structure_diff(before: ModuleState, after: ModuleState) -> dict[str, Any]:
    """Names that appeared, disappeared, now hold another object, or hold an object that used to have another
    name (`weight` -> `weight_orig`): what a call did to a module's tensors, decided by identity."""
    old = {name: (tensor, kind) for name, tensor, kind in before.tensors()}
    new = {name: (tensor, kind) for name, tensor, kind in after.tensors()}
    old_names_by_id: dict[int, str] = {}
    for name, (tensor, _) in old.items():
        old_names_by_id.setdefault(id(tensor), name)
    added, removed, replaced, renamed = [], [], [], []
    kept = 0
    for name, (tensor, kind) in new.items():
        if name in old:
            if old[name][0] is tensor:
                kept += 1
            else:
                replaced.append(public(after.briefs[name]))
            continue
        entry = public(after.briefs[name])
        former = old_names_by_id.get(id(tensor))
        if former is not None and former not in new:
            entry["was"] = former
            renamed.append(entry)
        else:
            added.append(entry)
    renamed_from = {entry["was"] for entry in renamed}
    removed = [public(before.briefs[name]) for name in old if name not in new and name not in renamed_from]
    return {"added": added[:NAMES_LIMIT], "removed": removed[:NAMES_LIMIT], "replaced": replaced[:NAMES_LIMIT],
            "renamed": renamed[:NAMES_LIMIT], "kept": kept, "param_count_before": before.param_count(),
            "param_count_after": after.param_count()}


def public(brief: dict[str, Any]) -> dict[str, Any]:
    """A brief without the object id (meaningless outside the run)."""
    return {k: v for k, v in brief.items() if k != "id"}


def owner_label(module: nn.Module, owners: Owners) -> dict[str, Any]:
    found = owners(module)
    return {"class": type(module).__name__, "path": found[0]["path"] if found else None}


def storage_of(tensor: torch.Tensor) -> int | None:
    """The address of a tensor's memory, or None for meta and lazy tensors (which have none)."""
    if is_uninitialized(tensor) or tensor.device.type == "meta":
        return None
    try:
        return tensor.untyped_storage().data_ptr()
    except Exception:  # noqa: BLE001
        return None


def shares_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    first = storage_of(a)
    return first is not None and first == storage_of(b)

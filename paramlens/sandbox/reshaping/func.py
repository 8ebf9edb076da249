"""`torch.func.functional_call` (what was substituted for one call, and what happened to the model's own tensors)
and `torch.func.stack_module_state` (the stacked shapes, and whether the stacked tensors are copies)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from paramlens.sandbox.reshaping.observation import Observation
from paramlens.sandbox.reshaping.state import NAMES_LIMIT, ModuleState, owner_label, shares_memory
from paramlens.sandbox.runtime import snapshot
from paramlens.sandbox.summaries import dtype_name

def functional_call_before(observation: Observation) -> None:
    module = observation.arguments().get("module")
    if not isinstance(module, nn.Module):
        return
    state = ModuleState.of(module)
    observation.state.update({"module": module, "state": state,
                              "versions": {n: t._version for n, t, _ in state.tensors()},
                              "values": {n: snapshot(t) for n, t, _ in state.tensors()}})


def _given_tensors(dicts: Any) -> dict[str, torch.Tensor]:
    if isinstance(dicts, dict):
        dicts = [dicts]
    given: dict[str, torch.Tensor] = {}
    for entry in dicts if isinstance(dicts, (list, tuple)) else []:
        if isinstance(entry, dict):
            given.update({str(k): v for k, v in entry.items() if isinstance(v, torch.Tensor)})
    return given


def functional_call_after(observation: Observation, result: Any) -> dict[str, Any]:
    module = observation.state.get("module")
    if module is None:
        return {}
    arguments = observation.arguments()
    before: ModuleState = observation.state["state"]
    own = {n: t for n, t, _ in before.tensors()}
    given = _given_tensors(arguments.get("parameter_and_buffer_dicts"))
    substituted = [{"name": n, "shape": list(t.shape), "model_shape": list(own[n].shape),
                    "equal_to_model": bool(t.shape == own[n].shape and torch.equal(t.detach(), own[n].detach()))}
                   for n, t in given.items() if n in own]
    tied_in = []
    if arguments.get("tie_weights", True):
        groups: dict[int, list[str]] = {}
        for n, t in before.params:
            groups.setdefault(id(t), []).append(n)
        tied_in = [n for names in groups.values() if len(names) > 1 and any(g in given for g in names)
                   for n in names if n not in given]
    now = {n: t for n, t, _ in ModuleState.of(module).tensors()}
    values, versions = observation.state["values"], observation.state["versions"]
    replaced = [n for n, t in own.items() if now.get(n) is not t]
    # written in place during the call (a BatchNorm's running statistics in training mode): by value where a copy
    # was kept, else by the version counter every in-place operation bumps
    modified = [n for n, t in own.items() if n not in replaced and
                (not torch.equal(t.detach(), values[n]) if values[n] is not None else t._version != versions[n])]
    buffer_names = {n for n, _ in before.buffers}
    return {"module": owner_label(module, observation.owners),
            "substituted": substituted[:NAMES_LIMIT], "substituted_count": len(substituted),
            "unmatched": [n for n in given if n not in own][:NAMES_LIMIT],
            "kept": [n for n, _ in before.params if n not in given and n not in tied_in][:NAMES_LIMIT],
            "tied_in": tied_in, "model_untouched": not replaced and not modified, "replaced": replaced[:NAMES_LIMIT],
            "modified": [n for n in modified if n not in buffer_names][:NAMES_LIMIT],
            "modified_buffers": [n for n in modified if n in buffer_names][:NAMES_LIMIT],
            "modified_buffer_classes": sorted({type(module.get_submodule(n.rpartition(".")[0])).__name__
                                               for n in modified if n in buffer_names}),
            "strict": bool(arguments.get("strict", False)),
            "output": _brief_output(result)}


def _brief_output(value: Any) -> dict[str, Any]:
    if isinstance(value, torch.Tensor):
        return {"kind": "tensor", "shape": list(value.shape), "dtype": dtype_name(value.dtype)}
    if isinstance(value, (tuple, list)):
        return {"kind": "sequence", "items": [_brief_output(v) for v in list(value)[:8]]}
    return {"kind": "object", "type": type(value).__name__}


def stack_after(observation: Observation, result: Any) -> dict[str, Any]:
    models = observation.arguments().get("models")
    models = list(models) if isinstance(models, (list, tuple)) else []
    facts: dict[str, Any] = {"models": len(models), "params": [], "buffers": []}
    if not (isinstance(result, tuple) and len(result) == 2):
        return facts
    for key, stacked_all in (("params", result[0]), ("buffers", result[1])):
        for name, stacked in list(stacked_all.items())[:NAMES_LIMIT]:
            originals = [dict(m.named_parameters() if key == "params" else m.named_buffers()).get(name)
                         for m in models]
            present = [t for t in originals if isinstance(t, torch.Tensor)]
            facts[key].append({
                "name": name, "shape": list(stacked.shape),
                "model_shape": list(present[0].shape) if present else None,
                "equal": len(present) == len(models) and all(torch.equal(stacked[i].detach(), t.detach())
                                                             for i, t in enumerate(present)),
                "shares_memory": any(shares_memory(stacked, t) for t in present),
                "requires_grad": bool(stacked.requires_grad), "is_leaf": bool(stacked.is_leaf)})
    return facts

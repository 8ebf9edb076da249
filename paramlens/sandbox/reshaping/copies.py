"""New model objects: `copy.deepcopy` of a model (or of a state dict) and a module class looked up by name."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from paramlens.sandbox.reshaping.observation import Observation
from paramlens.sandbox.reshaping.state import ModuleState, owner_label, storage_of, shares_memory
from paramlens.sandbox.summaries import is_uninitialized, module_brief, summarize

def _tied(pairs: list[tuple[str, torch.Tensor]]) -> list[list[str]]:
    groups: dict[int, list[str]] = {}
    for name, tensor in pairs:
        groups.setdefault(id(tensor), []).append(name)
    return [names for names in groups.values() if len(names) > 1]


def deepcopy_after(observation: Observation, result: Any) -> dict[str, Any]:
    source = observation.args[0] if observation.args else None
    if isinstance(source, nn.Module) and isinstance(result, nn.Module):
        old, new = ModuleState.of(source), ModuleState.of(result)
        originals = [t for _, t, _ in old.tensors()]
        old_ids = {id(t) for t in originals}
        old_storages = {storage_of(t) for t in originals} - {None}
        copies = list({id(t): t for _, t, _ in new.tensors()}.values())
        by_name = dict((n, t) for n, t, _ in old.tensors())
        return {"source": owner_label(source, observation.owners), "copy": module_brief(result),
                "tensors": len(copies), "same_objects": sum(1 for t in copies if id(t) in old_ids),
                "shared_storage": sum(1 for t in copies if storage_of(t) in old_storages),
                "equal_values": all(torch.equal(t.detach(), by_name[n].detach()) for n, t, _ in new.tensors()
                                    if n in by_name and not is_uninitialized(t) and t.device.type != "meta"),
                "tied_source": _tied(old.params), "tied_copy": _tied(new.params),
                "ties_point_into_copy": all(t is not o for _, t in new.params for o in originals)}
    if isinstance(source, dict) and isinstance(result, dict) and all(isinstance(v, torch.Tensor)
                                                                      for v in source.values()):
        pairs = [(source[k], v) for k, v in result.items() if k in source and isinstance(v, torch.Tensor)]
        return {"state_dict": True, "tensors": len(pairs),
                "shared_storage": sum(1 for o, c in pairs if shares_memory(o, c)),
                "equal_values": all(torch.equal(o.detach(), c.detach()) for o, c in pairs)}
    return {}


def construct_after(observation: Observation, result: Any) -> dict[str, Any]:
    cls = observation.function
    public = getattr(nn, cls.__name__, None) is cls
    return {"resolved": f"{cls.__module__}.{cls.__qualname__}", "nn_name": f"nn.{cls.__name__}" if public else None,
            "module": summarize(result, observation.owners) if isinstance(result, nn.Module) else None}

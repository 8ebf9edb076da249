"""In-place steps that move one tensor toward another (`lerp_`, and `mul_(d)` chained into `add_(p, alpha=a)`):
the receiver before and after, the source, the weight or factor and alpha, and the mean distance before and after."""

from __future__ import annotations

from typing import Any

import torch

from paramlens.sandbox.reshaping.observation import Observation
from paramlens.sandbox.reshaping.state import scalar
from paramlens.sandbox.runtime import SNAPSHOT_LIMIT, snapshot
from paramlens.sandbox.summaries import VALUES_LIMIT, plain_values, tensor_stats, tensor_summary

TENSOR_UPDATES = {"lerp_", "mul_", "add_"}

_LAST_SCALE: dict[str, Any] = {}


def before(observation: Observation) -> None:
    tensor = observation.receiver
    if not isinstance(tensor, torch.Tensor) or tensor.numel() > SNAPSHOT_LIMIT:
        return
    observation.state.update({"tensor": tensor, "before": snapshot(tensor), "stats": tensor_stats(tensor)})
    chained = _LAST_SCALE.get("entry")
    if observation.function.__name__ == "add_" and chained is not None and chained["id"] == id(tensor) and \
            chained["version"] == tensor._version:
        observation.state.update({"before": chained["before"], "stats": chained["stats"],
                                  "factor": chained["factor"]})
    _LAST_SCALE.clear()


def _mean_distance(a: torch.Tensor, b: torch.Tensor) -> float | None:
    if a.shape != b.shape:
        return None
    return (a.detach().to(torch.float64) - b.detach().to(torch.float64)).abs().mean().item()


def after(observation: Observation, result: Any) -> dict[str, Any]:
    tensor = observation.state.get("tensor")
    before = observation.state.get("before")
    if tensor is None or before is None:
        return {}
    name = observation.function.__name__
    args, kwargs = observation.args, observation.kwargs
    if name == "mul_":
        factor = scalar(args[0] if args else kwargs.get("other"))
        _LAST_SCALE["entry"] = {"id": id(tensor), "version": tensor._version, "before": before,
                                "stats": observation.state["stats"], "factor": factor}
        return {"step": "scale", "factor": factor}
    source = args[0] if args else kwargs.get("end", kwargs.get("other"))
    if not isinstance(source, torch.Tensor):
        return {}
    if name == "lerp_":
        weight = scalar(args[1] if len(args) > 1 else kwargs.get("weight"))
        facts: dict[str, Any] = {"step": "lerp", "weight": weight}
    else:
        facts = {"step": "add", "alpha": scalar(kwargs.get("alpha", 1)), "factor": observation.state.get("factor")}
    after = tensor.detach()
    facts.update({
        "target": tensor_summary(tensor, observation.owners, text=False),
        "source": tensor_summary(source, observation.owners, text=False),
        "before": observation.state["stats"], "distance_before": _mean_distance(before, source),
        "distance_after": _mean_distance(after, source),
        "max_change": (after.to(torch.float64) - before.to(torch.float64)).abs().max().item()
        if before.numel() else None})
    if before.numel() <= VALUES_LIMIT:
        facts["before_values"] = plain_values(before)
    return facts

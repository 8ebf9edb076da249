"""What a training step did to the parameters: `optimizer.step()` (which tensors moved, by how much, and for plain
SGD whether the move is exactly -lr × grad), `zero_grad()` on an optimizer or a module (which gradients were
dropped or zeroed), and a learning-rate scheduler's `step()` (the learning rates before and after).

Why: these are the lines where a model's parameters change during training, and a learner's questions about them
("did step() use my gradients?", "why is .grad None now?", "what is the learning rate now?") have answers only the
run has. The kind is decided from the receiver the program called the method on (an Optimizer, an LRScheduler, a
Module), never from the variable's name: `env.step(action)` is left alone.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch import nn

from paramlens.sandbox.reshaping.observation import Observation
from paramlens.sandbox.reshaping.state import scalar
from paramlens.sandbox.summaries import is_uninitialized

COPY_ELEMENTS = 5_000_000  # parameters copied before a step to measure the change; larger models: changed or not
MOVED_ROWS = 8             # tensors listed per step


def wrapped_optimizer(function: Any) -> Any:
    """The optimizer behind `optimizer.step` once a learning-rate scheduler wrapped it: torch's schedulers replace
    the bound method with a plain function that holds the optimizer by weak reference (to notice a `step()` missing
    before `scheduler.step()`), so the callable has no `__self__`. None for anything else."""
    if not hasattr(function, "__wrapped__") or not getattr(function, "__closure__", None):
        return None
    for cell in function.__closure__:
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if isinstance(value, weakref.ref):
            value = value()
        if isinstance(value, torch.optim.Optimizer):
            return value
    return None


def kind(receiver: Any, name: str) -> str | None:
    """The kind of a bound method's call, from its receiver."""
    if isinstance(receiver, torch.optim.Optimizer):
        return {"step": "optimizer_step", "zero_grad": "zero_grad"}.get(name)
    if isinstance(receiver, torch.optim.lr_scheduler.LRScheduler) and name == "step":
        return "scheduler_step"
    if isinstance(receiver, nn.Module) and name == "zero_grad":
        return "zero_grad"
    return None


def _optimizer_parameters(optimizer: torch.optim.Optimizer) -> list[tuple[int, torch.Tensor]]:
    return [(index, p) for index, group in enumerate(optimizer.param_groups) for p in group["params"]]


def _measurable(tensor: torch.Tensor) -> bool:
    return not is_uninitialized(tensor) and tensor.device.type != "meta" and not tensor.is_sparse


def _names(observation: Observation, tensor: torch.Tensor) -> list[str]:
    return [owner["path"] for owner in observation.owners(tensor) if owner.get("relation") == "same"][:3]


def step_before(observation: Observation) -> None:
    optimizer = observation.receiver
    params = _optimizer_parameters(optimizer)
    total = sum(p.numel() for _, p in params if _measurable(p))
    copy = total <= COPY_ELEMENTS
    from paramlens.sandbox.probes import fingerprint

    observation.state["before"] = [
        (p.detach().clone() if copy and _measurable(p) else fingerprint(p)) for _, p in params]
    observation.state["grads"] = [p.grad.detach().clone() if copy and p.grad is not None and _measurable(p.grad)
                                  else None for _, p in params]
    observation.state["had_grad"] = [p.grad is not None for _, p in params]
    observation.state["state_entries"] = len(optimizer.state)


def step_after(observation: Observation, result: Any) -> dict[str, Any]:
    from paramlens.sandbox.probes import fingerprint

    optimizer = observation.receiver
    params = _optimizer_parameters(optimizer)
    groups = [{"lr": scalar(group.get("lr")), "tensors": 0, "moved": 0, "without_grad": 0,
               "options": {key: scalar(group.get(key)) for key in ("momentum", "weight_decay", "betas", "eps",
                                                                   "maximize", "nesterov", "dampening")
                           if key in group and not isinstance(group.get(key), (list, tuple))}}
              for group in optimizer.param_groups]
    moved_rows: list[dict[str, Any]] = []
    moved_values = 0
    exact: list[bool] = []
    plain_sgd = type(optimizer) is torch.optim.SGD
    for (index, p), before, grad, had_grad in zip(params, observation.state["before"], observation.state["grads"],
                                                  observation.state["had_grad"]):
        group = groups[index]
        group["tensors"] += 1
        if not had_grad:
            group["without_grad"] += 1
        if isinstance(before, torch.Tensor):
            with torch.no_grad():
                # each reduction is a pass over up to 5 M values, before each recorded step: each done once
                delta = p.detach() - before
                largest = delta.abs().max() if delta.numel() else None
                moved = largest is not None and bool(largest != 0)  # delta.any(): NaN counts as a change
                before_norm = before.norm()
                row = {"names": _names(observation, p), "shape": list(p.shape), "group": index,
                       "max_change": float(largest) if largest is not None else 0.0,
                       "relative": float(delta.norm() / before_norm) if before_norm > 0 else None}
                options = optimizer.param_groups[index]
                if plain_sgd and grad is not None and not options.get("momentum") and \
                        not options.get("weight_decay") and not options.get("maximize"):
                    exact.append(bool(torch.allclose(delta, -options["lr"] * grad, rtol=1e-4, atol=1e-7)))
        else:
            moved = fingerprint(p) != before
            row = {"names": _names(observation, p), "shape": list(p.shape), "group": index}
        if moved:
            group["moved"] += 1
            moved_values += p.numel()
            if len(moved_rows) < MOVED_ROWS:
                moved_rows.append(row)
    return {"optimizer": type(optimizer).__name__, "groups": groups, "moved": moved_rows,
            "moved_tensors": sum(g["moved"] for g in groups), "moved_values": moved_values,
            "tensors": len(params), "without_grad": sum(g["without_grad"] for g in groups),
            "measured": all(isinstance(b, torch.Tensor) for b in observation.state["before"]),
            "sgd_exact": (all(exact) if exact else None),
            "state_created": observation.state["state_entries"] == 0 and len(optimizer.state) > 0,
            "state_keys": sorted(str(key) for key in next(iter(optimizer.state.values()), {}))[:8]}


def _zero_grad_parameters(receiver: Any) -> list[torch.Tensor]:
    if isinstance(receiver, torch.optim.Optimizer):
        return [p for _, p in _optimizer_parameters(receiver)]
    return list(receiver.parameters())


def zero_grad_before(observation: Observation) -> None:
    params = _zero_grad_parameters(observation.receiver)
    observation.state["with_grad"] = sum(1 for p in params if p.grad is not None)


def zero_grad_after(observation: Observation, result: Any) -> dict[str, Any]:
    receiver = observation.receiver
    params = _zero_grad_parameters(receiver)
    zeros = sum(1 for p in params if p.grad is not None and (not _measurable(p.grad) or not bool(p.grad.any())))
    set_to_none = observation.arguments().get("set_to_none", True)
    return {"receiver": type(receiver).__name__, "on_optimizer": isinstance(receiver, torch.optim.Optimizer),
            "tensors": len(params), "with_grad_before": observation.state["with_grad"],
            "none_after": sum(1 for p in params if p.grad is None), "zeros_after": zeros,
            "set_to_none": bool(set_to_none)}


def scheduler_before(observation: Observation) -> None:
    scheduler = observation.receiver
    observation.state["lrs"] = [scalar(group.get("lr")) for group in scheduler.optimizer.param_groups]


def scheduler_after(observation: Observation, result: Any) -> dict[str, Any]:
    scheduler = observation.receiver
    return {"scheduler": type(scheduler).__name__, "optimizer": type(scheduler.optimizer).__name__,
            "lr_before": observation.state["lrs"],
            "lr_after": [scalar(group.get("lr")) for group in scheduler.optimizer.param_groups],
            "last_epoch": scalar(getattr(scheduler, "last_epoch", None))}

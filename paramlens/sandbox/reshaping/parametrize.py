"""Parametrizations (weight norm, spectral norm, `register_parametrization`, the older hook-based weight norm) and
`remove_parametrizations`: the tensors added, renamed and removed, and what the weight is computed from."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from paramlens.sandbox.reshaping.observation import Observation
from paramlens.sandbox.reshaping.state import ModuleState, owner_label, structure_diff
from paramlens.sandbox.runtime import snapshot
from paramlens.sandbox.summaries import tensor_summary

def _parametrize_target(observation: Observation) -> tuple[nn.Module | None, str]:
    arguments = observation.arguments()
    module = arguments.get("module")
    name = arguments.get("tensor_name", arguments.get("name", "weight"))
    return (module if isinstance(module, nn.Module) else None), (name if isinstance(name, str) else "weight")


def before(observation: Observation) -> None:
    module, name = _parametrize_target(observation)
    if module is None:
        return
    former = module._parameters.get(name)
    observation.state.update({"module": module, "name": name, "state": ModuleState.of(module),
                              "class": type(module).__name__, "former": former, "former_values": snapshot(former) if former is not None else None})


def _parametrizations(module: nn.Module, name: str) -> list[nn.Module]:
    container = getattr(module, "parametrizations", None) if "parametrizations" in module._modules else None
    if container is None or name not in container._modules:
        return []
    return list(container[name])


def _spectral_facts(module: nn.Module, name: str, parametrization: nn.Module) -> dict[str, Any]:
    """σ as torch's next forward divides by it (`u · W v`, from the `_u` / `_v` buffers, without the power
    iteration a read of the weight would run) and the true largest singular value, for comparison."""
    original = module.parametrizations[name].original
    with torch.no_grad():
        matrix = parametrization._reshape_weight_to_matrix(original.detach())
        estimate = torch.vdot(parametrization._u, torch.mv(matrix, parametrization._v)).item()
        largest = torch.linalg.matrix_norm(matrix.to(torch.float64), ord=2).item()
    return {"sigma": estimate, "largest_singular_value": largest,
            "power_iterations": int(getattr(parametrization, "n_power_iterations", 0)), "training": module.training,
            "dim": int(getattr(parametrization, "dim", 0))}


def _weight_norm_facts(module: nn.Module, name: str, former_values: torch.Tensor | None,
                       parametrization: nn.Module | None, dim: Any = None) -> dict[str, Any]:
    """The recomputed weight (a pure function of g and v) against the weight it replaced."""
    facts: dict[str, Any] = {"dim": getattr(parametrization, "dim", dim)}
    with torch.no_grad():
        computed = getattr(module, name)
        if former_values is not None and isinstance(computed, torch.Tensor) and computed.shape == former_values.shape:
            facts["max_difference"] = (computed.detach() - former_values).abs().max().item()
        facts["computed"] = tensor_summary(computed.detach(), text=False) if isinstance(computed, torch.Tensor) \
            else None
    return facts


def after(observation: Observation, result: Any) -> dict[str, Any]:
    module, name = observation.state.get("module"), observation.state.get("name")
    if module is None:
        return {}
    facts: dict[str, Any] = {"module": owner_label(module, observation.owners), "name": name,
                             "diff": structure_diff(observation.state["state"], ModuleState.of(module)),
                             "training": module.training, "class_before": observation.state["class"]}
    chain = _parametrizations(module, name)
    facts["parametrizations"] = [type(p).__name__ for p in chain]
    if chain and all(type(p).__name__ == "_WeightNorm" for p in chain):
        facts.update(_weight_norm_facts(module, name, observation.state["former_values"], chain[0]))
    elif chain and type(chain[-1]).__name__ == "_SpectralNorm" and len(chain) == 1:
        facts.update(_spectral_facts(module, name, chain[0]))
    elif not chain and f"{name}_g" in module._parameters:  # torch.nn.utils.weight_norm: a forward pre-hook
        facts.update(_weight_norm_facts(module, name, observation.state["former_values"], None,
                                        observation.arguments().get("dim")))
    plain = module._parameters.get(name)
    if plain is not None and observation.state["former"] is None:
        # remove_parametrizations / remove_weight_norm folded the value back into a plain parameter
        facts["folded"] = tensor_summary(plain, text=False)
        old = {id(t): n for n, t, _ in observation.state["state"].tensors()}
        facts["folded"]["was"] = old.get(id(plain))
    arguments = observation.arguments()
    if "leave_parametrized" in arguments:
        facts["leave_parametrized"] = bool(arguments["leave_parametrized"])
    return facts

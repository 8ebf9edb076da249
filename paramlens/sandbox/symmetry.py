"""Whether the hidden units of a layer are interchangeable, checked on the model itself (inside the sandboxed child).

Why: "a constant weight keeps the hidden units identical forever" is true only when the units are symmetric: equal
incoming weights *and* equal biases (so they compute the same value) *and* equal outgoing weights in the next layer
(so they receive the same gradient). A zero-initialised LoRA `B`, a constant weight followed by a layer whose
columns differ, or equal rows with different biases are not symmetric, and saying otherwise is false. This module
measures, after a statement that wrote a constant into a weight matrix, every `nn.Linear` of the top-level models:
how many of its units share one (row, bias) pair, and whether the next layer (the next non-elementwise child of
the same `nn.Sequential`) weights them equally.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from paramlens.sandbox.summaries import ELEMENTWISE

LAYERS_LIMIT = 64
ELEMENTS_LIMIT = 4_000_000


def symmetry_facts(models: list[tuple[str, nn.Module]]) -> list[dict[str, Any]]:
    facts: list[dict[str, Any]] = []
    for var, model in models:
        following = _next_layers(model)
        for name, module in model.named_modules():
            if len(facts) >= LAYERS_LIMIT:
                return facts
            if not isinstance(module, nn.Linear) or module.weight.device.type == "meta" or \
                    isinstance(module.weight, nn.parameter.UninitializedParameter) or \
                    module.weight.numel() > ELEMENTS_LIMIT:
                continue
            entry = _layer(module, following.get(id(module)))
            if entry is not None:
                entry["layer"] = f"{var}.{name}" if name else var
                facts.append(entry)
    return facts


def _layer(layer: nn.Linear, after: nn.Module | None) -> dict[str, Any] | None:
    with torch.no_grad():
        weight = layer.weight.detach()
        if weight.shape[0] < 2:
            return None
        rows_equal = bool((weight == weight[:1]).all())
        if not rows_equal:
            return None  # only layers whose units all get the same incoming weights are of interest here
        bias = layer.bias.detach() if layer.bias is not None else None
        bias_equal = bias is None or bool((bias == bias[:1]).all())
        entry: dict[str, Any] = {"units": int(weight.shape[0]), "rows_equal": True, "bias_equal": bias_equal,
                                 "constant": bool((weight == weight.flatten()[0]).all()),
                                 "value": float(weight.flatten()[0])}
        if isinstance(after, nn.Linear) and after.weight.shape[1] == weight.shape[0] and \
                after.weight.device.type != "meta":
            outgoing = after.weight.detach()
            entry["outgoing_equal"] = bool((outgoing == outgoing[:, :1]).all())
        else:
            entry["outgoing_equal"] = None  # no next layer that reads these units directly (or it is not known)
        entry["symmetric"] = bias_equal and entry["outgoing_equal"] is True
        return entry


def _next_layers(model: nn.Module) -> dict[int, nn.Module]:
    """For each child of every nn.Sequential: the next child that mixes units (elementwise layers such as ReLU or
    Dropout pass units through one by one and are skipped)."""
    following: dict[int, nn.Module] = {}
    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.children())
        for index, child in enumerate(children):
            for later in children[index + 1:]:
                if type(later).__name__ not in ELEMENTWISE:
                    following[id(child)] = later
                    break
    return following

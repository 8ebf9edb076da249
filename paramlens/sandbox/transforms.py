"""What a call that reshapes a model's tensors did, for the `__pl_t__` probe (probes.py): pruning and
`prune.remove`, weight / spectral norm parametrizations and `remove_parametrizations`, `torch.func.functional_call`
and `stack_module_state`, `copy.deepcopy`, a module class looked up by name, `to_empty`, `reset_parameters`, dtype
casts (`.half()`, `.to(dtype)`), `reset_classifier`, and in-place updates that move one tensor toward another
(`ema.lerp_(p, w)`, `ema.mul_(d).add_(p, alpha=1 - d)`).

Why a probe of its own: these calls replace, wrap, rename or re-draw tensors, so an explanation needs the state
*before* the call next to the state after (which names appeared, which objects were kept, what a mask zeroed), and
that is gone once the call has run. The kind is decided from the callable itself (its identity or, for a bound
method, its receiver's type and name), never from how the source spells it. Nothing here runs the user's code or
writes a tensor: only reads, clones and torch's own read-only helpers. In particular a parametrized tensor is read
only when every parametrization on it is a pure function (weight norm): reading a spectral-norm weight in training
mode runs a power iteration that changes its `_u` / `_v` buffers.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from paramlens.sandbox.runtime import SNAPSHOT_LIMIT, compare, derived_scale, init_arguments, snapshot
from paramlens.sandbox.summaries import VALUES_LIMIT, dtype_name, is_uninitialized, module_brief, summarize, \
    tensor_stats, tensor_summary

Owners = Callable[[Any], list]
NAMES_LIMIT = 64  # names listed per record (added, removed, substituted ...)

CASTS = {"half", "float", "double", "bfloat16", "to"}
PRUNE_MODULE = "torch.nn.utils.prune"
PARAMETRIZE_MODULES = {"torch.nn.utils.parametrizations", "torch.nn.utils.parametrize", "torch.nn.utils.weight_norm",
                       "torch.nn.utils.spectral_norm"}
TENSOR_UPDATES = {"lerp_", "mul_", "add_"}
# methods that re-draw or fill a tensor, seen while `reset_parameters` runs (besides every public nn.init function)
FILLS = {"uniform_", "normal_", "fill_", "zero_", "copy_", "bernoulli_", "exponential_", "random_"}


def kind_of(function: Any) -> str | None:
    """Which kind of reshaping call `function` is, from the object itself; None when it is none of them."""
    if isinstance(function, type):
        return "construct" if issubclass(function, nn.Module) else None
    receiver = getattr(function, "__self__", None)
    name = getattr(function, "__name__", "")
    if isinstance(receiver, nn.Module):
        if name in CASTS:
            return "cast"
        if name in {"reset_parameters", "_reset_parameters"}:
            return "reset_parameters"
        return name if name in {"to_empty", "reset_classifier"} else None
    if isinstance(receiver, torch.Tensor):
        return "tensor_update" if name in TENSOR_UPDATES else None
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


def bound_arguments(function: Callable, args: tuple, kwargs: dict) -> dict[str, Any]:
    """The call's arguments by parameter name, defaults included ({} when the signature cannot be read)."""
    try:
        bound = inspect.signature(function).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return {}
    bound.apply_defaults()
    return dict(bound.arguments)


def _scalar(value: Any) -> Any:
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


# -- a module's tensors, before and after ------------------------------------------------------------------------

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
                replaced.append(_public(after.briefs[name]))
            continue
        entry = _public(after.briefs[name])
        former = old_names_by_id.get(id(tensor))
        if former is not None and former not in new:
            entry["was"] = former
            renamed.append(entry)
        else:
            added.append(entry)
    renamed_from = {entry["was"] for entry in renamed}
    removed = [_public(before.briefs[name]) for name in old if name not in new and name not in renamed_from]
    return {"added": added[:NAMES_LIMIT], "removed": removed[:NAMES_LIMIT], "replaced": replaced[:NAMES_LIMIT],
            "renamed": renamed[:NAMES_LIMIT], "kept": kept, "param_count_before": before.param_count(),
            "param_count_after": after.param_count()}


def _public(brief: dict[str, Any]) -> dict[str, Any]:
    """A brief without the object id (meaningless outside the run)."""
    return {k: v for k, v in brief.items() if k != "id"}


def _label(module: nn.Module, owners: Owners) -> dict[str, Any]:
    found = owners(module)
    return {"class": type(module).__name__, "path": found[0]["path"] if found else None}


def _registered(module: nn.Module, name: str) -> torch.Tensor | None:
    """The parameter a pruning call works on: `<name>_orig` once pruned, else `<name>` itself (never the value a
    pruning hook or a parametrization computes)."""
    found = module._parameters.get(f"{name}_orig")
    return found if found is not None else module._parameters.get(name)


# -- the observation ---------------------------------------------------------------------------------------------

@dataclass
class Observation:
    """One reshaping call: `start` took what the kind needs before the call; `during` wraps the call itself (only
    `reset_parameters` watches what it calls); `finish` returns the JSON facts."""

    kind: str
    function: Any
    args: tuple
    kwargs: dict
    owners: Owners
    state: dict[str, Any] = field(default_factory=dict)
    mode: "_InitCalls | None" = None

    def start(self) -> None:
        BEFORE.get(self.kind, _nothing)(self)

    @contextlib.contextmanager
    def during(self) -> Iterator[None]:
        if self.mode is None:
            yield
            return
        with self.mode:
            yield

    def finish(self, result: Any) -> dict[str, Any]:
        facts = {"kind": "transform", "what": self.kind, "function": getattr(self.function, "__name__", None)}
        facts.update(AFTER[self.kind](self, result))
        return facts

    @property
    def receiver(self) -> Any:
        return getattr(self.function, "__self__", None)

    def arguments(self) -> dict[str, Any]:
        return bound_arguments(self.function, self.args, self.kwargs)


def _nothing(observation: Observation) -> None:
    return None


# -- pruning -----------------------------------------------------------------------------------------------------

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


def _prune_before(observation: Observation) -> None:
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
                             "pruned_slice_count": len(indices), "norm": _scalar(norm)}
    with contextlib.suppress(Exception):
        values = orig.detach().movedim(dim, 0).reshape(orig.shape[dim], -1).to(torch.float64)
        norms = torch.norm(values, p=norm, dim=1)
        facts["largest_pruned_norm"] = norms[zeroed].max().item() if zeroed.any() else None
        facts["smallest_kept_norm"] = norms[~zeroed].min().item() if (~zeroed).any() else None
    return facts


def _prune_after(observation: Observation, result: Any) -> dict[str, Any]:
    arguments = observation.arguments()
    method = arguments.get("pruning_method")
    facts: dict[str, Any] = {
        "amount": _scalar(arguments.get("amount", arguments.get("kwargs", {}).get("amount"))),
        "method": getattr(method, "__name__", None), "targets": []}
    for (module, name), before in zip(observation.state["targets"], observation.state["before"]):
        mask = module._buffers.get(f"{name}_mask")
        orig = module._parameters.get(f"{name}_orig")
        if mask is None or orig is None:
            continue
        zeros, numel = int((mask == 0).sum().item()), mask.numel()
        entry: dict[str, Any] = {
            "module": _label(module, observation.owners), "name": name, "zeros": zeros, "numel": numel,
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


def _prune_remove_before(observation: Observation) -> None:
    arguments = observation.arguments()
    module, name = arguments.get("module"), arguments.get("name")
    if isinstance(module, nn.Module) and isinstance(name, str):
        observation.state.update({"module": module, "name": name, "orig": module._parameters.get(f"{name}_orig"),
                                  "mask_zeros": _mask_zeros(module, name), "state": ModuleState.of(module)})


def _prune_remove_after(observation: Observation, result: Any) -> dict[str, Any]:
    module, name = observation.state.get("module"), observation.state.get("name")
    if module is None:
        return {}
    weight = module._parameters.get(name)
    facts: dict[str, Any] = {"module": _label(module, observation.owners), "name": name,
                             "mask_zeros": observation.state["mask_zeros"],
                             "diff": structure_diff(observation.state["state"], ModuleState.of(module)),
                             "methods_left": _pruning_methods(module, name)}
    if isinstance(weight, torch.Tensor):
        facts.update({"zeros": int((weight == 0).sum().item()), "numel": weight.numel(),
                      "same_object": weight is observation.state["orig"], "parameter": isinstance(weight, nn.Parameter),
                      "shape": list(weight.shape)})
    return facts


# -- parametrizations: weight_norm, spectral_norm, remove_parametrizations ------------------------------------------

def _parametrize_target(observation: Observation) -> tuple[nn.Module | None, str]:
    arguments = observation.arguments()
    module = arguments.get("module")
    name = arguments.get("tensor_name", arguments.get("name", "weight"))
    return (module if isinstance(module, nn.Module) else None), (name if isinstance(name, str) else "weight")


def _parametrize_before(observation: Observation) -> None:
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


def _parametrize_after(observation: Observation, result: Any) -> dict[str, Any]:
    module, name = observation.state.get("module"), observation.state.get("name")
    if module is None:
        return {}
    facts: dict[str, Any] = {"module": _label(module, observation.owners), "name": name,
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


# -- torch.func ----------------------------------------------------------------------------------------------------

def _functional_call_before(observation: Observation) -> None:
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


def _functional_call_after(observation: Observation, result: Any) -> dict[str, Any]:
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
    return {"module": _label(module, observation.owners),
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


def _stack_after(observation: Observation, result: Any) -> dict[str, Any]:
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
                "shares_memory": any(_shares(stacked, t) for t in present),
                "requires_grad": bool(stacked.requires_grad), "is_leaf": bool(stacked.is_leaf)})
    return facts


def _storage(tensor: torch.Tensor) -> int | None:
    """The address of a tensor's memory, or None for meta and lazy tensors (which have none)."""
    if is_uninitialized(tensor) or tensor.device.type == "meta":
        return None
    try:
        return tensor.untyped_storage().data_ptr()
    except Exception:  # noqa: BLE001
        return None


def _shares(a: torch.Tensor, b: torch.Tensor) -> bool:
    first = _storage(a)
    return first is not None and first == _storage(b)


# -- copies and construction ---------------------------------------------------------------------------------------

def _tied(pairs: list[tuple[str, torch.Tensor]]) -> list[list[str]]:
    groups: dict[int, list[str]] = {}
    for name, tensor in pairs:
        groups.setdefault(id(tensor), []).append(name)
    return [names for names in groups.values() if len(names) > 1]


def _deepcopy_after(observation: Observation, result: Any) -> dict[str, Any]:
    source = observation.args[0] if observation.args else None
    if isinstance(source, nn.Module) and isinstance(result, nn.Module):
        old, new = ModuleState.of(source), ModuleState.of(result)
        originals = [t for _, t, _ in old.tensors()]
        old_ids = {id(t) for t in originals}
        old_storages = {_storage(t) for t in originals} - {None}
        copies = list({id(t): t for _, t, _ in new.tensors()}.values())
        by_name = dict((n, t) for n, t, _ in old.tensors())
        return {"source": _label(source, observation.owners), "copy": module_brief(result),
                "tensors": len(copies), "same_objects": sum(1 for t in copies if id(t) in old_ids),
                "shared_storage": sum(1 for t in copies if _storage(t) in old_storages),
                "equal_values": all(torch.equal(t.detach(), by_name[n].detach()) for n, t, _ in new.tensors()
                                    if n in by_name and not is_uninitialized(t) and t.device.type != "meta"),
                "tied_source": _tied(old.params), "tied_copy": _tied(new.params),
                "ties_point_into_copy": all(t is not o for _, t in new.params for o in originals)}
    if isinstance(source, dict) and isinstance(result, dict) and all(isinstance(v, torch.Tensor)
                                                                      for v in source.values()):
        pairs = [(source[k], v) for k, v in result.items() if k in source and isinstance(v, torch.Tensor)]
        return {"state_dict": True, "tensors": len(pairs),
                "shared_storage": sum(1 for o, c in pairs if _shares(o, c)),
                "equal_values": all(torch.equal(o.detach(), c.detach()) for o, c in pairs)}
    return {}


def _construct_after(observation: Observation, result: Any) -> dict[str, Any]:
    cls = observation.function
    public = getattr(nn, cls.__name__, None) is cls
    return {"resolved": f"{cls.__module__}.{cls.__qualname__}", "nn_name": f"nn.{cls.__name__}" if public else None,
            "module": summarize(result, observation.owners) if isinstance(result, nn.Module) else None}


# -- methods of a module --------------------------------------------------------------------------------------------

def _module_before(observation: Observation) -> None:
    if isinstance(observation.receiver, nn.Module):
        observation.state["state"] = ModuleState.of(observation.receiver)


def _cast_after(observation: Observation, result: Any) -> dict[str, Any]:
    module = observation.receiver
    before = observation.state.get("state")
    if before is None:
        return {}
    after = ModuleState.of(module)
    old, new = list(before.briefs.values()), list(after.briefs.values())
    changes: dict[tuple, dict[str, Any]] = {}
    for a, b in zip(old, new):
        key = (a["kind"], a["dtype"], b["dtype"], a["device"], b["device"])
        entry = changes.setdefault(key, {"kind": a["kind"], "from": a["dtype"], "to": b["dtype"],
                                         "device_from": a["device"], "device_to": b["device"], "tensors": 0,
                                         "numel": 0})
        entry["tensors"] += 1
        entry["numel"] += b["numel"]
    params_old = [t for t in old if t["kind"] == "parameter"]
    params_new = [t for t in new if t["kind"] == "parameter"]
    return {"module": _label(module, observation.owners), "method": observation.function.__name__,
            "arguments": [_scalar(a) for a in observation.args], "keywords": {k: _scalar(v) for k, v in
                                                                               observation.kwargs.items()},
            "changes": list(changes.values()),
            "same_parameters": sum(1 for a, b in zip(params_old, params_new) if a["id"] == b["id"]),
            "parameters": len(params_new),
            "bytes_before": _unique_bytes(old), "bytes_after": _unique_bytes(new),
            "returned_self": result is module}


def _unique_bytes(table: list[dict[str, Any]]) -> int:
    return sum({t["id"]: t["bytes"] for t in table}.values())


def _to_empty_after(observation: Observation, result: Any) -> dict[str, Any]:
    facts = _cast_after(observation, result)
    if facts:
        facts["note_values"] = "uninitialised"
    return facts


def _reset_classifier_after(observation: Observation, result: Any) -> dict[str, Any]:
    module = observation.receiver
    before = observation.state.get("state")
    if before is None:
        return {}
    after = ModuleState.of(module)
    old = dict(before.modules)
    new = dict(after.modules)
    replaced = []
    for path in list(dict.fromkeys([p for p, _ in before.modules] + [p for p, _ in after.modules])):
        if path == "" or old.get(path) is new.get(path):
            continue
        parent = path.rsplit(".", 1)[0] if "." in path else ""
        if parent and (old.get(parent) is not new.get(parent)):
            continue  # inside a replaced module: described with it
        replaced.append({"path": path, "old": _module_entry(old.get(path)), "new": _module_entry(new.get(path))})
    return {"module": _label(module, observation.owners), "arguments": [_scalar(a) for a in observation.args],
            "keywords": {k: _scalar(v) for k, v in observation.kwargs.items()}, "replaced": replaced[:NAMES_LIMIT],
            "param_count_before": before.param_count(), "param_count_after": after.param_count()}


def _module_entry(module: nn.Module | None) -> dict[str, Any] | None:
    if module is None:
        return None
    brief = module_brief(module)
    brief["parameters"] = [[n, list(p.shape)] for n, p in module.named_parameters()][:16]
    return brief


class _InitCalls(TorchFunctionMode):
    """Sees, while `reset_parameters` runs, each nn.init function and each fill / random draw applied to one of the
    module's tensors, with the arguments torch passed (the bound a layer computed from its fan-in, for example).
    It only records and then calls the function as it was called, so the result is the same."""

    def __init__(self, names: dict[int, str]) -> None:
        super().__init__()
        self.names = names
        self.calls: list[dict[str, Any]] = []

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        try:
            self._note(func, args, kwargs)
        except Exception:  # noqa: BLE001 - observing must not change what the call does
            pass
        return func(*args, **kwargs)

    def _note(self, func: Any, args: tuple, kwargs: dict) -> None:
        name = getattr(func, "__name__", "")
        public_init = getattr(func, "__module__", None) == "torch.nn.init" and not name.startswith("_")
        if not (public_init or name in FILLS) or len(self.calls) >= NAMES_LIMIT:
            return
        tensor = args[0] if args else kwargs.get("tensor")
        if not isinstance(tensor, torch.Tensor):
            return
        target = self.names.get(id(tensor))
        part = False
        if target is None and tensor._base is not None:
            target, part = self.names.get(id(tensor._base)), True
        if target is None:
            return
        if public_init:
            arguments = init_arguments(func, args, kwargs)
        else:
            arguments = {f"arg{i}": _scalar(a) for i, a in enumerate(args[1:])}
            arguments.update({k: _scalar(v) for k, v in kwargs.items()})
        call = {"fn": name, "tensor": target, "part": part, "args": arguments}
        if public_init:
            with contextlib.suppress(Exception):
                call.update(derived_scale(name, tensor, arguments))
        self.calls.append(call)


def _reset_before(observation: Observation) -> None:
    module = observation.receiver
    if not isinstance(module, nn.Module):
        return
    state = ModuleState.of(module)
    tensors = {n: t for n, t, _ in state.tensors()}
    observation.state.update({"state": state, "values": {n: (snapshot(t), tensor_stats(t)) for n, t in tensors.items()}})
    observation.mode = _InitCalls({id(t): n for n, t in reversed(list(tensors.items()))})


def _reset_after(observation: Observation, result: Any) -> dict[str, Any]:
    module = observation.receiver
    before = observation.state.get("state")
    if before is None:
        return {}
    calls = observation.mode.calls if observation.mode else []
    written = {call["tensor"] for call in calls}
    redrawn = []
    for name, tensor, kind in ModuleState.of(module).tensors():
        old = observation.state["values"].get(name)
        if old is None or is_uninitialized(tensor):
            continue
        change = compare(old[0], tensor, old[1])
        # a tensor torch wrote counts even when its values happen to be what they were (`zero_()` on memory that
        # was zero): after `to_empty` the values before are whatever the memory held
        if change.get("changed") or name in written:
            redrawn.append({"name": name, "kind": kind, "shape": change["shape"], "after": change["after"],
                            "changed": change.get("changed")})
    return {"module": _label(module, observation.owners), "class": type(module).__name__, "calls": calls,
            "changed": redrawn[:NAMES_LIMIT], "tensors": len(before.tensors())}


# -- a tensor moved toward another: lerp_, mul_(d).add_(p, alpha=...) ---------------------------------------------

# the last `mul_` seen by a probe, so that the `add_` chained to it knows the value before the whole update
_LAST_SCALE: dict[str, Any] = {}


def _update_before(observation: Observation) -> None:
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


def _update_after(observation: Observation, result: Any) -> dict[str, Any]:
    tensor = observation.state.get("tensor")
    before = observation.state.get("before")
    if tensor is None or before is None:
        return {}
    name = observation.function.__name__
    args, kwargs = observation.args, observation.kwargs
    if name == "mul_":
        factor = _scalar(args[0] if args else kwargs.get("other"))
        _LAST_SCALE["entry"] = {"id": id(tensor), "version": tensor._version, "before": before,
                                "stats": observation.state["stats"], "factor": factor}
        return {"step": "scale", "factor": factor}
    source = args[0] if args else kwargs.get("end", kwargs.get("other"))
    if not isinstance(source, torch.Tensor):
        return {}
    if name == "lerp_":
        weight = _scalar(args[1] if len(args) > 1 else kwargs.get("weight"))
        facts: dict[str, Any] = {"step": "lerp", "weight": weight}
    else:
        facts = {"step": "add", "alpha": _scalar(kwargs.get("alpha", 1)), "factor": observation.state.get("factor")}
    after = tensor.detach()
    facts.update({
        "target": tensor_summary(tensor, observation.owners, text=False),
        "source": tensor_summary(source, observation.owners, text=False),
        "before": observation.state["stats"], "distance_before": _mean_distance(before, source),
        "distance_after": _mean_distance(after, source),
        "max_change": (after.to(torch.float64) - before.to(torch.float64)).abs().max().item()
        if before.numel() else None})
    if before.numel() <= VALUES_LIMIT:
        facts["before_values"] = before.tolist()
    return facts


BEFORE: dict[str, Callable[[Observation], None]] = {
    "prune": _prune_before, "prune_remove": _prune_remove_before, "parametrize": _parametrize_before,
    "functional_call": _functional_call_before, "cast": _module_before, "to_empty": _module_before,
    "reset_classifier": _module_before, "reset_parameters": _reset_before, "tensor_update": _update_before,
}
AFTER: dict[str, Callable[[Observation, Any], dict[str, Any]]] = {
    "prune": _prune_after, "prune_remove": _prune_remove_after, "parametrize": _parametrize_after,
    "functional_call": _functional_call_after, "stack_module_state": _stack_after, "deepcopy": _deepcopy_after,
    "construct": _construct_after, "cast": _cast_after, "to_empty": _to_empty_after,
    "reset_classifier": _reset_classifier_after, "reset_parameters": _reset_after, "tensor_update": _update_after,
}
# kinds after which the model's tensors may have new names or objects: the owner index is rebuilt
STRUCTURAL = {"prune", "prune_remove", "parametrize", "to_empty", "reset_classifier", "cast"}


__all__ = ["Observation", "kind_of", "STRUCTURAL", "structure_diff", "ModuleState"]

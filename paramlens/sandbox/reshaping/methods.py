"""Methods of a module that re-allocate, re-draw, cast or replace its tensors: `.half()` / `.to(...)` and the other
casts, `to_empty`, `reset_classifier`, and `reset_parameters`, watched with a torch function mode that records each
initialiser torch calls on the module's tensors."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from paramlens.sandbox.reshaping.observation import Observation
from paramlens.sandbox.reshaping.state import NAMES_LIMIT, ModuleState, owner_label, scalar, storage_of
from paramlens.sandbox.runtime import compare, derived_scale, init_arguments, snapshot
from paramlens.sandbox.summaries import is_uninitialized, module_brief, tensor_stats

CASTS = {"half", "float", "double", "bfloat16", "to"}


FILLS = {"uniform_", "normal_", "fill_", "zero_", "copy_", "bernoulli_", "exponential_", "random_"}


def module_before(observation: Observation) -> None:
    if isinstance(observation.receiver, nn.Module):
        observation.state["state"] = ModuleState.of(observation.receiver)


def _states(observation: Observation) -> tuple[nn.Module, ModuleState, ModuleState] | None:
    """The receiver with its state before the call (taken by `module_before`) and now; None when none was taken."""
    before = observation.state.get("state")
    if before is None:
        return None
    return observation.receiver, before, ModuleState.of(observation.receiver)


def cast_after(observation: Observation, result: Any) -> dict[str, Any]:
    states = _states(observation)
    if states is None:
        return {}
    module, before, after = states
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
    return {"module": owner_label(module, observation.owners), "method": observation.function.__name__,
            "arguments": [scalar(a) for a in observation.args], "keywords": {k: scalar(v) for k, v in
                                                                               observation.kwargs.items()},
            "changes": list(changes.values()),
            "same_parameters": sum(1 for a, b in zip(params_old, params_new) if a["id"] == b["id"]),
            "parameters": len(params_new),
            "bytes_before": _unique_bytes(old), "bytes_after": _unique_bytes(new),
            "returned_self": result is module}


def _unique_bytes(table: list[dict[str, Any]]) -> int:
    return sum({t["id"]: t["bytes"] for t in table}.values())


def to_empty_after(observation: Observation, result: Any) -> dict[str, Any]:
    facts = cast_after(observation, result)
    if facts:
        facts["note_values"] = "uninitialised"
    return facts


def reset_classifier_after(observation: Observation, result: Any) -> dict[str, Any]:
    states = _states(observation)
    if states is None:
        return {}
    module, before, after = states
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
    return {"module": owner_label(module, observation.owners), "arguments": [scalar(a) for a in observation.args],
            "keywords": {k: scalar(v) for k, v in observation.kwargs.items()}, "replaced": replaced[:NAMES_LIMIT],
            "param_count_before": before.param_count(), "param_count_after": after.param_count()}


def _module_entry(module: nn.Module | None) -> dict[str, Any] | None:
    if module is None:
        return None
    brief = module_brief(module)
    brief["parameters"] = [[n, list(p.shape)] for n, p in module.named_parameters()][:16]
    return brief


class _InitWatch(TorchFunctionMode):
    """A torch function mode that notes each call (`_note`, in the subclass) and then makes it as it was made, so
    the result is the same; a note that fails is dropped, never raised."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        try:
            self._note(func, args, kwargs)
        except Exception:  # noqa: BLE001 - observing must not change what the call does
            pass
        return func(*args, **kwargs)

    def _note(self, func: Any, args: tuple, kwargs: dict) -> None:
        raise NotImplementedError


class _InitCalls(_InitWatch):
    """Sees, while `reset_parameters` runs, each nn.init function and each fill / random draw applied to one of the
    module's tensors, with the arguments torch passed (the bound a layer computed from its fan-in, for example).
    It only records and then calls the function as it was called, so the result is the same."""

    def __init__(self, names: dict[int, str]) -> None:
        super().__init__()
        self.names = names
        self.calls: list[dict[str, Any]] = []

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
            arguments = {f"arg{i}": scalar(a) for i, a in enumerate(args[1:])}
            arguments.update({k: scalar(v) for k, v in kwargs.items()})
        call = {"fn": name, "tensor": target, "part": part, "args": arguments}
        if public_init:
            with contextlib.suppress(Exception):
                call.update(derived_scale(name, tensor, arguments))
        self.calls.append(call)


def reset_before(observation: Observation) -> None:
    module = observation.receiver
    if not isinstance(module, nn.Module):
        return
    state = ModuleState.of(module)
    tensors = {n: t for n, t, _ in state.tensors()}
    observation.state.update({"state": state, "values": {n: (snapshot(t), tensor_stats(t)) for n, t in tensors.items()}})
    observation.mode = _InitCalls({id(t): n for n, t in reversed(list(tensors.items()))})


def reset_after(observation: Observation, result: Any) -> dict[str, Any]:
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
    return {"module": owner_label(module, observation.owners), "class": type(module).__name__, "calls": calls,
            "changed": redrawn[:NAMES_LIMIT], "tensors": len(before.tensors())}


# transformers' PreTrainedModel: `post_init()` applies the class's `_init_weights` to every submodule and ties the
# weights its `_tied_weights_keys` name; `tie_weights()` does the tying alone
POST_INIT = {"post_init", "tie_weights"}


class _InitTally(_InitWatch):
    """Counts, while `post_init()` runs, the nn.init functions and fills / random draws applied to the module's
    tensors (by function name), and which tensors they wrote. Records only, then calls the function as called."""

    def __init__(self, names: dict[int, str], storages: dict[int, str]) -> None:
        super().__init__()
        self.names = names
        self.storages = storages  # `weight.data.normal_()` writes through a new tensor object: found by its memory
        self.tally: dict[str, int] = {}
        self.written: set[str] = set()

    def _note(self, func: Any, args: tuple, kwargs: dict) -> None:
        name = getattr(func, "__name__", "")
        public_init = getattr(func, "__module__", None) == "torch.nn.init" and not name.startswith("_")
        if not (public_init or name in FILLS):
            return
        tensor = args[0] if args else kwargs.get("tensor")
        if not isinstance(tensor, torch.Tensor):
            return
        target = self.names.get(id(tensor))
        if target is None and tensor._base is not None:
            target = self.names.get(id(tensor._base))
        if target is None and tensor.device.type != "meta":
            target = self.storages.get(tensor.untyped_storage().data_ptr())
        if target is None:
            return
        self.tally[name] = self.tally.get(name, 0) + 1
        self.written.add(target)


class _PostInitWatch:
    """Around `post_init()`: the init-function tally, and how many modules the receiver's own `_init_weights` was
    called on (a counting wrapper in the instance's `__dict__` for the duration of the call, removed afterwards even
    when the call raises; transformers skips initialisation on the meta device, so it may be 0)."""

    def __init__(self, module: nn.Module, tally: _InitTally) -> None:
        self.module = module
        self.tally = tally
        self.init_calls = 0
        self._installed = False

    def __enter__(self) -> "_PostInitWatch":
        original = getattr(self.module, "_init_weights", None)
        if callable(original) and "_init_weights" not in vars(self.module):
            def counting(*args: Any, **kwargs: Any) -> Any:
                self.init_calls += 1
                return original(*args, **kwargs)
            object.__setattr__(self.module, "_init_weights", counting)
            self._installed = True
        self.tally.__enter__()
        return self

    def __exit__(self, *exc: Any) -> bool:
        try:
            self.tally.__exit__(*exc)
        finally:
            if self._installed:
                vars(self.module).pop("_init_weights", None)
        return False


def _shared_groups(module: nn.Module) -> list[list[str]]:
    """Names that reach one Parameter object, for every Parameter reached by more than one name."""
    groups: dict[int, list[str]] = {}
    for name, parameter in module.named_parameters(remove_duplicate=False):
        groups.setdefault(id(parameter), []).append(name)
    return [names for names in groups.values() if len(names) > 1]


def post_init_before(observation: Observation) -> None:
    module = observation.receiver
    if not isinstance(module, nn.Module):
        return
    names: dict[int, str] = {}
    storages: dict[int, str] = {}
    for name, tensor in [*module.named_parameters(remove_duplicate=False), *module.named_buffers()]:
        names.setdefault(id(tensor), name)
        pointer = storage_of(tensor)
        if pointer:
            storages.setdefault(pointer, name)
    observation.state.update({"names": names, "shared": {tuple(g) for g in _shared_groups(module)}})
    observation.mode = _PostInitWatch(module, _InitTally(names, storages))


def post_init_after(observation: Observation, result: Any) -> dict[str, Any]:
    module = observation.receiver
    if "names" not in observation.state:
        return {}
    watch = observation.mode
    tally, written = watch.tally.tally, watch.tally.written
    init = getattr(type(module), "_init_weights", None)
    tied = [g for g in _shared_groups(module) if tuple(g) not in observation.state["shared"]]
    tensors = len({id(t) for t in [*module.parameters(), *module.buffers()]})
    meta = any(p.device.type == "meta" for p in module.parameters())
    return {"module": owner_label(module, observation.owners), "class": type(module).__name__,
            "init_weights": getattr(init, "__qualname__", None), "init_calls": watch.init_calls, "tally": dict(sorted(tally.items())),
            "written": len(written), "tensors": tensors, "submodules": sum(1 for _ in module.modules()),
            "tied": tied[:NAMES_LIMIT], "meta": meta,
            "transformers": any(c.__module__.startswith("transformers.") for c in type(module).__mro__)}

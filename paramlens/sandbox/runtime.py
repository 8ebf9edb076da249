"""The probes the instrumented program calls, running inside the sandboxed child.

Each probe returns exactly what the uninstrumented expression would have produced, so the user's program behaves
as it would without ParamLens; on the side it records a JSON event `{"t": "probe", "id": ..., "v": {...}}`.
Only the first `max_records` evaluations of a probe are recorded (a probe inside an init function runs once per
visited module; inside a loop, many times); later ones are only counted.
"""

from __future__ import annotations

import inspect
import math
import sys
from typing import Any, Callable

import torch
from torch import nn

from paramlens.sandbox.summaries import (
    VALUES_LIMIT,
    is_uninitialized,
    module_brief,
    summarize,
    tensor_stats,
    tensor_summary,
)

SNAPSHOT_LIMIT = 5_000_000  # elements; larger parameters are compared by statistics only


class Recorder:
    def __init__(self, emit: Callable[[dict], None], namespace: dict, output: Any, max_records: int = 8) -> None:
        self.emit = emit
        self.namespace = namespace
        self.output = output  # the capture object that stands in for sys.stdout
        self.max_records = max_records
        self.counts: dict[int, int] = {}
        self.uncounted: set[int] = set()  # probes evaluated past the record limit since the last take_counts
        # every evaluation's result, for probes whose results are a few simple values (`bias is not None`): the
        # records stop at the limit, the tally does not
        self.tallies: dict[int, dict[str, int]] = {}
        self.tallied: set[int] = set()
        self.current_visit: dict[str, Any] | None = None
        self.current_module: nn.Module | None = None
        self.watch_stack: dict[int, list] = {}
        self._index = OwnerIndex()

    # -- bookkeeping -------------------------------------------------------------------------------------------
    def wants(self, probe_id: int) -> bool:
        return self.counts.get(probe_id, 0) < self.max_records

    def record(self, probe_id: int, value: dict[str, Any]) -> None:
        count = self.counts.get(probe_id, 0)
        self.counts[probe_id] = count + 1
        if count >= self.max_records:
            self.uncounted.add(probe_id)
        if count < self.max_records:
            if self.current_visit is not None:
                value["visit"] = dict(self.current_visit)
            self.emit({"t": "probe", "id": probe_id, "n": count, "v": value})

    def tally(self, probe_id: int, value: Any) -> None:
        if not (value is None or (isinstance(value, (bool, int)) and abs(value) < 10**9)):
            return
        key = repr(value)
        seen = self.tallies.setdefault(probe_id, {})
        if key in seen or len(seen) < 8:
            seen[key] = seen.get(key, 0) + 1
            self.tallied.add(probe_id)

    def take_tallies(self) -> dict[str, dict[str, int]]:
        """The tallies that changed since the last call (whole, so the latest event is the truth)."""
        tallies = {str(probe_id): dict(self.tallies[probe_id]) for probe_id in self.tallied}
        self.tallied.clear()
        return tallies

    def take_counts(self) -> dict[str, int]:
        """Total evaluations of the probes that went past the record limit (JSON keys are strings)."""
        counts = {str(probe_id): self.counts[probe_id] for probe_id in self.uncounted}
        self.uncounted.clear()
        return counts

    def top_level_modules(self) -> list[tuple[str, nn.Module]]:
        return [(name, value) for name, value in list(self.namespace.items())
                if isinstance(value, nn.Module) and not name.startswith("__")]

    def owners(self, value: Any) -> list[dict[str, str]]:
        """Which top-level module variables hold this tensor or module, and how (`same` object, its `.data`,
        or a `view` into its storage). Inside a method, before the model is bound to any top-level name, the
        enclosing `self` is searched instead (`self.blocks.0.mlp.2.weight`)."""
        found = self._index.lookup(value)
        if not found:
            found = _owners_in(_enclosing_selves(self.namespace.get("__file__")), value)
        return found[:16]

    def reindex(self, names: list[str]) -> None:
        """After a statement (re)bound these module variables: index their tensors again. Structural edits of a
        model that stays bound to the same name (add_module, re-tying at top level) are picked up when any
        variable is rebound, or by `reindex_all`."""
        for name in names:
            value = self.namespace.get(name)
            self._index.update(name, value if isinstance(value, nn.Module) else None)

    def reindex_all(self) -> None:
        self._index = OwnerIndex()
        for name, module in self.top_level_modules():
            self._index.update(name, module)

    def summarize(self, value: Any) -> dict[str, Any]:
        return summarize(value, self.owners)


def reachable_module_types(namespace: dict) -> set[type]:
    """The classes of every module reachable from the namespace's module variables (submodules included)."""
    kinds: set[type] = set()
    for value in list(namespace.values()):
        if isinstance(value, nn.Module):
            kinds.update(type(module) for module in value.modules())
    return kinds


class OwnerIndex:
    """Tensors and modules of the top-level module variables, indexed by identity and by storage across all
    variables, so that naming the owner of a probed value is a few dictionary lookups whatever the number of
    models, and a statement that binds one more model re-indexes only that model (a long file binds hundreds of
    modules and records thousands of values). Results come in the order the variables were first bound."""

    def __init__(self) -> None:
        self.order: dict[str, int] = {}  # variable -> position of its first binding
        self.bound = 0
        self.keys: dict[str, tuple[list[int], list[int], list[int]]] = {}  # variable -> its keys in the maps below
        self.by_id: dict[int, dict[str, list[str]]] = {}  # id(tensor) -> variable -> paths
        self.by_storage: dict[int, dict[str, list[tuple[str, torch.Tensor]]]] = {}
        self.modules: dict[int, dict[str, list[str]]] = {}
        self.buffer_paths: set[str] = set()  # names that are buffers (register_buffer), not parameters

    def _forget(self, var: str) -> None:
        ids, storages, modules = self.keys.pop(var, ([], [], []))
        for table, keys in ((self.by_id, ids), (self.by_storage, storages), (self.modules, modules)):
            for key in keys:
                owners = table.get(key)
                if owners is not None:
                    owners.pop(var, None)
                    if not owners:
                        del table[key]
        if self.buffer_paths:
            self.buffer_paths = {path for path in self.buffer_paths if not path.startswith(f"{var}.")}

    def update(self, var: str, module: nn.Module | None) -> None:
        self._forget(var)
        if module is None:
            self.order.pop(var, None)
            return
        if var not in self.order:
            self.order[var] = self.bound
            self.bound += 1
        ids: list[int] = []
        storages: list[int] = []
        module_ids: list[int] = []
        for name, sub in module.named_modules(remove_duplicate=False):
            self.modules.setdefault(id(sub), {}).setdefault(var, []).append(f"{var}.{name}" if name else var)
            module_ids.append(id(sub))
        buffers = {id(tensor) for _, tensor in module.named_buffers(remove_duplicate=False)}
        tensors = list(module.named_parameters(remove_duplicate=False)) + \
            list(module.named_buffers(remove_duplicate=False))
        for name, tensor in tensors:
            path = f"{var}.{name}"
            self.by_id.setdefault(id(tensor), {}).setdefault(var, []).append(path)
            ids.append(id(tensor))
            if id(tensor) in buffers:
                self.buffer_paths.add(path)
            if is_uninitialized(tensor) or tensor.device.type == "meta":
                continue
            try:
                storage = tensor.untyped_storage().data_ptr()
            except Exception:
                continue
            self.by_storage.setdefault(storage, {}).setdefault(var, []).append((path, tensor))
            storages.append(storage)
        self.keys[var] = (ids, storages, module_ids)

    def _ordered(self, owners: dict[str, list]) -> list:
        return [item for var in sorted(owners, key=lambda v: self.order.get(v, 0)) for item in owners[var]]

    def lookup(self, value: Any) -> list[dict[str, str]]:
        if isinstance(value, nn.Module):
            return [{"path": path, "relation": "same"} for path in self._ordered(self.modules.get(id(value), {}))]
        if not isinstance(value, torch.Tensor):
            return []
        found = [{"path": path, "relation": "same", **({"buffer": True} if path in self.buffer_paths else {})}
                 for path in self._ordered(self.by_id.get(id(value), {}))]
        if is_uninitialized(value) or value.device.type == "meta":
            return found
        try:
            storage = value.untyped_storage().data_ptr()
        except Exception:
            return found
        sharing = self.by_storage.get(storage)
        if not sharing:
            return found
        same = {entry["path"] for entry in found}
        for path, tensor in self._ordered(sharing):
            if path in same:
                continue
            if tensor.data_ptr() == value.data_ptr() and tensor.shape == value.shape and \
                    tensor.stride() == value.stride():
                found.append({"path": path, "relation": "data"})
            else:
                found.append({"path": path, "relation": "view"})
        return found


def _owners_in(modules: list[tuple[str, nn.Module]], value: Any) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    if isinstance(value, nn.Module):
        for var, module in modules:
            for name, sub in module.named_modules(remove_duplicate=False):
                if sub is value:
                    found.append({"path": f"{var}.{name}" if name else var, "relation": "same"})
        return found
    if not isinstance(value, torch.Tensor):
        return found
    real = not is_uninitialized(value) and value.device.type != "meta"
    storage = None
    if real:
        try:
            storage = value.untyped_storage().data_ptr()
        except Exception:
            real = False
    for var, module in modules:
        tensors = list(module.named_parameters(remove_duplicate=False)) + \
            list(module.named_buffers(remove_duplicate=False))
        buffers = {id(tensor) for _, tensor in module.named_buffers(remove_duplicate=False)}
        for name, tensor in tensors:
            if tensor is value:
                relation = "same"
            elif not real or is_uninitialized(tensor) or tensor.device.type == "meta":
                continue  # meta and lazy tensors have no storage to compare: identity only
            elif tensor.untyped_storage().data_ptr() != storage:
                continue
            elif tensor.data_ptr() == value.data_ptr() and tensor.shape == value.shape and \
                    tensor.stride() == value.stride():
                relation = "data"
            else:
                relation = "view"
            found.append({"path": f"{var}.{name}", "relation": relation,
                          **({"buffer": True} if id(tensor) in buffers else {})})
    return found


def _enclosing_selves(path: str | None, depth: int = 64) -> list[tuple[str, nn.Module]]:
    """The modules bound to `self` in the calling frames of the user's file (innermost first): where a probe
    inside `__init__` or an init method finds the model that is being built. Torch's own frames are skipped:
    `Module.apply` recurses with `self` bound to each submodule, and the outermost of those is not the model."""
    selves: list[tuple[str, nn.Module]] = []
    frame = sys._getframe(2)
    while frame is not None and depth > 0:
        if path is not None and frame.f_code.co_filename != path:
            frame = frame.f_back
            depth -= 1
            continue
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, nn.Module) and all(candidate is not s for _, s in selves):
            selves.append(("self", candidate))
        frame = frame.f_back
        depth -= 1
    return selves[-1:]  # the outermost `self`: the model being built, so names are complete


def _snapshot(tensor: torch.Tensor) -> torch.Tensor | None:
    if is_uninitialized(tensor) or tensor.device.type == "meta" or tensor.numel() > SNAPSHOT_LIMIT:
        return None
    return tensor.detach().clone()


def compare(before: torch.Tensor | None, after: torch.Tensor, before_stats: dict | None) -> dict[str, Any]:
    """What an in-place operation did to a tensor."""
    result: dict[str, Any] = {"shape": list(after.shape) if not is_uninitialized(after) else None,
                              "before": before_stats, "after": tensor_stats(after)}
    if before is not None and not is_uninitialized(after) and before.shape == after.shape:
        with torch.no_grad():
            now = after.detach()
            different = ~((before == now) | (torch.isnan(before) & torch.isnan(now)))
            result["changed"] = int(different.sum().item())
            result["zeroed"] = int(((before != 0) & (now == 0)).sum().item())
            result["numel"] = now.numel()
            if now.numel() <= VALUES_LIMIT:
                result["before_values"] = before.tolist()
                result["after_values"] = now.tolist()
    return result


# -- fan-based initialisers: the numbers torch derives from the tensor's shape ------------------------------------

def _init_arguments(function: Callable, args: tuple, kwargs: dict) -> dict[str, Any]:
    try:
        bound = inspect.signature(function).bind(*args, **kwargs)
        bound.apply_defaults()
    except (TypeError, ValueError):
        return {}
    arguments = dict(bound.arguments)
    arguments.pop("tensor", None)
    arguments.pop("generator", None)
    return {key: value if isinstance(value, (int, float, str, bool, type(None))) else repr(value)
            for key, value in arguments.items()}


def derived_scale(name: str, tensor: torch.Tensor, arguments: dict[str, Any]) -> dict[str, Any]:
    """fan_in/fan_out, gain and the bound (uniform) or std (normal) torch uses, computed with torch's own helpers."""
    facts: dict[str, Any] = {}
    if tensor.dim() < 2 or not any(key in name for key in ("xavier", "kaiming")):
        return facts
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(tensor)
    facts.update({"fan_in": fan_in, "fan_out": fan_out})
    if "xavier" in name:
        gain = float(arguments.get("gain", 1.0))
        facts["gain"] = gain
        if name.startswith("xavier_uniform"):
            facts["bound"] = gain * math.sqrt(6.0 / (fan_in + fan_out))
        else:
            facts["std"] = gain * math.sqrt(2.0 / (fan_in + fan_out))
    else:
        mode = arguments.get("mode", "fan_in")
        fan = fan_in if mode == "fan_in" else fan_out
        gain = nn.init.calculate_gain(arguments.get("nonlinearity", "leaky_relu"), arguments.get("a", 0))
        facts.update({"gain": gain, "fan": fan, "mode": mode})
        std = gain / math.sqrt(fan) if fan else None
        if name.startswith("kaiming_uniform") and std is not None:
            facts["bound"] = math.sqrt(3.0) * std
        else:
            facts["std"] = std
    return facts


def install(recorder: Recorder, namespace: dict) -> None:
    """Puts the probe functions into the namespace the user's program runs in."""

    def value_probe(probe_id: int, value: Any) -> Any:
        recorder.tally(probe_id, value)
        if recorder.wants(probe_id):
            recorder.record(probe_id, recorder.summarize(value))
        else:
            recorder.record(probe_id, {})
        return value

    def method_probe(probe_id: int, receiver: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        if not recorder.wants(probe_id):
            recorder.record(probe_id, {})
            return getattr(receiver, method)(*args, **kwargs)
        try:
            result = getattr(receiver, method)(*args, **kwargs)
        except Exception as error:
            event = {"kind": "method", "method": method, "error": f"{type(error).__name__}: {error}"[:2000]}
            if isinstance(receiver, nn.Module):
                event["receiver"] = module_brief(receiver)
            recorder.record(probe_id, event)
            raise
        is_generator = inspect.isgenerator(result)
        items = list(result) if is_generator else None
        event: dict[str, Any] = {"kind": "method", "method": method}
        if isinstance(receiver, nn.Module):
            event["receiver"] = module_brief(receiver)
            event["receiver"]["owner"] = recorder.owners(receiver)
        if items is not None:
            event["items"] = [_item(item, recorder) for item in items[:300]]
            event["count"] = len(items)
        if method in {"register_buffer", "register_parameter"}:
            tensor = args[1] if len(args) > 1 else kwargs.get("tensor", kwargs.get("param"))
            event["name"] = args[0] if args else kwargs.get("name")
            event["tensor"] = tensor_summary(tensor) if isinstance(tensor, torch.Tensor) else None
            event["persistent"] = bool(kwargs.get("persistent", args[2] if len(args) > 2 else True))
        if method == "requires_grad_":
            if isinstance(receiver, nn.Module):
                params = list(receiver.parameters())
                event["trainable"] = sum(p.numel() for p in params if p.requires_grad and not is_uninitialized(p))
                event["total"] = sum(p.numel() for p in params if not is_uninitialized(p))
                event["tensors"] = len(params)
            elif isinstance(receiver, torch.Tensor):
                event["requires_grad"] = bool(receiver.requires_grad)
                event["tensor"] = tensor_summary(receiver, recorder.owners, text=False)
        if method == "load_state_dict":
            source = args[0] if args else kwargs.get("state_dict")
            event["loaded"] = len(source) if hasattr(source, "__len__") else None
            event["missing"] = list(getattr(result, "missing_keys", []))[:64]
            event["unexpected"] = list(getattr(result, "unexpected_keys", []))[:64]
            event["strict"] = bool(kwargs.get("strict", args[1] if len(args) > 1 else True))
        if method in {"add_module", "register_module"}:
            event["name"] = args[0] if args else kwargs.get("name")
            child = args[1] if len(args) > 1 else kwargs.get("module")
            event["child"] = module_brief(child) if isinstance(child, nn.Module) else None
            if isinstance(receiver, nn.Module):
                event["children_after"] = list(receiver._modules.keys())[:64]
        recorder.record(probe_id, event)
        return iter(items) if items is not None else result

    def call_probe(probe_id: int, function: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(function, nn.Module) or not recorder.wants(probe_id):
            if isinstance(function, nn.Module):
                recorder.record(probe_id, {})
            return function(*args, **kwargs)
        inputs = [_brief_value(arg) for arg in args] + [_brief_value(v) for v in kwargs.values()]
        event: dict[str, Any] = {"kind": "forward", "module": recorder.summarize(function), "inputs": inputs}
        event["module"].pop("text", None)
        try:
            output = function(*args, **kwargs)
        except Exception as error:
            event["error"] = f"{type(error).__name__}: {error}"
            recorder.record(probe_id, event)
            raise
        event["output"] = summarize(output)
        if any(p.get("lazy") for p in event["module"].get("parameters", [])):
            # a lazy module's first forward gave its parameters their shapes (and made it its plain class)
            after = recorder.summarize(function)
            after.pop("text", None)
            event["after"] = after
        recorder.record(probe_id, event)
        return output

    def apply_probe(probe_id: int, receiver: Any, function: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(receiver, nn.Module) or args or kwargs:
            return receiver.apply(function, *args, **kwargs)
        if not recorder.wants(probe_id):
            recorder.record(probe_id, {})
            return receiver.apply(function)
        paths: dict[int, list[str]] = {}
        for name, module in receiver.named_modules(remove_duplicate=False):
            paths.setdefault(id(module), []).append(name)
        visits: list[dict[str, Any]] = []
        output_start = recorder.output.tell_text()

        def visit(module: nn.Module) -> Any:
            own = list(module.named_parameters(recurse=False))
            snapshots = {name: (_snapshot(p), tensor_stats(p), p._version) for name, p in own}
            entry = {"paths": paths.get(id(module), ["?"]), "class": type(module).__name__,
                     "extra": module.extra_repr()[:200], "params": [name for name, _ in own], "changed": []}
            visits.append(entry)
            previous = (recorder.current_visit, recorder.current_module)
            recorder.current_visit = {"apply": probe_id, "index": len(visits) - 1, "path": entry["paths"][0],
                                      "class": entry["class"]}
            recorder.current_module = module
            printed_from = recorder.output.tell_text()
            try:
                return function(module)
            finally:
                recorder.current_visit, recorder.current_module = previous
                entry["output"] = recorder.output.text_since(printed_from)
                for name, param in own:
                    before, before_stats, version = snapshots[name]
                    change = compare(before, param, before_stats)
                    change["name"] = name
                    if before is None:
                        # no copy to compare (meta device, or too large): an in-place op bumped the version
                        # counter, or the statistics moved (`.data` writes keep the parameter's version)
                        if param._version == version and (before_stats is None or
                                                          before_stats == change.get("after")):
                            continue
                    elif not change.get("changed", 1):
                        continue
                    entry["changed"].append(change)

        event: dict[str, Any] = {"kind": "apply", "fn": getattr(function, "__name__", repr(function)),
                                 "receiver": module_brief(receiver), "visits": visits}
        event["receiver"]["owner"] = recorder.owners(receiver)
        try:
            result = receiver.apply(visit)
        except Exception as error:
            event["error"] = f"{type(error).__name__}: {error}"
            event["output"] = recorder.output.text_since(output_start)
            recorder.record(probe_id, event)
            raise
        event["output"] = recorder.output.text_since(output_start)
        event["returned_receiver"] = result is receiver
        recorder.record(probe_id, event)
        return result

    def init_probe(probe_id: int, function: Any, *args: Any, **kwargs: Any) -> Any:
        tensor = args[0] if args else kwargs.get("tensor")
        if not isinstance(tensor, torch.Tensor) or not recorder.wants(probe_id):
            if isinstance(tensor, torch.Tensor):
                recorder.record(probe_id, {})
            return function(*args, **kwargs)
        name = getattr(function, "__name__", "init")
        arguments = _init_arguments(function, args, kwargs)
        before, before_stats = _snapshot(tensor), tensor_stats(tensor)
        event: dict[str, Any] = {"kind": "init", "fn": name, "args": arguments,
                                 "shape": None if is_uninitialized(tensor) else list(tensor.shape),
                                 "owner": recorder.owners(tensor)}
        if recorder.current_module is not None:
            for param_name, param in recorder.current_module.named_parameters(recurse=False):
                if param is tensor:
                    event["param_name"] = param_name
        try:
            event.update(derived_scale(name, tensor, arguments))
        except Exception as error:
            event["scale_error"] = f"{type(error).__name__}: {error}"
        try:
            result = function(*args, **kwargs)
        except Exception as error:
            event["error"] = f"{type(error).__name__}: {error}"
            recorder.record(probe_id, event)
            raise
        event.update(compare(before, tensor, before_stats))
        recorder.record(probe_id, event)
        return result

    def watch_probe(probe_id: int, phase: int, thunk: Callable[[], Any]) -> None:
        stack = recorder.watch_stack.setdefault(probe_id, [])
        if phase == 0:
            stack.append(None)
            if not recorder.wants(probe_id):
                return
            try:
                tensor = thunk()
            except Exception:
                return
            if isinstance(tensor, torch.Tensor):
                stack[-1] = (tensor, _snapshot(tensor), tensor_stats(tensor))
            return
        snapshot = stack.pop() if stack else None
        if snapshot is None:
            if not recorder.wants(probe_id):
                recorder.record(probe_id, {})
            return
        tensor, before, before_stats = snapshot
        event = {"kind": "mutation", **compare(before, tensor, before_stats),
                 "tensor": tensor_summary(tensor, recorder.owners)}
        recorder.record(probe_id, event)

    def has_instance(class_name: str) -> bool:
        """Whether any module reachable from the namespace is an instance of the file's class `class_name`."""
        cls = namespace.get(class_name)
        return isinstance(cls, type) and any(issubclass(kind, cls) for kind in reachable_module_types(namespace))

    namespace.update({"__pl_has_instance__": has_instance})
    namespace.update({"__pl_v__": value_probe, "__pl_m__": method_probe, "__pl_c__": call_probe,
                      "__pl_a__": apply_probe, "__pl_i__": init_probe, "__pl_w__": watch_probe})


def _brief_value(value: Any) -> dict[str, Any]:
    if isinstance(value, torch.Tensor):
        return {"kind": "tensor", "shape": None if is_uninitialized(value) else list(value.shape),
                "dtype": str(value.dtype).replace("torch.", "")}
    return {"kind": "object", "type": type(value).__name__}


def _item(item: Any, recorder: Recorder) -> dict[str, Any]:
    """One element yielded by named_parameters()/parameters()/named_modules()/..."""
    name = None
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        name, item = item
    if isinstance(item, torch.Tensor):
        lazy = is_uninitialized(item)
        return {"name": name, "kind": "tensor", "shape": None if lazy else list(item.shape),
                "numel": 0 if lazy else item.numel(), "dtype": str(item.dtype).replace("torch.", ""),
                "requires_grad": bool(item.requires_grad), "parameter": isinstance(item, nn.Parameter)}
    if isinstance(item, nn.Module):
        brief = module_brief(item)
        brief["name"] = name
        return brief
    return {"name": name, "kind": "object", "type": type(item).__name__}

"""The recorder behind the probes (probes.py), inside the sandboxed child: what is recorded, how often, and how the
values are named.

Each record is a JSON event `{"t": "probe", "id": ..., "v": {...}}`. Only the first `max_records` evaluations of
a probe are recorded (a probe inside an init function runs once per visited module; inside a loop, many times);
later ones are only counted. Owners name a tensor or module by where it sits in the top-level models
(`net.2.weight`), or inside the model being built (`self.blocks.0.mlp.2.weight`). Once a loop has been cut by the
loop budget (loops.py), every record carries `after_cut`, so no value is presented as the program's when it is not.
"""

from __future__ import annotations

import inspect
import math
import sys
from collections import OrderedDict
from typing import Any, Callable, NamedTuple

import torch
from torch import nn

from paramlens.sandbox.protocol import Event
from paramlens.sandbox.summaries import COMPUTE, VALUES_LIMIT, content_digest, is_uninitialized, plain_number, \
    plain_values, summarize, tensor_stats

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
        self.first_cut: dict[str, Any] | None = None  # the first loop the budget cut: later values are labelled
        self.cuts = 0
        self.instantiated: set[type] = set()  # module classes that had an instance during the run
        # a record showed a weight matrix set to one constant: after the statement, symmetry.py checks the models
        # that hold the written tensors (`constant_models`, top-level names), or every model when a written tensor
        # belongs to none the run can name (None): checking every model after every constant init made a long
        # file quadratic
        self.constant_written = False
        self.constant_models: set[str] | None = set()

    def loop_cut(self, cut: dict[str, Any]) -> None:
        """From now on the program's state is not the one `python file.py` reaches: label what follows."""
        self.cuts += 1
        if self.first_cut is None:
            self.first_cut = {"line": cut["line"], "iterations": cut["iterations"], "of": cut.get("of")}

    def labels(self) -> dict[str, Any]:
        return {"after_cut": dict(self.first_cut)} if self.first_cut is not None else {}

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
            if self.first_cut is not None and value:
                value["after_cut"] = dict(self.first_cut)
            self.emit({"t": Event.PROBE, "id": probe_id, "n": count, "v": value})
        if _writes_constant_matrix(value):
            self.constant_written = True
            owners = _owner_models(value)
            if owners is None or self.constant_models is None:
                self.constant_models = None
            else:
                self.constant_models.update(owners)

    def take_constant_models(self) -> set[str] | None:
        """The models a constant was written into since the last call (None: unknown, check them all)."""
        models, self.constant_models = self.constant_models, set()
        self.constant_written = False
        return models

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

    def top_level_modules(self, among: set[str] | None = None) -> list[tuple[str, nn.Module]]:
        """The module variables, in the namespace's order; only those named in `among` when it is given (found by
        name: a long file's namespace has thousands of names, and the symmetry check after each constant init
        asks for the one or two models it wrote)."""
        if among is None:
            return [(name, value) for name, value in list(self.namespace.items())
                    if isinstance(value, nn.Module) and not name.startswith("__")]
        found = [name for name in among if isinstance(self.namespace.get(name), nn.Module) and not name.startswith("__")]
        if len(found) > 1:
            order = {name: position for position, name in enumerate(self.namespace) if name in among}
            found.sort(key=order.__getitem__)
        return [(name, self.namespace[name]) for name in found]

    def owners(self, value: Any) -> list[dict[str, str]]:
        """Which top-level module variables hold this tensor or module, and how (`same` object, its `.data`,
        or a `view` into its storage), named by where it sits *now*. Inside a method, before the model is bound to
        any top-level name, the enclosing `self` is searched instead (`self.blocks.0.mlp.2.weight`)."""
        self._refresh()
        found = self._index.lookup(value)
        stale = {hit["path"].split(".", 1)[0] for hit in found if not self._still_holds(hit, value)}
        if stale:
            # the model changed since it was indexed (a layer replaced, `to_empty()`, a parametrization removed):
            # a name from before would be wrong, so index it again and ask again
            self._index.dirty.update(stale)
            self._refresh()
            found = [hit for hit in self._index.lookup(value) if self._still_holds(hit, value)]
        if not found:
            found = _owners_in(_enclosing_selves(self.namespace.get("__file__")), value)
        return found[:16]

    def structure_changed(self, module: nn.Module) -> None:
        """Called by torch's registration hooks and after `Module._apply` (`.to()`, `to_empty()`, `.half()`): the
        variables whose models contain `module` are indexed again before the next lookup."""
        self._index.dirty.update(self._index.modules.get(id(module), {}).keys())

    def _refresh(self) -> None:
        if self._index.dirty:
            dirty, self._index.dirty = self._index.dirty, set()
            self.reindex(sorted(dirty))

    def _still_holds(self, hit: dict[str, str], value: Any) -> bool:
        """Whether the path of an index hit still leads to this value (same object, or the same storage)."""
        target = _resolve(self.namespace, hit["path"])
        if target is None:
            return False
        if hit["relation"] == "same":
            return target is value
        if not isinstance(target, torch.Tensor) or not isinstance(value, torch.Tensor):
            return False
        try:
            return target.untyped_storage().data_ptr() == value.untyped_storage().data_ptr()
        except Exception:  # noqa: BLE001 - meta or lazy tensors have no storage to compare
            return False

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


def _writes_constant_matrix(value: dict[str, Any]) -> bool:
    """An init, an in-place edit or an apply visit that left a tensor with one value everywhere: a weight matrix
    (the units' incoming weights) or a vector (their biases, which decide whether equal rows make equal units)."""
    changes = [value] + [change for visit in value.get("visits", []) for change in visit.get("changed", [])]
    return any((change.get("after") or {}).get("all_equal") for change in changes if isinstance(change, dict))


def _owner_models(value: dict[str, Any]) -> set[str] | None:
    """The top-level names holding what a record wrote (its tensor's owners, or the module `apply` ran on); None
    when it names none (a tensor of a model not bound to any top-level name yet)."""
    owners = list(value.get("owner") or []) + list((value.get("receiver") or {}).get("owner") or [])
    names = {str(owner.get("path", "")).split(".", 1)[0] for owner in owners if isinstance(owner, dict)}
    names.discard("")
    return names or None


def _resolve(namespace: dict, path: str) -> Any:
    """`net.2.weight` -> the object at that path now (a module, parameter or buffer), or None."""
    head, _, rest = path.partition(".")
    current: Any = namespace.get(head)
    for part in rest.split(".") if rest else []:
        if not isinstance(current, nn.Module):
            return None
        for table in (current._parameters, current._buffers, current._modules):
            if part in table:
                current = table[part]
                break
        else:
            return None
    return current


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
        # variable -> its keys in the maps below (tensor ids, storages, module ids, tensor paths)
        self.keys: dict[str, tuple[list[int], list[int], list[int], list[str]]] = {}
        self.by_id: dict[int, dict[str, list[str]]] = {}  # id(tensor) -> variable -> paths
        self.by_storage: dict[int, dict[str, list[tuple[str, torch.Tensor]]]] = {}
        self.modules: dict[int, dict[str, list[str]]] = {}
        self.buffer_paths: set[str] = set()  # names that are buffers (register_buffer), not parameters
        self.dirty: set[str] = set()  # variables whose models changed structure since they were indexed
        # path -> the registration it comes from ("<id of the owning module>:<attribute>"): two paths with one slot
        # are one layer reached twice (an alias), two slots holding one tensor are a tie
        self.slots: dict[str, str] = {}

    def _forget(self, var: str) -> None:
        ids, storages, modules, paths = self.keys.pop(var, ([], [], [], []))
        for table, keys in ((self.by_id, ids), (self.by_storage, storages), (self.modules, modules)):
            for key in keys:
                owners = table.get(key)
                if owners is not None:
                    owners.pop(var, None)
                    if not owners:
                        del table[key]
        # only this variable's own paths (looking through every path of every model made each rebinding cost as
        # much as all the models of a long file)
        for path in paths:
            self.slots.pop(path, None)
            self.buffer_paths.discard(path)

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
        paths: list[str] = []
        for name, sub in module.named_modules(remove_duplicate=False):
            self.modules.setdefault(id(sub), {}).setdefault(var, []).append(f"{var}.{name}" if name else var)
            module_ids.append(id(sub))
        for name, tensor, slot, buffer in module_tensors(module):
            path = f"{var}.{name}"
            self.by_id.setdefault(id(tensor), {}).setdefault(var, []).append(path)
            self.slots[path] = slot
            paths.append(path)
            ids.append(id(tensor))
            if buffer:
                self.buffer_paths.add(path)
            if is_uninitialized(tensor) or tensor.device.type == "meta":
                continue
            try:
                storage = tensor.untyped_storage().data_ptr()
            except Exception:
                continue
            self.by_storage.setdefault(storage, {}).setdefault(var, []).append((path, tensor))
            storages.append(storage)
        self.keys[var] = (ids, storages, module_ids, paths)

    def _ordered(self, owners: dict[str, list]) -> list:
        return [item for var in sorted(owners, key=lambda v: self.order.get(v, 0)) for item in owners[var]]

    def lookup(self, value: Any) -> list[dict[str, str]]:
        if isinstance(value, nn.Module):
            return [{"path": path, "relation": "same"} for path in self._ordered(self.modules.get(id(value), {}))]
        if not isinstance(value, torch.Tensor):
            return []
        found = [{"path": path, "relation": "same", "slot": self.slots.get(path, path),
                  **({"buffer": True} if path in self.buffer_paths else {})}
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


def module_tensors(module: nn.Module) -> list[tuple[str, torch.Tensor, str, bool]]:
    """Every parameter and buffer under `module` with duplicates, as (name, tensor, slot, is_buffer): the same
    order as `named_parameters(remove_duplicate=False)` then `named_buffers(...)`; the slot names the registration
    (the owning module object and the attribute)."""
    parameters, buffers = [], []
    for prefix, sub in module.named_modules(remove_duplicate=False):
        for table, into, is_buffer in ((sub._parameters, parameters, False), (sub._buffers, buffers, True)):
            for leaf, tensor in table.items():
                if tensor is not None:
                    into.append((f"{prefix}.{leaf}" if prefix else leaf, tensor, f"{id(sub)}:{leaf}", is_buffer))
    return parameters + buffers


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
        for name, tensor, slot, buffer in module_tensors(module):
            extra: dict[str, Any] = {}
            if tensor is value:
                relation = "same"
                extra["slot"] = slot
            elif not real or is_uninitialized(tensor) or tensor.device.type == "meta":
                continue  # meta and lazy tensors have no storage to compare: identity only
            elif tensor.untyped_storage().data_ptr() != storage:
                continue
            elif tensor.data_ptr() == value.data_ptr() and tensor.shape == value.shape and \
                    tensor.stride() == value.stride():
                relation = "data"
            else:
                relation = "view"
            found.append({"path": f"{var}.{name}", "relation": relation, **extra, **({"buffer": True} if buffer else {})})
    return found


_OPTIMIZED = inspect.CO_OPTIMIZED  # a function's frame: its locals are the code's variables, nothing else


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
        code = frame.f_code
        if code.co_flags & _OPTIMIZED and "self" not in code.co_varnames and "self" not in code.co_cellvars and \
                "self" not in code.co_freevars:
            # a function without a `self`: reading its f_locals would copy all its locals into a dict first
            frame = frame.f_back
            depth -= 1
            continue
        candidate = frame.f_locals.get("self")
        # a module whose `nn.Module.__init__` has not run yet (a subclass building children before calling
        # `super().__init__(...)` with them) has no `_modules` to search: it owns nothing yet
        if isinstance(candidate, nn.Module) and "_modules" in candidate.__dict__ and \
                all(candidate is not s for _, s in selves):
            selves.append(("self", candidate))
        frame = frame.f_back
        depth -= 1
    return selves[-1:]  # the outermost `self`: the model being built, so names are complete


def snapshot(tensor: torch.Tensor) -> torch.Tensor | None:
    if is_uninitialized(tensor) or tensor.device.type == "meta" or tensor.numel() > SNAPSHOT_LIMIT:
        return None
    return tensor.detach().clone()


class Before(NamedTuple):
    """A tensor before a statement or call that may write it: its copy (None: meta, lazy or too large), its
    statistics, and the digest of its values (None: not digestible), taken once for both and for `compare`."""

    copy: torch.Tensor | None
    stats: dict[str, Any] | None
    key: tuple | None


def before_write(tensor: torch.Tensor) -> Before:
    key = content_digest(tensor)
    return Before(snapshot(tensor), tensor_stats(tensor, key), key)


def compare(before: torch.Tensor | None, after: torch.Tensor, before_stats: dict | None,
            before_key: Any = COMPUTE) -> dict[str, Any]:
    """What an in-place operation did to a tensor. A function of the two tensors' values alone: the comparisons of
    the same values are kept under their digests (an `apply` visit compares each parameter with its copy from
    before the visit, after the init calls inside it compared it with theirs, from the same values). The caller
    may add keys to the result, not change what it holds. `before_key`: the digest of `before`'s values, when
    the caller has it (before_write)."""
    after_key = content_digest(after)
    key = None
    if before is not None and after_key is not None:
        if before_key is COMPUTE:
            before_key = content_digest(before)
        if before_key is not None:
            key = (before_key, after_key)
            known = _COMPARISONS.get(key)
            if known is not None:
                _COMPARISONS.move_to_end(key)
                return dict(known)
    result = _compared(before, after, before_stats, tensor_stats(after, after_key))
    if key is not None:
        _COMPARISONS[key] = dict(result)
        if len(_COMPARISONS) > COMPARISONS_KEPT:
            _COMPARISONS.popitem(last=False)
    return result


COMPARISONS_KEPT = 1024
_COMPARISONS: "OrderedDict[tuple, dict[str, Any]]" = OrderedDict()


def _compared(before: torch.Tensor | None, after: torch.Tensor, before_stats: dict | None,
              after_stats: dict | None) -> dict[str, Any]:
    result: dict[str, Any] = {"shape": list(after.shape) if not is_uninitialized(after) else None,
                              "before": before_stats, "after": after_stats}
    if before is not None and not is_uninitialized(after) and before.shape == after.shape:
        # `before` is a detached copy and `now` the detached values: nothing for autograd to record (no `no_grad()`,
        # ~2 µs a use)
        now = after.detach()
        # what the statistics already say is not computed again (a probe compares every parameter an `apply`
        # visit or an init call may write, several times a statement): without a NaN on either side, NaN
        # equals NaN needs no test; with no zero after it, nothing was zeroed
        if _finite_both(before_stats, after_stats):
            different = before != now
        else:
            different = ~((before == now) | (torch.isnan(before) & torch.isnan(now)))
        result["changed"] = int(different.sum().item())
        if after_stats is not None and after_stats.get("zeros") == 0:
            result["zeroed"] = 0
        else:
            result["zeroed"] = int(((before != 0) & (now == 0)).sum().item())
        result["numel"] = now.numel()
        if now.numel() <= VALUES_LIMIT:
            result["before_values"] = plain_values(before)
            result["after_values"] = plain_values(now)
        if 0 < result["changed"] <= CHANGES_LISTED * 4 or now.numel() <= VALUES_LIMIT:
            # the elements that changed, whatever the tensor's size (`[1, 2]: 0.0314 → 7` on a [32, 10] weight)
            result["changes"] = _listed_changes(before, now, different)
    return result


def _finite_both(before_stats: dict | None, after_stats: dict | None) -> bool:
    return before_stats is not None and after_stats is not None and before_stats.get("nonfinite") == 0 and \
        after_stats.get("nonfinite") == 0


def _listed_changes(before: torch.Tensor, now: torch.Tensor, different: torch.Tensor) -> list[dict[str, Any]]:
    """The first CHANGES_LISTED changed elements: their indexes, and their values read in one gather per side."""
    if not now.dim():
        if not bool(different):
            return []
        return [{"index": [0], "before": plain_number(before.item()), "after": plain_number(now.item())}]
    where = torch.nonzero(different)[:CHANGES_LISTED]
    if not len(where):
        return []
    columns = tuple(where.t())
    befores, afters = before[columns].tolist(), now[columns].tolist()
    return [{"index": index, "before": plain_number(old), "after": plain_number(new)}
            for index, old, new in zip(where.tolist(), befores, afters)]


CHANGES_LISTED = 8  # changed elements listed by position with their values before and after


# -- fan-based initialisers: the numbers torch derives from the tensor's shape ------------------------------------

_SIGNATURES: dict[int, tuple[Callable, inspect.Signature]] = {}  # id -> (the function, kept alive; its signature)


def _signature(function: Callable) -> inspect.Signature:
    """`inspect.signature`, once per init function: it walks the function's code and defaults each time (~40 µs,
    two init calls in every block of a long file)."""
    known = _SIGNATURES.get(id(function))
    if known is not None and known[0] is function:
        return known[1]
    signature = inspect.signature(function)
    if len(_SIGNATURES) < 256:
        _SIGNATURES[id(function)] = (function, signature)
    return signature


def init_arguments(function: Callable, args: tuple, kwargs: dict) -> dict[str, Any]:
    try:
        bound = _signature(function).bind(*args, **kwargs)
        bound.apply_defaults()
    except (TypeError, ValueError):
        return {}
    arguments = dict(bound.arguments)
    arguments.pop("tensor", None)
    arguments.pop("generator", None)
    return {key: plain_number(value) if isinstance(value, (int, float, str, bool, type(None))) else repr(value)
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

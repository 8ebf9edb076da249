"""The probe functions the instrumented program calls, one small function per probe kind (names in protocol.py).

The rule every probe keeps: the program behaves exactly as it would without it. The user's operation is called
once, with the same arguments, and its result or exception is passed through untouched; everything the probe does
on the side (summaries, owners, snapshots) runs inside `_observing`, which turns any failure into a record that
says the value could not be observed. A probe does not even try inside a `torch.func` transform (`vmap`, `grad`),
a `torch.jit` trace or a `torch.compile` graph, where reading a value (`.item()`) is itself an error: it records
why and lets the program go on.
"""

from __future__ import annotations

import contextlib
import inspect
from typing import Any, Callable, Iterator

import torch
from torch import nn

from paramlens.sandbox.protocol import Probe
from paramlens.sandbox.runtime import Before, Recorder, before_write, compare, derived_scale, init_arguments, \
    reachable_module_types
from paramlens.sandbox.summaries import is_uninitialized, module_brief, summarize, tensor_stats, tensor_summary
from paramlens.sandbox.reshaping import STRUCTURAL as TRANSFORM_STRUCTURAL, Observation, kind_of

ITEMS_RECORDED = 300  # items of a generator (named_parameters(), modules()) copied into a record


def transform_in_force() -> str | None:
    """The transform a probe must not look inside, or None. Checked before observing anything."""
    try:
        if torch._C._functorch.peek_interpreter_stack() is not None:
            return "torch.func"
    except Exception:  # noqa: BLE001 - an older torch without functorch internals
        pass
    if torch.jit.is_tracing():
        return "torch.jit.trace"
    try:
        if torch.compiler.is_compiling():
            return "torch.compile"
    except Exception:  # noqa: BLE001
        pass
    return None


@contextlib.contextmanager
def _observing(record: dict[str, Any]) -> Iterator[None]:
    """Run observation code; if it fails, say so in the record instead of failing the program. A tensor subclass's
    `__torch_function__` is not called while observing (it could count, log or change state), so what the
    summary computes is invisible to the program."""
    try:
        with torch._C.DisableTorchFunctionSubclass():
            yield
    except Exception as error:  # noqa: BLE001 - an observation must never change what the program does
        record["unobserved"] = f"{type(error).__name__}: {error}"[:500]


class Probes:
    def __init__(self, recorder: Recorder, namespace: dict[str, Any]) -> None:
        self.recorder = recorder
        self.namespace = namespace

    def install(self) -> None:
        self.namespace.update({Probe.VALUE: self.value, Probe.METHOD: self.method, Probe.CALL: self.call,
                               Probe.APPLY: self.apply, Probe.INIT: self.init, Probe.WATCH: self.watch,
                               Probe.HAS_INSTANCE: self.has_instance, Probe.TRANSFORM: self.transform,
                               Probe.SAVE: self.save})

    # -- helpers ----------------------------------------------------------------------------------------------
    def _skip(self, probe_id: int) -> bool:
        """True when this evaluation is only counted: past the record limit, or inside a transform (recorded)."""
        recorder = self.recorder
        if not recorder.wants(probe_id):
            recorder.record(probe_id, {})
            return True
        transform = transform_in_force()
        if transform is not None:
            recorder.record(probe_id, {"unobserved": transform, "transform": transform})
            return True
        return False

    # -- probes -----------------------------------------------------------------------------------------------
    def value(self, probe_id: int, value: Any) -> Any:
        """`__pl_v__(id, expr)`: the value of an expression when it is evaluated."""
        recorder = self.recorder
        recorder.tally(probe_id, value)
        if self._skip(probe_id):
            return value
        event: dict[str, Any] = {}
        with _observing(event):
            event.update(recorder.summarize(value))
        recorder.record(probe_id, event)
        return value

    def method(self, probe_id: int, receiver: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        """`__pl_m__(id, obj, "name", ...)`: a method call. A generator result (`named_parameters()`) is passed on
        as a generator that records its items as the program consumes them, so laziness is kept."""
        bound = getattr(receiver, method)
        if self._skip(probe_id):
            return bound(*args, **kwargs)
        recorder = self.recorder
        try:
            result = bound(*args, **kwargs)
        except Exception as error:
            event = {"kind": "method", "method": method, "error": f"{type(error).__name__}: {error}"[:2000]}
            with _observing(event):
                if isinstance(receiver, nn.Module):
                    event["receiver"] = module_brief(receiver)
            recorder.record(probe_id, event)
            raise
        event = {"kind": "method", "method": method}
        with _observing(event):
            if isinstance(receiver, nn.Module):
                event["receiver"] = module_brief(receiver)
                event["receiver"]["owner"] = recorder.owners(receiver)
            _method_facts(event, receiver, method, args, kwargs, result, recorder)
        if inspect.isgenerator(result):
            return _recording_generator(result, event, probe_id, recorder)
        recorder.record(probe_id, event)
        return result

    def call(self, probe_id: int, function: Any, *args: Any, **kwargs: Any) -> Any:
        """`__pl_c__(id, f, ...)`: a call that may be a module's forward (inputs, output, lazy shapes)."""
        if not isinstance(function, nn.Module):
            return function(*args, **kwargs)
        if self._skip(probe_id):
            return function(*args, **kwargs)
        recorder = self.recorder
        event: dict[str, Any] = {"kind": "forward"}
        with _observing(event):
            event["module"] = recorder.summarize(function)
            event["module"].pop("text", None)
            event["inputs"] = [_brief_value(arg) for arg in args] + [_brief_value(v) for v in kwargs.values()]
        running: list[tuple[nn.Module, list]] = []  # the submodules whose forward is in progress, innermost last
        buffers_before = None
        with _observing(event):
            buffers_before = _buffer_snapshot(function)
        handles = _track_forwards(running)
        try:
            output = function(*args, **kwargs)
        except Exception as error:
            event["error"] = f"{type(error).__name__}: {error}"
            with _observing(event):
                event["failed_in"] = _failing_layer(function, running)
            recorder.record(probe_id, event)
            raise
        finally:
            for handle in handles:
                handle.remove()
        with _observing(event):
            event["output"] = summarize(output)
            reach = _autograd_reach(function, output, recorder)
            if reach is not None:
                event["autograd"] = reach
            event["training"] = bool(function.training)
            changed = _buffers_changed(function, buffers_before)
            if changed:
                event["buffers_changed"] = changed
            if any(p.get("lazy") for p in event.get("module", {}).get("parameters", [])):
                # a lazy module's first forward gave its parameters their shapes (and made it its plain class)
                after = recorder.summarize(function)
                after.pop("text", None)
                event["after"] = after
        recorder.record(probe_id, event)
        return output

    def save(self, probe_id: int, function: Any, *args: Any, **kwargs: Any) -> Any:
        """`__pl_s__(id, torch.save, obj, f)`: what was written, described after the call succeeded (a whole
        module, a state dict, a plain dict of tensors, a tensor, a list...), so the explanation says what this call
        saved instead of a sentence about checkpoints in general."""
        result = function(*args, **kwargs)
        if self._skip(probe_id):
            return result
        saved = args[0] if args else kwargs.get("obj")
        event: dict[str, Any] = {"kind": "save"}
        with _observing(event):
            event["saved"] = _saved_summary(saved, self.recorder)
        self.recorder.record(probe_id, event)
        return result

    def apply(self, probe_id: int, receiver: Any, function: Any, *args: Any, **kwargs: Any) -> Any:
        """`__pl_a__(id, obj, fn)`: Module.apply with every visit recorded (which parameters `fn` changed)."""
        if not isinstance(receiver, nn.Module) or args or kwargs:
            return receiver.apply(function, *args, **kwargs)
        if self._skip(probe_id):
            return receiver.apply(function)
        recorder = self.recorder
        visits: list[dict[str, Any]] = []
        event: dict[str, Any] = {"kind": "apply", "fn": getattr(function, "__name__", None) or repr(function),
                                 "visits": visits}
        paths: dict[int, list[str]] = {}
        # each tensor a visit changed gets a number, the same at every visit: a tensor written by two visits (tied
        # weights both initialised, a parent that rewrites its child's weight) is told from two tensors
        numbers: dict[int, int] = {}

        def number(tensor: torch.Tensor) -> int:
            return numbers.setdefault(id(tensor), len(numbers))

        with _observing(event):
            for name, module in receiver.named_modules(remove_duplicate=False):
                paths.setdefault(id(module), []).append(name)
            event["receiver"] = module_brief(receiver)
            event["receiver"]["owner"] = recorder.owners(receiver)
        output_start = recorder.output.tell_text()

        def visit(module: nn.Module) -> Any:
            entry: dict[str, Any] = {"paths": paths.get(id(module), ["?"]), "class": type(module).__name__,
                                     "params": [], "changed": [],
                                     # the torch classes it derives from, for exact type tests it fails (PL102)
                                     "bases": [base.__name__ for base in type(module).__mro__[1:]
                                               if issubclass(base, nn.Module) and base is not nn.Module][:8]}
            own: list[tuple[str, torch.Tensor]] = []
            snapshots: dict[str, tuple] = {}
            others: list[tuple[str, torch.Tensor, tuple]] = []
            with _observing(entry):
                entry["extra"] = module.extra_repr()[:200]
                own = list(module.named_parameters(recurse=False))
                entry["params"] = [name for name, _ in own]
                # registered as None (`bias=False`): the attribute exists and is None (PL105)
                entry["none"] = [name for name, value in module._parameters.items() if value is None]
                snapshots = {name: (before_write(p), p._version) for name, p in own}
                # every other tensor the visit could write: the module's buffers and its descendants' parameters
                # and buffers (transformers' `_init_weights(module)` writes `module.q.weight` on the parent's
                # visit); fingerprinted, not copied, so a deep model is not cloned once per ancestor
                others = [(name, tensor, fingerprint(tensor)) for name, tensor in _other_tensors(module, own)]
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
                with _observing(entry):
                    _changes(entry, own, snapshots, number)
                    _other_changes(entry, others, number)

        try:
            result = receiver.apply(visit)
        except Exception as error:
            event["error"] = f"{type(error).__name__}: {error}"
            # an operation on None (`zeros_(m.bias)` when bias is None: Python records the object that lacked the
            # attribute), and the line of the user's file where it was raised (inside the init function)
            event["on_none"] = isinstance(error, AttributeError) and getattr(error, "obj", 0) is None
            event["error_line"] = _user_line(error, self.namespace.get("__file__"))
            event["output"] = recorder.output.text_since(output_start)
            recorder.record(probe_id, event)
            raise
        event["output"] = recorder.output.text_since(output_start)
        event["returned_receiver"] = result is receiver
        recorder.record(probe_id, event)
        return result

    def init(self, probe_id: int, function: Any, *args: Any, **kwargs: Any) -> Any:
        """`__pl_i__(id, f, ...)`: an nn.init call with the scale torch derived and before/after statistics."""
        tensor = args[0] if args else kwargs.get("tensor")
        if not isinstance(tensor, torch.Tensor):
            return function(*args, **kwargs)
        if self._skip(probe_id):
            return function(*args, **kwargs)
        recorder = self.recorder
        name = getattr(function, "__name__", "init")
        event: dict[str, Any] = {"kind": "init", "fn": name}
        taken = Before(None, None, None)  # what an observation that fails leaves: nothing to compare with
        with _observing(event):
            arguments = init_arguments(function, args, kwargs)
            event["args"] = arguments
            taken = before_write(tensor)
            event["shape"] = None if is_uninitialized(tensor) else list(tensor.shape)
            event["owner"] = recorder.owners(tensor)
            if recorder.current_module is not None:
                for param_name, param in recorder.current_module.named_parameters(recurse=False):
                    if param is tensor:
                        event["param_name"] = param_name
            try:
                event.update(derived_scale(name, tensor, arguments))
            except Exception as error:  # noqa: BLE001 - e.g. fans of a 1-D tensor: the call itself will say so
                event["scale_error"] = f"{type(error).__name__}: {error}"
        try:
            result = function(*args, **kwargs)
        except Exception as error:
            event["error"] = f"{type(error).__name__}: {error}"
            recorder.record(probe_id, event)
            raise
        with _observing(event):
            event.update(compare(taken.copy, tensor, taken.stats, taken.key))
        recorder.record(probe_id, event)
        return result

    def watch(self, probe_id: int, phase: int, thunk: Callable[[], Any]) -> None:
        """`__pl_w__(id, 0|1, lambda: tensor)` before and after a statement that edits a tensor in place. The
        thunk re-reads the edited tensor (the recognizer only watches names, attributes and constant indexes,
        so reading it again runs no code of the user's)."""
        recorder = self.recorder
        stack = recorder.watch_stack.setdefault(probe_id, [])
        if phase == 0:
            stack.append(None)
            if not recorder.wants(probe_id) or transform_in_force() is not None:
                return
            try:
                tensor = thunk()
                if isinstance(tensor, torch.Tensor):
                    stack[-1] = (tensor, before_write(tensor))
            except Exception:  # noqa: BLE001 - nothing to watch; the statement itself runs as written
                pass
            return
        taken = stack.pop() if stack else None
        if taken is None:
            if not recorder.wants(probe_id):
                recorder.record(probe_id, {})
            return
        tensor, before = taken
        event: dict[str, Any] = {"kind": "mutation"}
        with _observing(event):
            event.update(compare(before.copy, tensor, before.stats, before.key))
            event["tensor"] = tensor_summary(tensor, recorder.owners)
        recorder.record(probe_id, event)

    def transform(self, probe_id: int, function: Any, *args: Any, **kwargs: Any) -> Any:
        """`__pl_t__(id, f, ...)`: a call that reshapes a model's tensors (pruning, a parametrization, a cast,
        `deepcopy`, `functional_call`, an EMA step, ...), with what its kind needs observed before and after the
        call (transforms.py). The kind comes from the callable the program evaluated, not from its spelling; a call
        of no known kind is only counted."""
        if self._skip(probe_id):
            return function(*args, **kwargs)
        recorder = self.recorder
        event: dict[str, Any] = {"kind": "transform", "what": None}
        observation: Observation | None = None
        with _observing(event):
            kind = kind_of(function)
            if kind is not None:
                pending = Observation(kind, function, args, kwargs, recorder.owners)
                pending.start()
                observation = pending
        try:
            with observation.during() if observation is not None else contextlib.nullcontext():
                result = function(*args, **kwargs)
        except Exception as error:
            event["error"] = f"{type(error).__name__}: {error}"[:2000]
            recorder.record(probe_id, event)
            raise
        if observation is not None:
            with _observing(event):
                event.update(observation.finish(result))
                if observation.kind in TRANSFORM_STRUCTURAL:
                    recorder.reindex_all()  # names of later records follow the tensors' new places
        recorder.record(probe_id, event)
        return result

    def has_instance(self, class_name: str) -> bool:
        """Whether the file's class `class_name` had an instance during the run (built at top level, inside a
        function such as `main()`, or inside another model): then no example of it is built."""
        cls = self.namespace.get(class_name)
        if not isinstance(cls, type):
            return False
        kinds = reachable_module_types(self.namespace) | self.recorder.instantiated
        return any(issubclass(kind, cls) for kind in kinds)


def _changes(entry: dict[str, Any], own: list[tuple[str, torch.Tensor]], snapshots: dict[str, tuple],
             number: Callable[[torch.Tensor], int]) -> None:
    for name, param in own:
        taken, version = snapshots[name]
        before, before_stats = taken.copy, taken.stats
        change = compare(before, param, before_stats, taken.key)
        change["name"] = name
        if before is None:
            # no copy to compare (meta device, or too large): an in-place op bumped the version counter, or the
            # statistics moved (`.data` writes keep the parameter's version)
            if param._version == version and (before_stats is None or before_stats == change.get("after")):
                continue
        elif not change.get("changed", 1):
            continue
        change["tensor"] = number(param)
        entry["changed"].append(change)


def _track_forwards(running: list[tuple[nn.Module, list]]) -> list[Any]:
    """Global forward hooks, for the length of one probed call: which submodule was running when it raised (a hook
    that returns None changes nothing)."""
    from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

    def entered(module: nn.Module, inputs: tuple) -> None:
        with torch._C.DisableTorchFunctionSubclass():  # a tensor subclass must not see the probe read its shape
            shapes = [list(x.shape) for x in inputs if isinstance(x, torch.Tensor) and not is_uninitialized(x)]
        running.append((module, shapes))

    def left(module: nn.Module, inputs: tuple, output: Any) -> None:
        if running and running[-1][0] is module:
            running.pop()

    return [register_module_forward_pre_hook(entered), register_module_forward_hook(left)]


def _failing_layer(root: nn.Module, running: list[tuple[nn.Module, list]]) -> dict[str, Any] | None:
    """The innermost module whose forward was running when the call raised: its name inside the called module,
    what it is, the input shapes it received and the feature sizes it expects."""
    from paramlens.sandbox.summaries import feature_sizes

    if not running:
        return None
    module, shapes = running[-1]
    name = next((path for path, sub in root.named_modules() if sub is module), None)
    return {"path": name, "class": type(module).__name__, "extra": module.extra_repr()[:200], "inputs": shapes,
            "io": feature_sizes(module)}


def _user_line(error: BaseException, path: str | None) -> int | None:
    import traceback

    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename == path]
    return frames[-1].lineno if frames else None


def _other_tensors(module: nn.Module, own: list[tuple[str, torch.Tensor]]) -> list[tuple[str, torch.Tensor]]:
    own_ids = {id(tensor) for _, tensor in own}
    found = []
    seen: set[int] = set(own_ids)
    for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
        if id(tensor) in seen or tensor is None:
            continue
        seen.add(id(tensor))
        found.append((name, tensor))
    return found


def fingerprint(tensor: torch.Tensor) -> tuple:
    """What changes when a tensor is written in place, whichever way (an op, `.data`, `copy_`): its version counter,
    its storage, and two float64 reductions of its values (none on the meta device)."""
    if is_uninitialized(tensor) or tensor.device.type == "meta":
        return (tensor._version, None, None)
    data = tensor.detach()  # nothing for autograd to record: no `no_grad()` (~2 µs a use)
    if data.is_complex():
        data = torch.view_as_real(data)
    if not data.is_floating_point():
        data = data.to(torch.float64)  # integer and boolean buffers (counters, masks, indices)
    return (tensor._version, tensor.data_ptr(),
            (float(data.sum(dtype=torch.float64)), float(torch.linalg.vector_norm(data, dtype=torch.float64))))


def _other_changes(entry: dict[str, Any], others: list[tuple[str, torch.Tensor, tuple]],
                   number: Callable[[torch.Tensor], int]) -> None:
    for name, tensor, before in others:
        if fingerprint(tensor) == before:
            continue
        entry["changed"].append({"name": name, "shape": None if is_uninitialized(tensor) else list(tensor.shape),
                                 "after": tensor_stats(tensor), "descendant": "." in name,
                                 "buffer": not isinstance(tensor, nn.Parameter), "tensor": number(tensor)})


def _method_facts(event: dict[str, Any], receiver: Any, method: str, args: tuple, kwargs: dict, result: Any,
                  recorder: Recorder) -> None:
    """What a method call did, for the methods whose explanations need more than the result."""
    if method in {"register_buffer", "register_parameter"}:
        tensor = args[1] if len(args) > 1 else kwargs.get("tensor", kwargs.get("param"))
        event["name"] = args[0] if args else kwargs.get("name")
        event["tensor"] = tensor_summary(tensor) if isinstance(tensor, torch.Tensor) else None
        event["persistent"] = bool(kwargs.get("persistent", args[2] if len(args) > 2 else True))
    elif method == "requires_grad_":
        if isinstance(receiver, nn.Module):
            params = list(receiver.parameters())
            event["trainable"] = sum(p.numel() for p in params if p.requires_grad and not is_uninitialized(p))
            event["total"] = sum(p.numel() for p in params if not is_uninitialized(p))
            event["tensors"] = len(params)
        elif isinstance(receiver, torch.Tensor):
            event["requires_grad"] = bool(receiver.requires_grad)
            event["tensor"] = tensor_summary(receiver, recorder.owners, text=False)
    elif method == "load_state_dict":
        source = args[0] if args else kwargs.get("state_dict")
        event["loaded"] = len(source) if hasattr(source, "__len__") else None
        event["missing"] = list(getattr(result, "missing_keys", []))[:64]
        event["unexpected"] = list(getattr(result, "unexpected_keys", []))[:64]
        event["strict"] = bool(kwargs.get("strict", args[1] if len(args) > 1 else True))
    elif method in {"add_module", "register_module"}:
        event["name"] = args[0] if args else kwargs.get("name")
        child = args[1] if len(args) > 1 else kwargs.get("module")
        event["child"] = module_brief(child) if isinstance(child, nn.Module) else None
        if isinstance(receiver, nn.Module):
            event["children_after"] = list(receiver._modules.keys())[:64]


def _recording_generator(generator: Any, event: dict[str, Any], probe_id: int, recorder: Recorder) -> Any:
    """Yields what `generator` yields, when the program asks for it, and records the items it saw once the
    program is done with it (exhausted, or closed early: then the record says how far it got)."""
    items: list[dict[str, Any]] = []
    count = 0
    finished = False
    try:
        for item in generator:
            if count < ITEMS_RECORDED:
                with _observing(event):
                    items.append(_item(item, recorder))
            count += 1
            yield item
        finished = True
    finally:
        event["items"] = items
        event["count"] = count
        if not finished:
            event["partial"] = True
        recorder.record(probe_id, event)


BUFFER_SNAPSHOT_LIMIT = 4_000_000  # buffer elements copied before a forward to see which it changed


def _buffer_snapshot(module: nn.Module) -> dict[str, torch.Tensor] | None:
    """Copies of the module's buffers before a forward (BatchNorm's running statistics change during it, and
    torch's kernel does not bump their version counters, so values are compared). None when there are none, they
    hold no values (meta) or they are too large to copy."""
    try:
        buffers = [(name, buffer) for name, buffer in module.named_buffers() if isinstance(buffer, torch.Tensor)]
        if not buffers or any(b.device.type == "meta" for _, b in buffers) or \
                sum(b.numel() for _, b in buffers) > BUFFER_SNAPSHOT_LIMIT:
            return None
        return {name: buffer.detach().clone() for name, buffer in buffers}
    except Exception:  # noqa: BLE001 - a probe never breaks the program
        return None


def _buffers_changed(module: nn.Module, before: dict[str, torch.Tensor] | None) -> list[dict[str, Any]]:
    """The buffers a forward changed, with before/after for one-element ones (`num_batches_tracked` 0 → 1)."""
    if before is None:
        return []
    changed = []
    for name, buffer in module.named_buffers():
        old = before.get(name)
        if old is None or not isinstance(buffer, torch.Tensor) or old.shape != buffer.shape:
            continue
        if torch.equal(old, buffer.detach()):
            continue
        entry: dict[str, Any] = {"name": name}
        if buffer.numel() == 1:
            entry["before"], entry["after"] = old.item(), buffer.detach().item()
        changed.append(entry)
    return changed


GRAPH_NODES_LIMIT = 200_000  # an output's autograd graph walked further than this is not judged


def _output_tensors(output: Any) -> list[torch.Tensor]:
    """The tensors a forward returned: the output itself, or the items of a tuple, list or dict (transformers'
    ModelOutput is a dict)."""
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        return [item for item in output if isinstance(item, torch.Tensor)]
    return []


def _autograd_reach(module: nn.Module, output: Any, recorder: Recorder) -> dict[str, Any] | None:
    """Which of the module's trainable parameters the output's autograd graph reaches: a parameter that is not in
    the graph gets no gradient from a loss built on this output (`self.weight.data` in a forward, a `.detach()`, a
    parameter the forward never uses). None when it cannot be judged: grad mode off (recorded as such), no
    trainable parameters, no tensor output, a graph too large, or torch's reentrant checkpoint, whose graph holds
    the parameters only while backward recomputes."""
    if not torch.is_grad_enabled():
        return {"grad_enabled": False}
    trainable = {id(p): (name, p) for name, p in module.named_parameters() if p.requires_grad}
    tensors = _output_tensors(output)
    if not trainable or not tensors:
        return None
    try:
        from torch.utils.checkpoint import CheckpointFunction
    except ImportError:  # pragma: no cover - every torch this runs on has it
        CheckpointFunction = None
    reached: set[int] = {id(t) for t in tensors if t.grad_fn is None and t.requires_grad}
    seen: set[int] = set()
    stack = [t.grad_fn for t in tensors if t.grad_fn is not None]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if len(seen) > GRAPH_NODES_LIMIT:
            return None
        if CheckpointFunction is not None and getattr(node, "_forward_cls", None) is CheckpointFunction:
            return None
        variable = getattr(node, "variable", None)
        if variable is not None:
            reached.add(id(variable))
        stack.extend(following for following, _ in node.next_functions)
    unreached = [(name, param) for key, (name, param) in trainable.items() if key not in reached]
    paths = []
    for _, param in unreached[:20]:
        owners = recorder.owners(param)
        paths.append(owners[0]["path"] if owners else None)
    return {"grad_enabled": True, "trainable": len(trainable), "unreached_count": len(unreached),
            "unreached": [name for name, _ in unreached[:20]], "unreached_paths": paths,
            "output_requires_grad": any(t.requires_grad for t in tensors)}


def _saved_summary(value: Any, recorder: Recorder) -> dict[str, Any]:
    """What torch.save wrote: a module in brief (its class and count, not every tensor), anything else as the
    probes describe values; a dict returned by `state_dict()` keeps its `_metadata` through save and load, which
    tells a state dict from a dict of tensors the program assembled itself."""
    if isinstance(value, nn.Module):
        brief = module_brief(value)
        brief["owner"] = recorder.owners(value)
        return brief
    return recorder.summarize(value)


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


__all__ = ["Probes", "transform_in_force"]

"""What a backward pass did, observed inside the sandboxed child: which parameters received gradients, and for a
parameter used more than once in the forward pass (a shared layer, tied embeddings, a weight reused at every step
of a loop) the contribution of each use.

Why: a learner is told that "the gradients of a shared layer add up". ParamLens shows it happening: before
`backward()` runs, the autograd graph is walked from the tensors being differentiated to the parameters' gradient
accumulators; a parameter reached through several edges is used several times, and a hook on the node at the start
of each of those edges captures what that use sends to the parameter. After the pass, the captured contributions
are compared with the change of `.grad` (torch.allclose): the sum is observed, not asserted.

Hooks are read-only (they return None, so no gradient changes), are removed when the pass ends, and only the first
`max_records` backward passes of a run are walked (a training loop does not pay for it on every step).
"""

from __future__ import annotations

import sys
from typing import Any, Callable

import torch

from paramlens.sandbox.protocol import Event
from paramlens.sandbox.summaries import VALUES_LIMIT, plain_values, tensor_stats

GRAPH_NODES_LIMIT = 200_000   # nodes walked per backward pass; a larger graph is reported as not inspected
SHARED_LIMIT = 32             # shared parameters reported per pass
CONTRIBUTION_ELEMENTS = 5_000_000


class GradientObserver:
    def __init__(self, emit: Callable[[dict[str, Any]], None], owners: Callable[[Any], list[dict[str, str]]],
                 user_line: Callable[[], int | None], max_records: int, labels: Callable[[], dict[str, Any]],
                 variables: Callable[[Any], list[str]] | None = None) -> None:
        self.emit = emit
        self.owners = owners
        self.variables = variables or (lambda value: [])  # the top-level variables bound to a tensor
        self.user_line = user_line
        self.max_records = max_records
        self.labels = labels  # what every record carries (e.g. "observed after a shortened loop")
        self.passes = 0
        self._original: Callable[..., Any] | None = None
        self._active = False

    def install(self) -> None:
        """`Tensor.backward` calls `torch.autograd.backward`, looked up at call time: one wrapper sees both."""
        original = torch.autograd.backward
        self._original = original
        observer = self

        def backward(tensors: Any, *args: Any, **kwargs: Any) -> Any:
            return observer.run(original, tensors, args, kwargs)

        backward.__wrapped__ = original  # type: ignore[attr-defined]
        backward.__doc__ = original.__doc__
        torch.autograd.backward = backward  # type: ignore[assignment]

    def run(self, original: Callable[..., Any], tensors: Any, args: tuple, kwargs: dict) -> Any:
        if self._active or self.passes >= self.max_records or _inside_transform():
            if not self._active:
                self.passes += 1
            return original(tensors, *args, **kwargs)
        self._active = True
        try:
            try:
                plan = self._plan(tensors)
                gradient = args[0] if args else kwargs.get("grad_tensors")
                _describe_roots(plan, tensors, gradient is not None)
            except Exception as error:  # noqa: BLE001 - observing must never stop the program's backward
                plan = _Plan(error=f"{type(error).__name__}: {error}")
            try:
                return original(tensors, *args, **kwargs)
            finally:
                plan.remove_hooks()
                self.passes += 1
                try:
                    self._report(plan)
                except Exception:  # noqa: BLE001
                    pass
        finally:
            self._active = False

    def _plan(self, tensors: Any) -> "_Plan":
        roots = [tensors] if isinstance(tensors, torch.Tensor) else list(tensors)
        plan = _Plan(line=self.user_line())
        uses: dict[Any, list[tuple[Any, int]]] = {}
        seen: set[Any] = set()
        stack = [t.grad_fn for t in roots if isinstance(t, torch.Tensor) and t.grad_fn is not None]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            if len(seen) > GRAPH_NODES_LIMIT:
                plan.error = f"the graph has more than {GRAPH_NODES_LIMIT:,} nodes; not inspected"
                return plan
            for index, (following, _) in enumerate(node.next_functions):
                if following is None:
                    continue
                if hasattr(following, "variable"):
                    uses.setdefault(following, []).append((node, index))
                elif following not in seen:
                    stack.append(following)
        plan.reached = [accumulator.variable for accumulator in uses]
        # a leaf that already holds a gradient gets this pass's added to it (the engine accumulates into .grad)
        plan.had_grad = [leaf for leaf in plan.reached if _holds_gradient(leaf)]
        for accumulator, edges in uses.items():
            if len(edges) < 2 or len(plan.shared) >= SHARED_LIMIT:
                continue
            parameter = accumulator.variable
            shared = _Shared(parameter, sorted(edges, key=lambda edge: edge[0]._sequence_nr()))
            shared.before = _copy(parameter.grad)
            for order, (node, index) in enumerate(shared.edges):
                plan.handles.append(node.register_hook(shared.capture(order, index)))
            plan.shared.append(shared)
        return plan

    def _report(self, plan: "_Plan") -> None:
        event: dict[str, Any] = {"t": Event.BACKWARD, "line": plan.line, "n": self.passes, **self.labels()}
        if plan.error:
            event["error"] = plan.error
        real = [p for p in plan.reached if p.device.type != "meta"]
        event["parameters"] = len(plan.reached)
        event["elements"] = sum(int(p.numel()) for p in plan.reached)
        event["received"] = sum(1 for p in real if p.grad is not None)
        # what the reached leaves are: nn.Parameters, or tensors created with requires_grad=True (autograd's
        # leaves either way); which already held a gradient (this pass added to it); what the pass started from
        event["parameter_leaves"] = sum(1 for p in plan.reached if isinstance(p, torch.nn.Parameter))
        event["accumulated"] = len(plan.had_grad)
        event["accumulated_into"] = sorted({owner["path"] for leaf in plan.had_grad[:64] for owner in self.owners(leaf)
                                            if owner.get("relation") == "same"} |
                                           {name for leaf in plan.had_grad[:64] for name in self.variables(leaf)})
        event.update(plan.roots)
        event["shared"] = [shared.summary(self.owners) for shared in plan.shared]
        self.emit(event)


class _Plan:
    def __init__(self, line: int | None = None, error: str | None = None) -> None:
        self.line = line
        self.error = error
        self.reached: list[torch.Tensor] = []
        self.had_grad: list[torch.Tensor] = []
        self.roots: dict[str, Any] = {}
        self.shared: list[_Shared] = []
        self.handles: list[Any] = []

    def remove_hooks(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()


class _Shared:
    """One parameter reached through several edges, and what each edge (use) sent to it."""

    def __init__(self, parameter: torch.Tensor, edges: list[tuple[Any, int]]) -> None:
        self.parameter = parameter
        self.edges = edges
        self.before: torch.Tensor | None = None
        self.contributions: dict[int, torch.Tensor | None] = {}

    def capture(self, order: int, index: int) -> Callable[[tuple, tuple], None]:
        def hook(grad_inputs: tuple, grad_outputs: tuple) -> None:
            gradient = grad_inputs[index] if index < len(grad_inputs) else None
            if isinstance(gradient, torch.Tensor):
                previous = self.contributions.get(order)
                copy = _copy(gradient)
                # a node can run more than once with retain_graph; its contributions add up like the engine's
                self.contributions[order] = copy if previous is None or copy is None else previous + copy

        return hook

    def summary(self, owners: Callable[[Any], list[dict[str, str]]]) -> dict[str, Any]:
        parameter = self.parameter
        uses = []
        for order in range(len(self.edges)):
            contribution = self.contributions.get(order)
            use: dict[str, Any] = {"node": self.edges[order][0].name()}
            if contribution is not None:
                use["stats"] = tensor_stats(contribution)
                use["norm"] = float(contribution.double().norm().item())
                if contribution.numel() <= VALUES_LIMIT:
                    use["values"] = plain_values(contribution)
            uses.append(use)
        summary: dict[str, Any] = {"owner": owners(parameter), "shape": list(parameter.shape), "uses": uses,
                                   "accumulated": self.before is not None}
        grad = parameter.grad
        captured = [c for c in self.contributions.values() if c is not None]
        if grad is not None and grad.device.type != "meta":
            summary["grad"] = tensor_stats(grad)
            summary["grad_norm"] = float(grad.detach().double().norm().item())
            if len(captured) == len(self.edges) and captured:
                total = captured[0].clone()
                for contribution in captured[1:]:
                    total = total + contribution
                change = grad.detach() - self.before if self.before is not None else grad.detach()
                summary["sum_matches"] = bool(torch.allclose(total.to(change.dtype), change, rtol=1e-5, atol=1e-7))
        return summary


def _holds_gradient(leaf: torch.Tensor) -> bool:
    """Whether a leaf's `.grad` holds something this pass will add to: not None, and not all zeros (after
    `zero_()` the sum is this pass's gradient alone). Unknown on the meta device: not counted."""
    grad = leaf.grad
    if grad is None or grad.device.type == "meta" or grad.is_sparse:
        return False
    return bool(grad.detach().any())


def variables_holding(namespace: dict[str, Any], value: Any) -> list[str]:
    """The program's top-level variables bound to this object (`w` for `w = torch.randn(..., requires_grad=True)`):
    a plain tensor has no module path to be named by."""
    return [name for name, held in list(namespace.items()) if held is value and not name.startswith("__")][:4]


def _describe_roots(plan: _Plan, tensors: Any, gradient_given: bool) -> None:
    """What `backward()` differentiated: one root's shape, and whether it is a vector-Jacobian product (a root with
    more than one element needs the `gradient` argument v; `.grad` then receives vᵀ·J, not a loss's derivative)."""
    roots = [tensors] if isinstance(tensors, torch.Tensor) else list(tensors)
    roots = [root for root in roots if isinstance(root, torch.Tensor)]
    if len(roots) == 1:
        plan.roots["root_shape"] = list(roots[0].shape)
    plan.roots["vector_jacobian"] = gradient_given and any(root.numel() != 1 for root in roots)


def _copy(tensor: torch.Tensor | None) -> torch.Tensor | None:
    if tensor is None or tensor.device.type == "meta" or tensor.numel() > CONTRIBUTION_ELEMENTS or tensor.is_sparse:
        return None
    return tensor.detach().clone()


def _inside_transform() -> bool:
    try:
        return torch._C._functorch.peek_interpreter_stack() is not None
    except Exception:  # noqa: BLE001 - an older torch without functorch internals
        return False


def innermost_user_line(path: str) -> int | None:
    """The line of the innermost frame of the user's file on the current stack (where the call was made)."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename == path:
            return frame.f_lineno
        frame = frame.f_back
    return None

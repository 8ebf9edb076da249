"""One observed reshaping call, and the table of what each kind takes before the call and reports after it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from paramlens.sandbox.reshaping.state import Owners, bound_arguments


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
    mode: Any = None  # a context manager entered around the call (reset_parameters' torch function mode)

    def start(self) -> None:
        before = HANDLERS[self.kind][0]
        if before is not None:
            before(self)

    @contextlib.contextmanager
    def during(self) -> Iterator[None]:
        if self.mode is None:
            yield
            return
        with self.mode:
            yield

    def finish(self, result: Any) -> dict[str, Any]:
        facts = {"kind": "transform", "what": self.kind, "function": getattr(self.function, "__name__", None)}
        facts.update(HANDLERS[self.kind][1](self, result))
        return facts

    @property
    def receiver(self) -> Any:
        receiver = getattr(self.function, "__self__", None)
        if receiver is None:  # `optimizer.step` after a scheduler wrapped it (optimization.wrapped_optimizer)
            from paramlens.sandbox.reshaping.optimization import wrapped_optimizer

            receiver = wrapped_optimizer(self.function)
        return receiver

    def arguments(self) -> dict[str, Any]:
        return bound_arguments(self.function, self.args, self.kwargs)


Before = Callable[[Observation], None]
After = Callable[[Observation, Any], dict[str, Any]]
# kind -> (what to take before the call, or None; the facts after it), filled in by the package
HANDLERS: dict[str, tuple[Before | None, After]] = {}

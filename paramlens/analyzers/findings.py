"""What a recognizer reports: a pattern at an exact range, the node to instrument and the static facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from paramlens.report import Span

# How the instrumenter observes a finding at run time (see paramlens/sandbox/runtime.py for each probe):
VALUE = "value"      # __pl_v__(id, expr): the value of an expression, when it is evaluated
METHOD = "method"    # __pl_m__(id, obj, "name", ...): a method call whose result may be a generator
CALL = "call"        # __pl_c__(id, f, ...): a call that may be a module's forward
APPLY = "apply"      # __pl_a__(id, obj, fn): Module.apply with every visit recorded
INIT = "init"        # __pl_i__(id, f, ...): an nn.init function with before/after statistics
AFTER = "after"      # `stmt; __pl_v__(id, expr)`: the value of an expression right after a statement ran
WATCH = "watch"      # __pl_w__(id, phase, lambda: param) around a statement that edits a parameter in place
TRANSFORM = "transform"  # __pl_t__(id, f, ...): a call that reshapes a model's tensors, with its state before/after
SAVE = "save"        # __pl_s__(id, f, obj, ...): a torch.save call, with what it wrote
NONE = None          # static only


@dataclass(eq=False)
class Finding:
    pattern: str
    span: Span
    node: cst.CSTNode | None
    probe: str | None
    facts: dict[str, Any] = field(default_factory=dict)
    function: str | None = None  # the enclosing def, when the site is inside one
    id: int = -1
    statement: int = -1  # index of the top-level statement the site is in
    # for WATCH: the expression whose tensor is watched, as source text
    watch_text: str | None = None

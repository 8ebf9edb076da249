"""A training step's calls: `optimizer.step()`, `zero_grad()` (an optimizer's or a module's) and a learning-rate
scheduler's `step()`. Probed around the call (TRANSFORM): the probe decides what the receiver is in the run
(sandbox/reshaping/optimization.py), so `env.step(action)` or any other `step()` gets no record and no
explanation, whatever the receiver is called."""

from __future__ import annotations

import libcst as cst

from paramlens.analyzers.context import RecognitionContext
from paramlens.analyzers.findings import Finding
from paramlens.analyzers.recognizers.module_methods import method_calls_around

NODE_TYPES = (cst.Call,)

METHODS = {"step": "training_step", "zero_grad": "zero_grad"}


def recognize(node: cst.CSTNode, ctx: RecognitionContext) -> list[Finding]:
    return method_calls_around(node, ctx, METHODS)

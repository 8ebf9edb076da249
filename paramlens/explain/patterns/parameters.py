"""Parameters and their values: `net[2].bias`, `.data`, `.grad`, indexing, `type(...)`, comparisons, and the
value or printed output of a top-level statement (what a notebook cell would show)."""

from __future__ import annotations

from typing import Any

import libcst as cst

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import code, join, output_block, owners_text, series, shape, stats_line, value_block
from paramlens.messages import message_id, t
from paramlens.explain.places import place
from paramlens.explain.patterns.common import calls_note, heading, not_run_note, site_code, times
from paramlens.explain.patterns.gradients import backward_before, shared_gradient_text


def _tensor_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("kind") == "tensor"]


def tensor_facts(value: dict[str, Any]) -> dict[str, Any]:
    return {"shape": value.get("shape"), "dtype": value.get("dtype"), "requires_grad": value.get("requires_grad"),
            "parameter": value.get("parameter"), "values": value.get("values"),
            "owner": [o["path"] for o in value.get("owner", [])],
            "buffer": any(o.get("buffer") and o.get("relation") == "same" for o in value.get("owner") or []),
            "stats": value.get("stats")}


def describe_tensor(locale: str, value: dict[str, Any], show_text: bool = True) -> str:
    buffer = any(o.get("buffer") and o.get("relation") == "same" for o in value.get("owner") or [])
    kind = t(locale, "A `Parameter`") if value.get("parameter") else \
        t(locale, "A buffer (registered with `register_buffer`: moved by `.to()`, never trained)") if buffer else \
        t(locale, "A plain `Tensor`")
    line = t(locale, "{kind} of shape {shape}, `{dtype}`, `requires_grad={requires_grad}`", kind=kind, shape=shape(value.get('shape')), dtype=value.get('dtype'), requires_grad=value.get('requires_grad'))
    owners = owners_text(locale, value.get("owner"))
    if owners:
        line += t(locale, "; it is {owners}", owners=owners)
    parts = [line + t(locale, ".")]
    if value.get("lazy"):
        parts.append(t(locale, "It is still uninitialised (a lazy module's parameter): its shape is decided by the first "
                       "forward call."))
        return join(*parts)
    # the summary first, then the values (cut to a few lines for a large tensor)
    if value.get("stats") and (value.get("numel") or 0) > 8:
        parts.append(stats_line(locale, value["stats"]))
    if show_text and value.get("text"):
        parts.append(value_block(locale, value["text"]))
    return join(*parts)


def _multi(locale: str, records: list[dict[str, Any]], finding: Finding, total: int) -> str:
    rows = []
    for record in records:
        owner = owners_text(locale, record.get("owner")) or "?"
        rows.append("- " + t(locale, "{owner}: {shape}, {stats}", owner=owner, shape=shape(record.get("shape"), locale),
                             stats=stats_line(locale, record.get("stats"))))
    head = t(locale, "Inside `{function}` this expression was evaluated {times}:", function=finding.function,
             times=times(locale, total))
    return join(head, "\n".join(rows), calls_note(locale, total, len(records)))


ATTR_NOTES = {
    "data": message_id("`.data` is a different tensor object that shares the parameter's storage and is not tracked by "
                       "autograd (`requires_grad=False`). Reading it is harmless; writing through it changes the "
                       "parameter behind autograd's back — inside training code prefer `with torch.no_grad():` for "
                       "in-place edits."),
    "grad": message_id("`.grad` is filled by `backward()`: it stays `None` until a loss computed from this parameter is "
                       "back-propagated, and afterwards accumulates (adds up) across `backward()` calls until zeroed."),
}


def explain_param_attr(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    attr = finding.facts["attr"]
    records = ctx.records(finding)
    title = heading(site_code(finding))
    note = t(locale, ATTR_NOTES[attr]) if attr in ATTR_NOTES else ""
    if not records:
        return join(title, note, not_run_note(finding, ctx)), {}
    first = records[0]
    if attr == "grad":
        return _explain_grad(finding, ctx, title, note, first)
    if first.get("kind") == "none":
        return join(title, "`None`", note), {"value": None}
    tensors = _tensor_records(records)
    if not tensors:
        return None  # `.weight` of something that is not a tensor: nothing parameter-specific to say
    total = ctx.count(finding)
    if finding.function and total > 1:
        return join(title, _multi(locale, tensors, finding, total), note), tensor_facts(tensors[0])
    return join(title, describe_tensor(locale, tensors[0]), note), tensor_facts(tensors[0])


def _receiver_requires_grad(ctx: ExplainContext, finding: Finding) -> bool | None:
    """`requires_grad` of the parameter whose `.grad` this is, as the run saw it at this expression."""
    receiver = ctx.by_node.get(id(getattr(finding.node, "value", None)))
    for record in ctx.records(receiver) if receiver else []:
        if record.get("kind") == "tensor" and "requires_grad" in record:
            return bool(record["requires_grad"])
    return None


def _explain_grad(finding: Finding, ctx: ExplainContext, title: str, note: str,
                  first: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """`p.grad`: what the run showed: None before any backward pass reached it, else the gradient, with the pass
    that filled it and, for a parameter used several times, the observed sum over its uses."""
    locale = ctx.locale
    last = backward_before(ctx, first)
    if first.get("kind") == "none":
        if last is None:
            text = t(locale, "`None`: no `backward()` had run yet at this point of the program, so this parameter has no "
                     "gradient.")
        elif _receiver_requires_grad(ctx, finding) is False:
            text = t(locale, "`None`: this parameter has `requires_grad=False` (it is frozen), so `backward()` at line "
                     "{line} computed no gradient for it.", line=last.get("line"))
        else:
            text = t(locale, "`None`, although `backward()` ran at {place}: that pass did not reach this parameter "
                     "(the loss was not computed from it), or `zero_grad()` reset its gradient to None since.",
                     place=place(locale, last.get("line")))
        return join(title, text, note), {"value": None, "backward_line": last.get("line") if last else None}
    tensors = _tensor_records([first])
    if not tensors:
        return None
    parts = [title]
    receiver = ctx.by_node.get(id(getattr(finding.node, "value", None)))
    paths = {owner["path"] for record in (ctx.records(receiver) if receiver else [])
             for owner in record.get("owner", []) if owner.get("relation") == "same"}
    variable = getattr(finding.node, "value", None)
    if isinstance(variable, cst.Name):  # `w.grad` of a plain tensor: the variable is its name
        paths.add(variable.value)
    if last is not None:
        if last.get("vector_jacobian"):
            parts.append(t(locale, "The gradient from `backward()` at {place}, called on a tensor that is not a "
                           "single number: a vector-Jacobian product vᵀ·J, with v its `gradient` argument.",
                           place=place(locale, last.get("line"))))
        else:
            parts.append(t(locale, "The gradient from `backward()` at {place}: d(loss)/d(parameter), one value per "
                           "element of the parameter.", place=place(locale, last.get('line'))))
        if paths & set(last.get("accumulated_into") or []):
            parts.append(t(locale, "**A sum:** this tensor already held a gradient when that pass ran, and "
                                   "`backward()` added to it. Only `.grad.zero_()`, `zero_grad()` or setting it to `None` "
                                   "starts it afresh."))
    parts.append(describe_tensor(locale, tensors[0]))
    facts = {**tensor_facts(tensors[0]), "backward_line": last.get("line") if last else None}
    shared = shared_gradient_text(ctx, paths) if paths else None
    if shared is not None:
        parts.append(shared[0])
        facts["shared"] = shared[1]
    parts.append(note)
    return join(*parts), facts


def _index_meaning(locale: str, finding: Finding, value: dict[str, Any]) -> str:
    text = finding.facts["text"]
    owner = next((o for o in value.get("owner", []) if o["relation"] in {"view", "data", "same"}), None)
    if owner and owner["path"].endswith(".weight") and text.rstrip().endswith("[0]") and \
            value.get("shape") and len(value["shape"]) == 1:
        return t(locale, "Row 0 of `{path}`: the {inputs} incoming weights of output unit 0 (one per input feature). "
                 "Indexing a parameter gives a view: it shares storage with it.", path=owner['path'], inputs=value['shape'][0])
    if owner:
        return t(locale, "A view into `{path}` (shares its storage).", path=owner['path'])
    return ""


def explain_param_index(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    records = _tensor_records(ctx.records(finding))
    title = heading(site_code(finding))
    if not records:
        return join(title, not_run_note(finding, ctx)), {}
    value = records[0]
    parts = [title, _index_meaning(locale, finding, value), describe_tensor(locale, value)]
    if value.get("grad_fn"):
        parts.append(t(locale, "Indexing the parameter itself (not `.data`) is recorded by autograd: `grad_fn={grad_fn}`.", grad_fn=value['grad_fn']))
    return join(*parts), tensor_facts(value)


def explain_param_type(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    records = [r for r in ctx.records(finding) if r.get("kind") == "type"]
    title = heading(site_code(finding))
    if not records:
        return join(title, not_run_note(finding, ctx)), {}
    name = records[0]["name"]
    if name == "torch.nn.parameter.Parameter":
        body = t(locale, "`torch.nn.parameter.Parameter` — a subclass of `torch.Tensor` with `requires_grad=True` by "
                 "default. Assigning a `Parameter` to a module attribute registers it: that is what makes it "
                 "appear in `parameters()`, `named_parameters()` and `state_dict()`, move with `.to(device)`, "
                 "and get updated by an optimizer. A plain tensor attribute gets none of that.")
    else:
        body = f"`{name}`"
    return join(title, body), {"type": name, "mro": records[0].get("mro")}


def explain_grad_none(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    """`p.grad is None` / `p.grad == None`: the result the run showed, and why, from whether a backward pass had
    run before it."""
    locale = ctx.locale
    records = [r for r in ctx.records(finding) if r.get("kind") == "scalar"]
    title = heading(site_code(finding))
    equality = finding.facts.get("operator") in {"Equal", "NotEqual"}
    style = t(locale, "`==` happens to work here: `Tensor.__eq__` returns `NotImplemented` for `None`, so Python falls "
              "back to comparing identity and gives a plain `True`/`False`. `is None` says that directly, which "
              "is why PEP 8 asks for it; an object whose `==` is element-wise, such as a NumPy array, would give "
              "an array instead.") if equality else ""
    if not records:
        general = t(locale, "`.grad` is `None` until a `backward()` pass reaches the parameter.")
        return join(title, general, style, not_run_note(finding, ctx)), {}
    value = records[0]["text"]
    last = backward_before(ctx, records[0])
    is_none = (value == "True") == (finding.facts.get("operator") in {"Is", "Equal"})
    if last is None:
        why = t(locale, "No `backward()` had run yet at this point of the program: creating a model or running a forward "
                "pass does not compute gradients, so `.grad` is still `None`.")
    elif is_none:
        why = t(locale, "`backward()` ran at {place}, but its pass did not reach this parameter (or `zero_grad()` "
                "reset the gradient to None since).", place=place(locale, last.get('line')))
    else:
        why = t(locale, "`backward()` at {place} filled it: the parameter now has a gradient.", place=place(locale, last.get('line')))
    facts = {"value": value, "backward_line": last.get("line") if last else None}
    return join(title, t(locale, "Result: `{value}`.", value=value), why, style), facts


def explain_param_compare(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    records = ctx.records(finding)
    title = heading(site_code(finding))
    if not records:
        return join(title, not_run_note(finding, ctx)), {}
    result = records[0]
    parts = [title]
    if result.get("kind") == "tensor":
        parts.append(t(locale, "Comparing tensors with `==` is element-wise: the result is a `bool` tensor of shape "
                       "{shape}.", shape=shape(result.get('shape'))))
        if result.get("text"):
            parts.append(value_block(locale, result["text"]))
    elif result.get("kind") == "scalar":
        parts.append(t(locale, "Result: `{text}`.", text=result.get('text')))
    else:
        parts.append(t(locale, "Result:") + "\n" + value_block(locale, result.get("text", "")))
    tally = ctx.tally(finding)
    if sum(tally.values()) > 1:
        counted = series(locale, (f"`{value}` ×{count}" for value, count in
                                  sorted(tally.items(), key=lambda item: -item[1])))
        parts.append(t(locale, "Over the run it was evaluated {times}: {counted}.",
                       times=times(locale, sum(tally.values())), counted=counted))
    left = _sides(ctx, finding)
    if left:
        parts.append(left)
    return join(*parts), {"value": result.get("values", result.get("text")), "tally": tally}


def _sides(ctx: ExplainContext, finding: Finding) -> str:
    """When both sides read one shared tensor, say so: the comparison cannot come out False."""
    owners: list[set[str]] = []
    for candidate in ctx.findings:
        if candidate.pattern != "param_attr" or candidate.facts.get("attr") == "data":
            continue
        if not (finding.span.line == candidate.span.line and finding.span.column <= candidate.span.column
                and candidate.span.end_column <= finding.span.end_column):
            continue
        records = _tensor_records(ctx.records(candidate))
        if records:
            owners.append({o["path"] for o in records[0].get("owner", []) if o["relation"] == "same"})
    if len(owners) == 2 and owners[0] and owners[0] == owners[1]:
        names = " = ".join(code(n) for n in sorted(owners[0]))
        return t(ctx.locale, "Both sides read **the same tensor** ({names}): the positions hold one layer object, so "
                             "this comparison can only be all True.", names=names)
    return ""


def explain_cell_value(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    records = ctx.records(finding)
    title = heading(site_code(finding))
    if not records:
        return join(title, not_run_note(finding, ctx)), {}
    value = records[0]
    if value.get("kind") == "none":
        return None  # a statement whose value is None shows nothing in a notebook either
    parts = [title, t(locale, "In a notebook this line's value is the cell's output:")]
    text = value.get("text")
    if value.get("kind") == "sequence":
        items = value.get("items", [])
        for index, item in enumerate(items):
            if item.get("kind") == "tensor":
                owners = owners_text(locale, item.get("owner"))
                if owners:
                    parts.append(t(locale, "Item {index}: from {owners}.", index=index, owners=owners))
    if text:
        parts.insert(2, value_block(locale, text))
    facts: dict[str, Any] = {"kind": value.get("kind")}
    if value.get("kind") == "tensor":
        facts.update({"values": value.get("values"), "shape": value.get("shape")})
    elif value.get("kind") == "sequence":
        facts["items"] = [item.get("values") for item in value.get("items", [])]
    return join(*parts), facts


def explain_print_output(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    status = ctx.statement_status(finding.span.line)
    if not status or not status.get("output"):
        return None
    for other in ctx.of_pattern("print_module"):
        if other.span == finding.span and \
                any(r.get("kind") == "module" for r in ctx.records(other)):
            return None  # the module-tree explanation of the same call shows this output too
    output = status["output"]
    unit = ctx.unit_at(finding.span.line)
    whole = unit is not None and (unit.line != finding.span.line or unit.end_line != finding.span.end_line)
    note = t(ctx.locale, "_Everything the enclosing statement printed:_") if whole else ""
    return join(heading(site_code(finding)), note, output_block(ctx.locale, output)), {"output": output}

"""`torch.func.functional_call` (which tensors were substituted for one call and that the model's own were left
as they were) and `torch.func.stack_module_state` (the stacked shapes, and that the stacked tensors are copies), as
the probe around each call observed them."""

from __future__ import annotations

from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import code, count, join, shape, table
from paramlens.messages import message_id, t
from paramlens.explain.patterns.common import calls_note
from paramlens.explain.fmt import names_list
from paramlens.explain.patterns.reshaping import code_list, module_name, observed
from paramlens.explain.fmt import plural

ROWS = 8


def _substituted(locale: str, record: dict[str, Any], model: str) -> str:
    given = record.get("substituted", [])
    kept = record.get("kept", [])
    listed = names_list(locale, [f"{code(s['name'])} {shape(s['shape'])}" for s in given[:6]]) + \
        ("…" if len(given) > 6 else "")
    line = t(locale, "Ran {model} with **{tensors}**: {listed}", model=model, listed=listed,
             tensors=plural(locale, record["substituted_count"], "{n} substituted tensor", "{n} substituted tensors"))
    if kept:
        line += t(locale, "; the other {parameters} were the model's own ({names}).",
                  parameters=plural(locale, len(kept), "{n} parameter", "{n} parameters"),
                  names=code_list(locale, kept[:6]) + ("…" if len(kept) > 6 else ""))
    else:
        line += t(locale, "; no parameter of the model's own was used.")
    return line


def _changed_own(locale: str, record: dict[str, Any], model: str) -> str:
    """What happened to the model's own tensors during the call, when something did."""
    lines = []
    if record.get("replaced"):
        lines.append(t(locale, "After the call these names of {model} hold other objects than before: {names}.", model=model, names=code_list(locale, record['replaced'])))
    if record.get("modified"):
        lines.append(t(locale, "The call wrote into these parameters of {model}: {names}.", model=model, names=code_list(locale, record['modified'])))
    if record.get("modified_buffers"):
        params_too = record.get("replaced") or record.get("modified")
        classes = record.get("modified_buffer_classes") or []
        norms = code_list(locale, classes) if classes and all("Norm" in c for c in classes) else ""
        why = t(locale, " ({norms} in training mode updates its running statistics)", norms=norms) if norms else ""
        text = message_id("The forward updated these buffers of {model} in place: {buffers}{why}. Pass the buffers in "
                          "the dictionaries too, or call `.eval()` first, to leave them alone.") if params_too else \
            message_id("{model}'s own parameters are untouched, but the forward updated these buffers of {model} in "
                       "place: {buffers}{why}. Pass the buffers in the dictionaries too, or call `.eval()` first, to "
                       "leave them alone.")
        lines.append(t(locale, text, model=model, buffers=code_list(locale, record["modified_buffers"]), why=why))
    return join(*lines)


def explain_functional_call(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    general = t(locale, "`functional_call` runs the module's forward with the given tensors in place of its own for this "
                "one call, then puts its own back: gradients flow to the given tensors, not to the model's "
                "parameters.")
    title, records, early = observed(ctx, finding, "functional_call", general=general)
    if early is not False:
        return early
    record = records[0]
    model = module_name(locale, record.get("module"), finding.facts.get("first", "model"))
    parts = [title, _substituted(locale, record, model)]
    if record.get("tied_in"):
        parts.append(t(locale, "Tied to a substituted name, {names} was substituted with it (`tie_weights=True`).", names=code_list(locale, record['tied_in'])))
    if record.get("unmatched"):
        text = message_id("{names}: no parameter or buffer of the model has this name, so it replaced nothing "
                          "(`strict=False`, the default, does not complain).") if not record.get("strict") else \
            message_id("{names}: no parameter or buffer of the model has this name, so it replaced nothing.")
        parts.append(t(locale, text, names=code_list(locale, record["unmatched"])))
    if record.get("model_untouched"):
        parts.append(t(locale, "After the call {model}'s own tensors are untouched: the same objects, with the same "
                       "values.", model=model))
    else:
        parts.append(_changed_own(locale, record, model))
    output = record.get("output") or {}
    if output.get("kind") == "tensor":
        parts.append(t(locale, "Output: {shape}.", shape=shape(output['shape'])))
    parts += [calls_note(locale, ctx.count(finding), len(records)), general]
    facts = {key: record.get(key) for key in ("substituted", "kept", "unmatched", "tied_in", "model_untouched",
                                              "replaced", "modified", "modified_buffers", "output")}
    return join(*parts), facts


def explain_stack_module_state(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    title, records, early = observed(ctx, finding, "stack_module_state")
    if early is not False:
        return early
    record = records[0]
    n, params = record["models"], record.get("params", [])
    rows = [[code(p["name"]), shape(p["model_shape"]), shape(p["shape"])] for p in params[:ROWS]]
    header = t(locale, "parameter|one model|stacked").split("|")
    parts = [title, t(locale, "Stacked the parameters of **{n} models**: each one gained a leading dimension of {n}.", n=n), table(header, rows)]
    if len(params) > ROWS:
        parts.append(t(locale, "… and {n_params} more.", n_params=len(params) - ROWS))
    copies = all(p["equal"] and not p["shares_memory"] for p in params)
    leaves = all(p["is_leaf"] and p["requires_grad"] for p in params)
    if copies:
        parts.append(t(locale, message_id(
            "They are copies: equal to the models' tensors now, sharing no memory with them, and new leaves with "
            "`requires_grad=True`: training them does not change the models.") if leaves else message_id(
            "They are copies: equal to the models' tensors now, sharing no memory with them.")))
    if record.get("buffers"):
        parts.append(t(locale, "Buffers stacked the same way: {n_buffers}.", n_buffers=count(len(record['buffers']))))
    parts.append(t(locale, "Pass them to `functional_call` under `vmap` to run every model at once."))
    return join(*parts), {"models": n, "params": [[p["name"], p["model_shape"], p["shape"]] for p in params],
                          "buffers": [[b["name"], b["model_shape"], b["shape"]] for b in record.get("buffers", [])],
                          "copies": copies, "leaves": leaves}

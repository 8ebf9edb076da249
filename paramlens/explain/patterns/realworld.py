"""Patterns of real model files: tying by assignment, buffers vs parameters vs plain tensors, freezing,
checkpoints (load_state_dict, torch.save / torch.load) and optimizer parameter groups."""

from __future__ import annotations

from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import code, count, join, names_list, owners_text, shape, table
from paramlens.messages import message_id, t
from paramlens.explain.patterns.common import heading, not_run_note, site_code
from paramlens.explain.fmt import plural


def _tensor_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("kind") == "tensor"]


def _method_records(ctx: ExplainContext, finding: Finding) -> list[dict[str, Any]]:
    return [r for r in ctx.records(finding) if r.get("kind") == "method"]


def explain_tie_assignment(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    target, source = finding.facts["target"], finding.facts["source"]
    title = heading(site_code(finding))
    general = t(locale, "After this line `{target}` and `{source}` are **one Parameter**, not two equal ones: an update "
                "through either name changes both, and in training the gradients of both uses add up in one "
                "`.grad`. `parameters()` / `named_parameters()` yield it once (under the name registered first), "
                "so it is counted once and handed to the optimizer once, while `state_dict()` lists it under "
                "both keys. `safetensors.torch.save_file` refuses tensors that share memory: save with "
                "`save_model` (which keeps one key) or drop one key and re-tie after loading.", target=target, source=source)
    records = _tensor_records(ctx.records(finding))
    if not records:
        return join(title, general, not_run_note(finding, ctx)), {}
    value = records[0]
    owners = [o["path"] for o in value.get("owner", [])]
    observed = t(locale, "Observed: a Parameter of shape {shape} ({count} values), reachable as {owners}.",
                 shape=shape(value.get("shape")), count=count(value.get("numel")),
                 owners=names_list(locale, [code(o) for o in owners])) if owners else \
        t(locale, "Observed: a Parameter of shape {shape} ({count} values).", shape=shape(value.get("shape")),
          count=count(value.get("numel")))
    return join(title, observed, general), {"shape": value.get("shape"), "owner": owners}


def explain_register(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    method = finding.facts["method"]
    title = heading(site_code(finding))
    if method == "register_parameter":
        general = t(locale, "`register_parameter(name, param)` does what assigning an `nn.Parameter` attribute does: the "
                    "tensor is trained, saved in `state_dict()` and moved by `.to(device)`.")
    else:
        general = t(locale, "A buffer is state that is not trained: it moves with `.to(device)` and is not in "
                    "`parameters()`. A persistent buffer (the default) is saved in `state_dict()`; "
                    "`persistent=False` keeps it out (recomputed or constant data such as masks and position "
                    "tables). A plain tensor attribute is neither: not saved, not moved.")
    if method == "Buffer":
        return _explain_buffer_attribute(finding, ctx, title, general)
    records = _method_records(ctx, finding)
    if not records:
        return join(title, general, not_run_note(finding, ctx)), {}
    rows = []
    seen: set = set()
    nothing = []  # names registered with None: torch keeps the attribute (None) and registers no tensor
    for record in records:
        if record.get("name") in seen:
            continue  # the same registration in another instance of the class
        seen.add(record.get("name"))
        tensor = record.get("tensor")
        if tensor is None:
            nothing.append(str(record.get("name")))
            continue
        where = t(locale, "saved in state_dict") if record.get("persistent", True) else \
            t(locale, "not saved (persistent=False)")
        if method == "register_parameter":
            where = t(locale, "trained and saved")
        rows.append([code(str(record.get("name"))), shape(tensor.get("shape")), tensor.get("dtype", "—"), where])
    parts = [title]
    if nothing:
        parts.append(t(locale, "{names} was registered as `None`: torch registers **no tensor** under that name. The "
                               "attribute exists and is `None` (so `if self.{first} is not None:` works), but it is not "
                               "in `parameters()`, `named_parameters()` or `state_dict()`, and nothing is trained or "
                               "saved for it. This is how layers built with `bias=False` say they have no bias.",
                       names=names_list(locale, [code(name) for name in nothing]), first=nothing[0]))
    if rows:
        header = t(locale, "name|shape|dtype|state_dict").split("|")
        parts.append(table(header, rows))
        parts.append(general)
    return join(*parts), {"names": [r.get("name") for r in records], "persistent": [r.get("persistent") for r in records],
                          "registered_none": nothing}


def _explain_buffer_attribute(finding: Finding, ctx: ExplainContext, title: str,
                              general: str) -> tuple[str, dict[str, Any]]:
    """`self.x = nn.Buffer(tensor, persistent=False)`: the assignment registers a buffer, as `register_buffer`."""
    locale = ctx.locale
    records = _tensor_records(ctx.records(finding))
    attribute = finding.facts["attribute"]
    how = t(locale, "Assigning an `nn.Buffer` to a module attribute registers it as `register_buffer({attribute!r}, "
            "...)` does.", attribute=attribute)
    if not records:
        return join(title, how, general, not_run_note(finding, ctx)), {}
    persistent = {"True": True, "False": False}.get(finding.facts.get("persistent", "True"))
    where = {True: t(locale, "saved in state_dict"), False: t(locale, "not saved (persistent=False)"),
             None: "—"}[persistent]
    value = records[0]
    header = t(locale, "name|shape|dtype|state_dict").split("|")
    rows = [[code(attribute), shape(value.get("shape")), value.get("dtype", "—"), where]]
    return join(title, how, table(header, rows), general), {"names": [attribute], "persistent": [persistent],
                                                            "registered_none": []}


def explain_parameter_new(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    records = _tensor_records(ctx.records(finding))
    title = heading(site_code(finding))
    general = t(locale, "`nn.Parameter` wraps a tensor so that assigning it to a module attribute registers it: it gets "
                "`requires_grad=True`, appears in `parameters()` and `state_dict()`, and an optimizer updates it.")
    if not records:
        return join(title, general, not_run_note(finding, ctx)), {}
    value = records[0]
    return join(title, t(locale, "Built: {shape}, `{dtype}`.", shape=shape(value.get('shape')), dtype=value.get('dtype')), general), \
        {"shape": value.get("shape")}


def explain_tensor_attribute(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    records = _tensor_records(ctx.records(finding))
    if not records or records[0].get("parameter"):
        return None
    locale = ctx.locale
    attribute = finding.facts["attribute"]
    value = records[0]
    return join(heading(site_code(finding)), t(locale, "`self.{attribute}` is a plain tensor {shape}: **neither a "
                                               "parameter nor a buffer**. It is not in `parameters()` (not "
                                               "trained), not in `state_dict()` (not saved or loaded) and "
                                               "`.to(device)` does not move it. If it is state, use "
                                               "`self.register_buffer({attribute!r}, ...)` (add "
                                               "`persistent=False` when it should not be saved); if it should be "
                                               "trained, wrap it in `nn.Parameter`.", attribute=attribute, shape=shape(value.get('shape')))), \
        {"shape": value.get("shape"), "attribute": attribute}


def explain_freeze(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    records = _method_records(ctx, finding)
    title = heading(site_code(finding))
    general = t(locale, "`requires_grad_(False)` freezes parameters in place: `backward()` no longer computes their "
                "gradients and optimizers skip them (pass only trainable ones: `[p for p in model.parameters() "
                "if p.requires_grad]`).")
    if not records:
        return join(title, general, not_run_note(finding, ctx)), {}
    record = records[-1]
    if "trainable" in record:
        line = t(locale, "After this call {trainable} of {total} values ({tensors} tensors) of `{receiver}` are "
                 "trainable.", trainable=count(record['trainable']), total=count(record['total']), tensors=record['tensors'], receiver=finding.facts['receiver'])
        return join(title, line, general), {"trainable": record["trainable"], "total": record["total"]}
    return join(title, general), {"requires_grad": record.get("requires_grad")}


def explain_requires_grad_assignment(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    """`p.requires_grad = False`: which tensors the run changed (every evaluation of a loop over parameters) and
    what that means for backward and the optimizer."""
    locale = ctx.locale
    title = heading(site_code(finding))
    tensors = [r for r in ctx.records(finding) if r.get("kind") == "tensor"]
    if not tensors:
        return join(title, t(locale, "Setting `requires_grad` on a tensor decides whether `backward()` computes a "
                                     "gradient for it."), not_run_note(finding, ctx)), {}
    frozen = [r for r in tensors if r.get("requires_grad") is False]
    names = [owners_text(locale, (r.get("owner") or [])[:1]) or code(finding.facts["tensor"]) for r in tensors[:6]]
    total = ctx.count(finding)
    listed = names_list(locale, names) + (" …" if total > len(names) else "")
    values = count(sum(r.get("numel") or 0 for r in tensors))
    if len(frozen) == len(tensors):
        what = t(locale, "Froze {tensors} ({values} values): {listed}. `backward()` computes no gradient for them and "
                         "an optimizer leaves them as they are; give the optimizer only the trainable ones "
                         "(`[p for p in model.parameters() if p.requires_grad]`).",
                 tensors=plural(locale, total, "{n} tensor", "{n} tensors"), values=values, listed=listed)
    elif not frozen:
        what = t(locale, "Made {tensors} ({values} values) trainable: {listed}. `backward()` computes their gradients "
                         "from now on.", tensors=plural(locale, total, "{n} tensor", "{n} tensors"), values=values,
                 listed=listed)
    else:
        what = t(locale, "Set `requires_grad` on {tensors}: {k} frozen, {m} trainable ({listed}).",
                 tensors=plural(locale, total, "{n} tensor", "{n} tensors"), k=len(frozen), m=len(tensors) - len(frozen),
                 listed=listed)
    note = t(locale, "_Evaluated {total} times during the run; the first {shown} are counted._", total=total,
             shown=len(tensors)) if total > len(tensors) else ""
    return join(title, what, note), {"frozen": len(frozen), "tensors": len(tensors), "evaluated": total}


def explain_load_state_dict(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    records = _method_records(ctx, finding)
    title = heading(site_code(finding))
    general = t(locale, "`load_state_dict` copies tensors into the module's parameters and buffers by key. With "
                "`strict=True` (the default) any missing or unexpected key raises; with `strict=False` they are "
                "returned as `missing_keys` (left as they were) and `unexpected_keys` (ignored) — check them, a "
                "silent partial load is a common bug. Shapes must match either way.")
    if not records:
        return join(title, general, not_run_note(finding, ctx)), {}
    record = records[0]
    if record.get("error"):
        return join(title, t(locale, "It raised: `{error}`", error=record['error'][:400]),
                    general), {"error": record["error"]}
    missing, unexpected = record.get("missing", []), record.get("unexpected", [])
    none = t(locale, "none")
    line = t(locale, "Loaded from {loaded}; missing keys: {missing}; unexpected keys: {unexpected}.",
             loaded=plural(locale, record.get("loaded") or 0, "{n} entry", "{n} entries"), missing=names_list(locale, [code(k) for k in missing]) or none,
             unexpected=names_list(locale, [code(k) for k in unexpected]) or none)
    return join(title, line, general), {"missing": missing, "unexpected": unexpected, "loaded": record.get("loaded")}


def _stored_value(locale: str, value: dict[str, Any], verb: str) -> tuple[str, str]:
    """What torch.save wrote or torch.load returned, in a sentence (`verb` is "save" or "load"), and a table of the
    tensors by key when it is a dict of tensors."""
    kind = value.get("kind")
    saving = verb == "save"
    if kind == "state_dict":
        rows = [[code(e["key"]), shape(e["shape"], locale), e["dtype"]] for e in value["entries"][:12]]
        listed = table(t(locale, "key|shape|dtype").split("|"), rows)
        if value["count"] > 12:
            listed += "\n\n" + t(locale, "… and {hidden} more.", hidden=value["count"] - 12)
        if value.get("from_state_dict"):
            sentence = t(locale, "Saved a state dict: {n} tensors by key, the usual way to checkpoint a model "
                         "(`load_state_dict` puts them back into a model of the same structure):", n=value["count"]) \
                if saving else t(locale, "Loaded a state dict with {n} entries:", n=value["count"])
        else:
            sentence = t(locale, "Saved a `{type}` of {n} tensors, assembled by the program (not returned by "
                         "`state_dict()`):", type=value["type"], n=value["count"]) \
                if saving else t(locale, "Loaded a `{type}` of {n} tensors:", type=value["type"], n=value["count"])
        return sentence, listed
    if kind == "tensor":
        described = t(locale, "a tensor of shape {shape}, `{dtype}`", shape=shape(value.get("shape"), locale),
                      dtype=value.get("dtype"))
    elif kind == "module":
        described = t(locale, "the whole `{cls}` module object ({count} parameters)", cls=value["class"],
                      count=count(value.get("param_count")))
    elif kind == "sequence":
        items = value.get("items") or []
        if items and len(items) == value["count"] and all(i.get("kind") == "tensor" for i in items):
            described = t(locale, "a `{type}` of {n} tensors: {tensors}", type=value["type"], n=value["count"],
                          tensors=names_list(locale, [f"{shape(i.get('shape'), locale)} `{i.get('dtype')}`"
                                                      for i in items]))
        else:
            described = t(locale, "a `{type}` of {n} items", type=value["type"], n=value["count"])
    elif kind == "none":
        described = "`None`"
    else:
        described = t(locale, "a `{type}` object", type=value.get("type", "?"))
    return (t(locale, "Saved {what}.", what=described) if saving else t(locale, "Loaded {what}.", what=described)), ""


WHOLE_MODULE_NOTE = message_id(
    "Saving a whole module pickles it: the file names its class by module and name, so loading needs that code "
    "importable at the same place, and since torch 2.6 `torch.load` refuses it unless given `weights_only=False` "
    "(only for files you trust). `torch.save(model.state_dict(), path)` saves just the tensors by key.")


def explain_torch_load(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    records = [r for r in ctx.records(finding) if r.get("kind") and "unobserved" not in r]
    if not records:
        return None
    record = records[0]
    sentence, listed = _stored_value(locale, record, "load")
    note = t(locale, "`torch.load` unpickles the file. Since torch 2.6 it defaults to `weights_only=True`, which "
             "restores tensors and plain containers but refuses other pickled objects; pass `weights_only=False` "
             "only for files you trust.")
    facts: dict[str, Any] = {"loaded": record.get("kind")}
    if record.get("kind") == "state_dict":
        facts["keys"] = [e["key"] for e in record["entries"]]
    return join(heading(site_code(finding)), sentence, listed, note), facts


def explain_torch_save(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    title = heading(site_code(finding))
    records = [r for r in ctx.records(finding) if r.get("kind") == "save"]
    if not records:
        general = t(locale, "`torch.save(obj, path)` pickles `obj` into the file: for a model, "
                    "`torch.save(model.state_dict(), path)` saves the tensors by key, the usual checkpoint.")
        return join(title, general, not_run_note(finding, ctx)), {}
    saved = records[0]["saved"]
    sentence, listed = _stored_value(locale, saved, "save")
    whole = t(locale, WHOLE_MODULE_NOTE) if saved.get("kind") == "module" else ""
    note = t(locale, "Run by ParamLens, this wrote into the sandbox's private temporary directory (deleted after the "
             "run), never into your project.")
    return join(title, sentence, listed, whole, note), {"saved": saved.get("kind")}


def explain_optimizer(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    records = [r for r in ctx.records(finding) if r.get("kind") == "optimizer"]
    title = heading(site_code(finding))
    if not records:
        return join(title, not_run_note(finding, ctx)), {}
    record = records[0]
    rows = []
    for index, group in enumerate(record["groups"]):
        options = ", ".join(f"{k}={v}" for k, v in group["options"].items() if k in {"lr", "weight_decay", "momentum",
                                                                                     "betas", "eps"})
        names = ", ".join(code(n) for n in group["names"] if n) + (" …" if group["tensors"] > len(group["names"]) else "")
        rows.append([str(index), str(group["tensors"]), count(group["numel"]), options, names or "—"])
    header = t(locale, "group|tensors|values|options|first parameters").split("|")
    total = sum(g["numel"] for g in record["groups"])
    return join(title, t(locale, "`{cls}` with {groups}, {total} values in all:", cls=record['class'], groups=plural(locale, record['total_groups'], "{n} parameter group", "{n} parameter groups"), total=count(total)),
                table(header, rows),
                t(locale, "Each group has its own options; a parameter in no group is never updated, and one in two "
                  "groups makes the optimizer raise.")), \
        {"groups": [{"tensors": g["tensors"], "numel": g["numel"], "options": g["options"]} for g in record["groups"]]}

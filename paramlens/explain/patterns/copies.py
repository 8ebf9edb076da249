"""New model objects: `copy.deepcopy(model)` (a new set of tensors, with the original's ties kept as ties between
the copy's own tensors) and a module built through a class name computed at run time (`getattr(nn, name)(...)`),
as the probe around the call observed them."""

from __future__ import annotations

from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import code, count, join, names_list
from paramlens.messages import message_id, t
from paramlens.explain.patterns.common import calls_note, heading, module_label, site_code
from paramlens.explain.patterns.modules import describe_module, module_facts
from paramlens.explain.patterns.reshaping import missing_note, module_name, raised, records_of
from paramlens.explain.fmt import plural


def _ties(groups: list[list[str]], locale: str) -> str:
    return t(locale, "; ").join(" = ".join(code(name) for name in group) for group in groups)


def _module_copy(locale: str, record: dict[str, Any], source: str) -> list[str]:
    copy = record["copy"]
    independent = record["same_objects"] == 0 and record["shared_storage"] == 0
    tensors = plural(locale, record["tensors"], "{n} tensor", "{n} tensors")
    if independent:
        head = t(locale, "A new `{cls}` with its own **{tensors}** ({values} parameter values): none of them is a "
                         "tensor of {source} or shares memory with one.", cls=copy["class"], tensors=tensors,
                 values=count(copy["param_count"]), source=source)
    else:
        head = t(locale, "A new `{cls}` with its own **{tensors}** ({values} parameter values): {same} are tensors of "
                         "{source} itself and {shared} share memory with one.", cls=copy["class"], tensors=tensors,
                 values=count(copy["param_count"]), same=record["same_objects"], source=source,
                 shared=record["shared_storage"])
    if record["equal_values"]:
        head += t(locale, " All values equal the original's at this moment.")
    parts = [head]
    if record.get("tied_copy"):
        inside = record.get("ties_point_into_copy")
        text = message_id("The original's tie {source} is kept as a tie inside the copy: {copy} are one tensor of the "
                          "copy, not a tensor of the original.") if inside else \
            message_id("The original's tie {source} is kept as a tie inside the copy: {copy} are one tensor of the copy.")
        parts.append(t(locale, text, source=_ties(record["tied_source"], locale), copy=_ties(record["tied_copy"], locale)))
    elif record.get("tied_source"):
        parts.append(t(locale, "The original's tie {tied_source} is not a tie in the copy.", tied_source=_ties(record["tied_source"], locale)))
    if independent:
        parts.append(t(locale, "From now on the two change independently: training one (or an optimizer built on one) "
                       "does not touch the other."))
    return parts


def explain_deepcopy(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    records = [r for r in records_of(ctx, finding, "deepcopy") if r.get("copy") or r.get("state_dict") or
               r.get("error")]
    if not records:
        return None  # not run, or a copy of something that holds no tensors: nothing about parameters to say
    title = heading(site_code(finding))
    record = records[0]
    if record.get("error"):
        return join(title, raised(locale, record)), {"error": record["error"]}
    source = module_name(locale, record.get("source"), finding.facts.get("first", "the original"))
    if record.get("state_dict"):
        shared = record["shared_storage"]
        text = message_id("Copied **{tensors}**; {shared} of them share memory with {source} (a `state_dict()` alone "
                          "shares memory with the model's parameters: an in-place update of the model would change "
                          "it).") if not shared else \
            message_id("Copied **{tensors}**; {shared} of them share memory with {source}.")
        line = t(locale, text, tensors=plural(locale, record["tensors"], "{n} tensor", "{n} tensors"),
                 shared=count(shared), source=source)
        return join(title, line, calls_note(locale, ctx.count(finding), len(records))), \
            {"tensors": record["tensors"], "shared_storage": shared, "equal_values": record["equal_values"]}
    parts = [title, *_module_copy(locale, record, source), calls_note(locale, ctx.count(finding), len(records))]
    facts = {key: record[key] for key in ("tensors", "same_objects", "shared_storage", "equal_values", "tied_source",
                                          "tied_copy", "ties_point_into_copy")}
    facts["param_count"] = record["copy"]["param_count"]
    return join(*parts), facts


def explain_module_by_name(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    records = records_of(ctx, finding, "construct")
    name = finding.facts.get("name", "name")
    if not records:
        return join(heading(site_code(finding)), t(locale, "Builds the `torch.nn` class whose name `{name}` holds when "
                                                   "the line runs.", name=name), missing_note(ctx, finding)), {}
    record = records[0]
    if record.get("error"):
        return join(heading(site_code(finding)), raised(locale, record)), {"error": record["error"]}
    module = record.get("module")
    resolved = record["nn_name"] or record["resolved"]
    title = heading(t(locale, "`getattr(nn, {name})` resolved to `{resolved}`", name=name, resolved=resolved))
    parts = [title, t(locale, "Built {module} (class `{resolved}`).", module=code(module_label(module)), resolved=record['resolved']) if module else ""]
    resolved_all = sorted({r["nn_name"] or r["resolved"] for r in records if not r.get("error")})
    if len(resolved_all) > 1:
        parts.append(t(locale, "Over {runs} runs of this line it resolved to: {classes}.", runs=len(records),
                       classes=names_list(locale, [code(c) for c in resolved_all])))
    if module:
        parts.append(describe_module(locale, module))
    facts = {"resolved": record["resolved"], "nn_name": record["nn_name"], "classes": resolved_all}
    if module:
        facts.update(module_facts(module))
    return join(*parts), facts

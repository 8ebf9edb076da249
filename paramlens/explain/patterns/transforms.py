"""Methods that re-allocate, re-draw, cast or replace a model's tensors: `to_empty(device=...)`,
`reset_parameters()`, `.half()` / `.float()` / `.double()` / `.bfloat16()` / `.to(...)`, timm-style
`reset_classifier(num_classes)` and transformers' `post_init()` / `tie_weights()`. What changed (devices, dtypes, memory, which Parameter objects were kept, which
values were re-drawn with which bound, which submodule was replaced), from the probe around the call. A call whose
receiver turned out not to be a module (`x.to(device)` on a tensor) gets no explanation."""

from __future__ import annotations

from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import clauses, code, count, join, names_list, num, series, shape, table
from paramlens.messages import t
from paramlens.explain.patterns.common import calls_note, module_label
from paramlens.explain.patterns.reshaping import module_name, observed
from paramlens.explain.fmt import plural

ROWS = 8


def _subject(locale: str, record: dict[str, Any], finding: Finding) -> str:
    return module_name(locale, record.get("module"), finding.facts.get("receiver", "module"))


def _bytes(value: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value} B"


def _objects_line(locale: str, record: dict[str, Any]) -> str:
    same, total = record["same_parameters"], record["parameters"]
    if not total:
        return ""
    if same == total and not any(change["from"] != change["to"] or change.get("device_from") != change.get("device_to")
                                 for change in record["changes"]):
        return t(locale, "The Parameter objects are the same ({same} of {total}) and untouched, so an optimizer built "
                 "before still holds them.", same=same, total=total)
    if same == total:
        return t(locale, "The Parameter objects are the same ({same} of {total}; their data was replaced in place), so "
                 "an optimizer built before still holds them.", same=same, total=total)
    return t(locale, "New Parameter objects: {total} of {of}. An optimizer built before this call still holds the old "
             "ones: build it after.", total=total - same, of=total)


def _change_lines(locale: str, record: dict[str, Any]) -> list[str]:
    lines = []
    for change in record["changes"]:
        kind = plural(locale, change["tensors"], "{n} parameter", "{n} parameters") if change["kind"] == "parameter" \
            else plural(locale, change["tensors"], "{n} buffer", "{n} buffers")
        what = []
        if change["from"] != change["to"]:
            what.append(f"{change['from']} → {change['to']}")
        if change["device_from"] != change["device_to"]:
            what.append(f"{change['device_from']} → {change['device_to']}")
        text = series(locale, what) if what else t(locale, "unchanged ({to}, {device_to})", to=change['to'], device_to=change['device_to'])
        lines.append("- " + t(locale, "{kind} ({values}): {text}", kind=kind, text=text,
                              values=plural(locale, change["numel"], "{n} value", "{n} values")))
    return lines


def explain_cast(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    title, records, early = observed(ctx, finding, "cast", certain=False)
    if early is not False:
        return early
    record = records[0]
    subject = _subject(locale, record, finding)
    changed = [c for c in record["changes"] if c["from"] != c["to"] or c["device_from"] != c["device_to"]]
    key = t(locale, "`{method}` changed the tensors of {subject}:", method=record['method'], subject=subject) \
        if changed else t(locale, "`{method}` changed no tensor of {subject}: they already had this dtype and device.", method=record['method'], subject=subject)
    parts = [title, key, "\n".join(_change_lines(locale, record)),
             t(locale, "Memory: {bytes_before} → {bytes_after}.", bytes_before=_bytes(record['bytes_before']), bytes_after=_bytes(record['bytes_after'])),
             _objects_line(locale, record), calls_note(locale, ctx.count(finding), len(records))]
    if any(c["kind"] == "buffer" and c["from"] == c["to"] for c in record["changes"]) and changed:
        parts.insert(-2, t(locale, "Integer buffers (such as BatchNorm's `num_batches_tracked`) keep their dtype: a "
                           "floating-point cast leaves them alone."))
    return join(*parts), {key_: record[key_] for key_ in ("method", "changes", "same_parameters", "parameters",
                                                          "bytes_before", "bytes_after")}


def explain_to_empty(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    title, records, early = observed(ctx, finding, "to_empty", certain=True)
    if early is not False:
        return early
    record = records[0]
    subject = _subject(locale, record, finding)
    moves = sorted({f"{c['device_from']} → {c['device_to']}" for c in record["changes"]})
    tensors = sum(c["tensors"] for c in record["changes"])
    parts = [title,
             t(locale, "Gave the {tensors} of {subject} new, **uninitialised** memory ({moves}, {bytes}): their values "
                       "are whatever that memory held, neither random draws nor zeros. Initialise them next: "
                       "`reset_parameters()`, an init function, or `load_state_dict`.",
               tensors=plural(locale, tensors, "{n} tensor", "{n} tensors"), subject=subject,
               moves=names_list(locale, moves), bytes=_bytes(record["bytes_after"])),
             _objects_line(locale, record), calls_note(locale, ctx.count(finding), len(records))]
    return join(*parts), {key: record[key] for key in ("changes", "same_parameters", "parameters", "bytes_after")}


def _call_text(call: dict[str, Any]) -> str:
    """`kaiming_uniform_(a=2.236)`, `uniform_(-0.4472, 0.4472)`, `fill_(1)`, as torch was called."""
    args = call.get("args", {})
    if call["fn"] in {"uniform_"} and "a" in args and "b" in args:
        shown = f"{num(args['a'])}, {num(args['b'])}"
    elif call["fn"] in {"normal_"} and "mean" in args:
        shown = f"mean={num(args['mean'])}, std={num(args.get('std'))}"
    elif call["fn"].startswith("kaiming"):
        shown = f"a={num(args.get('a'))}"
    else:
        shown = ", ".join(f"{k}={num(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v}"
                          for k, v in args.items() if not k.startswith("arg")) or \
            ", ".join(num(v) if isinstance(v, (int, float)) else str(v) for k, v in args.items() if v is not None)
    return f"{call['fn']}({shown})"


def _scale_text(locale: str, call: dict[str, Any]) -> str:
    if call.get("bound") is not None:
        return t(locale, "bound ±{bound} (fan_in {fan_in})", bound=num(call['bound']), fan_in=call.get('fan_in'))
    if call.get("std") is not None:
        return t(locale, "std {std} (fan_in {fan_in})", std=num(call['std']), fan_in=call.get('fan_in'))
    args = call.get("args", {})
    if call["fn"] == "uniform_" and "a" in args and "b" in args:
        return t(locale, "range [{a}, {b}]", a=num(args['a']), b=num(args['b']))
    return "—"


def _reset_rows(locale: str, record: dict[str, Any], prefix: str) -> list[list[str]]:
    """One row per re-drawn tensor of one `reset_parameters` call: what torch called on it, and the scale."""
    calls: dict[str, list[dict[str, Any]]] = {}
    for call in record["calls"]:
        calls.setdefault(call["tensor"], []).append(call)
    rows = []
    for change in record["changed"]:
        how = calls.get(change["name"], [])
        rows.append([code(prefix + change["name"]), shape(change["shape"]),
                     clauses(locale, (code(_call_text(c)) + (t(locale, " (part)") if c["part"] else "")
                                      for c in how)) or "—",
                     clauses(locale, (_scale_text(locale, c) for c in how)) or "—",
                     # no statistics after (a tensor without values, e.g. empty or on the meta device): no range
                     f"[{num(after['min'])}, {num(after['max'])}]" if (after := change.get("after")) else "—"])
    return rows


def explain_reset_parameters(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    title, records, early = observed(ctx, finding, "reset_parameters", certain=True)
    if early is not False:
        return early
    records = [r for r in records if "changed" in r]
    if not records:
        return None
    rows: list[list[str]] = []
    for record in records:
        path = (record.get("module") or {}).get("path")
        rows += _reset_rows(locale, record, f"{path}." if path and len(records) > 1 else "")
    header = t(locale, "tensor|shape|torch called|scale|values after (min, max)").split("|")
    changed = sum(len(r["changed"]) for r in records)
    if len(records) == 1:
        record = records[0]
        subject = _subject(locale, record, finding)
        key = t(locale, "Re-drew **{changed} of {tensors}** tensors of {subject} (`{cls}`) the way `{cls}` initialises "
                "itself:", changed=changed, tensors=record['tensors'], subject=subject, cls=record['class'])
    else:
        classes = "、".join(sorted({f"`{r['class']}`" for r in records})) if locale == "zh-CN" else \
            ", ".join(sorted({f"`{r['class']}`" for r in records}))
        key = t(locale, "Re-drew **{changed}** tensors in {n_records} modules ({classes}), each the way its class "
                "initialises itself:", changed=changed, n_records=len(records), classes=classes)
    parts = [title, key, table(header, rows[:ROWS])]
    if len(rows) > ROWS:
        parts.append(t(locale, "… and {n_rows} more.", n_rows=len(rows) - ROWS))
    parts.append(t(locale, "Any values set before this call (by hand, an init function or a checkpoint) are gone."))
    parts.append(calls_note(locale, ctx.count(finding), len(records)))
    facts = {"modules": [{"module": (r.get("module") or {}).get("path"), "class": r["class"], "tensors": r["tensors"],
                          "changed": [{"name": c["name"], "shape": c["shape"], "after": c["after"]}
                                      for c in r["changed"]],
                          "calls": r["calls"]} for r in records]}
    return join(*parts), facts


def _entry_text(locale: str, entry: dict[str, Any] | None) -> str:
    if entry is None:
        return t(locale, "(none)")
    return code(module_label(entry)) + t(locale, ", {param_count} values", param_count=count(entry['param_count']))


def explain_reset_classifier(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    title, records, early = observed(ctx, finding, "reset_classifier", certain=True)
    if early is not False:
        return early
    record = records[0]
    subject = _subject(locale, record, finding)
    replaced = record["replaced"]
    before, after = record["param_count_before"], record["param_count_after"]
    if len(replaced) == 1:
        entry = replaced[0]
        key = t(locale, "Replaced the head `{path}` of {subject}: {old} → **{new}**.", path=entry['path'], subject=subject, old=_entry_text(locale, entry['old']), new=_entry_text(locale, entry['new']))
        detail = ""
    else:
        key = t(locale, "Replaced {n_replaced} submodule(s) of {subject}:", n_replaced=len(replaced), subject=subject)
        header = t(locale, "submodule|before|after").split("|")
        detail = table(header, [[code(e["path"]), _entry_text(locale, e["old"]), _entry_text(locale, e["new"])]
                                for e in replaced[:ROWS]])
    shapes = []
    for entry in replaced[:2]:
        for side in ("old", "new"):
            module = entry.get(side)
            if module and module.get("parameters"):
                label = t(locale, "before") if side == "old" else t(locale, "after")
                listed = [f"`{n}` {shape(s)}" for n, s in module["parameters"]]
                shapes.append(t(locale, "{label} `{path}`: {shapes}", label=label, path=entry["path"],
                                shapes=names_list(locale, listed)))
    parts = [title, key, detail, "\n".join(f"- {s}" for s in shapes),
             t(locale, "The model: {before} → {after} parameter values. The new head is freshly initialised (the old "
               "one's weights are gone), and an optimizer built before this call does not hold its parameters.", before=count(before), after=count(after)),
             calls_note(locale, ctx.count(finding), len(records))]
    return join(*parts), {"replaced": [{"path": e["path"], "old": _brief(e["old"]), "new": _brief(e["new"])}
                                       for e in replaced],
                          "param_count_before": before, "param_count_after": after}


def _brief(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    return {"class": entry["class"], "param_count": entry["param_count"], "parameters": entry.get("parameters", [])}


def explain_post_init(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    """transformers' `post_init()` (the class's `_init_weights` on every submodule, then the ties) and
    `tie_weights()`: which init functions ran on how many tensors, and which names now share one Parameter."""
    locale = ctx.locale
    title, records, early = observed(ctx, finding, "post_init", certain=True)
    if early is not False:
        return early
    records = [r for r in records if "tally" in r]
    if not records:
        return None
    record = records[0]
    subject = code(record["class"])
    parts = [title]
    method = finding.facts.get("method")
    if method == "post_init" and record.get("init_calls"):
        ran = dict(init=record.get("init_weights") or "_init_weights", n_modules=count(record["init_calls"]),
                   submodules=count(record["submodules"]), subject=subject)
        parts.append(t(locale, "Ran `{init}` on {n_modules} of the {submodules} modules of {subject} (the module "
                       "itself included), the way transformers initialises a model it builds from a config.", **ran)
                     if record.get("transformers") else
                     t(locale, "Ran `{init}` on {n_modules} of the {submodules} modules of {subject} (the module "
                       "itself included).", **ran))
    elif method == "post_init" and record.get("init_weights"):
        parts.append(t(locale, "`{init}` did not run during this call; the model is on the meta device.",
                       init=record["init_weights"]) if record.get("meta") else
                     t(locale, "`{init}` did not run during this call.", init=record["init_weights"]))
    if record["tally"]:
        calls = series(locale, [f"`{name}` ×{number}" for name, number in record["tally"].items()])
        parts.append(t(locale, "It wrote **{written} of {tensors}** tensors: {calls}.", written=count(record["written"]),
                       tensors=count(record["tensors"]), calls=calls))
        if record.get("meta"):
            parts.append(t(locale, "On the meta device these calls compute no values; which ones ran is what the run "
                           "shows."))
    elif method == "post_init" and record.get("init_calls"):
        parts.append(t(locale, "It wrote none of the {tensors} tensors (no initialiser reached them).",
                       tensors=count(record["tensors"])))
    tied = record.get("tied") or []
    if tied:
        lines = ["- " + t(locale, "{names}: one Parameter", names=names_list(locale, [code(n) for n in group]))
                 for group in tied[:ROWS]]
        parts.append(t(locale, "Tied during this call:") + "\n" +
                     "\n".join(lines))
        parts.append(t(locale, "Each group is one tensor: `parameters()` and the optimizer see it once, `state_dict()` "
                       "keeps every name."))
    elif method == "tie_weights":
        parts.append(t(locale, "No new tie: the names that share a Parameter are the same as before the call."))
    if ctx.count(finding) > 1:
        parts.append(t(locale, "_Ran {total} times during the run (once for each model built that contains a "
                       "{cls}); the first is shown._", total=ctx.count(finding), cls=subject))
    facts = {"class": record["class"], "init_weights": record.get("init_weights"),
             "init_calls": record.get("init_calls"), "calls": record["tally"],
             "written": record["written"], "tensors": record["tensors"], "tied": tied}
    return join(*parts), facts

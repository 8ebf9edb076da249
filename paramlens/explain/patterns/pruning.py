"""Pruning with `torch.nn.utils.prune`: what a pruning call zeroed (per tensor and overall, with the magnitude or
norm that separated pruned from kept values), the `*_orig` parameter and `*_mask` buffer it left, and what
`prune.remove` folded back into a plain parameter. Every number is from the probe around the call."""

from __future__ import annotations

from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import count, join, num, shape, table
from paramlens.messages import t
from paramlens.explain.patterns.common import calls_note
from paramlens.explain.patterns.reshaping import apart, observed, percent, tensor_path, tensors_list

ROWS = 8


def _targets(records: list[dict[str, Any]], source: str) -> list[dict[str, Any]]:
    """Every tensor the observed calls pruned, in order, each with its display name: its place in a top-level
    model, else the module as the source wrote it (not for `global_unstructured`, whose first argument is the
    whole list), else its class."""
    found = []
    for record in records:
        for target in record.get("targets", []):
            label = target.get("module") or {}
            fallback = source if record.get("method") is None and source else label.get("class", "?")
            found.append({**target, "display": tensor_path(label, target["name"], fallback)})
    return found


def _norm_name(norm: Any) -> str:
    if norm in (1, 1.0):
        return "L1"
    if norm in (2, 2.0):
        return "L2"
    if norm == "fro":
        return "Frobenius"
    if norm in ("inf", float("inf")):
        return "L∞"
    return f"L{norm}"


def _separation(locale: str, target: dict[str, Any]) -> str:
    """What separated pruned from kept values, as observed: a magnitude (L1) or slice norms (Ln-structured)."""
    if target.get("pruned_slices") is not None:
        indices = t(locale, ", ").join(str(i) for i in target["pruned_slices"][:16])
        norm = _norm_name(target.get("norm"))
        line = t(locale, "Zeroed {pruned_slice_count} of {slices} slices along dim {dim} (index {indices})", pruned_slice_count=target['pruned_slice_count'], slices=target['slices'], dim=target['dim'], indices=indices)
        if target.get("largest_pruned_norm") is not None and target.get("smallest_kept_norm") is not None:
            line += t(locale, ": those with the smallest {norm} norm (pruned ≤ {largest_pruned_norm}, kept ≥ "
                      "{smallest_kept_norm}).", norm=norm, largest_pruned_norm=num(target['largest_pruned_norm']), smallest_kept_norm=num(target['smallest_kept_norm']))
        else:
            line += t(locale, ".")
        return line
    if target.get("largest_pruned") is not None and target.get("smallest_kept") is not None:
        return _magnitude_line(locale, target)
    if (target.get("methods") or [""])[-1].startswith("Random"):
        return t(locale, "Which values: chosen at random, not by size.")
    return ""


def _magnitude_line(locale: str, facts: dict[str, Any]) -> str:
    pruned, kept = apart(facts["largest_pruned"], facts["smallest_kept"])
    return t(locale, "Every pruned value had |w| ≤ {pruned}; every kept one has |w| ≥ {kept}.", pruned=pruned, kept=kept)


def _one_target(locale: str, target: dict[str, Any]) -> str:
    name, zeros, numel = target["display"], target["zeros"], target["numel"]
    line = t(locale, "Pruned **{zeros} of {numel}** values ({percent}) of {name} {shape}.", zeros=count(zeros), numel=count(numel), percent=percent(zeros, numel), name=name, shape=shape(target.get('shape')))
    if target.get("zeros_before") is not None:
        line += t(locale, " It was already pruned ({zeros_before} zeros in the old mask): the new mask keeps those and "
                          "prunes among the rest.", zeros_before=count(target["zeros_before"]))
    return join(line, _separation(locale, target))


def _targets_table(locale: str, targets: list[dict[str, Any]]) -> str:
    rows = [[t["display"], shape(t.get("shape")), f"{count(t['zeros'])} / {count(t['numel'])}",
             percent(t["zeros"], t["numel"])] for t in targets[:ROWS]]
    header = t(locale, "tensor|shape|pruned|share").split("|")
    text = table(header, rows)
    if len(targets) > ROWS:
        text += "\n\n" + t(locale, "… and {n_targets} more.", n_targets=len(targets) - ROWS)
    return text


def _what_changed(locale: str, target: dict[str, Any]) -> str:
    """`weight` became `weight_orig` + `weight_mask`, from the observed renames and additions."""
    diff = target.get("diff") or {}
    renamed = [r for r in diff.get("renamed", []) if r.get("was") == target["name"]]
    masks = [a for a in diff.get("added", []) if a["kind"] == "buffer"]
    if not renamed or not masks:
        return ""
    orig, mask, name = renamed[0]["name"], masks[0]["name"], target["name"]
    same = target.get("orig_is_former")
    methods = ", ".join(target.get("methods") or []) or "?"
    same_object = t(locale, " (the same Parameter object: values unchanged, still trained)") if same else ""
    return t(locale, "`{name}` is now the parameter `{orig}`{same_object} and the buffer `{mask}` (0 = pruned, 1 = "
                     "kept). {display} is a plain tensor, `{orig} * {mask}`, recomputed before every forward by a "
                     "forward pre-hook (`{methods}`).", name=name, orig=orig, same_object=same_object, mask=mask,
             display=target["display"], methods=methods)


def _names(diff: dict[str, Any]) -> dict[str, Any]:
    return {"renamed": [[e["was"], e["name"]] for e in diff.get("renamed", [])],
            "added": [[e["name"], e["shape"]] for e in diff.get("added", [])]}


def explain_prune(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    general = t(locale, "Pruning zeroes values through a mask; the original values are kept in `*_orig` until "
                "`prune.remove(module, name)` makes the zeros permanent.")
    title, records, early = observed(ctx, finding, "prune", general=general)
    if early is not False:
        return early
    targets = _targets(records, finding.facts.get("first", ""))
    if not targets:
        return join(title, general), {}
    zeros, numel = sum(t["zeros"] for t in targets), sum(t["numel"] for t in targets)
    first = records[0]
    parts = [title]
    if len(targets) == 1:
        parts.append(_one_target(locale, targets[0]))
    else:
        where = t(locale, "across {n_targets} tensors", n_targets=len(targets))
        if first.get("method"):
            where = t(locale, "across {n_targets} tensors, ranked together (`{method}`)", n_targets=len(targets), method=first['method'])
        parts.append(t(locale, "Pruned **{zeros} of {numel}** values ({percent}) {where}; per tensor:", zeros=count(zeros), numel=count(numel), percent=percent(zeros, numel), where=where))
        parts.append(_targets_table(locale, targets))
        if first.get("largest_pruned") is not None and first.get("smallest_kept") is not None:
            parts.append(_magnitude_line(locale, first))
    parts.append(_what_changed(locale, targets[0]))
    if len(targets) > 1:
        parts.append(t(locale, "The same holds for each tensor in the table."))
    diff = targets[0].get("diff") or {}
    if diff and len(targets) == 1 and diff["param_count_before"] == diff["param_count_after"]:
        parts.append(t(locale, "The module's `parameters()` still count {param_count_after} values: pruning hides "
                       "values, it does not remove them.", param_count_after=count(diff['param_count_after'])))
    parts.append(calls_note(locale, ctx.count(finding), len(records)))
    parts.append(general)
    facts = {"amount": first.get("amount"), "overall": {"zeros": zeros, "numel": numel, "fraction": zeros / numel},
             "targets": [{"tensor": t["display"].strip("`"), "shape": t.get("shape"), "zeros": t["zeros"],
                          "numel": t["numel"], "fraction": t["zeros"] / t["numel"],
                          **{k: t[k] for k in ("zeros_before", "largest_pruned", "smallest_kept", "pruned_slices", "dim",
                                               "largest_pruned_norm", "smallest_kept_norm", "orig_is_former")
                             if k in t}, **_names(t.get("diff") or {})} for t in targets]}
    for key in ("largest_pruned", "smallest_kept"):
        if first.get(key) is not None and len(targets) > 1:
            facts["overall"][key] = first[key]
    return join(*parts), facts


def explain_prune_remove(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    general = t(locale, "Nothing keeps these values at zero any more: without the mask, training can make them non-zero "
                "again.")
    title, records, early = observed(ctx, finding, "prune_remove")
    if early is not False:
        return early
    rows = []
    for record in records:
        rows.append((tensor_path(record.get("module"), record.get("name", "?"), finding.facts.get("first", "?")),
                     record))
    name, record = rows[0]
    zeros, numel = record.get("zeros", 0), record.get("numel", 0)
    diff = record.get("diff") or {}
    back = [r for r in diff.get("renamed", []) if r.get("name") == record.get("name")]
    removed = diff.get("removed", [])
    parts = [title, t(locale, "Made the pruning of {name} permanent: **{zeros} of {numel}** values ({percent}) stay zero "
                      "in the plain Parameter `{parameter}`.", name=name, zeros=count(zeros), numel=count(numel), percent=percent(zeros, numel), parameter=record.get('name'))]
    if back:
        same = record.get("same_object")
        same_object = t(locale, " (the same Parameter object, now holding the pruned values)") if same else ""
        if removed:
            parts.append(t(locale, "`{was}` is `{name}` again{same_object}; removed: {removed} and the forward pre-hook.",
                           was=back[0]["was"], name=record.get("name"), same_object=same_object,
                           removed=tensors_list(locale, removed)))
        else:
            parts.append(t(locale, "`{was}` is `{name}` again{same_object}.", was=back[0]["was"], name=record.get("name"),
                           same_object=same_object))
    if len(rows) > 1:
        header = t(locale, "tensor|zeros that stay").split("|")
        parts.append(table(header, [[n, f"{count(r.get('zeros', 0))} / {count(r.get('numel', 0))} "
                                        f"({percent(r.get('zeros', 0), r.get('numel', 0))})"] for n, r in rows[:ROWS]]))
    parts += [calls_note(locale, ctx.count(finding), len(records)), general]
    facts = {"tensors": [{"tensor": n.strip("`"), "zeros": r.get("zeros"), "numel": r.get("numel"),
                          "same_object": r.get("same_object"), "removed": [e["name"] for e in
                                                                            (r.get("diff") or {}).get("removed", [])]}
                         for n, r in rows]}
    return join(*parts), facts

"""Pruning with `torch.nn.utils.prune`: what a pruning call zeroed (per tensor and overall, with the magnitude or
norm that separated pruned from kept values), the `*_orig` parameter and `*_mask` buffer it left, and what
`prune.remove` folded back into a plain parameter. Every number is from the probe around the call."""

from __future__ import annotations

from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import count, join, num, shape, table
from paramlens.explain.i18n import tr
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
        indices = tr(locale, ", ", "、").join(str(i) for i in target["pruned_slices"][:16])
        norm = _norm_name(target.get("norm"))
        line = tr(locale, f"Zeroed {target['pruned_slice_count']} of {target['slices']} slices along dim "
                          f"{target['dim']} (index {indices})",
                  f"沿第 {target['dim']} 维的 {target['slices']} 个切片中置零了 {target['pruned_slice_count']} 个"
                  f"（索引 {indices}）")
        if target.get("largest_pruned_norm") is not None and target.get("smallest_kept_norm") is not None:
            line += tr(locale, f": those with the smallest {norm} norm (pruned ≤ {num(target['largest_pruned_norm'])}, "
                               f"kept ≥ {num(target['smallest_kept_norm'])}).",
                       f"：即 {norm} 范数最小的切片（被剪的 ≤ {num(target['largest_pruned_norm'])}，保留的 ≥ "
                       f"{num(target['smallest_kept_norm'])}）。")
        else:
            line += tr(locale, ".", "。")
        return line
    if target.get("largest_pruned") is not None and target.get("smallest_kept") is not None:
        return _magnitude_line(locale, target)
    if (target.get("methods") or [""])[-1].startswith("Random"):
        return tr(locale, "Which values: chosen at random, not by size.", "剪掉哪些值：随机选择，而不是按大小。")
    return ""


def _magnitude_line(locale: str, facts: dict[str, Any]) -> str:
    pruned, kept = apart(facts["largest_pruned"], facts["smallest_kept"])
    return tr(locale, f"Every pruned value had |w| ≤ {pruned}; every kept one has |w| ≥ {kept}.",
              f"被剪掉的值都满足 |w| ≤ {pruned}；保留的值都满足 |w| ≥ {kept}。")


def _one_target(locale: str, target: dict[str, Any]) -> str:
    name, zeros, numel = target["display"], target["zeros"], target["numel"]
    line = tr(locale, f"Pruned **{count(zeros)} of {count(numel)}** values ({percent(zeros, numel)}) of {name} "
                      f"{shape(target.get('shape'))}.",
              f"{name} {shape(target.get('shape'))} 的 {count(numel)} 个值中剪掉了 **{count(zeros)}** 个"
              f"（{percent(zeros, numel)}）。")
    if target.get("zeros_before") is not None:
        line += tr(locale, " ", "") + tr(locale, f"It was already pruned ({count(target['zeros_before'])} zeros in the old mask): the "
                                 "new mask keeps those and prunes among the rest.",
                         f"它之前已被剪枝（旧掩码中有 {count(target['zeros_before'])} 个 0）：新掩码保留这些 0，并在其余的值中继续剪枝。")
    return join(line, _separation(locale, target))


def _targets_table(locale: str, targets: list[dict[str, Any]]) -> str:
    rows = [[t["display"], shape(t.get("shape")), f"{count(t['zeros'])} / {count(t['numel'])}",
             percent(t["zeros"], t["numel"])] for t in targets[:ROWS]]
    header = tr(locale, "tensor|shape|pruned|share", "张量|形状|剪掉的值|比例").split("|")
    text = table(header, rows)
    if len(targets) > ROWS:
        text += "\n\n" + tr(locale, f"… and {len(targets) - ROWS} more.", f"……另有 {len(targets) - ROWS} 个。")
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
    return tr(locale,
              f"`{name}` is now the parameter `{orig}`" + (" (the same Parameter object: values unchanged, still "
                                                           "trained)" if same else "") +
              f" and the buffer `{mask}` (0 = pruned, 1 = kept). {target['display']} is a plain tensor, `{orig} * "
              f"{mask}`, recomputed before every forward by a forward pre-hook (`{methods}`).",
              f"`{name}` 现在由参数 `{orig}`" + ("（同一个 Parameter 对象：数值不变，仍参与训练）" if same else "") +
              f"和缓冲区 `{mask}`（0 表示剪掉，1 表示保留）组成。{target['display']} 是一个普通张量 `{orig} * {mask}`，"
              f"在每次前向之前由前向预钩子（`{methods}`）重新计算。")


def _names(diff: dict[str, Any]) -> dict[str, Any]:
    return {"renamed": [[e["was"], e["name"]] for e in diff.get("renamed", [])],
            "added": [[e["name"], e["shape"]] for e in diff.get("added", [])]}


def explain_prune(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    general = tr(locale, "Pruning zeroes values through a mask; the original values are kept in `*_orig` until "
                         "`prune.remove(module, name)` makes the zeros permanent.",
                 "剪枝通过掩码把一些值置零；原始值保存在 `*_orig` 中，直到 `prune.remove(module, name)` 让这些 0 永久生效。")
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
        where = tr(locale, f"across {len(targets)} tensors", f"分布在 {len(targets)} 个张量中")
        if first.get("method"):
            where = tr(locale, f"across {len(targets)} tensors, ranked together (`{first['method']}`)",
                       f"分布在 {len(targets)} 个张量中，统一排序（`{first['method']}`）")
        parts.append(tr(locale, f"Pruned **{count(zeros)} of {count(numel)}** values ({percent(zeros, numel)}) {where}; "
                                "per tensor:",
                        f"共 {count(numel)} 个值中剪掉了 **{count(zeros)}** 个（{percent(zeros, numel)}），{where}；各张量："))
        parts.append(_targets_table(locale, targets))
        if first.get("largest_pruned") is not None and first.get("smallest_kept") is not None:
            parts.append(_magnitude_line(locale, first))
    parts.append(_what_changed(locale, targets[0]))
    if len(targets) > 1:
        parts.append(tr(locale, "The same holds for each tensor in the table.", "表中每个张量都是如此。"))
    diff = targets[0].get("diff") or {}
    if diff and len(targets) == 1 and diff["param_count_before"] == diff["param_count_after"]:
        parts.append(tr(locale, f"The module's `parameters()` still count {count(diff['param_count_after'])} values: "
                                "pruning hides values, it does not remove them.",
                        f"该模块的 `parameters()` 仍然计为 {count(diff['param_count_after'])} 个值：剪枝只是屏蔽数值，并不删除它们。"))
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
    general = tr(locale, "Nothing keeps these values at zero any more: without the mask, training can make them "
                         "non-zero again.",
                 "此后没有任何机制让这些值保持为 0：没有了掩码，训练可能让它们重新变成非零。")
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
    parts = [title, tr(locale, f"Made the pruning of {name} permanent: **{count(zeros)} of {count(numel)}** values "
                               f"({percent(zeros, numel)}) stay zero in the plain Parameter `{record.get('name')}`.",
                       f"让 {name} 的剪枝永久生效：{count(numel)} 个值中有 **{count(zeros)}** 个（{percent(zeros, numel)}）"
                       f"在普通 Parameter `{record.get('name')}` 中保持为 0。")]
    if back:
        same = record.get("same_object")
        parts.append(tr(locale, f"`{back[0]['was']}` is `{record.get('name')}` again" +
                        (" (the same Parameter object, now holding the pruned values)" if same else "") +
                        (f"; removed: {tensors_list(locale, removed)} and the forward pre-hook." if removed else "."),
                        f"`{back[0]['was']}` 重新成为 `{record.get('name')}`" +
                        ("（同一个 Parameter 对象，现在保存剪枝后的值）" if same else "") +
                        (f"；已删除：{tensors_list(locale, removed)} 以及前向预钩子。" if removed else "。")))
    if len(rows) > 1:
        header = tr(locale, "tensor|zeros that stay", "张量|保持为 0 的值").split("|")
        parts.append(table(header, [[n, f"{count(r.get('zeros', 0))} / {count(r.get('numel', 0))} "
                                        f"({percent(r.get('zeros', 0), r.get('numel', 0))})"] for n, r in rows[:ROWS]]))
    parts += [calls_note(locale, ctx.count(finding), len(records)), general]
    facts = {"tensors": [{"tensor": n.strip("`"), "zeros": r.get("zeros"), "numel": r.get("numel"),
                          "same_object": r.get("same_object"), "removed": [e["name"] for e in
                                                                            (r.get("diff") or {}).get("removed", [])]}
                         for n, r in rows]}
    return join(*parts), facts

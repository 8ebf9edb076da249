"""Methods that re-allocate, re-draw, cast or replace a model's tensors: `to_empty(device=...)`,
`reset_parameters()`, `.half()` / `.float()` / `.double()` / `.bfloat16()` / `.to(...)` and timm-style
`reset_classifier(num_classes)`. What changed (devices, dtypes, memory, which Parameter objects were kept, which
values were re-drawn with which bound, which submodule was replaced), from the probe around the call. A call whose
receiver turned out not to be a module (`x.to(device)` on a tensor) gets no explanation."""

from __future__ import annotations

from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import code, count, join, num, shape, table
from paramlens.explain.i18n import tr
from paramlens.explain.patterns.common import calls_note, module_label
from paramlens.explain.patterns.reshaping import module_name, observed, plural

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
    if same == total:
        return tr(locale, f"The Parameter objects are the same ({same} of {total}; their data was replaced in place), "
                          "so an optimizer built before still holds them.",
                  f"Parameter 对象没有变（{total} 个中的 {same} 个；只是原地替换了它们的数据），因此之前构建的优化器仍然持有它们。")
    return tr(locale, f"New Parameter objects: {total - same} of {total}. An optimizer built before this call still "
                      "holds the old ones: build it after.",
              f"新的 Parameter 对象：{total} 个中有 {total - same} 个。在此调用之前构建的优化器仍持有旧对象：请在之后再构建优化器。")


def _change_lines(locale: str, record: dict[str, Any]) -> list[str]:
    lines = []
    for change in record["changes"]:
        kind = plural(locale, change["tensors"], "parameter", "参数") if change["kind"] == "parameter" else \
            plural(locale, change["tensors"], "buffer", "缓冲区")
        what = []
        if change["from"] != change["to"]:
            what.append(f"{change['from']} → {change['to']}")
        if change["device_from"] != change["device_to"]:
            what.append(f"{change['device_from']} → {change['device_to']}")
        text = ", ".join(what) if what else tr(locale, f"unchanged ({change['to']}, {change['device_to']})",
                                               f"不变（{change['to']}，{change['device_to']}）")
        lines.append(f"- {kind}" + tr(locale, f" ({plural(locale, change['numel'], 'value', '')}): {text}",
                                        f"（{count(change['numel'])} 个值）：{text}"))
    return lines


def explain_cast(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    title, records, early = observed(ctx, finding, "cast", certain=False)
    if early is not False:
        return early
    record = records[0]
    subject = _subject(locale, record, finding)
    changed = [c for c in record["changes"] if c["from"] != c["to"] or c["device_from"] != c["device_to"]]
    key = tr(locale, f"`{record['method']}` changed the tensors of {subject}:", f"`{record['method']}` 改变了 {subject} 的张量：") \
        if changed else tr(locale, f"`{record['method']}` changed no tensor of {subject}: they already had this dtype "
                                   "and device.",
                           f"`{record['method']}` 没有改变 {subject} 的任何张量：它们已经是这个 dtype 和设备。")
    parts = [title, key, "\n".join(_change_lines(locale, record)),
             tr(locale, f"Memory: {_bytes(record['bytes_before'])} → {_bytes(record['bytes_after'])}.",
                f"内存：{_bytes(record['bytes_before'])} → {_bytes(record['bytes_after'])}。"),
             _objects_line(locale, record), calls_note(locale, ctx.count(finding), len(records))]
    if any(c["kind"] == "buffer" and c["from"] == c["to"] for c in record["changes"]) and changed:
        parts.insert(-2, tr(locale, "Integer buffers (such as BatchNorm's `num_batches_tracked`) keep their dtype: a "
                                    "floating-point cast leaves them alone.",
                            "整数缓冲区（例如 BatchNorm 的 `num_batches_tracked`）保持原来的 dtype：浮点类型转换不会改变它们。"))
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
             tr(locale, f"Gave the {plural(locale, tensors, 'tensor', '')} of {subject} new, **uninitialised** memory ({', '.join(moves)}, "
                        f"{_bytes(record['bytes_after'])}): their values are whatever that memory held, neither "
                        "random draws nor zeros. Initialise them next: `reset_parameters()`, an init function, or "
                        "`load_state_dict`.",
                f"为 {subject} 的 {tensors} 个张量分配了新的、**未初始化**的内存（{'、'.join(moves)}，"
                f"{_bytes(record['bytes_after'])}）：它们的值是这块内存里原有的内容，既不是随机抽样，也不是 0。接下来请初始化它们："
                "`reset_parameters()`、初始化函数，或 `load_state_dict`。"),
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
        return tr(locale, f"bound ±{num(call['bound'])} (fan_in {call.get('fan_in')})",
                  f"界限 ±{num(call['bound'])}（fan_in {call.get('fan_in')}）")
    if call.get("std") is not None:
        return tr(locale, f"std {num(call['std'])} (fan_in {call.get('fan_in')})",
                  f"标准差 {num(call['std'])}（fan_in {call.get('fan_in')}）")
    args = call.get("args", {})
    if call["fn"] == "uniform_" and "a" in args and "b" in args:
        return tr(locale, f"range [{num(args['a'])}, {num(args['b'])}]", f"范围 [{num(args['a'])}, {num(args['b'])}]")
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
                     "; ".join(code(_call_text(c)) + (tr(locale, " (part)", "（部分）") if c["part"] else "")
                               for c in how) or "—",
                     "; ".join(_scale_text(locale, c) for c in how) or "—",
                     f"[{num(change['after']['min'])}, {num(change['after']['max'])}]"])
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
    header = tr(locale, "tensor|shape|torch called|scale|values after (min, max)",
                "张量|形状|torch 调用|尺度|之后的数值（最小、最大）").split("|")
    changed = sum(len(r["changed"]) for r in records)
    if len(records) == 1:
        record = records[0]
        subject = _subject(locale, record, finding)
        key = tr(locale, f"Re-drew **{changed} of {record['tensors']}** tensors of {subject} (`{record['class']}`) the "
                         f"way `{record['class']}` initialises itself:",
                 f"按 `{record['class']}` 自身的初始化方式，重新生成了 {subject}（`{record['class']}`）"
                 f"{record['tensors']} 个张量中的 **{changed}** 个：")
    else:
        classes = "、".join(sorted({f"`{r['class']}`" for r in records})) if locale == "zh-CN" else \
            ", ".join(sorted({f"`{r['class']}`" for r in records}))
        key = tr(locale, f"Re-drew **{changed}** tensors in {len(records)} modules ({classes}), each the way its "
                         "class initialises itself:",
                 f"在 {len(records)} 个模块（{classes}）中重新生成了 **{changed}** 个张量，每个都按其类自身的初始化方式：")
    parts = [title, key, table(header, rows[:ROWS])]
    if len(rows) > ROWS:
        parts.append(tr(locale, f"… and {len(rows) - ROWS} more.", f"……另有 {len(rows) - ROWS} 个。"))
    parts.append(tr(locale, "Any values set before this call (by hand, an init function or a checkpoint) are gone.",
                    "在此调用之前设置的数值（手动设置、初始化函数或检查点加载的）都被覆盖了。"))
    parts.append(calls_note(locale, ctx.count(finding), len(records)))
    facts = {"modules": [{"module": (r.get("module") or {}).get("path"), "class": r["class"], "tensors": r["tensors"],
                          "changed": [{"name": c["name"], "shape": c["shape"], "after": c["after"]}
                                      for c in r["changed"]],
                          "calls": r["calls"]} for r in records]}
    return join(*parts), facts


def _entry_text(locale: str, entry: dict[str, Any] | None) -> str:
    if entry is None:
        return tr(locale, "(none)", "（无）")
    return code(module_label(entry)) + tr(locale, f", {count(entry['param_count'])} values",
                                          f"，{count(entry['param_count'])} 个值")


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
        key = tr(locale, f"Replaced the head `{entry['path']}` of {subject}: {_entry_text(locale, entry['old'])} → "
                         f"**{_entry_text(locale, entry['new'])}**.",
                 f"替换了 {subject} 的分类头 `{entry['path']}`：{_entry_text(locale, entry['old'])} → "
                 f"**{_entry_text(locale, entry['new'])}**。")
        detail = ""
    else:
        key = tr(locale, f"Replaced {len(replaced)} submodule(s) of {subject}:", f"替换了 {subject} 的 {len(replaced)} 个子模块：")
        header = tr(locale, "submodule|before|after", "子模块|之前|之后").split("|")
        detail = table(header, [[code(e["path"]), _entry_text(locale, e["old"]), _entry_text(locale, e["new"])]
                                for e in replaced[:ROWS]])
    shapes = []
    for entry in replaced[:2]:
        for side in ("old", "new"):
            module = entry.get(side)
            if module and module.get("parameters"):
                label = tr(locale, "before", "之前") if side == "old" else tr(locale, "after", "之后")
                listed = [f"`{n}` {shape(s)}" for n, s in module["parameters"]]
                shapes.append(tr(locale, f"{label} `{entry['path']}`: " + ", ".join(listed),
                                 f"{label} `{entry['path']}`：" + "、".join(listed)))
    parts = [title, key, detail, "\n".join(f"- {s}" for s in shapes),
             tr(locale, f"The model: {count(before)} → {count(after)} parameter values. The new head is freshly "
                        "initialised (the old one's weights are gone), and an optimizer built before this call does "
                        "not hold its parameters.",
                f"整个模型：{count(before)} → {count(after)} 个参数值。新的分类头是重新初始化的（旧分类头的权重已丢弃），"
                "在此调用之前构建的优化器不持有它的参数。"),
             calls_note(locale, ctx.count(finding), len(records))]
    return join(*parts), {"replaced": [{"path": e["path"], "old": _brief(e["old"]), "new": _brief(e["new"])}
                                       for e in replaced],
                          "param_count_before": before, "param_count_after": after}


def _brief(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    return {"class": entry["class"], "param_count": entry["param_count"], "parameters": entry.get("parameters", [])}

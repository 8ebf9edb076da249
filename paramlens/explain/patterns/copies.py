"""New model objects: `copy.deepcopy(model)` (a new set of tensors, with the original's ties kept as ties between
the copy's own tensors) and a module built through a class name computed at run time (`getattr(nn, name)(...)`),
as the probe around the call observed them."""

from __future__ import annotations

from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import code, count, join
from paramlens.explain.i18n import tr
from paramlens.explain.patterns.common import calls_note, heading, module_label, site_code
from paramlens.explain.patterns.modules import describe_module, module_facts
from paramlens.explain.patterns.reshaping import missing_note, module_name, plural, raised, records_of


def _ties(groups: list[list[str]]) -> str:
    return "; ".join(" = ".join(code(name) for name in group) for group in groups)


def _module_copy(locale: str, record: dict[str, Any], source: str) -> list[str]:
    copy = record["copy"]
    independent = record["same_objects"] == 0 and record["shared_storage"] == 0
    parts = [tr(locale, f"A new `{copy['class']}` with its own **{plural(locale, record['tensors'], 'tensor', '张量')}** "
                        f"({count(copy['param_count'])} parameter values)" +
                (": none of them is a tensor of " + source + " or shares memory with one" if independent else
                 f": {record['same_objects']} are tensors of {source} itself and {record['shared_storage']} share "
                 "memory with one") +
                ("; all values equal the original's at this moment." if record["equal_values"] else "."),
                f"一个新的 `{copy['class']}`，拥有自己的 **{plural(locale, record['tensors'], 'tensor', '张量')}**（{count(copy['param_count'])} 个参数值）" +
                ("：其中没有一个是 " + source + " 的张量，也不与它们共享内存" if independent else
                 f"：其中 {record['same_objects']} 个就是 {source} 自己的张量，{record['shared_storage']} 个与之共享内存") +
                ("；此刻所有数值都与原模型相等。" if record["equal_values"] else "。"))]
    if record.get("tied_copy"):
        inside = record.get("ties_point_into_copy")
        parts.append(tr(locale, f"The original's tie {_ties(record['tied_source'])} is kept as a tie inside the copy: "
                                f"{_ties(record['tied_copy'])} are one tensor of the copy" +
                        (", not a tensor of the original." if inside else "."),
                        f"原模型中的绑定 {_ties(record['tied_source'])} 在副本中保留为副本内部的绑定：{_ties(record['tied_copy'])} "
                        "是副本自己的同一个张量" + ("，而不是原模型的张量。" if inside else "。")))
    elif record.get("tied_source"):
        parts.append(tr(locale, f"The original's tie {_ties(record['tied_source'])} is not a tie in the copy.",
                        f"原模型中的绑定 {_ties(record['tied_source'])} 在副本中不再是绑定。"))
    if independent:
        parts.append(tr(locale, "From now on the two change independently: training one (or an optimizer built on "
                                "one) does not touch the other.",
                        "从此两者各自独立变化：训练其中一个（或用其中一个构建的优化器）不会影响另一个。"))
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
        line = tr(locale, f"Copied **{plural(locale, record['tensors'], 'tensor', '张量')}**; {count(shared)} of them share memory with "
                          f"{source}" + (" (a `state_dict()` alone shares memory with the model's parameters: an "
                                         "in-place update of the model would change it)." if not shared else "."),
                  f"复制了 **{count(record['tensors'])} 个张量**；其中 {count(shared)} 个与 {source} 共享内存" +
                  ("（单独的 `state_dict()` 与模型参数共享内存：模型的原地更新会改变它）。" if not shared else "。"))
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
        return join(heading(site_code(finding)), tr(
            locale, f"Builds the `torch.nn` class whose name `{name}` holds when the line runs.",
            f"构建 `torch.nn` 中名字为 `{name}` 在运行时所取值的那个类。"), missing_note(ctx, finding)), {}
    record = records[0]
    if record.get("error"):
        return join(heading(site_code(finding)), raised(locale, record)), {"error": record["error"]}
    module = record.get("module")
    resolved = record["nn_name"] or record["resolved"]
    title = heading(tr(locale, f"`getattr(nn, {name})` resolved to `{resolved}`",
                       f"`getattr(nn, {name})` 解析为 `{resolved}`"))
    parts = [title, tr(locale, f"Built {code(module_label(module))} (class `{record['resolved']}`).",
                       f"构建了 {code(module_label(module))}（类 `{record['resolved']}`）。") if module else ""]
    resolved_all = sorted({r["nn_name"] or r["resolved"] for r in records if not r.get("error")})
    if len(resolved_all) > 1:
        parts.append(tr(locale, f"Over {len(records)} runs of this line it resolved to: "
                                + ", ".join(code(c) for c in resolved_all) + ".",
                        f"这一行运行 {len(records)} 次，依次解析为：" + "、".join(code(c) for c in resolved_all) + "。"))
    if module:
        parts.append(describe_module(locale, module))
    facts = {"resolved": record["resolved"], "nn_name": record["nn_name"], "classes": resolved_all}
    if module:
        facts.update(module_facts(module))
    return join(*parts), facts

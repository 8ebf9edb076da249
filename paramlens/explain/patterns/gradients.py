"""Gradients as the run observed them: a `backward()` call (which parameters received gradients, and for a
parameter used several times in the forward pass, what each use contributed), and the observed facts that `.grad`
reads, `grad is None` tests and shared layers' explanations show.

Every sentence about gradients here is backed by a `backward` event of the run (sandbox/gradients.py); where no
backward pass ran, the text says so rather than describing what would happen.
"""

from __future__ import annotations

from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import code, count, join, num, table
from paramlens.explain.i18n import tr
from paramlens.explain.patterns.common import calls_note, heading, not_run_note, site_code, times

SHARED_ROWS = 8


def passes_at(ctx: ExplainContext, line: int) -> list[dict[str, Any]]:
    return [event for event in ctx.observations.backwards if event.get("line") == line]


def _names(entry: dict[str, Any]) -> list[str]:
    return [owner["path"] for owner in entry.get("owner", []) if owner.get("relation") == "same"]


def _uses_cell(entry: dict[str, Any], locale: str) -> str:
    norms = [use.get("norm") for use in entry.get("uses", [])]
    if any(norm is None for norm in norms):
        return str(len(norms))
    return " + ".join(num(norm) for norm in norms)


def _sum_cell(entry: dict[str, Any], locale: str) -> str:
    matches = entry.get("sum_matches")
    if matches is None:
        return "—"
    return tr(locale, "yes", "是") if matches else tr(locale, "no", "否")


def shared_table(entries: list[dict[str, Any]], locale: str) -> str:
    rows = []
    for entry in entries[:SHARED_ROWS]:
        names = " = ".join(code(name) for name in _names(entry)) or "?"
        rows.append([names, len(entry.get("uses", [])), _uses_cell(entry, locale),
                     num(entry.get("grad_norm")) if entry.get("grad_norm") is not None else "—",
                     _sum_cell(entry, locale)])
    header = tr(locale, "parameter|uses|‖gradient‖ of each use|‖.grad‖|uses add up to .grad",
                "参数|使用次数|各次使用的梯度范数|.grad 的范数|各次之和等于 .grad").split("|")
    return table(header, rows)


def explain_backward(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    title = heading(site_code(finding))
    passes = passes_at(ctx, finding.span.line)
    total = ctx.count(finding)
    if not passes:
        if total:
            return join(title, tr(locale, f"Ran {times(locale, total)}; its gradients were not inspected (only the "
                                          "first backward passes of a run are).",
                                  f"运行了 {total} 次；没有检查其梯度（每次运行只检查最前面的几次反向传播）。")), \
                {"calls": total}
        return join(title, not_run_note(finding, ctx)), {}
    first = passes[0]
    parts = [title]
    if first.get("error"):
        parts.append(tr(locale, f"The graph could not be inspected: {first['error']}.",
                        f"无法检查计算图：{first['error']}。"))
    when_en = "It ran once:" if total <= 1 else f"It ran {times(locale, total)}; the first time,"
    when_zh = "它运行了 1 次：" if total <= 1 else f"它运行了 {total} 次；第一次运行时，"
    parts.append(tr(locale,
                    f"{when_en} autograd followed the graph back to {count(first.get('parameters'))} parameter tensors "
                    f"({count(first.get('elements'))} values), and {count(first.get('received'))} of them then held a "
                    "gradient in `.grad`. A later `backward()` adds to `.grad` until it is zeroed "
                    "(`optimizer.zero_grad()`).",
                    f"{when_zh}autograd 沿计算图回溯到 {count(first.get('parameters'))} 个参数张量（共 "
                    f"{count(first.get('elements'))} 个值），之后其中 {count(first.get('received'))} 个在 `.grad` 中有了梯度。"
                    "之后再调用 `backward()` 会累加到 `.grad` 上，直到被清零（`optimizer.zero_grad()`）。"))
    shared = _weights_first(first.get("shared") or [])
    if shared:
        parts.append(tr(locale,
                        "Used more than once in the forward pass, so autograd sent each of these parameters one "
                        "gradient per use and **added them** into its single `.grad` (captured per use during "
                        "this pass, then compared with `.grad`):",
                        "以下参数在前向计算中被使用了不止一次，因此 autograd 为每次使用各送来一份梯度，并把它们**累加**到"
                        "唯一的 `.grad` 中（在这次反向传播中逐次捕获，再与 `.grad` 比较）："))
        parts.append(shared_table(shared, locale))
    parts.append(calls_note(locale, total, len(passes)))
    facts = {"calls": total, "parameters": first.get("parameters"), "received": first.get("received"),
             "shared": [{"names": _names(entry), "uses": len(entry.get("uses", [])),
                         "use_norms": [use.get("norm") for use in entry.get("uses", [])],
                         "grad_norm": entry.get("grad_norm"), "sum_matches": entry.get("sum_matches"),
                         "accumulated": entry.get("accumulated")} for entry in shared]}
    return join(*parts), facts


def _weights_first(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(entries, key=lambda entry: (not any(name.endswith("weight") for name in _names(entry)),
                                              _names(entry)[:1]))


def shared_gradient_entries(ctx: ExplainContext, paths: set[str]) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """The first backward pass in which a parameter with one of these names was used several times, and the
    entries of those parameters (weights first)."""
    for event in ctx.observations.backwards:
        entries = [entry for entry in event.get("shared") or [] if paths.intersection(_names(entry))]
        if entries:
            return event, _weights_first(entries)
    return None


def _one_tensor(names: list[str], locale: str) -> str:
    """`net.2.weight` (= `net.4.weight`): several names of one tensor."""
    if not names:
        return "?"
    first = code(names[0])
    if len(names) == 1:
        return first
    others = " = ".join(code(name) for name in names[1:])
    return f"{first}（= {others}）" if locale == "zh-CN" else f"{first} (= {others})"


def _use_sentence(entry: dict[str, Any], locale: str) -> str:
    uses = entry.get("uses", [])
    norms = [use.get("norm") for use in uses]
    matches = entry.get("sum_matches")
    name = _one_tensor(_names(entry), locale)
    if all(norm is not None for norm in norms):
        each_en = "one gradient per use, with norms " + " and ".join(num(norm) for norm in norms)
        each_zh = "每次使用各一份梯度，范数分别为 " + "、".join(num(norm) for norm in norms)
    else:
        each_en, each_zh = "one gradient per use", "每次使用各一份梯度"
    if matches:
        verdict_en, verdict_zh = "their sum is exactly what `.grad` received", "它们的和正好等于 `.grad` 收到的梯度"
    elif matches is False:
        verdict_en = "their sum does not match the change of `.grad` (a hook or an in-place edit changed it)"
        verdict_zh = "它们的和与 `.grad` 的变化不一致（有钩子或原地修改改变了它）"
    else:
        verdict_en = "there were no values to compare (meta device or a very large tensor)"
        verdict_zh = "没有可供比较的数值（meta 设备或张量过大）"
    text = tr(locale, f"{name} was used {times(locale, len(uses))}: autograd sent {each_en}, and {verdict_en}.",
              f"{name} 被使用了 {len(uses)} 次：autograd 送来{each_zh}，{verdict_zh}。")
    if entry.get("accumulated"):
        text += tr(locale, " (`.grad` already held a gradient from an earlier pass, which stays added in.)",
                   "（`.grad` 中已有之前反向传播的梯度，它仍累加在内。）")
    return text


def shared_gradient_text(ctx: ExplainContext, paths: set[str]) -> tuple[str, dict[str, Any]] | None:
    """The observed per-use contributions of shared parameters with these names, and their sums."""
    found = shared_gradient_entries(ctx, paths)
    if found is None:
        return None
    event, entries = found
    locale = ctx.locale
    line = event.get("line")
    head = tr(locale, f"**Observed in `backward()` at line {line}:**", f"**在第 {line} 行的 `backward()` 中观测到：**")
    sentences = [_use_sentence(entry, locale) for entry in entries]
    text = head + " " + " ".join(sentences) if len(sentences) == 1 else \
        head + "\n" + "\n".join(f"- {sentence}" for sentence in sentences)
    facts = {"line": line, "parameters": [{"names": _names(entry), "uses": len(entry.get("uses", [])),
                                           "use_norms": [use.get("norm") for use in entry.get("uses", [])],
                                           "grad_norm": entry.get("grad_norm"), "sum_matches": entry.get("sum_matches")}
                                          for entry in entries]}
    return text, facts


def backward_before(ctx: ExplainContext, record: dict[str, Any]) -> dict[str, Any] | None:
    """The last backward pass that ran before this record was made, or None."""
    passes = record.get("backwards_before", 0)
    if not passes:
        return None
    return ctx.observations.backwards[passes - 1] if passes <= len(ctx.observations.backwards) else \
        ctx.observations.backwards[-1]

"""Parametrizations: `parametrizations.weight_norm` / `spectral_norm` (and the older hook-based
`nn.utils.weight_norm`), other `register_parametrization` calls, and `remove_parametrizations`, which folds the
computed tensor back into a plain parameter. What the module has afterwards (the `original*` parameters, the
spectral norm's `_u` / `_v` buffers, its new class), what the weight is computed from, and σ or the largest
difference to the weight it replaced, all from the probe around the call."""

from __future__ import annotations

from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import code, join, num, shape, stats_line
from paramlens.explain.i18n import tr
from paramlens.explain.patterns.reshaping import count_change, diff_facts, observed, plural, tensors_list, values_block


def _subject(record: dict[str, Any]) -> str:
    """`wn.weight` when the module sits in a top-level model, else `weight`."""
    label = record.get("module") or {}
    name = record.get("name", "weight")
    return code(f"{label['path']}.{name}") if label.get("path") else code(name)


def _by_suffix(entries: list[dict[str, Any]], *suffixes: str) -> dict[str, Any] | None:
    return next((e for e in entries if e["name"].endswith(suffixes)), None)


def _class_note(locale: str, record: dict[str, Any]) -> str:
    before, after = record.get("class_before"), (record.get("module") or {}).get("class")
    if not before or before == after:
        return ""
    return tr(locale, f"The module's class is now `{after}` (it was `{before}`), and its `state_dict()` keys changed "
                      "accordingly: a checkpoint saved before needs its keys renamed.",
              f"模块的类现在是 `{after}`（原来是 `{before}`），它的 `state_dict()` 键也随之改变：之前保存的检查点需要重命名键才能加载。")


def _weight_norm(locale: str, record: dict[str, Any]) -> list[str]:
    diff = record["diff"]
    entries = diff.get("added", []) + diff.get("renamed", [])
    g = _by_suffix(entries, "original0", "_g")
    v = _by_suffix(entries, "original1", "_v")
    if g is None or v is None:
        return []
    dim = record.get("dim")
    parts = [tr(locale, f"{_subject(record)} is no longer a parameter: every read computes it as **g · v / ‖v‖** from "
                        f"`{g['name']}` {shape(g['shape'])} (g, one norm per slice along dim {dim}) and `{v['name']}` "
                        f"{shape(v['shape'])} (v, the direction).",
                f"{_subject(record)} 不再是参数：每次读取时都由 `{g['name']}` {shape(g['shape'])}（g，沿第 {dim} 维每个切片"
                f"一个范数）和 `{v['name']}` {shape(v['shape'])}（v，方向）按 **g · v / ‖v‖** 计算得到。")]
    if record.get("max_difference") is not None:
        parts.append(tr(locale, f"Right after this call it equals the weight it replaced (largest difference "
                                f"{num(record['max_difference'])}); training then updates g and v separately.",
                        f"调用刚结束时，它与被替换的权重相等（最大差值 {num(record['max_difference'])}）；此后训练会分别更新 g 和 v。"))
    return parts


def _spectral_norm(locale: str, record: dict[str, Any]) -> list[str]:
    diff = record["diff"]
    original = _by_suffix(diff.get("renamed", []) + diff.get("added", []), "original")
    buffers = [e for e in diff.get("added", []) if e["kind"] == "buffer"]
    if original is None or record.get("sigma") is None:
        return []
    parts = [tr(locale, f"{_subject(record)} is no longer a parameter: every read computes it as `{original['name']}` "
                        f"{shape(original['shape'])} **/ σ**, with σ = {num(record['sigma'])} now, estimated by power "
                        f"iteration from the buffers {tensors_list(locale, buffers)} (the largest singular value of "
                        f"`{original['name']}` is {num(record['largest_singular_value'])}).",
                f"{_subject(record)} 不再是参数：每次读取时都按 `{original['name']}` {shape(original['shape'])} **/ σ** 计算，"
                f"当前 σ = {num(record['sigma'])}，由缓冲区 {tensors_list(locale, buffers)} 通过幂迭代估计"
                f"（`{original['name']}` 的最大奇异值为 {num(record['largest_singular_value'])}）。")]
    if original.get("was"):
        parts.append(tr(locale, f"`{original['name']}` is the former `{original['was']}` (the same Parameter object).",
                        f"`{original['name']}` 就是原来的 `{original['was']}`（同一个 Parameter 对象）。"))
    steps = record.get("power_iterations", 1)
    parts.append(tr(locale, f"In training mode each read (each forward) first runs {plural(locale, steps, 'more power-iteration step', '')} "
                            "and updates `_u` and `_v`; in eval mode they are used as they are.",
                    f"训练模式下，每次读取（每次前向）都会先再做 {steps} 步幂迭代并更新 `_u` 和 `_v`；评估模式下则直接使用它们。"))
    return parts


def _generic(locale: str, record: dict[str, Any]) -> list[str]:
    diff = record["diff"]
    made = diff.get("renamed", []) + diff.get("added", [])
    chain = ", ".join(code(p) for p in record.get("parametrizations", [])) or "?"
    return [tr(locale, f"{_subject(record)} is no longer a parameter: every read computes it with {chain} from "
                       f"{tensors_list(locale, made)}.",
               f"{_subject(record)} 不再是参数：每次读取时都由 {chain} 从 {tensors_list(locale, made)} 计算得到。")]


def _folded(locale: str, record: dict[str, Any]) -> list[str]:
    folded = record["folded"]
    removed = record["diff"].get("removed", [])
    parts = [tr(locale, f"Folded the computed value back into a plain Parameter {_subject(record)} "
                        f"{shape(folded.get('shape'))}" + (f"; removed {tensors_list(locale, removed)}." if removed else "."),
                f"把计算出的值折叠回普通 Parameter {_subject(record)} {shape(folded.get('shape'))}" +
                (f"；删除了 {tensors_list(locale, removed)}。" if removed else "。"))]
    if folded.get("was"):
        parts.append(tr(locale, f"It is the former `{folded['was']}` object, now holding "
                                + ("the computed values." if record.get("leave_parametrized", True) else "its own values."),
                        f"它就是原来的 `{folded['was']}` 对象，现在保存的是"
                        + ("计算出的值。" if record.get("leave_parametrized", True) else "它自己的原始值。")))
    if record.get("leave_parametrized") is False:
        parts.append(tr(locale, "`leave_parametrized=False`: the plain weight keeps the unparametrized original, not "
                                "the computed value.",
                        "`leave_parametrized=False`：普通权重保留未经参数化的原始值，而不是计算出的值。"))
    parts.append(values_block(folded.get("values")) or stats_line(locale, folded.get("stats")))
    return parts


def explain_parametrize(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    title, records, early = observed(ctx, finding, "parametrize")
    if early is not False:
        return early
    record = records[0]
    if "diff" not in record:
        return None
    chain = record.get("parametrizations", [])
    if record.get("folded"):
        parts = _folded(locale, record)
    elif "_SpectralNorm" in chain:
        parts = _spectral_norm(locale, record) or _generic(locale, record)
    elif "max_difference" in record or "_WeightNorm" in chain:
        parts = _weight_norm(locale, record) or _generic(locale, record)
    else:
        parts = _generic(locale, record)
    diff = record["diff"]
    parts.append(tr(locale, f"Parameters of the module: {count_change(locale, diff['param_count_before'], diff['param_count_after'])}.",
                    f"该模块的参数：{count_change(locale, diff['param_count_before'], diff['param_count_after'])}。"))
    parts.append(_class_note(locale, record))
    facts: dict[str, Any] = {"function": record.get("function"), "parametrizations": chain, **diff_facts(diff),
                             "class_before": record.get("class_before"),
                             "class_after": (record.get("module") or {}).get("class")}
    for key in ("max_difference", "sigma", "largest_singular_value", "dim", "leave_parametrized"):
        if record.get(key) is not None:
            facts[key] = record[key]
    if record.get("folded"):
        facts["folded"] = {k: record["folded"].get(k) for k in ("shape", "values", "stats", "was")}
    return join(title, *parts), facts

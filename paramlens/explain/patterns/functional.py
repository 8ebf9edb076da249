"""`torch.func.functional_call` (which tensors were substituted for one call and that the model's own were left
as they were) and `torch.func.stack_module_state` (the stacked shapes, and that the stacked tensors are copies), as
the probe around each call observed them."""

from __future__ import annotations

from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import code, count, join, shape, table
from paramlens.explain.i18n import tr
from paramlens.explain.patterns.common import calls_note
from paramlens.explain.patterns.reshaping import module_name, names_list, observed, plural

ROWS = 8


def _substituted(locale: str, record: dict[str, Any], model: str) -> str:
    given = record.get("substituted", [])
    kept = record.get("kept", [])
    listed = ", ".join(f"{code(s['name'])} {shape(s['shape'])}" for s in given[:6]) if locale != "zh-CN" else \
        "、".join(f"{code(s['name'])} {shape(s['shape'])}" for s in given[:6])
    more = "…" if len(given) > 6 else ""
    line = tr(locale, f"Ran {model} with **{plural(locale, record['substituted_count'], 'substituted tensor', '')}**: {listed}{more}",
              f"用 **{record['substituted_count']} 个替换张量**运行了 {model}：{listed}{more}")
    if kept:
        line += tr(locale, f"; the other {plural(locale, len(kept), 'parameter', '')} were the model's own ({names_list(locale, kept[:6])}"
                           f"{'…' if len(kept) > 6 else ''}).",
                   f"；其余 {len(kept)} 个参数用的是模型自己的（{names_list(locale, kept[:6])}{'…' if len(kept) > 6 else ''}）。")
    else:
        line += tr(locale, "; no parameter of the model's own was used.", "；没有使用模型自己的任何参数。")
    return line


def _changed_own(locale: str, record: dict[str, Any], model: str) -> str:
    """What happened to the model's own tensors during the call, when something did."""
    lines = []
    if record.get("replaced"):
        lines.append(tr(locale, f"After the call these names of {model} hold other objects than before: "
                                f"{names_list(locale, record['replaced'])}.",
                        f"调用之后，{model} 的这些名字指向的已不是调用前的对象：{names_list(locale, record['replaced'])}。"))
    if record.get("modified"):
        lines.append(tr(locale, f"The call wrote into these parameters of {model}: {names_list(locale, record['modified'])}.",
                        f"这次调用写入了 {model} 的这些参数：{names_list(locale, record['modified'])}。"))
    if record.get("modified_buffers"):
        params_too = record.get("replaced") or record.get("modified")
        classes = record.get("modified_buffer_classes") or []
        norms = names_list(locale, classes) if classes and all("Norm" in c for c in classes) else ""
        lines.append(tr(locale, ("" if params_too else f"{model}'s own parameters are untouched, but ") +
                        f"the forward updated these buffers of {model} in place: "
                        f"{names_list(locale, record['modified_buffers'])}" +
                        (f" ({norms} in training mode updates its running statistics)" if norms else "") +
                        ". Pass the buffers in the dictionaries too, or call `.eval()` first, to leave them alone.",
                        ("" if params_too else f"{model} 自己的参数没有被改动，但") +
                        f"前向计算原地更新了 {model} 的这些缓冲区：{names_list(locale, record['modified_buffers'])}" +
                        (f"（训练模式下的 {norms} 会更新其运行统计量）" if norms else "") +
                        "。若不想改动它们，请把缓冲区也放进字典，或先调用 `.eval()`。"))
    return join(*lines)


def explain_functional_call(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    general = tr(locale, "`functional_call` runs the module's forward with the given tensors in place of its own for "
                         "this one call, then puts its own back: gradients flow to the given tensors, not to the "
                         "model's parameters.",
                 "`functional_call` 只在这一次调用中用给定的张量代替模块自己的张量来执行前向，调用结束后再换回来：梯度流向给定的张量，"
                 "而不是模型自己的参数。")
    title, records, early = observed(ctx, finding, "functional_call", general=general)
    if early is not False:
        return early
    record = records[0]
    model = module_name(locale, record.get("module"), finding.facts.get("first", "model"))
    parts = [title, _substituted(locale, record, model)]
    if record.get("tied_in"):
        parts.append(tr(locale, f"Tied to a substituted name, {names_list(locale, record['tied_in'])} was substituted "
                                "with it (`tie_weights=True`).",
                        f"{names_list(locale, record['tied_in'])} 与某个被替换的名字绑定，因此也随之被替换（`tie_weights=True`）。"))
    if record.get("unmatched"):
        parts.append(tr(locale, f"{names_list(locale, record['unmatched'])}: no parameter or buffer of the model has "
                                "this name, so it replaced nothing" + (" (`strict=False`, the default, does not "
                                                                        "complain)." if not record.get("strict") else "."),
                        f"{names_list(locale, record['unmatched'])}：模型没有这个名字的参数或缓冲区，因此它没有替换任何东西" +
                        ("（默认的 `strict=False` 不会报错）。" if not record.get("strict") else "。")))
    if record.get("model_untouched"):
        parts.append(tr(locale, f"After the call {model}'s own tensors are untouched: the same objects, with the same "
                                "values.",
                        f"调用之后，{model} 自己的张量没有被改动：仍是同样的对象，数值也相同。"))
    else:
        parts.append(_changed_own(locale, record, model))
    output = record.get("output") or {}
    if output.get("kind") == "tensor":
        parts.append(tr(locale, f"Output: {shape(output['shape'])}.", f"输出：{shape(output['shape'])}。"))
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
    header = tr(locale, "parameter|one model|stacked", "参数|单个模型|堆叠后").split("|")
    parts = [title, tr(locale, f"Stacked the parameters of **{n} models**: each one gained a leading dimension of {n}.",
                       f"堆叠了 **{n} 个模型**的参数：每个参数都多了一个大小为 {n} 的最前维度。"), table(header, rows)]
    if len(params) > ROWS:
        parts.append(tr(locale, f"… and {len(params) - ROWS} more.", f"……另有 {len(params) - ROWS} 个。"))
    copies = all(p["equal"] and not p["shares_memory"] for p in params)
    leaves = all(p["is_leaf"] and p["requires_grad"] for p in params)
    if copies:
        parts.append(tr(locale, "They are copies: equal to the models' tensors now, sharing no memory with them" +
                        (", and new leaves with `requires_grad=True`: training them does not change the models." if leaves
                         else "."),
                        "它们是副本：当前与各模型的张量相等，但不共享内存" +
                        ("，并且是 `requires_grad=True` 的新叶子张量：训练它们不会改变原来的模型。" if leaves else "。")))
    if record.get("buffers"):
        parts.append(tr(locale, f"Buffers stacked the same way: {count(len(record['buffers']))}.",
                        f"缓冲区也以同样方式堆叠：{count(len(record['buffers']))} 个。"))
    parts.append(tr(locale, "Pass them to `functional_call` under `vmap` to run every model at once.",
                    "把它们在 `vmap` 中传给 `functional_call`，即可一次运行所有模型。"))
    return join(*parts), {"models": n, "params": [[p["name"], p["model_shape"], p["shape"]] for p in params],
                          "buffers": [[b["name"], b["model_shape"], b["shape"]] for b in record.get("buffers", [])],
                          "copies": copies, "leaves": leaves}

"""Initialisation: `module.apply(fn)`, `nn.init.*_` calls, and in-place edits of parameters."""

from __future__ import annotations

from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import (code, count, join, num, output_block, owners_text, shape, stats_line, table,
                                   value_block)
from paramlens.explain.i18n import tr
from paramlens.explain.patterns.common import calls_note, heading, not_run_note, site_code, tied_names, times


def _visit_label(record: dict[str, Any], visit: dict[str, Any]) -> str:
    receiver = (record.get("receiver", {}).get("owner") or [{"path": None}])[0]["path"]
    path = visit["paths"][0]
    if receiver:
        return f"{receiver}.{path}" if path else receiver
    return path or "(root)"


def _change_text(locale: str, change: dict[str, Any]) -> str:
    after = change.get("after") or {}
    if after.get("min") is None:  # the meta device: the write is known, the values are not
        return tr(locale, f"`{change['name']}` written (no values on the meta device)",
                  f"`{change['name']}` 已写入（meta 设备上没有数值）")
    if after.get("all_equal"):
        value = tr(locale, f"all {num(after['min'])}", f"全为 {num(after['min'])}")
    else:
        value = tr(locale, f"range [{num(after.get('min'))}, {num(after.get('max'))}], std {num(after.get('std'))}",
                   f"范围 [{num(after.get('min'))}, {num(after.get('max'))}]，标准差 {num(after.get('std'))}")
    return f"`{change['name']}` → {value}"


def layer_symmetry(ctx: ExplainContext, record: dict[str, Any], weight_paths: list[str]) -> list[dict[str, Any]]:
    """The symmetry facts (sandbox/symmetry.py) of the layers whose weights these paths name: measured after the
    statement during which the record was made and, while the layer's rows stay equal, after each later statement
    that wrote a constant (`constant_(w, 1)` then `zeros_(b)` on the next line): the last of those is what the
    constant weight led to."""
    start = record.get("statement")
    if start is None:
        return []
    wanted = {path.rsplit(".", 1)[0] for path in weight_paths if path.endswith(".weight")}
    latest: dict[str, dict[str, Any]] = {}
    for index in sorted(i for i in ctx.observations.symmetry if i >= start):
        present = {layer["layer"]: layer for layer in ctx.observations.symmetry[index] if layer["layer"] in wanted}
        for name in list(wanted):
            if name in present:
                latest[name] = present[name]
            elif name in latest or index == start:
                wanted.discard(name)  # re-initialised since (rows no longer equal): later measurements are not its
    return list(latest.values())


def constant_weight_text(locale: str, layers: list[dict[str, Any]]) -> str:
    """What a constant weight matrix does, said only as far as the run shows it: symmetry (units that are and
    stay identical) only for units with equal incoming weights, equal biases and equal outgoing weights."""
    parts = []
    for layer in layers:
        name, units = code(layer["layer"]), layer["units"]
        if layer.get("symmetric"):
            parts.append(tr(
                locale,
                f"**Observed: the {units} units of {name} are interchangeable.** They have the same incoming weights "
                "and the same bias, and the next layer weights them equally, so they compute the same value, receive "
                "the same gradient and stay identical after every update: the symmetry is never broken, and the layer "
                "behaves like a single unit however wide it is. Random initialisation (`xavier_uniform_`, "
                "`kaiming_uniform_`) exists to break exactly this symmetry; it has nothing to do with class imbalance.",
                f"**观测结果：{name} 的 {units} 个单元可以互换。**它们的输入权重相同、偏置相同，下一层对它们的权重也相同，"
                "因此它们计算出相同的值、得到相同的梯度，每次更新后仍然完全一样：对称性永远不会被打破，无论这一层多宽，都只相当于"
                "一个单元。随机初始化（`xavier_uniform_`、`kaiming_uniform_`）正是为了打破这种对称性；这与类别不平衡无关。"))
        elif not layer.get("bias_equal"):
            parts.append(tr(
                locale,
                f"Every unit of {name} now gets the same weighted sum of its input, but their biases differ, so the "
                f"{units} units are not interchangeable and training can tell them apart.",
                f"{name} 的每个单元现在都得到相同的输入加权和，但它们的偏置不同，因此这 {units} 个单元并非可以互换，训练可以"
                "区分它们。"))
        elif layer.get("outgoing_equal") is False:
            parts.append(tr(
                locale,
                f"The {units} units of {name} compute the same value now (same weights, same bias), but the next layer "
                "weights them differently, so they receive different gradients and training separates them.",
                f"{name} 的 {units} 个单元现在计算出相同的值（权重相同、偏置相同），但下一层对它们的权重不同，因此它们得到不同的"
                "梯度，训练会把它们区分开。"))
        else:
            parts.append(tr(
                locale,
                f"The {units} outputs of {name} are equal for any input now (same weights, same bias). Whether they "
                "stay equal in training depends on how the layers after it use them, which the structure does not "
                "show (it is not followed by a layer in the same `nn.Sequential`).",
                f"{name} 的 {units} 个输出现在对任何输入都相等（权重相同、偏置相同）。训练中它们是否保持相等，取决于后面的层如何"
                "使用它们，而模型结构无法说明这一点（它后面没有同一个 `nn.Sequential` 中的层）。"))
    return join(*parts)


def explain_apply(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    fn = finding.facts.get("fn") or finding.facts.get("fn_text")
    title = heading(site_code(finding))
    general = tr(locale,
                 f"`apply(fn)` calls `{fn}` on every submodule, children first and the module itself last "
                 "(post-order), then returns the module — which is why a notebook prints the network after this line. "
                 "A layer object placed twice in one container is visited once.",
                 f"`apply(fn)` 会在每个子模块上调用 `{fn}`：先子模块、最后是模块自身（后序遍历），然后返回该模块——所以 "
                 "notebook 会在这一行之后打印出网络结构。同一个层对象在一个容器中出现两次时只会被访问一次。")
    records = [r for r in ctx.records(finding) if r.get("kind") == "apply"]
    if not records:
        return join(title, general, not_run_note(finding, ctx)), {"fn": fn}
    record = records[0]
    visits = record["visits"]
    rows = []
    compact = len(visits) > 12  # long models: list what changed, summarise the rest
    for order, visit in enumerate(visits, 1):
        if compact and not visit["changed"]:
            continue
        changed = "; ".join(_change_text(locale, c) for c in visit["changed"]) or \
            tr(locale, "nothing changed", "没有变化")
        rows.append([str(order), code(_visit_label(record, visit)), code(f"{visit['class']}({visit['extra']})"),
                     changed])
    header = tr(locale, "#|module|layer|what changed", "#|模块|层|变化").split("|")
    changed_visits = [v for v in visits if v["changed"]]
    summary = tr(locale, f"`{fn}` was called {times(locale, len(visits))}, in this order; {len(changed_visits)} of "
                         "those calls changed a parameter or buffer (of the visited module or of its submodules, "
                         "named relative to it):",
                 f"`{fn}` 按以下顺序共被调用 {len(visits)} 次；其中 {len(changed_visits)} 次调用修改了参数或缓冲区（属于被访问的"
                 "模块或其子模块，名字相对于该模块）：")
    parts = [title, summary, table(header, rows)]
    unchanged = [v for v in visits if not v["changed"]]
    if compact and unchanged:
        classes = sorted({v["class"] for v in unchanged})
        parts.append(tr(locale, f"The other {len(unchanged)} visits changed nothing ({', '.join(classes)}).",
                        f"其余 {len(unchanged)} 次访问没有任何变化（{'、'.join(classes)}）。"))
    if not changed_visits:
        parts.append(tr(locale, f"**`{fn}` changed nothing.** Check its condition (e.g. `type(m) == nn.Linear` does "
                                "not match subclasses; `isinstance(m, nn.Linear)` does).",
                        f"**`{fn}` 没有修改任何参数。**请检查它的条件（例如 `type(m) == nn.Linear` 不匹配子类，"
                        "`isinstance(m, nn.Linear)` 可以）。"))
    receiver = ((record.get("receiver") or {}).get("owner") or [{"path": ""}])[0]["path"]
    constant_paths = [f"{receiver}.{_join(v['paths'][0], c['name'])}" if receiver else _join(v["paths"][0], c["name"])
                      for v in changed_visits for c in v["changed"]
                      if (c.get("after") or {}).get("all_equal") and len(c.get("shape") or []) >= 2]
    parts.append(constant_weight_text(locale, layer_symmetry(ctx, record, constant_paths)))
    parts.append(output_block(locale, record.get("output")))
    if record.get("error"):
        parts.append(tr(locale, f"`{fn}` raised `{record['error']}` after these visits.",
                        f"在这些访问之后，`{fn}` 抛出了 `{record['error']}`。"))
    parts.append(general)
    facts = {"fn": fn, "visits": [{"module": _visit_label(record, v), "class": v["class"],
                                   "changed": [c["name"] for c in v["changed"]],
                                   "after": {c["name"]: c.get("after") for c in v["changed"]}} for v in visits]}
    return join(*parts), facts


def _join(*names: str) -> str:
    return ".".join(name for name in names if name)


def _scale_text(locale: str, record: dict[str, Any]) -> str:
    fn = record["fn"]
    args = record.get("args", {})
    if "fan_in" in record and fn.startswith("xavier"):
        fan_in, fan_out, gain = record["fan_in"], record["fan_out"], record.get("gain", 1.0)
        if "bound" in record:
            return tr(locale, f"fan_in = {fan_in}, fan_out = {fan_out}: values uniform in ±a with a = gain·√(6/(fan_in + "
                              f"fan_out)) = {num(gain)}·√(6/{fan_in + fan_out}) = **{num(record['bound'])}**.",
                      f"fan_in = {fan_in}，fan_out = {fan_out}：数值在 ±a 内均匀分布，a = gain·√(6/(fan_in + fan_out)) = "
                      f"{num(gain)}·√(6/{fan_in + fan_out}) = **{num(record['bound'])}**。")
        return tr(locale, f"fan_in = {fan_in}, fan_out = {fan_out}: std = gain·√(2/(fan_in + fan_out)) = "
                          f"**{num(record.get('std'))}**.",
                  f"fan_in = {fan_in}，fan_out = {fan_out}：std = gain·√(2/(fan_in + fan_out)) = **{num(record.get('std'))}**。")
    if "fan_in" in record and fn.startswith("kaiming"):
        which = f"{record.get('mode')} = {record.get('fan')}"
        if "bound" in record:
            return tr(locale, f"{which}, gain = {num(record['gain'])}: values uniform in ±gain·√(3/fan) = "
                              f"**{num(record['bound'])}**.",
                      f"{which}，gain = {num(record['gain'])}：数值在 ±gain·√(3/fan) = **{num(record['bound'])}** 内均匀分布。")
        return tr(locale, f"{which}, gain = {num(record['gain'])}: std = gain/√fan = **{num(record.get('std'))}**.",
                  f"{which}，gain = {num(record['gain'])}：std = gain/√fan = **{num(record.get('std'))}**。")
    described = {
        "normal_": tr(locale, f"values drawn from N(mean={args.get('mean')}, std={args.get('std')})",
                      f"数值取自正态分布 N(mean={args.get('mean')}, std={args.get('std')})"),
        "uniform_": tr(locale, f"values drawn uniformly from [{args.get('a')}, {args.get('b')}]",
                       f"数值从 [{args.get('a')}, {args.get('b')}] 中均匀抽取"),
        "constant_": tr(locale, f"every value set to {args.get('val')}", f"所有数值都设为 {args.get('val')}"),
        "zeros_": tr(locale, "every value set to 0", "所有数值都设为 0"),
        "ones_": tr(locale, "every value set to 1", "所有数值都设为 1"),
        "trunc_normal_": tr(locale, f"N(mean={args.get('mean')}, std={args.get('std')}) truncated to "
                                    f"[{args.get('a')}, {args.get('b')}]",
                            f"截断到 [{args.get('a')}, {args.get('b')}] 的 N(mean={args.get('mean')}, std={args.get('std')})"),
    }
    return described.get(fn, "")


def explain_init(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    name = finding.facts["init"]
    title = heading(site_code(finding))
    general = tr(locale, f"`nn.init.{name}` fills the tensor in place (the trailing `_`) without recording anything "
                         "for autograd, and returns the same tensor.",
                 f"`nn.init.{name}` 原地填充张量（末尾的 `_` 表示原地操作），不会被 autograd 记录，并返回同一个张量。")
    records = [r for r in ctx.records(finding) if r.get("kind") == "init"]
    if not records:
        return join(title, general, not_run_note(finding, ctx)), {"init": name}
    rows = []
    for record in records:
        owners = owners_text(locale, record.get("owner")) or code(record.get("param_name") or "?")
        result = record.get("error") or stats_line(locale, record.get("after"))
        rows.append([owners, shape(record.get("shape")), _scale_text(locale, record) or "—", result])
    header = tr(locale, "tensor|shape|what torch used|result", "张量|形状|torch 使用的参数|结果").split("|")
    total = ctx.count(finding)
    parts = [title, tr(locale, f"Called {times(locale, total)} during the run:", f"运行期间共调用 {total} 次："),
             table(header, rows), calls_note(locale, total, len(records))]
    tied = next((names for names in (tied_names(r) for r in records) if names), None)
    if tied:
        names = " = ".join(code(path) for path in tied)
        parts.append(tr(locale, f"{names} are **one tensor** (tied): initialising it under either name initialises "
                                "both, and whichever init runs last decides the values.",
                        f"{names} 是**同一个张量**（共享）：以任一名字初始化都会同时初始化两者，最后运行的初始化决定最终数值。"))
    for record in records:
        if (record.get("after") or {}).get("all_equal") and len(record.get("shape") or []) >= 2:
            paths = [o["path"] for o in record.get("owner", []) if o.get("relation") == "same"]
            parts.append(constant_weight_text(locale, layer_symmetry(ctx, record, paths)))
            break
    if name.startswith("xavier"):
        parts.append(tr(locale, "Xavier (Glorot) initialisation scales the range by the layer's fan-in and fan-out so "
                                "that the variance of activations and of gradients stays about the same from layer to "
                                "layer; it assumes roughly linear or tanh-like activations (for ReLU, Kaiming is the "
                                "usual choice).",
                        "Xavier（Glorot）初始化根据层的 fan-in 和 fan-out 缩放取值范围，使激活值和梯度的方差在层与层之间大致保持"
                        "不变；它假设激活函数近似线性或类似 tanh（对 ReLU 通常用 Kaiming 初始化）。"))
    if name.startswith("kaiming"):
        parts.append(tr(locale, "Kaiming (He) initialisation scales by one fan (fan_in keeps the forward activations' "
                                "variance, fan_out the backward gradients') and by the gain of the nonlinearity that "
                                "follows (√2 for ReLU), because ReLU zeroes half of its inputs.",
                        "Kaiming（He）初始化按一个 fan 缩放（fan_in 保持前向激活值的方差，fan_out 保持反向梯度的方差），"
                        "并乘以后面非线性函数的增益（ReLU 为 √2），因为 ReLU 会把一半的输入置零。"))
    parts.append(general)
    facts = {"init": name, "calls": [{"owner": [o["path"] for o in r.get("owner", [])], "shape": r.get("shape"),
                                      "args": r.get("args"), "bound": r.get("bound"), "std": r.get("std"),
                                      "fan_in": r.get("fan_in"), "fan_out": r.get("fan_out"),
                                      "after": r.get("after"), "error": r.get("error")} for r in records]}
    return join(*parts), facts


def _element_changes(record: dict[str, Any], limit: int = 4) -> str:
    """`[0, 0]: 3 → 42` for the first few elements that changed (listed by the probe for any tensor with few
    changes, and for every small tensor)."""
    listed = record.get("changes")
    if listed:
        shown = [f"`[{', '.join(map(str, change['index']))}]`: {num(change['before'])} → {num(change['after'])}"
                 for change in listed[:limit]]
        more = (record.get("changed") or 0) > len(shown)
        return ", ".join(shown) + (" …" if more else "")
    before, after = record.get("before_values"), record.get("after_values")
    if before is None or after is None:
        return ""
    changes: list[str] = []

    def walk(b: Any, a: Any, index: tuple[int, ...]) -> None:
        if len(changes) > limit:
            return
        if isinstance(b, list):
            for i, (bb, aa) in enumerate(zip(b, a)):
                walk(bb, aa, index + (i,))
        elif b != a:
            changes.append(f"`[{', '.join(map(str, index))}]`: {num(b)} → {num(a)}")

    walk(before, after, ())
    shown = changes[:limit]
    return ", ".join(shown) + (" …" if len(changes) > limit else "")


def explain_mutation(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    title = heading(site_code(finding))
    through_data = finding.facts.get("through_data")
    general = tr(locale,
                 "This edits the parameter in place. Through `.data` the change is invisible to autograd: fine for "
                 "initialisation outside training, but inside a training step it can silently corrupt gradients — "
                 "prefer `with torch.no_grad(): ...` on the parameter itself.",
                 "这会原地修改参数。通过 `.data` 做的修改对 autograd 不可见：在训练之外初始化时没问题，但在训练步骤中可能悄悄"
                 "破坏梯度——更推荐对参数本身使用 `with torch.no_grad(): ...`。") if through_data else \
        tr(locale, "This edits the parameter in place.", "这会原地修改参数。")
    records = [r for r in ctx.records(finding) if r.get("kind") == "mutation"]
    if not records:
        return join(title, general, not_run_note(finding, ctx)), {}
    parts = [title]
    facts: dict[str, Any] = {"calls": []}
    for record in records[:4]:
        tensor = record["tensor"]
        owners = owners_text(locale, tensor.get("owner")) or code(finding.facts["watched"])
        changed = record.get("changed")
        numel = record.get("numel") or tensor.get("numel")
        line = tr(locale, f"{owners} {shape(tensor.get('shape'))}: {count(changed)} of {count(numel)} values changed.",
                  f"{owners} {shape(tensor.get('shape'))}：{count(numel)} 个值中有 {count(changed)} 个被修改。")
        zeroed = record.get("zeroed") or 0
        if zeroed and numel:
            line += " " + tr(locale, f"{count(zeroed)} of them became 0 ({zeroed / numel:.0%} of the tensor).",
                             f"其中 {count(zeroed)} 个变成了 0（占整个张量的 {zeroed / numel:.0%}）。")
        after_zeros = (record.get("after") or {}).get("zeros")
        if after_zeros is not None and numel and zeroed and finding.function:
            line += " " + tr(locale, f"Afterwards {after_zeros / numel:.0%} of the values are zero.",
                             f"修改后 {after_zeros / numel:.0%} 的数值为 0。")
        parts.append(line)
        diff = _element_changes(record)
        if diff:
            parts.append(diff)
        if tensor.get("text") and not finding.function:
            parts.append(tr(locale, "After:", "修改后：") + "\n" + value_block(locale, tensor["text"]))
        same = [o["path"] for o in tensor.get("owner", []) if o["relation"] == "same"]
        if tied_names(tensor):
            parts.append(tr(locale, f"**Shared:** {', '.join(code(s) for s in same)} are one tensor, so this edit "
                                    "changed all of them.",
                            f"**共享：**{'、'.join(code(s) for s in same)} 是同一个张量，所以这次修改同时改变了它们全部。"))
        facts["calls"].append({"owner": same, "changed": changed, "zeroed": zeroed, "numel": numel,
                               "after_values": record.get("after_values"), "before_values": record.get("before_values"),
                               "changes": record.get("changes")})
    total = ctx.count(finding)
    if finding.function and total > 1:
        parts.insert(1, tr(locale, f"Ran {times(locale, total)} inside `{finding.function}`:",
                           f"在 `{finding.function}` 中共执行 {total} 次："))
    parts.append(calls_note(locale, total, min(len(records), 4)))
    parts.append(general)
    return join(*parts), facts


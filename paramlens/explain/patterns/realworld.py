"""Patterns of real model files: tying by assignment, buffers vs parameters vs plain tensors, freezing,
checkpoints (load_state_dict, torch.save / torch.load) and optimizer parameter groups."""

from __future__ import annotations

from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import code, count, join, shape, table
from paramlens.explain.i18n import tr
from paramlens.explain.patterns.common import heading, not_run_note, site_code


def _tensor_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("kind") == "tensor"]


def _method_records(ctx: ExplainContext, finding: Finding) -> list[dict[str, Any]]:
    return [r for r in ctx.records(finding) if r.get("kind") == "method"]


def explain_tie_assignment(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    target, source = finding.facts["target"], finding.facts["source"]
    title = heading(site_code(finding))
    general = tr(locale,
                 f"After this line `{target}` and `{source}` are **one Parameter**, not two equal ones: an update through "
                 "either name changes both, and in training the gradients of both uses add up in one `.grad`. "
                 "`parameters()` / `named_parameters()` yield it once (under the name registered first), so it is "
                 "counted once and handed to the optimizer once, while `state_dict()` lists it under both keys. "
                 "`safetensors.torch.save_file` refuses tensors that share memory: save with `save_model` (which "
                 "keeps one key) or drop one key and re-tie after loading.",
                 f"这一行之后，`{target}` 和 `{source}` 是**同一个 Parameter**，而不是两个相等的参数：通过任一名字的更新都会改变两者，"
                 "训练时两处使用的梯度会累加到同一个 `.grad` 中。`parameters()` / `named_parameters()` 只给出一次（使用先注册的名字），"
                 "因此只计数一次、只交给优化器一次；而 `state_dict()` 在两个键下都会列出它。`safetensors.torch.save_file` 会拒绝共享内存"
                 "的张量：请用 `save_model`（只保留一个键）保存，或删除一个键并在加载后重新绑定。")
    records = _tensor_records(ctx.records(finding))
    if not records:
        return join(title, general, not_run_note(finding, ctx)), {}
    value = records[0]
    owners = [o["path"] for o in value.get("owner", [])]
    observed = tr(locale, f"Observed: a Parameter of shape {shape(value.get('shape'))} "
                          f"({count(value.get('numel'))} values)" + (f", reachable as {', '.join(code(o) for o in owners)}"
                                                                      if owners else "") + ".",
                  f"观测结果：形状为 {shape(value.get('shape'))} 的 Parameter（{count(value.get('numel'))} 个值）" +
                  (f"，可通过 {'、'.join(code(o) for o in owners)} 访问" if owners else "") + "。")
    return join(title, observed, general), {"shape": value.get("shape"), "owner": owners}


def explain_register(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    method = finding.facts["method"]
    title = heading(site_code(finding))
    if method == "register_parameter":
        general = tr(locale, "`register_parameter(name, param)` does what assigning an `nn.Parameter` attribute does: "
                             "the tensor is trained, saved in `state_dict()` and moved by `.to(device)`.",
                     "`register_parameter(name, param)` 与把 `nn.Parameter` 赋值给属性的效果相同：该张量会被训练、保存在 "
                     "`state_dict()` 中，并随 `.to(device)` 移动。")
    else:
        general = tr(locale,
                     "A buffer is state that is not trained: it moves with `.to(device)` and is not in `parameters()`. "
                     "A persistent buffer (the default) is saved in `state_dict()`; `persistent=False` keeps it out "
                     "(recomputed or constant data such as masks and position tables). A plain tensor attribute is "
                     "neither: not saved, not moved.",
                     "缓冲区是不参与训练的状态：它随 `.to(device)` 移动，但不在 `parameters()` 中。持久化缓冲区（默认）保存在 "
                     "`state_dict()` 中；`persistent=False` 则不保存（适合可重新计算或固定的数据，如掩码和位置表）。普通张量属性"
                     "两者都不是：既不保存，也不移动。")
    records = _method_records(ctx, finding)
    if not records:
        return join(title, general, not_run_note(finding, ctx)), {}
    rows = []
    seen: set = set()
    nothing = []  # names registered with None: torch keeps the attribute (None) and registers no tensor
    for record in records:
        if record.get("name") in seen:
            continue  # the same registration in another instance of the class
        seen.add(record.get("name"))
        tensor = record.get("tensor")
        if tensor is None:
            nothing.append(str(record.get("name")))
            continue
        where = tr(locale, "saved in state_dict", "保存在 state_dict 中") if record.get("persistent", True) else \
            tr(locale, "not saved (persistent=False)", "不保存（persistent=False）")
        if method == "register_parameter":
            where = tr(locale, "trained and saved", "参与训练并保存")
        rows.append([code(str(record.get("name"))), shape(tensor.get("shape")), tensor.get("dtype", "—"), where])
    parts = [title]
    if nothing:
        names = ", ".join(code(name) for name in nothing)
        names_zh = "、".join(code(name) for name in nothing)
        parts.append(tr(locale, f"{names} was registered as `None`: torch registers **no tensor** under that name. The "
                                f"attribute exists and is `None` (so `if self.{nothing[0]} is not None:` works), but it "
                                "is not in `parameters()`, `named_parameters()` or `state_dict()`, and nothing is "
                                "trained or saved for it. This is how layers built with `bias=False` say they have no "
                                "bias.",
                        f"{names_zh} 被注册为 `None`：torch 在这个名字下**不注册任何张量**。该属性存在且为 `None`（所以 "
                        f"`if self.{nothing[0]} is not None:` 可以正常判断），但它不在 `parameters()`、`named_parameters()` "
                        "或 `state_dict()` 中，也不会为它训练或保存任何东西。以 `bias=False` 构建的层正是用这种方式表示没有偏置。"))
    if rows:
        header = tr(locale, "name|shape|dtype|state_dict", "名字|形状|dtype|state_dict").split("|")
        parts.append(table(header, rows))
        parts.append(general)
    return join(*parts), {"names": [r.get("name") for r in records], "persistent": [r.get("persistent") for r in records],
                          "registered_none": nothing}


def explain_parameter_new(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    records = _tensor_records(ctx.records(finding))
    title = heading(site_code(finding))
    general = tr(locale, "`nn.Parameter` wraps a tensor so that assigning it to a module attribute registers it: it "
                         "gets `requires_grad=True`, appears in `parameters()` and `state_dict()`, and an optimizer "
                         "updates it.",
                 "`nn.Parameter` 把张量包装起来，使它在赋值给模块属性时被注册：它获得 `requires_grad=True`，出现在 "
                 "`parameters()` 和 `state_dict()` 中，并由优化器更新。")
    if not records:
        return join(title, general, not_run_note(finding, ctx)), {}
    value = records[0]
    return join(title, tr(locale, f"Built: {shape(value.get('shape'))}, `{value.get('dtype')}`.",
                          f"构建结果：{shape(value.get('shape'))}，`{value.get('dtype')}`。"), general), \
        {"shape": value.get("shape")}


def explain_tensor_attribute(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    records = _tensor_records(ctx.records(finding))
    if not records or records[0].get("parameter"):
        return None
    locale = ctx.locale
    attribute = finding.facts["attribute"]
    value = records[0]
    return join(heading(site_code(finding)), tr(
        locale,
        f"`self.{attribute}` is a plain tensor {shape(value.get('shape'))}: **neither a parameter nor a buffer**. It "
        "is not in `parameters()` (not trained), not in `state_dict()` (not saved or loaded) and `.to(device)` does "
        f"not move it. If it is state, use `self.register_buffer({attribute!r}, ...)` (add `persistent=False` when it "
        "should not be saved); if it should be trained, wrap it in `nn.Parameter`.",
        f"`self.{attribute}` 是一个普通张量 {shape(value.get('shape'))}：**既不是参数也不是缓冲区**。它不在 `parameters()` "
        "中（不训练），不在 `state_dict()` 中（不保存也不加载），`.to(device)` 也不会移动它。如果它是状态，请用 "
        f"`self.register_buffer({attribute!r}, ...)`（不需要保存时加 `persistent=False`）；如果需要训练，请用 `nn.Parameter` 包装。")), \
        {"shape": value.get("shape"), "attribute": attribute}


def explain_freeze(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    records = _method_records(ctx, finding)
    title = heading(site_code(finding))
    general = tr(locale, "`requires_grad_(False)` freezes parameters in place: `backward()` no longer computes their "
                         "gradients and optimizers skip them (pass only trainable ones: "
                         "`[p for p in model.parameters() if p.requires_grad]`).",
                 "`requires_grad_(False)` 原地冻结参数：`backward()` 不再计算它们的梯度，优化器也会跳过它们（只传入可训练的："
                 "`[p for p in model.parameters() if p.requires_grad]`）。")
    if not records:
        return join(title, general, not_run_note(finding, ctx)), {}
    record = records[-1]
    if "trainable" in record:
        line = tr(locale, f"After this call {count(record['trainable'])} of {count(record['total'])} values "
                          f"({record['tensors']} tensors) of `{finding.facts['receiver']}` are trainable.",
                  f"调用之后，`{finding.facts['receiver']}` 的 {count(record['total'])} 个值（{record['tensors']} 个张量）中"
                  f"有 {count(record['trainable'])} 个可训练。")
        return join(title, line, general), {"trainable": record["trainable"], "total": record["total"]}
    return join(title, general), {"requires_grad": record.get("requires_grad")}


def explain_load_state_dict(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    records = _method_records(ctx, finding)
    title = heading(site_code(finding))
    general = tr(locale,
                 "`load_state_dict` copies tensors into the module's parameters and buffers by key. With `strict=True` "
                 "(the default) any missing or unexpected key raises; with `strict=False` they are returned as "
                 "`missing_keys` (left as they were) and `unexpected_keys` (ignored) — check them, a silent partial load "
                 "is a common bug. Shapes must match either way.",
                 "`load_state_dict` 按键把张量复制到模块的参数和缓冲区中。`strict=True`（默认）时，缺少或多余的键都会报错；"
                 "`strict=False` 时它们作为 `missing_keys`（保持原值）和 `unexpected_keys`（被忽略）返回——请检查它们，悄无声息的"
                 "部分加载是常见错误。两种情况下形状都必须一致。")
    if not records:
        return join(title, general, not_run_note(finding, ctx)), {}
    record = records[0]
    if record.get("error"):
        return join(title, tr(locale, f"It raised: `{record['error'][:400]}`", f"它抛出了：`{record['error'][:400]}`"),
                    general), {"error": record["error"]}
    missing, unexpected = record.get("missing", []), record.get("unexpected", [])
    line = tr(locale, f"Loaded from {count(record.get('loaded'))} entries; missing keys: "
                      f"{', '.join(code(k) for k in missing) or 'none'}; unexpected keys: "
                      f"{', '.join(code(k) for k in unexpected) or 'none'}.",
              f"从 {count(record.get('loaded'))} 项加载；缺少的键：{'、'.join(code(k) for k in missing) or '无'}；"
              f"多余的键：{'、'.join(code(k) for k in unexpected) or '无'}。")
    return join(title, line, general), {"missing": missing, "unexpected": unexpected, "loaded": record.get("loaded")}


def explain_torch_load(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    records = [r for r in ctx.records(finding) if r.get("kind") == "state_dict"]
    title = heading(site_code(finding))
    if not records:
        return None
    record = records[0]
    rows = [[code(e["key"]), shape(e["shape"]), e["dtype"]] for e in record["entries"][:12]]
    header = tr(locale, "key|shape|dtype", "键|形状|dtype").split("|")
    return join(title, tr(locale, f"Loaded a state dict with {record['count']} entries:",
                          f"加载了一个包含 {record['count']} 项的 state dict："), table(header, rows),
                tr(locale, "`torch.load` unpickles the file: load only files you trust (`weights_only=True` is the "
                           "safe default in recent torch).",
                   "`torch.load` 会反序列化（unpickle）文件：只加载你信任的文件（新版 torch 默认 `weights_only=True` 更安全）。")), \
        {"keys": [e["key"] for e in record["entries"]]}


def explain_torch_save(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    note = tr(locale, "Run by ParamLens, this wrote into the sandbox's private temporary directory (deleted after the "
                      "run), never into your project.",
              "由 ParamLens 运行时，它写入的是沙箱的私有临时目录（运行结束后删除），绝不会写入你的项目。") \
        if ctx.observations.executed else ""
    return join(heading(site_code(finding)), tr(
        locale, "`torch.save(model.state_dict(), path)` saves the tensors by key — the usual way to checkpoint; saving "
                "the whole module pickles its class by name and breaks when the code moves.",
        "`torch.save(model.state_dict(), path)` 按键保存张量——这是保存检查点的常用方式；保存整个模块会按名字 pickle "
        "它的类，代码一移动就会失效。"), note), {}


def explain_optimizer(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    records = [r for r in ctx.records(finding) if r.get("kind") == "optimizer"]
    title = heading(site_code(finding))
    if not records:
        return join(title, not_run_note(finding, ctx)), {}
    record = records[0]
    rows = []
    for index, group in enumerate(record["groups"]):
        options = ", ".join(f"{k}={v}" for k, v in group["options"].items() if k in {"lr", "weight_decay", "momentum",
                                                                                     "betas", "eps"})
        names = ", ".join(code(n) for n in group["names"] if n) + (" …" if group["tensors"] > len(group["names"]) else "")
        rows.append([str(index), str(group["tensors"]), count(group["numel"]), options, names or "—"])
    header = tr(locale, "group|tensors|values|options|first parameters", "组|张量数|值的个数|选项|前几个参数").split("|")
    total = sum(g["numel"] for g in record["groups"])
    return join(title, tr(locale, f"`{record['class']}` with {record['total_groups']} parameter group(s), "
                                  f"{count(total)} values in all:",
                          f"`{record['class']}` 共有 {record['total_groups']} 个参数组，总计 {count(total)} 个值："),
                table(header, rows),
                tr(locale, "Each group has its own options; a parameter in no group is never updated, and one in two "
                           "groups makes the optimizer raise.",
                   "每个参数组有自己的选项；不在任何组中的参数永远不会被更新，同时出现在两个组中的参数会让优化器报错。")), \
        {"groups": [{"tensors": g["tensors"], "numel": g["numel"], "options": g["options"]} for g in record["groups"]]}

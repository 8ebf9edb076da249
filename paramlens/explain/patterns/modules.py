"""Modules: construction (`nn.Linear(4, 8)`, `nn.Sequential(...)`), functions that build blocks, forward calls,
`print(module)`, and one layer placed at several positions (shared parameters)."""

from __future__ import annotations

import math
from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import code, count, join, num, output_block, shape, shape_product, table, value_block
from paramlens.explain.i18n import tr
from paramlens.explain.patterns.gradients import shared_gradient_text
from paramlens.explain.patterns.common import (
    modules_text,
    times,
    calls_note,
    heading,
    module_label,
    not_run_note,
    param_count_text,
    site_code,
)

DEFAULT_INIT_CLASSES = {"Linear", "Bilinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
                        "ConvTranspose3d"}


def _modules(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("kind") == "module"]


def parameters_table(locale: str, module: dict[str, Any], limit: int = 12) -> str:
    params = module.get("parameters", [])
    rows = [[code(p["name"]), shape(p["shape"]), f"{shape_product(p['shape'])} = {count(p['numel'])}"
             if p["shape"] and len(p["shape"]) > 1 else count(p["numel"]),
             "✓" if p["requires_grad"] else "✗"] for p in params[:limit]]
    header = tr(locale, "parameter|shape|count|requires_grad", "参数|形状|数量|requires_grad").split("|")
    text = table(header, rows)
    hidden = module.get("parameters_total", len(params)) - min(limit, len(params))
    if hidden > 0:
        text += "\n\n" + tr(locale, f"… and {hidden} more.", f"……另有 {hidden} 个。")
    return text


def children_table(locale: str, module: dict[str, Any], limit: int = 16) -> str:
    rows = []
    for child in module.get("children", [])[:limit]:
        layer = code(f"{child['class']}({child['extra']})")
        params = count(child["param_count"])
        if child.get("same_as") is not None:
            params = tr(locale, f"same object as `{child['same_as']}`", f"与 `{child['same_as']}` 是同一个对象")
        rows.append([code(child["name"]), layer, params])
    header = tr(locale, "child|layer|parameters", "子模块|层|参数数量").split("|")
    text = table(header, rows)
    hidden = len(module.get("children", [])) - limit
    if hidden > 0:
        text += "\n\n" + tr(locale, f"… and {hidden} more children.", f"……另有 {hidden} 个子模块。")
    return text


def _linear_note(locale: str, module: dict[str, Any]) -> str:
    weight = next((p for p in module.get("parameters", []) if p["name"] == "weight"), None)
    if module.get("class") != "Linear" or not weight or not weight["shape"]:
        return ""
    out_features, in_features = weight["shape"]
    return tr(locale,
              f"`weight` is stored as [out_features, in_features] = [{out_features}, {in_features}]: row *i* holds the "
              f"{in_features} weights of output unit *i*, and the layer computes `x @ weight.T + bias`.",
              f"`weight` 按 [out_features, in_features] = [{out_features}, {in_features}] 存储：第 *i* 行是第 *i* 个输出"
              f"单元的 {in_features} 个权重，该层计算 `x @ weight.T + bias`。")


def _default_init_note(locale: str, module: dict[str, Any]) -> str:
    weight = next((p for p in module.get("parameters", []) if p["name"] == "weight"), None)
    if module.get("class") not in DEFAULT_INIT_CLASSES or not weight or not weight["shape"] or len(weight["shape"]) < 2:
        return ""
    fan_in = math.prod(weight["shape"][1:])
    if module.get("class", "").startswith("ConvTranspose"):
        return ""
    bound = 1 / math.sqrt(fan_in)
    return tr(locale,
              f"Until you initialise them yourself, PyTorch has drawn them at random: `weight` with "
              f"`kaiming_uniform_(a=√5)` and `bias` uniformly, both within ±1/√fan_in = ±1/√{fan_in} = ±{num(bound)}.",
              f"在你自己初始化之前，PyTorch 已随机初始化它们：`weight` 用 `kaiming_uniform_(a=√5)`，`bias` 用均匀分布，"
              f"范围都是 ±1/√fan_in = ±1/√{fan_in} = ±{num(bound)}。")


def _tied_note(locale: str, module: dict[str, Any]) -> str:
    tied = module.get("tied") or []
    if not tied:
        return ""
    groups = "; ".join(" = ".join(code(name) for name in group) for group in tied)
    return tr(locale,
              f"**Shared parameters:** {groups}. `parameters()` yields each shared tensor once "
              f"({count(module['param_count'])} values), while `state_dict()` lists it under every name "
              f"({count(module['param_count_with_duplicates'])} values if you add them up).",
              f"**共享参数：**{groups}。`parameters()` 对每个共享张量只给出一次（共 {count(module['param_count'])} 个值），"
              f"而 `state_dict()` 在每个名字下都列出它（逐项相加为 {count(module['param_count_with_duplicates'])} 个值）。")


CONTAINERS = {"Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"}


def own_parameters(module: dict[str, Any]) -> list[dict[str, Any]]:
    """The module's own parameters (`cls_token`, `pos_embed`, LoRA's `lora_A`), not its children's."""
    return [p for p in module.get("parameters", []) if "." not in p["name"]]


def describe_module(locale: str, module: dict[str, Any]) -> str:
    parts = [param_count_text(locale, module["param_count"], module["param_count_with_duplicates"]) + "."]
    own = own_parameters(module)
    if module.get("children"):
        if own:
            parts.append(tr(locale, "Its own parameters, besides its children's:", "除子模块的参数外，它自己的参数："))
            parts.append(parameters_table(locale, {**module, "parameters": own, "parameters_total": len(own)}))
        parts.append(children_table(locale, module))
    elif module.get("parameters"):
        parts.append(parameters_table(locale, module))
        parts.append(_linear_note(locale, module))
        parts.append(_default_init_note(locale, module))
    elif module.get("class") in CONTAINERS:
        parts[0] = tr(locale, f"This `{module['class']}` is empty when it is created: no layers and no parameters yet. "
                              "What is added to it later (`add_module`, `append`, item assignment) is what it will "
                              "hold.",
                      f"这个 `{module['class']}` 在创建时是空的：还没有层，也没有参数。之后添加进去的内容（`add_module`、"
                      "`append`、下标赋值）才是它要容纳的。")
    else:
        parts[0] = tr(locale, f"`{module['class']}` has no parameters and no submodules: nothing in it is trained.",
                      f"`{module['class']}` 没有参数，也没有子模块：其中没有需要训练的内容。")
    parts.append(_tied_note(locale, module))
    return join(*parts)


def module_facts(module: dict[str, Any]) -> dict[str, Any]:
    return {"class": module["class"], "param_count": module["param_count"],
            "param_count_with_duplicates": module["param_count_with_duplicates"],
            "parameters": [[p["name"], p["shape"]] for p in module.get("parameters", [])],
            "children": [[c["name"], c["class"], c.get("same_as")] for c in module.get("children", [])],
            "tied": module.get("tied", [])}


def module_title(locale: str, module: dict[str, Any]) -> str:
    """`Linear(in_features=4, out_features=8, bias=True)`, or for a module whose repr says nothing about its
    contents (a container, a model class): `Sequential` with 2 children."""
    children = module.get("children") or []
    if module.get("extra") or not children:
        return code(module_label(module))
    return tr(locale, f"{code(module['class'])} with {len(children)} children" if len(children) != 1 else
              f"{code(module['class'])} with 1 child",
              f"含 {len(children)} 个子模块的 {code(module['class'])}")


def explain_module(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    records = _modules(ctx.records(finding))
    title = heading(tr(locale, f"{finding.facts['class']}: a module", f"{finding.facts['class']}：一个模块"))
    if not records:
        return join(title, site_code(finding), not_run_note(finding, ctx)), {"class": finding.facts["class"]}
    module = records[0]
    title = heading(f"{site_code(finding)} → {module_title(locale, module)}")
    calls = ctx.count(finding)
    repeat = ""
    if finding.function and calls > 1:
        repeat = tr(locale, f"Built {times(locale, calls)} during the run (once per call of `{finding.function}`); every call "
                            "creates new, independent parameters. The first one:",
                    f"运行期间共构建了 {calls} 次（每次调用 `{finding.function}` 一次）；每次调用都会创建新的、互相独立的参数。"
                    "下面是第一次的结果：")
    facts = module_facts(module)
    facts["calls"] = calls
    return join(title, repeat, describe_module(locale, module)), facts


def explain_builder_call(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    records = _modules(ctx.records(finding))
    if not records:
        return None
    module = records[0]
    locale = ctx.locale
    title = heading(tr(locale, f"{site_code(finding)} returned {code(module['class'])}",
                       f"{site_code(finding)} 返回了 {code(module['class'])}"))
    return join(title, describe_module(locale, module)), module_facts(module)


def explain_function_def(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    name = finding.facts["name"]
    parts: list[str] = []
    facts: dict[str, Any] = {"function": name}
    returns = [f for f in ctx.findings if f.pattern == "builder_return" and f.function == name]
    built = [r for f in returns for r in _modules(ctx.records(f))]
    if built:
        calls = sum(ctx.count(f) for f in returns)
        first = built[0]
        parts.append(heading(tr(locale, f"{name}() builds a {first['class']}", f"{name}() 构建一个 {first['class']}")))
        parts.append(tr(locale, f"Called {times(locale, calls)} during the run; each call returned a new "
                                f"`{first['class']}` with {count(first['param_count'])} parameters of its own "
                                "(calling a builder twice never shares parameters; reuse one object to share).",
                        f"运行期间共调用 {calls} 次；每次都返回一个新的 `{first['class']}`，各自拥有 "
                        f"{count(first['param_count'])} 个参数（调用构建函数两次不会共享参数；要共享请复用同一个对象）。"))
        parts.append(describe_module(locale, first))
        facts.update({"calls": calls, "returns": module_facts(first)})
    uses = [f for f in ctx.findings if f.pattern == "apply" and f.facts.get("fn") == name]
    for use in uses:
        for record in ctx.records(use):
            if record.get("kind") != "apply":
                continue
            visited = len(record["visits"])
            changed = [v for v in record["visits"] if v["changed"]]
            parts.append(tr(locale,
                            f"Line {use.span.line}: {code(use.facts['text'])} called `{name}` on "
                            f"{modules_text(locale, visited)}; {len(changed)} of those calls changed a parameter or "
                            "buffer"
                            + (": " + ", ".join(code(_visit_name(record, v)) for v in changed) if changed else "")
                            + ".",
                            f"第 {use.span.line} 行：{code(use.facts['text'])} 在 {visited} 个模块上调用了 `{name}`；"
                            f"其中 {len(changed)} 次调用修改了参数或缓冲区"
                            + ("：" + "、".join(code(_visit_name(record, v)) for v in changed) if changed else "")
                            + "。"))
            facts.setdefault("applied", []).append({"line": use.span.line, "visited": visited,
                                                    "changed": len(changed)})
    if not parts:
        return None
    if not built:
        params = finding.facts.get("params") or []
        argument = params[1] if params[:1] == ["self"] and len(params) > 1 else (params[0] if params else "module")
        parts.insert(0, heading(tr(locale, f"{name}({argument}): an init function",
                                   f"{name}({argument})：一个初始化函数")))
    return join(*parts), facts


def _visit_name(record: dict[str, Any], visit: dict[str, Any]) -> str:
    receiver = (record.get("receiver", {}).get("owner") or [{"path": "module"}])[0]["path"]
    path = visit["paths"][0]
    return f"{receiver}.{path}" if path else receiver


def explain_forward(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    records = [r for r in ctx.records(finding) if r.get("kind") == "forward"]
    if not records:
        return None
    locale = ctx.locale
    record = records[0]
    module = record["module"]
    inputs = ", ".join(shape(i["shape"]) for i in record["inputs"] if i.get("kind") == "tensor") or "—"
    title = heading(tr(locale, f"{site_code(finding)}: forward pass of {module['class']}",
                       f"{site_code(finding)}：{module['class']} 的前向计算"))
    parts = [title]
    chain = [f"{c['class']}" + (f"({c['extra']})" if c["extra"] else "") for c in module.get("children", [])]
    if module.get("class") == "Sequential" and chain:
        parts.append(tr(locale, "Calling the module runs `forward` (through `__call__`, which also runs hooks). A "
                                "`Sequential` feeds the input through its children in order: " + " → ".join(
                                    code(c) for c in chain) + ".",
                        "调用模块会执行 `forward`（经由 `__call__`，它还会运行钩子）。`Sequential` 按顺序把输入依次传过各个"
                        "子模块：" + " → ".join(code(c) for c in chain) + "。"))
    else:
        parts.append(tr(locale, "Calling the module runs its `forward` (through `__call__`, which also runs hooks).",
                        "调用模块会执行它的 `forward`（经由 `__call__`，它还会运行钩子）。"))
    if "error" in record:
        parts.append(tr(locale, f"Input shapes: {inputs}. The forward pass raised `{record['error']}`.",
                        f"输入形状：{inputs}。前向计算抛出了 `{record['error']}`。"))
        return join(*parts), {"inputs": [i.get("shape") for i in record["inputs"]], "error": record["error"]}
    output = record.get("output", {})
    parts.append(tr(locale, f"Input {inputs} → output {shape(output.get('shape'))}.",
                    f"输入 {inputs} → 输出 {shape(output.get('shape'))}。"))
    if output.get("text"):
        parts.append(value_block(locale, output["text"]))
    if record.get("after"):
        after = record["after"]
        lazy = {p["name"] for p in module.get("parameters", []) if p.get("lazy")}
        shapes = ", ".join([f"`{p['name']}` {shape(p['shape'])}" for p in after.get("parameters", [])
                            if p["name"] in lazy][:6])
        became = after["class"] != module.get("class")
        parts.append(tr(locale, f"This first call initialised the lazy parameters from the input: {shapes}; the "
                                + (f"module is now a plain `{after['class']}`" if became else "module now has")
                                + f" ({count(after['param_count'])} parameters).",
                        f"这第一次调用根据输入初始化了惰性参数：{shapes}；该模块现在"
                        + (f"是普通的 `{after['class']}`" if became else "共有")
                        + f"（{count(after['param_count'])} 个参数）。"))
    if output.get("grad_fn"):
        parts.append(tr(locale, f"The output carries `grad_fn={output['grad_fn']}`: autograd recorded how it was "
                                "computed, so a loss built from it can call `backward()` to fill every parameter's "
                                "`.grad`.",
                        f"输出带有 `grad_fn={output['grad_fn']}`：autograd 记录了它的计算过程，因此由它构造的损失可以调用 "
                        "`backward()` 来填充每个参数的 `.grad`。"))
        if not ctx.observations.backwards and ctx.observations.executed:
            parts.append(tr(locale, "This program never calls `backward()`, so every `.grad` stays `None`.",
                            "这个程序从未调用 `backward()`，所以每个 `.grad` 都保持为 `None`。"))
    parts.append(calls_note(locale, ctx.count(finding), len(records)))
    return join(*parts), {"inputs": [i.get("shape") for i in record["inputs"]], "output_shape": output.get("shape"),
                          "output_values": output.get("values")}


def explain_print_module(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    records = _modules(ctx.records(finding))
    if not records:
        return None
    locale = ctx.locale
    module = records[0]
    names = [p["name"] for p in module.get("parameters", [])]
    example = code(names[0]) if names else ""
    parts = [heading(tr(locale, f"{site_code(finding)}: the module tree of {module['class']}",
                        f"{site_code(finding)}：{module['class']} 的模块树")),
             tr(locale, "Each `(name): Layer(...)` line is a registered child module, indented under its parent. "
                        "Parameter names are these names joined with dots, ending in the parameter's own name"
                        + (f", e.g. {example}" if example else "") + ".",
                "每一行 `(名字): 层(...)` 都是一个已注册的子模块，缩进表示父子关系。参数名就是这些名字用点连接起来，"
                "最后加上参数自己的名字" + (f"，例如 {example}" if example else "") + "。"),
             param_count_text(locale, module["param_count"], module["param_count_with_duplicates"]) + "."]
    if names:
        shown = ", ".join(code(n) for n in names[:6]) + (" …" if len(names) > 6 else "")
        parts.append(tr(locale, f"Parameter names ({len(names)}): {shown}", f"参数名（共 {len(names)} 个）：{shown}"))
    facts = module_facts(module)
    status = ctx.statement_status(finding.span.line)
    if status and status.get("output"):
        # the tree is the statement's output (a notebook shows it under the cell): the hover shows its start
        parts.append(tr(locale, "**Printed:**", "**打印输出：**") + "\n" + value_block(locale, status["output"], 10))
        facts["output"] = status["output"]
    return join(*parts), facts


def explain_shared_module(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    name = finding.facts["name"]
    positions = finding.facts["positions"]
    container = ctx.by_node.get(id(finding.facts.get("container_node")))
    where = ", ".join(str(p) for p in positions)
    container_records = _modules(ctx.records(container)) if container else []
    # the container's variable; None when no top-level variable held it (built and returned by a function)
    owner = next((o["path"] for r in container_records for o in r.get("owner", [])), None) or \
        next((m["name"] for m in ctx.observations.modules if m["line"] == finding.span.line or
              (container and m["line"] == container.span.line)), None)
    title = heading(tr(locale, f"`{name}` is placed at positions {where}: one layer, shared",
                       f"`{name}` 出现在位置 {where}：同一个层，被共享"))
    example = f"`{owner}[{positions[0]}].weight.data[0, 0] = 100`" if owner else ""
    general = tr(locale,
                 "Every position holds the *same* object, not a copy: its parameters exist once. A change made "
                 f"through one position{f' ({example})' if example else ''} is seen through all of them.",
                 "每个位置放的都是*同一个*对象，而不是副本：它的参数只存在一份。通过一个位置做的修改"
                 f"{f'（{example}）' if example else ''}在所有位置都能看到。")
    paths = {f"{owner}.{position}.{name}" for position in positions for name in ("weight", "bias")} if owner else set()
    observed_gradient = shared_gradient_text(ctx, paths) if paths else None
    if observed_gradient is not None:
        gradient = observed_gradient[0]
    elif ctx.observations.backwards:
        gradient = tr(locale, "In a backward pass each position sends its own gradient, and autograd adds them into "
                              "the one `.grad` (no `backward()` of this program was observed going through this "
                              "container).",
                      "在反向传播中，每个位置各送来一份梯度，autograd 把它们累加到同一个 `.grad` 中（本程序中没有观测到经过这个"
                      "容器的 `backward()`）。")
    else:
        gradient = tr(locale, "In a backward pass each position sends its own gradient, and autograd adds them into "
                              "the one `.grad` (no `backward()` ran in this program, so this was not observed here).",
                      "在反向传播中，每个位置各送来一份梯度，autograd 把它们累加到同一个 `.grad` 中（本程序没有执行 "
                      "`backward()`，因此这里没有观测到）。")
    records = container_records
    if not records:
        return join(title, general, gradient, not_run_note(finding, ctx)), {"positions": positions}
    module = records[0]
    tied = module.get("tied", [])
    keys = [k for k in module.get("state_dict_keys", []) if k.split(".")[0] in {str(p) for p in positions}]
    parts = [title, general, gradient,
             tr(locale, f"Observed: `parameters()` counts {count(module['param_count'])} values; counting every "
                        f"position would give {count(module['param_count_with_duplicates'])}. `state_dict()` still "
                        f"lists every name: " + ", ".join(code(k) for k in keys) + ".",
                f"观测结果：`parameters()` 计数为 {count(module['param_count'])} 个值；若每个位置都计数则为 "
                f"{count(module['param_count_with_duplicates'])} 个。`state_dict()` 仍列出每个名字："
                + "、".join(code(k) for k in keys) + "。")]
    if tied:
        parts.append(tr(locale, "Tied names: ", "绑定的参数名：") +
                     "; ".join(" = ".join(code(n) for n in group) for group in tied))
    facts = {"positions": positions, "tied": tied, "param_count": module["param_count"],
             "param_count_with_duplicates": module["param_count_with_duplicates"], "state_dict_keys": keys}
    if observed_gradient is not None:
        facts["gradient"] = observed_gradient[1]
    return join(*parts), facts


def explain_module_class(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    """An nn.Module subclass of this file: what its instances built during the run contain — or, when the file
    never builds one, the example ParamLens built from defaults (or why it could not)."""
    from paramlens.analyzers.instrument import example_probe

    locale = ctx.locale
    name = finding.facts["name"]
    instances = [r for f in ctx.findings if f.pattern == "module" and f.facts.get("class") == name
                 for r in _modules(ctx.records(f))]
    example_unit = next((u for u in ctx.units if u.example is not None and u.example.class_name == name), None)
    examples = _modules(ctx.observations.records(example_probe(example_unit.index))) if example_unit else []
    title = heading(f"class {name}({finding.facts.get('bases') or 'nn.Module'})")
    built = sum(ctx.count(f) for f in ctx.findings if f.pattern == "module" and f.facts.get("class") == name)
    general = tr(locale, "Parameters and submodules assigned to `self` in `__init__` are registered automatically; "
                         "`forward` says how they are used.",
                 "在 `__init__` 中赋值给 `self` 的参数和子模块会被自动注册；`forward` 决定如何使用它们。")
    facts: dict[str, Any] = {"name": name, "instances": [{"param_count": r["param_count"]} for r in instances]}
    if examples and example_unit is not None:
        expression = example_unit.example.expression
        first = examples[0]
        how = tr(locale, "as you asked with `# paramlens: example`", "按照 `# paramlens: example` 的要求") \
            if example_unit.example.directive else \
            tr(locale, "from defaults, because the file never creates one", "使用默认参数，因为文件本身从未创建它") \
            if example_unit.example.expression.startswith(f"{name}(") else \
            tr(locale, "through a factory function of the file that needs no arguments, because the file never "
                       "creates one", "通过文件中无需参数的工厂函数，因为文件本身从未创建它")
        facts["example"] = {"expression": expression, **module_facts(first)}
        note = tr(locale, f"Built as an example, {how}: `{expression}`" +
                  (" — on the meta device: shapes and counts are exact, values are not available." if
                   ctx.observations.device == "meta" else "."),
                  f"作为示例构建（{how}）：`{expression}`" +
                  ("——在 meta 设备上：形状和数量准确，但没有具体数值。" if ctx.observations.device == "meta" else "。"))
        return join(title, note, describe_module(locale, first), general), facts
    if not instances:
        unit_error = None
        if example_unit is not None:
            status = ctx.observations.statements.get(example_unit.index) or {}
            unit_error = (status.get("error") or {}).get("message")
        inside = ctx.observations.instantiated is not None and name in ctx.observations.instantiated
        if inside:
            reason = tr(locale, f"`{name}` was built during the run inside another model (through a call ParamLens "
                                "does not watch, e.g. a class passed as an argument); its parameters appear under "
                                "that model's names.",
                        f"`{name}` 在运行期间作为另一个模型的一部分被构建（通过 ParamLens 不跟踪的调用，例如作为参数传入的类）；"
                        "它的参数出现在那个模型的参数名之下。")
        elif unit_error:
            reason = tr(locale, f"_Building `{example_unit.example.expression}` as an example raised: {unit_error}_",
                        f"_尝试构建示例 `{example_unit.example.expression}` 时抛出异常：{unit_error}_")
        else:
            reason = tr(locale, f"_No instance was built: `{name}` needs arguments ParamLens cannot guess. Add a comment "
                                f"such as `# paramlens: example {name}(...)` with arguments that work._",
                        f"_没有构建任何实例：`{name}` 需要 ParamLens 无法猜测的参数。请添加注释，例如 "
                        f"`# paramlens: example {name}(...)`，并填入可用的参数。_")
        return join(title, general, reason), facts
    first = instances[0]
    built = max(built, len(instances))
    parts = [title, tr(locale, f"{built} instance(s) built during the run. The first:",
                       f"运行期间构建了 {built} 个实例。第一个："), describe_module(locale, first), general]
    facts["built"] = built
    return join(*parts), facts

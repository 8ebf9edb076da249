"""Modules: construction (`nn.Linear(4, 8)`, `nn.Sequential(...)`), functions that build blocks, forward calls,
`print(module)`, and one layer placed at several positions (shared parameters)."""

from __future__ import annotations

import math
from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import (clauses, code, count, join, names_list, num, series, shape, shape_product, table,
                                   value_block)
from paramlens.messages import t
from paramlens.explain.places import place_heading
from paramlens.explain.patterns.gradients import shared_gradient_text
from paramlens.explain.fmt import plural
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
    rows = [[code(p["name"]), shape(p["shape"], locale), "—" if p.get("lazy") else f"{shape_product(p['shape'])} = {count(p['numel'])}"
             if p["shape"] and len(p["shape"]) > 1 else count(p["numel"]),
             "✓" if p["requires_grad"] else "✗"] for p in params[:limit]]
    header = t(locale, "parameter|shape|count|requires_grad").split("|")
    text = table(header, rows)
    hidden = module.get("parameters_total", len(params)) - min(limit, len(params))
    if hidden > 0:
        text += "\n\n" + t(locale, "… and {hidden} more.", hidden=hidden)
    return text


def lazy_parameters(module: dict[str, Any]) -> list[dict[str, Any]]:
    """The module's parameters that are still `UninitializedParameter`s (of lazy layers): torch has no shape and no
    values for them yet, so a count of 0 would be false."""
    return [p for p in module.get("parameters", []) if p.get("lazy")]


def children_table(locale: str, module: dict[str, Any], limit: int = 16) -> str:
    rows = []
    lazy_children = {p["name"].split(".", 1)[0] for p in lazy_parameters(module) if "." in p["name"]}
    for child in module.get("children", [])[:limit]:
        # a container's repr says nothing about its contents: `Sequential()` would read as an empty one
        if not child["extra"] and child.get("submodules"):
            layer = module_title(locale, {"class": child["class"], "extra": "", "children": [None] * child["submodules"]})
        else:
            layer = code(f"{child['class']}({child['extra']})")
        params = count(child["param_count"])
        if child["name"] in lazy_children:
            params = t(locale, "uninitialised (lazy)")
        if child.get("same_as") is not None:
            params = t(locale, "same object as `{same_as}`", same_as=child['same_as'])
        rows.append([code(child["name"]), layer, params])
    header = t(locale, "child|layer|parameters").split("|")
    text = table(header, rows)
    hidden = len(module.get("children", [])) - limit
    if hidden > 0:
        text += "\n\n" + t(locale, "… and {hidden} more children.", hidden=hidden)
    return text


def _linear_note(locale: str, module: dict[str, Any]) -> str:
    weight = next((p for p in module.get("parameters", []) if p["name"] == "weight"), None)
    if module.get("class") != "Linear" or not weight or not weight["shape"]:
        return ""
    out_features, in_features = weight["shape"]
    return t(locale, "`weight` is stored as [out_features, in_features] = [{out_features}, {in_features}]: row *i* holds "
             "the {in_features} weights of output unit *i*, and the layer computes `x @ weight.T + bias`.", out_features=out_features, in_features=in_features)


def _default_init_note(locale: str, module: dict[str, Any]) -> str:
    weight = next((p for p in module.get("parameters", []) if p["name"] == "weight"), None)
    if module.get("class") not in DEFAULT_INIT_CLASSES or not weight or not weight["shape"] or len(weight["shape"]) < 2:
        return ""
    fan_in = math.prod(weight["shape"][1:])
    if module.get("class", "").startswith("ConvTranspose"):
        return ""
    bound = 1 / math.sqrt(fan_in)
    return t(locale, "Until you initialise them yourself, PyTorch has drawn them at random: `weight` with "
             "`kaiming_uniform_(a=√5)` and `bias` uniformly, both within ±1/√fan_in = ±1/√{fan_in} = ±{bound}.", fan_in=fan_in, bound=num(bound))


def _tied_note(locale: str, module: dict[str, Any]) -> str:
    tied = module.get("tied") or []
    if not tied:
        return ""
    groups = clauses(locale, (" = ".join(code(name) for name in group) for group in tied))
    lazy = {p["name"] for p in lazy_parameters(module)}
    if any(name in lazy for group in tied for name in group):
        return t(locale, "**Shared parameters:** {groups}. They are shared already, before the first forward pass gives "
                 "them a shape: `parameters()` yields each shared tensor once, while `state_dict()` lists it under "
                 "every name.", groups=groups)
    return t(locale, "**Shared parameters:** {groups}. `parameters()` yields each shared tensor once ({param_count} "
             "values), while `state_dict()` lists it under every name ({param_count_with_duplicates} values if "
             "you add them up).", groups=groups, param_count=count(module['param_count']), param_count_with_duplicates=count(module['param_count_with_duplicates']))


CONTAINERS = {"Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"}


def own_parameters(module: dict[str, Any]) -> list[dict[str, Any]]:
    """The module's own parameters (`cls_token`, `pos_embed`, LoRA's `lora_A`), not its children's."""
    return [p for p in module.get("parameters", []) if "." not in p["name"]]


def _count_sentence(locale: str, module: dict[str, Any]) -> str:
    """How many parameters, true for lazy layers too: an `UninitializedParameter` has no size, so it is counted
    apart instead of as 0."""
    counted = param_count_text(locale, module["param_count"], module["param_count_with_duplicates"])
    lazy = len(lazy_parameters(module))
    if not lazy:
        return counted + "."
    if not module.get("children"):
        return t(locale, "No shape yet: its {n} parameters are `UninitializedParameter`s until the first forward pass "
                 "decides their shapes from the input.", n=lazy)
    if module["param_count"] == 0:
        return t(locale, "No parameter has a shape yet: the {n} parameters of its lazy layers are "
                 "`UninitializedParameter`s until the first forward pass decides their shapes from the input.", n=lazy)
    return t(locale, "{counted} so far, plus the {n} parameters of its lazy layers, `UninitializedParameter`s until the "
             "first forward pass decides their shapes from the input.", counted=counted, n=lazy)


def describe_module(locale: str, module: dict[str, Any]) -> str:
    parts = [_count_sentence(locale, module)]
    own = own_parameters(module)
    if module.get("children"):
        if own:
            parts.append(t(locale, "Its own parameters, besides its children's:"))
            parts.append(parameters_table(locale, {**module, "parameters": own, "parameters_total": len(own)}))
        parts.append(children_table(locale, module))
    elif module.get("parameters"):
        parts.append(parameters_table(locale, module))
        parts.append(_linear_note(locale, module))
        parts.append(_default_init_note(locale, module))
    elif module.get("class") in CONTAINERS:
        parts[0] = t(locale, "This `{cls}` is empty when it is created: no layers and no parameters yet. What is added "
                     "to it later (`add_module`, `append`, item assignment) is what it will hold.", cls=module['class'])
    else:
        parts[0] = t(locale, "`{cls}` has no parameters and no submodules: nothing in it is trained.", cls=module['class'])
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
    if len(children) == 1:
        return t(locale, "{cls} with 1 child", cls=code(module["class"]))
    return t(locale, "{cls} with {n} children", cls=code(module["class"]), n=len(children))


def explain_module(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    records = _modules(ctx.records(finding))
    title = heading(t(locale, "{cls}: a module", cls=finding.facts['class']))
    if not records:
        return join(title, site_code(finding), not_run_note(finding, ctx)), {"class": finding.facts["class"]}
    module = records[0]
    title = heading(f"{site_code(finding)} → {module_title(locale, module)}")
    calls = ctx.count(finding)
    repeat = ""
    if finding.function and calls > 1:
        repeat = t(locale, "Built {times} during the run (once per call of `{function}`); every call creates new, "
                           "independent parameters. The first one:", times=times(locale, calls),
                   function=finding.function)
    facts = module_facts(module)
    facts["calls"] = calls
    return join(title, repeat, describe_module(locale, module)), facts


def explain_builder_call(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    records = _modules(ctx.records(finding))
    if not records:
        return None
    module = records[0]
    locale = ctx.locale
    title = heading(t(locale, "{site} returned {cls}", site=site_code(finding), cls=code(module['class'])))
    return join(title, describe_module(locale, module)), module_facts(module)


def _grouped(findings: list[Finding], key: Any) -> dict[Any, list[Finding]]:
    groups: dict[Any, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(key(finding), []).append(finding)
    return groups


def explain_function_def(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    name = finding.facts["name"]
    parts: list[str] = []
    facts: dict[str, Any] = {"function": name}
    returns = ctx.memo("builder_return by function", lambda: _grouped(ctx.of_pattern("builder_return"),
                                                                      lambda f: f.function)).get(name, [])
    built = [r for f in returns for r in _modules(ctx.records(f))]
    if built:
        calls = sum(ctx.count(f) for f in returns)
        first = built[0]
        parts.append(heading(t(locale, "{name}() builds a {cls}", name=name, cls=first['class'])))
        parts.append(t(locale, "Called {times} during the run; each call returned a new `{cls}` with {count} parameters "
                               "of its own (calling a builder twice never shares parameters; reuse one object to "
                               "share).", times=times(locale, calls), cls=first["class"],
                       count=count(first["param_count"])))
        parts.append(describe_module(locale, first))
        facts.update({"calls": calls, "returns": module_facts(first)})
    uses = ctx.memo("apply by fn", lambda: _grouped(ctx.of_pattern("apply"), lambda f: f.facts.get("fn"))).get(name, [])
    for use in uses:
        for record in ctx.records(use):
            if record.get("kind") != "apply":
                continue
            visited = len(record["visits"])
            changed = [v for v in record["visits"] if v["changed"]]
            if changed:
                parts.append(t(locale, "{place}: {call} called `{name}` on {modules}; {n_changed} of those calls "
                                       "changed a parameter or buffer: {which}.", place=place_heading(locale, use.span.line),
                               call=code(use.facts["text"]), name=name, modules=modules_text(locale, visited),
                               n_changed=len(changed),
                               which=names_list(locale, [code(_visit_name(record, v)) for v in changed])))
            else:
                parts.append(t(locale, "{place}: {call} called `{name}` on {modules}; none of those calls changed a "
                                       "parameter or buffer.", place=place_heading(locale, use.span.line), call=code(use.facts["text"]),
                               name=name, modules=modules_text(locale, visited)))
            facts.setdefault("applied", []).append({"line": use.span.line, "visited": visited,
                                                    "changed": len(changed)})
    if not parts:
        return None
    if not built:
        params = finding.facts.get("params") or []
        argument = params[1] if params[:1] == ["self"] and len(params) > 1 else (params[0] if params else "module")
        parts.insert(0, heading(t(locale, "{name}({argument}): an init function", name=name, argument=argument)))
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
    title = heading(t(locale, "{site}: forward pass of {cls}", site=site_code(finding), cls=module['class']))
    parts = [title]
    chain = [f"{c['class']}" + (f"({c['extra']})" if c["extra"] else "") for c in module.get("children", [])]
    if module.get("class") == "Sequential" and chain:
        parts.append(t(locale, "Calling the module runs `forward` (through `__call__`, which also runs hooks). A "
                               "`Sequential` feeds the input through its children in order: {chain}.",
                       chain=" → ".join(code(c) for c in chain)))
    else:
        parts.append(t(locale, "Calling the module runs its `forward` (through `__call__`, which also runs hooks)."))
    if "error" in record:
        parts.append(t(locale, "Input shapes: {inputs}. The forward pass raised `{error}`.", inputs=inputs, error=record['error']))
        return join(*parts), {"inputs": [i.get("shape") for i in record["inputs"]], "error": record["error"]}
    output = record.get("output", {})
    parts.append(t(locale, "Input {inputs} → output {shape}.", inputs=inputs, shape=shape(output.get('shape'))))
    if output.get("text"):
        parts.append(value_block(locale, output["text"]))
    if record.get("after"):
        after = record["after"]
        lazy = {p["name"] for p in module.get("parameters", []) if p.get("lazy")}
        shapes = names_list(locale, [f"`{p['name']}` {shape(p['shape'], locale)}" for p in after.get("parameters", [])
                            if p["name"] in lazy][:6])
        became = after["class"] != module.get("class")
        if became:
            parts.append(t(locale, "This first call initialised the lazy parameters from the input: {shapes}; the module "
                                   "is now a plain `{cls}` ({count} parameters).", shapes=shapes, cls=after["class"],
                           count=count(after["param_count"])))
        else:
            parts.append(t(locale, "This first call initialised the lazy parameters from the input: {shapes}; the module "
                                   "now has {count} parameters.", shapes=shapes, count=count(after["param_count"])))
    parts.append(_buffers_text(locale, record))
    reach = record.get("autograd") or {}
    unreached = reach.get("unreached_count") or 0
    if reach.get("grad_enabled") is False:
        parts.append(t(locale, "Autograd was off during this call (`torch.no_grad()`, `torch.inference_mode()` or "
                               "`torch.set_grad_enabled(False)`): no graph was recorded, so no gradient can flow from "
                               "this output back to the parameters."))
    elif reach.get("trainable") and unreached == reach["trainable"]:
        parts.append(t(locale, "The output is outside autograd: none of the {n} trainable parameters of `{cls}` is in its "
                               "graph, so `backward()` from it cannot reach them (PL109).", n=reach["trainable"],
                       cls=module.get("class")))
    elif output.get("grad_fn"):
        if unreached:
            names = series(locale, (code(name) for name in reach.get("unreached", [])[:6])) + \
                (" …" if unreached > 6 else "")
            parts.append(t(locale, "The output carries `grad_fn={grad_fn}`: autograd recorded how it was computed. "
                                   "{k} of the {n} trainable parameters are not in that graph ({names}): this forward "
                                   "does not use them, or reads them outside autograd, so a loss built on this output "
                                   "gives them no gradient.", grad_fn=output["grad_fn"], k=unreached,
                           n=reach["trainable"], names=names))
        else:
            parts.append(t(locale, "The output carries `grad_fn={grad_fn}`: autograd recorded how it was computed, so a "
                                   "loss built from it can call `backward()` to fill every parameter's `.grad`.",
                           grad_fn=output['grad_fn']))
        if not ctx.observations.backwards and ctx.observations.executed:
            parts.append(t(locale, "This program never calls `backward()`, so every `.grad` stays `None`."))
    parts.append(calls_note(locale, ctx.count(finding), len(records)))
    return join(*parts), {"inputs": [i.get("shape") for i in record["inputs"]], "output_shape": output.get("shape"),
                          "output_values": output.get("values")}


def _buffers_text(locale: str, record: dict[str, Any]) -> str:
    """Buffers the forward changed (BatchNorm's running statistics in training mode), from values compared before
    and after the call."""
    changed = record.get("buffers_changed") or []
    if not changed:
        return ""
    listed = names_list(locale, [code(c["name"]) + (f" {num(c['before'])} → {num(c['after'])}" if "before" in c else "")
                                 for c in changed[:6]]) + (" …" if len(changed) > 6 else "")
    text = t(locale, "This call changed {buffers}, state the module keeps but does not train: {listed}.",
             buffers=plural(locale, len(changed), "{n} buffer", "{n} buffers"), listed=listed)
    if record.get("training"):
        text += " " + t(locale, "The module was in training mode (the default until `.eval()`).")
    return text


def explain_print_module(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    records = _modules(ctx.records(finding))
    if not records:
        return None
    locale = ctx.locale
    module = records[0]
    names = [p["name"] for p in module.get("parameters", [])]
    example = code(names[0]) if names else ""
    parts = [heading(t(locale, "{site}: the module tree of {cls}", site=site_code(finding), cls=module['class'])),
             t(locale, "Each `(name): Layer(...)` line is a registered child module, indented under its parent. "
                       "Parameter names are these names joined with dots, ending in the parameter's own name{example}.",
               example=t(locale, ", e.g. {name}", name=example) if example else ""),
             param_count_text(locale, module["param_count"], module["param_count_with_duplicates"]) + "."]
    if names:
        shown = series(locale, (code(n) for n in names[:6])) + (" …" if len(names) > 6 else "")
        parts.append(t(locale, "Parameter names ({n_names}): {shown}", n_names=len(names), shown=shown))
    facts = module_facts(module)
    status = ctx.statement_status(finding.span.line)
    if status and status.get("output"):
        # the tree is the statement's output (a notebook shows it under the cell): the hover shows its start
        parts.append(t(locale, "**Printed:**") + "\n" + value_block(locale, status["output"], 10))
        facts["output"] = status["output"]
    return join(*parts), facts


def explain_shared_module(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    name = finding.facts["name"]
    positions = finding.facts["positions"]
    container = ctx.by_node.get(id(finding.facts.get("container_node")))
    where = names_list(locale, [str(p) for p in positions])
    container_records = _modules(ctx.records(container)) if container else []
    # the container's variable; None when no top-level variable held it (built and returned by a function)
    owner = next((o["path"] for r in container_records for o in r.get("owner", [])), None) or \
        next((m["name"] for m in ctx.observations.modules if m["line"] == finding.span.line or
              (container and m["line"] == container.span.line)), None)
    title = heading(t(locale, "`{name}` is placed at positions {where}: one layer, shared", name=name, where=where))
    example = f"`{owner}[{positions[0]}].weight.data[0, 0] = 100`" if owner else ""
    general = t(locale, "Every position holds the *same* object, not a copy: its parameters exist once. A change made "
                        "through one position{example} is seen through all of them.",
                example=t(locale, " ({code})", code=example) if example else "")
    paths = {f"{owner}.{position}.{name}" for position in positions for name in ("weight", "bias")} if owner else set()
    observed_gradient = shared_gradient_text(ctx, paths) if paths else None
    if observed_gradient is not None:
        gradient = observed_gradient[0]
    elif ctx.observations.backwards:
        gradient = t(locale, "In a backward pass each position sends its own gradient, and autograd adds them into the "
                     "one `.grad` (no `backward()` of this program was observed going through this container).")
    else:
        gradient = t(locale, "In a backward pass each position sends its own gradient, and autograd adds them into the "
                     "one `.grad` (no `backward()` ran in this program, so this was not observed here).")
    records = container_records
    if not records:
        return join(title, general, gradient, not_run_note(finding, ctx)), {"positions": positions}
    module = records[0]
    tied = module.get("tied", [])
    keys = [k for k in module.get("state_dict_keys", []) if k.split(".")[0] in {str(p) for p in positions}]
    parts = [title, general, gradient,
             t(locale, "Observed: `parameters()` counts {count} values; counting every position would give "
                       "{with_duplicates}. `state_dict()` still lists every name: {keys}.",
               count=count(module["param_count"]), with_duplicates=count(module["param_count_with_duplicates"]),
               keys=names_list(locale, [code(k) for k in keys]))]
    if tied:
        parts.append(t(locale, "Tied names: {groups}", groups=t(locale, "; ").join(" = ".join(code(n) for n in group)
                                                                                   for group in tied)))
    facts = {"positions": positions, "tied": tied, "param_count": module["param_count"],
             "param_count_with_duplicates": module["param_count_with_duplicates"], "state_dict_keys": keys}
    if observed_gradient is not None:
        facts["gradient"] = observed_gradient[1]
    return join(*parts), facts


def example_of(name: str, ctx: ExplainContext) -> tuple[Any, dict[str, Any], list[dict[str, Any]]] | None:
    """The example unit that built class `name` (by what the built object is), its decision and its records."""
    from paramlens.analyzers.instrument import example_probe

    for unit in ctx.units:
        if unit.example is None:
            continue
        records = _modules(ctx.observations.records(example_probe(unit.index)))
        if records and records[0].get("class") == name:
            decision = ctx.observations.examples.get(unit.index) or {}
            return unit, decision, records
    return None


def example_decision(name: str, ctx: ExplainContext) -> tuple[Any, dict[str, Any]] | None:
    """The class example unit of `name` and what it decided (building, or skipped with a reason)."""
    for unit in ctx.units:
        if unit.example is not None and unit.example.kind == "class" and unit.example.class_name == name:
            return unit, ctx.observations.examples.get(unit.index) or {}
    return None


def how_built(locale: str, decision: dict[str, Any], unit: Any) -> str:
    how = decision.get("how") or ("comment" if unit.example.directive else "defaults")
    if how == "comment":
        return t(locale, "as you asked with `# paramlens: example`")
    if how == "editor":
        return t(locale, "as you chose in the editor")
    if how == "factory":
        return t(locale, "through a factory function of the file that needs no arguments, because the file never "
                         "creates one")
    if how.startswith("config:"):
        return t(locale, "with its config class built from its defaults, because the file never creates one")
    return t(locale, "from defaults, because the file never creates one")


def explain_module_class(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    """An nn.Module subclass of this file: what its instances built during the run contain — or, when the file
    never builds one, the example ParamLens built from defaults (or why it could not)."""
    locale = ctx.locale
    name = finding.facts["name"]
    if not finding.facts.get("static", True) and (ctx.observations.module_classes is None or
                                                  name not in ctx.observations.module_classes):
        return None  # the run did not show it to be a module class (or nothing ran)
    instances = [r for f in ctx.findings if f.pattern == "module" and f.facts.get("class") == name
                 for r in _modules(ctx.records(f))]
    built_example = example_of(name, ctx)
    title = heading(f"class {name}({finding.facts.get('bases') or 'nn.Module'})")
    built = sum(ctx.count(f) for f in ctx.findings if f.pattern == "module" and f.facts.get("class") == name)
    general = t(locale, "Parameters and submodules assigned to `self` in `__init__` are registered automatically; "
                "`forward` says how they are used.")
    facts: dict[str, Any] = {"name": name, "instances": [{"param_count": r["param_count"]} for r in instances]}
    if built_example is not None and not instances:
        unit, decision, examples = built_example
        expression = decision.get("expression") or unit.example.expression
        first = examples[0]
        how = how_built(locale, decision, unit)
        facts["example"] = {"expression": expression, **module_facts(first)}
        note = t(locale, "Built as an example, {how}: `{expression}` — on the meta device: shapes and counts are exact, "
                         "values are not available.", how=how, expression=expression) \
            if ctx.observations.device == "meta" else \
            t(locale, "Built as an example, {how}: `{expression}`.", how=how, expression=expression)
        return join(title, note, describe_module(locale, first), general), facts
    if not instances:
        unit_error, expression = None, None
        decided = example_decision(name, ctx)
        if decided is not None:
            unit, decision = decided
            status = ctx.observations.statements.get(unit.index) or {}
            unit_error = (status.get("error") or {}).get("message")
            expression = decision.get("expression")
        inside = ctx.observations.instantiated is not None and name in ctx.observations.instantiated
        if inside:
            reason = t(locale, "`{name}` was built during the run inside another model (through a call ParamLens does "
                       "not watch, e.g. a class passed as an argument); its parameters appear under that model's "
                       "names.", name=name)
        elif unit_error and expression:
            reason = t(locale, "_Building `{expression}` as an example raised: {unit_error}_", expression=expression,
                       unit_error=unit_error)
        else:
            reason = t(locale, "_No instance was built: `{name}` needs arguments ParamLens cannot guess. Add a comment "
                       "such as `# paramlens: example {name}(...)` with arguments that work._", name=name)
        return join(title, general, reason), facts
    first = instances[0]
    built = max(built, len(instances))
    parts = [title, t(locale, "{built} instance(s) built during the run. The first:", built=built), describe_module(locale, first), general]
    facts["built"] = built
    return join(*parts), facts

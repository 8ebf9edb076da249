"""Rules about parameter mistakes, each confirmed by what the run observed where the code alone cannot prove it.

| code  | name                | severity    |
|-------|---------------------|-------------|
| PL101 | constant-init       | warning     |
| PL102 | exact-type-check    | warning     |
| PL103 | data-write          | information |
| PL104 | grad-compared-none  | warning     |
| PL201 | shared-parameters   | information |
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import difflib
import re

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import clauses, code, names_list, shape
from paramlens.explain.patterns.common import modules_text
from paramlens.messages import message_id, t
from paramlens.explain.places import place
from paramlens.report import Diagnostic, Fix, Span


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: str
    summary: str  # English message id (see paramlens/messages): `t(locale, rule.summary)`


RULES = [
    Rule("PL000", "syntax-error", "error", message_id("the file does not parse")),
    Rule("PL001", "layer-size-mismatch", "error", message_id("consecutive layers whose feature sizes disagree")),
    Rule("PL002", "input-shape-mismatch", "error",
         message_id("a module called with an input whose shape does not fit")),
    Rule("PL003", "missing-state-dict-key", "error", message_id("a state_dict key that does not exist")),
    Rule("PL004", "child-index-out-of-range", "error",
         message_id("an index past the end of a Sequential / ModuleList")),
    Rule("PL005", "no-such-parameter", "error", message_id("a parameter attribute on a module that has none")),
    Rule("PL101", "constant-init", "warning",
         message_id("a weight matrix set to a constant whose units the run shows to be interchangeable")),
    Rule("PL102", "exact-type-check", "warning", message_id("`type(m) == nn.X` does not match subclasses of nn.X")),
    Rule("PL103", "data-write", "information", message_id("in-place write through `.data`, invisible to autograd")),
    Rule("PL104", "grad-compared-none", "warning", message_id("`p.grad == None` instead of `is None`")),
    Rule("PL105", "init-missing-parameter", "error",
         message_id("an init function touches a parameter a visited module lacks")),
    Rule("PL106", "fan-init-on-vector", "error",
         message_id("fan-based init (xavier/kaiming) on a tensor with fewer than 2 dims")),
    Rule("PL107", "apply-changed-nothing", "warning",
         message_id("an init function given to apply() changed no parameter or buffer")),
    Rule("PL108", "lazy-parameter-read", "warning",
         message_id("parameters of a lazy module read before its first forward")),
    Rule("PL109", "forward-outside-autograd", "warning",
         message_id("a forward whose output's autograd graph reaches none of the module's trainable parameters")),
    Rule("PL201", "shared-parameters", "information", message_id("parameters shared between several places")),
    Rule("PL900", "statement-raised", "error", message_id("a top-level statement raised when the file ran")),
    Rule("PL901", "execution-stopped", "error", message_id("the run stopped: time limit, memory limit or a crash")),
    Rule("PL902", "sandbox-refused", "information",
         message_id("the sandbox refused an operation (network, process, file, signal) or `input()` read end-of-file")),
    Rule("PL903", "import-failed", "information",
         message_id("an import failed in the interpreter that runs the code (not installed, or not inside its package)")),
    Rule("PL904", "example-failed", "information",
         message_id("a module class ParamLens built as an example (the file never creates one) failed with its defaults")),
    Rule("PL905", "loop-shortened", "information",
         message_id("the loop budget ended a long loop early; values observed after it are labelled")),
    Rule("PL920", "ipython-syntax", "information",
         message_id("notebook: an IPython magic, shell command or help request that ParamLens did not run")),
    Rule("PL921", "stored-output-differs", "information",
         message_id("notebook: a cell's stored output differs from a fresh Run All, with the likely reason")),
]

# rules that explain a statement's exception better than the generic PL900 (which is then not reported)
EXPLAINS_RUNTIME_ERRORS = {"PL002", "PL003", "PL004", "PL005", "PL105", "PL106", "PL108"}

# The pages ship inside the package (package data), so an installed wheel has them: `paramlens rule`, SARIF's
# help and the server's code-description links all read this one copy.
PAGES = resources.files("paramlens") / "rule_pages"


def rule_page_file(code: str) -> Path | None:
    """The rule's page as a file on disk (for links), or None when there is no page or the package is not on a
    file system (a zip import)."""
    page = PAGES / f"{code.upper()}.md"
    return page if isinstance(page, Path) and page.is_file() else None


def rule_page(code: str, locale: str) -> str | None:
    """The rule's page, in the requested language (each page has English, `---`, Chinese)."""
    page = PAGES / f"{code.upper()}.md"
    if not page.is_file():
        return None
    english, _, chinese = page.read_text(encoding="utf-8").partition("\n---\n")
    return (chinese if locale == "zh-CN" and chinese.strip() else english).strip()


def check_all(ctx: ExplainContext) -> list[Diagnostic]:
    diagnostics: list[Diagnostic] = []
    for rule in (layer_size_mismatch, input_shape_mismatch, missing_state_dict_key, child_index_out_of_range,
                 no_such_parameter, constant_init, exact_type_check, data_write, grad_compared_none,
                 init_missing_parameter, fan_init_on_vector, apply_changed_nothing, lazy_parameter_read,
                 forward_outside_autograd, shared_parameters):
        diagnostics.extend(rule(ctx))
    return diagnostics


def constant_init(ctx: ExplainContext) -> list[Diagnostic]:
    """PL101: a weight matrix set to one constant whose units the run shows to be interchangeable (equal incoming
    weights, equal biases, equal outgoing weights): they stay identical in training. A constant that does not make
    units symmetric (LoRA's zero `B`, a zero-initialised output layer, equal rows with different biases) is not
    reported: it is often deliberate, and the explanation says what it does instead."""
    from paramlens.explain.patterns.initialisation import layer_symmetry

    found = []
    for finding in ctx.of_pattern("init"):
        for record in ctx.records(finding):
            after = record.get("after") or {}
            dims = record.get("shape") or []
            if record.get("kind") != "init" or not after.get("all_equal") or len(dims) < 2:
                continue
            paths = [o["path"] for o in record.get("owner", []) if o.get("relation") == "same"]
            symmetric = [layer for layer in layer_symmetry(ctx, record, paths) if layer.get("symmetric")]
            if not symmetric:
                continue
            layer = symmetric[0]
            value = after.get("min")
            found.append(Diagnostic(finding.span, "PL101", "warning", t(ctx.locale, "`{layer}.weight` {dims} is set to the "
                                                                        "constant {value:g}, and its biases and "
                                                                        "the next layer's weights for its units "
                                                                        "are equal too: its {units} units "
                                                                        "compute the same output, get the same "
                                                                        "gradient and stay identical in training "
                                                                        "(observed in this run). Use a random "
                                                                        "initialiser such as "
                                                                        "`nn.init.xavier_uniform_` or "
                                                                        "`nn.init.kaiming_uniform_`.", layer=layer['layer'], dims=shape(dims), value=value, units=layer['units'])))
            break
    return found


def exact_type_check(ctx: ExplainContext) -> list[Diagnostic]:
    """PL102: `type(m) == nn.X` does not match subclasses of X. When the run visited modules that are X without
    being exactly X (MultiheadAttention's `out_proj` is a `NonDynamicallyQuantizableLinear`), the message names
    them; it never names an example that is not one."""
    found = []
    for finding in ctx.of_pattern("type_check"):
        replacement = finding.facts["replacement"]
        cls = finding.facts["class"]
        missed = _subclass_visits(ctx, finding.function, cls)
        observed = ""
        if missed:
            listed = names_list(ctx.locale, [t(ctx.locale, "`{path}` (`{kind}`)", path=path, kind=kind)
                                             for path, kind in missed[:3]])
            if len(missed) == 1:
                observed = t(ctx.locale, " In this run it skipped {listed}, which is a `{cls}` subclass.",
                             listed=listed, cls=cls)
            else:
                observed = t(ctx.locale, " In this run it skipped {n} modules that are `{cls}` subclasses: {listed}.",
                             n=len(missed), listed=listed, cls=cls)
        found.append(Diagnostic(finding.span, "PL102", "warning", t(
            ctx.locale, "`{text}` is an exact type test: it does not match subclasses of `{cls}`.{observed} Use "
                        "`{replacement}`.", text=finding.facts["text"], cls=cls, observed=observed,
            replacement=replacement),
            Fix(t(ctx.locale, "Use {replacement}", replacement=replacement), replacement, finding.span)))
    return found


def _subclass_visits(ctx: ExplainContext, function: str | None, cls: str) -> list[tuple[str, str]]:
    """Modules an `apply` of `function` visited whose class derives from `cls` without being it."""
    missed = []
    for use in ctx.of_pattern("apply"):
        if function is None or use.facts.get("fn") != function:
            continue
        for record in ctx.records(use):
            receiver = ((record.get("receiver") or {}).get("owner") or [{"path": ""}])[0]["path"]
            for visit in record.get("visits", []):
                if visit["class"] != cls and cls in visit.get("bases", []):
                    path = ".".join(part for part in (receiver, visit["paths"][0]) if part)
                    missed.append((path or visit["class"], visit["class"]))
    return missed


def data_write(ctx: ExplainContext) -> list[Diagnostic]:
    """PL103: in-place writes through `.data` bypass autograd. Informational: fine for initialisation."""
    found = []
    for finding in ctx.of_pattern("data_mutation"):
        if not finding.facts.get("through_data"):
            continue
        found.append(Diagnostic(finding.span, "PL103", "information", t(ctx.locale, "`{text}` writes into `{watched}` "
                                                                        "through `.data`, which autograd does "
                                                                        "not see. Harmless for initialisation; "
                                                                        "in training code use `with "
                                                                        "torch.no_grad():` on the parameter.", text=finding.facts['text'], watched=finding.facts['watched'])))
    return found


def grad_compared_none(ctx: ExplainContext) -> list[Diagnostic]:
    """PL104: `p.grad == None`: `is None` is the identity test PEP 8 asks for. With a tensor, `==` works only by
    Python's fallback (`Tensor.__eq__` returns NotImplemented for None), which the message says with the result the
    run observed."""
    found = []
    for finding in ctx.of_pattern("grad_none"):
        operator = finding.facts["operator"]
        if operator not in {"Equal", "NotEqual"}:
            continue
        replacement = f"{finding.facts['receiver']}.grad {'is' if operator == 'Equal' else 'is not'} None"
        results = [r["text"] for r in ctx.records(finding) if r.get("kind") == "scalar"]
        observed = t(ctx.locale, " Here it gave `{result}`, a plain bool, the same as `is` would.",
                     result=results[0]) if results else ""
        found.append(Diagnostic(finding.span, "PL104", "warning", t(
            ctx.locale, "Compare with `None` by identity: `{replacement}` (PEP 8).{observed} `==` only works on a "
                        "tensor because `Tensor.__eq__` returns NotImplemented for None and Python falls back to "
                        "identity; `is` says what is meant without relying on that.",
            replacement=replacement, observed=observed),
            Fix(t(ctx.locale, "Use {replacement}", replacement=replacement), replacement, finding.span)))
    return found


def forward_outside_autograd(ctx: ExplainContext) -> list[Diagnostic]:
    """PL109: a module called with autograd on whose output's graph reaches none of its trainable parameters (the
    probe walked the graph): a loss built on it gives them no gradient, so training never changes them. The usual
    cause, `self.weight.data` in `forward` (as in d2l's MyLinear), is named where the run saw such a read."""
    found = []
    for finding in ctx.of_pattern("forward"):
        record = next((r for r in ctx.records(finding) if r.get("kind") == "forward" and r.get("autograd")), None)
        reach = (record or {}).get("autograd") or {}
        if not reach.get("grad_enabled") or not reach.get("trainable") or \
                reach.get("unreached_count") != reach.get("trainable"):
            continue
        module = record["module"]
        found.append(Diagnostic(finding.span, "PL109", "warning", t(
            ctx.locale, "The output of `{call}` is outside autograd: none of the {n} trainable parameters of `{cls}` is "
                        "in its graph, so `backward()` from a loss built on it leaves their `.grad` at `None` and an "
                        "optimizer never changes them.{cause}", call=finding.facts.get("text"), n=reach["trainable"],
            cls=module.get("class"), cause=detached_reads_text(ctx, reach))))
    return found


def detached_reads_text(ctx: ExplainContext, reach: dict[str, Any]) -> str:
    """Where the run read one of the unreached parameters through `.data` (the parameter's storage without
    autograd), as evidence of why the graph misses it."""
    unreached = {path for path in reach.get("unreached_paths", []) if path}
    sites = []
    for finding in ctx.of_pattern("param_attr"):
        if not str(finding.facts.get("text", "")).endswith(".data"):
            continue
        for record in ctx.records(finding):
            if any(o.get("relation") == "data" and o.get("path") in unreached for o in record.get("owner") or []):
                sites.append(finding)
                break
    if not sites:
        return ""
    listed = names_list(ctx.locale, [t(ctx.locale, "`{text}` ({place})", text=f.facts["text"], place=place(ctx.locale, f.span.line))
                                      for f in sites[:3]])
    return t(ctx.locale, " The run read them through `.data`, which autograd does not see: {listed}; use the "
                         "parameter itself (`self.weight`, not `self.weight.data`).", listed=listed)


def shared_parameters(ctx: ExplainContext) -> list[Diagnostic]:
    """PL201: one layer object at several positions: its parameters are shared (counted once, gradients add)."""
    found = []
    for finding in ctx.of_pattern("module"):
        records = [r for r in ctx.records(finding) if r.get("kind") == "module" and r.get("tied")]
        if not records:
            continue
        tied = records[0]["tied"]
        groups = clauses(ctx.locale, (" = ".join(group) for group in tied))
        lazy = {p["name"] for p in records[0].get("parameters", []) if p.get("lazy")}
        if any(name in lazy for group in tied for name in group):
            found.append(Diagnostic(finding.span, "PL201", "information", t(
                ctx.locale, "Shared parameters: {groups}. They are shared before the first forward pass gives them a "
                            "shape (lazy layers): `parameters()` yields each shared tensor once, `state_dict()` lists it "
                            "under every name, and gradients from each position add up.", groups=groups)))
            continue
        found.append(Diagnostic(finding.span, "PL201", "information", t(ctx.locale, "Shared parameters: {groups}. "
                                                                        "`parameters()` counts them once "
                                                                        "({param_count:,} values) but "
                                                                        "`state_dict()` has every name "
                                                                        "({param_count_with_duplicates:,} "
                                                                        "values), and gradients from each "
                                                                        "position add up.", groups=groups, param_count=records[0]['param_count'], param_count_with_duplicates=records[0]['param_count_with_duplicates'])))
    return found


# -- rules that need what the run observed ------------------------------------------------------------------------

def _statement_error(ctx: ExplainContext, line: int) -> dict | None:
    status = ctx.statement_status(line)
    if status and status.get("status") == "error":
        return status["error"]
    return None


def _layer(child: dict) -> str:
    return f"{child['class']}({child['extra']})"


def layer_size_mismatch(ctx: ExplainContext) -> list[Diagnostic]:
    """PL001: in a Sequential, a layer whose input size differs from what the previous sized layer produces."""
    found = []
    for finding in ctx.of_pattern("module"):
        if finding.facts.get("class") != "Sequential":
            continue
        record = next((r for r in ctx.records(finding) if r.get("kind") == "module"), None)
        if record is None:
            continue
        previous: tuple[int, dict, dict] | None = None
        for position, child in enumerate(record.get("children", [])):
            io = child.get("io")
            if io is None:
                previous = None  # an unknown layer (Flatten, a custom block): sizes are not comparable across it
                continue
            if io.get("keeps"):
                continue
            if previous is not None and io.get("in") is not None:
                _, last, last_io = previous
                compatible = io["kind"] == "any" or last_io["kind"] == "any" or io["kind"] == last_io["kind"]
                if compatible and last_io["out"] != io["in"]:
                    span = finding.span
                    arguments = _argument_nodes(finding)
                    if arguments and position < len(arguments):
                        target = ctx.by_node.get(id(arguments[position]))
                        span = target.span if target is not None else span
                    message = message_id(
                        "`{layer}` at position {position} expects {expected} input channels, but `{previous}` at "
                        "position {previous_position} produces {produced}. The forward pass will fail; make them "
                        "agree (e.g. `{expected}` → `{produced}`).") if io["kind"] == "channels" else message_id(
                        "`{layer}` at position {position} expects {expected} input features, but `{previous}` at "
                        "position {previous_position} produces {produced}. The forward pass will fail; make them "
                        "agree (e.g. `{expected}` → `{produced}`).")
                    found.append(Diagnostic(span, "PL001", "error", t(
                        ctx.locale, message, layer=_layer(child), position=child["name"], expected=io["in"],
                        previous=_layer(last), previous_position=last["name"], produced=last_io["out"])))
            previous = (position, child, io) if io.get("out") is not None else None
    return found


def _argument_nodes(finding: Finding) -> list:
    node = finding.node
    args = getattr(node, "args", None)
    if not args or any(arg.star or arg.keyword is not None for arg in args):
        return []
    return [arg.value for arg in args]


def input_shape_mismatch(ctx: ExplainContext) -> list[Diagnostic]:
    """PL002: a forward call that failed because an input does not fit a layer, from what the run recorded: the
    innermost layer that was running when it raised, the shapes it received and the feature sizes it expects (never
    from the exception's words)."""
    found = []
    for finding in ctx.of_pattern("forward"):
        for record in ctx.records(finding):
            failed = record.get("failed_in") if record.get("kind") == "forward" and record.get("error") else None
            if not failed or not failed.get("inputs"):
                continue
            io = failed.get("io") or {}
            received = failed["inputs"][0]
            axis = -1 if io.get("kind") in {"features", "any", None} else 1
            got = received[axis] if len(received) >= (2 if axis == 1 else 1) else None
            layer = f"{failed['class']}({failed['extra']})"
            where = code(failed["path"]) if failed.get("path") else t(ctx.locale, "the module itself")
            if io.get("in") is not None and got is not None and got != io["in"]:
                text = message_id("Input of shape {received} does not fit: `{layer}` ({where}) expects {expected} "
                                  "features in the last dimension but receives {got}.") if axis == -1 else \
                    message_id("Input of shape {received} does not fit: `{layer}` ({where}) expects {expected} "
                               "channels in dimension 1 but receives {got}.")
                message = t(ctx.locale, text, received=shape(received), layer=layer, where=where, expected=io["in"],
                            got=got)
            else:
                message = t(ctx.locale, "`{layer}` ({where}) raised on an input of shape {received}: {error}",
                            layer=layer, where=where, received=shape(received), error=record["error"])
            found.append(Diagnostic(finding.span, "PL002", "error", message))
            break
    return found


def missing_state_dict_key(ctx: ExplainContext) -> list[Diagnostic]:
    """PL003: `state_dict()['key']` with a key that does not exist, with the nearest real keys."""
    found = []
    for finding in ctx.of_pattern("state_dict_key"):
        key = finding.facts.get("key")
        if key is None or ctx.records(finding):
            continue
        inner = ctx.first_at("state_dict", finding.span.line, finding.span.column)
        state = [r for r in ctx.records(inner) if r.get("kind") == "state_dict"] if inner else []
        if not state:
            continue
        keys = [entry["key"] for entry in state[0]["entries"]]
        if key in keys:
            continue
        near = difflib.get_close_matches(key, keys, n=3, cutoff=0.3)
        hint = ", ".join(f"`{k}`" for k in near) if near else ", ".join(f"`{k}`" for k in keys[:6])
        found.append(Diagnostic(finding.span, "PL003", "error", t(ctx.locale, "`{receiver}.state_dict()` has no key `{key}`; "
                                                                  "nearest: {hint}.", receiver=finding.facts['receiver'], key=key, hint=hint)))
    for finding in ctx.of_pattern("state_dict_lookup"):
        key = finding.facts["key"]
        state = [r for r in ctx.records(finding) if r.get("kind") == "state_dict"]
        if not state or key in (keys := [entry["key"] for entry in state[0]["entries"]]) or \
                len(keys) < state[0].get("count", len(keys)):
            continue  # not a state dict, the key exists, or too many keys were recorded to be sure
        near = difflib.get_close_matches(key, keys, n=3, cutoff=0.3)
        hint = names_list(ctx.locale, [f"`{k}`" for k in (near or keys[:6])])
        variable = finding.facts["variable"]
        if finding.facts["how"] == "get":
            found.append(Diagnostic(finding.span, "PL003", "warning", t(
                ctx.locale, "`{variable}` (a state dict) has no key `{key}`, so `.get` returns the default; "
                            "nearest: {hint}.", variable=variable, key=key, hint=hint)))
        else:
            found.append(Diagnostic(finding.span, "PL003", "error", t(
                ctx.locale, "`{variable}` (a state dict) has no key `{key}`; nearest: {hint}.", variable=variable,
                key=key, hint=hint)))
    return found


def child_index_out_of_range(ctx: ExplainContext) -> list[Diagnostic]:
    """PL004: `net[5]` on a container with fewer children, from the facts the child attached to the IndexError
    (the index, the container's length and class), never from the exception's words."""
    found: list[Diagnostic] = []
    # the statements that raised, in the units' order (a scan of every unit cost a long file ~2 ms an edit)
    raised = sorted(i for i, status in ctx.observations.statements.items() if status.get("status") == "error")
    units = {unit.index: unit for unit in ctx.units} if raised else {}
    for index in raised:
        unit = units.get(index)
        error = ctx.observations.statements[index].get("error") or {}
        facts = error.get("container_index")
        if unit is None or not facts:
            continue
        index, size, cls = facts["index"], facts["size"], facts["class"]
        line = error.get("line") or unit.line
        span, name = _subscript_site(ctx, line, index)
        subject = code(name) if name else t(ctx.locale, "This `{cls}`", cls=cls)
        valid = t(ctx.locale, "indices 0 to {last}, or -{size} to -1", last=size - 1, size=size) if size else \
            t(ctx.locale, "no valid index")
        found.append(Diagnostic(span, "PL004", "error", t(
            ctx.locale, "{subject} has {size} children ({valid}); index {index} does not exist.", subject=subject,
            size=size, valid=valid, index=index)))
    return found


def _subscript_site(ctx: ExplainContext, line: int, index: int) -> tuple[Span, str | None]:
    """Where `name[index]` is written on that line of the source, and the name; else the whole line."""
    from paramlens.explain.diagnostics import line_span

    text = ctx.source_lines[line - 1] if 0 < line <= len(ctx.source_lines) else ""
    for match in re.finditer(r"([A-Za-z_][\w.]*)\[\s*" + re.escape(str(index)) + r"\s*\]", text):
        return Span(line, match.start() + 1, line, match.end() + 1), match.group(1)
    return line_span(ctx.source_lines, line), None


def no_such_parameter(ctx: ExplainContext) -> list[Diagnostic]:
    """PL005: `net[1].weight` on a ReLU (a module without that parameter), from the AttributeError's own facts
    (the attribute's name and the class of the object that lacks it)."""
    found = []
    for finding in ctx.of_pattern("param_attr"):
        if finding.function is not None or ctx.records(finding):
            continue
        error = _statement_error(ctx, finding.span.line)
        missing = (error or {}).get("attribute")
        if not missing or not missing.get("module") or missing["name"] != finding.facts.get("attr"):
            continue
        cls, attr = missing["class"], missing["name"]
        receiver = finding.facts["text"].rsplit(".", 1)[0]
        found.append(Diagnostic(finding.span, "PL005", "error", t(ctx.locale, "`{receiver}` is a `{cls}`, which has no "
                                                                  "parameter `{attr}`. Index the layer that has "
                                                                  "it.", receiver=receiver, cls=cls, attr=attr)))
        break
    return found


def init_missing_parameter(ctx: ExplainContext) -> list[Diagnostic]:
    """PL105: an init function that touched a parameter a visited module registers as None (`bias=False`): the
    apply raised an AttributeError on None during that visit. Reported at the line inside the init function that
    raised, with the function's own parameter name in the suggested guard."""
    from paramlens.explain.diagnostics import line_span

    found = []
    for finding in ctx.of_pattern("apply"):
        for record in ctx.records(finding):
            if record.get("kind") != "apply" or not record.get("on_none") or not record.get("visits"):
                continue
            visit = record["visits"][-1]
            missing = visit.get("none") or []
            if not missing:
                continue
            fn = finding.facts.get("fn")
            argument = _first_argument(ctx, fn)
            guard = f"if {argument}.{missing[0]} is not None:"
            line = record.get("error_line")
            span = line_span(ctx.source_lines, line) if line else finding.span
            receiver = ((record.get("receiver") or {}).get("owner") or [{"path": ""}])[0]["path"]
            where = ".".join(part for part in (receiver, visit["paths"][0]) if part)
            found.append(Diagnostic(span, "PL105", "error", t(
                ctx.locale, "`{fn}` was given `{layer}` ({where}), whose `{name}` is None (registered as absent, e.g. "
                            "`bias=False`), and used it as a tensor: {error}. Guard it: `{guard}`.",
                fn=fn, layer=f"{visit['class']}({visit['extra']})",
                where=code(where) if where else t(ctx.locale, "the module itself"), name=missing[0],
                error=record.get("error"), guard=guard)))
    return found


def _first_argument(ctx: ExplainContext, function: str | None) -> str:
    """The name the init function gives the module it receives (`m`, `module`, `layer`)."""
    for definition in ctx.of_pattern("function_def"):
        if definition.facts.get("name") == function:
            params = definition.facts.get("params") or []
            if params[:1] == ["self"]:
                params = params[1:]
            if params:
                return params[0]
    return "m"


def fan_init_on_vector(ctx: ExplainContext) -> list[Diagnostic]:
    """PL106: xavier_*/kaiming_* on a tensor with fewer than two dimensions (typically a bias)."""
    found = []
    for finding in ctx.of_pattern("init"):
        name = finding.facts.get("init", "")
        if not ("xavier" in name or "kaiming" in name):
            continue
        for record in ctx.records(finding):
            dims = record.get("shape")
            if record.get("kind") != "init" or dims is None or len(dims) >= 2:
                continue
            owner = next((o["path"] for o in record.get("owner", [])), finding.facts.get("tensor") or "the tensor")
            found.append(Diagnostic(finding.span, "PL106", "error", t(ctx.locale, "`nn.init.{name}` needs fan-in and "
                                                                      "fan-out, which a tensor with {n_dims} "
                                                                      "dimension(s) does not have: `{owner}` is "
                                                                      "{dims}. Initialise biases with "
                                                                      "`nn.init.zeros_` or a small uniform range.", name=name, n_dims=len(dims), owner=owner, dims=shape(dims))))
            break
    return found


def apply_changed_nothing(ctx: ExplainContext) -> list[Diagnostic]:
    """PL107: `apply(fn)` where `fn` is an init function (it calls nn.init or writes parameters) but changed no
    parameter of any visited module: usually a condition that never matches."""
    found = []
    if ctx.observations.device == "meta":
        return found  # no values to compare: a write through `.data` leaves no trace on the meta device
    initialising = {f.function for f in ctx.findings if f.pattern in {"init", "data_mutation"} and f.function}
    for finding in ctx.of_pattern("apply"):
        fn = finding.facts.get("fn")
        if fn not in initialising:
            continue
        records = [r for r in ctx.records(finding) if r.get("kind") == "apply" and not r.get("error")]
        if not records or any(v["changed"] for v in records[0]["visits"]):
            continue
        classes = sorted({v["class"] for v in records[0]["visits"]})
        found.append(Diagnostic(finding.span, "PL107", "warning", t(
            ctx.locale, "`{fn}` visited {modules} ({classes}) and changed no parameter or buffer: its condition never "
                        "matched. Check the class it tests for (and prefer `isinstance`).", fn=fn,
            modules=modules_text(ctx.locale, len(records[0]["visits"])), classes=names_list(ctx.locale, classes))))
    return found


_READS_PARAMETERS = frozenset({"param_attr", "named_parameters", "parameters", "init"})


def _read_lazy(records: list[dict[str, Any]]) -> bool:
    """Whether a record of the reads is of a lazy tensor (its own, or an item's: no shape). Plain loops: this runs
    over every parameter read of a file at every edit."""
    for record in records:
        if record.get("lazy"):
            return True
        for item in record.get("items", ()):
            if item.get("shape") is None and item.get("kind") == "tensor":
                return True
    return False


def lazy_parameter_read(ctx: ExplainContext) -> list[Diagnostic]:
    """PL108: reading a lazy module's parameters (shape, values) before its first forward call."""
    found = []
    seen_lines = set()
    for finding in ctx.findings:
        if finding.pattern not in _READS_PARAMETERS:
            continue
        records = ctx.records(finding)
        if records:
            if not _read_lazy(records):
                continue
        else:  # the statement raised before the read recorded anything: was it reading an uninitialised one?
            error = _statement_error(ctx, finding.span.line)
            if not (error and error.get("uninitialized_parameter")):
                continue
        if finding.span.line in seen_lines:
            continue
        seen_lines.add(finding.span.line)
        found.append(Diagnostic(finding.span, "PL108", "warning", t(ctx.locale, "`{text}` reads parameters of a lazy module "
                                                                    "before its first forward: they are still "
                                                                    "`UninitializedParameter`s with no shape or "
                                                                    "values. Run one forward pass (e.g. with a "
                                                                    "dummy batch) first.", text=finding.facts.get('text'))))
    return found

"""`state_dict()` and key lookup, the parameter/buffer/module iterators, and `add_module`."""

from __future__ import annotations

import difflib
from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import code, count, join, names_list, shape, shape_product, table
from paramlens.messages import message_id, t
from paramlens.explain.patterns.common import calls_note, heading, module_label, not_run_note, site_code, times
from paramlens.explain.patterns.parameters import describe_tensor, tensor_facts


def _short_values(entry: dict[str, Any]) -> str:
    values = entry.get("values")
    if values is None:
        stats = entry.get("stats")
        return f"{_range(stats)}" if stats else "…"
    flat = _flatten(values)
    shown = ", ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in flat[:4])
    return f"[{shown}{', …' if len(flat) > 4 else ''}]"


def _range(stats: dict[str, Any]) -> str:
    from paramlens.explain.fmt import num

    return f"{num(stats['min'])} … {num(stats['max'])}"


def _flatten(values: Any) -> list:
    if isinstance(values, list):
        return [x for v in values for x in _flatten(v)]
    return [values]


def explain_state_dict(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    records = [r for r in ctx.records(finding) if r.get("kind") == "state_dict"]
    title = heading(site_code(finding))
    general = t(locale, "`state_dict()` is an ordered dictionary from names to tensors: every parameter and every "
                "persistent buffer, detached from autograd (no `requires_grad`). It is what `torch.save` writes "
                "and `load_state_dict` reads, so its keys are the contract between a model and its checkpoint. A "
                "layer's keys are bare (`weight`); a container prefixes each child's keys with the child's name "
                "(`2.weight`).")
    if not records:
        return join(title, general, not_run_note(finding, ctx)), {}
    record = records[0]
    rows = [[code(e["key"]), shape(e["shape"]), e["dtype"], code(_short_values(e))] for e in record["entries"][:16]]
    header = t(locale, "key|shape|dtype|values").split("|")
    parts = [title, t(locale, "{count} entries:", count=record['count']), table(header, rows)]
    if record["count"] > 16:
        parts.append(t(locale, "… and {count} more.", count=record['count'] - 16))
    parts.append(general)
    return join(*parts), {"keys": [e["key"] for e in record["entries"]],
                          "shapes": [e["shape"] for e in record["entries"]],
                          "values": [e.get("values") for e in record["entries"]]}


def explain_state_dict_key(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    key = finding.facts.get("key")
    title = heading(site_code(finding))
    records = [r for r in ctx.records(finding) if r.get("kind") == "tensor"]
    inner = ctx.first_at("state_dict", finding.span.line, finding.span.column)
    available = []
    if inner is not None:
        state = [r for r in ctx.records(inner) if r.get("kind") == "state_dict"]
        available = [e["key"] for e in state[0]["entries"]] if state else []
    if not records:
        if key is not None and available and key not in available:
            near = difflib.get_close_matches(key, available, n=3, cutoff=0.3)
            nearest = t(locale, "Nearest keys: {near}. ", near=names_list(locale, [code(k) for k in near])) if near \
                else ""
            return join(title, t(locale, "There is no key `{key}`. {nearest}Keys: {keys}", key=key, nearest=nearest,
                                 keys=names_list(locale, [code(k) for k in available[:12]]))), \
                {"missing": key, "nearest": near}
        return join(title, not_run_note(finding, ctx)), {}
    value = records[0]
    parts = [title]
    if key and "." in key:
        child, _, name = key.rpartition(".")
        parts.append(t(locale, "The key `{key}` names `{name}` of child `{child}`. `state_dict()` holds a detached view "
                       "of it (`param.detach()`): a different tensor object with `requires_grad=False` that "
                       "shares the parameter's storage, so writing into it changes the model.", key=key, name=name, child=child))
    parts.append(describe_tensor(locale, value))
    return join(*parts), tensor_facts(value)


ITERATOR_NOTES = {
    "named_parameters": message_id(
        "`named_parameters()` yields `(name, parameter)` pairs for this module and, recursively, all its "
        "children, in registration order. Names are the child names joined with dots (`0.weight`). A tensor "
        "reached twice (a shared layer) is yielded once."),
    "parameters": message_id(
        "`parameters()` yields the same tensors as `named_parameters()`, without names — this is what you "
        "hand to an optimizer. Shared tensors are yielded once."),
    "buffers": message_id(
        "Buffers are tensors a module keeps that are not trained (e.g. BatchNorm's running statistics); "
        "persistent ones are saved in `state_dict()`."),
    "modules": message_id(
        "Module iterators walk the tree of submodules: `children()` only the direct children, `modules()` "
        "the module itself and every descendant (each object once)."),
}


ROWS = 8  # rows of a listing a hover shows (the count says how many there are)


def explain_iteration(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    method = finding.facts["method"]
    note = t(locale, ITERATOR_NOTES[finding.pattern])
    title = heading(site_code(finding))
    records = [r for r in ctx.records(finding) if r.get("kind") == "method" and "items" in r]
    if not records:
        return join(title, note, not_run_note(finding, ctx)), {}
    total_calls = ctx.count(finding)
    parts = [title]
    facts: dict[str, Any] = {"calls": []}
    shown, repeats = _distinct(records[:4])
    for record in shown:
        items = record["items"]
        receiver = record.get("receiver") or {}
        owner = (receiver.get("owner") or [{}])[0].get("path")
        label = code(owner) if owner else code(finding.facts["receiver"])
        if receiver and receiver.get("extra"):
            label += f" = {code(module_label(receiver))}"
        elif receiver:
            label += f" ({code(receiver.get('class', '?'))})"
        tensors = [i for i in items if i.get("kind") == "tensor"]
        if tensors:
            rows = [[code(i["name"]) if i.get("name") is not None else "—", shape(i["shape"]),
                     f"{shape_product(i['shape'])} = {count(i['numel'])}" if i["shape"] and len(i["shape"]) > 1
                     else count(i["numel"])] for i in tensors[:ROWS]]
            header = t(locale, "name|shape|count").split("|")
            total = sum(i["numel"] for i in tensors)
            summary = t(locale, "{label}: {count} tensors, {total} values in all.", label=label, count=record['count'], total=count(total))
            parts.extend([summary, table(header, rows)])
            if record["count"] > ROWS:
                parts.append(t(locale, "… and {count} more.", count=record['count'] - ROWS))
            frozen = [i for i in tensors if i.get("requires_grad") is False]
            if frozen:
                named = [code(i["name"]) for i in frozen if i.get("name") is not None][:4]
                parts.append(t(locale, "{k} of these {n} tensors ({values} values) have `requires_grad=False` (frozen): "
                                       "`backward()` computes no gradient for them, so an optimizer leaves them as "
                                       "they are.{names}", k=len(frozen), n=len(tensors),
                               values=count(sum(i["numel"] for i in frozen)),
                               names=t(locale, " They include {names}.", names=names_list(locale, named))
                               if named else ""))
            facts["calls"].append({"receiver": owner, "names": [i.get("name") for i in tensors],
                                   "shapes": [i["shape"] for i in tensors], "total": total})
        else:
            names = ", ".join(code(f"{i.get('name') or ''}: {i.get('class', i.get('type'))}") for i in items[:12])
            parts.append(f"{label}: {names}" + (" …" if len(items) > 12 else ""))
            facts["calls"].append({"receiver": owner, "names": [i.get("name") for i in items]})
    if finding.function and total_calls > 1:
        parts.insert(1, t(locale, "Called {times} inside `{function}` (once per call):", times=times(locale, total_calls),
                          function=finding.function))
    if repeats:
        parts.append(t(locale, "_The other {repeats} recorded evaluations gave the same tensors._", repeats=repeats))
    parts.append(calls_note(locale, total_calls, min(len(records), 4)))
    parts.append(note)
    if method == "named_parameters" and "print(*" in _statement_text(ctx, finding):
        parts.append(t(locale, "`print(*[...])` unpacks the list, so `print` receives each `(name, shape)` tuple as a "
                       "separate argument and prints them separated by spaces."))
    return join(*parts), facts


def _distinct(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Records that list different things (a loop calling `model.parameters()` gets the same tensors every time:
    one table, not four identical ones), and how many repeats were folded."""
    seen: set[str] = set()
    distinct = []
    for record in records:
        key = repr([(i.get("name"), i.get("shape"), i.get("class"), i.get("requires_grad"))
                    for i in record.get("items", [])]) + \
            repr(((record.get("receiver") or {}).get("owner") or [{}])[0].get("path"))
        if key not in seen:
            seen.add(key)
            distinct.append(record)
    return distinct, len(records) - len(distinct)


def _statement_text(ctx: ExplainContext, finding: Finding) -> str:
    def by_line() -> dict[int, Finding]:
        index: dict[int, Finding] = {}
        for candidate in ctx.of_pattern("print_output"):
            for line in range(candidate.span.line, candidate.span.end_line + 1):
                index.setdefault(line, candidate)  # the first one in file order, as a scan finds it
        return index

    candidate = ctx.memo("print_output by line", by_line).get(finding.span.line)
    return candidate.facts.get("text", "") if candidate is not None else ""


def explain_add_module(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    records = [r for r in ctx.records(finding) if r.get("kind") == "method"]
    title = heading(site_code(finding))
    general = t(locale, "`add_module(name, module)` registers a child under an explicit name, exactly like assigning an "
                "attribute, but the name can be any string — including ones like `'block 0'` that are not valid "
                "attribute names (reach those with `net[0]` or `getattr`). The name becomes the prefix of the "
                "child's parameter names.")
    if not records:
        return join(title, general, not_run_note(finding, ctx)), {}
    rows = [[code(repr(r.get("name"))), code(module_label(r["child"])) if r.get("child") else "—",
             count(r["child"]["param_count"]) if r.get("child") else "—"] for r in records]
    header = t(locale, "name|child|parameters").split("|")
    total = ctx.count(finding)
    parts = [title, t(locale, "Called {times}; registered:", times=times(locale, total)), table(header, rows),
             calls_note(locale, total, len(records)), general]
    return join(*parts), {"names": [r.get("name") for r in records], "calls": total}



def explain_state_dict_lookup(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    """`sd["fc2.bias"]` / `sd.get("fc2.bias")` on a variable holding a state dict: the entry, or the nearest keys
    when it does not exist (PL003 says so as a diagnostic)."""
    locale = ctx.locale
    key = finding.facts["key"]
    variable = finding.facts["variable"]
    title = heading(site_code(finding))
    if not ctx.records(finding):
        return join(title, not_run_note(finding, ctx)), {}
    state = [r for r in ctx.records(finding) if r.get("kind") == "state_dict"]
    if not state:
        return None  # the variable held something else at run time: nothing state-dict-specific to say
    entries = state[0]["entries"]
    entry = next((e for e in entries if e["key"] == key), None)
    head = t(locale, "`{variable}` holds a state dict with {count} entries.", variable=variable, count=count(state[0]['count']))
    if entry is None:
        keys = [e["key"] for e in entries]
        near = difflib.get_close_matches(key, keys, n=3, cutoff=0.3)
        missing = t(locale, "It has no key `{key}`: nearest {near}.", key=key,
                    near=names_list(locale, [code(k) for k in near])) if near else \
            t(locale, "It has no key `{key}`.", key=key)
        return join(title, missing, head), {"key": key, "missing": True, "nearest": near}
    found = t(locale, "`{key}`: a tensor of shape {shape}, `{dtype}`.", key=key, shape=shape(entry.get('shape')), dtype=entry.get('dtype'))
    return join(title, found, head), {"key": key, "missing": False, "shape": entry.get("shape")}

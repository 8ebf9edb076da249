"""Initialisation: `module.apply(fn)`, `nn.init.*_` calls, and in-place edits of parameters."""

from __future__ import annotations

import bisect
from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import (clauses, code, count, join, names_list, num, output_block, owners_text, series, shape, stats_line,
                                   table, value_block)
from paramlens.messages import t
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
        return t(locale, "`{name}` written (no values on the meta device)", name=change['name'])
    if after.get("all_equal"):
        value = t(locale, "all {min}", min=num(after['min']))
    else:
        value = t(locale, "range [{min}, {max}], std {std}", min=num(after.get('min')), max=num(after.get('max')), std=num(after.get('std')))
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
    indexes = ctx.symmetry_indexes()
    for index in indexes[bisect.bisect_left(indexes, start):]:
        if not wanted:
            break  # every layer asked about was re-initialised since: nothing later is its
        present = {layer["layer"]: layer for layer in ctx.observations.symmetry[index] if layer["layer"] in wanted}
        covered = ctx.observations.symmetry_models.get(index)
        for name in list(wanted):
            if covered is not None and name.split(".", 1)[0] not in covered:
                continue  # that check looked only at the models written then, not at this layer's
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
            parts.append(t(locale, "**Observed: the {units} units of {name} are interchangeable.** They have the same "
                           "incoming weights and the same bias, and the next layer weights them equally, so they "
                           "compute the same value, receive the same gradient and stay identical after every "
                           "update: the symmetry is never broken, and the layer behaves like a single unit "
                           "however wide it is. Random initialisation (`xavier_uniform_`, `kaiming_uniform_`) "
                           "exists to break exactly this symmetry; it has nothing to do with class imbalance.", units=units, name=name))
        elif not layer.get("bias_equal"):
            parts.append(t(locale, "Every unit of {name} now gets the same weighted sum of its input, but their biases "
                           "differ, so the {units} units are not interchangeable and training can tell them "
                           "apart.", name=name, units=units))
        elif layer.get("outgoing_equal") is False:
            parts.append(t(locale, "The {units} units of {name} compute the same value now (same weights, same bias), "
                           "but the next layer weights them differently, so they receive different gradients and "
                           "training separates them.", units=units, name=name))
        else:
            parts.append(t(locale, "The {units} outputs of {name} are equal for any input now (same weights, same bias). "
                           "Whether they stay equal in training depends on how the layers after it use them, "
                           "which the structure does not show (it is not followed by a layer in the same "
                           "`nn.Sequential`).", units=units, name=name))
    return join(*parts)


CHANGED_ROWS = 8  # rows of an `apply` table on a long model; the other changed visits are summarised by class


def explain_apply(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    fn = finding.facts.get("fn") or finding.facts.get("fn_text")
    title = heading(site_code(finding))
    general = t(locale, "`apply(fn)` calls `{fn}` on every submodule, children first and the module itself last "
                "(post-order), then returns the module — which is why a notebook prints the network after this "
                "line. A layer object placed twice in one container is visited once.", fn=fn)
    records = [r for r in ctx.records(finding) if r.get("kind") == "apply"]
    if not records:
        return join(title, general, not_run_note(finding, ctx)), {"fn": fn}
    record = records[0]
    visits = record["visits"]
    rows = []
    compact = len(visits) > 12  # long models: list what changed, summarise the rest
    more_changed: list[dict[str, Any]] = []
    for order, visit in enumerate(visits, 1):
        if compact and not visit["changed"]:
            continue
        if compact and len(rows) >= CHANGED_ROWS:
            more_changed.append(visit)
            continue
        changed = clauses(locale, (_change_text(locale, c) for c in visit["changed"])) or \
            t(locale, "nothing changed")
        rows.append([str(order), code(_visit_label(record, visit)), code(f"{visit['class']}({visit['extra']})"),
                     changed])
    header = t(locale, "#|module|layer|what changed").split("|")
    changed_visits = [v for v in visits if v["changed"]]
    summary = t(locale, "`{fn}` was called {times}, in this order; {n_changed} of those calls changed a parameter or "
                        "buffer (of the visited module or of its submodules, named relative to it):",
                fn=fn, times=times(locale, len(visits)), n_changed=len(changed_visits))
    parts = [title, summary, table(header, rows)]
    if more_changed:
        groups: dict[tuple[str, tuple[str, ...]], int] = {}
        for visit in more_changed:
            key = (visit["class"], tuple(c["name"] for c in visit["changed"]))
            groups[key] = groups.get(key, 0) + 1
        listed = names_list(locale, [t(locale, "{n} × `{cls}` ({names})", n=n, cls=cls,
                                       names=series(locale, (code(name) for name in names)))
                                     for (cls, names), n in groups.items()])
        parts.append(t(locale, "… and {n} more visits that changed tensors: {listed}.", n=len(more_changed),
                       listed=listed))
    unchanged = [v for v in visits if not v["changed"]]
    if compact and unchanged:
        classes = sorted({v["class"] for v in unchanged})
        parts.append(t(locale, "The other {n} visits changed nothing ({classes}).", n=len(unchanged),
                       classes=names_list(locale, classes)))
    if not changed_visits:
        parts.append(t(locale, "**`{fn}` changed nothing.** Check its condition (e.g. `type(m) == nn.Linear` does not "
                       "match subclasses; `isinstance(m, nn.Linear)` does).", fn=fn))
    parts.append(_rewritten_text(locale, record, fn))
    receiver = ((record.get("receiver") or {}).get("owner") or [{"path": ""}])[0]["path"]
    constant_paths = [f"{receiver}.{_join(v['paths'][0], c['name'])}" if receiver else _join(v["paths"][0], c["name"])
                      for v in changed_visits for c in v["changed"]
                      if (c.get("after") or {}).get("all_equal") and len(c.get("shape") or []) >= 2]
    parts.append(constant_weight_text(locale, layer_symmetry(ctx, record, constant_paths)))
    parts.append(output_block(locale, record.get("output")))
    if record.get("error"):
        parts.append(t(locale, "`{fn}` raised `{error}` after these visits.", fn=fn, error=record['error']))
    parts.append(general)
    facts = {"fn": fn, "visits": [{"module": _visit_label(record, v), "class": v["class"],
                                   "changed": [c["name"] for c in v["changed"]],
                                   "after": {c["name"]: c.get("after") for c in v["changed"]}} for v in visits]}
    return join(*parts), facts


def _rewritten_text(locale: str, record: dict[str, Any], fn: str) -> str:
    """Tensors that more than one visit wrote (the probe numbers each tensor once per `apply`): tied weights
    initialised at both owners' visits (nanoGPT's `wte.weight` and `lm_head.weight`), or a parent's visit that
    rewrites what a child's visit wrote. Only the last write survives, whatever the table shows for the earlier."""
    writes: dict[int, list[tuple[int, str]]] = {}
    for order, visit in enumerate(record["visits"], 1):
        for change in visit["changed"]:
            if change.get("tensor") is not None:
                writes.setdefault(change["tensor"], []).append((order, _join(_visit_label(record, visit),
                                                                              change["name"])))
    lines = []
    for places in writes.values():
        if len(places) < 2:
            continue
        names = list(dict.fromkeys(name for _, name in places))
        visits = series(locale, (t(locale, "#{order} (as `{name}`)", order=order, name=name) if len(names) > 1
                                 else f"#{order}" for order, name in places[:6]))
        last_order, last_name = places[-1]
        if len(names) > 1:
            lines.append(t(locale, "{names} are one tensor (tied), and `{fn}` wrote it at {n} visits: {visits}. It "
                                   "holds what the last one, #{last}, wrote; the earlier writes are gone.",
                           names=names_list(locale, [code(name) for name in names[:4]]), fn=fn, n=len(places),
                           visits=visits, last=last_order))
        else:
            lines.append(t(locale, "`{name}` was written at {n} visits ({visits}): it holds what the last one, "
                                   "#{last}, wrote.", name=last_name, n=len(places), visits=visits, last=last_order))
        if len(lines) >= 4:
            break
    return "\n\n".join(lines)


def _join(*names: str) -> str:
    return ".".join(name for name in names if name)


def _scale_text(locale: str, record: dict[str, Any]) -> str:
    fn = record["fn"]
    args = record.get("args", {})
    if "fan_in" in record and fn.startswith("xavier"):
        fan_in, fan_out, gain = record["fan_in"], record["fan_out"], record.get("gain", 1.0)
        if "bound" in record:
            return t(locale, "fan_in = {fan_in}, fan_out = {fan_out}: values uniform in ±a with a = gain·√(6/(fan_in + "
                     "fan_out)) = {gain}·√(6/{fan_in2}) = **{bound}**.", fan_in=fan_in, fan_out=fan_out, gain=num(gain), fan_in2=fan_in + fan_out, bound=num(record['bound']))
        return t(locale, "fan_in = {fan_in}, fan_out = {fan_out}: std = gain·√(2/(fan_in + fan_out)) = **{std}**.", fan_in=fan_in, fan_out=fan_out, std=num(record.get('std')))
    if "fan_in" in record and fn.startswith("kaiming"):
        which = f"{record.get('mode')} = {record.get('fan')}"
        if "bound" in record:
            return t(locale, "{which}, gain = {gain}: values uniform in ±gain·√(3/fan) = **{bound}**.", which=which, gain=num(record['gain']), bound=num(record['bound']))
        return t(locale, "{which}, gain = {gain}: std = gain/√fan = **{std}**.", which=which, gain=num(record['gain']), std=num(record.get('std')))
    described = {
        "normal_": t(locale, "values drawn from N(mean={mean}, std={std})", mean=args.get('mean'), std=args.get('std')),
        "uniform_": t(locale, "values drawn uniformly from [{a}, {b}]", a=args.get('a'), b=args.get('b')),
        "constant_": t(locale, "every value set to {value}", value=args.get('val')),
        "zeros_": t(locale, "every value set to 0"),
        "ones_": t(locale, "every value set to 1"),
        "trunc_normal_": t(locale, "N(mean={mean}, std={std}) truncated to [{a}, {b}]", mean=args.get('mean'), std=args.get('std'), a=args.get('a'), b=args.get('b')) + _truncation_note(locale, args),
        "orthogonal_": _orthogonal_text(locale, record),
        "eye_": t(locale, "the identity matrix: 1 on the diagonal, 0 elsewhere"),
    }
    return described.get(fn, "")


def _truncation_note(locale: str, args: dict[str, Any]) -> str:
    """trunc_normal_'s `a` and `b` are values, not multiples of `std`: `trunc_normal_(w, std=0.02)` cuts at ±2,
    a hundred standard deviations out, which cuts nothing."""
    try:
        mean, std, a, b = (float(args[k]) for k in ("mean", "std", "a", "b"))
    except (KeyError, TypeError, ValueError):
        return ""
    if std <= 0:
        return ""
    reach = min(b - mean, mean - a) / std
    if reach >= 4:
        return t(locale, "; the bounds are values, not multiples of `std`: they lie {k} standard deviations from the "
                         "mean, so practically nothing is cut", k=num(reach, 1))
    return t(locale, " (±{k} standard deviations)", k=num(reach, 2))


def _orthogonal_text(locale: str, record: dict[str, Any]) -> str:
    """What `orthogonal_` makes of this tensor's shape (QR of a random normal matrix, times gain)."""
    dims = record.get("shape") or []
    gain = num((record.get("args") or {}).get("gain", 1))
    if len(dims) < 2:
        return ""
    rows, cols = dims[0], 1
    for d in dims[1:]:
        cols *= d
    if rows >= cols:
        return t(locale, "a (semi-)orthogonal matrix times gain = {gain}: viewed as [{rows}, {cols}], its {cols} columns "
                         "are orthonormal (Wᵀ·W = gain²·I)", gain=gain, rows=rows, cols=cols)
    return t(locale, "a (semi-)orthogonal matrix times gain = {gain}: viewed as [{rows}, {cols}], its {rows} rows are "
                     "orthonormal (W·Wᵀ = gain²·I)", gain=gain, rows=rows, cols=cols)


def explain_init(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    name = finding.facts["init"]
    title = heading(site_code(finding))
    general = t(locale, "`nn.init.{name}` fills the tensor in place (the trailing `_`) without recording anything for "
                "autograd, and returns the same tensor.", name=name)
    records = [r for r in ctx.records(finding) if r.get("kind") == "init"]
    if not records:
        return join(title, general, not_run_note(finding, ctx)), {"init": name}
    rows = []
    for record in records:
        owners = owners_text(locale, record.get("owner")) or code(record.get("param_name") or "?")
        result = record.get("error") or stats_line(locale, record.get("after"))
        rows.append([owners, shape(record.get("shape")), _scale_text(locale, record) or "—", result])
    header = t(locale, "tensor|shape|what torch used|result").split("|")
    total = ctx.count(finding)
    parts = [title, t(locale, "Called {times} during the run:", times=times(locale, total)),
             table(header, rows), calls_note(locale, total, len(records))]
    tied = next((names for names in (tied_names(r) for r in records) if names), None)
    if tied:
        names = " = ".join(code(path) for path in tied)
        parts.append(t(locale, "{names} are **one tensor** (tied): initialising it under either name initialises both, "
                       "and whichever init runs last decides the values.", names=names))
    for record in records:
        if (record.get("after") or {}).get("all_equal") and len(record.get("shape") or []) >= 2:
            paths = [o["path"] for o in record.get("owner", []) if o.get("relation") == "same"]
            parts.append(constant_weight_text(locale, layer_symmetry(ctx, record, paths)))
            break
    if name.startswith("xavier"):
        parts.append(t(locale, "Xavier (Glorot) initialisation scales the range by the layer's fan-in and fan-out so "
                       "that the variance of activations and of gradients stays about the same from layer to "
                       "layer; it assumes roughly linear or tanh-like activations (for ReLU, Kaiming is the "
                       "usual choice)."))
    if name.startswith("kaiming"):
        parts.append(t(locale, "Kaiming (He) initialisation scales by one fan (fan_in keeps the forward activations' "
                       "variance, fan_out the backward gradients') and by the gain of the nonlinearity that "
                       "follows (√2 for ReLU), because ReLU zeroes half of its inputs."))
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
    general = t(locale, "This edits the parameter in place. Through `.data` the change is invisible to autograd: fine "
                "for initialisation outside training, but inside a training step it can silently corrupt "
                "gradients — prefer `with torch.no_grad(): ...` on the parameter itself.") if through_data else \
        t(locale, "This edits the parameter in place.")
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
        line = t(locale, "{owners} {shape}: {changed} of {numel} values changed.", owners=owners, shape=shape(tensor.get('shape')), changed=count(changed), numel=count(numel))
        zeroed = record.get("zeroed") or 0
        if zeroed and numel:
            line += " " + t(locale, "{zeroed} of them became 0 ({fraction:.0%} of the tensor).", zeroed=count(zeroed), fraction=zeroed / numel)
        after_zeros = (record.get("after") or {}).get("zeros")
        if after_zeros is not None and numel and zeroed and finding.function:
            line += " " + t(locale, "Afterwards {after_zeros:.0%} of the values are zero.", after_zeros=after_zeros / numel)
        parts.append(line)
        diff = _element_changes(record)
        if diff:
            parts.append(diff)
        if tensor.get("text") and not finding.function:
            parts.append(t(locale, "After:") + "\n" + value_block(locale, tensor["text"]))
        same = [o["path"] for o in tensor.get("owner", []) if o["relation"] == "same"]
        if tied_names(tensor):
            parts.append(t(locale, "**Shared:** {names} are one tensor, so this edit changed all of them.",
                           names=names_list(locale, [code(s) for s in same])))
        facts["calls"].append({"owner": same, "changed": changed, "zeroed": zeroed, "numel": numel,
                               "after_values": record.get("after_values"), "before_values": record.get("before_values"),
                               "changes": record.get("changes")})
    total = ctx.count(finding)
    if finding.function and total > 1:
        parts.insert(1, t(locale, "Ran {times} inside `{function}`:", times=times(locale, total),
                          function=finding.function))
    parts.append(calls_note(locale, total, min(len(records), 4)))
    parts.append(general)
    return join(*parts), facts


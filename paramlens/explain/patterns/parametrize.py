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
from paramlens.messages import message_id, t
from paramlens.explain.patterns.reshaping import count_change, diff_facts, observed, tensors_list, values_block
from paramlens.explain.fmt import plural


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
    return t(locale, "The module's class is now `{after}` (it was `{before}`), and its `state_dict()` keys changed "
             "accordingly: a checkpoint saved before needs its keys renamed.", after=after, before=before)


def _weight_norm(locale: str, record: dict[str, Any]) -> list[str]:
    diff = record["diff"]
    entries = diff.get("added", []) + diff.get("renamed", [])
    g = _by_suffix(entries, "original0", "_g")
    v = _by_suffix(entries, "original1", "_v")
    if g is None or v is None:
        return []
    dim = record.get("dim")
    parts = [t(locale, "{subject} is no longer a parameter: every read computes it as **g · v / ‖v‖** from `{name}` "
               "{shape} (g, one norm per slice along dim {dim}) and `{direction_name}` {direction_shape} (v, the "
               "direction).", subject=_subject(record), name=g['name'], shape=shape(g['shape']), dim=dim, direction_name=v['name'], direction_shape=shape(v['shape']))]
    if record.get("max_difference") is not None:
        parts.append(t(locale, "Right after this call it equals the weight it replaced (largest difference "
                       "{max_difference}); training then updates g and v separately.", max_difference=num(record['max_difference'])))
    return parts


def _spectral_norm(locale: str, record: dict[str, Any]) -> list[str]:
    diff = record["diff"]
    original = _by_suffix(diff.get("renamed", []) + diff.get("added", []), "original")
    buffers = [e for e in diff.get("added", []) if e["kind"] == "buffer"]
    if original is None or record.get("sigma") is None:
        return []
    parts = [t(locale, "{subject} is no longer a parameter: every read computes it as `{name}` {shape} **/ σ**, with σ = "
               "{sigma} now, estimated by power iteration from the buffers {tensors} (the largest singular value "
               "of `{name}` is {largest_singular_value}).", subject=_subject(record), name=original['name'], shape=shape(original['shape']), sigma=num(record['sigma']), tensors=tensors_list(locale, buffers), largest_singular_value=num(record['largest_singular_value']))]
    if original.get("was"):
        parts.append(t(locale, "`{name}` is the former `{was}` (the same Parameter object).", name=original['name'], was=original['was']))
    steps = record.get("power_iterations", 1)
    parts.append(t(locale, "In training mode each read (each forward) first runs {steps} and updates `_u` and `_v`; in "
                           "eval mode they are used as they are.",
                   steps=plural(locale, steps, "{n} more power-iteration step", "{n} more power-iteration steps")))
    return parts


def _generic(locale: str, record: dict[str, Any]) -> list[str]:
    diff = record["diff"]
    made = diff.get("renamed", []) + diff.get("added", [])
    chain = ", ".join(code(p) for p in record.get("parametrizations", [])) or "?"
    return [t(locale, "{subject} is no longer a parameter: every read computes it with {chain} from {tensors}.", subject=_subject(record), chain=chain, tensors=tensors_list(locale, made))]


def _folded(locale: str, record: dict[str, Any]) -> list[str]:
    folded = record["folded"]
    removed = record["diff"].get("removed", [])
    if removed:
        parts = [t(locale, "Folded the computed value back into a plain Parameter {subject} {shape}; removed {removed}.",
                   subject=_subject(record), shape=shape(folded.get("shape")), removed=tensors_list(locale, removed))]
    else:
        parts = [t(locale, "Folded the computed value back into a plain Parameter {subject} {shape}.",
                   subject=_subject(record), shape=shape(folded.get("shape")))]
    if folded.get("was"):
        text = message_id("It is the former `{was}` object, now holding the computed values.") \
            if record.get("leave_parametrized", True) else \
            message_id("It is the former `{was}` object, now holding its own values.")
        parts.append(t(locale, text, was=folded["was"]))
    if record.get("leave_parametrized") is False:
        parts.append(t(locale, "`leave_parametrized=False`: the plain weight keeps the unparametrized original, not the "
                       "computed value."))
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
    parts.append(t(locale, "Parameters of the module: {change}.", change=count_change(locale, diff['param_count_before'], diff['param_count_after'])))
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

"""Pieces the explainers of reshaping calls share (pruning, parametrizations, torch.func, copies, casts, EMA
steps): their probe records (sandbox/reshaping/), how a tensor is named, percentages, the sentence for a call
that raised or ran where values cannot be read."""

from __future__ import annotations

from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import block, code, count, join, names_list, num, shape
from paramlens.messages import t
from paramlens.explain.patterns.common import heading, not_run_note, site_code


def records_of(ctx: ExplainContext, finding: Finding, *kinds: str) -> list[dict[str, Any]]:
    """The finding's records of one of these kinds (`what`), errors included; records of calls of no known kind
    (`x.to(device)` on a tensor) are left out."""
    return [r for r in ctx.records(finding) if r.get("kind") == "transform" and
            (r.get("what") in kinds or (r.get("error") and r.get("what") is None))]


def unobserved_reason(ctx: ExplainContext, finding: Finding) -> str | None:
    """Why a call that ran was not observed (inside `vmap` / `grad`, a trace), or None."""
    for record in ctx.records(finding):
        if record.get("transform"):
            return t(ctx.locale, "_It ran inside a `{transform}` transform, where tensors have no values to read, so nothing "
                     "was observed here._", transform=record['transform'])
    return None


def missing_note(ctx: ExplainContext, finding: Finding) -> str:
    """The note for a site with no usable record: why it did not run, or why it was not observed."""
    return unobserved_reason(ctx, finding) or not_run_note(finding, ctx)


def observed(ctx: ExplainContext, finding: Finding, kind: str, certain: bool = True,
             general: str = "") -> tuple[str, list[dict], Any]:
    """(title, records, early result) of a reshaping site: the early result is the explanation to return at once
    (not run or raised; None for an uncertain site such as `x.to(...)`, whose receiver may not be a module), else
    False."""
    title = heading(site_code(finding))
    records = records_of(ctx, finding, kind)
    if not records:
        return title, [], (join(title, general, missing_note(ctx, finding)), {}) if certain else None
    if records[0].get("error"):
        return title, records, (join(title, raised(ctx.locale, records[0]), general), {"error": records[0]["error"]})
    return title, records, False


def raised(locale: str, record: dict[str, Any]) -> str:
    return t(locale, "It raised `{error}`.", error=record['error'][:300])


def module_name(locale: str, label: dict[str, Any] | None, fallback: str) -> str:
    """`net.0` when the module sits in a top-level model, else the source text, as inline code."""
    if label and label.get("path"):
        return code(label["path"])
    return code(fallback)


def tensor_path(label: dict[str, Any] | None, name: str, fallback: str) -> str:
    """`net.0.weight` for the tensor `name` of the module `label` (or of the module written as `fallback`)."""
    base = label.get("path") if label and label.get("path") else fallback
    return code(f"{base}.{name}")


def percent(part: int | float, whole: int | float) -> str:
    """`50%`, `33.3%`: whole percentages stay whole."""
    if not whole:
        return "—"
    value = 100 * part / whole
    return f"{value:.0f}%" if abs(value - round(value)) < 1e-9 else f"{value:.1f}%"


def code_list(locale: str, names: list[str]) -> str:
    """Names as code, in a list: `a`, `b` and `c` / `a`、`b`、`c`."""
    return names_list(locale, [code(n) for n in names])


def tensors_list(locale: str, entries: list[dict[str, Any]]) -> str:
    """`weight_orig` [3, 4] and `weight_mask` [3, 4]"""
    return names_list(locale, [f"{code(e['name'])} {shape(e.get('shape'))}" for e in entries])


def count_change(locale: str, before: int, after: int) -> str:
    if before == after:
        return t(locale, "still {after} values", after=count(after))
    return t(locale, "{before} → {after} values", before=count(before), after=count(after))



SMALL = 12  # tensors up to this many values are shown value by value


def values_block(values: Any) -> str:
    """A small tensor's values as rows of 4-digit numbers (a code block), or "" when it is not small."""
    rows = values if isinstance(values, list) and values and isinstance(values[0], list) else [values]
    if not isinstance(values, list) or sum(len(r) if isinstance(r, list) else 1 for r in rows) > SMALL or \
            any(isinstance(v, list) for r in rows for v in (r if isinstance(r, list) else [r])):
        return ""
    return block("\n".join("[" + ", ".join(num(v) for v in (r if isinstance(r, list) else [r])) + "]" for r in rows))


def diff_facts(diff: dict[str, Any]) -> dict[str, Any]:
    """The names a call added, removed and renamed, for machine readers."""
    return {"added": [[e["name"], e["shape"]] for e in diff.get("added", [])],
            "removed": [[e["name"], e["shape"]] for e in diff.get("removed", [])],
            "renamed": [[e["was"], e["name"]] for e in diff.get("renamed", [])],
            "param_count_before": diff.get("param_count_before"), "param_count_after": diff.get("param_count_after")}


def apart(a: float, b: float) -> tuple[str, str]:
    """Two numbers written with just enough digits to tell them apart (a threshold between pruned and kept values
    is often closer than 4 decimals)."""
    for digits in range(4, 10):
        first, second = f"{a:.{digits}f}", f"{b:.{digits}f}"
        if first != second or a == b:
            return (num(a), num(b)) if digits == 4 else (first, second)
    return f"{a!r}", f"{b!r}"


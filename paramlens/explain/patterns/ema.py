"""An in-place step that moves one tensor toward another, as an exponential moving average (EMA) of weights does:
`ema_p.lerp_(p, w)` or `ema_p.mul_(d).add_(p, alpha=1 - d)`. Which tensor moved toward which, by what fraction
of the gap, with the mean distance before and after and, on small tensors, the values; all from the probe around
the call (for the chained form, the `mul_` probe hands the value before the whole step to the `add_` probe)."""

from __future__ import annotations

from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import code, join, num, shape, table
from paramlens.messages import t
from paramlens.explain.patterns.common import calls_note, heading, site_code
from paramlens.explain.patterns.reshaping import percent, raised, records_of, unobserved_reason, \
    values_block
from paramlens.explain.fmt import plural

ROWS = 8


def _name(summary: dict[str, Any], fallback: str | None) -> str:
    same = [o["path"] for o in summary.get("owner", []) if o["relation"] in {"same", "data"}]
    return code(same[0]) if same else code(fallback or "?")


def _fraction(record: dict[str, Any]) -> float | None:
    """The share of the gap the step closes: `weight` for lerp_, `alpha` when `factor + alpha == 1`."""
    if record["step"] == "lerp":
        return record.get("weight") if isinstance(record.get("weight"), (int, float)) else None
    factor, alpha = record.get("factor"), record.get("alpha")
    if isinstance(factor, (int, float)) and isinstance(alpha, (int, float)) and abs(factor + alpha - 1) < 1e-9:
        return alpha
    return None


def _how(locale: str, record: dict[str, Any]) -> str:
    if record["step"] == "lerp":
        return t(locale, "`lerp_` weight {weight}", weight=num(record.get('weight')))
    return t(locale, "`mul_({factor})` then `add_(…, alpha={alpha})`", factor=num(record.get('factor')), alpha=num(record.get('alpha')))


def _distance(record: dict[str, Any]) -> str:
    before, after = record.get("distance_before"), record.get("distance_after")
    if before is None or after is None:
        return "—"
    ratio = f" (×{num(after / before)})" if before else ""
    return f"{num(before)} → {num(after)}{ratio}"


def _one(locale: str, record: dict[str, Any], finding: Finding) -> list[str]:
    target = _name(record["target"], finding.facts.get("target"))
    source = _name(record["source"], finding.facts.get("source"))
    fraction = _fraction(record)
    if fraction is not None:
        key = t(locale, "{target} moved **{fraction} of the way toward** {source} ({how}): mean |difference| {distance}.", target=target, fraction=percent(fraction, 1), source=source, how=_how(locale, record), distance=_distance(record))
    else:
        total = (record.get("factor") or 0) + (record.get("alpha") or 0)
        key = t(locale, "{target} was scaled and {source} added ({how}); factor and alpha add up to {total}, not 1, so "
                "this is not an average: mean |difference| {distance}.", target=target, source=source, how=_how(locale, record), total=num(total), distance=_distance(record))
    parts = [key]
    values = record["target"].get("values")
    before = values_block(record.get("before_values"))
    if before and values is not None:
        parts.append(t(locale, "{target} before, after, and {source}:", target=target, source=source) + "\n" +
                     before + "\n" + values_block(values) + "\n" + values_block(record["source"].get("values")))
    return parts


def explain_ema_update(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    title = heading(site_code(finding))
    records = [r for r in records_of(ctx, finding, "tensor_update") if r.get("error") or r.get("target")]
    if not records:
        reason = unobserved_reason(ctx, finding)
        return (join(title, reason), {}) if reason else None
    if records[0].get("error"):
        return join(title, raised(locale, records[0])), {"error": records[0]["error"]}
    general = t(locale, "Only the receiver changes; the tensor it moves toward is left as it is. Kept up after every "
                "training step, this is an exponential moving average of the weights (evaluated instead of the "
                "raw, noisier weights).")
    if len(records) == 1:
        parts = [title, *_one(locale, records[0], finding)]
    else:
        rows = [[_name(r["target"], finding.facts.get("target")), _name(r["source"], finding.facts.get("source")),
                 shape(r["target"].get("shape")),
                 percent(_fraction(r), 1) if _fraction(r) is not None else "—", _distance(r)] for r in records[:ROWS]]
        header = t(locale, "moved|toward|shape|share of the gap|mean abs difference before → after").split("|")
        fractions = {_fraction(r) for r in records}
        share = percent(fractions.pop(), 1) if len(fractions) == 1 and None not in fractions else None
        key = t(locale, "{tensors} each moved **{share} of the way toward** their source ({how}):",
                tensors=plural(locale, len(records), "{n} tensor", "{n} tensors"), share=share,
                how=_how(locale, records[0])) if share else \
            t(locale, "{n_records} in-place steps:", n_records=len(records))
        parts = [title, key, table(header, rows)]
    parts += [calls_note(locale, ctx.count(finding), len(records)), general]
    facts = {"steps": [{"target": _name(r["target"], None).strip("`"), "source": _name(r["source"], None).strip("`"),
                        "fraction": _fraction(r), "distance_before": r.get("distance_before"),
                        "distance_after": r.get("distance_after"), "max_change": r.get("max_change"),
                        "before_values": r.get("before_values"), "after_values": r["target"].get("values"),
                        "weight": r.get("weight"), "factor": r.get("factor"), "alpha": r.get("alpha")}
                       for r in records]}
    return join(*parts), facts

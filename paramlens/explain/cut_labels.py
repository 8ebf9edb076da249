"""Labels on values observed after the loop budget cut a loop.

Why: from the first cut on, the program's state is not the one `python file.py` reaches (a training loop ran 3 of
10,000 steps), so no number observed from then on may be presented as the program's. Every explanation whose
values were observed after a cut gets one sentence right under its heading, and `facts["after_cut"]` for machine
readers; the decision is made from the records' own `after_cut` field, which the child sets on everything it
records after the first cut.
"""

from __future__ import annotations

from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import count
from paramlens.messages import t
from paramlens.explain.places import place

# explanations that show a statement's printed output or value rather than probe records
STATEMENT_PATTERNS = frozenset({"print_output", "cell_value"})


def observed_after_cut(finding: Finding, ctx: ExplainContext) -> dict[str, Any] | None:
    """The first cut's facts ({line, iterations, of}, and `partly` when only some values came after it)."""
    if finding.pattern in STATEMENT_PATTERNS:
        statement = ctx.statement_status(finding.span.line) or {}
        cut = statement.get("after_cut")
        if not cut:
            return None
        return {"line": cut["line"], "iterations": cut["iterations"], "of": cut.get("of"),
                "partly": bool(cut.get("during"))}
    records = [record for record in ctx.records(finding) if record]
    after = [record["after_cut"] for record in records if record.get("after_cut")]
    if not after:
        return None
    first = after[0]
    return {"line": first["line"], "iterations": first["iterations"], "of": first.get("of"),
            "partly": len(after) < len(records)}


def label(cut: dict[str, Any], locale: str) -> str:
    ran = t(locale, "{iterations} of {of} iterations", iterations=count(cut["iterations"]), of=count(cut["of"])) \
        if cut.get("of") is not None else t(locale, "{iterations} iterations", iterations=count(cut["iterations"]))
    if cut.get("partly"):
        return t(locale, "⚠ _Some of these values were observed after the loop at {place} was shortened by the loop "
                         "budget (its first run stopped after {ran}); from then on they may differ from the program's "
                         "own._", place=place(locale, cut["line"]), ran=ran)
    return t(locale, "⚠ _Observed after the loop at {place} was shortened by the loop budget (its first run stopped "
                     "after {ran}): the program's own values here may differ._", place=place(locale, cut["line"]), ran=ran)


def with_label(markdown: str, cut: dict[str, Any], locale: str) -> str:
    """The label goes right under the heading (the first line), before any table or value."""
    head, _, rest = markdown.partition("\n")
    return f"{head}\n\n{label(cut, locale)}\n{rest}" if rest else f"{head}\n\n{label(cut, locale)}"

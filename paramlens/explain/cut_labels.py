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
from paramlens.explain.i18n import tr

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
    ran_en = f"{count(cut['iterations'])} of {count(cut['of'])}" if cut.get("of") is not None else \
        f"{count(cut['iterations'])}"
    ran_zh = f"{count(cut['of'])} 次中的 {count(cut['iterations'])} 次" if cut.get("of") is not None else \
        f"{count(cut['iterations'])} 次"
    line = cut["line"]
    if cut.get("partly"):
        return tr(locale, f"⚠ _Some of these values were observed after the loop at line {line} was shortened by the "
                          f"loop budget (its first run stopped after {ran_en} iterations); from then on they may "
                          "differ from the program's own._",
                  f"⚠ _其中部分数值是在第 {line} 行的循环被循环预算缩短之后观测到的（该循环第一次运行时只执行了 {ran_zh}）；"
                  "从那以后的数值可能与程序完整运行时不同。_")
    return tr(locale, f"⚠ _Observed after the loop at line {line} was shortened by the loop budget (its first run "
                      f"stopped after {ran_en} iterations): the program's own values here may differ._",
              f"⚠ _这些数值是在第 {line} 行的循环被循环预算缩短之后观测到的（该循环第一次运行时只执行了 {ran_zh}）："
              "程序完整运行时，这里的数值可能不同。_")


def with_label(markdown: str, cut: dict[str, Any], locale: str) -> str:
    """The label goes right under the heading (the first line), before any table or value."""
    head, _, rest = markdown.partition("\n")
    return f"{head}\n\n{label(cut, locale)}\n{rest}" if rest else f"{head}\n\n{label(cut, locale)}"

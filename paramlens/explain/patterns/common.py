"""Pieces every explainer uses: the heading, the note for a site that did not run, module one-liners."""

from __future__ import annotations

from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import code, count
from paramlens.messages import t
from paramlens.explain.places import place


def heading(text: str) -> str:
    return f"**{text}**"


def not_run_note(finding: Finding, ctx: ExplainContext) -> str:
    """Why there are no observed values at this site."""
    locale = ctx.locale
    if not ctx.observations.executed:
        return t(locale, "_Not executed (static analysis only), so no values are shown._")
    status = ctx.statement_status(finding.span.line)
    if status is None:
        return t(locale, "_The run stopped before this statement._")
    if status.get("status") == "dependent":
        line = status["error"].get("depends_on")
        return t(locale, "_Not run: it needs a name that {place} should have defined._", place=place(locale, line))
    if status.get("status") == "error" and finding.function is None:
        error = status["error"]
        return t(locale, "_This statement raised {type} before reaching here._", type=error['type'])
    raised = _raised_earlier_in(finding, ctx)
    if raised is not None:
        line, kind = raised
        return t(locale, "_`{function}` raised {kind} at {place}, before it reached this line, so nothing was "
                 "observed here._", function=finding.function, kind=kind, place=place(locale, line))
    if finding.function is not None and ctx.function_ran(finding):
        return t(locale, "_`{function}` ran, but never reached this line (a branch not taken, e.g. an `if` whose "
                 "condition was false, or a loop with nothing to iterate), so nothing was observed here._", function=finding.function)
    if finding.function is not None:
        return t(locale, "_`{function}` was never called during the run, so nothing was observed here._", function=finding.function)
    return t(locale, "_Nothing was observed here during the run._")


def _raised_earlier_in(finding: Finding, ctx: ExplainContext) -> tuple[int, str] | None:
    """Whether the function around `finding` raised at an earlier line of its body (then this line was not reached
    because of the exception, not because a branch was not taken)."""
    if finding.function is None:
        return None
    for statement in ctx.observations.statements.values():
        error = statement.get("error") or {}
        line = error.get("line")
        if error.get("function") == finding.function and line is not None and line < finding.span.line:
            return line, error.get("type", "an exception")
    return None


def modules_text(locale: str, n: int) -> str:
    """`1 module` / `3 modules` / `3 个模块`."""
    return t(locale, "{n} module", n=n) if n == 1 else t(locale, "{n:,} modules", n=n)


def module_label(module: dict[str, Any]) -> str:
    """`Linear(in_features=4, out_features=8, bias=True)`"""
    extra = module.get("extra") or ""
    return f"{module.get('class', '?')}({extra})"


def owner_paths(value: dict[str, Any] | None, relation: str | None = None) -> list[str]:
    if not value:
        return []
    return [o["path"] for o in value.get("owner", []) if relation is None or o["relation"] == relation]


def tied_names(value: dict[str, Any] | None) -> list[str]:
    """The names of a tensor when it is registered in more than one place (a tie: `lm_head.weight = wte.weight`,
    or one layer placed at two positions), else []. One layer reached through two variables (`layer` and
    `net.0`) is one registration under two paths, not a tie."""
    same = [o for o in (value or {}).get("owner", []) if o.get("relation") == "same"]
    slots = {o.get("slot", o["path"]) for o in same}
    return [o["path"] for o in same] if len(slots) > 1 else []


def param_count_text(locale: str, unique: int, with_duplicates: int) -> str:
    if unique == with_duplicates:
        return t(locale, "{unique} parameters", unique=count(unique))
    return t(locale, "{unique} parameters ({with_duplicates} if shared tensors were counted at every place they appear)", unique=count(unique), with_duplicates=count(with_duplicates))


def calls_note(locale: str, total: int, shown: int) -> str:
    if total <= shown:
        return ""
    return t(locale, "_Evaluated {total} times during the run; the first {shown} are shown._", total=total, shown=shown)


def site_code(finding: Finding) -> str:
    """The site's source as inline code; a multi-line site shows its first line."""
    text = finding.facts.get("text", "")
    if "\n" in text:
        text = text.split("\n", 1)[0].rstrip() + " …"
    return code(text)


def times(locale: str, n: int) -> str:
    """`once`, `twice`, `4 times` / `1 次`."""
    if n == 1:
        return t(locale, "once")
    if n == 2:
        return t(locale, "twice")
    return t(locale, "{n:,} times", n=n)

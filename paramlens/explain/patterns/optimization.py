"""A training step as the run observed it: `optimizer.step()` (which parameters moved and by how much),
`zero_grad()` (which gradients it dropped) and a scheduler's `step()` (the learning rate before and after).

A `step()` or `zero_grad()` whose receiver was not an optimizer, a scheduler or a module in the run (an RL
environment's `env.step(action)`) has no record and gets no explanation: the probe, not the name, decides
(sandbox/reshaping/optimization.py).
"""

from __future__ import annotations

from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import clauses, code, count, join, names_list, series, shape, table
from paramlens.explain.patterns.common import times
from paramlens.explain.patterns.reshaping import observed, records_of
from paramlens.explain.fmt import plural
from paramlens.messages import t


def _observed_as(ctx: ExplainContext, finding: Finding, kind: str) -> bool:
    """Whether the run saw this call made on a receiver of this kind (a call that raised, or one on anything else,
    has no such record: nothing is said about it)."""
    return any(record.get("what") == kind for record in records_of(ctx, finding, kind))


def explain_training_step(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    """`X.step()`: an optimizer's step or a scheduler's, whichever the run found."""
    if _observed_as(ctx, finding, "scheduler_step"):
        return _scheduler_step(finding, ctx)
    if _observed_as(ctx, finding, "optimizer_step"):
        return _optimizer_step(finding, ctx)
    return None


def _optimizer_step(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    title, records, early = observed(ctx, finding, "optimizer_step", certain=False)
    if early is not False:
        return early
    record = records[0]
    optimizer = code(record["optimizer"])
    call = code(f"{record['optimizer']}.step()")
    parts = [title]
    if record["moved_tensors"]:
        parts.append(t(locale, "{call} moved {moved} of its {total} ({values} values), in place, from "
                               "their `.grad`:", call=call,
                       moved=count(record["moved_tensors"]),
                       total=plural(locale, record["tensors"], "{n} parameter", "{n} parameters"),
                       values=count(record["moved_values"])))
        parts.append(_moved_table(locale, record))
        if record["moved_tensors"] > len(record["moved"]):
            parts.append(t(locale, "… and {n} more.", n=count(record["moved_tensors"] - len(record["moved"]))))
    elif record["without_grad"] == record["tensors"]:
        parts.append(t(locale, "{call} moved nothing: none of its {total} had a gradient (`.grad` is "
                               "`None`). `backward()` has to run before `step()`.", call=call,
                       total=plural(locale, record["tensors"], "{n} parameter", "{n} parameters")))
    else:
        parts.append(t(locale, "{call} moved none of its {total}.", call=call,
                       total=plural(locale, record["tensors"], "{n} parameter", "{n} parameters")))
    if record["without_grad"] and record["without_grad"] < record["tensors"]:
        parts.append(t(locale, "{n} had no gradient (`.grad` is `None`: not reached by the last `backward()`, or "
                               "frozen): the optimizer skipped them.", n=plural(locale, record["without_grad"],
                                                                              "{n} parameter", "{n} parameters")))
    if record.get("sgd_exact") is True:
        parts.append(t(locale, "Each change is exactly −lr × `.grad` (plain SGD: no momentum, no weight decay), "
                               "checked against the tensors after the step."))
    if record.get("state_created") and record.get("state_keys"):
        parts.append(t(locale, "This first step also created {optimizer}'s state for each parameter ({keys}), which "
                               "later steps use and the optimizer's `state_dict()` saves.", optimizer=optimizer,
                       keys=names_list(locale, [code(key) for key in record["state_keys"]])))
    parts.append(t(locale, "`step()` does not clear `.grad`: the next `backward()` adds to it unless `zero_grad()` "
                           "runs first."))
    parts.append(_which_call(locale, ctx.count(finding), 1))
    facts = {key: record.get(key) for key in ("optimizer", "moved_tensors", "moved_values", "tensors",
                                              "without_grad", "sgd_exact")}
    facts["moved"] = [{"names": row["names"], "max_change": row.get("max_change")} for row in record["moved"]]
    return join(*parts), facts


def _moved_table(locale: str, record: dict[str, Any]) -> str:
    groups = record["groups"]
    rows = []
    for row in record["moved"]:
        lr = groups[row["group"]].get("lr") if row["group"] < len(groups) else None
        rows.append([" = ".join(code(name) for name in row["names"]) or "—", shape(row["shape"], locale),
                     _significant(lr) if isinstance(lr, (int, float)) else "—",
                     _significant(row["max_change"]) if row.get("max_change") is not None else "—",
                     _significant(row["relative"]) if row.get("relative") is not None else "—"])
    header = t(locale, "parameter|shape|lr|largest change|‖change‖ / ‖before‖").split("|")
    return table(header, rows)


def explain_zero_grad(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    if not _observed_as(ctx, finding, "zero_grad"):
        return None
    title, records, early = observed(ctx, finding, "zero_grad", certain=False)
    if early is not False:
        return early
    # in a training loop the first call has nothing to clear: the first call that had is the telling one
    shown = next((number for number, record in enumerate(records, 1) if record.get("with_grad_before")), 1)
    record = records[shown - 1]
    tensors = plural(locale, record["tensors"], "{n} parameter", "{n} parameters")
    if not record["with_grad_before"]:
        what = t(locale, "None of its {tensors} held a gradient yet: there was nothing to clear.", tensors=tensors)
    elif record["set_to_none"]:
        what = t(locale, "{held} of its {tensors} held a gradient; afterwards {none} have `.grad = None`. With "
                         "`set_to_none=True` (torch's default since 2.0) the gradients are dropped, not filled with "
                         "zeros: reading `.grad` now gives `None`, and the next `backward()` writes fresh ones.",
                 held=count(record["with_grad_before"]), tensors=tensors, none=count(record["none_after"]))
    else:
        what = t(locale, "{held} of its {tensors} held a gradient; afterwards {zeros} hold zeros (`set_to_none=False`): "
                         "the next `backward()` adds to those zeros.",
                 held=count(record["with_grad_before"]), tensors=tensors, zeros=count(record["zeros_after"]))
    parts = [title, what, t(locale, "Without it, each `backward()` would add its gradient to the previous ones."),
             _which_call(locale, ctx.count(finding), shown)]
    return join(*parts), {key: record.get(key) for key in ("tensors", "with_grad_before", "none_after",
                                                           "zeros_after", "set_to_none")}


def _scheduler_step(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    title, records, early = observed(ctx, finding, "scheduler_step", certain=False)
    if early is not False:
        return early
    record = records[0]
    before, after = record["lr_before"], record["lr_after"]
    changes = [(index, a, b) for index, (a, b) in enumerate(zip(before, after))]
    if any(a != b for _, a, b in changes):
        lines = clauses(locale, (t(locale, "group {group}: {before} → {after}", group=index, before=_significant(a),
                                   after=_significant(b)) for index, a, b in changes[:8]))
        what = t(locale, "{call} changed the learning rate of {optimizer} ({lines}).",
                 call=code(f"{record['scheduler']}.step()"), optimizer=code(record["optimizer"]), lines=lines)
    else:
        what = t(locale, "{call} left the learning rate of {optimizer} at {lr}.",
                 call=code(f"{record['scheduler']}.step()"), optimizer=code(record["optimizer"]),
                 lr=series(locale, (_significant(value) for value in after[:8])))
    parts = [title, what, t(locale, "A scheduler only rewrites `lr` in the optimizer's parameter groups; the next "
                                    "`optimizer.step()` uses it."),
             _which_call(locale, ctx.count(finding), 1)]
    return join(*parts), {"lr_before": before, "lr_after": after, "last_epoch": record.get("last_epoch")}


def _significant(value: float) -> str:
    """Three significant digits, the same way for every row (a learning rate of 1e-3 and a change of 0.00099998
    read alike)."""
    return f"{value:.3g}"


def _which_call(locale: str, total: int, shown: int) -> str:
    """Which of the calls of a line in a loop the explanation describes."""
    if total <= 1:
        return ""
    return t(locale, "_This line ran {times}; the numbers above are from call {shown}._", times=times(locale, total),
             shown=shown)

"""Gradients as the run observed them: a `backward()` call (which parameters received gradients, and for a
parameter used several times in the forward pass, what each use contributed), and the observed facts that `.grad`
reads, `grad is None` tests and shared layers' explanations show.

Every sentence about gradients here is backed by a `backward` event of the run (sandbox/gradients.py); where no
backward pass ran, the text says so rather than describing what would happen.
"""

from __future__ import annotations

from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import code, count, join, names_list, num, shape, table
from paramlens.messages import t
from paramlens.explain.places import place
from paramlens.explain.patterns.common import calls_note, heading, not_run_note, site_code, times
from paramlens.explain.fmt import plural

SHARED_ROWS = 8


def passes_at(ctx: ExplainContext, line: int) -> list[dict[str, Any]]:
    return [event for event in ctx.observations.backwards if event.get("line") == line]


def _names(entry: dict[str, Any]) -> list[str]:
    return [owner["path"] for owner in entry.get("owner", []) if owner.get("relation") == "same"]


def _uses_cell(entry: dict[str, Any], locale: str) -> str:
    norms = [use.get("norm") for use in entry.get("uses", [])]
    if any(norm is None for norm in norms):
        return str(len(norms))
    return " + ".join(num(norm) for norm in norms)


def _sum_cell(entry: dict[str, Any], locale: str) -> str:
    matches = entry.get("sum_matches")
    if matches is None:
        return "—"
    return t(locale, "yes") if matches else t(locale, "no")


def shared_table(entries: list[dict[str, Any]], locale: str) -> str:
    rows = []
    for entry in entries[:SHARED_ROWS]:
        names = " = ".join(code(name) for name in _names(entry)) or "?"
        rows.append([names, len(entry.get("uses", [])), _uses_cell(entry, locale),
                     num(entry.get("grad_norm")) if entry.get("grad_norm") is not None else "—",
                     _sum_cell(entry, locale)])
    header = t(locale, "parameter|uses|‖gradient‖ of each use|‖.grad‖|uses add up to .grad").split("|")
    return table(header, rows)


def explain_backward(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    title = heading(site_code(finding))
    passes = passes_at(ctx, finding.span.line)
    total = ctx.count(finding)
    if not passes:
        if total:
            return join(title, t(locale, "Ran {times}; its gradients were not inspected (only the first backward "
                                         "passes of a run are).", times=times(locale, total))), {"calls": total}
        return join(title, not_run_note(finding, ctx)), {}
    first = passes[0]
    parts = [title]
    if first.get("error"):
        parts.append(t(locale, "The graph could not be inspected: {error}.", error=first['error']))
    when = t(locale, "It ran once:") if total <= 1 else \
        t(locale, "It ran {times}; the first time,", times=times(locale, total))
    parts.append(t(locale, "{when} autograd followed the graph back to {leaves}, {elements} values in all; {received} "
                           "of them then held a gradient in `.grad`. A later `backward()` adds to `.grad` until it "
                           "is zeroed (`optimizer.zero_grad()`).",
                   when=when, leaves=_leaves_text(locale, first), elements=count(first.get("elements")),
                   received=count(first.get("received"))))
    if first.get("accumulated"):
        parts.append(t(locale, "{n} of them already held a nonzero gradient from an earlier pass: this pass **added** to "
                               "it, so their `.grad` is now a sum over passes, not this pass's gradient alone.",
                       n=count(first["accumulated"])))
    if first.get("vector_jacobian"):
        parts.append(vector_jacobian_text(locale, first))
    shared = _weights_first(first.get("shared") or [])
    if shared:
        parts.append(t(locale, "Used more than once in the forward pass, so autograd sent each of these parameters one "
                       "gradient per use and **added them** into its single `.grad` (captured per use during "
                       "this pass, then compared with `.grad`):"))
        parts.append(shared_table(shared, locale))
    parts.append(calls_note(locale, total, len(passes)))
    facts = {"calls": total, "parameters": first.get("parameters"), "received": first.get("received"),
             "shared": [{"names": _names(entry), "uses": len(entry.get("uses", [])),
                         "use_norms": [use.get("norm") for use in entry.get("uses", [])],
                         "grad_norm": entry.get("grad_norm"), "sum_matches": entry.get("sum_matches"),
                         "accumulated": entry.get("accumulated")} for entry in shared]}
    return join(*parts), facts


def _leaves_text(locale: str, event: dict[str, Any]) -> str:
    """What the pass reached, as torch has it: `nn.Parameter`s, or tensors created with `requires_grad=True` (both
    are autograd's leaves; only the first are a module's parameters)."""
    leaves, parameters = event.get("parameters") or 0, event.get("parameter_leaves")
    if parameters is None or parameters == leaves:
        return plural(locale, leaves, "{n} parameter", "{n} parameters")
    if parameters == 0:
        return plural(locale, leaves, "{n} plain tensor created with `requires_grad=True` (not an `nn.Parameter`)",
                      "{n} plain tensors created with `requires_grad=True` (not `nn.Parameter`s)")
    return t(locale, "{leaves} that require gradients ({parameters} of them parameters)",
             leaves=plural(locale, leaves, "{n} tensor", "{n} tensors"), parameters=count(parameters))


def vector_jacobian_text(locale: str, event: dict[str, Any]) -> str:
    """A root with more than one element: `backward(v)` computes vᵀ·J (torch requires v for a non-scalar root)."""
    shape_text = shape(event["root_shape"], locale) if event.get("root_shape") is not None else "?"
    return t(locale, "It was called on a tensor of shape {shape}, not a single number, with the `gradient` argument v: "
                     "what lands in `.grad` is the vector-Jacobian product vᵀ·J (J: the derivatives of every element "
                     "of that tensor), the same as `backward()` on `(tensor * v).sum()`.", shape=shape_text)


def _weights_first(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(entries, key=lambda entry: (not any(name.endswith("weight") for name in _names(entry)),
                                              _names(entry)[:1]))


def shared_gradient_entries(ctx: ExplainContext, paths: set[str]) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """The first backward pass in which a parameter with one of these names was used several times, and the
    entries of those parameters (weights first)."""
    for event in ctx.observations.backwards:
        entries = [entry for entry in event.get("shared") or [] if paths.intersection(_names(entry))]
        if entries:
            return event, _weights_first(entries)
    return None


def _one_tensor(names: list[str], locale: str) -> str:
    """`net.2.weight` (= `net.4.weight`): several names of one tensor."""
    if not names:
        return "?"
    first = code(names[0])
    if len(names) == 1:
        return first
    return t(locale, "{first} (= {others})", first=first, others=" = ".join(code(name) for name in names[1:]))


def _use_sentence(entry: dict[str, Any], locale: str) -> str:
    uses = entry.get("uses", [])
    norms = [use.get("norm") for use in uses]
    matches = entry.get("sum_matches")
    name = _one_tensor(_names(entry), locale)
    if all(norm is not None for norm in norms):
        each = t(locale, "one gradient per use, with norms {norms}", norms=names_list(locale, [num(n) for n in norms]))
    else:
        each = t(locale, "one gradient per use")
    if matches:
        verdict = t(locale, "their sum is exactly what `.grad` received")
    elif matches is False:
        verdict = t(locale, "their sum does not match the change of `.grad` (a hook or an in-place edit changed it)")
    else:
        verdict = t(locale, "there were no values to compare (meta device or a very large tensor)")
    text = t(locale, "{name} was used {times}: autograd sent {each}, and {verdict}.", name=name,
             times=times(locale, len(uses)), each=each, verdict=verdict)
    if entry.get("accumulated"):
        text += t(locale, " (`.grad` already held a gradient from an earlier pass, which stays added in.)")
    return text


def shared_gradient_text(ctx: ExplainContext, paths: set[str]) -> tuple[str, dict[str, Any]] | None:
    """The observed per-use contributions of shared parameters with these names, and their sums."""
    found = shared_gradient_entries(ctx, paths)
    if found is None:
        return None
    event, entries = found
    locale = ctx.locale
    line = event.get("line")
    head = t(locale, "**Observed in `backward()` at {place}:**", place=place(locale, line))
    sentences = [_use_sentence(entry, locale) for entry in entries]
    text = head + " " + " ".join(sentences) if len(sentences) == 1 else \
        head + "\n" + "\n".join(f"- {sentence}" for sentence in sentences)
    facts = {"line": line, "parameters": [{"names": _names(entry), "uses": len(entry.get("uses", [])),
                                           "use_norms": [use.get("norm") for use in entry.get("uses", [])],
                                           "grad_norm": entry.get("grad_norm"), "sum_matches": entry.get("sum_matches")}
                                          for entry in entries]}
    return text, facts


def backward_before(ctx: ExplainContext, record: dict[str, Any]) -> dict[str, Any] | None:
    """The last backward pass that ran before this record was made, or None."""
    passes = record.get("backwards_before", 0)
    if not passes:
        return None
    return ctx.observations.backwards[passes - 1] if passes <= len(ctx.observations.backwards) else \
        ctx.observations.backwards[-1]

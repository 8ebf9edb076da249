"""Pure converters from a Report to LSP objects: hover, diagnostics, inlay hints, code actions, code lenses.

Every function takes a `View`: the analysed snapshot (text + Report), the editor's current lines and the `LineMap`
between them (kept from the edits, positions.py), and drops anything whose line changed since the analysis
(better no answer than one on the wrong line).
"""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass

from lsprotocol import types as lsp

from paramlens.explain.fmt import code
from paramlens.explain.places import places
from paramlens.messages import t
from paramlens.explain.rules import rule_page_file
from paramlens.report import Diagnostic, FileReport, Span
from paramlens.server.positions import LineMap, codepoints_to_utf16, utf16_to_codepoints
from paramlens.server.settings import InlayHintKinds

SEVERITY = {"error": lsp.DiagnosticSeverity.Error, "warning": lsp.DiagnosticSeverity.Warning,
            "information": lsp.DiagnosticSeverity.Information, "hint": lsp.DiagnosticSeverity.Hint}


@dataclass
class Snapshot:
    """One analysed version of a document."""

    version: int
    text: str
    report: FileReport

    @property
    def line_count(self) -> int:
        return self.text.count("\n") + 1

    @functools.cached_property
    def hint_index(self) -> "HintIndex":
        return HintIndex.of(self.report)


class View:
    """The snapshot seen from the editor's current text (its lines, and the map kept from the edits since)."""

    def __init__(self, snapshot: Snapshot, current_lines: list[str], line_map: LineMap) -> None:
        self.snapshot = snapshot
        self.new_lines = current_lines
        self.map = line_map

    def range(self, span: Span) -> lsp.Range | None:
        """Span (1-based, analysed text) -> LSP range (0-based, UTF-16, current text), if its lines are unchanged."""
        start_line = self.map.to_new(span.line - 1)
        end_line = self.map.to_new(span.end_line - 1)
        if start_line is None or end_line is None or end_line >= len(self.new_lines):
            return None
        start = codepoints_to_utf16(self.new_lines[start_line], span.column - 1)
        end = codepoints_to_utf16(self.new_lines[end_line], span.end_column - 1)
        return lsp.Range(lsp.Position(start_line, start), lsp.Position(end_line, end))

    def position(self, position: lsp.Position) -> tuple[int, int] | None:
        """LSP position in the current text -> 1-based (line, column) in the analysed text."""
        if not 0 <= position.line < len(self.new_lines):
            return None
        old_line = self.map.to_old(position.line)
        if old_line is None:
            return None
        column = utf16_to_codepoints(self.new_lines[position.line], position.character)
        return old_line + 1, column + 1


def hover(view: View, position: lsp.Position) -> lsp.Hover | None:
    where = view.position(position)
    if where is None:
        return None
    explanation = view.snapshot.report.explanation_at(*where)
    if explanation is None:
        return None
    return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=explanation.markdown),
                     range=view.range(explanation.span))


@functools.lru_cache(maxsize=None)
def _rule_link(code: str) -> lsp.CodeDescription | None:
    """The link to the rule's page, once per code: a long file publishes hundreds of diagnostics at every edit, and
    finding the page (a stat of the file) and spelling its URI cost more than the rest of each one's conversion."""
    page = rule_page_file(code)
    return lsp.CodeDescription(href=page.as_uri()) if page is not None else None


def diagnostics(view: View, uri: str, locale: str) -> list[lsp.Diagnostic]:
    report = view.snapshot.report
    result = []
    for diagnostic in report.diagnostics:
        if diagnostic.code == "PL000":
            continue  # the editor's Python support already shows syntax errors; ours would only repeat them
        where = view.range(diagnostic.span)
        if where is None:
            continue
        result.append(lsp.Diagnostic(
            range=where, message=diagnostic.message, severity=SEVERITY.get(diagnostic.severity),
            code=diagnostic.code, code_description=_rule_link(diagnostic.code), source="paramlens",
            related_information=_related(view, uri, diagnostic, locale) or None))
    return result


def _related(view: View, uri: str, diagnostic: Diagnostic, locale: str) -> list[lsp.DiagnosticRelatedInformation]:
    """For shared layers: every place the shared object is put into the container."""
    if diagnostic.code != "PL201":
        return []
    related = []
    span = diagnostic.span
    # from the report's places, not its explanations: reading those would build them all before the diagnostics
    # are published
    for place in view.snapshot.report.shared_places:  # in the explanations' order
        if not span.line <= place.span.line <= span.end_line:
            continue
        where = view.range(place.span)
        if where is None:
            continue
        name = code(place.name) if place.name else t(locale, "the shared layer")
        related.append(lsp.DiagnosticRelatedInformation(
            location=lsp.Location(uri=uri, range=where), message=t(locale, "{name} placed here", name=name)))
    return related


HINTED = ("module", "forward", "shared_module")


@dataclass
class HintIndex:
    """The explanations that can carry an inlay hint, by the line they end on in the analysed text (made once per
    snapshot), and the lines of each shared layer: a request for a viewport looks at the few it covers, not at
    every explanation of a long file."""

    end_lines: list[int]
    explanations: list
    shared_lines: dict[tuple, list[int]]

    @classmethod
    def of(cls, report: FileReport) -> "HintIndex":
        hinted = sorted((e for e in report.explanations if e.pattern in HINTED), key=lambda e: e.span.end_line)
        shared: dict[tuple, list[int]] = {}
        for explanation in hinted:
            if explanation.pattern == "shared_module":
                shared.setdefault(_shared_key(explanation.facts), []).append(explanation.span.line)
        return cls([e.span.end_line for e in hinted], hinted, shared)


def _shared_key(facts: dict) -> tuple:
    return facts.get("name"), tuple(facts.get("positions") or ())


def inlay_hints(view: View, request: lsp.Range, kinds: InlayHintKinds, locale: str) -> list[lsp.InlayHint]:
    hints: list[lsp.InlayHint] = []
    index = view.snapshot.hint_index
    bounds = view.map.old_bounds(request.start.line, request.end.line)
    if bounds is None:
        return hints
    first = bisect.bisect_left(index.end_lines, bounds[0] + 1)
    last = bisect.bisect_right(index.end_lines, bounds[1] + 1)
    for explanation in index.explanations[first:last]:
        label = None
        facts = explanation.facts
        if explanation.pattern == "module" and kinds.parameters and "param_count" in facts:
            label = _parameter_label(facts, locale)
        elif explanation.pattern == "forward" and kinds.forward_shapes and facts.get("output_shape") is not None:
            label = "→ [" + ", ".join(str(d) for d in facts["output_shape"]) + "]"
        elif explanation.pattern == "shared_module" and kinds.shared_layers:
            others = [line for line in index.shared_lines.get(_shared_key(facts), [])
                      if line != explanation.span.line]
            if others:
                notebook = view.snapshot.report.notebook
                label = t(locale, "shared with {places}",
                          places=places(locale, others, notebook.program if notebook is not None else None))
        if label is None:
            continue
        where = view.range(explanation.span)
        if where is None or not (request.start.line <= where.end.line <= request.end.line):
            continue
        hints.append(lsp.InlayHint(position=where.end, label=label, kind=lsp.InlayHintKind.Type, padding_left=True))
    return hints


def _parameter_label(facts: dict, locale: str) -> str | None:
    count = facts["param_count"]
    if not count:
        return None
    params = facts.get("parameters") or []
    terms = ["×".join(str(d) for d in shape) if shape else "1" for _, shape in params] if not facts.get("children") \
        else []
    total = t(locale, "{count:,} params", count=count)
    if facts.get("param_count_with_duplicates", count) != count:
        total += t(locale, " ({count:,} counting shared twice)", count=facts["param_count_with_duplicates"])
    if terms and len(terms) <= 4:
        return " + ".join(terms) + " = " + total
    return total


def code_actions(view: View, uri: str, request: lsp.Range, locale: str) -> list[lsp.CodeAction]:
    actions = []
    for diagnostic in view.snapshot.report.diagnostics:
        if diagnostic.fix is None:
            continue
        where = view.range(diagnostic.span)
        fix_range = view.range(diagnostic.fix.span)
        if where is None or fix_range is None:
            continue
        if where.end.line < request.start.line or where.start.line > request.end.line:
            continue
        lsp_diagnostic = lsp.Diagnostic(range=where, message=diagnostic.message,
                                        severity=SEVERITY.get(diagnostic.severity), code=diagnostic.code,
                                        source="paramlens")
        actions.append(lsp.CodeAction(
            title=diagnostic.fix.title, kind=lsp.CodeActionKind.QuickFix, diagnostics=[lsp_diagnostic],
            is_preferred=True,
            edit=lsp.WorkspaceEdit(changes={uri: [lsp.TextEdit(range=fix_range, new_text=diagnostic.fix.replacement)]})))
    return actions


BUILD_EXAMPLE = "paramlens.buildExample"    # [uri, factory name]: build that factory as the example
CHOOSE_EXAMPLE = "paramlens.chooseExample"  # [uri]: offer the file's factories to choose from
CHOICES = 8  # factories offered at once by CHOOSE_EXAMPLE (the lens above every factory offers each one)


def code_lenses(view: View, locale: str, uri: str = "") -> list[lsp.CodeLens]:
    lenses = []
    report = view.snapshot.report
    for factory in report.factories:
        line = view.map.to_new(factory.line - 1)
        if line is None:
            continue
        here = lsp.Range(lsp.Position(line, 0), lsp.Position(line, 0))
        if factory.built:
            title = t(locale, "built as the example: {name} ▾", name=factory.name)
            command = lsp.Command(title=title, command=CHOOSE_EXAMPLE, arguments=[uri])
        else:
            title = t(locale, "build as the example")
            command = lsp.Command(title=title, command=BUILD_EXAMPLE, arguments=[uri, factory.name])
        lenses.append(lsp.CodeLens(range=here, command=command))
    for module in report.modules:
        line = view.map.to_new(module.line - 1)
        if line is None:
            continue
        title = t(locale, "{name}: {cls}, {count:,} parameters", name=module.name, cls=module.class_name,
                  count=module.param_count)
        if module.param_count_with_duplicates != module.param_count:
            title += t(locale, " ({count:,} counting shared ones at every place)",
                       count=module.param_count_with_duplicates)
        lenses.append(lsp.CodeLens(range=lsp.Range(lsp.Position(line, 0), lsp.Position(line, 0)),
                                   command=lsp.Command(title=title, command="")))
    for explanation in report.explanations:
        if explanation.pattern != "module_class" or not explanation.facts.get("instances"):
            continue
        line = view.map.to_new(explanation.span.line - 1)
        if line is None:
            continue
        counts = sorted({i["param_count"] for i in explanation.facts["instances"]})
        shown = " / ".join(f"{c:,}" for c in counts)
        title = t(locale, "{name}: {shown} parameters per instance", name=explanation.facts["name"], shown=shown)
        lenses.append(lsp.CodeLens(range=lsp.Range(lsp.Position(line, 0), lsp.Position(line, 0)),
                                   command=lsp.Command(title=title, command="")))
    return lenses

"""Terminal rendering of reports: compact, coloured when writing to a terminal (and NO_COLOR is unset)."""

from __future__ import annotations

import os
from typing import TextIO

from paramlens.explain.places import place
from paramlens.messages import t
from paramlens.report import FileReport

SEVERITY_COLOURS = {"error": "31", "warning": "33", "information": "36", "hint": "2"}


class Style:
    def __init__(self, stream: TextIO) -> None:
        self.enabled = stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text


def position(report: FileReport, line: int, column: int | None = None) -> str:
    """`LINE:COL` in a file, `CELL:LINE:COL` in a notebook (as `paramlens explain` takes them)."""
    notebook = report.notebook
    where = notebook.to_cell(line) if notebook is not None and notebook.relative else None
    text = f"{where[0]}:{where[1]}" if where else f"{line}"
    return text if column is None else f"{text}:{column}"


def render_file(report: FileReport, locale: str, style: Style, with_explanations: bool = False) -> str:
    lines: list[str] = []
    program = report.notebook.program if report.notebook is not None else None
    execution = report.execution
    status = execution.status
    head = style(report.path, "1")
    if status in {"ok", "partial"}:
        head += "  " + t(locale, "ran in {seconds:.1f} s", seconds=execution.seconds)
        if status == "partial":
            head += style(t(locale, " (partial)"), "33")
        if execution.seed is not None:
            head += style(t(locale, "  seed {seed}", seed=execution.seed), "2")
    else:
        head += "  " + style(f"{status}: {execution.message}", "33" if status == "skipped" else "31")
    lines.append(head)
    if status in {"ok", "partial"} and execution.message:
        lines.append(style(f"  {execution.message}", "33"))
    if execution.isolation:
        lines.append(style(t(locale, "  sandbox: ") + ", ".join(execution.isolation), "2"))
    for skipped in execution.skipped:
        lines.append(style(t(locale, "  {place}: not run, {reason}", place=place(locale, skipped.line, program),
                             reason=skipped.reason), "2"))
    if report.modules:
        lines.append(style(t(locale, "  modules"), "1"))
        width = max(len(m.name) for m in report.modules)
        for module in report.modules:
            text = t(locale, "    {name}  {place} {cls:<12} {count:,} params", name=module.name.ljust(width),
                     place=place(locale, module.line, program).ljust(9), cls=module.class_name,
                     count=module.param_count)
            if module.param_count_with_duplicates != module.param_count:
                text += t(locale, " ({param_count_with_duplicates:,} counting shared ones at every place)", param_count_with_duplicates=module.param_count_with_duplicates)
            if module.origin == "example":
                text += style(t(locale, "  (built as an example: the file never creates one)"), "2")
            if module.after_cut is not None:
                text += style(t(locale, "  (read after the shortened loop at {place})",
                                place=place(locale, module.after_cut, program)), "33")
            if module.tied:
                text += "  " + style(t(locale, "tied: ") + ", ".join("=".join(g) for g in module.tied), "36")
            lines.append(text)
    if report.factories:
        shown = [f"{f.name}()" + (t(locale, " (built)") if f.built else "") for f in report.factories[:12]]
        more = len(report.factories) - len(shown)
        text = t(locale, "  factories that need no arguments: {names}", names=", ".join(shown))
        if more > 0:
            text += t(locale, " and {more} more", more=more)
        lines.append(style(text, "2"))
        if not any(f.built for f in report.factories) or len(report.factories) > 1:
            lines.append(style(t(locale, "  build another with a comment `# paramlens: example NAME()` (or the code lens "
                                         "in the editor)"), "2"))
    if report.diagnostics:
        lines.append(style(t(locale, "  diagnostics"), "1"))
        for diagnostic in report.diagnostics:
            severity = style(diagnostic.severity, SEVERITY_COLOURS.get(diagnostic.severity, "0"))
            lines.append(f"    {report.path}:{position(report, diagnostic.span.line, diagnostic.span.column)}: {severity} "
                         f"{style(diagnostic.code, '1')} {diagnostic.message}")
    if with_explanations:
        for explanation in report.explanations:
            lines.append("")
            lines.append(style(f"── {report.path}:{position(report, explanation.span.line, explanation.span.column)} "
                               f"({explanation.pattern})", "35"))
            lines.append(explanation.markdown)
    elif report.explanations:
        where = t(locale, "CELL:LINE:COL") if report.notebook is not None and report.notebook.relative else \
            t(locale, "LINE:COL")
        lines.append(style(t(locale, "  {n_explanations} explanations; show one with `paramlens explain "
                             "{path}:{where}`, all with --explanations", n_explanations=len(report.explanations),
                             path=report.path, where=where), "2"))
    return "\n".join(lines)

"""Terminal rendering of reports: compact, coloured when writing to a terminal (and NO_COLOR is unset)."""

from __future__ import annotations

import os
from typing import TextIO

from paramlens.explain.i18n import tr
from paramlens.report import FileReport

SEVERITY_COLOURS = {"error": "31", "warning": "33", "information": "36", "hint": "2"}


class Style:
    def __init__(self, stream: TextIO) -> None:
        self.enabled = stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text


def render_file(report: FileReport, locale: str, style: Style, with_explanations: bool = False) -> str:
    lines: list[str] = []
    execution = report.execution
    status = execution.status
    head = style(report.path, "1")
    if status in {"ok", "partial"}:
        head += "  " + tr(locale, f"ran in {execution.seconds:.1f} s", f"运行耗时 {execution.seconds:.1f} 秒")
        if status == "partial":
            head += style(tr(locale, " (partial)", "（部分完成）"), "33")
        if execution.seed is not None:
            head += style(tr(locale, f"  seed {execution.seed}", f"  随机种子 {execution.seed}"), "2")
    else:
        head += "  " + style(f"{status}: {execution.message}", "33" if status == "skipped" else "31")
    lines.append(head)
    if status in {"ok", "partial"} and execution.message:
        lines.append(style(f"  {execution.message}", "33"))
    if execution.isolation:
        lines.append(style(tr(locale, "  sandbox: ", "  沙箱：") + ", ".join(execution.isolation), "2"))
    for skipped in execution.skipped:
        lines.append(style(tr(locale, f"  line {skipped.line}: not run, {skipped.reason}",
                              f"  第 {skipped.line} 行：未运行，{skipped.reason}"), "2"))
    if report.modules:
        lines.append(style(tr(locale, "  modules", "  模块"), "1"))
        width = max(len(m.name) for m in report.modules)
        for module in report.modules:
            text = tr(locale, f"    {module.name:<{width}}  line {module.line:<4} {module.class_name:<12} "
                              f"{module.param_count:,} params",
                      f"    {module.name:<{width}}  第 {module.line:<4} 行 {module.class_name:<12} {module.param_count:,} 个参数")
            if module.param_count_with_duplicates != module.param_count:
                text += tr(locale, f" ({module.param_count_with_duplicates:,} counting shared ones at every place)",
                           f"（共享的参数在每处都计数则为 {module.param_count_with_duplicates:,}）")
            if module.origin == "example":
                text += style(tr(locale, "  (built as an example: the file never creates one)",
                                 "  （作为示例构建：文件本身从未创建）"), "2")
            if module.after_cut is not None:
                text += style(tr(locale, f"  (read after the shortened loop at line {module.after_cut})",
                                 f"  （在第 {module.after_cut} 行缩短的循环之后读取）"), "33")
            if module.tied:
                text += "  " + style(tr(locale, "tied: ", "共享：") + ", ".join("=".join(g) for g in module.tied), "36")
            lines.append(text)
    if report.diagnostics:
        lines.append(style(tr(locale, "  diagnostics", "  诊断"), "1"))
        for diagnostic in report.diagnostics:
            severity = style(diagnostic.severity, SEVERITY_COLOURS.get(diagnostic.severity, "0"))
            lines.append(f"    {report.path}:{diagnostic.span.line}:{diagnostic.span.column}: {severity} "
                         f"{style(diagnostic.code, '1')} {diagnostic.message}")
    if with_explanations:
        for explanation in report.explanations:
            lines.append("")
            lines.append(style(f"── {report.path}:{explanation.span.line}:{explanation.span.column} "
                               f"({explanation.pattern})", "35"))
            lines.append(explanation.markdown)
    elif report.explanations:
        lines.append(style(tr(locale, f"  {len(report.explanations)} explanations; show one with "
                                      f"`paramlens explain {report.path}:LINE:COL`, all with --explanations",
                              f"  共 {len(report.explanations)} 条解释；用 `paramlens explain {report.path}:行:列` 查看一条，"
                              "用 --explanations 查看全部"), "2"))
    return "\n".join(lines)

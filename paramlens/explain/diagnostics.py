"""Diagnostics that come from running the file: a statement that raised (PL900), a run stopped by a limit or a
crash (PL901), and a file that does not parse (PL000). Rules about parameter mistakes live in `rules.py`."""

from __future__ import annotations

from paramlens.analyzers.instrument import Unit
from paramlens.analyzers.source import SourceSyntaxError
from paramlens.explain.i18n import tr
from paramlens.observations import Observations
from paramlens.report import Diagnostic, Span
from paramlens.sandbox.runner import RunResult

SYNTAX_ERROR = "PL000"
STATEMENT_RAISED = "PL900"
EXECUTION_STOPPED = "PL901"


def statement_span(unit: Unit) -> Span:
    return Span(unit.line, 1, unit.line, unit.first_line_length + 1)


def syntax_error_diagnostic(error: SourceSyntaxError, locale: str) -> Diagnostic:
    message = tr(locale, f"Syntax error: {error.message}. Nothing was analysed until it is fixed.",
                 f"语法错误：{error.message}。修正之前无法分析本文件。")
    return Diagnostic(Span(error.line, error.column, error.line, error.column + 1), SYNTAX_ERROR, "error", message)


def execution_diagnostics(run: RunResult, units: list[Unit], observations: Observations,
                          locale: str) -> list[Diagnostic]:
    diagnostics = []
    by_index = {unit.index: unit for unit in units}
    for index, statement in sorted(observations.statements.items()):
        if statement.get("status") != "error":
            continue
        unit = by_index[index]
        error = statement["error"]
        diagnostics.append(Diagnostic(statement_span(unit), STATEMENT_RAISED, "error",
                                      _raised_message(error, unit, locale)))
    if run.status != "ok":
        unit = by_index.get(run.running_index) if run.running_index is not None else None
        span = statement_span(unit) if unit else Span(1, 1, 1, 2)
        diagnostics.append(Diagnostic(span, EXECUTION_STOPPED, "error", _stopped_message(run, locale)))
    return diagnostics


def _raised_message(error: dict, unit: Unit, locale: str) -> str:
    text = f"{error['type']}: {error['message']}"
    where = ""
    if error.get("line") and error["line"] != unit.line:
        function = error.get("function")
        where = tr(locale, f" (raised at line {error['line']}" + (f", in `{function}`" if function else "") + ")",
                   f"（在第 {error['line']} 行" + (f"的 `{function}` 中" if function else "") + "抛出）")
    if error.get("memory"):
        return tr(locale, f"This statement ran out of memory: {text}{where}. Raise the limit with --memory-mb.",
                  f"此语句内存不足：{text}{where}。可用 --memory-mb 提高上限。")
    return tr(locale, f"This statement raised {text}{where}. Later statements still ran, like notebook cells.",
              f"此语句抛出异常 {text}{where}。后续语句仍照常运行（像 notebook 的单元格一样）。")


def _stopped_message(run: RunResult, locale: str) -> str:
    if run.status == "timeout":
        return tr(locale, f"Execution stopped here: {run.message}. Results up to this statement are shown; raise "
                          "the limit with --timeout if the code really needs longer.",
                  f"执行在此处停止：超过了时间上限（{run.seconds:.0f} 秒）。此前的结果仍然显示；如果代码确实需要更久，"
                  "可用 --timeout 提高上限。")
    if run.status == "memory":
        return tr(locale, f"Execution stopped here: {run.message}. Raise the limit with --memory-mb.",
                  "执行在此处停止：超过了内存上限。可用 --memory-mb 提高上限。")
    return tr(locale, f"Execution stopped here: {run.message}. Results up to this statement are shown.",
              f"执行在此处停止：运行代码的进程异常结束（{run.message}）。此前的结果仍然显示。")

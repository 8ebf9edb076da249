"""Diagnostics that come from running the file: a statement that raised (PL900), a run stopped by a limit or a
crash (PL901), an operation the sandbox refused (PL902), an import the interpreter could not satisfy (PL903),
an example ParamLens chose to build that failed (PL904), and a file that does not parse (PL000). Rules about parameter mistakes live in `rules.py`."""

from __future__ import annotations

import re

from paramlens.analyzers.instrument import Unit
from paramlens.analyzers.source import SourceSyntaxError
from paramlens.explain.i18n import tr
from paramlens.observations import Observations
from paramlens.report import Diagnostic, Span
from paramlens.sandbox.runner import RunResult

SYNTAX_ERROR = "PL000"
STATEMENT_RAISED = "PL900"
EXECUTION_STOPPED = "PL901"
SANDBOX_BLOCKED = "PL902"
IMPORT_FAILED = "PL903"
EXAMPLE_FAILED = "PL904"


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
        if _automatic_example(unit):
            # ParamLens chose these arguments, not the user: the file is not wrong because its defaults fail.
            # When the file's own construction of the class failed (reported at its line, e.g. blocked by the
            # sandbox), the file does create one: nothing to add, and "the file never creates" would be false.
            if _own_construction_failed(unit, units, observations):
                continue
            diagnostics.append(Diagnostic(statement_span(unit), EXAMPLE_FAILED, "information",
                                          example_failed_message(error, unit, locale)))
            continue
        if error.get("blocked"):
            diagnostics.append(Diagnostic(statement_span(unit), SANDBOX_BLOCKED, "error",
                                          blocked_message(error, locale)))
            continue
        if error.get("import") or unit.is_import:
            # the environment lacks something, the code is not wrong: say so without calling it an error
            diagnostics.append(Diagnostic(statement_span(unit), IMPORT_FAILED, "information",
                                          import_failed_message(error, run, locale)))
            continue
        diagnostics.append(Diagnostic(statement_span(unit), STATEMENT_RAISED, "error",
                                      _raised_message(error, unit, locale)))
    if run.status != "ok" and run.fault == "worker":
        # the sandbox failed twice, not the user's code: information about the document, at its start
        diagnostics.append(Diagnostic(Span(1, 1, 1, 1), EXECUTION_STOPPED, "information", tr(
            locale, f"ParamLens' sandbox worker failed twice ({run.message}); this is not a fault of this file. "
                    "What was observed before is shown; the next edit or save tries again.",
            f"ParamLens 的沙箱工作进程连续两次失败（{run.message}）；这不是本文件的问题。已显示此前观察到的结果；"
            "下次编辑或保存时会再试。")))
    elif run.status != "ok":
        unit = by_index.get(run.running_index) if run.running_index is not None else None
        span = statement_span(unit) if unit else Span(1, 1, 1, 2)
        message, severity = _stopped_message(run, locale), "error"
        if unit is not None and _automatic_example(unit):
            message += tr(locale, f" (while building `{unit.example.expression}`, an example ParamLens chose)",
                          f"（发生在构建 ParamLens 自选的示例 `{unit.example.expression}` 时）")
            severity = "information"
        diagnostics.append(Diagnostic(span, EXECUTION_STOPPED, severity, message))
    return diagnostics


def _own_construction_failed(example: Unit, units: list[Unit], observations: Observations) -> bool:
    """Whether a statement of the file itself that calls the example's class failed."""
    assert example.example is not None
    call = re.compile(rf"\b{re.escape(example.example.class_name)}\s*\(")
    return any(unit.example is None and call.search(unit.code) and
               (observations.statements.get(unit.index) or {}).get("status") == "error" for unit in units)


def _automatic_example(unit: Unit) -> bool:
    return unit.example is not None and not unit.example.directive


def example_failed_message(error: dict, unit: Unit, locale: str) -> str:
    assert unit.example is not None
    expression = unit.example.expression
    text = f"{error['type']}: {error['message']}"
    if error.get("line"):
        function = error.get("function")
        text += tr(locale, f" (at line {error['line']}" + (f", in `{function}`" if function else "") + ")",
                   f"（第 {error['line']} 行" + (f"，`{function}` 中" if function else "") + "）")
    name = unit.example.class_name
    return tr(locale, f"The file never creates a `{name}`, so ParamLens tried `{expression}` as an example; that "
                      f"raised {text}, and `{name}` is not shown. The file is not wrong for this; to see it, choose "
                      f"arguments that work with a comment `# paramlens: example {name}(...)`.",
              f"文件中从未创建 `{name}`，ParamLens 尝试以 `{expression}` 作为示例构建，但抛出了 {text}，因此没有显示 "
              f"`{name}`。这并不说明文件有错；若要查看，请用注释 `# paramlens: example {name}(...)` 指定可用的参数。")


def import_failed_message(error: dict, run: RunResult, locale: str) -> str:
    text = f"{error['type']}: {error['message']}"
    python = run.python or "python"
    module = error.get("module")
    if error["message"].startswith("attempted relative import"):
        return tr(locale, f"This import could not run: {text}. The file is not inside a package (no `__init__.py` "
                          "next to it), so ParamLens ran it as a loose script; what depends on this import was "
                          "not built.",
                  f"此导入无法执行：{text}。该文件不在包内（同目录下没有 `__init__.py`），ParamLens 只能把它当作独立脚本"
                  "运行；依赖这条导入的内容没有被构建。")
    if error["type"] == "ModuleNotFoundError" and module:
        top = module.split(".")[0]
        return tr(locale, f"`{module}` is not installed in the interpreter that runs your code ({python}), so "
                          f"what depends on this import was not built. Install it there (`{python} -m pip install "
                          f"{top}`) or set the interpreter ParamLens uses to the environment that has it.",
                  f"运行代码的解释器（{python}）中没有安装 `{module}`，依赖这条导入的内容没有被构建。请在该解释器中安装"
                  f"（`{python} -m pip install {top}`），或把 ParamLens 使用的解释器设为装有它的环境。")
    if not error.get("import"):
        # the imported module's own code raised while it was being imported
        where = error.get("raised_in")
        return tr(locale, f"Importing this raised {text}" + (f" in {where}" if where else "") + f", in the "
                          f"interpreter that runs your code ({python}). The failure is in the imported code or its "
                          "installation (e.g. a compiled extension built for another torch version), not in this "
                          "file; what depends on this import was not built.",
                  f"导入时抛出 {text}" + (f"（位于 {where}）" if where else "") + f"，解释器为 {python}。问题出在被导入的"
                  "代码或其安装（例如为另一个 torch 版本编译的扩展），而不在本文件；依赖这条导入的内容没有被构建。")
    return tr(locale, f"This import failed in the interpreter that runs your code ({python}): {text}. What depends "
                      "on it was not built; the installed version may differ from the one the code expects.",
              f"此导入在运行代码的解释器（{python}）中失败：{text}。依赖它的内容没有被构建；已安装的版本可能与代码期望的"
              "不同。")


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


_BLOCKED_KINDS = {
    "network": ("network access", "网络访问", "the code runs without network: no sockets, no DNS, no TCP",
                "代码在无网络的环境中运行：不能创建套接字、不能解析域名、不能建立 TCP 连接"),
    "process": ("starting a program or a process", "启动程序或进程",
                "the code may not run other programs or create processes (threads are fine)",
                "代码不能运行其他程序或创建进程（线程可以）"),
    "file-write": ("writing a file", "写文件",
                   "only the run's private temporary directory (the working directory) is writable",
                   "只有本次运行的私有临时目录（即工作目录）可写"),
    "file-read": ("reading a file", "读文件",
                  "only the system, the Python environment and the file's own directory are readable",
                  "只能读取系统目录、Python 环境和该文件所在的目录"),
    "signal": ("sending a signal", "发送信号", "the code may signal only its own process",
               "代码只能向自身进程发送信号"),
    "other": ("an operation", "一个操作", "the sandbox refuses operations that could reach outside the run",
              "沙箱拒绝可能影响运行环境之外的操作"),
}


def blocked_message(error: dict, locale: str) -> str:
    """What the sandbox refused at this statement and why, with the exception the code saw."""
    blocked = error["blocked"]
    what_en, what_zh, why_en, why_zh = _BLOCKED_KINDS.get(blocked.get("kind"), _BLOCKED_KINDS["other"])
    detail = blocked.get("operation") or ""
    if blocked.get("target"):
        detail += f" {blocked['target']}"
    detail = f" (`{detail.strip()}`)" if detail.strip() else ""
    seen = f"{error['type']}: {error['message']}"
    return tr(locale, f"The sandbox blocked {what_en}{detail}: {why_en}. The code saw {seen}; the other statements "
                      "still ran.",
              f"沙箱阻止了{what_zh}{detail}：{why_zh}。代码收到了 {seen}；其他语句仍照常运行。")

"""Diagnostics that come from running the file: a statement that raised (PL900), a run stopped by a limit or a
crash (PL901), an operation the sandbox refused (PL902), an import the interpreter could not satisfy (PL903),
an example ParamLens chose to build that failed (PL904), a loop the loop budget shortened (PL905), and a file that
does not parse (PL000). Rules about parameter mistakes live in `rules.py`.

Only PL900 and PL901 can be errors, and only for what the user's code did: a refusal of the sandbox, a shortened
loop, or an exception raised after a loop was shortened (a `losses[999]` after a loop that ran 3 times) is the
run's doing, so it is information at the line where it happened."""

from __future__ import annotations

import re

from paramlens.analyzers.instrument import Unit
from paramlens.analyzers.source import SourceSyntaxError
from paramlens.explain.i18n import tr
from paramlens.observations import Observations
from paramlens.report import Diagnostic, Span
from paramlens.sandbox.protocol import RunResult

SYNTAX_ERROR = "PL000"
STATEMENT_RAISED = "PL900"
EXECUTION_STOPPED = "PL901"
SANDBOX_BLOCKED = "PL902"
IMPORT_FAILED = "PL903"
EXAMPLE_FAILED = "PL904"
LOOP_SHORTENED = "PL905"


def statement_span(unit: Unit) -> Span:
    return Span(unit.line, 1, unit.line, unit.first_line_length + 1)


def syntax_error_diagnostic(error: SourceSyntaxError, locale: str) -> Diagnostic:
    message = tr(locale, f"Syntax error: {error.message}. Nothing was analysed until it is fixed.",
                 f"语法错误：{error.message}。修正之前无法分析本文件。")
    return Diagnostic(Span(error.line, error.column, error.line, error.column + 1), SYNTAX_ERROR, "error", message)


def line_span(lines: list[str], line: int) -> Span:
    """The code on one line of the file (from its first non-blank character to its end)."""
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    start = len(text) - len(text.lstrip()) + 1
    return Span(line, start, line, max(len(text.rstrip()) + 1, start + 1))


def execution_diagnostics(run: RunResult, units: list[Unit], observations: Observations, locale: str,
                          source: str = "") -> list[Diagnostic]:
    diagnostics = []
    lines = source.splitlines()
    by_index = {unit.index: unit for unit in units}
    refused_lines: set[int] = set()
    for refusal in observations.refusals:
        line = refusal.get("line")
        if line is None or line in refused_lines:
            continue
        refused_lines.add(line)
        diagnostics.append(Diagnostic(line_span(lines, line), SANDBOX_BLOCKED, "information",
                                      refused_message(refusal, locale)))
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
            line = error.get("line") or unit.line
            if line not in refused_lines:  # already said where the operation was attempted
                refused_lines.add(line)
                span = line_span(lines, line) if lines else statement_span(unit)
                diagnostics.append(Diagnostic(span, SANDBOX_BLOCKED, "information", blocked_message(error, locale)))
            continue
        if error.get("import") or unit.is_import:
            # the environment lacks something, the code is not wrong: say so without calling it an error
            diagnostics.append(Diagnostic(statement_span(unit), IMPORT_FAILED, "information",
                                          import_failed_message(error, run, locale)))
            continue
        if error.get("meta_value"):
            diagnostics.append(Diagnostic(statement_span(unit), STATEMENT_RAISED, "information",
                                          _meta_value_message(error, unit, locale)))
            continue
        refused = [r for r in observations.refusals if r.get("statement") == index and r.get("line")]
        if refused:
            # the statement went on after the sandbox refused something and then failed: most likely because of it
            diagnostics.append(Diagnostic(statement_span(unit), STATEMENT_RAISED, "information",
                                          _raised_after_refusal_message(error, refused[0], locale)))
            continue
        if statement.get("after_cut"):
            # the program's state was not its own any more: the exception may be the shortened loop's doing
            diagnostics.append(Diagnostic(statement_span(unit), STATEMENT_RAISED, "information",
                                          _raised_after_cut_message(error, unit, statement["after_cut"], locale)))
            continue
        diagnostics.append(Diagnostic(statement_span(unit), STATEMENT_RAISED, "error",
                                      _raised_message(error, unit, locale)))
    for cut in observations.cuts.values():
        diagnostics.append(Diagnostic(line_span(lines, cut["line"]) if lines else Span(cut["line"], 1, cut["line"], 2),
                                      LOOP_SHORTENED, "information", loop_shortened_message(cut, locale)))
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


def loop_shortened_message(cut: dict, locale: str) -> str:
    iterations = cut["iterations"]
    of = cut.get("of")
    ran_en = f"{iterations:,} of {of:,} iterations" if of is not None else f"{iterations:,} iterations"
    ran_zh = f"{of:,} 次迭代中的 {iterations:,} 次" if of is not None else f"{iterations:,} 次迭代"
    seconds = cut.get("seconds", 0.0)
    times_cut = cut.get("times", 1)
    again_en = f" It was entered and shortened {times_cut} times in all." if times_cut > 1 else ""
    again_zh = f"该循环共被进入并缩短了 {times_cut} 次。" if times_cut > 1 else ""
    return tr(locale, f"The loop budget ended this loop after {ran_en} ({seconds:.2f} s), the way it ends normally; "
                      f"the rest would have taken too long to run here.{again_en} Every value observed after it is "
                      "labelled as observed after a shortened loop. Change the budget with --loop-iterations / "
                      "--loop-seconds.",
              f"循环预算在 {ran_zh}（{seconds:.2f} 秒）之后结束了这个循环，结束方式与循环正常结束相同；其余部分在这里运行会"
              f"太久。{again_zh}在它之后观测到的每个数值都标注为“在缩短的循环之后观测”。可用 --loop-iterations / "
              "--loop-seconds 调整预算。")


def _meta_value_message(error: dict, unit: Unit, locale: str) -> str:
    text = f"{error['type']}: {error['message']}"
    inside = error.get("line") and error["line"] != unit.line
    where = f" (at line {error['line']})" if inside else ""
    where_zh = f"（在第 {error['line']} 行）" if inside else ""
    return tr(locale, f"This statement reads a tensor's value{where}, and the model was built on the meta device "
                      f"(too large to materialise), where tensors have shapes but no values: {text}. Outside "
                      "ParamLens this line reads real values.",
              f"此语句读取了张量的数值{where_zh}，而模型是在 meta 设备上构建的（太大，无法实际分配），那里的张量只有形状没有数值："
              f"{text}。在 ParamLens 之外运行时，这一行读取的是真实数值。")


def _raised_after_refusal_message(error: dict, refusal: dict, locale: str) -> str:
    text = f"{error['type']}: {error['message']}"
    return tr(locale, f"This statement raised {text} after the sandbox refused an operation at line "
                      f"{refusal['line']}; outside the sandbox that operation may succeed and this may not happen.",
              f"此语句在沙箱于第 {refusal['line']} 行拒绝了一个操作之后抛出了 {text}；在沙箱之外该操作可能成功，这个异常也可能"
              "不会发生。")


def _raised_after_cut_message(error: dict, unit: Unit, cut: dict, locale: str) -> str:
    text = f"{error['type']}: {error['message']}"
    return tr(locale, f"This statement raised {text}, after the loop at line {cut['line']} was shortened by the loop "
                      "budget: the program's state here is not the one a full run reaches, so the full run may not "
                      "raise it.",
              f"此语句抛出了 {text}，发生在第 {cut['line']} 行的循环被循环预算缩短之后：此时程序的状态与完整运行时不同，"
              "完整运行时未必会抛出这个异常。")


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


def refused_message(refusal: dict, locale: str) -> str:
    """An operation the sandbox refused as the code attempted it (reported even if the code caught the error)."""
    if refusal.get("kind") == "input":
        return tr(locale, "`input()` read end-of-file: nobody can type into a ParamLens run, so the program got "
                          "`EOFError` (or an empty answer) here, as with `python file.py < /dev/null`.",
                  "`input()` 读到了文件结尾：ParamLens 的运行中没有人能输入，所以程序在这里得到 `EOFError`（或空输入），"
                  "与 `python file.py < /dev/null` 相同。")
    what_en, what_zh, why_en, why_zh = _BLOCKED_KINDS.get(refusal.get("kind"), _BLOCKED_KINDS["other"])
    detail_en, detail_zh = _operation(refusal)
    return tr(locale, f"The sandbox refused {what_en} here{detail_en}: {why_en}. From here on the program ran as it "
                      "does offline; what depended on it may be missing.",
              f"沙箱在这里拒绝了{what_zh}{detail_zh}：{why_zh}。从这里开始，程序按离线时的方式运行；依赖它的内容可能缺失。")


def blocked_message(error: dict, locale: str) -> str:
    """What the sandbox refused at this statement and why, with the exception the code saw."""
    blocked = error["blocked"]
    what_en, what_zh, why_en, why_zh = _BLOCKED_KINDS.get(blocked.get("kind"), _BLOCKED_KINDS["other"])
    detail_en, detail_zh = _operation(blocked)
    seen = f"{error['type']}: {error['message']}"
    if blocked.get("kind") == "input":
        return tr(locale, f"`input()` read end-of-file (nobody can type into a ParamLens run), so the code saw "
                          f"{seen}, as with `python file.py < /dev/null`; the other statements still ran.",
                  f"`input()` 读到了文件结尾（ParamLens 的运行中没有人能输入），因此代码收到了 {seen}，与 "
                  "`python file.py < /dev/null` 相同；其他语句仍照常运行。")
    return tr(locale, f"The sandbox refused {what_en}{detail_en}: {why_en}. The code saw {seen}; the other statements "
                      "still ran.",
              f"沙箱拒绝了{what_zh}{detail_zh}：{why_zh}。代码收到了 {seen}；其他语句仍照常运行。")


def _operation(attempt: dict) -> tuple[str, str]:
    """` (`socket.getaddrinfo('example.com', 80)`)` in English, `（…）` in Chinese, or nothing."""
    operation = attempt.get("operation") or ""
    target = attempt.get("target") or ""
    if not operation and not target:
        return "", ""
    text = f"{operation}({target})" if operation and not operation.startswith("open") else \
        f"{operation} {target}".strip()
    return f" (`{text}`)", f"（`{text}`）"

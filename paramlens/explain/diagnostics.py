"""Diagnostics that come from running the file: a statement that raised (PL900), a run stopped by a limit or a
crash (PL901), an operation the sandbox refused (PL902), an import the interpreter could not satisfy (PL903),
an example ParamLens chose to build that failed (PL904), a loop the loop budget shortened (PL905), and a file that
does not parse (PL000). Rules about parameter mistakes live in `rules.py`.

Only PL900 and PL901 can be errors, and only for what the user's code did: a refusal of the sandbox, a shortened
loop, or an exception raised after a loop was shortened (a `losses[999]` after a loop that ran 3 times) is the
run's doing, so it is information at the line where it happened."""

from __future__ import annotations

import ast
import re

from paramlens.analyzers.instrument import Unit
from paramlens.analyzers.source import SourceSyntaxError
from paramlens.messages import message_id, t
from paramlens.explain.places import place
from paramlens.observations import Observations
from paramlens.report import Diagnostic, Span
from paramlens.sandbox.protocol import Event, RunResult

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
    message = t(locale, "Syntax error: {error}. Nothing was analysed until it is fixed.", error=error.message)
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
                                          example_failed_message(error, unit, locale,
                                                                 observations.examples.get(unit.index))))
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
                                          import_failed_message(error, run, locale, unit)))
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
        diagnostics.append(Diagnostic(Span(1, 1, 1, 1), EXECUTION_STOPPED, "information", t(
            locale, "ParamLens' sandbox worker failed twice ({detail}); this is not a fault of this file. What was "
                    "observed before is shown; the next edit or save tries again.",
            detail=run.reason_facts.get("detail") or run.message)))
    elif run.status != "ok":
        unit = by_index.get(run.running_index) if run.running_index is not None else None
        span = statement_span(unit) if unit else Span(1, 1, 1, 2)
        message, severity = _stopped_message(run, locale), "error"
        if unit is not None and _automatic_example(unit):
            decision = observations.examples.get(unit.index) or {}
            message += t(locale, " (while building `{expression}`, an example ParamLens chose)",
                         expression=decision.get("expression") or unit.example.expression)
            severity = "information"
        diagnostics.append(Diagnostic(span, EXECUTION_STOPPED, severity, message))
    return diagnostics


def _own_construction_failed(example: Unit, units: list[Unit], observations: Observations) -> bool:
    """Whether a statement of the file itself that calls the example's class failed."""
    assert example.example is not None
    if not example.example.class_name:
        return False
    call = re.compile(rf"\b{re.escape(example.example.class_name)}\s*\(")
    return any(unit.example is None and call.search(unit.code) and
               (observations.statements.get(unit.index) or {}).get("status") == "error" for unit in units)


def loop_shortened_message(cut: dict, locale: str) -> str:
    iterations = cut["iterations"]
    of = cut.get("of")
    ran = t(locale, "{iterations:,} of {of:,} iterations", iterations=iterations, of=of) if of is not None else \
        t(locale, "{iterations:,} iterations", iterations=iterations)
    times_cut = cut.get("times", 1)
    again = t(locale, " It was entered and shortened {times} times in all.", times=times_cut) if times_cut > 1 else ""
    return t(locale, "The loop budget ended this loop after {ran} ({seconds:.2f} s), the way it ends normally; the rest "
                     "would have taken too long to run here.{again} Every value observed after it is labelled as "
                     "observed after a shortened loop. Change the budget with --loop-iterations / --loop-seconds.",
             ran=ran, seconds=cut.get("seconds", 0.0), again=again)


def _meta_value_message(error: dict, unit: Unit, locale: str) -> str:
    text = f"{error['type']}: {error['message']}"
    inside = error.get("line") and error["line"] != unit.line
    where = t(locale, " (at {place})", place=place(locale, error["line"])) if inside else ""
    return t(locale, "This statement reads a tensor's value{where}, and the model was built on the meta device (too "
                     "large to materialise), where tensors have shapes but no values: {text}. Outside ParamLens this "
                     "line reads real values.", where=where, text=text)


def _raised_after_refusal_message(error: dict, refusal: dict, locale: str) -> str:
    text = f"{error['type']}: {error['message']}"
    return t(locale, "This statement raised {text} after the sandbox refused an operation at {place}; outside the "
             "sandbox that operation may succeed and this may not happen.", text=text, place=place(locale, refusal['line']))


def _raised_after_cut_message(error: dict, unit: Unit, cut: dict, locale: str) -> str:
    text = f"{error['type']}: {error['message']}"
    return t(locale, "This statement raised {text}, after the loop at {place} was shortened by the loop budget: the "
             "program's state here is not the one a full run reaches, so the full run may not raise it.", text=text, place=place(locale, cut['line']))


def _automatic_example(unit: Unit) -> bool:
    """An example whose arguments ParamLens chose (by default, or from the editor's list of factories), not one
    the file's own `# paramlens: example` comment wrote."""
    return unit.example is not None and (not unit.example.directive or unit.example.chosen == "editor")


def example_failed_message(error: dict, unit: Unit, locale: str, decision: dict | None = None) -> str:
    assert unit.example is not None
    decision = decision or {}
    expression = decision.get("expression") or unit.example.expression
    text = f"{error['type']}: {error['message']}"
    if error.get("line"):
        function = error.get("function")
        text += t(locale, " (at {place}, in `{function}`)", place=place(locale, error["line"]), function=function) if function \
            else t(locale, " (at {place})", place=place(locale, error["line"]))
    name = decision.get("class") or unit.example.class_name or expression.split("(")[0]
    return t(locale, "The file never creates a `{name}`, so ParamLens tried `{expression}` as an example; that raised "
             "{text}, and `{name}` is not shown. The file is not wrong for this; to see it, choose arguments "
             "that work with a comment `# paramlens: example {name}(...)`.", name=name, expression=expression, text=text)


def _relative_import(error: dict, run: RunResult, unit: Unit | None) -> tuple[int, str | None, str] | None:
    """(level, the module the file ran as or None for a loose script, its `__package__`) when the failed statement is a relative
    import (`from ..x import y`), else None. Python refuses a relative import in a file that runs with no package,
    and one that climbs above the top-level package; both are decided from the statement and from how the file ran
    (the start event names the module a file of a package runs as), not from the message."""
    if error["type"] != "ImportError" or unit is None:
        return None
    try:
        statements = ast.parse(unit.code).body
    except SyntaxError:
        return None
    if not (statements and isinstance(statements[0], ast.ImportFrom) and statements[0].level > 0):
        return None
    start = next((event for event in run.events if event.get("t") == Event.START), {})
    return statements[0].level, start.get("module") or None, start.get("package") or ""


def import_failed_message(error: dict, run: RunResult, locale: str, unit: Unit | None = None) -> str:
    text = f"{error['type']}: {error['message']}"
    python = run.python or "python"
    module = error.get("module")
    relative = _relative_import(error, run, unit)
    if relative is not None and relative[1] is None:
        return t(locale, "This import could not run: {text}. The file is not inside a package (no `__init__.py` next to "
                 "it), so ParamLens ran it as a loose script; what depends on this import was not built.", text=text)
    if relative is not None and relative[2] and relative[0] > len(relative[2].split(".")):
        top = relative[2].split(".")[0]
        return t(locale, "This relative import climbs {level} levels up from `{module}`, above its top-level package "
                         "`{top}`, so Python refuses it: {text}. What depends on it was not built.",
                 level=relative[0], module=relative[1], top=top, text=text)
    if error["type"] == "ModuleNotFoundError" and module:
        top = module.split(".")[0]
        return t(locale, "`{module}` is not installed in the interpreter that runs your code ({python}), so what depends "
                 "on this import was not built. Install it there (`{python} -m pip install {top}`) or set the "
                 "interpreter ParamLens uses to the environment that has it.", module=module, python=python, top=top)
    if not error.get("import"):
        # the imported module's own code raised while it was being imported
        where = error.get("raised_in")
        inside = t(locale, " in {where}", where=where) if where else ""
        return t(locale, "Importing this raised {text}{place}, in the interpreter that runs your code ({python}). The "
                         "failure is in the imported code or its installation (e.g. a compiled extension built for "
                         "another torch version), not in this file; what depends on this import was not built.",
                 text=text, place=inside, python=python)
    return t(locale, "This import failed in the interpreter that runs your code ({python}): {text}. What depends on it "
             "was not built; the installed version may differ from the one the code expects.", python=python, text=text)


def _raised_message(error: dict, unit: Unit, locale: str) -> str:
    text = f"{error['type']}: {error['message']}"
    where = ""
    if error.get("line") and error["line"] != unit.line:
        function = error.get("function")
        where = t(locale, " (raised at {place}, in `{function}`)", place=place(locale, error["line"]), function=function) \
            if function else t(locale, " (raised at {place})", place=place(locale, error["line"]))
    if error.get("memory"):
        return t(locale, "This statement ran out of memory: {text}{where}. Raise the limit with --memory-mb.", text=text, where=where)
    return t(locale, "This statement raised {text}{where}. Later statements still ran, like notebook cells.", text=text, where=where)


def _stopped_message(run: RunResult, locale: str) -> str:
    why = run_ending_text(run, locale)
    if run.status == "timeout":
        return t(locale, "Execution stopped here: {why}. Results up to this statement are shown; raise the limit with "
                         "--timeout if the code really needs longer.", why=why)
    if run.status == "memory":
        return t(locale, "Execution stopped here: {why}. Raise the limit with --memory-mb.", why=why)
    return t(locale, "Execution stopped here: {why}. Results up to this statement are shown.", why=why)


def run_ending_text(run: RunResult, locale: str) -> str:
    """Why a run ended early, in words, from the facts the executor recorded (not from its English message)."""
    facts = run.reason_facts
    texts = {
        "timeout": lambda: t(locale, "it ran for {seconds:g} s, the time limit", seconds=facts.get("seconds", 0)),
        "cpu": lambda: t(locale, "it used {seconds:g} s of CPU time, the limit", seconds=facts.get("seconds", 0)),
        "memory": lambda: t(locale, "the code needed more than {mb} MB of memory, the limit", mb=facts.get("mb")),
        "output": lambda: t(locale, "the code produced more than {mb} MB of results", mb=facts.get("mb")),
        "disk": lambda: t(locale, "the code wrote more than {mb} MB (or {files:,} files) to its temporary directory",
                          mb=facts.get("mb"), files=facts.get("files", 0)),
        "signal": lambda: t(locale, "the process running the code was killed by {signal}", signal=facts.get("signal")),
        "exited": lambda: t(locale, "the process running the code ended early: {detail}", detail=facts.get("detail")),
        "cancelled": lambda: t(locale, "cancelled: a newer version of the file is being analysed"),
        "refused": lambda: t(locale, "the sandbox could not be set up, nothing was run: {detail}",
                             detail=facts.get("detail")),
        "worker": lambda: t(locale, "the sandbox worker stopped ({detail}); results up to this point are shown",
                            detail=facts.get("detail")),
    }
    render = texts.get(run.reason or "")
    return render() if render else (run.message or "")


# what the sandbox refused, and why it refuses it, per kind of operation (English message ids; see zh_CN.po)
_BLOCKED_KINDS = {
    "network": (message_id("network access"),
                message_id("the code runs without network: no sockets, no DNS, no TCP")),
    "process": (message_id("starting a program or a process"),
                message_id("the code may not run other programs or create processes (threads are fine)")),
    "file-write": (message_id("writing a file"),
                   message_id("only the run's private temporary directory (the working directory) is writable")),
    "file-read": (message_id("reading a file"),
                  message_id("only the system, the Python environment and the file's own directory are readable")),
    "signal": (message_id("sending a signal"),
               message_id("the code may signal only its own process")),
    "other": (message_id("an operation"),
              message_id("the sandbox refuses operations that could reach outside the run")),
}


def _refused_kind(kind: str | None, locale: str) -> tuple[str, str]:
    what, why = _BLOCKED_KINDS.get(kind or "", _BLOCKED_KINDS["other"])
    return t(locale, what), t(locale, why)


def refused_message(refusal: dict, locale: str) -> str:
    """An operation the sandbox refused as the code attempted it (reported even if the code caught the error)."""
    if refusal.get("kind") == "input":
        return t(locale, "`input()` read end-of-file: nobody can type into a ParamLens run, so the program got "
                 "`EOFError` (or an empty answer) here, as with `python file.py < /dev/null`.")
    what, why = _refused_kind(refusal.get("kind"), locale)
    consequence = _CONSEQUENCES.get(refusal.get("kind") or "", _CONSEQUENCES["other"])
    return t(locale, "The sandbox refused {what} here{detail}: {why}. {consequence}", what=what,
             detail=_operation(refusal, locale), why=why, consequence=t(locale, consequence))


# what the program did after a refusal it may have caught, per kind of operation
_CONSEQUENCES = {
    "network": message_id("From here on the program ran as it does offline; what depended on it may be missing."),
    "file-write": message_id("The program got a `PermissionError` there and went on: the file outside was not "
                             "changed, and what depended on the write may be missing."),
    "file-read": message_id("The program got a `PermissionError` there and went on; what depended on the file may be "
                            "missing."),
    "other": message_id("The program went on without it; what depended on it may be missing."),
}


def blocked_message(error: dict, locale: str) -> str:
    """What the sandbox refused at this statement and why, with the exception the code saw."""
    blocked = error["blocked"]
    what, why = _refused_kind(blocked.get("kind"), locale)
    seen = f"{error['type']}: {error['message']}"
    if blocked.get("kind") == "input":
        return t(locale, "`input()` read end-of-file (nobody can type into a ParamLens run), so the code saw {seen}, as "
                 "with `python file.py < /dev/null`; the other statements still ran.", seen=seen)
    return t(locale, "The sandbox refused {what}{detail}: {why}. The code saw {seen}; the other statements still ran.",
             what=what, detail=_operation(blocked, locale), why=why, seen=seen)


def _operation(attempt: dict, locale: str) -> str:
    """` (`socket.getaddrinfo('example.com', 80)`)`, or nothing."""
    operation = attempt.get("operation") or ""
    target = attempt.get("target") or ""
    if not operation and not target:
        return ""
    text = f"{operation}({target})" if operation and not operation.startswith("open") else \
        f"{operation} {target}".strip()
    return t(locale, " (`{operation}`)", operation=text)

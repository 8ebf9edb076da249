"""`analyze(source, path, options) -> FileReport`: the one pipeline every front end uses.

parse (libcst) -> recognize (findings) -> instrument (units: every top-level statement, probes, loop budgets)
-> run in the sandbox (events) -> explain (explanations + diagnostics) -> FileReport. Pure with respect to its inputs apart from the sandboxed
run; the analysing process never executes the user's code and never imports torch.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from typing import Any

from paramlens import options as opt
from paramlens.analyzers.findings import Finding
from paramlens.analyzers.examples import plan_examples
from paramlens.analyzers.instrument import Unit, example_units, instrument
from paramlens.analyzers.source import SourceSyntaxError, parse_source
from paramlens.analyzers.walker import recognize_all
from paramlens.explain import build_report_parts
from paramlens.config import RuleConfig
from paramlens.explain.diagnostics import execution_diagnostics, run_ending_text, syntax_error_diagnostic
from paramlens.explain.rules import EXPLAINS_RUNTIME_ERRORS
from paramlens.explain.suppression import apply_rules_config
from paramlens.explain.fmt import names_list
from paramlens.explain.i18n import normalize_locale
from paramlens.messages import t
from paramlens.observations import Observations
from paramlens.analyzers.imports import uses_torch
from paramlens.report import (BufferInfo, Diagnostic, Execution, FileReport, LoopCut, ModuleInfo, ParameterInfo,
                              SkippedStatement)
from paramlens.sandbox.executors import default_executor
from paramlens.sandbox.protocol import Event, Executor, RunLimits, RunRequest, RunResult

LOG = logging.getLogger("paramlens.analysis")

STATUS_FROM_RUN = {"timeout": "timeout", "memory": "memory", "crashed": "crashed", "blocked": "blocked",
                   "cancelled": "cancelled", "error": "error"}
DEVICES = ("auto", "cpu", "meta")


@dataclass
class AnalysisOptions:
    """What one analysis does. Defaults, bounds and the names on every surface: paramlens/options.py."""

    execute: bool = opt.EXECUTE.default
    locale: str = "en"
    timeout_seconds: float = opt.TIMEOUT.default
    memory_mb: int = opt.MEMORY.default
    seed: int | None = opt.SEED.default
    python: str | None = opt.PYTHON.default
    executor: Executor | None = field(default=None, repr=False)
    # auto: run on the CPU unless the live parameters exceed param_budget, then redo the run on the meta device
    device: str = opt.DEVICE.default
    param_budget: int = opt.PARAM_BUDGET.default
    # loop budgets: a loop is cut after the iteration in which it has run at least loop_iterations iterations and
    # loop_seconds seconds (the sandboxed child applies them)
    loop_iterations: int = opt.LOOP_ITERATIONS.default
    loop_seconds: float = opt.LOOP_SECONDS.default
    # which rules to report and how severe (from [tool.paramlens]; front ends load it with config.load_config)
    rules: RuleConfig = field(default_factory=RuleConfig)
    # build the module classes the file never instantiates (see analyzers/examples.py)
    examples: bool = True
    # recognise patterns and probe them (off: the program runs with loop budgets only; for checking that probes
    # never change what the program does)
    probes: bool = True

    def with_values(self, values: dict[str, Any]) -> "AnalysisOptions":
        """A copy with option values by option name (a locale of None means: keep this one's)."""
        return replace(self, **{name: value for name, value in values.items()
                                if not (name == "locale" and value is None)})


def analyze(source: str, path: str, options: AnalysisOptions | None = None) -> FileReport:
    options = options or AnalysisOptions()
    locale = normalize_locale(options.locale)
    try:
        parsed = parse_source(source)
    except SourceSyntaxError as error:
        return syntax_error_report(error, path, locale)
    try:
        return _analyze_parsed(parsed, source, path, options, locale, recognise=options.probes)
    except Exception as error:  # a bug in ParamLens must not cost the user the whole file, nor show a traceback
        LOG.warning("internal error while analysing %s (%s: %s); running it again without pattern recognition",
                    path, type(error).__name__, error)
        LOG.debug("traceback of the internal error", exc_info=True)
        note = t(locale, "ParamLens hit an internal error while recognising this file's patterns ({name}: {error}); it "
                 "ran the file without explanations. Please report it with the file.", name=type(error).__name__, error=error)
    try:
        report = _analyze_parsed(parsed, source, path, options, locale, recognise=False)
    except Exception:
        LOG.warning("internal error while running %s without pattern recognition", path)
        LOG.debug("traceback of the internal error", exc_info=True)
        return FileReport(path=path, execution=Execution(status="error", device=None, message=note))
    report.execution.message = note + (f" {report.execution.message}" if report.execution.message else "")
    return report


def syntax_error_report(error: SourceSyntaxError, path: str, locale: str) -> FileReport:
    return FileReport(path=path, execution=Execution(status="skipped", device=None,
                                                     message=f"syntax error: {error.message}"),
                      diagnostics=[syntax_error_diagnostic(error, locale)])


def _analyze_parsed(parsed, source: str, path: str, options: AnalysisOptions, locale: str, *,
                    recognise: bool, prepared: tuple | None = None, execute: Any = None) -> FileReport:
    """`prepared` and `execute` are incremental analysis' (paramlens/incremental/): the findings, units and torch
    decision from its per-statement caches, and the run continued from a checkpoint."""
    if prepared is not None:
        findings, units, torch_used = prepared
    else:
        findings = recognize_all(parsed) if recognise else []
        units = instrument(parsed, findings)
        if options.execute and options.examples:
            units += example_units(_plan_examples(parsed, source), len(units), source)
        torch_used = None
    if not options.execute:
        execution = Execution(status="skipped", device=None, message="execution is turned off (static analysis only)")
        observations = Observations.none()
        run = None
    elif not (torch_used if torch_used is not None else uses_torch(parsed.module, path)):
        execution = Execution(status="skipped", device=None, message=t(locale, "nothing to run: the file imports neither "
                                                                       "torch nor anything that uses it"))
        observations = Observations.none()
        run = None
    else:
        request = _request(path, units, options)
        given = _given_options(request)
        run = (execute or _execute)(path, units, options, request)
        observations = Observations.from_events(run.events)
        execution = _execution_summary(run, units, observations, locale)
        execution.options = given
    explanations, diagnostics = build_report_parts(findings, units, observations, locale, source)
    if run is not None:
        execution.skipped += _classes_never_built(explanations, units, observations, locale)
    diagnostics = apply_rules_config(diagnostics, source, options.rules)
    if run is not None:
        # after the configuration, so that a PL900 explained by a rule the project turned off comes back
        runtime = absorb_runtime_errors(execution_diagnostics(run, units, observations, locale, source),
                                         diagnostics, units, observations)
        diagnostics = apply_rules_config(runtime, source, options.rules) + diagnostics
    diagnostics.sort(key=lambda d: (d.span.line, d.span.column, d.code))
    return FileReport(path=path, execution=execution, modules=[_module_info(m) for m in observations.modules],
                      explanations=explanations, diagnostics=diagnostics)


def _classes_never_built(explanations: list, units: list[Unit], observations: Observations,
                         locale: str) -> list[SkippedStatement]:
    """Module classes of the file that ran (their `class` statement did) but were never instantiated, by the
    file or as an example: a library file would otherwise show no modules and no reason."""
    tried = {u.example.class_name for u in units if u.example is not None}
    never = []
    for explanation in explanations:
        facts = explanation.facts
        if explanation.pattern != "module_class" or facts.get("instances") or facts.get("example") or \
                facts.get("built") or facts.get("name") in tried or observations.instantiated is None or \
                facts.get("name") in observations.instantiated:
            continue
        unit = next((u for u in units if u.line <= explanation.span.line <= u.end_line and u.example is None), None)
        if unit is None or (observations.statements.get(unit.index) or {}).get("status") != "ok":
            continue
        name = facts["name"]
        never.append(SkippedStatement(explanation.span.line, t(locale, "class `{name}` was never instantiated: it needs "
                                                               "arguments ParamLens cannot guess; choose them "
                                                               "with a comment `# paramlens: example {name}(...)`", name=name)))
    return never


def absorb_runtime_errors(runtime: list[Diagnostic], rules: list[Diagnostic], units: list[Unit],
                          observations: Observations | None = None) -> list[Diagnostic]:
    """A statement's PL900 is dropped when a rule already explains that failure at that statement, or at the line
    inside a function where it was raised (PL002's shapes say more than `mat1 and mat2 shapes cannot be
    multiplied`). Decided from the run's data (the error's line), never from a message's words."""
    explained = {d.span.line for d in rules if d.code in EXPLAINS_RUNTIME_ERRORS}
    kept = []
    for diagnostic in runtime:
        if diagnostic.code == "PL900":
            unit = next((u for u in units if u.line == diagnostic.span.line), None)
            lines = range(unit.line, unit.end_line + 1) if unit else range(diagnostic.span.line, diagnostic.span.line + 1)
            raised_at = _raised_at(unit, observations)
            if any(line in explained for line in lines) or raised_at in explained:
                continue
        kept.append(diagnostic)
    return kept


def _raised_at(unit: Unit | None, observations: Observations | None) -> int | None:
    """The line of the user's file where the statement's exception was raised (inside a function it called)."""
    if unit is None or observations is None:
        return None
    error = (observations.statements.get(unit.index) or {}).get("error") or {}
    return error.get("line")


def _plan_examples(parsed, source: str) -> list:
    from libcst.metadata import PositionProvider

    from paramlens.analyzers.context import module_bases_closure
    from paramlens.analyzers.names import NameResolver

    module = parsed.module
    classes = module_bases_closure(module, NameResolver(module))
    if not classes:
        return []
    return plan_examples(module, source, classes, parsed.wrapper.resolve(PositionProvider))


def _request(path: str, units: list[Unit], options: AnalysisOptions) -> RunRequest:
    # absolute: the child works in its private directory, where a relative path would name nothing
    request = RunRequest(path=os.path.abspath(path), units=[u.to_json() for u in units], seed=options.seed,
                         limits=RunLimits(options.timeout_seconds, options.memory_mb, options.loop_iterations,
                                          options.loop_seconds), device=options.device,
                         param_budget=options.param_budget)
    if options.python:
        request.python = options.python
    return request


def _given_options(request: RunRequest) -> dict[str, Any]:
    """The options a run is given, read back from what the child will read (the report's execution.options)."""
    payload = request.payload([])
    given = {option.name: payload[option.name] for option in opt.PAYLOAD}
    given.update(timeout_seconds=request.limits.timeout_seconds, python=request.python)
    return given


def _execute(path: str, units: list[Unit], options: AnalysisOptions, request: RunRequest | None = None) -> RunResult:
    """The run, redone on the meta device when the auto policy asks."""
    executor = options.executor or default_executor(options.python)
    request = request or _request(path, units, options)
    run = _run_once_more_on_fault(executor, request)
    if request.device == "auto" and run.over_budget is not None:
        # too big to materialise: every shape, count and tie again, on the meta device, with no memory
        over = run.over_budget
        request.device = "meta"
        run = _run_once_more_on_fault(executor, request)
        run.events.insert(0, {"t": Event.BUDGET, "params": over.get("params"), "budget": over.get("budget")})
    return run


def _run_once_more_on_fault(executor: Executor, request: RunRequest) -> RunResult:
    """A run the sandbox itself lost (its worker was killed or stopped from outside) is the environment's fault,
    not the file's: run it once more, on a fresh worker (the executor replaces a dead one)."""
    run = executor.run(request)
    if run.fault == "worker":
        LOG.warning("the sandbox worker failed (%s); running the file once more on a fresh worker", run.message)
        run = executor.run(request)
    return run


def _execution_summary(run: RunResult, units: list[Unit], observations: Observations, locale: str) -> Execution:
    skipped = []
    for index, statement in sorted(observations.statements.items()):
        if statement.get("status") == "dependent":
            unit = units[index]
            skipped.append(SkippedStatement(unit.line, _dependent_text(statement, locale)))
    errors = [s["error"] for s in observations.statements.values() if s.get("status") == "error"]
    status = STATUS_FROM_RUN.get(run.status, "ok")
    message = run_ending_text(run, locale) if run.status != "ok" else None
    blocked_lines = [units[i].line for i, s in sorted(observations.statements.items())
                     if s.get("status") == "error" and s["error"].get("blocked")]
    memory_lines = [units[i].line for i, s in sorted(observations.statements.items())
                    if s.get("status") == "error" and s["error"].get("memory")]
    if run.status == "ok" and memory_lines:
        status = "memory"
        message = t(locale, "line {line} needed more memory than the limit allows", line=memory_lines[0])
    elif run.status == "ok" and blocked_lines:
        status = "blocked"
        message = t(locale, "the sandbox blocked an operation at line {line}; the rest still ran", line=blocked_lines[0])
    elif run.status == "ok" and (errors or skipped or observations.cuts):
        status = "partial"
    device = run.device
    if device == "meta" and status in {"ok", "partial"}:
        message = _meta_text(run, locale)
    if status in {"ok", "partial"}:
        notes = _run_notes(units, observations, locale)
        if any(s.get("status") == "exit" for s in observations.statements.values()):
            status = "partial"
        message = "; ".join(part for part in [message, *notes] if part) or None
    return Execution(status=status, device=device, seconds=run.seconds, message=message,
                     seed=observations.seed, skipped=skipped, isolation=list(run.isolation),
                     loops_cut=loops_cut(observations))


def loops_cut(observations: Observations) -> list[LoopCut]:
    cuts = [LoopCut(line=cut["line"], iterations=cut["iterations"], of=cut.get("of"), seconds=cut.get("seconds", 0.0),
                    times=cut.get("times", 1), function=cut.get("function")) for cut in observations.cuts.values()]
    return sorted(cuts, key=lambda cut: cut.line)


def _run_notes(units: list[Unit], observations: Observations, locale: str) -> list[str]:
    """What the run did differently from a plain `python file.py` that a reader of the results must know."""
    notes = []
    for note in observations.notes:
        if note.get("kind") == "argparse":
            options = ", ".join(f"`{option}`" for option in note["options"])
            notes.append(t(locale, "the file ran with no command-line arguments, so its required options {options} were "
                           "left unset (None)", options=options))
    if observations.cuts:
        first = next(iter(observations.cuts.values()))["line"]  # in the order they happened
        lines = sorted({cut["line"] for cut in observations.cuts.values()})
        if len(lines) == 1:
            notes.append(t(locale, "the loop budget shortened the loop at line {first}; every value observed after that "
                           "is labelled as such", first=first))
        else:
            notes.append(t(locale, "the loop budget shortened the loops at lines {lines}; every value observed after "
                                   "the first cut (line {first}) is labelled as such",
                           lines=names_list(locale, [str(line) for line in lines]), first=first))
    exits = [units[index].line for index, s in sorted(observations.statements.items()) if s.get("status") == "exit"]
    if exits:
        notes.append(t(locale, "line {line} exited (`sys.exit()` / `exit()`): the statements after it did not run", line=exits[0]))
    return notes


def _meta_text(run: RunResult, locale: str) -> str:
    budget = next((e for e in run.events if e.get("t") == "budget"), None)
    if budget is not None:
        return t(locale, "built on the meta device: the run created more than {budget:,} parameters (the budget, "
                 "counting every module built, temporary ones included), too many to materialise; shapes, counts "
                 "and ties are exact, values are not available", budget=budget['budget'])
    return t(locale, "built on the meta device (--device meta): shapes, counts and ties are exact, values are not "
             "available")


def _dependent_text(statement: dict, locale: str) -> str:
    error = statement.get("error") or {}
    return t(locale, "needs `{name}`, which line {depends_on} should have defined", name=error.get('name'), depends_on=error.get('depends_on'))


def _module_info(raw: dict) -> ModuleInfo:
    return ModuleInfo(
        name=raw["name"], line=raw["line"], class_name=raw["class"], param_count=raw["param_count"],
        param_count_with_duplicates=raw["param_count_with_duplicates"],
        parameters=[ParameterInfo(p["name"], p["shape"], p["dtype"], p["requires_grad"]) for p in raw["parameters"]],
        tied=raw["tied"], buffers=[BufferInfo(b["name"], b["shape"], b["persistent"]) for b in raw["buffers"]],
        state_dict_keys=raw["state_dict_keys"], origin=raw.get("origin", "top-level"),
        after_cut=(raw.get("after_cut") or {}).get("line"))


__all__ = ["AnalysisOptions", "analyze", "Finding"]

"""`analyze(source, path, options) -> FileReport`: the one pipeline every front end uses.

parse (libcst) -> recognize (findings) -> slice + instrument (units) -> run in the sandbox (events)
-> explain (explanations + diagnostics) -> FileReport. Pure with respect to its inputs apart from the sandboxed
run; the analysing process never executes the user's code and never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from paramlens.analyzers.findings import Finding
from paramlens.analyzers.instrument import InstrumentationError, Unit, instrument
from paramlens.analyzers.source import SourceSyntaxError, parse_source
from paramlens.analyzers.walker import recognize_all
from paramlens.explain import build_report_parts
from paramlens.explain.diagnostics import execution_diagnostics, syntax_error_diagnostic
from paramlens.explain.i18n import normalize_locale, tr
from paramlens.explain.skips import skip_reason_text
from paramlens.observations import Observations
from paramlens.report import Execution, FileReport, ModuleInfo, ParameterInfo, BufferInfo, SkippedStatement
from paramlens.sandbox.runner import Executor, RunLimits, RunRequest, RunResult, SubprocessExecutor

STATUS_FROM_RUN = {"timeout": "timeout", "memory": "memory", "crashed": "crashed", "blocked": "blocked"}


@dataclass
class AnalysisOptions:
    execute: bool = True
    locale: str = "en"
    timeout_seconds: float = 30.0
    memory_mb: int = 4096
    seed: int | None = 0
    python: str | None = None
    executor: Executor | None = field(default=None, repr=False)


def analyze(source: str, path: str, options: AnalysisOptions | None = None) -> FileReport:
    options = options or AnalysisOptions()
    locale = normalize_locale(options.locale)
    try:
        parsed = parse_source(source)
    except SourceSyntaxError as error:
        return FileReport(path=path, execution=Execution(status="skipped", device=None,
                                                         message=f"syntax error: {error.message}"),
                          diagnostics=[syntax_error_diagnostic(error, locale)])
    findings = recognize_all(parsed)
    units = instrument(parsed, findings)
    if not options.execute:
        execution = Execution(status="skipped", device=None, message="execution is turned off (static analysis only)")
        observations = Observations.none()
        run = None
    elif not _mentions_torch(source):
        execution = Execution(status="skipped", device=None, message="the file does not use torch; nothing to run")
        observations = Observations.none()
        run = None
    else:
        run = _execute(path, units, options)
        observations = Observations.from_events(run.events)
        execution = _execution_summary(run, units, observations, locale)
    explanations, diagnostics = build_report_parts(findings, units, observations, locale)
    if run is not None:
        diagnostics = execution_diagnostics(run, units, observations, locale) + diagnostics
    diagnostics.sort(key=lambda d: (d.span.line, d.span.column, d.code))
    return FileReport(path=path, execution=execution, modules=[_module_info(m) for m in observations.modules],
                      explanations=explanations, diagnostics=diagnostics)


def _mentions_torch(source: str) -> bool:
    return "torch" in source


def _execute(path: str, units: list[Unit], options: AnalysisOptions) -> RunResult:
    executor = options.executor or SubprocessExecutor()
    request = RunRequest(path=path, units=[u.to_json() for u in units], seed=options.seed,
                         limits=RunLimits(options.timeout_seconds, options.memory_mb))
    if options.python:
        request.python = options.python
    return executor.run(request)


def _execution_summary(run: RunResult, units: list[Unit], observations: Observations, locale: str) -> Execution:
    skipped = [SkippedStatement(u.line, skip_reason_text(u.reason, u.detail, locale)) for u in units if not u.run]
    for index, statement in sorted(observations.statements.items()):
        if statement.get("status") == "dependent":
            unit = units[index]
            skipped.append(SkippedStatement(unit.line, _dependent_text(statement, locale)))
    errors = [s["error"] for s in observations.statements.values() if s.get("status") == "error"]
    status = STATUS_FROM_RUN.get(run.status, "ok")
    message = run.message
    memory_lines = [units[i].line for i, s in sorted(observations.statements.items())
                    if s.get("status") == "error" and s["error"].get("memory")]
    if run.status == "ok" and memory_lines:
        status = "memory"
        message = tr(locale, f"line {memory_lines[0]} needed more memory than the limit allows",
                     f"第 {memory_lines[0]} 行需要的内存超过了上限")
    elif run.status == "ok" and (errors or skipped):
        status = "partial"
    return Execution(status=status, device="cpu", seconds=run.seconds, message=message,
                     seed=observations.seed, skipped=skipped)


def _dependent_text(statement: dict, locale: str) -> str:
    error = statement.get("error") or {}
    return tr(locale, f"needs `{error.get('name')}`, which line {error.get('depends_on')} should have defined",
              f"需要 `{error.get('name')}`，它本应由第 {error.get('depends_on')} 行定义")


def _module_info(raw: dict) -> ModuleInfo:
    return ModuleInfo(
        name=raw["name"], line=raw["line"], class_name=raw["class"], param_count=raw["param_count"],
        param_count_with_duplicates=raw["param_count_with_duplicates"],
        parameters=[ParameterInfo(p["name"], p["shape"], p["dtype"], p["requires_grad"]) for p in raw["parameters"]],
        tied=raw["tied"], buffers=[BufferInfo(b["name"], b["shape"], b["persistent"]) for b in raw["buffers"]],
        state_dict_keys=raw["state_dict_keys"])


__all__ = ["AnalysisOptions", "analyze", "Finding", "InstrumentationError"]

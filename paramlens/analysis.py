"""`analyze(source, path, options) -> FileReport`: the one pipeline every front end uses.

parse (libcst) -> recognize (findings) -> instrument (units: every top-level statement, probes, loop budgets)
-> run in the sandbox (events) -> explain (explanations + diagnostics) -> FileReport. Pure with respect to its inputs apart from the sandboxed
run; the analysing process never executes the user's code and never imports torch.
"""

from __future__ import annotations

import ast
import logging
import os
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from paramlens import options as opt
from paramlens.analyzers.findings import Finding
from paramlens.analyzers.examples import plan_examples
from paramlens.analyzers.instrument import Unit, example_units, instrument
from paramlens.analyzers.source import SourceSyntaxError, parse_source
from paramlens.analyzers.walker import recognize_all
from paramlens.analyzers.bindings import namespace_writes
from paramlens.explain import build_diagnostics, build_explanations, report_context
from paramlens.config import RuleConfig
from paramlens.explain.diagnostics import execution_diagnostics, run_ending_text, syntax_error_diagnostic
from paramlens.explain.rules import EXPLAINS_RUNTIME_ERRORS
from paramlens.explain.suppression import apply_rules_config
from paramlens.explain.fmt import names_list
from paramlens.explain.places import naming, place, places
from paramlens.explain.i18n import normalize_locale
from paramlens.messages import t
from paramlens.notebooks import is_notebook_path
from paramlens.notebooks.diagnostics import notebook_parts
from paramlens.notebooks.program import Program, from_ipython_text, from_notebook, from_percent, has_cell_markers, \
    is_virtual_document, notebook_origin
from paramlens.notebooks.reading import Notebook, NotebookError, read_notebook, read_saved
from paramlens.observations import Observations
from paramlens.analyzers.imports import uses_torch
from paramlens.report import (BufferInfo, Diagnostic, Execution, Factory, FileReport, LoopCut, ModuleInfo, ParameterInfo,
                              SharedPlace, SkippedStatement)
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
    # the example to build instead of the default one: a factory's name or an expression (the editor's choice)
    example: str | None = None
    # recognise patterns and probe them (off: the program runs with loop budgets only; for checking that probes
    # never change what the program does)
    probes: bool = True

    def with_values(self, values: dict[str, Any]) -> "AnalysisOptions":
        """A copy with option values by option name (a locale of None means: keep this one's)."""
        return replace(self, **{name: value for name, value in values.items()
                                if not (name == "locale" and value is None)})


def analyze(source: str, path: str, options: AnalysisOptions | None = None, incremental: Any = None) -> FileReport:
    """One file's report. `source` is the file's text: Python, or for an `.ipynb` the notebook's JSON (its code
    cells run as one program, paramlens/notebooks/). A `.py` file with `# %%` cells, and a document jupyterlab-lsp
    made from a notebook, are notebooks too. `incremental` (a notebook's incremental analysis, incremental/session.py)
    supplies the static part from its per-statement caches (`prepare_program`) and runs from checkpoints
    (`execute`)."""
    options = options or AnalysisOptions()
    locale = normalize_locale(options.locale)
    if is_notebook_path(path):
        try:
            notebook = read_notebook(source, locale)
        except NotebookError as error:
            return FileReport(path=path, execution=Execution(status="error", device=None, message=str(error)))
        return analyze_notebook(notebook, path, options, incremental)
    program = None
    if is_virtual_document(path):
        # jupyterlab-lsp's document of a notebook: it runs where the notebook is (its folder, its neighbours)
        origin = notebook_origin(path) or path
        program = from_ipython_text(source, read_saved(origin))
        report = analyze_program(source, origin, options, program, incremental)
        report.path = path
        return report
    if has_cell_markers(source):
        program = from_percent(source)
    return analyze_program(source, path, options, program, incremental)


def runs_as_notebook(source: str, path: str) -> bool:
    """Whether `analyze` treats the text as a notebook's cells (an .ipynb, jupyterlab-lsp's document of one, a
    `.py` file with `# %%` cells): incremental analysis hands those to it, with its hooks
    (paramlens/incremental/session.py)."""
    return is_notebook_path(path) or is_virtual_document(path) or has_cell_markers(source)


def analyze_notebook(notebook: Notebook, path: str, options: AnalysisOptions | None = None,
                     incremental: Any = None) -> FileReport:
    """A notebook's report (read from an .ipynb, or the cells an editor sent): its code cells, in order, as one
    program; positions in the report are lines of that program, `report.notebook` maps them to cells."""
    options = options or AnalysisOptions()
    locale = normalize_locale(options.locale)
    program = from_notebook(notebook)
    skip = None
    if notebook.language not in (None, "python", "python3", "ipython", "ipython3"):
        skip = t(locale, "not a Python notebook (its kernel's language is {language}): nothing to analyse",
                 language=notebook.language)
    elif not any(cell.count for cell in program.cells):
        skip = t(locale, "the notebook has no code: nothing to run")
    if skip is not None:
        report = FileReport(path=path, execution=Execution(status="skipped", device=None, message=skip))
        report.notebook, _ = notebook_parts(program, [], Observations.none(), None, None, locale)
    else:
        report = analyze_program(program.text, path, options, program, incremental)
    if notebook.warnings:
        report.execution.message = "; ".join([*notebook.warnings, *([report.execution.message] if
                                                                    report.execution.message else [])])
    return report


def analyze_program(source: str, path: str, options: AnalysisOptions | None, program: Program | None,
                    incremental: Any = None) -> FileReport:
    """`source` analysed as it is, or as the program a notebook's cells made (`program`)."""
    options = options or AnalysisOptions()
    with naming(program):
        return _analyze(program.text if program is not None else source, path, options, program, incremental)


def _analyze(source: str, path: str, options: AnalysisOptions, program: Program | None,
             incremental: Any = None) -> FileReport:
    locale = normalize_locale(options.locale)
    try:
        parsed = parse_source(source)
    except SourceSyntaxError as error:
        report = syntax_error_report(error, path, locale)
        if program is not None:
            report.notebook, _ = notebook_parts(program, [], Observations.none(), None, None, locale)
        return report
    execute = incremental.execute if incremental is not None else None
    try:
        prepared = incremental.prepare_program(source, path, program, options) if incremental is not None else None
        return _analyze_parsed(parsed, source, path, options, locale, recognise=options.probes, program=program,
                               prepared=prepared, execute=execute)
    except AnalysisCancelled:
        raise  # not an internal error: the caller drops this analysis
    except Exception as error:  # a bug in ParamLens must not cost the user the whole file, nor show a traceback
        LOG.warning("internal error while analysing %s (%s: %s); running it again without pattern recognition",
                    path, type(error).__name__, error)
        LOG.debug("traceback of the internal error", exc_info=True)
        note = t(locale, "ParamLens hit an internal error while recognising this file's patterns ({name}: {error}); it "
                 "ran the file without explanations. Please report it with the file.", name=type(error).__name__, error=error)
    try:
        report = _analyze_parsed(parsed, source, path, options, locale, recognise=False, program=program,
                                 execute=execute)
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


class AnalysisCancelled(Exception):
    """The run was cancelled and whoever asked for the analysis drops cancelled ones (the language server: a newer
    version of the document replaced it): nothing more is built (incremental/session.py, `drop_cancelled`)."""


def cancelled_report(path: str, message: str | None = None) -> FileReport:
    """What a dropped analysis returns: nothing observed, the run cancelled."""
    return FileReport(path=path, execution=Execution(status="cancelled", device=None, message=message))


class Prepared(NamedTuple):
    """The static part of a file or notebook program from incremental analysis' per-statement caches
    (paramlens/incremental/), in place of a parse of the whole text."""

    findings: list[Finding]
    units: list[Unit]          # the examples' units after the file's
    torch_used: bool | None    # None: not decided (execution off)
    body: Any                  # the top-level statements as one module
    bindings: dict[str, Any]   # analyzers/bindings.namespace_writes of the text
    # False: the warm worker's preload candidates are left to the run (`preload_facts`): a run continued from a
    # checkpoint runs in the document's own worker and never uses them (a walk of every import: ~2–3 ms an edit)
    preload: bool


def _analyze_parsed(parsed, source: str, path: str, options: AnalysisOptions, locale: str, *,
                    recognise: bool, program: Program | None = None, prepared: Prepared | None = None,
                    execute: Any = None) -> FileReport:
    """`prepared` (Prepared) and `execute` are incremental analysis' (paramlens/incremental/): the static part from
    its per-statement caches, and the run continued from a checkpoint. A notebook (`program`) has no static caches (its cells' display
    of their last value is decided over the whole program) but its runs continue from checkpoints too."""
    if prepared is not None:
        findings, units, torch_used, body = prepared.findings, prepared.units, prepared.torch_used, prepared.body
    else:
        findings = recognize_all(parsed) if recognise else []
        units = instrument(parsed, findings, program.display_cells() if program is not None else None)
        if options.execute and options.examples:
            units += example_units(_plan_examples(parsed, source, path, options.example), len(units), source)
        torch_used, body = None, parsed.module
    if not options.execute:
        execution = Execution(status="skipped", device=None, message="execution is turned off (static analysis only)")
        observations = Observations.none()
        run = None
    elif not (torch_used if torch_used is not None else uses_torch(body, path)):
        execution = Execution(status="skipped", device=None, message=t(locale, "nothing to run: the file imports neither "
                                                                       "torch nor anything that uses it"))
        observations = Observations.none()
        run = None
    else:
        request = _request(path, units, options)
        request.bindings = prepared.bindings if prepared is not None else namespace_writes(source)
        preload_facts(request, body, path, candidates=prepared is None or prepared.preload)
        request.notebook = program is not None
        given = _given_options(request)
        run = (execute or _execute)(path, units, options, request)
        observations = Observations.from_events(run.events, run.prefix_fold)
        execution = _execution_summary(run, units, observations, locale)
        execution.options = given
    context = report_context(findings, units, observations, locale, source)
    diagnostics = build_diagnostics(context)
    if run is not None:
        execution.skipped += _classes_never_built(units, observations, locale)
    diagnostics = apply_rules_config(diagnostics, source, options.rules)
    if run is not None:
        # after the configuration, so that a PL900 explained by a rule the project turned off comes back
        runtime = absorb_runtime_errors(execution_diagnostics(run, units, observations, locale, source),
                                         diagnostics, units, observations)
        diagnostics = apply_rules_config(runtime, source, options.rules) + diagnostics
    notebook = None
    if program is not None:
        notebook, extra = notebook_parts(program, units, observations, observations.seed if run else None,
                                         execution.device, locale)
        diagnostics += apply_rules_config(extra, source, options.rules)
    diagnostics.sort(key=lambda d: (d.span.line, d.span.column, d.code))
    modules = [_module_info(m) for m in observations.modules]
    execution.module = observations.module_name
    execution.nothing_built = _nothing_built(modules, execution, units, observations, locale)
    if execution.nothing_built and execution.nothing_built != execution.message:
        execution.message = "; ".join(part for part in [execution.message, execution.nothing_built] if part)
    report = FileReport(path=path, execution=execution, modules=modules, diagnostics=diagnostics,
                        factories=_factories(observations, units), notebook=notebook)
    report.shared_places = sorted((SharedPlace(finding.span, finding.facts.get("name"))
                                   for finding in context.of_pattern("shared_module")),
                                  key=lambda p: (p.span.line, p.span.column, p.span.end_line, p.span.end_column))
    report.defer_explanations(lambda stop: build_explanations(context, stop))
    return report


def _classes_never_built(units: list[Unit], observations: Observations, locale: str) -> list[SkippedStatement]:
    """Module classes of the file that ran (their `class` statement did) but were never instantiated, by the
    file or as an example, because their arguments cannot be chosen: a library file would otherwise show no
    modules and no reason. Decided in the sandbox (sandbox/examples.py), from the constructor Python calls."""
    never = []
    instantiated = observations.instantiated or set()
    for unit in units:
        if unit.example is None or unit.example.kind != "class":
            continue
        decision = observations.examples.get(unit.index) or {}
        name = unit.example.class_name
        if decision.get("reason") != "arguments" or name in instantiated:
            continue
        builders = [f["name"] for f in observations.factories if f.get("class") == name]
        if builders:
            text = t(locale, "class `{name}` was never instantiated: it needs arguments; the file's factories build "
                             "it ({factories}): choose one with a comment `# paramlens: example {first}()`",
                     name=name, factories=names_list(locale, [f"`{b}()`" for b in builders[:8]]), first=builders[0])
        else:
            text = t(locale, "class `{name}` was never instantiated: it needs arguments ParamLens cannot guess; choose them "
                             "with a comment `# paramlens: example {name}(...)`", name=name)
        never.append(SkippedStatement(unit.line, text))
    return never


def _factories(observations: Observations, units: list[Unit]) -> list[Factory]:
    """The file's no-argument model factories as the sandbox found them, with the one built as the example."""
    built = {m["name"].split("(")[0].strip() for m in observations.modules if m.get("origin") == "example"}
    return [Factory(f["name"], f["line"], f.get("class"), f["name"] in built) for f in observations.factories]


def _nothing_built(report_modules: list, execution: Execution, units: list[Unit], observations: Observations,
                   locale: str) -> str | None:
    """Why the run ended with no model at all, in one sentence; None when something was built."""
    if report_modules:
        return None
    if execution.status == "skipped" or not observations.executed:
        return execution.message
    if execution.status not in {"ok", "partial", "blocked"}:
        return execution.message or t(locale, "the run stopped before any model was built")
    instantiated = observations.instantiated or set()
    classes = observations.module_classes or []
    failed = [units[i] for i, s in sorted(observations.statements.items())
              if s.get("status") in {"error", "dependent"} and i < len(units)]
    if observations.package_import is not None and not observations.package_import.get("ran"):
        error = observations.package_import.get("error") or {}
        return t(locale, "importing the package `{package}` raised {error} before this file ran, and without it no "
                         "model was built", package=(observations.module_name or "").rsplit(".", 1)[0],
                 error=f"{error.get('type')}: {error.get('message')}")
    if instantiated & set(classes) or (instantiated and not classes):
        return t(locale, "models were built only inside functions (none is kept in a top-level variable), so there "
                         "is no model to list; their classes' explanations show what was built")
    examples = [(u, observations.examples.get(u.index) or {}) for u in units if u.example is not None]
    tried = [(u, d) for u, d in examples if d.get("status") in {"building", "built"}]
    if tried:
        places = names_list(locale, [place(locale, u.line) for u, _ in tried[:5]])
        return t(locale, "every example ParamLens tried raised (PL904 at {places}), so no model was built",
                 places=places)
    needing = [u.example.class_name for u, d in examples if d.get("reason") == "arguments"]
    if needing:
        return t(locale, "the file's module classes need arguments ParamLens cannot guess ({classes}) and the file "
                         "has no factory that needs none; choose them with a comment `# paramlens: example "
                         "{first}(...)`", classes=names_list(locale, [f"`{n}`" for n in needing[:6]]),
                 first=needing[-1])
    own_failed = [u for u in failed if u.example is None]
    failed_classes = [u for u in own_failed if _defines_class(u)]
    if not classes and failed_classes:
        unit = failed_classes[0]
        depends_on = ((observations.statements.get(unit.index) or {}).get("error") or {}).get("depends_on")
        if depends_on:
            return t(locale, "no module class of the file was defined: the class statement at {place} uses a name "
                             "that the failed statement at {failed} should have defined", place=place(locale, unit.line),
                     failed=place(locale, depends_on))
        return t(locale, "no module class of the file was defined: the class statement at {place} raised",
                 place=place(locale, unit.line))
    if not classes and own_failed and not any(_defines_class(u) for u in units if u.example is None):
        return t(locale, "the file defines no class and builds no model (the statement at {place} failed)",
                 place=place(locale, own_failed[0].line))
    if not classes:
        return t(locale, "the file defines no nn.Module subclass and builds no model")
    return t(locale, "the file's module classes ({classes}) were neither built by the file nor buildable as an "
                     "example", classes=names_list(locale, [f"`{n}`" for n in classes[:6]]))


def _defines_class(unit: Unit) -> bool:
    """Whether a top-level statement is a class definition (decorators included)."""
    try:
        body = ast.parse(unit.code).body
    except SyntaxError:
        return False
    return bool(body) and isinstance(body[0], ast.ClassDef)


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


def _plan_examples(parsed, source: str, path: str = "", chosen: str | None = None) -> list:
    from libcst.metadata import PositionProvider

    from paramlens.analyzers.context import module_bases_closure
    from paramlens.analyzers.names import NameResolver

    module = parsed.module
    classes = module_bases_closure(module, NameResolver(module))
    stem = os.path.splitext(os.path.basename(path))[0]
    return plan_examples(module, source, classes, parsed.wrapper.resolve(PositionProvider), stem=stem, chosen=chosen)


def _request(path: str, units: list[Unit], options: AnalysisOptions) -> RunRequest:
    # absolute: the child works in its private directory, where a relative path would name nothing
    request = RunRequest(path=os.path.abspath(path), units=[u.to_json() for u in units], seed=options.seed,
                         limits=RunLimits(options.timeout_seconds, options.memory_mb, options.loop_iterations,
                                          options.loop_seconds), device=options.device,
                         param_budget=options.param_budget)
    if options.python:
        request.python = options.python
    return request


def preload_facts(request: RunRequest, module, path: str, candidates: bool = True) -> None:
    """What the warm worker may import once for this file (sandbox/warm.py decides whether it does): the module
    name and package it runs as, and (`candidates`) the imports to preload; without them `request.preload` is None
    until someone calls this again with them."""
    from paramlens.analyzers.imports import preload_candidates
    from paramlens.sandbox.packages import module_name_of, package_of

    package = package_of(request.path)
    request.module = module_name_of(request.path, package)
    request.package_root = package.root if package is not None else None
    if not candidates:
        request.preload = None
        return
    try:
        request.preload = preload_candidates(module, request.path, request.module)
    except Exception:  # noqa: BLE001 - an optimisation: never a reason to fail the analysis
        LOG.debug("preload candidates failed", exc_info=True)
        request.preload = []


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
    key = (request.path, request.python, request.param_budget)
    if request.device == "auto" and key in _OVER_BUDGET:
        # the last run of this file went over the budget: start on the meta device (the CPU run would only be
        # stopped there again), counting what the CPU run would hold; if the model now fits, redo it on the CPU
        request.device, request.count_meta = "meta", True
        run = _run_once_more_on_fault(executor, request)
        request.device, request.count_meta = "auto", False
        done = next((e for e in run.events if e.get("t") == Event.DONE), None)
        if done is not None and done.get("peak", 0) > request.param_budget:
            run.events.insert(0, {"t": Event.BUDGET, "params": done["peak"], "budget": request.param_budget})
            return run
        _OVER_BUDGET.pop(key, None)
    run = _run_once_more_on_fault(executor, request)
    if request.device == "auto" and run.over_budget is not None:
        _OVER_BUDGET[key] = True
        # too big to materialise: every shape, count and tie again, on the meta device, with no memory
        over = run.over_budget
        request.device = "meta"
        run = _run_once_more_on_fault(executor, request)
        run.events.insert(0, {"t": Event.BUDGET, "params": over.get("params"), "budget": over.get("budget")})
    return run


_OVER_BUDGET: dict[tuple, bool] = {}  # (path, python, budget) of files whose last auto run went over the budget


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
        message = t(locale, "{place} needed more memory than the limit allows", place=place(locale, memory_lines[0]))
    elif run.status == "ok" and blocked_lines:
        status = "blocked"
        message = t(locale, "the sandbox blocked an operation at {place}; the rest still ran", place=place(locale, blocked_lines[0]))
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
        if note.get("kind") == "package_import":
            error = note.get("error") or {}
            package = (note.get("module") or "").rsplit(".", 1)[0]
            text = f"{error.get('type')}: {error.get('message')}"
            notes.append(t(locale, "importing the package `{package}` raised {error} before this file ran, so the file ran "
                                   "as `{module}` without it", package=package, error=text, module=note.get("module"))
                         if not note.get("ran") else
                         t(locale, "the file ran as `{module}`, but the rest of its package's import then raised {error}",
                           module=note.get("module"), error=text))
        if note.get("kind") == "argparse":
            options = ", ".join(f"`{option}`" for option in note["options"])
            notes.append(t(locale, "the file ran with no command-line arguments, so its required options {options} were "
                           "left unset (None)", options=options))
    if observations.cuts:
        first = next(iter(observations.cuts.values()))["line"]  # in the order they happened
        lines = sorted({cut["line"] for cut in observations.cuts.values()})
        if len(lines) == 1:
            notes.append(t(locale, "the loop budget shortened the loop at {place}; every value observed after that "
                           "is labelled as such", place=place(locale, first)))
        else:
            notes.append(t(locale, "the loop budget shortened the loops at {places}; every value observed after "
                                   "the first cut ({place}) is labelled as such",
                           places=places(locale, lines), place=place(locale, first)))
    exits = [units[index].line for index, s in sorted(observations.statements.items()) if s.get("status") == "exit"]
    if exits:
        notes.append(t(locale, "{place} exited (`sys.exit()` / `exit()`): the statements after it did not run", place=place(locale, exits[0])))
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
    return t(locale, "needs `{name}`, which {place} should have defined", name=error.get('name'), place=place(locale, error.get('depends_on')))


def _module_info(raw: dict) -> ModuleInfo:
    return ModuleInfo(
        name=raw["name"], line=raw["line"], class_name=raw["class"], param_count=raw["param_count"],
        param_count_with_duplicates=raw["param_count_with_duplicates"],
        parameters=[ParameterInfo(p["name"], p["shape"], p["dtype"], p["requires_grad"]) for p in raw["parameters"]],
        tied=raw["tied"], buffers=[BufferInfo(b["name"], b["shape"], b["persistent"]) for b in raw["buffers"]],
        state_dict_keys=raw["state_dict_keys"], origin=raw.get("origin", "top-level"),
        after_cut=(raw.get("after_cut") or {}).get("line"))


__all__ = ["AnalysisOptions", "analyze", "analyze_notebook", "Finding"]

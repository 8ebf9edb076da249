"""Observations + findings -> explanations (Markdown, English and Simplified Chinese) and diagnostics.

Each pattern has an explainer `explain(finding, ctx) -> (markdown, facts) | None` registered in EXPLAINERS. An
explainer shows what torch observed at that site; when the site did not run it says why and explains the pattern
statically. `facts` is a small JSON-safe dict of the numbers shown, for machine readers and tests.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from paramlens.analyzers.findings import Finding
from paramlens.analyzers.instrument import Unit
from paramlens.explain import rules
from paramlens.explain.context import ExplainContext
from paramlens.explain.cut_labels import observed_after_cut, with_label
from paramlens.explain.patterns import copies, ema, functional, gradients, initialisation, modules, optimization, \
    parameters, parametrize, pruning, realworld, sharing, state, transforms
from paramlens.observations import Observations
from paramlens.report import Diagnostic, Explanation, ExplanationsInterrupted

LOG = logging.getLogger(__name__)

Explainer = Callable[[Finding, ExplainContext], "tuple[str, dict[str, Any]] | None"]

EXPLAINERS: dict[str, Explainer] = {
    "module": modules.explain_module,
    "module_class": modules.explain_module_class,
    "builder_call": modules.explain_builder_call,
    "function_def": modules.explain_function_def,
    "forward": modules.explain_forward,
    "print_module": modules.explain_print_module,
    "shared_module": sharing.explain_shared,
    "param_attr": parameters.explain_param_attr,
    "param_index": parameters.explain_param_index,
    "param_type": parameters.explain_param_type,
    "grad_none": parameters.explain_grad_none,
    "param_compare": parameters.explain_param_compare,
    "cell_value": parameters.explain_cell_value,
    "print_output": parameters.explain_print_output,
    "state_dict": state.explain_state_dict,
    "state_dict_key": state.explain_state_dict_key,
    "state_dict_lookup": state.explain_state_dict_lookup,
    "named_parameters": state.explain_iteration,
    "parameters": state.explain_iteration,
    "buffers": state.explain_iteration,
    "modules": state.explain_iteration,
    "add_module": state.explain_add_module,
    "tie_assignment": realworld.explain_tie_assignment,
    "register": realworld.explain_register,
    "parameter_new": realworld.explain_parameter_new,
    "tensor_attribute": realworld.explain_tensor_attribute,
    "freeze": realworld.explain_freeze,
    "requires_grad_assignment": realworld.explain_requires_grad_assignment,
    "load_state_dict": realworld.explain_load_state_dict,
    "torch_load": realworld.explain_torch_load,
    "torch_save": realworld.explain_torch_save,
    "optimizer": realworld.explain_optimizer,
    "training_step": optimization.explain_training_step,
    "zero_grad": optimization.explain_zero_grad,
    "backward": gradients.explain_backward,
    "apply": initialisation.explain_apply,
    "init": initialisation.explain_init,
    "data_mutation": initialisation.explain_mutation,
    "prune": pruning.explain_prune,
    "prune_remove": pruning.explain_prune_remove,
    "parametrize": parametrize.explain_parametrize,
    "functional_call": functional.explain_functional_call,
    "stack_module_state": functional.explain_stack_module_state,
    "deepcopy": copies.explain_deepcopy,
    "module_by_name": copies.explain_module_by_name,
    "to_empty": transforms.explain_to_empty,
    "reset_parameters": transforms.explain_reset_parameters,
    "cast": transforms.explain_cast,
    "reset_classifier": transforms.explain_reset_classifier,
    "post_init": transforms.explain_post_init,
    "ema_update": ema.explain_ema_update,
}

# Findings that only exist to carry data for another explanation.
SILENT = {"builder_return", "ema_scale"}


def build_report_parts(findings: list[Finding], units: list[Unit], observations: Observations,
                       locale: str, source: str = "") -> tuple[list[Explanation], list[Diagnostic]]:
    ctx = report_context(findings, units, observations, locale, source)
    return build_explanations(ctx), rules.check_all(ctx)


def report_context(findings: list[Finding], units: list[Unit], observations: Observations, locale: str,
                   source: str = "") -> ExplainContext:
    """What the explainers and the rules read. The rules' diagnostics need nothing the explanations compute, so
    a report can have its diagnostics now and its explanations later (report.FileReport.defer_explanations)."""
    return ExplainContext(observations=observations, locale=locale, findings=findings, units=units,
                          source_lines=source.splitlines())


def build_diagnostics(ctx: ExplainContext) -> list[Diagnostic]:
    return rules.check_all(ctx)


STOP_EVERY = 25  # findings between two questions to `stop` (a long file's ~2,000 take ~0.2–0.4 s)


def build_explanations(ctx: ExplainContext, stop: Callable[[], bool] | None = None) -> list[Explanation]:
    """Every finding's explanation (Markdown and facts), in position order. An explainer that fails (a bug in
    ParamLens) costs its own explanation, logged, never the others: they are built after the report's diagnostics
    were published, where nothing could fall back to a second run. `stop`, asked every STOP_EVERY findings, ends
    the build (ExplanationsInterrupted) when it answers True."""
    locale = ctx.locale
    explanations = []
    for number, finding in enumerate(ctx.findings):
        if stop is not None and number % STOP_EVERY == 0 and stop():
            raise ExplanationsInterrupted
        if finding.pattern in SILENT:
            continue
        explainer = EXPLAINERS.get(finding.pattern)
        if explainer is None:
            continue
        try:
            result = explainer(finding, ctx)
        except Exception as error:  # noqa: BLE001 - one explanation lost, said in the log
            LOG.warning("internal error while explaining the %s at line %d (%s: %s)", finding.pattern,
                        finding.span.line, type(error).__name__, error)
            LOG.debug("traceback of the internal error", exc_info=True)
            continue
        if result is None:
            continue
        markdown, facts = result
        cut = observed_after_cut(finding, ctx)
        if cut is not None:
            markdown = with_label(markdown, cut, locale)
            facts = {**facts, "after_cut": cut}
        explanations.append(Explanation(finding.span, finding.pattern, markdown, facts))
    explanations.sort(key=lambda e: (e.span.line, e.span.column, e.span.end_line, e.span.end_column))
    return explanations

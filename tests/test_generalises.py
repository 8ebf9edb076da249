"""The seed's patterns written differently (other names, sizes, import styles, containers, order) are recognised
just the same, and the values reported are the ones torch produced for that program (the oracle)."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import (comparable_modules, explanation_at_site, facts, find_explanations, line_of, locate, markdown,
                     shape_of, stats_of)
from oracle import run_oracle

LIST_SEQUENTIAL = """import torch.nn as nn
import torch
from torch.nn import init

layers = [nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)]
model = nn.Sequential(*layers)
print(*[(n, p.shape) for n, p in model.named_parameters()])


def init_weights(module):
    if isinstance(module, nn.Linear):
        nn.init.kaiming_normal_(module.weight, nonlinearity='relu')
        init.zeros_(module.bias)


model.apply(init_weights)
model.state_dict()
layer = nn.Linear(10, 20)
head = nn.Linear(20, 3)
print([name for name, _ in head.named_parameters()])
"""

# line breaks where the probes go: after `(` of a probed call, and before `.method` inside parentheses
LINE_BREAKS = """import torch
from torch import nn

stem = nn.Sequential()
stem.add_module(
    "conv", nn.Linear(3, 4)
)
stem.add_module(
    "head", nn.Linear(4, 2))


def init_fn(m):
    if isinstance(m, nn.Linear):
        nn.init.normal_(
            m.weight, mean=0.0, std=0.5
        )


(stem
 .apply(init_fn))
print(
    *[(n, p.shape) for n, p in stem
      .named_parameters()]
)
"""

ORDERED_DICT = """from collections import OrderedDict
import torch
import torch.nn as nn

model = nn.Sequential(OrderedDict([
    ("fc1", nn.Linear(4, 6)),
    ("act", nn.ReLU()),
    ("fc2", nn.Linear(6, 2)),
]))
names = [name for name, param in model.named_parameters()]
with torch.no_grad():
    model.fc1.weight.fill_(0.5)
model.fc2.weight.data.normal_(0, 0.02)
torch.nn.init.kaiming_uniform_(model.fc2.weight, a=5 ** 0.5)
print(model.fc2.state_dict())
"""

SHARED_MODULELIST = """import torch
from torch import nn

tail = nn.Linear(6, 6)
blocks = nn.ModuleList([nn.Linear(2, 6), tail, nn.ReLU(), tail])
print(sum(p.numel() for p in blocks.parameters()))
blocks[1].weight.data[0, 0] = -3
print(blocks[3].weight.data[0, 0])
"""

REORDERED = """from torch import nn
import torch


def reset(mod):
    if type(mod) == nn.Linear:
        nn.init.xavier_uniform_(mod.weight)


block = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 3))
print(block[2].state_dict())
block.apply(reset)
print(*[(n, p.shape) for n, p in block[2].named_parameters()])
block[2].weight.data[0, 0] = 7
x = torch.rand(4, 10)
out = block(x)
"""

CUSTOM_CLASS = """import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(3, 4)
        self.out = nn.Linear(4, 1)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x)))


net = MLP()
"""

CUSTOM_CLASS_WITHOUT_LAYERS_INSIDE = """import torch
from torch import nn


class Tied(nn.Module):
    def __init__(self, shared):
        super().__init__()
        self.enc = shared
        self.dec = shared
        self.register_buffer("running", torch.zeros(3))
        self.register_buffer("scratch", torch.ones(2), persistent=False)

    def forward(self, x):
        return self.dec(self.enc(x))


lin = nn.Linear(3, 3)
custom = Tied(lin)
y = custom(torch.rand(1, 3))
"""

DEEP = """import torch
from torch import nn
import torch.nn.init as I


def init_all(m):
    if isinstance(m, nn.Linear):
        I.normal_(m.weight, std=0.1)
        if m.bias is not None:
            I.zeros_(m.bias)


deep = nn.Sequential(*[nn.Linear(3, 3) for _ in range(12)])
deep.apply(init_all)


class Cell(nn.Linear):
    pass


cells = nn.ModuleList([Cell(2, 2) for _ in range(10)])
"""

SEEDED = """import torch
from torch import nn
layer = nn.Linear(2, 3)
print(layer.state_dict())
"""

SCENARIOS = {
    "list_sequential": (LIST_SEQUENTIAL, {
        "capture": {line_of(LIST_SEQUENTIAL, "print(*[(n, p.shape)"): [
                        "[n for n, p in model.named_parameters()]",
                        "[list(p.shape) for n, p in model.named_parameters()]",
                        "sum(p.numel() for p in model.parameters())"],
                    line_of(LIST_SEQUENTIAL, "model.apply(init_weights)"): [
                        "apply_order(model)", "{n: p for n, p in model.named_parameters()}",
                        "[fans(m.weight) for m in model if isinstance(m, nn.Linear)]"],
                    line_of(LIST_SEQUENTIAL, "model.state_dict()"): ["model.state_dict()"],
                    line_of(LIST_SEQUENTIAL, "print([name for name, _ in head"): [
                        "[n for n, p in head.named_parameters()]", "[list(p.shape) for n, p in head.named_parameters()]"]},
        "before": {line_of(LIST_SEQUENTIAL, "model.apply(init_weights)"): [
            "{n: p for n, p in model.named_parameters()}"]},
    }),
    "ordered_dict": (ORDERED_DICT, {
        "capture": {line_of(ORDERED_DICT, "names = "): ["names", "[list(p.shape) for p in model.parameters()]"],
                    line_of(ORDERED_DICT, "model.fc1.weight.fill_(0.5)"): ["model.fc1.weight"],
                    line_of(ORDERED_DICT, "model.fc2.weight.data.normal_(0, 0.02)"): ["model.fc2.weight"],
                    line_of(ORDERED_DICT, "torch.nn.init.kaiming_uniform_("): ["model.fc2.weight",
                                                                                 "fans(model.fc2.weight)"],
                    line_of(ORDERED_DICT, "print(model.fc2.state_dict())"): ["model.fc2.state_dict()"]},
        "before": {line_of(ORDERED_DICT, "model.fc1.weight.fill_(0.5)"): ["model.fc1.weight"]},
    }),
    "shared_modulelist": (SHARED_MODULELIST, {
        "capture": {line_of(SHARED_MODULELIST, "blocks = "): [
                        "[i for i, m in enumerate(blocks) if m is tail]", "sum(p.numel() for p in blocks.parameters())",
                        "sum(p.numel() for n, p in blocks.named_parameters(remove_duplicate=False))"],
                    line_of(SHARED_MODULELIST, "blocks[1].weight.data[0, 0] = -3"): ["owners(blocks[1].weight)"]},
    }),
    "reordered": (REORDERED, {
        "capture": {line_of(REORDERED, "print(block[2].state_dict())"): ["block[2].state_dict()"],
                    line_of(REORDERED, "block.apply(reset)"): [
                        "apply_order(block)", "{n: p for n, p in block.named_parameters()}",
                        "[fans(m.weight) for m in block if isinstance(m, nn.Linear)]"],
                    line_of(REORDERED, "print(*[(n, p.shape)"): [
                        "[n for n, p in block[2].named_parameters()]",
                        "[list(p.shape) for n, p in block[2].named_parameters()]"],
                    line_of(REORDERED, "out = block(x)"): ["out"]},
        "before": {line_of(REORDERED, "block.apply(reset)"): ["{n: p for n, p in block.named_parameters()}"]},
    }),
    "custom_class": (CUSTOM_CLASS, {}),
    "line_breaks": (LINE_BREAKS, {"capture": {line_of(LINE_BREAKS, "(stem"): [
        "apply_order(stem)", "{n: p for n, p in stem.named_parameters()}"]}}),
    "custom_class_without_layers_inside": (CUSTOM_CLASS_WITHOUT_LAYERS_INSIDE, {
        "capture": {line_of(CUSTOM_CLASS_WITHOUT_LAYERS_INSIDE, "y = custom("): ["y"]}}),
    "deep": (DEEP, {"capture": {line_of(DEEP, "deep.apply(init_all)"): [
        "apply_order(deep)", "sum(1 for m in deep.modules() if isinstance(m, nn.Linear))",
        "{n: p for n, p in deep.named_parameters()}"],
        line_of(DEEP, "cells = "): ["sum(1 for m in cells.modules() if type(m).__name__ == 'Cell')"]}}),
    "seeded_0": (SEEDED, {"capture": {line_of(SEEDED, "print("): ["layer.state_dict()"]}}),
    "seeded_3": (SEEDED, {"seed": 3, "capture": {line_of(SEEDED, "print("): ["layer.state_dict()"]}}),
}


class Case:
    def __init__(self, source, report, oracle):
        self.source, self.report, self.oracle = source, report, oracle

    def at(self, pattern, snippet, occurrence=1, within=None):
        return explanation_at_site(self.report, pattern, locate(self.source, snippet, occurrence, within))

    def line(self, snippet, occurrence=1):
        return line_of(self.source, snippet, occurrence)


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    from paramlens.analysis import AnalysisOptions, analyze

    directory = tmp_path_factory.mktemp("generalises")

    def run(name):
        source, requests = SCENARIOS[name]
        path = directory / f"{name}.py"
        path.write_text(source, encoding="utf-8")
        seed = requests.get("seed", 0)
        return analyze(source, str(path), AnalysisOptions(locale="en", seed=seed))

    def oracle(name):
        source, requests = SCENARIOS[name]
        return run_oracle(source, str(directory / f"{name}.py"), **requests)

    with ThreadPoolExecutor(max_workers=3) as pool:
        reports = {name: pool.submit(run, name) for name in SCENARIOS}
        oracles = {name: pool.submit(oracle, name) for name in SCENARIOS}
        return {name: Case(SCENARIOS[name][0], reports[name].result(), oracles[name].result()) for name in SCENARIOS}


def modules_json(report):
    return comparable_modules(report.modules)


@pytest.mark.parametrize("name", ["list_sequential", "line_breaks", "ordered_dict", "shared_modulelist", "reordered", "deep",
                                  "custom_class_without_layers_inside", "seeded_0", "seeded_3"])
def test_modules_match_oracle(cases, name):
    case = cases[name]
    assert modules_json(case.report) == case.oracle.modules
    assert not case.report.has_errors, [d.message for d in case.report.diagnostics if d.severity == "error"]
    assert case.report.execution.status == "ok"


def test_custom_module_class(cases):
    case = cases["custom_class"]
    assert not case.report.has_errors, [d.message for d in case.report.diagnostics]
    assert modules_json(case.report) == case.oracle.modules


def test_custom_module_class_runs_in_plain_python(cases):
    """The oracle side of the bug above: the same file runs fine without ParamLens."""
    case = cases["custom_class"]
    assert all(s["status"] == "ok" for s in case.oracle.statements)
    assert case.oracle.module("net")["param_count"] > 0


# -- list-built Sequential, isinstance + kaiming_normal_, `from torch.nn import init`, `import torch.nn as nn` ------

def test_named_parameters_of_list_built_sequential(cases):
    case = cases["list_sequential"]
    explanation = case.at("named_parameters", "model.named_parameters()")
    line = case.line("print(*[(n, p.shape)")
    call = facts(explanation)["calls"][0]
    assert call["receiver"] == "model"
    assert call["names"] == case.oracle.value(line, "[n for n, p in model.named_parameters()]")
    assert call["shapes"] == case.oracle.value(line, "[list(p.shape) for n, p in model.named_parameters()]")
    assert call["total"] == case.oracle.value(line, "sum(p.numel() for p in model.parameters())")
    printed = case.at("print_output", "print(*[(n, p.shape) for n, p in model.named_parameters()])")
    assert facts(printed)["output"] == case.oracle.statement(line)["output"]


def test_named_parameters_of_plain_layer(cases):
    case = cases["list_sequential"]
    explanation = case.at("named_parameters", "head.named_parameters()")
    line = case.line("print([name for name, _ in head")
    call = facts(explanation)["calls"][0]
    assert call["receiver"] == "head"
    assert call["names"] == case.oracle.value(line, "[n for n, p in head.named_parameters()]")
    assert call["shapes"] == case.oracle.value(line, "[list(p.shape) for n, p in head.named_parameters()]")


def _check_apply(case, statement, root):
    explanation = case.at("apply", statement)
    line = case.line(statement)
    order = case.oracle.value(line, f"apply_order({root})")
    before = case.oracle.value_before(line, f"{{n: p for n, p in {root}.named_parameters()}}")
    after = case.oracle.value(line, f"{{n: p for n, p in {root}.named_parameters()}}")
    visits = facts(explanation)["visits"]
    assert [v["module"] for v in visits] == [f"{root}.{n}" if n else root for n in order]
    for visit, name in zip(visits, order):
        prefix = f"{name}." if name else ""
        expected = sorted(p[len(prefix):] for p in after
                          if p.startswith(prefix) and "." not in p[len(prefix):] and after[p] != before[p])
        assert sorted(visit["changed"]) == expected, visit
    return after


def test_apply_with_isinstance_init(cases):
    case = cases["list_sequential"]
    after = _check_apply(case, "model.apply(init_weights)", "model")
    explanation = case.at("function_def", "init_weights", within="def init_weights(module):")
    assert facts(explanation)["applied"][0]["line"] == case.line("model.apply(init_weights)")
    assert facts(explanation)["applied"][0]["changed"] == len({n.rsplit(".", 1)[0] for n in after})


def test_kaiming_normal_std_from_torch(cases):
    import torch

    case = cases["list_sequential"]
    explanation = case.at("init", "nn.init.kaiming_normal_(module.weight, nonlinearity='relu')")
    line = case.line("model.apply(init_weights)")
    after = case.oracle.value(line, "{n: p for n, p in model.named_parameters()}")
    fans = case.oracle.value(line, "[fans(m.weight) for m in model if isinstance(m, nn.Linear)]")
    calls = facts(explanation)["calls"]
    linear_weights = [n for n in after if n.endswith(".weight")]
    assert [c["owner"] for c in calls] == [[f"model.{n}"] for n in linear_weights]
    gain = torch.nn.init.calculate_gain("relu")
    for call, name, (fan_in, fan_out) in zip(calls, linear_weights, fans):
        assert call["shape"] == shape_of(after[name])
        assert call["fan_in"] == fan_in == shape_of(after[name])[1]
        assert call["std"] == pytest.approx(gain / math.sqrt(fan_in), rel=1e-12)
        assert call["after"]["min"] == stats_of(after[name])["min"]
        assert call["after"]["max"] == stats_of(after[name])["max"]
    assert f"{calls[0]['std']:.4f}" in markdown(explanation)


def test_zeros_through_from_import(cases):
    case = cases["list_sequential"]
    explanation = case.at("init", "init.zeros_(module.bias)")
    after = case.oracle.value(case.line("model.apply(init_weights)"), "{n: p for n, p in model.named_parameters()}")
    biases = [n for n in after if n.endswith(".bias")]
    calls = facts(explanation)["calls"]
    assert [c["owner"] for c in calls] == [[f"model.{n}"] for n in biases]
    for call, name in zip(calls, biases):
        assert call["after"]["zeros"] == stats_of(after[name])["zeros"] == stats_of(after[name])["numel"]


def test_state_dict_after_apply(cases):
    case = cases["list_sequential"]
    explanation = case.at("state_dict", "model.state_dict()")
    expected = case.oracle.value(case.line("model.state_dict()"), "model.state_dict()")
    assert facts(explanation)["keys"] == list(expected)
    assert facts(explanation)["values"] == list(expected.values())


# -- OrderedDict Sequential, torch.no_grad edits, torch.nn.init.kaiming_uniform_ ------------------------------------

def test_ordered_dict_names(cases):
    case = cases["ordered_dict"]
    explanation = case.at("named_parameters", "model.named_parameters()")
    line = case.line("names = ")
    assert facts(explanation)["calls"][0]["names"] == case.oracle.value(line, "names")
    assert facts(explanation)["calls"][0]["shapes"] == \
        case.oracle.value(line, "[list(p.shape) for p in model.parameters()]")


def test_no_grad_fill(cases):
    case = cases["ordered_dict"]
    line = case.line("model.fc1.weight.fill_(0.5)")
    mutations = [e for e in find_explanations(case.report, "data_mutation", line)]
    assert len(mutations) == 1
    call = facts(mutations[0])["calls"][0]
    before = case.oracle.value_before(line, "model.fc1.weight")
    after = case.oracle.value(line, "model.fc1.weight")
    assert call["owner"] == ["model.fc1.weight"]
    assert call["before_values"] == before
    assert call["after_values"] == after
    assert call["changed"] == sum(1 for rb, ra in zip(before, after) for b, a in zip(rb, ra) if a != b)


def test_data_normal_values(cases):
    case = cases["ordered_dict"]
    line = case.line("model.fc2.weight.data.normal_(0, 0.02)")
    mutations = find_explanations(case.report, "data_mutation", line)
    assert len(mutations) == 1
    assert facts(mutations[0])["calls"][0]["after_values"] == case.oracle.value(line, "model.fc2.weight")


def test_kaiming_uniform_bound_from_torch(cases):
    import torch

    case = cases["ordered_dict"]
    explanation = case.at("init", "torch.nn.init.kaiming_uniform_(model.fc2.weight, a=5 ** 0.5)")
    line = case.line("torch.nn.init.kaiming_uniform_(")
    fan_in, fan_out = case.oracle.value(line, "fans(model.fc2.weight)")
    weight = case.oracle.value(line, "model.fc2.weight")
    call = facts(explanation)["calls"][0]
    assert call["owner"] == ["model.fc2.weight"]
    assert (call["fan_in"], call["fan_out"]) == (fan_in, fan_out)
    gain = torch.nn.init.calculate_gain("leaky_relu", 5 ** 0.5)
    assert call["bound"] == pytest.approx(gain * math.sqrt(3 / fan_in), rel=1e-12)
    assert (call["after"]["min"], call["after"]["max"]) == (stats_of(weight)["min"], stats_of(weight)["max"])


def test_state_dict_of_named_child(cases):
    case = cases["ordered_dict"]
    explanation = case.at("state_dict", "model.fc2.state_dict()")
    expected = case.oracle.value(case.line("print(model.fc2.state_dict())"), "model.fc2.state_dict()")
    assert facts(explanation)["keys"] == list(expected)
    assert facts(explanation)["values"] == list(expected.values())


# -- a shared layer in a ModuleList -----------------------------------------------------------------------------------

@pytest.mark.parametrize("occurrence", [1, 2])
def test_shared_layer_in_module_list(cases, occurrence):
    case = cases["shared_modulelist"]
    explanation = case.at("shared_module", "tail", occurrence,
                          within="tail, nn.ReLU(), tail")
    line = case.line("blocks = ")
    blocks = case.oracle.module("blocks")
    assert facts(explanation)["positions"] == case.oracle.value(line, "[i for i, m in enumerate(blocks) if m is tail]")
    assert facts(explanation)["tied"] == blocks["tied"]
    assert facts(explanation)["param_count"] == case.oracle.value(line, "sum(p.numel() for p in blocks.parameters())")
    assert facts(explanation)["param_count_with_duplicates"] == \
        case.oracle.value(line, "sum(p.numel() for n, p in blocks.named_parameters(remove_duplicate=False))")
    assert "`net[" not in markdown(explanation)  # the example names the real container


def test_write_through_shared_layer(cases):
    case = cases["shared_modulelist"]
    statement = "blocks[1].weight.data[0, 0] = -3"
    explanation = case.at("data_mutation", statement)
    owners = case.oracle.value(case.line(statement), "owners(blocks[1].weight)")
    assert sorted(facts(explanation)["calls"][0]["owner"]) == sorted(owners)
    assert {"blocks.1.weight", "blocks.3.weight", "tail.weight"} <= set(owners)
    printed = case.at("print_output", "print(blocks[3].weight.data[0, 0])")
    assert facts(printed)["output"] == case.oracle.statement(case.line("print(blocks[3].weight.data[0, 0])"))["output"]


# -- other names, sizes and order -------------------------------------------------------------------------------------

def test_state_dict_before_apply(cases):
    case = cases["reordered"]
    explanation = case.at("state_dict", "block[2].state_dict()")
    expected = case.oracle.value(case.line("print(block[2].state_dict())"), "block[2].state_dict()")
    assert facts(explanation)["keys"] == list(expected)
    assert facts(explanation)["values"] == list(expected.values())


def test_apply_with_type_check_in_other_order(cases):
    _check_apply(cases["reordered"], "block.apply(reset)", "block")


def test_xavier_bounds_for_each_layer(cases):
    case = cases["reordered"]
    explanation = case.at("init", "nn.init.xavier_uniform_(mod.weight)")
    line = case.line("block.apply(reset)")
    fans = case.oracle.value(line, "[fans(m.weight) for m in block if isinstance(m, nn.Linear)]")
    after = case.oracle.value(line, "{n: p for n, p in block.named_parameters()}")
    weights = [n for n in after if n.endswith(".weight")]
    calls = facts(explanation)["calls"]
    assert [c["owner"] for c in calls] == [[f"block.{n}"] for n in weights]
    for call, name, (fan_in, fan_out) in zip(calls, weights, fans):
        shape = shape_of(after[name])
        assert (fan_in, fan_out) == (shape[1], shape[0])
        assert (call["fan_in"], call["fan_out"]) == (fan_in, fan_out)
        assert call["bound"] == pytest.approx(math.sqrt(6 / (fan_in + fan_out)), rel=1e-12)
        assert call["after"]["min"] == stats_of(after[name])["min"]
        assert call["after"]["max"] == stats_of(after[name])["max"]


def test_named_parameters_of_child_with_other_sizes(cases):
    case = cases["reordered"]
    explanation = case.at("named_parameters", "block[2].named_parameters()")
    line = case.line("print(*[(n, p.shape)")
    call = facts(explanation)["calls"][0]
    assert call["receiver"] == "block.2"
    assert call["names"] == case.oracle.value(line, "[n for n, p in block[2].named_parameters()]")
    assert call["shapes"] == case.oracle.value(line, "[list(p.shape) for n, p in block[2].named_parameters()]")


def test_forward_after_edits(cases):
    case = cases["reordered"]
    explanation = case.at("forward", "block(x)")
    expected = case.oracle.value(case.line("out = block(x)"), "out")
    assert facts(explanation)["output_shape"] == shape_of(expected)
    assert facts(explanation)["output_values"] == expected


def test_type_check_rule_fires_on_other_names(cases):
    case = cases["reordered"]
    site = locate(case.source, "type(mod) == nn.Linear")
    rules = [d for d in case.report.diagnostics if d.code == "PL102"]
    assert [(d.span.line, d.span.column, d.span.end_column) for d in rules] == [(site.line, site.column,
                                                                                 site.end_column)]
    assert rules[0].fix.replacement == "isinstance(mod, nn.Linear)"


# -- custom class that receives its layers; buffers ------------------------------------------------------------------

def test_custom_class_tied_and_buffers(cases):
    case = cases["custom_class_without_layers_inside"]
    custom = next(m for m in modules_json(case.report) if m["name"] == "custom")
    expected = case.oracle.module("custom")
    assert custom["tied"] == expected["tied"] and expected["tied"]
    assert custom["buffers"] == expected["buffers"]
    assert {b["persistent"] for b in expected["buffers"]} == {True, False}
    forward = case.at("forward", "custom(torch.rand(1, 3))")
    assert facts(forward)["output_values"] == case.oracle.value(case.line("y = custom("), "y")


# -- more calls than ParamLens keeps records of ----------------------------------------------------------------------

def test_apply_over_many_layers(cases):
    _ = cases["deep"]
    case = cases["deep"]
    explanation = case.at("apply", "deep.apply(init_all)")
    order = case.oracle.value(case.line("deep.apply(init_all)"), "apply_order(deep)")
    assert [v["module"] for v in facts(explanation)["visits"]] == [f"deep.{n}" if n else "deep" for n in order]


def test_call_counts_beyond_record_limit(cases):
    case = cases["deep"]
    linear_count = case.oracle.value(case.line("deep.apply(init_all)"),
                                     "sum(1 for m in deep.modules() if isinstance(m, nn.Linear))")
    init = case.at("init", "I.normal_(m.weight, std=0.1)")
    assert f"Called {linear_count} times" in markdown(init)
    built = case.at("module", "nn.Linear(3, 3)")
    assert facts(built)["calls"] == linear_count
    tally = facts(case.at("param_compare", "m.bias is not None"))["tally"]
    assert tally == {"True": linear_count} and linear_count > 8  # every evaluation, past the record limit
    cell = case.at("module_class", "Cell", within="class Cell(nn.Linear):")
    assert facts(cell)["built"] == case.oracle.value(case.line("cells = "),
                                                     "sum(1 for m in cells.modules() if type(m).__name__ == 'Cell')")
    assert "class Cell(nn.Linear)" in markdown(cell)


# -- the seed option ------------------------------------------------------------------------------------------------

def test_seed_option_changes_values_like_torch(cases):
    statement = "layer.state_dict()"
    values = {}
    for name in ("seeded_0", "seeded_3"):
        case = cases[name]
        explanation = case.at("state_dict", statement)
        expected = case.oracle.value(case.line("print("), statement)
        assert facts(explanation)["values"] == list(expected.values())
        assert case.report.execution.seed == case.oracle.data["seed"]
        values[name] = facts(explanation)["values"]
    assert values["seeded_0"] != values["seeded_3"]


def test_probes_keep_line_breaks(cases):
    """Probed calls split over lines keep every line where it was (else every later line number would be off),
    and are still observed."""
    case = cases["line_breaks"]
    line = case.line("(stem")
    [apply] = find_explanations(case.report, "apply", line)
    assert [v["module"] for v in facts(apply)["visits"]] == \
        [f"stem.{n}" if n else "stem" for n in case.oracle.value(line, "apply_order(stem)")]
    assert [sorted(v["changed"]) for v in facts(apply)["visits"]] == [["weight"], ["weight"], []]
    [listed] = find_explanations(case.report, "named_parameters")
    assert facts(listed)["calls"][0]["names"] == \
        list(case.oracle.value(line, "{n: p for n, p in stem.named_parameters()}"))
    added = [e for e in case.report.explanations if facts(e).get("names") and "add_module" in markdown(e)]
    assert [facts(e)["names"] for e in added] == [["conv"], ["head"]]


def test_settings_named_after_parameters_are_not_parameter_accesses(tmp_path):
    """`config.weight_decay` is a float, `lstm.weight_ih_l0` a parameter: only the second is explained as one,
    with the shape torch gives it."""
    import torch

    from paramlens.analysis import AnalysisOptions, analyze

    source = ("import torch\nfrom torch import nn\n\n\nclass Config:\n    weight_decay = 0.1\n\n\n"
              "def configure(model, train_config):\n"
              "    return torch.optim.AdamW(model.parameters(), weight_decay=train_config.weight_decay)\n\n\n"
              "lstm = nn.LSTM(3, 5)\nprint(lstm.weight_ih_l0.shape, Config.weight_decay)\n"
              "optimizer = configure(lstm, Config())\n")
    path = tmp_path / "settings.py"
    path.write_text(source, encoding="utf-8")
    report = analyze(source, str(path), AnalysisOptions(locale="en"))
    accessed = [e for e in report.explanations if e.pattern == "param_attr"]
    line = source.splitlines().index("print(lstm.weight_ih_l0.shape, Config.weight_decay)") + 1
    assert [e.span.line for e in accessed] == [line]
    assert accessed[0].facts["shape"] == list(torch.nn.LSTM(3, 5).weight_ih_l0.shape)
    # without running (an untrusted workspace, or a method never called) the names alone must decide
    static = analyze(source, str(path), AnalysisOptions(locale="en", execute=False))
    assert [e.span.line for e in static.explanations if e.pattern == "param_attr"] == [line]


def test_large_tensor_text_is_summarised_but_the_users_print_is_untouched(tmp_path):
    """Explanations show a large tensor the way torch summarises one (`...`), which is much cheaper to format;
    what the user's own `print` writes (with the user's print options) is exactly what plain torch prints."""
    from paramlens.analysis import AnalysisOptions, analyze

    source = ("import torch\nfrom torch import nn\ntorch.set_printoptions(precision=2)\nlayer = nn.Linear(30, 20)\n"
              "layer.weight\nprint(layer.weight)\n")
    path = tmp_path / "big.py"
    path.write_text(source, encoding="utf-8")
    report = analyze(source, str(path), AnalysisOptions(locale="en"))
    oracle = run_oracle(source, str(path))
    printed = next(e for e in report.explanations if e.pattern == "print_output")
    assert facts(printed)["output"] == oracle.statement(6)["output"]
    assert "..." not in facts(printed)["output"]
    value = next(e for e in report.explanations if e.pattern == "param_attr" and e.span.line == 5)
    assert "..." in markdown(value) and facts(value)["shape"] == [20, 30]

"""Every pattern of the seed example is explained at the exact source range, and its facts carry the values torch
produced for that very program (the oracle), at that point of the program."""

from __future__ import annotations

import math

import pytest

from helpers import (CJK, explanation_at_site, facts, find_explanations, line_of, locate, markdown, shape_of,
                     stats_of)


@pytest.fixture(scope="module")
def src(example_source):
    return example_source


def at(report, src, pattern, snippet, occurrence=1, within=None):
    return explanation_at_site(report, pattern, locate(src, snippet, occurrence, within))


def statement_site(src, statement, occurrence=1):
    """The whole one-line statement `statement` (as typed in the file)."""
    return locate(src, statement, occurrence)


# -- building and inspecting ----------------------------------------------------------------------------------------

def test_module_construction(seed_report, seed_oracle, src):
    statement = "nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))"
    explanation = at(seed_report, src, "module", statement)
    line = line_of(src, statement)
    assert facts(explanation)["class"] == "Sequential"
    assert facts(explanation)["param_count"] == seed_oracle.value(line, "sum(p.numel() for p in net.parameters())")
    expected = seed_oracle.value(line, "[(n, list(p.shape)) for n, p in net.named_parameters()]")
    assert facts(explanation)["parameters"] == expected
    assert str(facts(explanation)["param_count"]) in markdown(explanation)


def test_forward_output_values(seed_report, seed_oracle, src):
    explanation = at(seed_report, src, "forward", "net(X)", within="net(X)\nprint(X)")
    line = line_of(src, "net(X)\nprint(X)")
    expected = seed_oracle.value(line, "net(X)")
    assert facts(explanation)["output_values"] == expected
    assert facts(explanation)["output_shape"] == shape_of(expected)
    assert facts(explanation)["inputs"] == [seed_oracle.value(line, "list(X.shape)")]


def test_every_printed_output_is_what_python_printed(seed_report, seed_oracle):
    prints = find_explanations(seed_report, "print_output")
    assert len(prints) >= 10
    for explanation in prints:
        statement = seed_oracle.statement(explanation["line"])
        assert facts(explanation)["output"] == statement["output"], explanation["line"]


def test_state_dict_of_net2_at_that_point(seed_report, seed_oracle, src):
    explanation = at(seed_report, src, "state_dict", "net[2].state_dict()")
    expected = seed_oracle.value(line_of(src, "print(net[2].state_dict())"), "net[2].state_dict()")
    assert facts(explanation)["keys"] == list(expected)
    assert facts(explanation)["values"] == list(expected.values())
    assert facts(explanation)["shapes"] == [shape_of(v) for v in expected.values()]
    for key in expected:
        assert f"`{key}`" in markdown(explanation)


def test_whole_state_dict_and_key_lookup(seed_report, seed_oracle, src):
    line = line_of(src, "net.state_dict()['2.bias'].data")
    whole = at(seed_report, src, "state_dict", "net.state_dict()", within="net.state_dict()['2.bias'].data")
    expected = seed_oracle.value(line, "net.state_dict()")
    assert facts(whole)["keys"] == list(expected)
    assert facts(whole)["values"] == list(expected.values())
    key = at(seed_report, src, "state_dict_key", "net.state_dict()['2.bias']")
    assert facts(key)["values"] == seed_oracle.value(line, "net.state_dict()['2.bias'].data")
    assert facts(key)["requires_grad"] is False


def test_param_type(seed_report, seed_oracle, src):
    explanation = at(seed_report, src, "param_type", "type(net[2].bias)", within=", type(net[2].bias), ")
    line = line_of(src, "type(net[2].bias)")
    expected = seed_oracle.value(line, "type(net[2].bias).__module__ + '.' + type(net[2].bias).__qualname__")
    assert facts(explanation)["type"] == expected
    assert expected in markdown(explanation)


def test_param_attr_owner(seed_report, seed_oracle, src):
    explanation = at(seed_report, src, "param_attr", "net[2].bias", within='type(net[2].bias), "\\n")')
    line = line_of(src, "type(net[2].bias)")
    assert facts(explanation)["owner"] == seed_oracle.value(line, "owners(net[2].bias)")
    assert facts(explanation)["values"] == seed_oracle.value(line_of(src, "print(net[2].state_dict())"),
                                                             "net[2].state_dict()")["bias"]


def test_grad_none(seed_report, seed_oracle, src):
    explanation = at(seed_report, src, "grad_none", "net[2].weight.grad == None")
    expected = seed_oracle.value(line_of(src, "net[2].weight.grad == None"), "repr(net[2].weight.grad == None)")
    assert facts(explanation)["value"] == expected
    assert f"`{expected}`" in markdown(explanation)


def test_grad_none_gets_the_is_none_diagnostic(seed_report, src):
    site = statement_site(src, "net[2].weight.grad == None")
    diagnostics = [d for d in seed_report["diagnostics"] if d["code"] == "PL104"]
    assert len(diagnostics) == 1
    assert (diagnostics[0]["line"], diagnostics[0]["column"], diagnostics[0]["end_column"]) == \
        (site.line, site.column, site.end_column)
    assert diagnostics[0]["fix"]["replacement"] == "net[2].weight.grad is None"


@pytest.mark.parametrize("receiver,statement", [
    ("net[0]", "print(*[(name, param.shape) for name, param in net[0].named_parameters()])"),
    ("net", "print(*[(name, param.shape) for name, param in net.named_parameters()])"),
])
def test_named_parameters(seed_report, seed_oracle, src, receiver, statement):
    explanation = at(seed_report, src, "named_parameters", f"{receiver}.named_parameters()", within=statement)
    line = line_of(src, statement)
    call = facts(explanation)["calls"][0]
    assert call["receiver"] == receiver.replace("[", ".").replace("]", "")
    assert call["names"] == seed_oracle.value(line, f"[n for n, p in {receiver}.named_parameters()]")
    assert call["shapes"] == seed_oracle.value(line, f"[list(p.shape) for n, p in {receiver}.named_parameters()]")
    assert call["total"] == seed_oracle.value(line, f"sum(p.numel() for p in {receiver}.parameters())")
    for name in call["names"]:
        assert f"`{name}`" in markdown(explanation)


def test_named_parameters_first_call_names_are_weight_bias(seed_report, seed_oracle, src):
    statement = "print(*[(name, param.shape) for name, param in net[0].named_parameters()])"
    explanation = at(seed_report, src, "named_parameters", "net[0].named_parameters()", within=statement)
    assert facts(explanation)["calls"][0]["names"] == ["weight", "bias"]


def test_named_parameters_inside_my_init(seed_report, seed_oracle, src):
    """Inside `my_init` the call runs once per Linear that `apply` visits: net.0, then net.2."""
    explanation = at(seed_report, src, "named_parameters", "m.named_parameters()")
    line = line_of(src, "net.apply(my_init)")
    order = seed_oracle.value(line, "apply_order(net)")
    params = seed_oracle.value(line, "{n: p for n, p in net.named_parameters()}")
    linear_children = [name for name in order if name and f"{name}.weight" in params]
    calls = facts(explanation)["calls"]
    assert [c["receiver"] for c in calls] == [f"net.{name}" for name in linear_children]
    for call, name in zip(calls, linear_children):
        assert call["names"] == ["weight", "bias"]
        assert call["shapes"] == [shape_of(params[f"{name}.weight"]), shape_of(params[f"{name}.bias"])]


def test_add_module_names(seed_report, seed_oracle, src):
    explanation = at(seed_report, src, "add_module", "net.add_module(f'block {i}', block1())")
    expected = seed_oracle.value(line_of(src, "rgnet = nn.Sequential("), "[n for n, _ in rgnet[0].named_children()]")
    assert facts(explanation)["names"] == expected
    assert facts(explanation)["calls"] == len(expected)
    for name in expected:
        assert f"'{name}'" in markdown(explanation)


def test_print_module(seed_report, seed_oracle, src):
    explanation = at(seed_report, src, "print_module", "print(rgnet)")
    line = line_of(src, "print(rgnet)")
    assert facts(explanation)["param_count"] == seed_oracle.value(line, "sum(p.numel() for p in rgnet.parameters())")
    assert [p[0] for p in facts(explanation)["parameters"]] == \
        seed_oracle.value(line, "[n for n, p in rgnet.named_parameters()]")
    # the module tree explanation also carries what the statement printed (no separate print_output there)
    assert facts(explanation)["output"] == seed_oracle.statement(line)["output"]
    assert not [e for e in seed_report["explanations"]
                if e["pattern"] == "print_output" and e["line"] == line]


def test_builder_function_called_four_times(seed_report, seed_oracle, src):
    explanation = at(seed_report, src, "function_def", "block1", within="def block1():")
    names = seed_oracle.value(line_of(src, "rgnet = nn.Sequential("), "[n for n, _ in rgnet[0].named_children()]")
    assert facts(explanation)["calls"] == len(names)


def test_every_tensor_read_has_torchs_values(seed_report, seed_oracle, src):
    """Each explained read of a parameter, a `.data`, an index or a state_dict entry in a top-level expression
    carries exactly the values the oracle gets by evaluating that same source text at that point."""
    lines = src.splitlines()
    compared = 0
    for explanation in seed_report["explanations"]:
        if explanation["pattern"] not in ("param_attr", "param_index", "state_dict_key"):
            continue
        if explanation["line"] != explanation["end_line"] or facts(explanation).get("values") is None:
            continue
        text = lines[explanation["line"] - 1][explanation["column"] - 1:explanation["end_column"] - 1]
        try:
            expected = seed_oracle.value(explanation["line"], text)
        except KeyError:
            continue  # not inside a top-level expression statement (an assignment, a function body)
        assert facts(explanation)["values"] == expected, (explanation["line"], text)
        assert facts(explanation)["shape"] == shape_of(expected), (explanation["line"], text)
        compared += 1
    assert compared >= 20, compared


@pytest.mark.parametrize("call,expr,within", [
    ("block1()", "rgnet[0][0]", "net.add_module(f'block {i}', block1())"),
    ("block2()", "rgnet[0]", "rgnet = nn.Sequential(block2(), nn.Linear(4, 1))"),
])
def test_builder_calls(seed_report, seed_oracle, src, call, expr, within):
    explanation = at(seed_report, src, "builder_call", call, within=within)
    line = line_of(src, "rgnet = nn.Sequential(block2(), nn.Linear(4, 1))")
    assert facts(explanation)["class"] == "Sequential"
    assert facts(explanation)["parameters"] == \
        seed_oracle.value(line, f"[[n, list(p.shape)] for n, p in {expr}.named_parameters()]")
    if expr == "rgnet[0]":
        assert facts(explanation)["param_count"] == seed_oracle.value(line, "sum(p.numel() for p in rgnet[0].parameters())")
    else:
        counts = seed_oracle.value(line, "[sum(p.numel() for p in b.parameters()) for b in rgnet[0]]")
        assert facts(explanation)["param_count"] == counts[0]


def test_seed_covers_every_pattern(seed_report):
    """The patterns this file checks against the oracle all occur in the seed example."""
    checked = {"module", "forward", "print_output", "state_dict", "state_dict_key", "param_type", "param_attr",
               "grad_none", "named_parameters", "add_module", "builder_call", "function_def", "print_module",
               "apply", "init", "cell_value", "param_index", "data_mutation", "shared_module", "param_compare"}
    present = {e["pattern"] for e in seed_report["explanations"]}
    assert checked <= present, checked - present
    assert present <= checked, f"new patterns without a value test here: {present - checked}"


# -- apply and initialisation ---------------------------------------------------------------------------------------

def _changed_by(seed_oracle, line):
    before = seed_oracle.value_before(line, "{n: p for n, p in net.named_parameters()}")
    after = seed_oracle.value(line, "{n: p for n, p in net.named_parameters()}")
    return {name for name in after if after[name] != before[name]}, after


@pytest.mark.parametrize("statement,fn", [
    ("net.apply(init_normal)", "init_normal"),
    ("net.apply(init_constant)", "init_constant"),
    ("net.apply(my_init)", "my_init"),
])
def test_apply_visits_in_torch_order_and_reports_changes(seed_report, seed_oracle, src, statement, fn):
    explanation = at(seed_report, src, "apply", statement)
    line = line_of(src, statement)
    order = seed_oracle.value(line, "apply_order(net)")
    changed, _ = _changed_by(seed_oracle, line)
    visits = facts(explanation)["visits"]
    assert facts(explanation)["fn"] == fn
    assert [v["module"] for v in visits] == [f"net.{name}" if name else "net" for name in order]
    assert [v["module"] for v in visits] == ["net.0", "net.1", "net.2", "net"]  # children first, then the root
    for visit, name in zip(visits, order):
        prefix = f"{name}." if name else ""
        expected = sorted(p[len(prefix):] for p in changed if p.startswith(prefix) and "." not in p[len(prefix):])
        assert sorted(visit["changed"]) == expected, visit


def test_apply_init_normal_changes_both_linears(seed_report, seed_oracle, src):
    changed, after = _changed_by(seed_oracle, line_of(src, "net.apply(init_normal)"))
    assert changed == {"0.weight", "0.bias", "2.weight", "2.bias"}
    explanation = at(seed_report, src, "init", "nn.init.normal_(m.weight, mean=0, std=0.01)")
    calls = facts(explanation)["calls"]
    assert [c["owner"] for c in calls] == [["net.0.weight"], ["net.2.weight"]]
    for call, name in zip(calls, ["0.weight", "2.weight"]):
        expected = stats_of(after[name])
        assert call["shape"] == shape_of(after[name])
        assert call["args"] == {"mean": 0, "std": 0.01}
        assert call["after"]["min"] == expected["min"]
        assert call["after"]["max"] == expected["max"]
        assert call["after"]["numel"] == expected["numel"]


def test_apply_line_function_def_summary(seed_report, seed_oracle, src):
    explanation = at(seed_report, src, "function_def", "init_normal", within="def init_normal(m):")
    line = line_of(src, "net.apply(init_normal)")
    changed, _ = _changed_by(seed_oracle, line)
    applied = facts(explanation)["applied"]
    assert applied == [{"line": line, "visited": len(seed_oracle.value(line, "apply_order(net)")),
                        "changed": len({name.rsplit(".", 1)[0] for name in changed})}]


@pytest.mark.parametrize("occurrence", [1, 2])
def test_cell_value_after_init(seed_report, seed_oracle, src, occurrence):
    statement = "net[0].weight.data[0], net[0].bias.data[0]"
    explanation = at(seed_report, src, "cell_value", statement, occurrence)
    expected = seed_oracle.value(line_of(src, statement, occurrence), "(net[0].weight.data[0], net[0].bias.data[0])")
    assert facts(explanation)["items"] == expected


def test_constant_init_values(seed_report, seed_oracle, src):
    explanation = at(seed_report, src, "init", "nn.init.constant_(m.weight, 1)")
    _, after = _changed_by(seed_oracle, line_of(src, "net.apply(init_constant)"))
    for call, name in zip(facts(explanation)["calls"], ["0.weight", "2.weight"]):
        expected = stats_of(after[name])
        assert call["args"] == {"val": 1}
        assert (call["after"]["min"], call["after"]["max"]) == (expected["min"], expected["max"])
        assert call["after"]["all_equal"] is (expected["min"] == expected["max"])


def test_constant_init_explains_symmetry(seed_report, src):
    for explanation in (at(seed_report, src, "init", "nn.init.constant_(m.weight, 1)"),
                        at(seed_report, src, "apply", "net.apply(init_constant)")):
        assert "symmetry" in markdown(explanation)


def test_constant_init_blames_symmetry_not_imbalance(seed_report, src):
    """The seed blames class imbalance; the reason is symmetry. Imbalance may appear only where it is denied."""
    for explanation in (at(seed_report, src, "init", "nn.init.constant_(m.weight, 1)"),
                        at(seed_report, src, "apply", "net.apply(init_constant)")):
        text = markdown(explanation).lower()
        assert "symmetry" in text
        assert text.replace("nothing to do with class imbalance", "").count("imbalance") == 0


def test_constant_init_warning_counts_units(seed_report, seed_oracle, src):
    """PL101 at `nn.init.constant_(m.weight, 1)` names net.0.weight and its number of output units."""
    site = locate(src, "nn.init.constant_(m.weight, 1)")
    warnings = [d for d in seed_report["diagnostics"] if d["code"] == "PL101" and d["line"] == site.line]
    assert len(warnings) == 1
    shape = seed_oracle.value(line_of(src, "net[0].apply(xavier)"), "list(net[0].weight.shape)")
    assert "net.0.weight" in warnings[0]["message"]
    assert f"its {shape[0]} units" in warnings[0]["message"]


def test_xavier_bound_from_torch_shape(seed_report, seed_oracle, src):
    explanation = at(seed_report, src, "init", "nn.init.xavier_uniform_(m.weight)")
    line = line_of(src, "net[0].apply(xavier)")
    shape = seed_oracle.value(line, "list(net[0].weight.shape)")
    fan_in, fan_out = shape[1], shape[0]
    assert seed_oracle.value(line, "fans(net[0].weight)") == [fan_in, fan_out]
    call = facts(explanation)["calls"][0]
    assert call["owner"] == ["net.0.weight"]
    assert call["shape"] == shape
    assert (call["fan_in"], call["fan_out"]) == (fan_in, fan_out)
    assert call["bound"] == pytest.approx(math.sqrt(6 / (fan_in + fan_out)), rel=1e-12)
    weight = seed_oracle.value(line, "net[0].weight")
    assert call["after"]["min"] == stats_of(weight)["min"]
    assert call["after"]["max"] == stats_of(weight)["max"]
    assert max(abs(x) for row in weight for x in row) <= call["bound"]
    assert f"{call['bound']:.4f}" in markdown(explanation)


def test_xavier_apply_on_one_child(seed_report, seed_oracle, src):
    explanation = at(seed_report, src, "apply", "net[0].apply(xavier)")
    order = seed_oracle.value(line_of(src, "net[0].apply(xavier)"), "[m for m in apply_order(net[0])]")
    assert [v["module"] for v in facts(explanation)["visits"]] == ["net.0" + (f".{m}" if m else "") for m in order]


def test_init_42(seed_report, seed_oracle, src):
    explanation = at(seed_report, src, "init", "nn.init.constant_(m.weight, 42)")
    weight = seed_oracle.value(line_of(src, "net[2].apply(init_42)"), "net[2].weight")
    call = facts(explanation)["calls"][0]
    assert call["owner"] == ["net.2.weight"]
    assert call["shape"] == shape_of(weight)
    assert (call["after"]["min"], call["after"]["max"]) == (stats_of(weight)["min"], stats_of(weight)["max"])


def test_uniform_init_then_zeroing(seed_report, seed_oracle, src):
    """`m.weight.data *= m.weight.data.abs() >= 5` zeroes every value of magnitude below 5: the counts are those of
    torch's result, and before * mask == after."""
    import torch

    explanation = at(seed_report, src, "data_mutation", "m.weight.data *= m.weight.data.abs() >= 5")
    line = line_of(src, "net.apply(my_init)")
    calls = facts(explanation)["calls"]
    assert [c["owner"] for c in calls] == [["net.0.weight"], ["net.2.weight"]]
    for call, expr in zip(calls, ["net[0].weight", "net[2].weight"]):
        after = seed_oracle.value(line, expr)
        zeros = stats_of(after)["zeros"]
        assert zeros > 0
        assert call["after_values"] == after
        assert call["zeroed"] == zeros
        assert call["changed"] == zeros
        assert call["numel"] == stats_of(after)["numel"]
        before = torch.tensor(call["before_values"])
        assert (before * (before.abs() >= 5)).tolist() == after
    uniform = at(seed_report, src, "init", "nn.init.uniform_(m.weight, -10, 10)")
    for call in facts(uniform)["calls"]:
        assert call["args"] == {"a": -10, "b": 10}
        assert -10 <= call["after"]["min"] <= call["after"]["max"] <= 10


@pytest.mark.parametrize("statement,expr", [
    ("net[0].weight.data[:] += 1", "net[0].weight"),
    ("net[0].weight.data[0, 0] = 42", "net[0].weight"),
])
def test_data_mutation_counts(seed_report, seed_oracle, src, statement, expr):
    explanation = at(seed_report, src, "data_mutation", statement)
    call = facts(explanation)["calls"][0]
    assert call["owner"] == ["net.0.weight"]
    changed = sum(1 for b, a in zip(_flat(call["before_values"]), _flat(call["after_values"])) if a != b)
    assert call["changed"] == changed
    # the final value of net[0].weight after these two statements is the oracle's
    final = seed_oracle.value(line_of(src, "net.apply(my_init)"), "net[0].weight")
    if statement.endswith("+= 1"):
        assert call["before_values"] == final
        assert call["after_values"] == _plus_one_float32(final)
    else:
        assert call["after_values"][0][0] == 42


def _flat(values):
    return [x for row in values for x in row] if isinstance(values[0], list) else list(values)


def _plus_one_float32(values):
    import torch

    return (torch.tensor(values, dtype=torch.float32) + 1).tolist()


def test_tied_write_reaches_both_positions(seed_report, seed_oracle, src):
    explanation = at(seed_report, src, "data_mutation", "net[2].weight.data[0, 0] = 100")
    line = line_of(src, "net[2].weight.data[0, 0] = 100")
    call = facts(explanation)["calls"][0]
    assert "net.2.weight" in call["owner"] and "net.4.weight" in call["owner"]
    assert sorted(call["owner"]) == sorted(seed_oracle.value(line, "owners(net[2].weight)"))
    before = seed_oracle.value_before(line, "net[2].weight")
    after = seed_oracle.value(line, "net[2].weight")
    assert call["before_values"] == before
    assert call["after_values"] == after
    assert call["changed"] == sum(1 for b, a in zip(_flat(before), _flat(after)) if a != b)


@pytest.mark.parametrize("occurrence", [1, 2])
def test_shared_module_positions(seed_report, seed_oracle, src, occurrence):
    tied = "net = nn.Sequential(nn.Linear(4, 8),\n"
    explanation = at(seed_report, src, "shared_module", "shared", occurrence=occurrence,
                     within="shared,\n                    nn.ReLU(),\n                    shared,")
    line = line_of(src, tied)
    assert facts(explanation)["positions"] == seed_oracle.value(line, "[i for i, m in enumerate(net) if m is shared]")
    net = seed_oracle.module("net")
    assert facts(explanation)["tied"] == net["tied"]
    assert facts(explanation)["param_count"] == seed_oracle.value(line, "sum(p.numel() for p in net.parameters())")
    assert facts(explanation)["param_count_with_duplicates"] == \
        seed_oracle.value(line, "sum(p.numel() for n, p in net.named_parameters(remove_duplicate=False))")
    positions = facts(explanation)["positions"]
    assert facts(explanation)["state_dict_keys"] == [k for k in net["state_dict_keys"]
                                                     if int(k.split(".")[0]) in positions]


def test_shared_parameters_diagnostic(seed_report, seed_oracle, src):
    site = locate(src, "nn.Sequential(nn.Linear(4, 8),\n", within="net = nn.Sequential(nn.Linear(4, 8),\n")
    diagnostic = next(d for d in seed_report["diagnostics"] if d["code"] == "PL201")
    assert (diagnostic["line"], diagnostic["column"]) == (site.line, site.column)
    net = seed_oracle.module("net")
    assert f"({net['param_count']} values)" in diagnostic["message"]
    assert f"({net['param_count_with_duplicates']} values)" in diagnostic["message"]


@pytest.mark.parametrize("occurrence", [1, 2])
def test_param_compare(seed_report, seed_oracle, src, occurrence):
    statement = "print(net[2].weight.data[0] == net[4].weight.data[0])"
    explanation = at(seed_report, src, "param_compare", "net[2].weight.data[0] == net[4].weight.data[0]",
                     occurrence)
    expected = seed_oracle.value(line_of(src, statement, occurrence), "(net[2].weight.data[0] == net[4].weight.data[0])")
    assert facts(explanation)["value"] == expected
    assert "net.2.weight" in markdown(explanation) and "net.4.weight" in markdown(explanation)


# -- zh-CN ----------------------------------------------------------------------------------------------------------

def _key(item):
    if isinstance(item, dict):
        return item["line"], item["column"], item["end_line"], item["end_column"], item["pattern"]
    return item.span.line, item.span.column, item.span.end_line, item.span.end_column, item.pattern


def test_zh_cn_has_every_explanation_with_same_facts(seed_report, seed_report_zh):
    english = {_key(e): e for e in seed_report["explanations"]}
    chinese = {_key(e): e for e in seed_report_zh.explanations}
    assert set(chinese) == set(english)
    for key, explanation in chinese.items():
        assert explanation.facts == english[key]["facts"], key


def test_zh_cn_markdown_is_chinese(seed_report_zh):
    missing = [(_key(e), e.markdown[:80]) for e in seed_report_zh.explanations if not CJK.search(e.markdown)]
    assert not missing


def test_zh_cn_diagnostics(seed_report, seed_report_zh):
    assert [(d.span.line, d.code) for d in seed_report_zh.diagnostics] == \
        [(d["line"], d["code"]) for d in seed_report["diagnostics"]]
    assert all(CJK.search(d.message) for d in seed_report_zh.diagnostics)


def test_zh_cn_keeps_the_values(seed_report_zh, seed_oracle, src):
    explanation = explanation_at_site(seed_report_zh, "init", locate(src, "nn.init.xavier_uniform_(m.weight)"))
    assert f"{explanation.facts['calls'][0]['bound']:.4f}" in explanation.markdown
    assert "对称" in explanation_at_site(seed_report_zh, "init", locate(src, "nn.init.constant_(m.weight, 1)")).markdown


def test_explanation_at_returns_innermost(seed_report_zh, src):
    site = locate(src, "net[0].named_parameters()",
                  within="print(*[(name, param.shape) for name, param in net[0].named_parameters()])")
    hit = seed_report_zh.explanation_at(site.line, site.column + 2)
    assert hit is not None and hit.pattern == "named_parameters"
    statement = locate(src, "print(*[(name, param.shape) for name, param in net[0].named_parameters()])")
    outer = seed_report_zh.explanation_at(statement.line, statement.column)
    assert outer is not None and outer.pattern == "print_output"

"""End-to-end checks of the analysis pipeline on the seed example, with torch as the oracle.

The oracle runs the same file in a fresh interpreter after `torch.manual_seed(0)` (ParamLens' default seed),
statement by statement like notebook cells, and reports what torch itself says about every module variable and
about chosen expressions right after chosen statements.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from paramlens.analysis import AnalysisOptions, analyze

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "examples" / "parameter_management.py"

ORACLE = r'''
import ast, io, json, sys, contextlib
import torch
from torch import nn
path, captures = sys.argv[1], json.loads(sys.argv[2])
source = open(path).read()
torch.manual_seed(0)
ns = {"__name__": "__oracle__"}
captured = {}
for stmt in ast.parse(source).body:
    module = ast.Module(body=[stmt], type_ignores=[])
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            exec(compile(module, path, "exec"), ns)
        except Exception:
            pass
    for expr in captures.get(str(stmt.lineno), []):
        value = eval(expr, ns)
        captured[f"{stmt.lineno}:{expr}"] = value.tolist() if torch.is_tensor(value) else value
modules = {}
for name, value in ns.items():
    if isinstance(value, nn.Module):
        groups = {}
        for n, p in value.named_parameters(remove_duplicate=False):
            groups.setdefault(id(p), []).append(n)
        modules[name] = {
            "class": type(value).__name__,
            "param_count": sum(p.numel() for p in value.parameters()),
            "param_count_with_duplicates": sum(p.numel() for _, p in value.named_parameters(remove_duplicate=False)),
            "parameters": [[n, list(p.shape)] for n, p in value.named_parameters()],
            "tied": [g for g in groups.values() if len(g) > 1],
            "state_dict_keys": list(value.state_dict().keys()),
        }
print(json.dumps({"modules": modules, "captured": captured}))
'''


def oracle(path: Path, captures: dict[int, list[str]] | None = None) -> dict:
    result = subprocess.run([sys.executable, "-c", ORACLE, str(path),
                             json.dumps({str(k): v for k, v in (captures or {}).items()})],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def line_of(text: str, source: str, occurrence: int = 0) -> int:
    lines = [i + 1 for i, line in enumerate(source.splitlines()) if text in line]
    return lines[occurrence]


@pytest.fixture(scope="module")
def source() -> str:
    return SEED.read_text()


@pytest.fixture(scope="module")
def report(source):
    return analyze(source, str(SEED), AnalysisOptions(locale="en"))


@pytest.fixture(scope="module")
def report_zh(source):
    return analyze(source, str(SEED), AnalysisOptions(locale="zh-CN"))


def explanation(report, line: int, pattern: str):
    found = [e for e in report.explanations if e.span.line == line and e.pattern == pattern]
    assert found, f"no {pattern} explanation at line {line}: {[(e.span.line, e.pattern) for e in report.explanations]}"
    return found[0]


def test_modules_match_torch(report):
    truth = oracle(SEED)["modules"]
    assert [m.name for m in report.modules] == ["net", "rgnet", "shared"]
    for module in report.modules:
        expected = truth[module.name]
        assert module.class_name == expected["class"]
        assert module.param_count == expected["param_count"]
        assert module.param_count_with_duplicates == expected["param_count_with_duplicates"]
        assert [[p.name, p.shape] for p in module.parameters] == expected["parameters"]
        assert sorted(map(sorted, module.tied)) == sorted(map(sorted, expected["tied"]))
        assert module.state_dict_keys == expected["state_dict_keys"]


def test_values_are_those_at_that_point_of_the_program(report, source):
    state_line = line_of("print(net[2].state_dict())", source)
    constant_line = line_of("net[0].weight.data[0], net[0].bias.data[0]", source, occurrence=1)
    truth = oracle(SEED, {state_line: ["net[2].weight", "net[2].bias"],
                          constant_line: ["net[0].weight.data[0]"]})["captured"]
    facts = explanation(report, state_line, "state_dict").facts
    assert facts["keys"] == ["weight", "bias"]
    assert facts["values"][0] == truth[f"{state_line}:net[2].weight"]
    assert facts["values"][1] == truth[f"{state_line}:net[2].bias"]
    cell = explanation(report, constant_line, "cell_value").facts
    assert cell["items"][0] == pytest.approx(truth[f"{constant_line}:net[0].weight.data[0]"])


def test_apply_visits_children_first_and_records_changes(report, source):
    facts = explanation(report, line_of("net.apply(init_normal)", source), "apply").facts
    assert [v["module"] for v in facts["visits"]] == ["net.0", "net.1", "net.2", "net"]
    assert [v["changed"] for v in facts["visits"]] == [["weight", "bias"], [], ["weight", "bias"], []]


def test_xavier_bound_is_computed_from_the_layer_shape(report, source):
    truth = oracle(SEED)["modules"]
    facts = explanation(report, line_of("nn.init.xavier_uniform_(m.weight)", source), "init").facts
    call = facts["calls"][0]
    # net[0] at that point is Linear(4, 8): fan_in 4, fan_out 8 (shapes from the first net in the oracle run are
    # the same layer sizes as the final net's first layer)
    fan_out, fan_in = truth["net"]["parameters"][0][1]
    assert (call["fan_in"], call["fan_out"]) == (fan_in, fan_out)
    assert call["bound"] == pytest.approx(math.sqrt(6 / (fan_in + fan_out)))
    assert -call["bound"] <= call["after"]["min"] and call["after"]["max"] <= call["bound"]


def test_shared_layer_edit_is_seen_through_both_positions(report, source):
    facts = explanation(report, line_of("net[2].weight.data[0, 0] = 100", source), "data_mutation").facts
    assert {"net.2.weight", "net.4.weight"} <= set(facts["calls"][0]["owner"])
    assert facts["calls"][0]["changed"] == 1


def test_constant_init_is_explained_by_symmetry_not_imbalance(report, report_zh, source):
    line = line_of("nn.init.constant_(m.weight, 1)", source)
    english = explanation(report, line, "init").markdown
    assert "symmetry" in english and "imbalance" not in english.replace("nothing to do with class imbalance", "")
    assert "对称性" in explanation(report_zh, line, "init").markdown
    assert any(d.code == "PL101" and d.span.line == line for d in report.diagnostics)


def test_every_explanation_has_a_chinese_twin(report, report_zh):
    english = [(e.span, e.pattern) for e in report.explanations]
    chinese = [(e.span, e.pattern) for e in report_zh.explanations]
    assert english == chinese
    for e in report_zh.explanations:
        assert any("\u4e00" <= ch <= "\u9fff" for ch in e.markdown) or e.pattern in {"print_output", "cell_value"} \
            or e.markdown.count("\n") < 3, e.markdown


def test_cli_json_and_exit_status(tmp_path):
    result = subprocess.run([sys.executable, "-m", "paramlens", "check", "--format", "json", str(SEED)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"paramlens", "torch", "files"}
    assert data["files"][0]["execution"]["status"] == "ok"
    bad = tmp_path / "bad.py"
    bad.write_bytes(b"\xff\xfe x = 1")
    result = subprocess.run([sys.executable, "-m", "paramlens", "check", str(bad)], capture_output=True, text=True)
    assert result.returncode == 2 and "UTF-8" in result.stderr and "Traceback" not in result.stderr

"""Every rule: positive cases (several shapes of the mistake) and negative cases (the correct code it must not flag),
including well-written model files in tests/models/ that must produce no warning or error. Numbers in messages
are checked against torch run in the test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from paramlens.analysis import AnalysisOptions, analyze
from paramlens.config import ConfigError, parse_config

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "tests" / "models"
HEADER = "import torch\nfrom torch import nn\n"


def run(body: str, **options):
    source = HEADER + body
    return source, analyze(source, "case.py", AnalysisOptions(**options))


def codes(report) -> list[str]:
    return [d.code for d in report.diagnostics]


def line_of(source: str, snippet: str) -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if snippet in line)


# -- PL001 -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("body, bad", [
    ("net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(16, 1))\n", "nn.Linear(16, 1)"),
    ("hidden = 32\nnet = nn.Sequential(nn.Linear(4, hidden), nn.Dropout(0.1), nn.Linear(hidden * 2, 1))\n",
     "nn.Linear(hidden * 2, 1)"),
    ("net = nn.Sequential(nn.Conv2d(3, 16, 3), nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(8, 4, 3))\n",
     "nn.Conv2d(8, 4, 3)"),
    ("net = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(6))\n", "nn.LayerNorm(6)"),
])
def test_pl001_finds_size_mismatch(body, bad):
    source, report = run(body)
    found = [d for d in report.diagnostics if d.code == "PL001"]
    assert len(found) == 1 and found[0].severity == "error"
    assert source[source.index(bad):].startswith(bad)
    assert found[0].span.line == line_of(source, bad)


def test_pl001_names_real_sizes():
    source, report = run("width = 2 * 4\nnet = nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(16, 1))\n")
    first, last = nn.Linear(4, 2 * 4), nn.Linear(16, 1)
    message = next(d.message for d in report.diagnostics if d.code == "PL001")
    assert f"expects {last.in_features}" in message and f"produces {first.out_features}" in message


@pytest.mark.parametrize("body", [
    "net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 1))\n",
    "net = nn.Sequential(nn.Conv2d(3, 16, 3), nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 8, 3), nn.Flatten(),"
    " nn.Linear(200, 10))\n",
    "net = nn.Sequential(nn.Embedding(10, 6), nn.LayerNorm(6), nn.Linear(6, 2))\n",
    "class Block(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(8, 3)\n"
    "    def forward(self, x):\n        return self.fc(x)\nnet = nn.Sequential(nn.Linear(4, 8), Block(), nn.Linear(3, 1))\n",
])
def test_pl001_silent_on_consistent_sizes(body):
    _, report = run(body)
    assert "PL001" not in codes(report)


# -- PL002 -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [
    "net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))\nnet(torch.rand(2, 3))\n",
    "layer = nn.Linear(5, 2)\nlayer(torch.rand(7, 4))\n",
])
def test_pl002_forward_with_wrong_input(body):
    source, report = run(body)
    found = [d for d in report.diagnostics if d.code == "PL002"]
    assert len(found) == 1
    assert "PL900" not in codes(report)  # the rule replaces the generic runtime error
    assert found[0].span.line == source.count("\n")


def test_pl002_silent_on_right_input():
    _, report = run("net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))\nnet(torch.rand(2, 4))\n")
    assert codes(report) == []


# -- PL003 / PL004 / PL005 --------------------------------------------------------------------------------------
def test_pl003_missing_key_with_nearest():
    source, report = run("net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))\n"
                         "net.state_dict()['2.bais']\n")
    message = next(d.message for d in report.diagnostics if d.code == "PL003")
    real = list(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)).state_dict())
    assert "2.bias" in real and "`2.bias`" in message
    _, good = run("net = nn.Sequential(nn.Linear(4, 8))\nnet.state_dict()['0.bias']\n")
    assert codes(good) == []


@pytest.mark.parametrize("index", [3, 7, -4])
def test_pl004_index_past_the_end(index):
    _, report = run(f"net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))\nnet[{index}]\n")
    message = next(d.message for d in report.diagnostics if d.code == "PL004")
    assert f"has {len(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)))} children" in message
    _, good = run("net = nn.Sequential(nn.Linear(4, 8), nn.ReLU())\nnet[-1]\n")
    assert codes(good) == []


def test_pl005_parameter_of_a_parameterless_layer():
    _, report = run("net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))\nprint(net[1].weight)\n")
    message = next(d.message for d in report.diagnostics if d.code == "PL005")
    assert "ReLU" in message and "PL900" not in codes(report)
    _, good = run("net = nn.Sequential(nn.Linear(4, 8), nn.ReLU())\nprint(net[0].weight.shape)\n")
    assert codes(good) == []


# -- PL101 / PL102 / PL103 / PL104 -----------------------------------------------------------------------------
@pytest.mark.parametrize("init", ["nn.init.constant_(m.weight, 0.5)", "nn.init.ones_(m.weight)",
                                  "nn.init.zeros_(m.weight)"])
def test_pl101_constant_weights(init):
    """Constant weights with equal (zero) biases followed by a constant layer: the hidden units are interchangeable,
    which PL101 says; the same constant on a lone layer with random biases is not reported (the units differ by
    their biases: tests/test_true_sentences.py trains both with torch)."""
    _, report = run(f"net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))\ndef f(m):\n"
                    f"    if isinstance(m, nn.Linear):\n        {init}\n        nn.init.zeros_(m.bias)\nnet.apply(f)\n")
    message = next(d.message for d in report.diagnostics if d.code == "PL101")
    assert f"its {nn.Linear(4, 8).out_features} units" in message
    _, lone = run(f"net = nn.Sequential(nn.Linear(4, 8))\ndef f(m):\n    if isinstance(m, nn.Linear):\n"
                  f"        {init}\nnet.apply(f)\n")
    assert "PL101" not in codes(lone)


def test_pl101_silent_on_constant_biases_and_norm_scales():
    _, report = run("net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8))\n"
                    "def f(m):\n    if isinstance(m, nn.Linear):\n        nn.init.zeros_(m.bias)\n"
                    "    elif isinstance(m, nn.BatchNorm1d):\n        nn.init.ones_(m.weight)\nnet.apply(f)\n")
    assert "PL101" not in codes(report)


@pytest.mark.parametrize("test, fixed", [
    ("type(m) == nn.Linear", "isinstance(m, nn.Linear)"),
    ("type(m) is nn.Conv2d", "isinstance(m, nn.Conv2d)"),
    ("type(m) != nn.Linear", "not isinstance(m, nn.Linear)"),
])
def test_pl102_exact_type_checks_and_fix(test, fixed):
    source, report = run(f"def f(m):\n    if {test}:\n        pass\n", execute=False)
    found = next(d for d in report.diagnostics if d.code == "PL102")
    assert found.fix is not None and found.fix.replacement == fixed
    line = source.splitlines()[found.span.line - 1]
    assert line[found.span.column - 1:found.span.end_column - 1] == test


def test_pl102_silent_on_isinstance():
    _, report = run("def f(m):\n    if isinstance(m, (nn.Linear, nn.Conv2d)):\n        pass\n", execute=False)
    assert codes(report) == []


def test_pl103_data_writes_are_information_only():
    _, report = run("net = nn.Linear(2, 2)\nnet.weight.data[0, 0] = 1.0\nnet.bias.data.fill_(0)\n"
                    "with torch.no_grad():\n    net.weight[1, 1] = 2.0\n")
    found = [d for d in report.diagnostics if d.code == "PL103"]
    assert len(found) == 2 and all(d.severity == "information" for d in found)


def test_pl104_grad_compared_with_none():
    _, report = run("net = nn.Linear(2, 2)\nnet.weight.grad == None\nnet.bias.grad != None\nnet.bias.grad is None\n")
    fixes = [d.fix.replacement for d in report.diagnostics if d.code == "PL104"]
    assert fixes == ["net.weight.grad is None", "net.bias.grad is not None"]


# -- PL105 / PL106 / PL107 / PL108 -----------------------------------------------------------------------------
def test_pl105_bias_false():
    _, report = run("net = nn.Sequential(nn.Linear(4, 8, bias=False))\ndef f(m):\n    if isinstance(m, nn.Linear):\n"
                    "        nn.init.zeros_(m.bias)\nnet.apply(f)\n")
    assert "PL105" in codes(report) and "PL900" not in codes(report)
    _, good = run("net = nn.Sequential(nn.Linear(4, 8, bias=False))\ndef f(m):\n"
                  "    if isinstance(m, nn.Linear) and m.bias is not None:\n        nn.init.zeros_(m.bias)\nnet.apply(f)\n")
    assert "PL105" not in codes(good)


@pytest.mark.parametrize("init", ["nn.init.xavier_uniform_(m.bias)", "nn.init.kaiming_normal_(m.bias)"])
def test_pl106_fan_init_on_bias(init):
    _, report = run(f"net = nn.Sequential(nn.Linear(4, 8))\ndef f(m):\n    if isinstance(m, nn.Linear):\n"
                    f"        {init}\nnet.apply(f)\n")
    message = next(d.message for d in report.diagnostics if d.code == "PL106")
    assert f"[{nn.Linear(4, 8).bias.shape[0]}]" in message


def test_pl107_init_function_that_never_matches():
    _, report = run("net = nn.Sequential(nn.Linear(4, 8), nn.ReLU())\ndef f(m):\n    if isinstance(m, nn.Conv2d):\n"
                    "        nn.init.zeros_(m.weight)\nnet.apply(f)\n")
    assert "PL107" in codes(report)
    _, inspection = run("net = nn.Sequential(nn.Linear(4, 8))\ndef show(m):\n    print(type(m).__name__)\n"
                        "net.apply(show)\n")
    assert "PL107" not in codes(inspection)  # not an init function: changing nothing is its job


def test_pl108_lazy_before_forward():
    _, report = run("lazy = nn.LazyLinear(5)\nprint(lazy.weight.shape)\n")
    assert "PL108" in codes(report)
    _, good = run("lazy = nn.LazyLinear(5)\nlazy(torch.zeros(1, 3))\nprint(lazy.weight.shape)\n")
    assert "PL108" not in codes(good)


# -- well-written models, suppression, configuration, SARIF ------------------------------------------------------
@pytest.mark.parametrize("path", sorted(MODELS.glob("*.py")), ids=lambda p: p.stem)
def test_well_written_models_have_no_warnings(path):
    report = analyze(path.read_text(), str(path), AnalysisOptions())
    assert report.execution.status == "ok"
    assert [d for d in report.diagnostics if d.severity in {"error", "warning"}] == []


def test_tying_is_reported_as_information_with_torch_counts():
    path = MODELS / "gpt_tied.py"
    report = analyze(path.read_text(), str(path), AnalysisOptions())
    tied = [d for d in report.diagnostics if d.code == "PL201"]
    assert len(tied) == 1 and tied[0].severity == "information"
    namespace: dict = {"__name__": "__check__"}
    torch.manual_seed(0)
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    model = namespace["model"]
    assert f"{sum(p.numel() for p in model.parameters()):,}" in tied[0].message


def test_suppression_comments():
    _, report = run("def f(m):\n    if type(m) == nn.Linear:  # paramlens: ignore[PL102]\n        pass\n"
                    "def g(m):\n    if type(m) == nn.Linear:  # paramlens: ignore\n        pass\n"
                    "def h(m):\n    if type(m) == nn.Linear:  # paramlens: ignore[PL101]\n        pass\n", execute=False)
    assert codes(report) == ["PL102"]  # only the one whose comment names another rule


def test_configuration_select_ignore_severity(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text('[tool.paramlens]\nignore = ["PL104"]\n'
                                            'severity = { PL102 = "error" }\n')
    case = project / "case.py"
    case.write_text(HEADER + "net = nn.Linear(2, 2)\nnet.weight.grad == None\n"
                    "def f(m):\n    if type(m) == nn.Linear:\n        pass\n")
    result = subprocess.run([sys.executable, "-m", "paramlens", "check", "--format", "json", str(case)],
                            capture_output=True, text=True)
    diagnostics = json.loads(result.stdout)["files"][0]["diagnostics"]
    assert [(d["code"], d["severity"]) for d in diagnostics] == [("PL102", "error")]
    assert result.returncode == 1  # the override made it an error
    with pytest.raises(ConfigError):
        parse_config({"severity": {"PL101": "fatal"}})
    (project / "pyproject.toml").write_text('[tool.paramlens]\nselekt = ["PL1"]\n')
    bad = subprocess.run([sys.executable, "-m", "paramlens", "check", str(case)], capture_output=True, text=True)
    assert bad.returncode == 2 and "selekt" in bad.stderr


def test_sarif_validates_against_the_official_schema(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "tests" / "data" / "sarif-2.1.0-rtm.5.json").read_text())
    result = subprocess.run([sys.executable, "-m", "paramlens", "check", "--format", "sarif",
                             "examples/parameter_management.py"], capture_output=True, text=True, cwd=ROOT)
    log = json.loads(result.stdout)
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(log)
    run_ = log["runs"][0]
    rules = {rule["id"]: rule for rule in run_["tool"]["driver"]["rules"]}
    assert all(rules[r["ruleId"]]["help"]["markdown"].startswith(f"# {r['ruleId']}") for r in run_["results"])
    assert {r["ruleId"] for r in run_["results"]} >= {"PL101", "PL102", "PL104", "PL201"}
    fix = next(r for r in run_["results"] if r["ruleId"] == "PL104")["fixes"][0]
    assert fix["artifactChanges"][0]["replacements"][0]["insertedContent"]["text"].endswith("is None")

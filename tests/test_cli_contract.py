"""`paramlens check` on the seed example: the JSON contract, the modules against the oracle, exit codes, the text
format and static-only mode."""

from __future__ import annotations

import json

import pytest

from helpers import comparable_modules

TOP_KEYS = {"paramlens", "torch", "files"}
FILE_KEYS = {"path", "execution", "modules", "explanations", "diagnostics", "factories"}
EXECUTION_KEYS = {"status", "device", "seconds", "message", "seed", "skipped", "isolation", "loops_cut"}
MODULE_KEYS = ["name", "line", "class", "param_count", "param_count_with_duplicates", "parameters", "tied", "buffers",
               "state_dict_keys"]
EXPLANATION_KEYS = {"line", "column", "end_line", "end_column", "pattern", "markdown", "facts"}
DIAGNOSTIC_KEYS = {"code", "severity", "line", "column", "end_line", "end_column", "message", "fix"}
SEVERITIES = {"error", "warning", "information", "hint"}


def test_exit_code_is_zero_without_errors(seed_cli, seed_report):
    code, _, stderr = seed_cli
    assert not any(d["severity"] == "error" for d in seed_report["diagnostics"])
    assert code == 0, stderr
    assert "Traceback" not in stderr


def test_json_top_level_keys(seed_json, seed_oracle):
    assert set(seed_json) == TOP_KEYS
    from paramlens import __version__

    assert seed_json["paramlens"] == __version__
    assert seed_json["torch"] == seed_oracle.torch_version.split("+")[0]
    assert len(seed_json["files"]) == 1
    assert set(seed_json["files"][0]) == FILE_KEYS
    assert seed_json["files"][0]["path"] == "examples/parameter_management.py"


def test_execution_block(seed_report, seed_oracle):
    execution = seed_report["execution"]
    assert EXECUTION_KEYS <= set(execution)
    assert execution["status"] == "ok"
    assert execution["device"] == "cpu"
    assert execution["seed"] == seed_oracle.data["seed"] == 0
    assert execution["skipped"] == []
    assert isinstance(execution["seconds"], (int, float)) and execution["seconds"] >= 0
    # the oracle ran every statement without an error too
    assert all(s["status"] == "ok" for s in seed_oracle.statements)


def test_module_names_and_order_match_oracle(seed_report, seed_oracle):
    assert [m["name"] for m in seed_report["modules"]] == [m["name"] for m in seed_oracle.modules]


def test_modules_match_oracle_exactly(seed_report, seed_oracle):
    for module in seed_report["modules"]:
        assert list(module)[:len(MODULE_KEYS)] == MODULE_KEYS  # the contract's keys, in the contract's order
    observed = comparable_modules(seed_report["modules"])
    assert observed == seed_oracle.modules


@pytest.mark.parametrize("name", ["net", "rgnet", "shared"])
def test_each_module_matches_oracle(seed_report, seed_oracle, name):
    """The same comparison per module and field, so a failure names the field."""
    module = next(m for m in seed_report["modules"] if m["name"] == name)
    expected = seed_oracle.module(name)
    for key in MODULE_KEYS:
        if key == "line":
            continue
        assert module[key] == expected[key], key


def test_module_line_is_a_binding_of_that_name(seed_report, example_source):
    lines = example_source.splitlines()
    for module in seed_report["modules"]:
        text = lines[module["line"] - 1]
        assert text.lstrip().startswith(f"{module['name']} ="), (module["name"], module["line"], text)


def test_explanation_and_diagnostic_shapes(seed_report, example_source):
    lines = example_source.splitlines()
    assert seed_report["explanations"], "the seed example must be explained"
    for item in seed_report["explanations"]:
        assert EXPLANATION_KEYS <= set(item)
        assert isinstance(item["markdown"], str) and item["markdown"].strip()
        assert isinstance(item["facts"], dict)
    for item in seed_report["explanations"] + seed_report["diagnostics"]:
        assert 1 <= item["line"] <= item["end_line"] <= len(lines)
        assert 1 <= item["column"] <= len(lines[item["line"] - 1]) + 1
        assert 1 <= item["end_column"] <= len(lines[item["end_line"] - 1]) + 1
        if item["line"] == item["end_line"]:
            assert item["column"] < item["end_column"], item
    for item in seed_report["diagnostics"]:
        assert DIAGNOSTIC_KEYS <= set(item)
        assert item["severity"] in SEVERITIES


def test_fixes_replace_exactly_their_range(seed_report, example_source):
    """A fix's range covers the code it replaces: `type(m) == nn.Linear` -> `isinstance(m, nn.Linear)`."""
    lines = example_source.splitlines()
    fixes = [d["fix"] for d in seed_report["diagnostics"] if d["fix"]]
    assert fixes
    for fix in fixes:
        assert fix["line"] == fix["end_line"]
        original = lines[fix["line"] - 1][fix["column"] - 1:fix["end_column"] - 1]
        if fix["replacement"].startswith("isinstance("):
            assert original.startswith("type(") and "==" in original
        if fix["replacement"].endswith(" is None"):
            assert original.replace("==", "is") == fix["replacement"]


def test_text_format_lists_modules(run_cli, seed_oracle):
    code, out, err = run_cli("check", "--locale", "en", "examples/parameter_management.py")
    assert code == 0, err
    assert "Traceback" not in err
    assert "examples/parameter_management.py" in out
    for module in seed_oracle.modules:
        assert module["name"] in out
        assert str(module["param_count"]) in out


def test_no_exec_skips_execution_but_still_explains(run_cli, seed_report):
    code, out, err = run_cli("check", "--format", "json", "--no-exec", "--locale", "en",
                             "examples/parameter_management.py")
    assert code == 0, err
    report = json.loads(out)["files"][0]
    assert report["execution"]["status"] == "skipped"
    assert report["modules"] == []
    assert report["explanations"]
    # the static explanations sit where the executed ones do
    executed_sites = {(e["line"], e["column"], e["pattern"]) for e in seed_report["explanations"]}
    static_sites = {(e["line"], e["column"], e["pattern"]) for e in report["explanations"]}
    assert static_sites & executed_sites
    assert not any(d["code"] in ("PL900", "PL901") for d in report["diagnostics"])


def test_two_paths_give_two_file_reports(run_cli, tmp_path):
    first = tmp_path / "a.py"
    second = tmp_path / "b.py"
    first.write_text("print(1)\n", encoding="utf-8")
    second.write_text("x = 2\n", encoding="utf-8")
    code, out, err = run_cli("check", "--format", "json", "--no-exec", str(first), str(second))
    assert code == 0, err
    assert [f["path"] for f in json.loads(out)["files"]] == [str(first), str(second)]


def test_bad_option_is_usage_error(run_cli):
    code, out, err = run_cli("check", "--format", "yaml", "examples/parameter_management.py")
    assert code == 2
    assert "Traceback" not in err
    code, out, err = run_cli("check", "--timeout", "0", "examples/parameter_management.py")
    assert code == 2
    assert "timeout" in err
    assert "Traceback" not in err

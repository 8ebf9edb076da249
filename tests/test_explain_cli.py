"""`paramlens explain FILE:LINE:COL`: the markdown of the innermost explanation at a seed-example site, with the
values torch produced (the oracle), in English and in Chinese; exit 1 where there is nothing."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import REPO, run_cli_in
from helpers import CJK, locate

EXAMPLE = "examples/parameter_management.py"
NAMED_PARAMETERS = ("net[0].named_parameters()",
                    "print(*[(name, param.shape) for name, param in net[0].named_parameters()])")
STATE_DICT = ("net[2].state_dict()", "print(net[2].state_dict())")
XAVIER = ("nn.init.xavier_uniform_(m.weight)", None)
TIED_WRITE = ("net[2].weight.data[0, 0] = 100", None)
PRINT_MODULE = ("print(rgnet)", None)
NOTHING = ("# Parameter access", None)  # a comment line


def _position(source, site, offset=2):
    snippet, within = site
    found = locate(source, snippet, within=within)
    return f"{EXAMPLE}:{found.line}:{found.column + offset}"


@pytest.fixture(scope="module")
def explained(example_source):
    """Every `explain` call these tests need, run two at a time."""
    calls = {
        "named_parameters": [_position(example_source, NAMED_PARAMETERS)],
        "state_dict": [_position(example_source, STATE_DICT)],
        "xavier": [_position(example_source, XAVIER)],
        "tied_write": [_position(example_source, TIED_WRITE)],
        "print_module": [_position(example_source, PRINT_MODULE)],
        "nothing": [_position(example_source, NOTHING, offset=0)],
        "named_parameters_zh": ["--locale", "zh-CN", _position(example_source, NAMED_PARAMETERS)],
        "xavier_zh": ["--locale", "zh-CN", _position(example_source, XAVIER)],
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(run_cli_in, REPO, "explain", *args) for name, args in calls.items()}
        return {name: future.result() for name, future in futures.items()}


def _ok(result):
    code, out, err = result
    assert code == 0, err
    assert "Traceback" not in err
    assert out.strip()
    return out


def _line(source, snippet):
    return locate(source, snippet).line


def test_named_parameters_site(explained, seed_oracle, example_source):
    out = _ok(explained["named_parameters"])
    line = _line(example_source, NAMED_PARAMETERS[1])
    names = seed_oracle.value(line, "[n for n, p in net[0].named_parameters()]")
    shapes = seed_oracle.value(line, "[list(p.shape) for n, p in net[0].named_parameters()]")
    total = seed_oracle.value(line, "sum(p.numel() for p in net[0].parameters())")
    assert out.startswith("**`net[0].named_parameters()`**")
    for name, shape in zip(names, shapes):
        assert f"| `{name}` | {shape} |" in out
    assert f"{total} values" in out


def test_state_dict_site(explained, seed_oracle, example_source):
    out = _ok(explained["state_dict"])
    expected = seed_oracle.value(_line(example_source, STATE_DICT[1]), "net[2].state_dict()")
    for key, values in expected.items():
        flat = values[0] if isinstance(values[0], list) else values
        assert f"`{key}`" in out
        assert f"{flat[0]:.4f}" in out


def test_xavier_site(explained, seed_oracle, example_source):
    out = _ok(explained["xavier"])
    shape = seed_oracle.value(_line(example_source, "net[0].apply(xavier)"), "list(net[0].weight.shape)")
    fan_in, fan_out = shape[1], shape[0]
    assert f"fan_in = {fan_in}" in out and f"fan_out = {fan_out}" in out
    assert f"**{math.sqrt(6 / (fan_in + fan_out)):.4f}**" in out


def test_tied_write_site(explained, seed_oracle, example_source):
    out = _ok(explained["tied_write"])
    owners = seed_oracle.value(_line(example_source, TIED_WRITE[0]), "owners(net[2].weight)")
    for owner in owners:
        assert f"`{owner}`" in out
    before = seed_oracle.value_before(_line(example_source, TIED_WRITE[0]), "net[2].weight")
    after = seed_oracle.value(_line(example_source, TIED_WRITE[0]), "net[2].weight")
    changed = sum(1 for rb, ra in zip(before, after) for b, a in zip(rb, ra) if a != b)
    numel = sum(len(row) for row in after)
    assert f"{changed} of {numel} values changed" in out


def test_print_module_site_shows_the_module(explained, seed_oracle, example_source):
    out = _ok(explained["print_module"])
    count = seed_oracle.value(_line(example_source, "print(rgnet)"), "sum(p.numel() for p in rgnet.parameters())")
    assert str(count) in out


def test_zh_cn_named_parameters(explained, seed_oracle, example_source):
    out = _ok(explained["named_parameters_zh"])
    assert CJK.search(out)
    line = _line(example_source, NAMED_PARAMETERS[1])
    for name, shape in zip(seed_oracle.value(line, "[n for n, p in net[0].named_parameters()]"),
                           seed_oracle.value(line, "[list(p.shape) for n, p in net[0].named_parameters()]")):
        assert f"`{name}`" in out and str(shape) in out


def test_zh_cn_xavier(explained, seed_oracle, example_source):
    out = _ok(explained["xavier_zh"])
    assert CJK.search(out)
    shape = seed_oracle.value(_line(example_source, "net[0].apply(xavier)"), "list(net[0].weight.shape)")
    assert f"**{math.sqrt(6 / (shape[1] + shape[0])):.4f}**" in out


def test_nothing_at_position(explained):
    code, out, err = explained["nothing"]
    assert code == 1
    assert out == ""
    assert "No explanation at" in err
    assert "Traceback" not in err

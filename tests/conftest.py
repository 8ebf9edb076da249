"""Shared fixtures: the repository, a CLI runner, the seed example's report (en, zh-CN) and its oracle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
EXAMPLE = REPO / "examples" / "parameter_management.py"

if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from helpers import line_of  # noqa: E402
from oracle import OracleResult, run_oracle  # noqa: E402


def _cli_env() -> dict[str, str]:
    env = dict(os.environ)
    for key in ("PARAMLENS_LOCALE", "LC_ALL", "LANG"):
        env.pop(key, None)
    env["NO_COLOR"] = "1"
    return env


def run_cli_in(cwd: Path | str, *args: str, timeout: float = 180.0) -> tuple[int, str, str]:
    completed = subprocess.run([sys.executable, "-m", "paramlens", *map(str, args)], cwd=str(cwd),
                               capture_output=True, text=True, timeout=timeout, env=_cli_env())
    return completed.returncode, completed.stdout, completed.stderr


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def example_path() -> Path:
    return EXAMPLE


@pytest.fixture(scope="session")
def example_source() -> str:
    return EXAMPLE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def run_cli() -> Callable[..., tuple[int, str, str]]:
    """run_cli(*args) -> (returncode, stdout, stderr) of `python -m paramlens *args`, run from the repository."""

    def run(*args: str, timeout: float = 180.0) -> tuple[int, str, str]:
        return run_cli_in(REPO, *args, timeout=timeout)

    return run


def seed_oracle_requests(source: str) -> dict:
    """Every intermediate value the seed-example tests compare against, requested from the oracle in one run."""
    L = lambda snippet, occurrence=1: line_of(source, snippet, occurrence)  # noqa: E731
    apply_normal = L("net.apply(init_normal)")
    apply_constant = L("net.apply(init_constant)")
    apply_my_init = L("net.apply(my_init)")
    tied_net = L("net = nn.Sequential(nn.Linear(4, 8),\n")
    capture = {
        L("net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))"): [
            "sum(p.numel() for p in net.parameters())",
            "[(n, list(p.shape)) for n, p in net.named_parameters()]",
        ],
        L("net(X)"): ["net(X)", "list(X.shape)"],
        L("print(net[2].state_dict())"): ["net[2].state_dict()"],
        L('print("type(net[2].bias):"'): ["type(net[2].bias).__module__ + '.' + type(net[2].bias).__qualname__",
                                          "owners(net[2].bias)"],
        L("net[2].weight.grad == None"): ["repr(net[2].weight.grad == None)"],
        L("for name, param in net[0].named_parameters()"): [
            "[n for n, p in net[0].named_parameters()]", "[list(p.shape) for n, p in net[0].named_parameters()]",
            "sum(p.numel() for p in net[0].parameters())"],
        L("for name, param in net.named_parameters()"): [
            "[n for n, p in net.named_parameters()]", "[list(p.shape) for n, p in net.named_parameters()]",
            "sum(p.numel() for p in net.parameters())"],
        L("net.state_dict()['2.bias'].data"): ["net.state_dict()", "net.state_dict()['2.bias'].data"],
        L("rgnet = nn.Sequential(block2(), nn.Linear(4, 1))"): [
            "[n for n, _ in rgnet[0].named_children()]", "sum(p.numel() for p in rgnet.parameters())",
            "sum(p.numel() for p in rgnet[0].parameters())", "[sum(p.numel() for p in b.parameters()) for b in rgnet[0]]",
            "[[n, list(p.shape)] for n, p in rgnet[0].named_parameters()]",
            "[[n, list(p.shape)] for n, p in rgnet[0][0].named_parameters()]"],
        L("print(rgnet)"): ["sum(p.numel() for p in rgnet.parameters())", "[n for n, p in rgnet.named_parameters()]"],
        apply_normal: ["apply_order(net)", "{n: p for n, p in net.named_parameters()}"],
        L("net[0].weight.data[0], net[0].bias.data[0]", 1): ["(net[0].weight.data[0], net[0].bias.data[0])"],
        apply_constant: ["apply_order(net)", "{n: p for n, p in net.named_parameters()}"],
        L("net[0].weight.data[0], net[0].bias.data[0]", 2): ["(net[0].weight.data[0], net[0].bias.data[0])"],
        L("net[0].apply(xavier)"): ["list(net[0].weight.shape)", "fans(net[0].weight)", "net[0].weight",
                                    "[m for m in apply_order(net[0])]"],
        L("net[2].apply(init_42)"): ["net[2].weight"],
        apply_my_init: ["net[0].weight", "net[2].weight", "apply_order(net)",
                        "{n: p for n, p in net.named_parameters()}"],
        tied_net: ["[i for i, m in enumerate(net) if m is shared]", "sum(p.numel() for p in net.parameters())",
                   "sum(p.numel() for n, p in net.named_parameters(remove_duplicate=False))"],
        L("print(net[2].weight.data[0] == net[4].weight.data[0])", 1): [
            "(net[2].weight.data[0] == net[4].weight.data[0])"],
        L("net[2].weight.data[0, 0] = 100"): ["net[2].weight", "owners(net[2].weight)"],
        L("print(net[2].weight.data[0] == net[4].weight.data[0])", 2): [
            "(net[2].weight.data[0] == net[4].weight.data[0])"],
    }
    before = {
        apply_normal: ["{n: p for n, p in net.named_parameters()}"],
        apply_constant: ["{n: p for n, p in net.named_parameters()}"],
        apply_my_init: ["{n: p for n, p in net.named_parameters()}"],
        L("net[2].weight.data[0, 0] = 100"): ["net[2].weight"],
    }
    for line, expressions in seed_read_expressions(source).items():
        capture.setdefault(line, [])
        capture[line] = capture[line] + [e for e in expressions if e not in capture[line]]
    return {"capture": capture, "before": before}


def seed_read_expressions(source: str) -> dict[int, list[str]]:
    """Every attribute or subscript read (`net[2].bias`, `net[0].weight.data[0]`, ...) inside the top-level
    expression statements of `source`, by statement line: pure reads, so the oracle can evaluate them again right
    after the statement and get the values the statement saw."""
    import ast

    found: dict[int, list[str]] = {}

    class Reads(ast.NodeVisitor):
        def __init__(self, line: int) -> None:
            self.line = line

        def visit_ListComp(self, node):  # comprehension variables do not exist at top level
            return None

        visit_GeneratorExp = visit_SetComp = visit_DictComp = visit_Lambda = visit_ListComp

        def generic_visit(self, node):
            if isinstance(node, (ast.Attribute, ast.Subscript)) and node.lineno == node.end_lineno:
                text = ast.get_source_segment(source, node)
                if text and text not in found.setdefault(self.line, []):
                    found[self.line].append(text)
            super().generic_visit(node)

    for statement in ast.parse(source).body:
        if isinstance(statement, ast.Expr):
            Reads(statement.lineno).visit(statement)
    return found


@pytest.fixture(scope="session")
def _seed_runs(example_source: str) -> dict:
    """The seed example analysed three ways, in parallel (each is a subprocess importing torch): the CLI's JSON
    in English, the in-process API in zh-CN, and the oracle."""
    from paramlens.analysis import AnalysisOptions, analyze

    def cli_json():
        code, out, err = run_cli_in(REPO, "check", "--format", "json", "--locale", "en",
                                    "examples/parameter_management.py")
        return code, out, err

    def zh():
        return analyze(example_source, "examples/parameter_management.py", AnalysisOptions(locale="zh-CN"))

    def oracle():
        return run_oracle(example_source, str(EXAMPLE), **seed_oracle_requests(example_source))

    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {"cli": pool.submit(cli_json), "zh": pool.submit(zh), "oracle": pool.submit(oracle)}
        return {key: future.result() for key, future in futures.items()}


@pytest.fixture(scope="session")
def seed_cli(_seed_runs) -> tuple[int, str, str]:
    """(returncode, stdout, stderr) of `paramlens check --format json --locale en examples/parameter_management.py`"""
    return _seed_runs["cli"]


@pytest.fixture(scope="session")
def seed_json(seed_cli) -> dict:
    """The whole JSON document printed for the seed example (en)."""
    code, out, err = seed_cli
    assert code in (0, 1), err
    return json.loads(out)


@pytest.fixture(scope="session")
def seed_report(seed_json) -> dict:
    """The seed example's file report (en), as JSON."""
    return seed_json["files"][0]


@pytest.fixture(scope="session")
def seed_report_zh(_seed_runs):
    """The seed example's FileReport object in zh-CN (in-process API)."""
    return _seed_runs["zh"]


@pytest.fixture(scope="session")
def seed_oracle(_seed_runs) -> OracleResult:
    return _seed_runs["oracle"]


# -- the release build, installed as a user installs it ---------------------------------------------------------

class Release:
    """What scripts/release.sh built, and a fresh virtual environment with only the built wheel and torch."""

    def __init__(self, out: Path, venv: Path, version: str) -> None:
        self.out = out
        self.venv = venv
        self.version = version

    @property
    def wheel(self) -> Path:
        return self.out / f"paramlens-{self.version}-py3-none-any.whl"

    @property
    def sdist(self) -> Path:
        return self.out / f"paramlens-{self.version}.tar.gz"

    @property
    def vsix(self) -> Path:
        return self.out / f"paramlens-{self.version}.vsix"

    @property
    def paramlens(self) -> Path:
        """The console script pip made in the fresh environment."""
        return self.venv / "bin" / "paramlens"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


@pytest.fixture(scope="session")
def release(tmp_path_factory) -> Release:
    """Runs scripts/release.sh (without the .vsix where npm is missing), then installs the wheel it built, after
    the CPU torch that scripts/setup.sh pinned, into a new virtual environment (`python -m venv`, no
    --system-site-packages): nothing of the source tree is importable there."""
    import re
    import shutil

    version = re.search(r'__version__ = "(.+)"', (REPO / "paramlens" / "__init__.py").read_text()).group(1)
    out = tmp_path_factory.mktemp("release")
    command = ["bash", str(REPO / "scripts" / "release.sh")]
    if shutil.which("npm") is None:
        command.append("--no-vsix")
    built = subprocess.run([*command, str(out)], cwd=REPO, capture_output=True, text=True, timeout=900,
                           env={**os.environ, "PYTHON": sys.executable})
    assert built.returncode == 0, f"scripts/release.sh failed:\n{built.stdout}\n{built.stderr[-4000:]}"
    venv = tmp_path_factory.mktemp("installed") / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=120)
    from importlib import metadata

    torch = metadata.version("torch").split("+")[0]
    for requirement in ([f"torch=={torch}", "numpy"], [str(out / f"paramlens-{version}-py3-none-any.whl")]):
        installed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                                    "--disable-pip-version-check", *requirement], cwd=out, capture_output=True,
                                   text=True, timeout=900)
        assert installed.returncode == 0, f"pip install {requirement} failed:\n{installed.stderr[-4000:]}"
    return Release(out, venv, version)

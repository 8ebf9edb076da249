"""Imports in real projects: a model file inside a package imports its siblings relatively; a file imports a
package that is not installed in the interpreter ParamLens runs, or one whose own code fails while importing.
The first must just work (relative imports resolve as when the package is imported); the others are the
environment's doing, not the file's, so they are reported as information (PL903), never as errors, and the rest
of the file is still analysed."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import run_cli_in
from helpers import codes_at, find_explanations, line_of

LAYERS = """\
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, width=8):
        super().__init__()
        self.fc = nn.Linear(width, 2 * width)
        self.out = nn.Linear(2 * width, width)

    def forward(self, x):
        return self.out(torch.relu(self.fc(x)))
"""

HEADS = """\
from torch import nn


def head(width, classes):
    return nn.Linear(width, classes)
"""

NET = """\
import torch
from torch import nn

from ..layers import Block
from . import heads


def init(m):
    if isinstance(m, nn.Linear):
        nn.init.xavier_uniform_(m.weight)


net = nn.Sequential(Block(6), heads.head(6, 3))
net.apply(init)
print([name for name, _ in net.named_parameters()])
"""

TRUTH = """\
import json, sys, torch
sys.path.insert(0, sys.argv[1])
torch.manual_seed(0)
import mypkg.models.net as module
net = module.net
print(json.dumps({"names": [n for n, _ in net.named_parameters()],
                  "shapes": [list(p.shape) for _, p in net.named_parameters()],
                  "count": sum(p.numel() for p in net.parameters())}))
"""


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("project")
    files = {"mypkg/__init__.py": "", "mypkg/layers.py": LAYERS, "mypkg/models/__init__.py": "",
             "mypkg/models/heads.py": HEADS, "mypkg/models/net.py": NET}
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def check_json(cwd: Path, path: Path, *extra: str) -> tuple[int, dict]:
    status, out, err = run_cli_in(cwd, "check", "--format", "json", *extra, str(path))
    assert status in (0, 1), err
    return status, json.loads(out)["files"][0]


def check_source(directory: Path, name: str, source: str) -> tuple[int, dict]:
    """Write `source` as `directory/name` and check it from that directory."""
    path = directory / name
    path.write_text(source, encoding="utf-8")
    return check_json(directory, path)


def test_relative_imports_inside_a_package_resolve(package):
    status, report = check_json(package, package / "mypkg" / "models" / "net.py")
    assert report["execution"]["status"] == "ok", report["diagnostics"]
    assert [d for d in report["diagnostics"] if d["severity"] in ("error", "warning")] == []
    assert status == 0
    truth = json.loads(subprocess.run([sys.executable, "-c", TRUTH, str(package)], capture_output=True, text=True,
                                      check=True).stdout.splitlines()[-1])
    net = next(m for m in report["modules"] if m["name"] == "net")
    assert [p["name"] for p in net["parameters"]] == truth["names"]
    assert [p["shape"] for p in net["parameters"]] == truth["shapes"]
    assert net["param_count"] == truth["count"]
    # the values are torch's own for the same program: the init ran through the relatively imported Block
    apply = find_explanations(report, "apply", line_of(NET, "net.apply(init)"))
    assert apply and apply[0]["facts"]["visits"]
    listed = find_explanations(report, "named_parameters", line_of(NET, "net.named_parameters()"))
    assert listed[0]["facts"]["calls"][0]["names"] == truth["names"]


def test_missing_package_is_information_and_the_rest_still_runs(tmp_path):
    source = textwrap.dedent("""\
        import torch
        from torch import nn
        import paramlens_surely_not_installed_pkg as extra
        from paramlens_surely_not_installed_pkg.layers import Fancy

        net = nn.Linear(4, 3)
        print(net.weight.shape)
        """)
    path = tmp_path / "uses_missing.py"
    path.write_text(source, encoding="utf-8")
    status, report = check_json(tmp_path, path)
    assert status == 0
    for snippet in ("import paramlens_surely_not_installed_pkg as extra", "from paramlens_surely_not_installed_pkg"):
        line = line_of(source, snippet)
        assert codes_at(report, line) == ["PL903"]
        diagnostic = next(d for d in report["diagnostics"] if d["line"] == line)
        assert diagnostic["severity"] == "information"
        assert "`paramlens_surely_not_installed_pkg" in diagnostic["message"]
        assert "pip install paramlens_surely_not_installed_pkg" in diagnostic["message"]
    net = next(m for m in report["modules"] if m["name"] == "net")
    assert net["param_count"] == 4 * 3 + 3
    _, chinese = check_json(tmp_path, path, "--locale", "zh-CN")
    assert "没有安装" in next(d for d in chinese["diagnostics"] if d["code"] == "PL903")["message"]


def test_relative_import_in_a_loose_script(tmp_path):
    source = "import torch\nfrom torch import nn\nfrom .layers import Block\nnet = nn.Linear(2, 2)\n"
    status, report = check_source(tmp_path, "loose.py", source)
    assert status == 0
    diagnostic = next(d for d in report["diagnostics"] if d["code"] == "PL903")
    assert diagnostic["line"] == 3 and "not inside a package" in diagnostic["message"]
    assert any(m["name"] == "net" for m in report["modules"])


def test_imported_module_that_fails_while_importing(tmp_path):
    (tmp_path / "broken_dependency.py").write_text("import torch\nraise RuntimeError('extension built for another "
                                                   "torch')\n", encoding="utf-8")
    source = "import torch\nfrom torch import nn\nimport broken_dependency\nnet = nn.Linear(2, 2)\n"
    status, report = check_source(tmp_path, "uses_broken.py", source)
    assert status == 0
    diagnostic = next(d for d in report["diagnostics"] if d["code"] == "PL903")
    assert diagnostic["severity"] == "information" and diagnostic["line"] == 3
    assert "extension built for another torch" in diagnostic["message"]
    assert "broken_dependency.py:2" in diagnostic["message"]


def test_a_failing_statement_that_is_not_an_import_is_still_an_error(tmp_path):
    source = "import torch\nfrom torch import nn\nnet = nn.Linear(4, 8)\ny = net(torch.rand(2, 3))\n"
    status, report = check_source(tmp_path, "raises.py", source)
    assert status == 1
    assert "PL903" not in [d["code"] for d in report["diagnostics"]]


def test_sibling_module_imports_with_a_relative_command_line_path(tmp_path):
    """`paramlens check model.py` from the file's own directory: its sibling modules import as with `python
    model.py` (the child runs in a private directory, so the path it gets must not be relative)."""
    (tmp_path / "blocks.py").write_text("from torch import nn\n\n\ndef block(width):\n    return nn.Sequential("
                                        "nn.Linear(width, 2 * width), nn.ReLU())\n", encoding="utf-8")
    source = "import torch\nfrom blocks import block\n\nnet = block(5)\n"
    (tmp_path / "model.py").write_text(source, encoding="utf-8")
    status, out, err = run_cli_in(tmp_path, "check", "--format", "json", "model.py")
    report = json.loads(out)["files"][0]
    assert report["path"] == "model.py"
    assert status == 0, report["diagnostics"]
    net = next(m for m in report["modules"] if m["name"] == "net")
    assert net["param_count"] == 5 * 10 + 10


def test_dotted_imports_ending_in_parameter_attribute_names(tmp_path):
    """`import torch.utils.data` is a module path, not a `.data` access: it used to be wrapped in a probe, which
    crashed the instrumenter (`import`) or broke the statement into a syntax error (`from ... import`)."""
    source = textwrap.dedent("""\
        import torch
        import torch.utils.data
        import torch.utils.data as tud
        from torch.utils.data import DataLoader, TensorDataset
        from torch import nn

        net = nn.Linear(2, 3)
        loader = DataLoader(TensorDataset(torch.rand(4, 2)), batch_size=2)
        print(net.weight.data.shape)
        """)
    status, report = check_source(tmp_path, "loader.py", source)
    assert status == 0 and report["diagnostics"] == [], report["diagnostics"]
    assert report["execution"]["status"] == "ok"
    assert find_explanations(report, "param_attr", line_of(source, "print(net.weight.data.shape)"))


def test_a_statement_read_without_walking_imports_what_the_walk_finds():
    """imports_of skips the tree walk of an ASCII statement without the word `import` (a second of a long file's
    first analysis): over every statement of the examples and the corpus, and statements written to trip it
    (a dynamic import in a nested call, an import inside a function, a name that only contains the word, a
    name spelled with a full-width letter, which Python folds to ASCII), what it finds is what the walk finds."""
    import libcst as cst

    from paramlens.analyzers.imports import imports_of

    root = Path(__file__).resolve().parent.parent
    sources = [p.read_text(encoding="utf-8") for p in sorted((root / "examples").glob("*.py")) +
               sorted((root / "tests" / "corpus").glob("*.py")) + sorted((root / "tests" / "models").glob("*.py"))]
    sources.append("def f():\n    import torch\n\nx = g(h(__import__('torch')))\nimportant = 1\n"
                   "m = lib.import_module('a.b')\nfrom ..pkg import mod\n\uff49mport_module = 3\n")
    compared = 0
    for source in sources:
        module = cst.parse_module(source)
        for node in module.body:
            code = module.code_for_node(node)
            walked, read = imports_of(node), imports_of(node, code)
            assert (walked.absolute, walked.relative, walked.dynamic) == (read.absolute, read.relative, read.dynamic), code
            compared += 1
    assert compared > 200

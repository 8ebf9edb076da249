"""Notebooks on the command line: `paramlens check nb.ipynb` and `paramlens explain nb.ipynb:CELL:LINE:COL`, run as a
user runs them. The truth is torch running the concatenated code cells (tests/oracle.py, with each cell's last
expression shown as IPython shows it); the cell map the tests use is computed here from the notebook, not taken from
ParamLens."""

from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path

import jsonschema
import nbformat
import pytest
from nbformat import v4

from conftest import seed_read_expressions
from oracle import run_oracle

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "parameter_management.ipynb"
TWICE = "net[0].weight.data[:] += 1"


class Layout:
    """The code cells of a notebook joined into one program, and where each cell's lines are in it (1-based)."""

    def __init__(self, notebook) -> None:
        self.cells: dict[int, tuple[int, int]] = {}  # cell number -> (first line, last line)
        lines: list[str] = []
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            cell_lines = cell.source.split("\n")
            if cell_lines and cell_lines[-1] == "":
                cell_lines.pop()
            self.cells[index + 1] = (len(lines) + 1, len(lines) + len(cell_lines))
            lines.extend(cell_lines)
        self.source = "\n".join(lines) + "\n"
        self.notebook = notebook

    def line(self, cell: int, line: int) -> int:
        return self.cells[cell][0] + line - 1

    def cell_of(self, line: int) -> int:
        return next(number for number, (first, last) in self.cells.items() if first <= line <= last)

    def shown_lines(self) -> list[int]:
        """The last statement of each cell when it is an expression not ended by `;` (what IPython shows)."""
        tree = ast.parse(self.source)
        shown = []
        for number, (first, last) in self.cells.items():
            statements = [s for s in tree.body if first <= s.lineno <= last]
            source = self.notebook.cells[number - 1].source.rstrip()
            if statements and isinstance(statements[-1], ast.Expr) and not source.endswith(";"):
                shown.append(statements[-1].lineno)
        return shown


def check_json(run_cli, path: Path | str, *extra: str) -> tuple[int, dict]:
    code, out, err = run_cli("check", "--format", "json", "--locale", "en", str(path), *extra)
    assert code in (0, 1), err
    return code, json.loads(out)["files"][0]


def write(path: Path, cells: list, **metadata) -> Path:
    notebook = v4.new_notebook()
    notebook.metadata.update({"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"},
                              **metadata})
    notebook.cells = cells
    nbformat.write(notebook, path)
    return path


def close(a, b) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-7)
    return a == b


# -- the example notebook --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def example(run_cli):
    """The example's report, its layout and torch's run of its concatenated code cells."""
    notebook = nbformat.read(EXAMPLE, as_version=4)
    layout = Layout(notebook)
    _, report = check_json(run_cli, "examples/parameter_management.ipynb")
    oracle = run_oracle(layout.source, str(EXAMPLE), capture=seed_read_expressions(layout.source),
                        show=layout.shown_lines())
    return report, layout, oracle


def test_every_position_names_its_cell(example):
    report, layout, _ = example
    for key in ("explanations", "diagnostics", "modules"):
        for entry in report[key]:
            assert entry["cell"] in layout.cells, (key, entry)
            first, last = layout.cells[entry["cell"]]
            assert 1 <= entry["line"] <= last - first + 1, (key, entry)
            if "end_line" in entry:
                assert entry["line"] <= entry["end_line"] <= last - first + 1, (key, entry)
    assert [cell["cell"] for cell in report["notebook"]["cells"]] == list(range(1, len(layout.notebook.cells) + 1))


def test_each_cell_printed_and_showed_what_torch_did(example):
    report, layout, oracle = example
    cells = {cell["cell"]: cell for cell in report["notebook"]["cells"]}
    for number, (first, last) in layout.cells.items():
        statements = [s for s in oracle.statements if first <= s["line"] <= last]
        output = cells[number]["output"]
        assert output["stdout"] == "".join(s["output"] for s in statements), number
        shown = [s["shown"] for s in statements if s.get("shown") is not None]
        assert output["shown"] == shown, number
        assert output["error"] is None and all(s["status"] == "ok" for s in statements)
    for cell in report["notebook"]["cells"]:
        assert cell["kind"] == layout.notebook.cells[cell["cell"] - 1].cell_type


def test_modules_are_torchs(example):
    report, layout, oracle = example
    assert [m["name"] for m in report["modules"]] == [m["name"] for m in oracle.modules]
    for module in report["modules"]:
        truth = oracle.module(module["name"])
        assert module["class"] == truth["class"]
        assert module["param_count"] == truth["param_count"]
        assert [[p["name"], p["shape"]] for p in module["parameters"]] == \
            [[p["name"], p["shape"]] for p in truth["parameters"]]
        assert module["tied"] == truth["tied"]
        # the statement that bound it last, in its cell
        bound = layout.notebook.cells[module["cell"] - 1].source.split("\n")[module["line"] - 1]
        assert bound.startswith(f"{module['name']} = "), bound


def _text(layout: Layout, entry: dict) -> str:
    """The source text an explanation covers, read from its cell."""
    lines = layout.notebook.cells[entry["cell"] - 1].source.split("\n")
    if entry["line"] != entry["end_line"]:
        return ""
    return lines[entry["line"] - 1][entry["column"] - 1:entry["end_column"] - 1]


def test_explanations_carry_torchs_values(example):
    report, layout, oracle = example
    reads = seed_read_expressions(layout.source)
    checked = {"print_output": 0, "values": 0, "forward": 0}
    for entry in report["explanations"]:
        line = layout.line(entry["cell"], entry["line"])
        facts = entry["facts"]
        statement = oracle.statement(line)
        if entry["pattern"] == "print_output":
            assert facts["output"] == statement["output"]
            checked["print_output"] += 1
            continue
        text = _text(layout, entry)
        if not text or statement["line"] not in reads or text not in reads[statement["line"]]:
            continue
        truth = oracle.value(statement["line"], text)
        if entry["pattern"] in ("param_attr", "param_index", "state_dict_key") and "values" in facts:
            if facts.get("values") is not None:
                assert close(facts["values"], truth), (entry["cell"], text)
                checked["values"] += 1
    for entry in (e for e in report["explanations"] if e["pattern"] == "forward"):
        line = layout.line(entry["cell"], entry["line"])
        truth = next(s["shown"] for s in oracle.statements if s["line"] == line)
        values = entry["facts"]["output_values"]
        numbers = [float(x) for x in re.findall(r"-?\d+\.\d+", truth.split("grad_fn")[0])]
        flat = [v for row in values for v in row]
        assert close([round(v, 4) for v in flat], numbers), entry["cell"]
        checked["forward"] += 1
    assert checked["print_output"] >= 10 and checked["values"] >= 10 and checked["forward"] >= 2, checked


def test_the_stored_outputs_differ_only_where_a_cell_ran_twice(example):
    report, layout, _ = example
    twice = next(number for number in layout.cells if layout.notebook.cells[number - 1].source.startswith(TWICE))
    stored = [d for d in report["diagnostics"] if d["code"] == "PL921"]
    assert [(d["cell"], d["line"]) for d in stored] == [(twice, 1)]
    counts = [layout.notebook.cells[number - 1].execution_count for number in layout.cells]
    here = layout.notebook.cells[twice - 1].execution_count
    previous = max(c for c in counts if c is not None and c < here)
    assert f"[{here}]" in stored[0]["message"] and f"[{previous}]" in stored[0]["message"]
    assert "running this cell again" in stored[0]["message"]
    differing = {c["cell"]: c["stored"] for c in report["notebook"]["cells"]
                 if c.get("stored", {}).get("status") == "differs"}
    assert min(differing) == twice
    assert all(entry == {"status": "differs", "reason": "rerun", "caused_by": twice} for entry in differing.values())
    for number in differing:
        if number != twice:
            assert str(number) in stored[0]["message"]  # named as following from the twice-run cell
    others = [c for c in report["notebook"]["cells"] if c["kind"] == "code" and c["cell"] not in differing]
    assert all(c["stored"]["status"] == "same" for c in others)


def test_text_sarif_and_explain_use_cell_positions(run_cli, example):
    report, layout, oracle = example
    code, out, err = run_cli("check", "--locale", "en", "examples/parameter_management.ipynb")
    pl102 = next(d for d in report["diagnostics"] if d["code"] == "PL102")
    assert f"examples/parameter_management.ipynb:{pl102['cell']}:{pl102['line']}:{pl102['column']}: warning PL102" in out
    assert "CELL:LINE:COL" in out
    sarif = json.loads(run_cli("check", "--format", "sarif", "examples/parameter_management.ipynb")[1])
    schema = json.loads((ROOT / "tests" / "data" / "sarif-2.1.0-rtm.5.json").read_text())
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(sarif)
    results = sarif["runs"][0]["results"]
    assert {(r["ruleId"], r["locations"][0]["properties"]["cell"]) for r in results} == \
        {(d["code"], d["cell"]) for d in report["diagnostics"]}
    # explain CELL:LINE:COL on `net[0].named_parameters()`
    number = next(n for n in layout.cells if "net[0].named_parameters()" in layout.notebook.cells[n - 1].source)
    column = layout.notebook.cells[number - 1].source.index("named_parameters") + 1
    code, out, err = run_cli("explain", "--locale", "en", f"examples/parameter_management.ipynb:{number}:1:{column}")
    assert code == 0, err
    line = layout.line(number, 1)
    truth = run_oracle(layout.source, str(EXAMPLE), capture={line: ["[[n, list(p.shape)] for n, p in "
                                                                    "net[0].named_parameters()]"]})
    for name, shape in truth.value(line, "[[n, list(p.shape)] for n, p in net[0].named_parameters()]"):
        assert f"`{name}`" in out and "[" + ", ".join(map(str, shape)) + "]" in out


def test_explain_positions_are_checked(run_cli):
    code, _, err = run_cli("explain", "examples/parameter_management.ipynb:1:1:1")
    assert code == 2 and "markdown cell" in err
    code, _, err = run_cli("explain", "examples/parameter_management.ipynb:99:1:1")
    assert code == 2 and "there is no cell 99" in err
    code, _, err = run_cli("explain", "examples/parameter_management.ipynb:3:1")
    assert code == 2 and "CELL:LINE:COL" in err
    code, out, _ = run_cli("explain", "--help")
    assert code == 0 and "CELL" in out and "markdown included" in out


# -- IPython syntax -------------------------------------------------------------------------------------------------

def test_magics_and_shell_escapes(run_cli, tmp_path):
    path = write(tmp_path / "magics.ipynb", [
        v4.new_markdown_cell("# 魔法命令"),
        v4.new_code_cell("%matplotlib inline\nimport torch\nfrom torch import nn\n!pip install d2l"),
        v4.new_code_cell("net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))\n"
                         "%time X = torch.rand(size=(2, 4))\n?net"),
        v4.new_code_cell("%%time\ny = net(X)\ny"),
        v4.new_code_cell("%%bash\necho hello > written.txt\nexit 3"),
        v4.new_code_cell("files = !ls\ndisplay(net[0])\nnet[0].weight.shape"),
        v4.new_code_cell("net(X);"),
        v4.new_code_cell("get_ipython().run_line_magic('config', \"InlineBackend.figure_format = 'svg'\")\nlen(files)"),
    ])
    _, report = check_json(run_cli, path)
    found = {(d["cell"], d["line"]): d for d in report["diagnostics"] if d["code"] == "PL920"}
    assert found[(2, 1)]["severity"] == "hint" and "%matplotlib inline" in found[(2, 1)]["message"]
    assert found[(2, 4)]["severity"] == "information" and "shell command" in found[(2, 4)]["message"]
    assert found[(3, 2)]["severity"] == "hint" and "once" in found[(3, 2)]["message"]
    assert found[(3, 3)]["severity"] == "hint"
    assert found[(4, 1)]["severity"] == "hint"
    assert found[(5, 1)]["severity"] == "information" and "%%bash" in found[(5, 1)]["message"]
    assert found[(6, 1)]["severity"] == "information"
    assert (8, 1) in found
    assert not [d for d in report["diagnostics"] if d["code"] in ("PL900", "PL000")], report["diagnostics"]
    # the truth: what Jupyter runs as Python once the magics are taken out
    plain = ("import torch\nfrom torch import nn\n"
             "net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))\nX = torch.rand(size=(2, 4))\n"
             "y = net(X)\ny\nrepr(net[0])\nnet[0].weight.shape\n")
    oracle = run_oracle(plain, str(path), show=[6, 7, 8])
    shown = {s["line"]: s.get("shown") for s in oracle.statements}
    cells = {c["cell"]: c for c in report["notebook"]["cells"]}
    assert cells[4]["output"]["shown"] == [shown[6]]
    assert cells[6]["output"]["shown"] == [eval(shown[7]), shown[8]]  # display(net[0]), then the cell's value
    assert cells[5]["output"] == {"stdout": "", "shown": [], "error": None}  # the %%bash cell did not run
    assert cells[7]["output"]["shown"] == []  # `;` hides the value, as in IPython
    assert cells[8]["output"]["shown"] == ["0"]  # `files = !ls` is an empty list here: no shell ran
    assert not (tmp_path / "written.txt").exists()


def test_percent_cells_in_a_py_file(run_cli, tmp_path):
    source = ("import torch\nfrom torch import nn\n\n# %%\nnet = nn.Linear(4, 8)\nnet.weight.shape\n\n"
              "# %% [markdown]\n# A heading\n\n# %%\n%time y = net(torch.ones(2, 4))\ny.shape\n")
    path = tmp_path / "cells.py"
    path.write_text(source)
    _, report = check_json(run_cli, path)
    cells = report["notebook"]["cells"]
    assert [c["kind"] for c in cells] == ["code", "code", "markdown", "code"]
    assert [(c["line"], c["end_line"]) for c in cells] == [(1, 3), (4, 7), (8, 10), (11, 13)]
    plain = "import torch\nfrom torch import nn\nnet = nn.Linear(4, 8)\nnet.weight.shape\ny = net(torch.ones(2, 4))\ny.shape\n"
    oracle = run_oracle(plain, str(path), show=[4, 6])
    shown = [s["shown"] for s in oracle.statements if s.get("shown")]
    assert cells[1]["output"]["shown"] == [shown[0]] and cells[3]["output"]["shown"] == [shown[1]]
    assert all("cell" not in d for d in report["diagnostics"])  # a .py file keeps its own lines
    assert any(d["code"] == "PL920" and d["line"] == 12 for d in report["diagnostics"])
    assert not [d for d in report["diagnostics"] if d["code"] in ("PL900", "PL000")]


# -- why a stored output differs --------------------------------------------------------------------------------------

def test_outputs_from_another_random_state(run_cli, tmp_path):
    """The stored output is torch's with seed 1; ParamLens runs with seed 0 and the notebook sets none."""
    author = run_oracle("import torch\ntorch.rand(3)\n", "a.ipynb", seed=1, show=[2]).statements[1]["shown"]
    path = write(tmp_path / "unseeded.ipynb", [
        v4.new_code_cell("import torch", execution_count=1),
        v4.new_code_cell("torch.rand(3)", execution_count=2, outputs=[
            v4.new_output("execute_result", data={"text/plain": author}, execution_count=2)])])
    _, report = check_json(run_cli, path)
    stored = [d for d in report["diagnostics"] if d["code"] == "PL921"]
    assert [d["cell"] for d in stored] == [2]
    assert "no code cell up to here sets a random seed" in stored[0]["message"]
    assert report["notebook"]["cells"][1]["stored"]["reason"] == "random"


def test_cells_run_out_of_order(run_cli, tmp_path):
    """The author ran cell 3 before cell 2 (counts 1, 3, 2): cell 2's stored output is torch's for that order."""
    author = run_oracle("import torch\nx = torch.ones(2)\nx = x * 10\nx += 1\nx\n", "a.ipynb", show=[5])
    shown = author.statements[-1]["shown"]
    path = write(tmp_path / "order.ipynb", [
        v4.new_code_cell("import torch\nx = torch.ones(2)", execution_count=1),
        v4.new_code_cell("x += 1\nx", execution_count=3, outputs=[
            v4.new_output("execute_result", data={"text/plain": shown}, execution_count=3)]),
        v4.new_code_cell("x = x * 10", execution_count=2)])
    _, report = check_json(run_cli, path)
    stored = [d for d in report["diagnostics"] if d["code"] == "PL921"]
    assert [d["cell"] for d in stored] == [2]
    assert "ran before it" in stored[0]["message"] and "cells 3" in stored[0]["message"].replace("cell 3", "cells 3")
    assert report["notebook"]["cells"][1]["stored"]["reason"] == "order"


def test_a_difference_the_notebook_does_not_explain(run_cli, tmp_path):
    path = write(tmp_path / "edited.ipynb", [
        v4.new_code_cell("import torch\ntorch.manual_seed(0)", execution_count=1, outputs=[
            v4.new_output("execute_result", data={"text/plain": "<torch._C.Generator object at 0x7f00deadbeef>"},
                          execution_count=1)]),
        v4.new_code_cell("torch.zeros(2)", execution_count=2, outputs=[
            v4.new_output("execute_result", data={"text/plain": "tensor([9., 9.])"}, execution_count=2)]),
        v4.new_code_cell("torch.ones(1)")])  # never run by the author: nothing stored to compare
    _, report = check_json(run_cli, path)
    stored = [d for d in report["diagnostics"] if d["code"] == "PL921"]
    assert [d["cell"] for d in stored] == [2]  # the generator's address differs, and is ignored
    assert "does not show why" in stored[0]["message"]
    assert [c["stored"]["status"] for c in report["notebook"]["cells"]] == ["same", "differs", "no-stored"]


def test_classes_shown_by_ipythons_pretty_printer_are_the_same(run_cli, tmp_path):
    """IPython shows `(type(p), 1)` as `(torch.nn.parameter.Parameter, 1)` where `repr` writes `<class '...'>`: the
    same output (found on d2l's own notebooks), not a difference."""
    import torch

    path = write(tmp_path / "pretty.ipynb", [
        v4.new_code_cell("import torch\nfrom torch import nn\np = nn.Parameter(torch.zeros(1))", execution_count=1),
        v4.new_code_cell("type(p), type(1)", execution_count=2, outputs=[v4.new_output(
            "execute_result", data={"text/plain": f"({type(torch.nn.Parameter(torch.zeros(1))).__module__}.Parameter, "
                                                  "int)"}, execution_count=2)]),
        v4.new_code_cell("type(p)", execution_count=3, outputs=[v4.new_output(
            "execute_result", data={"text/plain": "torch.nn.parameter.Buffer"}, execution_count=3)])])
    _, report = check_json(run_cli, path)
    assert [c["stored"]["status"] for c in report["notebook"]["cells"]] == ["same", "same", "differs"]


def test_a_module_the_author_had_and_this_interpreter_lacks(run_cli, tmp_path):
    """d2l's notebooks start with `!pip install d2l` (never run here) and then import it: the author's cell ran, the
    fresh one raises ModuleNotFoundError. The reason is the environment (PL903 at the import), not the notebook."""
    path = write(tmp_path / "d2l_style.ipynb", [
        v4.new_code_cell("!pip install paramlens_test_not_installed_pkg", execution_count=1),
        v4.new_code_cell("import torch\nimport paramlens_test_not_installed_pkg", execution_count=2),
        v4.new_code_cell("torch.zeros(1)", execution_count=3, outputs=[v4.new_output(
            "execute_result", data={"text/plain": "tensor([0.])"}, execution_count=3)])])
    _, report = check_json(run_cli, path)
    stored = [d for d in report["diagnostics"] if d["code"] == "PL921"]
    assert [d["cell"] for d in stored] == [2] and "PL903" in stored[0]["message"], stored
    assert [c["stored"]["reason"] for c in report["notebook"]["cells"]] == [None, "import", None]
    assert {d["code"] for d in report["diagnostics"] if d["cell"] == 2} >= {"PL903", "PL921"}


# -- notebooks that are not quite notebooks ---------------------------------------------------------------------------

def test_malformed_notebooks_get_clear_messages(run_cli, tmp_path):
    cases = {
        "not_json.ipynb": ("{\"cells\": [", "not valid JSON"),
        "empty_file.ipynb": ("", "empty"),
        "v3.ipynb": (json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": []}),
                     "nbformat 3"),
        "no_cells.ipynb": (json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}}), "`cells`"),
        "not_a_notebook.ipynb": (json.dumps([1, 2, 3]), "nbformat"),
    }
    for name, (text, words) in cases.items():
        (tmp_path / name).write_text(text)
        code, out, err = run_cli("check", str(tmp_path / name))
        assert code == 2, (name, out, err)
        assert words in err and name in err and "Traceback" not in err, (name, err)
    code, _, err = run_cli("check", str(tmp_path / "v3.ipynb"))
    assert "nbconvert" in err


def test_notebooks_without_code(run_cli, tmp_path):
    empty = write(tmp_path / "empty.ipynb", [])
    markdown = write(tmp_path / "markdown.ipynb", [v4.new_markdown_cell("# only text")])
    for path in (empty, markdown):
        code, report = check_json(run_cli, path)
        assert code == 0
        assert report["execution"]["status"] == "skipped" and "no code" in report["execution"]["message"]


def test_sources_stored_as_lists_of_lines(run_cli, tmp_path):
    """nbformat 4 stores a multi-line source as a list of lines (as Jupyter writes it): read as the joined text."""
    cells = [v4.new_code_cell("import torch\nfrom torch import nn"),
             v4.new_code_cell("net = nn.Sequential(nn.Linear(4, 8),\n                    nn.ReLU())\nnet[0].bias.shape")]
    joined = write(tmp_path / "joined.ipynb", cells)
    data = json.loads(joined.read_text())
    for cell in data["cells"]:
        cell["source"] = cell["source"].splitlines(keepends=True) if isinstance(cell["source"], str) else cell["source"]
    assert isinstance(data["cells"][1]["source"], list) and len(data["cells"][1]["source"]) == 3
    lines = tmp_path / "lines.ipynb"
    lines.write_text(json.dumps(data))
    _, as_text = check_json(run_cli, joined)
    _, as_lines = check_json(run_cli, lines)
    assert as_lines["modules"] == as_text["modules"] and as_lines["modules"][0]["param_count"] == 40
    assert as_lines["notebook"]["cells"] == as_text["notebook"]["cells"]
    assert as_lines["notebook"]["cells"][1]["output"]["shown"] == ["torch.Size([8])"]


def test_a_cell_that_is_not_python_does_not_stop_the_others(run_cli, tmp_path):
    path = write(tmp_path / "broken.ipynb", [
        v4.new_code_cell("import torch\nfrom torch import nn"),
        v4.new_code_cell("def f(:\n    pass"),
        v4.new_code_cell("net = nn.Linear(2, 3)\nnet.weight.shape")])
    code, report = check_json(run_cli, path)
    assert code == 1
    syntax = [d for d in report["diagnostics"] if d["code"] == "PL000"]
    assert [(d["cell"], d["line"]) for d in syntax] == [(2, 1)]
    assert report["modules"][0]["name"] == "net" and report["modules"][0]["cell"] == 3
    assert report["notebook"]["cells"][2]["output"]["shown"] == ["torch.Size([3, 2])"]


def test_directories_include_notebooks(run_cli, tmp_path):
    write(tmp_path / "a.ipynb", [v4.new_code_cell("import torch\nx = torch.nn.Linear(1, 1)")])
    (tmp_path / "b.py").write_text("import torch\n")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    write(tmp_path / ".ipynb_checkpoints" / "a-checkpoint.ipynb", [v4.new_code_cell("x = 1")])
    code, out, err = run_cli("check", "--format", "json", str(tmp_path))
    assert code == 0, err
    assert sorted(Path(f["path"]).name for f in json.loads(out)["files"]) == ["a.ipynb", "b.py"]


def test_a_cells_sys_stdout_is_jupyters(run_cli, tmp_path):
    """A notebook's code meets Jupyter's `sys.stdout` (ipykernel's OutStream): encoding "UTF-8", name "stdout", no
    `buffer` and no `reconfigure` (a script's stdout has both; a notebook that relies on them fails in Jupyter, and
    must fail here too). The truth is ipykernel's own class."""
    outstream = pytest.importorskip("ipykernel.iostream").OutStream
    path = write(tmp_path / "stdout.ipynb", [
        v4.new_code_cell("import sys\nimport torch"),
        v4.new_code_cell("print(sys.stdout.encoding, sys.stdout.name)\n"
                         "print(hasattr(sys.stdout, 'buffer'), hasattr(sys.stdout, 'reconfigure'))")])
    _, report = check_json(run_cli, path)
    truth = f"{outstream.encoding} stdout\n{hasattr(outstream, 'buffer')} {hasattr(outstream, 'reconfigure')}\n"
    assert report["notebook"]["cells"][1]["output"]["stdout"] == truth

"""Bad input and misbehaving code: usage errors exit 2 with a clear message; code that raises, loops forever, eats
memory or kills its process is reported as a diagnostic (never a traceback); training and the main block run as
`python file.py` runs them, and a loop that would run long is shortened and labelled."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import run_cli_in
from helpers import codes_at, comparable_modules, find_explanations, line_of
from oracle import run_oracle

RAISES = """import torch
from torch import nn
net = nn.Linear(4, 8)
y = net(torch.rand(2, 3))
z = y + 1
print(net.weight.shape)
"""

LOOPS = """import itertools
import torch
from torch import nn
net = nn.Linear(4, 8)
print(net.weight.shape)
total = sum(1 for _ in itertools.count())
print(net.bias.shape)
"""

SPINS = """import torch
from torch import nn
net = nn.Linear(4, 8)
spins = 0
while True:
    spins += 1
print(net.bias.shape)
"""

ALLOCATES = """import torch
from torch import nn
net = nn.Linear(2, 3)
x = torch.empty(10**11)
print(net.bias.shape)
"""

EXITS = """import torch
from torch import nn
net = nn.Linear(2, 3)
print(net.weight.shape)
import os; os._exit(0)
print(net.bias.shape)
"""

SEGFAULTS = """import torch
from torch import nn
net = nn.Linear(2, 3)
print(net.weight.shape)
import ctypes; ctypes.string_at(0)
print(net.bias.shape)
"""

TRAINS = """import torch
from torch import nn

model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
X = torch.rand(5, 3)
for epoch in range(3):
    loss = model(X).sum()
    opt.zero_grad()
    loss.backward()
    opt.step()
    trained = nn.Linear(7, 7)
print(model[0].weight.grad is None)

if __name__ == "__main__":
    print("MAIN BLOCK RAN")
    extra = nn.Linear(5, 6)

print(model[0].weight)
"""

SYNTAX_AT_END = "net = nn.Sequential(\n"
SYNTAX_IN_MIDDLE = "import torch\nfrom torch import nn\nnet = nn.Linear(2, 3)\nx = = 2\nprint(2)\n"


def _stop_and_after(source: str, statement: str) -> list[int]:
    """The line of `statement` and of every top-level statement after it (what a run stopped there never ran)."""
    import ast

    stop = line_of(source, statement)
    return [node.lineno for node in ast.parse(source).body if node.lineno >= stop]


SCENARIOS = {
    # name: (file name, source, extra CLI args, oracle keyword arguments or None)
    "raises": ("raises.py", RAISES, [], {}),
    # a generator expression is never shortened by the loop budget (it would change the value it builds): only the
    # run's time limit stops it
    "loops": ("loops.py", LOOPS, ["--timeout", "5"], {"skip_lines": _stop_and_after(LOOPS, "total = sum(")}),
    "allocates": ("allocates.py", ALLOCATES, ["--memory-mb", "512"],
                  {"skip_lines": [line_of(ALLOCATES, "x = torch.empty(10**11)")]}),
    "exits": ("exits.py", EXITS, [], {"skip_lines": _stop_and_after(EXITS, "import os; os._exit(0)")}),
    "segfaults": ("segfaults.py", SEGFAULTS, [], {"skip_lines": _stop_and_after(SEGFAULTS, "import ctypes;")}),
    "trains": ("trains.py", TRAINS, [], {}),
    "trains_as_a_module": (None, TRAINS, None, {"name": "trains"}),
    "spins": ("spins.py", SPINS, [], None),
    "syntax_end": ("syntax_end.py", SYNTAX_AT_END, [], None),
    "syntax_middle": ("syntax_middle.py", SYNTAX_IN_MIDDLE, [], None),
    "empty": ("empty.py", "", [], None),
    "no_torch": ("no_torch.py", "print(1)\n", [], None),
}


class Run:
    def __init__(self, code, out, err, oracle):
        self.code, self.out, self.err, self.oracle = code, out, err, oracle
        self.json = json.loads(out) if out.strip().startswith("{") else None

    @property
    def report(self):
        assert self.json is not None, f"no JSON on stdout (exit {self.code}): {self.out[:500]} {self.err[-2000:]}"
        return self.json["files"][0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every scenario analysed once by the CLI (`check --format json`) and, where it makes sense, by the oracle;
    run two at a time."""
    directory = tmp_path_factory.mktemp("bad_input")

    def cli(name):
        filename, source, args, _ = SCENARIOS[name]
        if filename is None:
            return None
        (directory / filename).write_text(source, encoding="utf-8")
        return run_cli_in(directory, "check", "--format", "json", "--locale", "en", *args, filename)

    def oracle(name):
        filename, source, _, kwargs = SCENARIOS[name]
        if kwargs is None:
            return None
        return run_oracle(source, str(directory / (filename or "oracle.py")), **kwargs)

    with ThreadPoolExecutor(max_workers=2) as pool:
        cli_futures = {name: pool.submit(cli, name) for name in SCENARIOS}
        oracle_futures = {name: pool.submit(oracle, name) for name in SCENARIOS}
        results = {}
        for name in SCENARIOS:
            outcome = cli_futures[name].result()
            code, out, err = outcome if outcome else (None, "", "")
            results[name] = Run(code, out, err, oracle_futures[name].result())
    return results


def _no_traceback(run):
    assert "Traceback" not in run.err, run.err[-3000:]
    assert "Traceback" not in run.out


# -- usage errors ---------------------------------------------------------------------------------------------------

def test_missing_file_is_usage_error(run_cli, tmp_path):
    missing = tmp_path / "does_not_exist.py"
    code, out, err = run_cli("check", "--format", "json", str(missing))
    assert code == 2
    assert str(missing) in err and "no such file" in err
    assert "Traceback" not in err
    assert out == ""


def test_non_utf8_file_is_usage_error(run_cli, tmp_path):
    path = tmp_path / "latin.py"
    path.write_bytes(b"\xff\xfe x = 1")
    code, out, err = run_cli("check", "--format", "json", str(path))
    assert code == 2
    assert "UTF-8" in err and str(path) in err
    assert "Traceback" not in err
    assert out == ""


def test_directory_without_python_files_is_usage_error(run_cli, tmp_path):
    code, out, err = run_cli("check", str(tmp_path))
    assert code == 2
    assert "Traceback" not in err


@pytest.mark.parametrize("position", ["foo.py:abc", "foo.py", "foo.py:1:x", "examples/parameter_management.py:0:1"])
def test_explain_bad_position_is_usage_error(run_cli, position):
    code, out, err = run_cli("explain", position)
    assert code == 2
    assert "FILE:LINE:COL" in err or "1-based" in err
    assert "Traceback" not in err


def test_explain_missing_file_is_usage_error(run_cli, tmp_path):
    code, out, err = run_cli("explain", f"{tmp_path / 'nope.py'}:1:1")
    assert code == 2
    assert "no such file" in err
    assert "Traceback" not in err


# -- files with nothing to run --------------------------------------------------------------------------------------

def test_empty_file(runs):
    run = runs["empty"]
    assert run.code == 0
    _no_traceback(run)
    assert run.report["modules"] == []
    assert run.report["diagnostics"] == []


def test_file_without_torch_is_not_run(runs):
    run = runs["no_torch"]
    assert run.code == 0
    _no_traceback(run)
    assert run.report["execution"]["status"] == "skipped"
    assert run.report["modules"] == []


# -- syntax errors --------------------------------------------------------------------------------------------------

def _python_syntax_error(source):
    with pytest.raises(SyntaxError) as error:
        compile(source, "x.py", "exec")
    return error.value


def test_syntax_error_is_pl000(runs):
    run = runs["syntax_end"]
    assert run.code == 1
    _no_traceback(run)
    diagnostics = run.report["diagnostics"]
    assert [(d["code"], d["severity"]) for d in diagnostics] == [("PL000", "error")]
    assert diagnostics[0]["line"] == _python_syntax_error(SYNTAX_AT_END).lineno
    assert run.report["modules"] == []


def test_syntax_error_in_the_middle_is_pl000(runs):
    run = runs["syntax_middle"]
    assert run.code == 1
    _no_traceback(run)
    assert [(d["code"], d["severity"]) for d in run.report["diagnostics"]] == [("PL000", "error")]


def test_syntax_error_position_matches_python(runs):
    run = runs["syntax_middle"]
    expected = _python_syntax_error(SYNTAX_IN_MIDDLE)
    diagnostic = run.report["diagnostics"][0]
    assert diagnostic["line"] == expected.lineno
    assert diagnostic["line"] == line_of(SYNTAX_IN_MIDDLE, "x = = 2")


# -- a statement that raises ----------------------------------------------------------------------------------------

def test_raising_statement_is_pl900_and_later_statements_run(runs):
    run = runs["raises"]
    oracle = run.oracle
    raising = line_of(RAISES, "y = net(torch.rand(2, 3))")
    follow_on = line_of(RAISES, "z = y + 1")
    printing = line_of(RAISES, "print(net.weight.shape)")
    # plain Python: the forward raises, `z = y + 1` raises NameError only because of it, the print runs
    assert oracle.statement(raising)["status"] == "error"
    assert oracle.statement(follow_on)["error"]["type"] == "NameError"
    assert oracle.statement(printing)["status"] == "ok"

    assert run.code == 1
    _no_traceback(run)
    report = run.report
    assert report["execution"]["status"] == "partial"
    # the shape error is explained by PL002 (with both shapes), which replaces the generic PL900
    assert codes_at(report, raising) == ["PL002"]
    pl002 = next(d for d in report["diagnostics"] if d["code"] == "PL002")
    assert pl002["severity"] == "error"
    import torch  # the shapes the message must name, from torch itself

    given = list(torch.rand(2, 3).shape)
    expected = torch.nn.Linear(4, 8).in_features
    assert f"[{given[0]}, {given[1]}]" in pl002["message"] and f"expects {expected}" in pl002["message"]
    assert codes_at(report, follow_on) == []
    assert [d["code"] for d in report["diagnostics"]] == ["PL002"]
    printed = find_explanations(report, "print_output", printing)
    assert [e["facts"]["output"] for e in printed] == [oracle.statement(printing)["output"]]
    assert comparable_modules(report["modules"]) == oracle.modules


# -- runs that stop early -------------------------------------------------------------------------------------------

def test_timeout(runs):
    run = runs["loops"]
    oracle = run.oracle
    assert run.code == 1
    _no_traceback(run)
    report = run.report
    assert report["execution"]["status"] == "timeout"
    loop = line_of(LOOPS, "total = sum(")
    assert codes_at(report, loop) == ["PL901"]
    assert all(d["severity"] == "error" for d in report["diagnostics"] if d["code"] == "PL901")
    # what ran before the loop is still explained, with torch's values
    built = line_of(LOOPS, "net = nn.Linear(4, 8)")
    module = find_explanations(report, "module", built)
    assert module and module[0]["facts"]["param_count"] == oracle.module("net")["param_count"]
    printing = line_of(LOOPS, "print(net.weight.shape)")
    printed = find_explanations(report, "print_output", printing)
    assert [e["facts"]["output"] for e in printed] == [oracle.statement(printing)["output"]]
    # and what came after it never ran
    after = line_of(LOOPS, "print(net.bias.shape)")
    assert not find_explanations(report, "print_output", after)


def test_memory_limit(runs):
    run = runs["allocates"]
    oracle = run.oracle
    assert run.code == 1
    _no_traceback(run)
    report = run.report
    allocation = line_of(ALLOCATES, "x = torch.empty(10**11)")
    assert codes_at(report, allocation) in (["PL900"], ["PL901"])
    diagnostic = next(d for d in report["diagnostics"] if d["line"] == allocation)
    assert diagnostic["severity"] == "error"
    assert "memory" in diagnostic["message"] and "--memory-mb" in diagnostic["message"]
    assert report["execution"]["status"] == "memory"
    assert str(allocation) in report["execution"]["message"]
    # only that statement failed: like a notebook cell, the next one still ran
    printing = line_of(ALLOCATES, "print(net.bias.shape)")
    printed = find_explanations(report, "print_output", printing)
    assert [e["facts"]["output"] for e in printed] == [oracle.statement(printing)["output"]]
    assert comparable_modules(report["modules"]) == oracle.modules


@pytest.mark.parametrize("name,statement", [("exits", "import os; os._exit(0)"),
                                            ("segfaults", "import ctypes; ctypes.string_at(0)")])
def test_process_dies(runs, name, statement):
    run = runs[name]
    source = SCENARIOS[name][1]
    assert run.code == 1
    _no_traceback(run)
    report = run.report
    assert report["execution"]["status"] == "crashed"
    assert codes_at(report, line_of(source, statement)) == ["PL901"]
    printing = line_of(source, "print(net.weight.shape)")
    printed = find_explanations(report, "print_output", printing)
    assert [e["facts"]["output"] for e in printed] == [run.oracle.statement(printing)["output"]]
    assert not find_explanations(report, "print_output", line_of(source, "print(net.bias.shape)"))


@pytest.mark.parametrize("name", ["loops", "exits", "segfaults"])
def test_modules_built_before_an_early_stop_are_reported(runs, name):
    """The module table is the one at the statement where the run stopped (the oracle never runs that
    statement nor anything after it)."""
    run = runs[name]
    assert comparable_modules(run.report["modules"]) == run.oracle.modules


# -- training and the main block run as `python file.py` runs them --------------------------------------------------

def test_training_and_main_block_run_like_python(runs):
    """The training loop (cheap: 3 epochs) and the main block run in full; nothing is skipped by a method's name
    (`backward`, `step`) or a statement's kind. Modules, printed output and trained weights equal plain Python's."""
    run = runs["trains"]
    oracle = run.oracle
    assert run.code == 0, run.report["diagnostics"]
    _no_traceback(run)
    report = run.report
    assert report["execution"]["skipped"] == [] and report["execution"]["loops_cut"] == []
    assert comparable_modules(report["modules"]) == oracle.modules
    assert {"trained", "extra"} <= {m["name"] for m in report["modules"]}
    main = line_of(TRAINS, 'if __name__ == "__main__":')
    printed = [e["facts"]["output"] for e in find_explanations(report, "print_output", main + 1)]
    assert printed == [oracle.statement(main)["output"]] and "MAIN BLOCK RAN" in printed[0]
    for statement in ("print(model[0].weight.grad is None)", "print(model[0].weight)\n"):
        line = line_of(TRAINS, statement)
        assert [e["facts"]["output"] for e in find_explanations(report, "print_output", line)] == \
            [oracle.statement(line)["output"]]
    # and the weights really were trained: imported as a module (no main block) the file prints the same trained
    # weights, while a file that never trained would print others
    final = line_of(TRAINS, "print(model[0].weight)\n")
    assert oracle.statement(final)["output"] == runs["trains_as_a_module"].oracle.statement(final)["output"]
    grad = line_of(TRAINS, "print(model[0].weight.grad is None)")
    assert oracle.statement(grad)["output"].strip() == "False"


def test_a_loop_that_never_ends_is_shortened_and_what_follows_is_labelled(runs):
    """`while True:` is cut by the loop budget the way it would end if its condition turned false; the next
    statement runs, and its output is labelled as observed after a shortened loop. The truth is plain Python
    running the loop exactly as many iterations as ParamLens reports."""
    run = runs["spins"]
    _no_traceback(run)
    report = run.report
    assert run.code == 0, report["diagnostics"]
    loop = line_of(SPINS, "while True:")
    [cut] = report["execution"]["loops_cut"]
    assert cut["line"] == loop and cut["iterations"] >= 2 and cut["of"] is None
    assert codes_at(report, loop) == ["PL905"]
    assert f"{cut['iterations']:,} iterations" in next(d["message"] for d in report["diagnostics"] if d["code"] == "PL905")
    assert report["execution"]["status"] == "partial"
    truth = run_oracle(SPINS, "spins.py", loop_caps={loop: cut["iterations"]}, at_end=["spins"])
    assert truth.value_at_end("spins") == cut["iterations"]
    after = line_of(SPINS, "print(net.bias.shape)")
    [printed] = find_explanations(report, "print_output", after)
    assert printed["facts"]["output"] == truth.statement(after)["output"]
    assert printed["facts"]["after_cut"]["line"] == loop
    assert "shortened" in printed["markdown"].split("\n")[2]  # right under the heading
    assert comparable_modules(report["modules"]) == truth.modules
    # the module table is read at the end of the run, after the cut: it says so
    assert [m["after_cut"] for m in report["modules"]] == [loop]


def test_an_internal_error_in_recognition_still_runs_the_file(tmp_path, monkeypatch):
    """A bug in ParamLens (simulated: the recognizers raise) costs the explanations, not the file: it still runs,
    its modules are reported, and the message says what happened; nothing raises to the caller."""
    import paramlens.analysis as analysis

    def broken(parsed):
        raise RuntimeError("simulated recognizer bug")

    monkeypatch.setattr(analysis, "recognize_all", broken)
    source = "import torch\nfrom torch import nn\nnet = nn.Linear(3, 2)\n"
    path = tmp_path / "model.py"
    path.write_text(source, encoding="utf-8")
    report = analysis.analyze(source, str(path), analysis.AnalysisOptions(locale="en"))
    assert "internal error" in report.execution.message and "simulated recognizer bug" in report.execution.message
    assert [(m.name, m.param_count) for m in report.modules] == [("net", 3 * 2 + 2)]
    assert report.explanations == [] and not report.has_errors


ARGPARSE_SCRIPT = """import argparse
import torch
from torch import nn

parser = argparse.ArgumentParser()
parser.add_argument("--dataroot", required=True)
parser.add_argument("--hidden", type=int, default=12)
opt = parser.parse_args()

net = nn.Sequential(nn.Linear(4, opt.hidden), nn.ReLU(), nn.Linear(opt.hidden, 2))
"""


def test_training_script_with_required_options_still_builds_its_model(tmp_path):
    """Like pytorch/examples' scripts: argparse with a required option at top level. Run with no arguments the
    script would exit at `parse_args()`; ParamLens leaves the required option unset, says so, and builds the
    model from the other options' defaults."""
    import argparse

    import torch

    path = tmp_path / "train.py"
    path.write_text(ARGPARSE_SCRIPT, encoding="utf-8")
    status, out, err = run_cli_in(tmp_path, "check", "--format", "json", str(path))
    report = json.loads(out)["files"][0]
    assert status == 0, report["diagnostics"]
    assert "`--dataroot`" in report["execution"]["message"]
    hidden = argparse.ArgumentParser()
    hidden.add_argument("--hidden", type=int, default=12)
    width = hidden.parse_args([]).hidden
    truth = torch.nn.Sequential(torch.nn.Linear(4, width), torch.nn.ReLU(), torch.nn.Linear(width, 2))
    net = next(m for m in report["modules"] if m["name"] == "net")
    assert net["param_count"] == sum(p.numel() for p in truth.parameters())


def test_sys_exit_stops_the_run_and_says_where(tmp_path):
    source = "import sys\nimport torch\nfrom torch import nn\nnet = nn.Linear(2, 2)\nsys.exit(3)\nlate = nn.Linear(3, 3)\n"
    path = tmp_path / "exits.py"
    path.write_text(source, encoding="utf-8")
    status, out, err = run_cli_in(tmp_path, "check", "--format", "json", str(path))
    report = json.loads(out)["files"][0]
    assert report["execution"]["status"] == "partial"
    assert "line 5 exited" in report["execution"]["message"]
    assert [m["name"] for m in report["modules"]] == ["net"]


def test_an_internal_error_in_one_explainer_costs_only_its_explanation(tmp_path, monkeypatch, caplog):
    """Explanations are built after the diagnostics (when first read): an explainer that raises (simulated) loses
    its own explanation, logged; the others, the diagnostics and the modules are all there."""
    import paramlens.analysis as analysis
    from paramlens import explain

    def broken(finding, ctx):
        raise RuntimeError("simulated explainer bug")

    monkeypatch.setitem(explain.EXPLAINERS, "init", broken)
    source = ("import torch\nfrom torch import nn\nnet = nn.Linear(3, 2)\nnn.init.constant_(net.weight, 1.0)\n"
              "print(net.weight.shape)\n")
    path = tmp_path / "model.py"
    path.write_text(source, encoding="utf-8")
    report = analysis.analyze(source, str(path), analysis.AnalysisOptions(locale="en"))
    assert report.explanations_pending
    patterns = {e.pattern for e in report.explanations}
    assert "init" not in patterns and {"module", "param_attr"} <= patterns
    assert "simulated explainer bug" in caplog.text
    assert [(m.name, m.param_count) for m in report.modules] == [("net", 3 * 2 + 2)]


def test_reading_the_explanations_while_another_thread_builds_them_waits_for_them():
    """The language server builds a report's explanations on its analysis thread right after publishing the
    diagnostics; a hover, inlay-hint or code-lens request that reads them meanwhile must get them, not the empty
    list a report starts with (the build was marked as taken when it began, so a reader during it found nothing to
    build and read no explanations at all)."""
    import threading

    from paramlens.report import Execution, Explanation, FileReport, Span

    started, release = threading.Event(), threading.Event()
    built = [Explanation(Span(1, 0, 1, 5), "module", "**net**")]

    def slow_build(stop):
        started.set()
        assert release.wait(30)
        return built

    report = FileReport(path="model.py", execution=Execution(status="ok", device="cpu"))
    report.defer_explanations(slow_build)
    builder = threading.Thread(target=report.complete)
    builder.start()
    assert started.wait(30)
    read: list = []
    reader = threading.Thread(target=lambda: read.append(report.explanations))
    reader.start()
    reader.join(0.3)
    assert reader.is_alive() and report.explanations_pending  # waits for the build, which is still under way
    # the language server's analysis thread does not wait for a build a hover started: it leaves it to that one
    assert report.complete(wait=False) is False and report.explanations_pending
    release.set()
    builder.join(30)
    reader.join(30)
    assert read == [built] and not report.explanations_pending
    assert report.complete(wait=False) is True


def test_an_explanation_build_given_up_keeps_nothing_half_built(tmp_path):
    """The language server stops building a report's explanations when a newer version of the document waits
    (FileReport.complete(stop)): the report then still has all of them to build, and they are the ones a build
    never interrupted gives, for the same text."""
    import paramlens.analysis as analysis

    from pathlib import Path

    source = (Path(__file__).resolve().parents[1] / "examples" / "parameter_management.py").read_text(encoding="utf-8")
    path = tmp_path / "model.py"
    path.write_text(source, encoding="utf-8")
    interrupted = analysis.analyze(source, str(path), analysis.AnalysisOptions(locale="en"))
    asked = []

    def stop_after_the_first_question() -> bool:
        asked.append(True)
        return len(asked) > 1

    assert not interrupted.complete(stop=stop_after_the_first_question)
    assert len(asked) == 2 and interrupted.explanations_pending
    whole = analysis.analyze(source, str(path), analysis.AnalysisOptions(locale="en"))
    assert whole.complete(stop=lambda: False)
    assert not whole.explanations_pending and whole.explanations
    assert [(e.span, e.pattern, e.markdown) for e in interrupted.explanations] == \
        [(e.span, e.pattern, e.markdown) for e in whole.explanations]
    assert not interrupted.explanations_pending

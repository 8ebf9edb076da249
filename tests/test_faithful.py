"""Faithful execution: ParamLens runs every file as `python file.py` would (main block, training, backward), and
what it reports agrees with torch running the same file directly.

The corpus is every runnable file of the repository: the seed walkthrough (examples/), the realistic model files of
tests/models/ and the scripts of tests/corpus/ (pruning made permanent, a shared layer trained for a step, an EMA
training loop of 10,000 steps, vmap over functional_call, nn.Sequential subclasses that build their layers
before `super().__init__()` returns, a `while True:` training loop, a training script with argparse and
`if __name__ == "__main__": main()`, layers built in a loop, a timm-only script).

The loop budget is made deterministic here (`loop_seconds=0`: every loop that would run more than 3 iterations is
cut after 3), so the truth is exact: the oracle runs the same file with every loop ParamLens cut capped at 3
iterations. A separate test runs each file with and without probes and compares what the program printed and its
final state (tensors, modules, random number generators), which the probes must never change.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from helpers import comparable_modules, find_explanations, line_of
from oracle import run_oracle

REPO = Path(__file__).resolve().parents[1]
CORPUS = sorted((REPO / "examples").glob("*.py")) + sorted((REPO / "tests" / "models").glob("*.py")) + \
    sorted((REPO / "tests" / "corpus").glob("*.py"))
# too large for the oracle to build on the CPU (6.7 B parameters): ParamLens builds it on the meta device, which
# tests/test_realworld.py checks against torch building it on meta
TOO_LARGE_FOR_THE_ORACLE = {"llama_shaped.py"}
CUT_AFTER = 3


def _ids(paths: list[Path]) -> list[str]:
    return [f"{path.parent.name}/{path.name}" for path in paths]


def _analyze(path: Path, **overrides):
    from paramlens.analysis import AnalysisOptions, analyze

    options = AnalysisOptions(locale="en", loop_iterations=CUT_AFTER, loop_seconds=0.0, **overrides)
    return analyze(path.read_text(encoding="utf-8"), str(path), options)


@pytest.fixture(scope="module")
def corpus_runs():
    """Each corpus file analysed once (the deterministic budget) and run by the oracle with the same cuts."""
    runs = {}
    for path in CORPUS:
        report = _analyze(path)
        oracle = None
        if path.name not in TOO_LARGE_FOR_THE_ORACLE:
            caps = {cut.line: CUT_AFTER for cut in report.execution.loops_cut}
            oracle = run_oracle(path.read_text(encoding="utf-8"), str(path), loop_caps=caps)
        runs[path.name] = (path, report, oracle)
    return runs


@pytest.mark.parametrize("path", [p for p in CORPUS if p.name not in TOO_LARGE_FOR_THE_ORACLE],
                         ids=_ids([p for p in CORPUS if p.name not in TOO_LARGE_FOR_THE_ORACLE]))
def test_corpus_file_agrees_with_torch(corpus_runs, path):
    """Modules and printed output equal plain Python's (with the same loops cut), nothing is skipped, and no valid
    statement gets an error."""
    _, report, oracle = corpus_runs[path.name]
    assert report.execution.skipped == [] or all("never instantiated" in s.reason or "needs `" in s.reason
                                                 for s in report.execution.skipped)
    # the file's own variables (a library file also gets examples ParamLens built; they are checked elsewhere)
    assert comparable_modules([m for m in report.modules if m.origin == "top-level"]) == oracle.modules
    for explanation in find_explanations(report, "print_output"):
        line = explanation.span.line
        assert explanation.facts["output"] == oracle.statement(line)["output"], f"line {line}"
    errors = [(d.code, d.span.line, d.message) for d in report.diagnostics if d.severity == "error"]
    assert errors == []
    # a statement that raised in plain Python raised here too, and nothing else did
    raised = {s["line"] for s in oracle.statements if s["status"] == "error"}
    reported = {d.span.line for d in report.diagnostics if d.code in {"PL900", "PL903"}}
    assert reported <= raised


@pytest.mark.parametrize("path", CORPUS, ids=_ids(CORPUS))
def test_probes_never_change_what_the_program_does(path):
    """The same file run with every probe and with none (loop budget alike): the same statements succeed, print the
    same text, and end in the same state (every top-level tensor and module, the random number generators)."""
    from paramlens.analysis import AnalysisOptions, _execute, _request
    from paramlens.analyzers.instrument import instrument
    from paramlens.analyzers.source import parse_source
    from paramlens.analyzers.walker import recognize_all
    from paramlens.observations import Observations

    source = path.read_text(encoding="utf-8")
    options = AnalysisOptions(loop_iterations=CUT_AFTER, loop_seconds=0.0,
                              device="meta" if path.name in TOO_LARGE_FOR_THE_ORACLE else "auto")
    outcomes = []
    for probed in (True, False):
        parsed = parse_source(source)
        units = instrument(parsed, recognize_all(parsed) if probed else [])
        request = _request(str(path), units, options)
        request.state_digest = True
        run = _execute(str(path), units, options, request)
        assert run.status == "ok", run.message
        observations = Observations.from_events(run.events)
        statements = {index: (s["status"], s.get("output"), (s.get("error") or {}).get("type"))
                      for index, s in observations.statements.items()}
        done = next(e for e in run.events if e.get("t") == "done")
        outcomes.append((statements, [m["name"] for m in observations.modules], done["digest"],
                         sorted((c["line"], c["iterations"]) for c in observations.cuts.values())))
    assert outcomes[0] == outcomes[1]


# -- what each corpus file is about -----------------------------------------------------------------------------------

def test_prune_remove_folds_the_mask_back(corpus_runs):
    """`prune.remove` runs (it was once skipped as "writes files"): the model ends with plain `weight`s, no
    `weight_orig` / `weight_mask`, exactly as torch leaves it; `list.remove` removed the element."""
    path, report, oracle = corpus_runs["prune_and_fold.py"]
    model = next(m for m in report.modules if m.name == "model")
    assert [p.name for p in model.parameters] == [p["name"] for p in oracle.module("model")["parameters"]]
    assert not any(p.name.endswith("_orig") for p in model.parameters) and model.buffers == []
    source = path.read_text(encoding="utf-8")
    removed = line_of(source, "print(len(modules)")
    [printed] = find_explanations(report, "print_output", removed)
    assert printed.facts["output"] == oracle.statement(removed)["output"] and printed.facts["output"].startswith("3 ")


def test_backward_runs_and_its_gradients_are_facts(corpus_runs):
    """After `loss.backward()`, `grad == None` is False (as torch prints), `.grad` reads show the real gradient,
    and the lines that use it (`.grad.shape`, `torch.allclose(a.grad, b.grad)`) raise nothing."""
    path, report, oracle = corpus_runs["shared_backward.py"]
    source = path.read_text(encoding="utf-8")
    before = line_of(source, "print(net[2].weight.grad == None)", 1)
    after = line_of(source, "print(net[2].weight.grad == None)", 2)
    assert oracle.statement(before)["output"].strip() == "True" and oracle.statement(after)["output"].strip() == "False"
    [grad_none] = [e for e in find_explanations(report, "grad_none", after)]
    assert grad_none.facts["value"] == "False" and grad_none.facts["backward_line"] == line_of(source, "loss.backward()")
    [first] = [e for e in find_explanations(report, "grad_none", before)]
    assert first.facts["value"] == "True" and first.facts["backward_line"] is None
    grads = [e for e in find_explanations(report, "param_attr", line_of(source, "print(net[2].weight.grad.shape)"))
             if e.facts.get("backward_line")]
    truth = run_oracle(source, str(path), at_end=["net[2].weight.grad"])
    assert grads and grads[0].facts["shape"] == [8, 8]
    assert not [d for d in report.diagnostics if d.severity == "error"]
    assert truth.value_at_end("net[2].weight.grad") is not None


SHARED_TRUTH = '''
import copy
import torch
from torch import nn

X = torch.rand(size=(2, 4))
shared = nn.Linear(8, 8)
first_use, second_use = copy.deepcopy(shared), copy.deepcopy(shared)
net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), first_use, nn.ReLU(), second_use, nn.ReLU(), nn.Linear(8, 1))
loss = net(X).pow(2).sum()
loss.backward()
'''


def test_shared_layer_gradient_is_the_observed_sum_of_its_uses(corpus_runs):
    """The seed's last point, shown by running it: the shared layer's gradient is the sum of what each position
    contributed. The truth comes from torch with the shared layer replaced by two identical, independent copies:
    each copy's `.grad` is one position's contribution."""
    path, report, _ = corpus_runs["shared_backward.py"]
    source = path.read_text(encoding="utf-8")
    truth = run_oracle(SHARED_TRUTH, str(path), at_end=[
        "[first_use.weight.grad.norm().item(), second_use.weight.grad.norm().item()]",
        "[first_use.bias.grad.norm().item(), second_use.bias.grad.norm().item()]",
        "(first_use.weight.grad + second_use.weight.grad).norm().item()"])
    [backward] = find_explanations(report, "backward", line_of(source, "loss.backward()"))
    by_name = {entry["names"][0]: entry for entry in backward.facts["shared"]}
    weight, bias = by_name["shared.weight"], by_name["shared.bias"]
    assert {"net.2.weight", "net.4.weight"} <= set(weight["names"])
    assert weight["uses"] == 2 and weight["sum_matches"] is True and bias["sum_matches"] is True
    assert weight["use_norms"] == pytest.approx(
        truth.value_at_end("[first_use.weight.grad.norm().item(), second_use.weight.grad.norm().item()]"), rel=1e-5)
    assert bias["use_norms"] == pytest.approx(
        truth.value_at_end("[first_use.bias.grad.norm().item(), second_use.bias.grad.norm().item()]"), rel=1e-5)
    assert weight["grad_norm"] == pytest.approx(
        truth.value_at_end("(first_use.weight.grad + second_use.weight.grad).norm().item()"), rel=1e-5)
    # and the shared layer's own explanation says so, with the same numbers
    shared_site = [e for e in report.explanations if e.pattern == "shared_module"]
    assert shared_site and all(e.facts["gradient"]["parameters"][0]["sum_matches"] for e in shared_site)
    assert "sum is exactly what `.grad` received" in shared_site[0].markdown


def test_ema_after_a_long_loop_is_labelled_and_equals_torch_with_the_same_steps(corpus_runs):
    """The EMA loop (10,000 steps) is cut; the printed EMA value is torch's after the same number of steps (it
    used to be 0.0, the untrained copy, because the loop was skipped) and is labelled."""
    path, report, oracle = corpus_runs["ema_training.py"]
    source = path.read_text(encoding="utf-8")
    loop = line_of(source, "for step in range(10_000):")
    [cut] = [c for c in report.execution.loops_cut if c.line == loop]
    assert (cut.iterations, cut.of) == (CUT_AFTER, 10_000)
    printed_line = line_of(source, "print(round(float(ema[0].weight.mean()), 4))")
    [printed] = find_explanations(report, "print_output", printed_line)
    assert printed.facts["output"] == oracle.statement(printed_line)["output"]
    assert printed.facts["after_cut"]["line"] == loop
    untrained = run_oracle(source, str(path), loop_caps={loop: 0})
    assert printed.facts["output"] != untrained.statement(printed_line)["output"]


def test_vmap_over_functional_call_runs_without_false_errors(corpus_runs):
    path, report, oracle = corpus_runs["vmap_ensemble.py"]
    source = path.read_text(encoding="utf-8")
    line = line_of(source, "print(torch.allclose(predictions[1]")
    [printed] = find_explanations(report, "print_output", line)
    assert printed.facts["output"] == oracle.statement(line)["output"] == "True\n"
    assert not [d for d in report.diagnostics if d.code == "PL900"]


def test_sequential_subclass_building_children_before_init(corpus_runs):
    """torchvision's video stems: layers created as arguments of `super().__init__()`; the probes inside must not
    look into the half-built module."""
    path, report, oracle = corpus_runs["sequential_subclass.py"]
    assert [(m.name, m.param_count) for m in report.modules] == \
        [(m["name"], m["param_count"]) for m in oracle.modules]
    assert not [d for d in report.diagnostics if d.code == "PL900"]


def test_while_true_training_is_cut_and_the_tie_survives(corpus_runs):
    path, report, oracle = corpus_runs["while_true_training.py"]
    source = path.read_text(encoding="utf-8")
    loop = line_of(source, "while True:\n")
    assert [c.line for c in report.execution.loops_cut if c.line == loop] == [loop]
    assert [d.code for d in report.diagnostics if d.span.line == loop] == ["PL905"]
    line = line_of(source, "print(iter_num, round(lr, 6))")
    [printed] = find_explanations(report, "print_output", line)
    assert printed.facts["output"] == oracle.statement(line)["output"]
    assert printed.facts["output"].split()[0] == str(CUT_AFTER)


def test_training_script_main_block_runs_with_its_options(corpus_runs):
    """`if __name__ == "__main__": main()` runs, argparse takes its defaults, the epoch loop over a DataLoader
    and the batch loop are cut the same way in ParamLens and in the truth."""
    path, report, oracle = corpus_runs["train_main.py"]
    source = path.read_text(encoding="utf-8")
    main = line_of(source, 'if __name__ == "__main__":')
    statement = oracle.statement(main)
    assert statement["status"] == "ok" and "accuracy" in statement["output"]
    cut_lines = {c.line for c in report.execution.loops_cut}
    assert line_of(source, "for epoch in range(1, args.epochs + 1):") in cut_lines
    assert line_of(source, "for batch_idx, (data, target) in enumerate(loader):") in cut_lines
    # what `main()` printed is that statement's output, shown at the call like a notebook cell's
    [printed] = [e for e in find_explanations(report, "print_output") if e.span.line > main]
    assert printed.facts["output"] == statement["output"]
    assert printed.facts["after_cut"]["line"] in cut_lines


def test_layers_built_in_a_loop_are_never_cut(corpus_runs):
    """Even with a budget of 0 seconds, the loop whose iterations create parameters runs in full, and so does the
    loop over the model's blocks inside forward: the model is the program's."""
    path, report, oracle = corpus_runs["builds_in_a_loop.py"]
    source = path.read_text(encoding="utf-8")
    assert report.execution.loops_cut == []
    assert comparable_modules(report.modules) == oracle.modules
    assert next(m for m in report.modules if m.name == "model").param_count == oracle.module("model")["param_count"]
    assert line_of(source, "for _ in range(depth):")  # the loop exists


def test_a_script_that_only_imports_timm_is_run(corpus_runs):
    """Whether a file uses torch is decided from its imports: timm uses torch, so the file runs (here timm is not
    installed, so the import is PL903 information and nothing after it is called an error)."""
    path, report, _ = corpus_runs["uses_timm.py"]
    assert report.execution.status != "skipped"
    source = path.read_text(encoding="utf-8")
    assert [d.code for d in report.diagnostics] in (["PL903"], [])
    if report.diagnostics:
        assert report.diagnostics[0].span.line == line_of(source, "import timm") and \
            report.diagnostics[0].severity == "information"


@pytest.mark.parametrize("source,runs", [
    ("import timm\nmodel = timm.create_model('resnet18')\n", True),
    ("import os\nimport json\nprint(json.dumps(os.sep))\n", False),
    ("import numpy as np\nprint(np.zeros(3))\n", False),
    ("from torch import nn\n", True),
    ("def f():\n    import torch.nn as nn\n    return nn.Linear(2, 2)\n", True),
    ("import importlib\nnn = importlib.import_module('torch.nn')\n", True),
    ("print('no imports')\n", False),
], ids=["timm", "stdlib", "numpy", "from-torch", "import-in-def", "dynamic", "nothing"])
def test_uses_torch_is_decided_from_imports(tmp_path, source, runs):
    import libcst as cst

    from paramlens.analyzers.imports import uses_torch

    assert uses_torch(cst.parse_module(source), str(tmp_path / "script.py")) is runs


def test_a_local_module_that_imports_torch_makes_the_file_run(tmp_path):
    import libcst as cst

    from paramlens.analyzers.imports import uses_torch

    (tmp_path / "model.py").write_text("import torch\n")
    (tmp_path / "helpers.py").write_text("import json\n")
    assert uses_torch(cst.parse_module("from model import Net\n"), str(tmp_path / "train.py"))
    assert not uses_torch(cst.parse_module("import helpers\n"), str(tmp_path / "train.py"))


RELATIVE_PATHS = '''import json
import torch
from torch import nn

with open("config.json") as handle:
    hidden = json.load(handle)["hidden"]
layers = int(open("data/layers.txt").read())
net = nn.Sequential(*[nn.Linear(hidden, hidden) for _ in range(layers)])
torch.save(net.state_dict(), "net.pt")
restored = torch.load("net.pt")
try:
    with open("config.json", "w") as handle:
        handle.write("{}")
except PermissionError as error:
    print("could not overwrite config.json")
'''


def _project(root: Path) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "config.json").write_text('{"hidden": 6}')
    (root / "data" / "layers.txt").write_text("3")
    (root / "train.py").write_text(RELATIVE_PATHS)
    return root / "train.py"


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_relative_paths_resolve_in_the_files_directory(tmp_path):
    """`python train.py` run from its directory reads `config.json` and `data/...` by relative paths (nanoGPT's
    `exec(open('configurator.py').read())`): the run sees the project's files, writes what it creates in the
    private directory, and a write into a project file is refused (PL902 at its line) without changing it."""
    from paramlens.analysis import AnalysisOptions, analyze

    path = _project(tmp_path / "project")
    before = _snapshot(path.parent)
    report = analyze(RELATIVE_PATHS, str(path), AnalysisOptions())
    assert _snapshot(path.parent) == before  # nothing in the project changed, nothing was added

    copy = _project(tmp_path / "copy")  # torch runs in a copy, as `python train.py` from its directory
    truth = run_oracle(RELATIVE_PATHS, str(copy), cwd=str(copy.parent))
    assert comparable_modules(report.modules) == truth.modules
    errors = [d for d in report.diagnostics if d.severity == "error"]
    assert not errors, errors
    write = line_of(RELATIVE_PATHS, 'with open("config.json", "w")')
    [refusal] = [d for d in report.diagnostics if d.code == "PL902"]
    assert refusal.span.line == write and refusal.severity == "information"
    assert "config.json" in refusal.message


def test_the_corpus_covers_every_bullet():
    names = {p.name for p in CORPUS}
    assert {"prune_and_fold.py", "shared_backward.py", "ema_training.py", "vmap_ensemble.py",
            "sequential_subclass.py", "while_true_training.py", "train_main.py", "builds_in_a_loop.py",
            "uses_timm.py"} <= names
    for path in CORPUS:
        ast.parse(path.read_text(encoding="utf-8"))  # every corpus file is valid Python


def test_importing_a_local_module_is_not_a_refused_write(tmp_path):
    """Importing `helpers.py` from the file's directory makes Python try to write `__pycache__` there (read-only in
    the sandbox): that is the import system's cache, not the program's write, and no PL902 is reported."""
    from paramlens.analysis import AnalysisOptions, analyze

    (tmp_path / "helpers.py").write_text("import torch\n\ndef width():\n    return 4\n")
    source = "import torch\nfrom torch import nn\nfrom helpers import width\n\nnet = nn.Linear(width(), 2)\n"
    (tmp_path / "model.py").write_text(source)
    report = analyze(source, str(tmp_path / "model.py"), AnalysisOptions())
    assert [d.code for d in report.diagnostics] == []
    assert not (tmp_path / "__pycache__").exists()


def _python_and_paramlens(tmp_path: Path, name: str, source: str, **environment: str) -> tuple[str, list[str]]:
    """The file run by Python itself (the truth: what it printed), and what each of its top-level `print(...)`s
    printed under ParamLens, in file order; the ParamLens run must have completed."""
    import os
    import subprocess
    import sys

    # each in a directory of its own: files the program creates next to itself under Python would be project files
    # under ParamLens (which refuses to write into those)
    copies = []
    for where in ("python", "paramlens"):
        (tmp_path / where).mkdir()
        copies.append(tmp_path / where / name)
        copies[-1].write_text(source, encoding="utf-8")
    truth = subprocess.run([sys.executable, str(copies[0])], capture_output=True, text=True, check=True,
                           cwd=copies[0].parent, timeout=120, encoding="utf-8",
                           env={**os.environ, **environment}).stdout
    report = _analyze(copies[1])
    assert report.execution.status == "ok"
    assert not [d for d in report.diagnostics if d.code in {"PL900", "PL903"}]
    return truth, [explanation.facts["output"] for explanation in
                   sorted(find_explanations(report, "print_output"), key=lambda e: e.span.line)]


ANNOTATED = '''\
import dataclasses
import typing

import torch
from torch import nn


def scale(x: torch.Tensor, factor: float = 2.0) -> torch.Tensor:
    return x * factor


@dataclasses.dataclass
class Config:
    width: int = 8
    names: typing.List[str] = dataclasses.field(default_factory=list)


print(scale.__annotations__)
print([field.type for field in dataclasses.fields(Config)])
net = nn.Linear(4, Config().width)
print(typing.get_type_hints(scale)["return"] is torch.Tensor)
'''


@pytest.mark.parametrize("future", [False, True], ids=["plain", "future-annotations"])
def test_annotations_are_what_python_makes_of_them(tmp_path, future):
    """Each statement is compiled on its own: it must get exactly the compiler flags `python file.py` gives it.
    The sandbox's own modules are written with `from __future__ import annotations`, and `compile` inherits the
    caller's future flags unless told not to: a file without that import once had its annotations turned into
    strings (`{'x': 'torch.Tensor'}`); a file with it must have them as strings in every statement, not only in the
    statement holding the import. The truth is the file run by Python itself."""
    source = ("from __future__ import annotations\n" if future else "") + ANNOTATED
    truth, printed = _python_and_paramlens(tmp_path, "annotated.py", source)
    assert printed == truth.splitlines(keepends=True)
    truth = truth.splitlines()
    assert ("<class 'torch.Tensor'>" in truth[0]) != future  # the two cases do differ


LINE_NUMBERS = '''\
import inspect
import sys
import traceback
import warnings

import torch
from torch import nn

''' + "".join(f"width_{k} = {k}\n" for k in range(60)) + '''

def fails():
    raise ValueError("deep")


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, width_2)


square = lambda v: v * v


def traced(function):
    return function


@traced
@torch.no_grad()
def decorated(x):
    return x


print(decorated.__code__.co_firstlineno, decorated.__wrapped__.__code__.co_firstlineno if hasattr(decorated,
      "__wrapped__") else None)


def failure_lines():
    try:
        fails()
    except ValueError as error:
        return [frame.lineno for frame in traceback.extract_tb(error.__traceback__)]


def warning_lines():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("here")
    return [warning.lineno for warning in caught]


shown = []
warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: \
    shown.append(lineno) if str(message) == "careful" else None


def noisy():
    warnings.warn("careful")


net = Block()
print(failure_lines())
print(fails.__code__.co_firstlineno, Block.__init__.__code__.co_firstlineno, square.__code__.co_firstlineno)
print(inspect.getsourcelines(Block)[1], inspect.getsource(fails).splitlines()[0])
print(warning_lines())
print(sys._getframe().f_lineno, [sys._getframe().f_lineno for _ in range(1)], (lambda: sys._getframe().f_lineno)())
noisy()
print(width_3 is 3)
noisy()
print(shown)
'''


def test_line_numbers_the_program_sees_are_the_files(tmp_path):
    """Each statement is compiled alone and placed at its line in the file: tracebacks, warnings, the first lines of
    functions, classes, lambdas and comprehensions, and `f_lineno` are those of `python file.py` (the truth: the
    file run by Python itself). One statement warns while it is compiled (`is` with a literal): it is compiled in
    place, so the warning names the file's line. A warning the program shows once per place is shown once (a
    compile that changed the warning filters made Python forget which it had shown)."""
    truth, printed = _python_and_paramlens(tmp_path, "lines.py", LINE_NUMBERS)
    assert printed == truth.splitlines(keepends=True)
    truth = truth.splitlines()
    assert int(truth[0].split()[0]) > 60  # the statements are far down the file


MAIN_NAMESPACE = '''\
"""A training script.

It trains a layer."""
import torch
from torch import nn

print(repr(__doc__))
print(type(__builtins__).__name__, hasattr(__builtins__, "print"), getattr(__builtins__, "profile", None))
print(__name__, __package__, __spec__, __cached__, __annotations__)
net = nn.Linear(2, 2)
rate: float = 0.1
print(__annotations__)
'''


def test_a_scripts_main_namespace_is_pythons(tmp_path):
    """`python file.py` runs the file as `__main__` with the builtins module as `__builtins__` (an imported
    module gets its dictionary), `__cached__` None and an `__annotations__` dictionary from the start; the sandbox
    gave the worker's dictionary (`hasattr(__builtins__, "print")` was False). The truth is the file run by Python."""
    truth, printed = _python_and_paramlens(tmp_path, "main_namespace.py", MAIN_NAMESPACE)
    assert printed == truth.splitlines(keepends=True)

STDOUT_USES = '''\
import sys

import torch

sys.stdout.reconfigure(encoding="utf-8")


def shout():
    sys.stdout.flush()
    encoded = "权重 weight: ".encode("utf-8")
    sys.stdout.buffer.write(encoded[:1])  # a character split between two writes
    sys.stdout.buffer.write(encoded[1:])
    sys.stdout.flush()
    return torch.ones(2).sum().item()


print(sys.stdout.encoding, sys.stdout.name, sys.stdout.isatty(), sys.stdout.writable())
print(shout())
print(sys.stdout.write("参数\\n"))
'''


def test_what_scripts_ask_of_sys_stdout_is_answered_as_python_does(tmp_path):
    """Scripts call `sys.stdout.reconfigure(encoding="utf-8")` to print Chinese, write bytes to `sys.stdout.buffer`,
    read `sys.stdout.encoding`: the stand-in that captures a statement's output raised AttributeError for the first
    two (the statement looked as if it had failed). The truth is the file run by Python with the sandbox's
    PYTHONIOENCODING, its output a pipe."""
    truth, printed = _python_and_paramlens(tmp_path, "stdout_uses.py", STDOUT_USES, PYTHONIOENCODING="utf-8")
    assert "".join(printed) == truth


STDOUT_REDIRECTS = '''\
import sys

import torch
from torch import nn


class Tee:
    """What training scripts do to keep a log: every print goes to the terminal and to the log."""

    def __init__(self, stream, path):
        self.stream, self.log = stream, open(path, "w")

    def write(self, text):
        self.log.write(text)
        return self.stream.write(text.upper())

    def flush(self):
        self.stream.flush()
        self.log.flush()


print("before")
sys.stdout = Tee(sys.stdout, "train.log")
net = nn.Linear(2, 3)
print("after the tee", net.weight.shape)
sys.stdout = sys.__stdout__
print("the terminal again")
sys.stdout = open("quiet.log", "w")
print("into a file only")
sys.stdout.close()
sys.stdout = sys.__stdout__
print(open("quiet.log").read().strip(), torch.ones(1).item())
'''


def test_a_redirected_sys_stdout_stays_redirected(tmp_path):
    """A statement that replaces `sys.stdout` (a tee that logs, a file) does so for the rest of the program, and
    setting it back to `sys.__stdout__` brings the terminal back: the runner restored its capture after every
    statement, so prints after a tee lost it. The truth is the file run by Python."""
    truth, printed = _python_and_paramlens(tmp_path, "redirects.py", STDOUT_REDIRECTS)
    assert "".join(printed) == truth
    assert "AFTER THE TEE" in truth and "into a file only" in truth  # the cases happened

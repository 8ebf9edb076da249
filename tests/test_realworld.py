"""Real-world-shaped model files (tests/models/): classes built in __init__, init methods and loops, tying by
assignment, buffers, lazy layers, a save/load round trip, optimizer groups, and a library file with no driver.
Every module's parameters, counts, ties, buffers and state_dict keys must equal what torch reports for the same
file, and every parameter-management site must be explained with observed values."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from oracle import run_oracle
from paramlens.analysis import AnalysisOptions, analyze

MODELS = Path(__file__).resolve().parent / "models"

DESCRIBE = (
    "(lambda m: {"
    "'class': type(m).__name__, "
    "'parameters': [[n, list(p.shape)] for n, p in m.named_parameters()], "
    "'param_count': sum(p.numel() for p in m.parameters()), "
    "'param_count_with_duplicates': sum(p.numel() for _, p in m.named_parameters(remove_duplicate=False)), "
    "'tied': [g for g in __import__('functools').reduce("
    "lambda acc, item: (acc.setdefault(id(item[1]), []).append(item[0]), acc)[1], "
    "m.named_parameters(remove_duplicate=False), {}).values() if len(g) > 1], "
    "'buffers': [[n, list(b.shape)] for n, b in m.named_buffers()], "
    "'state_dict_keys': list(m.state_dict())})(MODULE)"
)



def describe(expression: str) -> str:
    return DESCRIBE.replace("MODULE", expression)


# file -> the expressions whose modules the report must describe (the library file: the example ParamLens builds)
CASES = {
    "gpt_tied.py": {"model": "model"},
    "resnet_init_loop.py": {"net": "net"},
    "rnn_lm.py": {"lm": "lm"},
    "lazy_checkpoint.py": {"model": "model", "copy": "copy"},
    "library_gpt.py": {"GPT(GPTConfig())": "GPT(GPTConfig())"},
    "library_factory.py": {"resnet_tiny()": "resnet_tiny()"},
}


BIAS_TALLY = ("dict(__import__('collections').Counter(repr(m.bias is not None) for m in model.modules() "
              "if isinstance(m, __import__('torch').nn.Linear)))")

# more values some tests compare with
EXTRA = {
    "gpt_tied.py": ["model.config.n_layer", "[n for n, _ in model.named_modules()]", BIAS_TALLY],
    "lazy_checkpoint.py": ["len(restored)", "'mask' in model.state_dict()",
                           "sum(p.numel() for p in model.body.parameters())",
                           "[sum(p.numel() for p in g['params']) for g in optimizer.param_groups]"],
}


@pytest.fixture(scope="module")
def results():
    out = {}
    for name, modules in CASES.items():
        path = MODELS / name
        source = path.read_text()
        report = analyze(source, str(path), AnalysisOptions())
        oracle = run_oracle(source, str(path),
                            at_end=[describe(expr) for expr in modules.values()] + EXTRA.get(name, []))
        out[name] = (source, report, oracle)
    return out


@pytest.mark.parametrize("name", CASES)
def test_modules_match_torch(results, name):
    source, report, oracle = results[name]
    reported = {m.name: m for m in report.modules}
    assert set(reported) == set(CASES[name])
    for label, expression in CASES[name].items():
        truth = oracle.value_at_end(describe(expression))
        module = reported[label]
        assert module.class_name == truth["class"]
        assert [[p.name, p.shape] for p in module.parameters] == truth["parameters"]
        assert module.param_count == truth["param_count"]
        assert module.param_count_with_duplicates == truth["param_count_with_duplicates"]
        assert sorted(map(sorted, module.tied)) == sorted(map(sorted, truth["tied"]))
        assert [[b.name, b.shape] for b in module.buffers] == truth["buffers"]
        assert module.state_dict_keys == truth["state_dict_keys"]
        assert module.origin == ("example" if name.startswith("library_") else "top-level")


SITES = {"init", "apply", "named_parameters", "modules", "tie_assignment", "register", "freeze", "load_state_dict",
         "torch_load", "optimizer", "forward", "parameter_new", "tensor_attribute"}


# sites in a branch the file's defaults never take (a flag that is off): explained as such, not as never called
UNTAKEN = {"library_factory.py": ["if zero_init_residual:", "if weights is not None:"]}


def untaken_lines(name: str, source: str) -> set[int]:
    lines = source.splitlines()
    untaken: set[int] = set()
    for header in UNTAKEN.get(name, []):
        start = next(i for i, text in enumerate(lines, 1) if header in text)
        indent = len(lines[start - 1]) - len(lines[start - 1].lstrip())
        end = next((i for i, text in enumerate(lines[start:], start + 1)
                    if text.strip() and len(text) - len(text.lstrip()) <= indent), len(lines) + 1)
        untaken.update(range(start + 1, end))
    return untaken


@pytest.mark.parametrize("name", CASES)
def test_every_site_is_explained_with_observed_values(results, name):
    source, report, _ = results[name]
    explained = [e for e in report.explanations if e.pattern in SITES]
    assert explained
    untaken = untaken_lines(name, source)
    for explanation in explained:
        if explanation.span.line in untaken:
            assert "ran, but never reached this line" in explanation.markdown, explanation.markdown
            continue
        assert explanation.facts, (explanation.pattern, explanation.span)
        assert "_Nothing was observed" not in explanation.markdown
        assert "was never called" not in explanation.markdown, (explanation.pattern, explanation.span)


def test_gpt_scaled_init_uses_the_configured_std(results):
    source, report, oracle = results["gpt_tied.py"]
    layers = oracle.value_at_end("model.config.n_layer")
    scaled = next(e for e in report.explanations if e.pattern == "init" and "math.sqrt" in e.markdown)
    calls = scaled.facts["calls"]
    assert len(calls) == layers
    assert all(call["args"]["std"] == pytest.approx(0.02 / math.sqrt(2 * layers)) for call in calls)
    assert [c["owner"][0] for c in calls] == [f"self.blocks.{i}.mlp.2.weight" for i in range(layers)]
    apply = next(e for e in report.explanations if e.pattern == "apply")
    order = oracle.value_at_end("[n for n, _ in model.named_modules()]")
    # apply visits children first: the root comes last, the first leaf first
    assert apply.facts["visits"][-1]["module"] == "self" and apply.facts["visits"][0]["module"] == f"self.{order[1]}"


def test_tie_by_assignment_names_both(results):
    _, report, _ = results["gpt_tied.py"]
    tie = next(e for e in report.explanations if e.pattern == "tie_assignment")
    assert {"self.wte.weight", "self.lm_head.weight"} <= set(tie.facts["owner"])
    assert "safetensors" in tie.markdown


def test_resnet_kaiming_std_from_fan_out(results):
    _, report, oracle = results["resnet_init_loop.py"]
    kaiming = next(e for e in report.explanations if e.pattern == "init" and e.facts["init"] == "kaiming_normal_")
    first = kaiming.facts["calls"][0]
    weight = torch.empty(first["shape"])
    _, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(weight)
    assert first["std"] == pytest.approx(torch.nn.init.calculate_gain("relu") / math.sqrt(fan_out))
    assert first["owner"] == ["self.stem.0.weight"]


def test_lazy_and_checkpoint_round_trip(results):
    _, report, oracle = results["lazy_checkpoint.py"]
    forward = next(e for e in report.explanations if e.pattern == "forward")
    assert "initialised the lazy parameters" in forward.markdown
    loaded = next(e for e in report.explanations if e.pattern == "load_state_dict")
    assert loaded.facts["missing"] == [] and loaded.facts["unexpected"] == []
    assert loaded.facts["loaded"] == oracle.value_at_end("len(restored)")
    registered = [e for e in report.explanations if e.pattern == "register"]
    assert [e.facts["persistent"][0] for e in registered] == [True, False]
    assert oracle.value_at_end("'mask' in model.state_dict()") is False
    frozen = next(e for e in report.explanations if e.pattern == "freeze")
    assert frozen.facts["total"] == oracle.value_at_end("sum(p.numel() for p in model.body.parameters())")
    assert frozen.facts["trainable"] == 0
    optimizer = next(e for e in report.explanations if e.pattern == "optimizer")
    assert [g["numel"] for g in optimizer.facts["groups"]] == \
        oracle.value_at_end("[sum(p.numel() for p in g['params']) for g in optimizer.param_groups]")


def test_library_file_gets_shapes_without_user_action(results):
    _, report, _ = results["library_gpt.py"]
    explanation = next(e for e in report.explanations if e.pattern == "module_class" and e.facts["name"] == "GPT")
    assert explanation.facts["example"]["expression"] == "GPT(GPTConfig())"
    assert "the file never creates one" in explanation.markdown


def test_directive_chooses_the_example(tmp_path):
    path = tmp_path / "lib.py"
    path.write_text((MODELS / "library_gpt.py").read_text() + "\n# paramlens: example GPT(GPTConfig(n_layer=1))\n")
    report = analyze(path.read_text(), str(path), AnalysisOptions())
    assert [m.name for m in report.modules] == ["GPT(GPTConfig(n_layer=1))"]
    import sys
    import types

    module = types.ModuleType("paramlens_test_library")  # @dataclass looks its module up in sys.modules
    sys.modules[module.__name__] = module
    namespace = module.__dict__
    exec(compile((MODELS / "library_gpt.py").read_text(), "lib", "exec"), namespace)
    truth = namespace["GPT"](namespace["GPTConfig"](n_layer=1))
    assert report.modules[0].param_count == sum(p.numel() for p in truth.parameters())


META_APPLY = """import torch
from torch import nn

net = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.ReLU(), nn.Linear(8, 2))


def init(m):
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, std=0.02)
        m.bias.data.zero_()


net.apply(init)
"""


def test_apply_on_the_meta_device_names_only_the_modules_it_wrote(tmp_path):
    """On the meta device there are no values to compare; the modules `apply` changed are still the ones torch
    changes on the CPU (the in-place init bumps the parameter's version), never every module visited."""
    path = tmp_path / "meta_apply.py"
    path.write_text(META_APPLY)
    report = analyze(META_APPLY, str(path), AnalysisOptions(device="meta"))
    assert report.execution.device == "meta"
    apply = next(e for e in report.explanations if e.pattern == "apply")
    changed = [v["module"] for v in apply.facts["visits"] if v["changed"]]
    namespace: dict = {}
    exec(compile(META_APPLY.replace("net.apply(init)", ""), str(path), "exec"), namespace)
    net = namespace["net"]
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    net.apply(namespace["init"])
    truth = sorted({n.rsplit(".", 1)[0] for n, p in net.named_parameters() if not torch.equal(before[n], p)})
    assert changed == [f"net.{name}" for name in truth]
    assert not [d for d in report.diagnostics if d.severity in ("error", "warning")]


def test_owners_inside_apply_are_full_names_of_the_model(results):
    """`nn.init` inside `_init_weights`, reached through `self.apply` (torch recursing with `self` bound to every
    submodule): each tensor is named from the model being built, exactly as `named_parameters()` names it."""
    source, report, oracle = results["gpt_tied.py"]
    names = {f"self.{name}" for name, _ in oracle.value_at_end(describe("model"))["parameters"]}
    function_lines = range(source.splitlines().index("    def _init_weights(self, module):") + 1,
                           source.splitlines().index("    def forward(self, idx):") + 1)
    inits = [e for e in report.explanations if e.pattern == "init" and e.span.line in function_lines]
    owners = [owner for e in inits for call in e.facts["calls"] for owner in call["owner"]]
    assert owners and set(owners) <= names | {"self.lm_head.weight"}, sorted(set(owners) - names)
    assert any(owner.startswith("self.blocks.0.mlp.") for owner in owners)


BUFFER_NAMED_BIAS = """import torch
from torch import nn


class Attn(nn.Module):
    def __init__(self, n=4):
        super().__init__()
        self.proj = nn.Linear(n, n)
        self.register_buffer("bias", torch.tril(torch.ones(n, n)))

    def forward(self, x):
        return self.proj(x).masked_fill(self.bias == 0, 0.0)


attn = Attn()
y = attn(torch.rand(4, 4))
print(attn.proj.bias.shape)
"""


def test_a_buffer_named_bias_is_called_a_buffer(tmp_path):
    """nanoGPT's causal mask is a buffer called `bias`: reading `self.bias` must not be explained as a parameter."""
    path = tmp_path / "mask.py"
    path.write_text(BUFFER_NAMED_BIAS)
    report = analyze(BUFFER_NAMED_BIAS, str(path), AnalysisOptions(locale="en"))
    namespace: dict = {}
    exec(compile(BUFFER_NAMED_BIAS, str(path), "exec"), namespace)
    buffers = {f"attn.{name}" for name, _ in namespace["attn"].named_buffers()}
    parameters = {f"attn.{name}" for name, _ in namespace["attn"].named_parameters()}
    accessed = {e.facts["owner"][0]: e for e in report.explanations if e.pattern == "param_attr" and e.facts.get("owner")}
    assert set(accessed) == {"attn.bias", "attn.proj.bias"}
    for owner, explanation in accessed.items():
        assert explanation.facts["buffer"] == (owner in buffers) and explanation.facts["parameter"] == (owner in parameters)
    assert "A buffer" in accessed["attn.bias"].markdown


def test_a_condition_in_an_init_method_is_tallied_over_every_evaluation(results):
    """`if module.bias is not None:` runs once per Linear that `apply` visits; the explanation counts every result
    (the tied head has no bias: one False). Past the record limit: test_generalises' deep case."""
    source, report, oracle = results["gpt_tied.py"]
    line = next(i for i, text in enumerate(source.splitlines(), 1) if "if module.bias is not None:" in text)
    [compare] = [e for e in report.explanations if e.pattern == "param_compare" and e.span.line == line]
    assert compare.facts["tally"] == oracle.value_at_end(BIAS_TALLY)


def test_init_of_a_tied_tensor_says_both_names_are_one_tensor(results):
    """gpt_tied's `_init_weights` initialises the embedding and, through the tie, the output head: the same tensor
    under two names, as torch's `named_parameters(remove_duplicate=False)` shows."""
    _, report, oracle = results["gpt_tied.py"]
    [tied] = oracle.value_at_end(describe("model"))["tied"]
    inits = [e for e in report.explanations if e.pattern == "init" and "**one tensor**" in e.markdown]
    assert inits
    for explanation in inits:
        assert all(f"`self.{name}`" in explanation.markdown for name in tied)

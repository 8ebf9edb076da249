"""Every sentence true (issue 12): observations follow objects, and claims are checked against the run.

Each test reproduces a sentence ParamLens used to get wrong on real code, with torch (the oracle) as the judge of
every number: what `apply` changed when the init function writes a child's tensors, names after a layer is replaced
or a model is moved with `to_empty()`, the element that changed in a large tensor.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import comparable_modules, find_explanations, line_of
from paramlens.explain.fmt import num
from oracle import run_oracle


def analyze_file(tmp_path: Path, name: str, source: str, locale: str = "en"):
    from paramlens.analysis import AnalysisOptions, analyze

    path = tmp_path / name
    path.write_text(source, encoding="utf-8")
    return analyze(source, str(path), AnalysisOptions(locale=locale)), path


CHILD_INIT = '''import torch
from torch import nn


class Attention(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = Attention(8)
        self.out = nn.Linear(8, 2)
        self.norm = nn.BatchNorm1d(8)
        self.apply(self._init_weights)

    def _init_weights(self, module):
        """As transformers' models do: the parent's visit initialises its children's tensors."""
        if isinstance(module, Attention):
            module.q.weight.data.normal_(mean=0.0, std=0.02)
            module.k.weight.data.normal_(mean=0.0, std=0.02)
            module.q.bias.data.zero_()
        elif isinstance(module, nn.BatchNorm1d):
            module.running_var.fill_(2.0)


model = Model()
'''


def test_apply_counts_writes_to_a_childs_tensors(tmp_path):
    report, path = analyze_file(tmp_path, "child_init.py", CHILD_INIT)
    [apply] = find_explanations(report, "apply")
    visits = {v["module"]: v for v in apply.facts["visits"]}
    assert sorted(visits["self.attn"]["changed"]) == ["k.weight", "q.bias", "q.weight"]
    assert visits["self.norm"]["changed"] == ["running_var"]
    assert visits["self.attn.q"]["changed"] == [] and visits["self.out"]["changed"] == []
    assert not [d for d in report.diagnostics if d.code == "PL107"]
    truth = run_oracle(CHILD_INIT, str(path), at_end=["model.attn.q.weight.std().item()",
                                                      "model.attn.k.weight.max().item()",
                                                      "model.norm.running_var.tolist()"])
    after = visits["self.attn"]["after"]
    assert after["q.weight"]["std"] == pytest.approx(truth.value_at_end("model.attn.q.weight.std().item()"), rel=1e-6)
    assert after["k.weight"]["max"] == pytest.approx(truth.value_at_end("model.attn.k.weight.max().item()"), rel=1e-6)
    assert visits["self.norm"]["after"]["running_var"]["min"] == min(truth.value_at_end("model.norm.running_var.tolist()"))
    assert "2 of those calls changed" in apply.markdown


STALE = '''import torch
from torch import nn

model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
model[0] = nn.Linear(4, 8)
nn.init.trunc_normal_(model[0].weight, std=0.02)
with torch.device("meta"):
    net = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
net.to_empty(device="cpu")
nn.init.trunc_normal_(net[0].weight, std=0.02)
nn.init.ones_(net[1].weight)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.w1 = nn.Linear(3, 3)
        self.w2 = nn.Linear(3, 3)


def swap(block):
    block.w1 = nn.Linear(3, 3)
    nn.init.zeros_(block.w1.weight)


b = Block()
swap(b)
nn.init.ones_(b.w2.weight)
'''


@pytest.mark.parametrize("call,owner_expression", [
    ("nn.init.trunc_normal_(model[0].weight", "model[0].weight"),
    ("nn.init.trunc_normal_(net[0].weight", "net[0].weight"),
    ("nn.init.ones_(net[1].weight)", "net[1].weight"),
    ("nn.init.zeros_(block.w1.weight)", "b.w1.weight"),
    ("nn.init.ones_(b.w2.weight)", "b.w2.weight"),
])
def test_names_follow_the_object_after_it_is_replaced(tmp_path, call, owner_expression):
    """A layer replaced by item assignment, a model materialised with `to_empty()`, a layer swapped inside a
    function: the tensor is named by where it is when the init runs (the oracle finds every name of that very
    tensor object at the end)."""
    report, path = analyze_file(tmp_path, "stale.py", STALE)
    line = line_of(STALE, call)
    [init] = find_explanations(report, "init", line)
    truth = run_oracle(STALE, str(path), at_end=[f"owners({owner_expression})"])
    assert init.facts["calls"][0]["owner"] == truth.value_at_end(f"owners({owner_expression})")


LARGE_EDIT = '''import torch
from torch import nn

layer = nn.Linear(10, 32)
layer.weight.data[1, 2] = 7.0
layer.weight.data[:, 0] = 0
'''


def test_element_edit_on_a_large_tensor_lists_the_element(tmp_path):
    report, path = analyze_file(tmp_path, "large_edit.py", LARGE_EDIT)
    line = line_of(LARGE_EDIT, "layer.weight.data[1, 2] = 7.0")
    truth = run_oracle(LARGE_EDIT, str(path), before={line: ["layer.weight[1, 2].item()"]},
                       capture={line: ["layer.weight[1, 2].item()"]})
    [edit] = find_explanations(report, "data_mutation", line)
    [change] = edit.facts["calls"][0]["changes"]
    assert change["index"] == [1, 2]
    assert change["before"] == truth.value_before(line, "layer.weight[1, 2].item()")
    assert change["after"] == truth.value(line, "layer.weight[1, 2].item()")
    assert "`[1, 2]`" in edit.markdown and "→ 7" in edit.markdown
    column = line_of(LARGE_EDIT, "layer.weight.data[:, 0] = 0")
    [column_edit] = find_explanations(report, "data_mutation", column)
    assert column_edit.facts["calls"][0]["changed"] == 32 and [c["index"] for c in
                                                                column_edit.facts["calls"][0]["changes"][:2]] == [[0, 0], [1, 0]]


SYMMETRY_CASES = '''import math

import torch
from torch import nn

X = torch.rand(16, 4)

# the seed's mistake: every layer constant, biases zero: units interchangeable
seed_like = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
for layer in (seed_like[0], seed_like[2]):
    nn.init.constant_(layer.weight, 1.0)
    nn.init.zeros_(layer.bias)

# constant first layer, but the next layer keeps its random weights: training separates the units
random_next = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
nn.init.constant_(random_next[0].weight, 0.5)
nn.init.zeros_(random_next[0].bias)

# equal rows, different biases
random_bias = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
nn.init.ones_(random_bias[0].weight)
nn.init.ones_(random_bias[2].weight)


class LoRALinear(nn.Module):
    """LoRA as in peft: B starts at zero so the adapted layer starts equal to the base layer."""

    def __init__(self, base, r=4):
        super().__init__()
        self.base = base
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features))
        self.lora_B = nn.Parameter(torch.empty(base.out_features, r))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B)

    def forward(self, x):
        return self.base(x) + x @ self.lora_A.T @ self.lora_B.T


lora = LoRALinear(nn.Linear(4, 8))
'''


def _trains_and_stays_symmetric(source: str, path: Path, model: str, layer: int) -> bool:
    """Torch's answer: after 5 SGD steps on a random regression target, are the layer's rows still identical?"""
    training = source + f'''
optimizer = torch.optim.SGD({model}.parameters(), lr=0.1)
target = torch.randn(16, 1)
for _ in range(5):
    optimizer.zero_grad()
    nn.functional.mse_loss({model}(X), target).backward()
    optimizer.step()
'''
    truth = run_oracle(training, str(path), at_end=[f"bool(({model}[{layer}].weight == {model}[{layer}].weight[:1]).all())"])
    return truth.value_at_end(f"bool(({model}[{layer}].weight == {model}[{layer}].weight[:1]).all())")


def test_pl101_only_where_units_stay_identical(tmp_path):
    """PL101 (units identical forever) appears exactly where torch, training the model, keeps the rows identical;
    a zero-initialised LoRA B, a constant layer followed by a random one, and equal rows with different biases are
    not called symmetric."""
    report, path = analyze_file(tmp_path, "symmetry.py", SYMMETRY_CASES)
    flagged = {d.span.line for d in report.diagnostics if d.code == "PL101"}
    seed_line = line_of(SYMMETRY_CASES, "nn.init.constant_(layer.weight, 1.0)")
    assert flagged == {seed_line}
    assert _trains_and_stays_symmetric(SYMMETRY_CASES, path, "seed_like", 0)
    assert not _trains_and_stays_symmetric(SYMMETRY_CASES, path, "random_next", 0)
    assert not _trains_and_stays_symmetric(SYMMETRY_CASES, path, "random_bias", 0)
    for call, words in [("nn.init.constant_(random_next[0].weight, 0.5)", "training separates them"),
                        ("nn.init.ones_(random_bias[0].weight)", "biases differ")]:
        [init] = find_explanations(report, "init", line_of(SYMMETRY_CASES, call))
        assert words in init.markdown and "interchangeable." not in init.markdown
    [lora_b] = find_explanations(report, "init", line_of(SYMMETRY_CASES, "nn.init.zeros_(self.lora_B)"))
    assert "interchangeable" not in lora_b.markdown and "symmetry" not in lora_b.markdown
    [seed] = find_explanations(report, "init", seed_line)
    assert "are interchangeable" in seed.markdown and "class imbalance" in seed.markdown


def test_a_module_with_children_shows_its_own_parameters(tmp_path):
    report, path = analyze_file(tmp_path, "symmetry.py", SYMMETRY_CASES)
    [lora] = [e for e in find_explanations(report, "module", line_of(SYMMETRY_CASES, "lora = LoRALinear("))
              if e.facts["class"] == "LoRALinear"]
    truth = run_oracle(SYMMETRY_CASES, str(path), at_end=["[n for n, _ in lora.named_parameters(recurse=False)]"])
    own = truth.value_at_end("[n for n, _ in lora.named_parameters(recurse=False)]")
    assert own == ["lora_A", "lora_B"]
    for name in own:
        assert f"`{name}`" in lora.markdown


PL102_CASES = '''import torch
from torch import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2)
        self.fc = nn.Linear(8, 8)


def init_linear(m):
    if type(m) == nn.Linear:
        nn.init.zeros_(m.bias)


def init_conv(m):
    if type(m) == nn.Conv2d:
        nn.init.zeros_(m.bias)


block = Block()
block.apply(init_linear)
nn.Sequential(nn.Conv2d(3, 4, 3)).apply(init_conv)
'''


def test_pl102_names_only_the_subclasses_the_run_skipped(tmp_path):
    report, path = analyze_file(tmp_path, "pl102.py", PL102_CASES)
    by_line = {d.span.line: d for d in report.diagnostics if d.code == "PL102"}
    linear = by_line[line_of(PL102_CASES, "if type(m) == nn.Linear:")]
    conv = by_line[line_of(PL102_CASES, "if type(m) == nn.Conv2d:")]
    truth = run_oracle(PL102_CASES, str(path), at_end=[
        "[type(m).__name__ for m in block.modules() if isinstance(m, nn.Linear) and type(m) != nn.Linear]"])
    [skipped] = truth.value_at_end(
        "[type(m).__name__ for m in block.modules() if isinstance(m, nn.Linear) and type(m) != nn.Linear]")
    assert f"`block.attn.out_proj` (`{skipped}`)" in linear.message
    assert "NonDynamicallyQuantizableLinear" not in conv.message and "MultiheadAttention" not in conv.message


ALIASES = '''import torch
from torch import nn


class Affine(nn.Module):
    def __init__(self, n, bias=False):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        if bias:
            self.bias = nn.Parameter(torch.zeros(n))
        else:
            self.register_parameter("bias", None)


affine = Affine(3)
layer = nn.Linear(2, 2)
net = nn.Sequential(layer)
nn.init.normal_(layer.weight)
head = nn.Linear(2, 2)
tied = nn.Sequential(nn.Linear(2, 2), head)
tied[0].weight = head.weight
nn.init.normal_(head.weight)
empty = nn.Sequential()
'''


def test_register_parameter_none_registers_nothing(tmp_path):
    report, path = analyze_file(tmp_path, "aliases.py", ALIASES)
    [register] = find_explanations(report, "register", line_of(ALIASES, 'self.register_parameter("bias", None)'))
    truth = run_oracle(ALIASES, str(path), at_end=["[n for n, _ in affine.named_parameters()]",
                                                   "list(affine.state_dict())", "affine.bias is None"])
    assert truth.value_at_end("affine.bias is None") is True
    assert "bias" not in truth.value_at_end("list(affine.state_dict())")
    assert register.facts["registered_none"] == ["bias"]
    assert "no tensor" in register.markdown and "uninitialised" not in register.markdown
    assert "trained and saved" not in register.markdown


def test_one_layer_under_two_variables_is_not_called_tied(tmp_path):
    report, path = analyze_file(tmp_path, "aliases.py", ALIASES)
    [alias] = find_explanations(report, "init", line_of(ALIASES, "nn.init.normal_(layer.weight)"))
    [real_tie] = find_explanations(report, "init", line_of(ALIASES, "nn.init.normal_(head.weight)"))
    truth = run_oracle(ALIASES, str(path), at_end=["owners(layer.weight)", "owners(head.weight)"])
    assert alias.facts["calls"][0]["owner"] == truth.value_at_end("owners(layer.weight)")
    assert "one tensor" not in alias.markdown and "tied" not in alias.markdown
    assert set(real_tie.facts["calls"][0]["owner"]) == set(truth.value_at_end("owners(head.weight)"))
    assert "**one tensor**" in real_tie.markdown


def test_an_empty_container_is_not_said_to_transform_its_input(tmp_path):
    report, path = analyze_file(tmp_path, "aliases.py", ALIASES)
    [empty] = [e for e in find_explanations(report, "module", line_of(ALIASES, "empty = nn.Sequential()"))]
    assert "transforms its input" not in empty.markdown and "empty" in empty.markdown


STATE_DICT_VARIABLE = '''import torch
from torch import nn

net = nn.Sequential()
net.add_module("fc1", nn.Linear(4, 8))
net.add_module("fc2", nn.Linear(8, 2))
sd = net.state_dict()
print(sd["fc2.bias"].shape)
w = sd["fc2.bais"]
maybe = sd.get("fc1.wieght")
torch.save(sd, "ckpt.pt")
loaded = torch.load("ckpt.pt")
x = loaded["fc3.weight"]
'''


def test_pl003_through_a_variable(tmp_path):
    report, path = analyze_file(tmp_path, "sd.py", STATE_DICT_VARIABLE)
    truth = run_oracle(STATE_DICT_VARIABLE, str(path), at_end=["list(net.state_dict())"])
    keys = truth.value_at_end("list(net.state_dict())")
    by_line = {d.span.line: d for d in report.diagnostics if d.code == "PL003"}
    assert set(by_line) == {line_of(STATE_DICT_VARIABLE, 'w = sd["fc2.bais"]'),
                            line_of(STATE_DICT_VARIABLE, 'maybe = sd.get("fc1.wieght")'),
                            line_of(STATE_DICT_VARIABLE, 'x = loaded["fc3.weight"]')}
    typo = by_line[line_of(STATE_DICT_VARIABLE, 'w = sd["fc2.bais"]')]
    assert typo.severity == "error" and "`fc2.bias`" in typo.message and "fc2.bias" in keys
    assert by_line[line_of(STATE_DICT_VARIABLE, 'maybe = sd.get("fc1.wieght")')].severity == "warning"
    assert not [d for d in report.diagnostics if d.code == "PL900"]  # the KeyError is explained by PL003


PL105_INSIDE = '''import torch
from torch import nn

net = nn.Sequential(nn.Linear(4, 8, bias=False), nn.ReLU())


def init_layer(layer):
    if isinstance(layer, nn.Linear):
        nn.init.xavier_uniform_(layer.weight)
        nn.init.zeros_(layer.bias)
        print(layer.weight.shape)


net.apply(init_layer)
'''


def test_a_rule_broken_inside_an_init_function_is_reported_there(tmp_path):
    report, path = analyze_file(tmp_path, "pl105.py", PL105_INSIDE)
    [pl105] = [d for d in report.diagnostics if d.code == "PL105"]
    assert pl105.span.line == line_of(PL105_INSIDE, "nn.init.zeros_(layer.bias)")
    assert "if layer.bias is not None:" in pl105.message and "`net.0`" in pl105.message
    assert not [d for d in report.diagnostics if d.code == "PL900"]
    truth = run_oracle(PL105_INSIDE, str(path), at_end=["net[0].bias is None"])
    assert truth.value_at_end("net[0].bias is None") is True
    # the line after the one that raised was not reached because of the exception, not a branch not taken
    after = line_of(PL105_INSIDE, "print(layer.weight.shape)")
    [weight] = [e for e in find_explanations(report, "param_attr", after)]
    assert "raised AttributeError at line" in weight.markdown and "branch" not in weight.markdown


LAZY_MIXED = '''import torch
from torch import nn

net = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.Linear(8, 2))
out = net(torch.rand(3, 5))
'''


def test_lazy_shapes_list_only_the_lazy_parameters(tmp_path):
    report, path = analyze_file(tmp_path, "lazy.py", LAZY_MIXED)
    [forward] = find_explanations(report, "forward", line_of(LAZY_MIXED, "out = net("))
    truth = run_oracle(LAZY_MIXED, str(path), at_end=["list(net[0].weight.shape)"])
    assert f"`0.weight` [{', '.join(map(str, truth.value_at_end('list(net[0].weight.shape)')))}]" in forward.markdown
    assert "`2.weight`" not in forward.markdown


LAZY_SHARED = '''import torch
from torch import nn

shared = nn.LazyLinear(8)
net = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), shared, nn.ReLU(), shared, nn.ReLU(), nn.LazyLinear(1))
X = torch.rand(size=(2, 4))
net(X)
'''

UNINITIALISED = "sum(isinstance(p, nn.parameter.UninitializedParameter) for p in net.parameters())"
MATERIALISED = "sum(p.numel() for p in net.parameters() if not isinstance(p, nn.parameter.UninitializedParameter))"


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_lazy_parameters_are_not_counted_as_zero_values(tmp_path, locale):
    """d2l's shared-layer example builds the net from lazy layers: at construction torch has no shapes yet, so
    "0 parameters" and "shared tensors of 0 values" are false; the sentences say how many are still uninitialised."""
    report, path = analyze_file(tmp_path, "lazy_shared.py", LAZY_SHARED, locale)
    line = line_of(LAZY_SHARED, "net = nn.Sequential(")
    truth = run_oracle(LAZY_SHARED, str(path), capture={line: [UNINITIALISED, MATERIALISED]})
    uninitialised, materialised = truth.value(line, UNINITIALISED), truth.value(line, MATERIALISED)
    assert uninitialised > 0 and materialised == 0
    [module] = [e for e in find_explanations(report, "module", line) if e.span.column == 7]
    said = f"the {uninitialised} parameters of its lazy layers" if locale == "en" else f"{uninitialised} 个参数"
    assert said in module.markdown
    assert "0 parameters." not in module.markdown and "(0 values" not in module.markdown
    assert "0 个参数。" not in module.markdown
    [shared] = [d for d in report.diagnostics if d.code == "PL201"]
    assert "(0 values" not in shared.message and "0 个值" not in shared.message
    assert "2.weight" in shared.message


LAZY_REFUSAL = '''import torch
from torch import nn

net = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.Linear(8, 2))


def check():
    raise ValueError("Attempted to use an uninitialized parameter in a check of my own")


pair = (check(), net[2].weight)
total = torch.sum(net[0].weight)
net(torch.rand(2, 4))
'''


def test_pl108_is_decided_by_where_torch_raised_not_by_the_message(tmp_path):
    """PL108 for a statement that raised before its parameter was read comes from torch's refusal of an
    UninitializedParameter (its __torch_function__ on the traceback), never from the words of a message: a ValueError
    of the program's own with the same words is not a lazy-parameter read."""
    report, path = analyze_file(tmp_path, "lazy_refusal.py", LAZY_REFUSAL)
    truth = run_oracle(LAZY_REFUSAL, str(path))
    own, refused = line_of(LAZY_REFUSAL, "pair = ("), line_of(LAZY_REFUSAL, "total = torch.sum(")
    assert truth.statement(own)["error"] and truth.statement(refused)["error"]
    codes = {d.span.line: [] for d in report.diagnostics}
    for d in report.diagnostics:
        codes[d.span.line].append(d.code)
    assert "PL108" in codes.get(refused, [])
    assert "PL108" not in codes.get(own, [])


SAVES = '''import torch
from torch import nn

x = torch.arange(4)
y = torch.zeros(3)
net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
torch.save(x, "x-file")
torch.save([x, y], "x-files")
torch.save({"x": x, "y": y}, "mydict")
torch.save(net.state_dict(), "net.params")
torch.save(net, "net.pt")
x2 = torch.load("x-file")
sd = torch.load("net.params")
whole = torch.load("net.pt", weights_only=False)
'''


def test_torch_save_and_load_say_what_was_written_and_read(tmp_path):
    """`torch.save(x, 'x-file')` on a tensor used to get the fixed sentence about checkpointing a model's state dict;
    every save and load now says what the run wrote or read, checked against torch."""
    report, path = analyze_file(tmp_path, "saves.py", SAVES)
    truth = run_oracle(SAVES, str(path), at_end=[
        "list(x.shape)", "str(x.dtype)", "list(net.state_dict().keys())",
        "sum(p.numel() for p in net.parameters())", "type(sd).__name__", "hasattr(sd, '_metadata')",
        "type(whole).__name__"])

    def saved(snippet):
        [explanation] = find_explanations(report, "torch_save", line_of(SAVES, snippet))
        return explanation.markdown

    dtype = truth.value_at_end("str(x.dtype)").replace("torch.", "")
    shape_text = "[" + ", ".join(map(str, truth.value_at_end("list(x.shape)"))) + "]"
    assert f"Saved a tensor of shape {shape_text}, `{dtype}`." in saved('torch.save(x, "x-file")')
    assert "tensors:" in saved('torch.save([x, y]') and shape_text in saved('torch.save([x, y]')
    assert "assembled by the program" in saved('torch.save({"x"')
    state = saved("torch.save(net.state_dict()")
    assert "Saved a state dict" in state
    for key in truth.value_at_end("list(net.state_dict().keys())"):
        assert f"`{key}`" in state
    whole = saved('torch.save(net, "net.pt")')
    assert f"the whole `Sequential` module object ({truth.value_at_end('sum(p.numel() for p in net.parameters())')} " \
           "parameters)" in whole and "weights_only=False" in whole
    assert "Saving a whole module" not in state

    [loaded_sd] = find_explanations(report, "torch_load", line_of(SAVES, 'sd = torch.load('))
    assert truth.value_at_end("hasattr(sd, '_metadata')") and "Loaded a state dict" in loaded_sd.markdown
    [loaded_tensor] = find_explanations(report, "torch_load", line_of(SAVES, 'x2 = torch.load('))
    assert f"Loaded a tensor of shape {shape_text}" in loaded_tensor.markdown
    [loaded_whole] = find_explanations(report, "torch_load", line_of(SAVES, 'whole = torch.load('))
    assert f"`{truth.value_at_end('type(whole).__name__')}` module" in loaded_whole.markdown


OUTSIDE_AUTOGRAD = '''import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint


class MyLinear(nn.Module):
    """d2l's custom layer: its forward reads the parameters through `.data`."""

    def __init__(self, in_units, units):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_units, units))
        self.bias = nn.Parameter(torch.randn(units,))

    def forward(self, X):
        linear = torch.matmul(X, self.weight.data) + self.bias.data
        return F.relu(linear)


class WithHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.body(x)


class Checkpointed(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(4, 4)

    def forward(self, x):
        return checkpoint(self.inner, x, use_reentrant=True)


detached = MyLinear(5, 3)
out_detached = detached(torch.rand(2, 5))
partial = WithHead()
out_partial = partial(torch.rand(2, 4))
plain = nn.Linear(4, 2)
out_plain = plain(torch.rand(2, 4))
with torch.no_grad():
    out_off = plain(torch.rand(2, 4))
recomputed = Checkpointed()
out_recomputed = recomputed(torch.rand(2, 4, requires_grad=True))
'''


def _params_without_grad(name: str, output: str) -> str:
    return (f"(lambda o: (o.sum().backward() if o.requires_grad else None, "
            f"sorted(n for n, p in {name}.named_parameters() if p.grad is None))[1])({output})")


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_pl109_when_the_forward_output_reaches_no_parameter(tmp_path, locale):
    """d2l's MyLinear reads `self.weight.data` in forward: the output's graph reaches no parameter, so training would
    never change them. torch is the judge: after backward from each output, which parameters still have no grad."""
    report, path = analyze_file(tmp_path, "outside_autograd.py", OUTSIDE_AUTOGRAD, locale)
    cases = {"detached": "out_detached", "partial": "out_partial", "plain": "out_plain",
             "recomputed": "out_recomputed"}
    truth = run_oracle(OUTSIDE_AUTOGRAD, str(path), at_end=[_params_without_grad(m, o) for m, o in cases.items()])
    no_grad = {m: truth.value_at_end(_params_without_grad(m, o)) for m, o in cases.items()}
    assert no_grad["detached"] == ["bias", "weight"] and no_grad["plain"] == [] and no_grad["recomputed"] == []

    pl109 = [d for d in report.diagnostics if d.code == "PL109"]
    assert [d.span.line for d in pl109] == [line_of(OUTSIDE_AUTOGRAD, "out_detached = detached(")]
    [warning] = pl109
    assert "`self.weight.data`" in warning.message and "`self.bias.data`" in warning.message
    assert (f"none of the {len(no_grad['detached'])} trainable" in warning.message if locale == "en"
            else f"{len(no_grad['detached'])} 个可训练参数都不在" in warning.message)

    [partial] = find_explanations(report, "forward", line_of(OUTSIDE_AUTOGRAD, "out_partial = partial("))
    for name in no_grad["partial"]:
        assert f"`{name}`" in partial.markdown
    assert no_grad["partial"] and all(name.startswith("head.") for name in no_grad["partial"])
    [off] = find_explanations(report, "forward", line_of(OUTSIDE_AUTOGRAD, "out_off = plain("))
    assert "torch.no_grad()" in off.markdown
    [plain] = find_explanations(report, "forward", line_of(OUTSIDE_AUTOGRAD, "out_plain = plain("))
    assert ("every parameter's `.grad`" in plain.markdown) if locale == "en" else ("grad_fn=AddmmBackward0" in plain.markdown)


FREEZING = '''import torch
from torch import nn

backbone = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16))
head = nn.Linear(16, 3)
model = nn.Sequential(backbone, head)
for p in backbone.parameters():
    p.requires_grad = False
listed = list(model.parameters())
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
loss = model(torch.rand(4, 8)).sum()
loss.backward()
frozen_grad = backbone[0].weight.grad
'''


def test_frozen_parameters_are_said_to_be_frozen(tmp_path):
    """Fine-tuning freezes a backbone with `p.requires_grad = False` in a loop: the assignment says which tensors it
    froze, `parameters()` counts the frozen ones, and a frozen parameter's `.grad` is None *because* it is frozen
    (not one of three guesses). torch decides which parameters are frozen."""
    report, path = analyze_file(tmp_path, "freezing.py", FREEZING)
    truth = run_oracle(FREEZING, str(path), at_end=[
        "[n for n, p in backbone.named_parameters() if not p.requires_grad]",
        "sum(p.numel() for p in model.parameters() if not p.requires_grad)",
        "backbone[0].weight.grad is None"])
    frozen = truth.value_at_end("[n for n, p in backbone.named_parameters() if not p.requires_grad]")
    frozen_values = truth.value_at_end("sum(p.numel() for p in model.parameters() if not p.requires_grad)")
    [assignment] = find_explanations(report, "requires_grad_assignment", line_of(FREEZING, "p.requires_grad = False"))
    assert f"Froze {len(frozen)} tensors ({frozen_values:,} values)" in assignment.markdown
    for name in frozen:
        assert f"`backbone.{name}`" in assignment.markdown
    [listed] = find_explanations(report, "parameters", line_of(FREEZING, "listed = list("))
    assert f"{len(frozen)} of these" in listed.markdown and f"({frozen_values:,} values)" in listed.markdown
    assert truth.value_at_end("backbone[0].weight.grad is None")
    [grad] = [e for e in find_explanations(report, "param_attr", line_of(FREEZING, "frozen_grad = "))
              if e.markdown.startswith("**`backbone[0].weight.grad`**")]
    assert "`requires_grad=False`" in grad.markdown and "not reach" not in grad.markdown


BUFFERS_AND_INITS = '''import torch
from torch import nn

bn = nn.BatchNorm1d(6)
x = torch.randn(4, 6)
y = bn(x)
bn.eval()
z = bn(x)
lin = nn.Linear(6, 24)
nn.init.orthogonal_(lin.weight)
emb = nn.Embedding(10, 4)
nn.init.trunc_normal_(emb.weight, std=0.02)
'''


def test_forward_buffer_updates_and_init_descriptions_follow_torch(tmp_path):
    """A BatchNorm forward in training mode changes its running statistics (torch's kernel does not bump their
    version counters: values are compared), in eval mode it does not; orthogonal_ says which side is orthonormal
    for this shape; trunc_normal_ says its bounds are values, not multiples of std."""
    report, path = analyze_file(tmp_path, "buffers.py", BUFFERS_AND_INITS)
    train, evaluate = line_of(BUFFERS_AND_INITS, "y = bn(x)"), line_of(BUFFERS_AND_INITS, "z = bn(x)")
    truth = run_oracle(BUFFERS_AND_INITS, str(path),
                       before={train: ["int(bn.num_batches_tracked)"]},
                       capture={train: ["int(bn.num_batches_tracked)", "sorted(n for n, _ in bn.named_buffers())"],
                                evaluate: ["int(bn.num_batches_tracked)"]},
                       at_end=["torch.allclose(lin.weight.T @ lin.weight, torch.eye(6), atol=1e-5)",
                               "torch.allclose(lin.weight @ lin.weight.T, torch.eye(24), atol=1e-5)"])
    [trained] = find_explanations(report, "forward", train)
    before, after = truth.value_before(train, "int(bn.num_batches_tracked)"), truth.value(train, "int(bn.num_batches_tracked)")
    assert f"`num_batches_tracked` {before} → {after}" in trained.markdown
    for name in truth.value(train, "sorted(n for n, _ in bn.named_buffers())"):
        assert f"`{name}`" in trained.markdown
    assert truth.value(evaluate, "int(bn.num_batches_tracked)") == after
    [evaluated] = find_explanations(report, "forward", evaluate)
    assert "This call changed" not in evaluated.markdown
    [orthogonal] = find_explanations(report, "init", line_of(BUFFERS_AND_INITS, "nn.init.orthogonal_"))
    assert truth.value_at_end("torch.allclose(lin.weight.T @ lin.weight, torch.eye(6), atol=1e-5)")
    assert not truth.value_at_end("torch.allclose(lin.weight @ lin.weight.T, torch.eye(24), atol=1e-5)")
    assert "its 6 columns are orthonormal" in orthogonal.markdown
    [trunc] = find_explanations(report, "init", line_of(BUFFERS_AND_INITS, "nn.init.trunc_normal_"))
    assert "not multiples of `std`" in trunc.markdown


TIED_INIT = '''import torch
from torch import nn


class TinyLM(nn.Module):
    def __init__(self, vocab=11, dim=6):
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.proj = nn.Linear(dim, dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.wte.weight = self.lm_head.weight

    def init_weights(self, module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=1.0)


model = TinyLM()
model.apply(model.init_weights)
'''


def test_apply_says_when_a_tied_tensor_is_written_twice(tmp_path):
    """nanoGPT ties `wte.weight` to `lm_head.weight` and then initialises both through `apply`: the table showed two
    different inits of what is one tensor. Torch decides which names are one tensor and in which order apply visits
    them; the explanation says the tensor was written twice and which write survived."""
    report, path = analyze_file(tmp_path, "tied.py", TIED_INIT)
    line = line_of(TIED_INIT, "model.apply(")
    truth = run_oracle(TIED_INIT, str(path), at_end=["model.wte.weight is model.lm_head.weight",
                                                     "apply_order(model)", "owners(model.wte.weight)"])
    assert truth.value_at_end("model.wte.weight is model.lm_head.weight")
    order = truth.value_at_end("apply_order(model)")
    last = max(order.index("wte"), order.index("lm_head")) + 1
    [applied] = find_explanations(report, "apply", line)
    names = truth.value_at_end("owners(model.wte.weight)")
    assert names and all(f"`{name}`" in applied.markdown for name in names)
    # torch visits each of the tied tensor's owners once: one write per owner
    writes = len({name.split(".")[1] for name in names})
    assert f"are one tensor (tied), and `init_weights` wrote it at {writes} visits" in applied.markdown
    assert f"It holds what the last one, #{last}, wrote" in applied.markdown
    # the untied layer is written once: no such sentence about it
    assert "`model.proj.weight` was written at" not in applied.markdown


AUTOGRAD_TUTORIAL = '''import torch
from torch import nn

x = torch.ones(5)
y = torch.zeros(3)
w = torch.randn(5, 3, requires_grad=True)
b = torch.randn(3, requires_grad=True)
z = torch.matmul(x, w) + b
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
loss.backward()
print(w.grad)

inp = torch.eye(4, 5, requires_grad=True)
out = (inp+1).pow(2).t()
out.backward(torch.ones_like(out), retain_graph=True)
print(inp.grad)
out.backward(torch.ones_like(out), retain_graph=True)
print(inp.grad)
inp.grad.zero_()
out.backward(torch.ones_like(out), retain_graph=True)
print(inp.grad)

net = nn.Linear(3, 2)
net = net.to("cpu")
'''


def test_backward_tells_plain_leaves_sums_and_vector_jacobian_products(tmp_path):
    """pytorch/tutorials' autograd chapter: `w` and `b` are plain tensors with requires_grad (not parameters); a
    non-scalar `out.backward(v)` puts vᵀ·J in `.grad`; a second pass adds to `.grad`, one after `zero_()` does
    not; `.to()` to the device a model is already on changes nothing. Torch judges each of those."""
    report, path = analyze_file(tmp_path, "autograd_tutorial.py", AUTOGRAD_TUTORIAL)
    lines = [i for i, text in enumerate(AUTOGRAD_TUTORIAL.splitlines(), 1) if text.startswith("out.backward(")]
    prints = [i for i, text in enumerate(AUTOGRAD_TUTORIAL.splitlines(), 1) if text == "print(inp.grad)"]
    truth = run_oracle(AUTOGRAD_TUTORIAL, str(path),
                       before={line: ["inp.grad is not None and bool(inp.grad.any())"] for line in lines},
                       capture={line_of(AUTOGRAD_TUTORIAL, "loss.backward()"):
                                ["[isinstance(v, nn.Parameter) for v in (w, b)]"],
                                lines[0]: ["list(out.shape)", "out.numel()"],
                                line_of(AUTOGRAD_TUTORIAL, 'net = net.to("cpu")'): ["net.weight.device.type"]})
    assert truth.value(line_of(AUTOGRAD_TUTORIAL, "loss.backward()"), "[isinstance(v, nn.Parameter) for v in (w, b)]") \
        == [False, False]
    [first] = find_explanations(report, "backward", line_of(AUTOGRAD_TUTORIAL, "loss.backward()"))
    leaves = truth.value(line_of(AUTOGRAD_TUTORIAL, "loss.backward()"), "[isinstance(v, nn.Parameter) for v in (w, b)]")
    assert f"{len(leaves)} plain tensors created with `requires_grad=True`" in first.markdown
    assert truth.value(lines[0], "out.numel()") > 1
    shape = truth.value(lines[0], "list(out.shape)")
    for line in lines:
        [explained] = find_explanations(report, "backward", line)
        assert f"tensor of shape [{', '.join(map(str, shape))}]" in explained.markdown
        assert "vector-Jacobian product" in explained.markdown
        added = truth.value_before(line, "inp.grad is not None and bool(inp.grad.any())")
        assert ("already held a nonzero gradient" in explained.markdown) == added
    grads = {line: [e for e in find_explanations(report, "param_attr", line) if e.markdown.startswith("**`inp.grad`**")]
             for line in prints}
    sums = [line for line in prints if "**A sum:**" in grads[line][0].markdown]
    # the print after the second pass, and only it, shows a sum of passes (torch: the first and third start from
    # None and from zeros)
    assert sums == [prints[1]]
    assert [truth.value_before(line, "inp.grad is not None and bool(inp.grad.any())") for line in lines] == \
        [False, True, False]
    [moved] = find_explanations(report, "cast", line_of(AUTOGRAD_TUTORIAL, 'net = net.to("cpu")'))
    assert truth.value(line_of(AUTOGRAD_TUTORIAL, 'net = net.to("cpu")'), "net.weight.device.type") == "cpu"
    assert "untouched" in moved.markdown and "replaced in place" not in moved.markdown


BUILD_MODEL = '''import torch
from torch import nn


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28*28, 512),
            nn.ReLU(),
            nn.Linear(512, 10),
        )
        self.empty = nn.Sequential()

    def forward(self, x):
        return self.linear_relu_stack(self.flatten(x))


model = NeuralNetwork()
'''


def test_a_container_child_is_not_shown_as_an_empty_one(tmp_path):
    """pytorch/tutorials' build-model chapter: the children table showed `Sequential()` for a Sequential of layers,
    which reads as an empty container. Torch counts each child's children."""
    report, path = analyze_file(tmp_path, "build_model.py", BUILD_MODEL)
    line = line_of(BUILD_MODEL, "model = NeuralNetwork()")
    truth = run_oracle(BUILD_MODEL, str(path), at_end=["len(model.linear_relu_stack)", "len(model.empty)"])
    [built] = [e for e in find_explanations(report, "module", line)]
    assert f"| `linear_relu_stack` | `Sequential` with {truth.value_at_end('len(model.linear_relu_stack)')} children |" \
        in built.markdown
    assert truth.value_at_end("len(model.empty)") == 0
    assert "| `empty` | `Sequential()` |" in built.markdown


TRAINING_STEP = '''import torch
from torch import nn

net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
X = torch.rand(3, 4)
opt = torch.optim.SGD(net.parameters(), lr=0.1)
net(X).sum().backward()
opt.step()
opt.zero_grad()

model = nn.Linear(4, 2)
adam = torch.optim.Adam(model.parameters(), lr=1e-3)
sched = torch.optim.lr_scheduler.StepLR(adam, step_size=1, gamma=0.5)
for epoch in range(2):
    adam.zero_grad()
    model(X).pow(2).sum().backward()
    adam.step()
    sched.step()


class Env:
    def step(self, action):
        return action + 1


env = Env()
env.step(3)
'''


def test_training_step_lines_say_what_torch_changed(tmp_path):
    """`opt.step()`, `zero_grad()` and `sched.step()` had no explanation at all. Now each says what the run did:
    which parameters moved and by how much (for plain SGD, that the move is exactly -lr x grad), that zero_grad()
    set the gradients to None, the learning rate before and after the scheduler's step (torch's schedulers wrap
    `optimizer.step`, which is still recognised). A `step()` of anything else gets nothing."""
    report, path = analyze_file(tmp_path, "training_step.py", TRAINING_STEP)
    step, zero = line_of(TRAINING_STEP, "opt.step()"), line_of(TRAINING_STEP, "opt.zero_grad()")
    loop = line_of(TRAINING_STEP, "for epoch in range(2):")
    params = "[p.detach().clone() for p in net.parameters()]"
    truth = run_oracle(TRAINING_STEP, str(path),
                       before={step: [f"[p.tolist() for p in {params}]", "[p.grad.tolist() for p in net.parameters()]"],
                               loop: ["adam.param_groups[0]['lr']"]},
                       capture={step: [f"[p.tolist() for p in {params}]"],
                                zero: ["[p.grad is None for p in net.parameters()]"]},
                       at_end=["sched.gamma", "sorted(adam.state[model.weight].keys())",
                               "len(adam.param_groups[0]['params'])"])
    import torch

    before = [torch.tensor(v) for v in truth.value_before(step, f"[p.tolist() for p in {params}]")]
    after = [torch.tensor(v) for v in truth.value(step, f"[p.tolist() for p in {params}]")]
    grads = [torch.tensor(v) for v in truth.value_before(step, "[p.grad.tolist() for p in net.parameters()]")]
    [stepped] = find_explanations(report, "training_step", step)
    moved = sum(1 for a, b in zip(after, before) if not torch.equal(a, b))
    assert f"`SGD.step()` moved {moved} of its {len(after)} parameters" in stepped.markdown
    assert all(torch.allclose(a - b, -0.1 * g, atol=1e-6) for a, b, g in zip(after, before, grads))
    assert "exactly −lr × `.grad`" in stepped.markdown
    for row, (a, b) in zip(stepped.facts["moved"], zip(after, before)):
        assert abs(row["max_change"] - float((a - b).abs().max())) < 1e-6
    [zeroed] = find_explanations(report, "zero_grad", zero)
    dropped = truth.value(zero, "[p.grad is None for p in net.parameters()]")
    assert all(dropped)
    assert f"afterwards {len(dropped)} have `.grad = None`" in zeroed.markdown
    [scheduled] = find_explanations(report, "training_step", line_of(TRAINING_STEP, "    sched.step()"))
    lr = truth.value_before(loop, "adam.param_groups[0]['lr']")
    assert f"group 0: {lr:.3g} → {lr * truth.value_at_end('sched.gamma'):.3g}" in scheduled.markdown
    [adam_step] = find_explanations(report, "training_step", line_of(TRAINING_STEP, "    adam.step()"))
    adam_tensors = truth.value_at_end("len(adam.param_groups[0]['params'])")
    assert f"`Adam.step()` moved {adam_tensors} of its {adam_tensors} parameters" in adam_step.markdown
    for key in truth.value_at_end("sorted(adam.state[model.weight].keys())"):
        assert f"`{key}`" in adam_step.markdown
    [adam_zero] = find_explanations(report, "zero_grad", line_of(TRAINING_STEP, "    adam.zero_grad()"))
    assert "from call 2" in adam_zero.markdown  # the first call had nothing to clear
    assert not find_explanations(report, "training_step", line_of(TRAINING_STEP, "env.step(3)"))


def test_a_relative_import_failure_is_told_from_the_statement_and_the_package(tmp_path):
    """The reason a relative import failed was decided by the words of Python's message, and every message starting
    "attempted relative import" got "the file is not inside a package". A package file whose `from ...` climbs
    above its top-level package is inside a package; Python (importlib.util.resolve_name) is the judge."""
    import importlib.util

    from paramlens.analysis import AnalysisOptions, analyze

    package = tmp_path / "shapes"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    inside = package / "blocks.py"
    inside.write_text("import torch\nfrom ...far import thing\nnet = torch.nn.Linear(2, 2)\n", encoding="utf-8")
    loose = tmp_path / "loose.py"
    loose.write_text("import torch\nfrom .helpers import make\nnet = torch.nn.Linear(2, 2)\n", encoding="utf-8")
    with pytest.raises(ImportError):
        importlib.util.resolve_name("...far", "shapes")
    report = analyze(inside.read_text(), str(inside), AnalysisOptions())
    [told] = [d for d in report.diagnostics if d.code == "PL903"]
    assert "above its top-level package `shapes`" in told.message and "not inside a package" not in told.message
    report = analyze(loose.read_text(), str(loose), AnalysisOptions())
    [told] = [d for d in report.diagnostics if d.code == "PL903"]
    assert "not inside a package" in told.message


def test_nothing_built_says_which_statement_kept_the_classes_from_existing(tmp_path):
    """"the statement at line N failed and the classes depend on it" was said of files with no class at all (image
    processors whose imports fail here). The reason now comes from the run: the class statement that did not run
    and the failed statement whose name it needed, or a file with no class statement."""
    dependent = "import torch\nfrom notinstalled_pkg import Base\n\n\nclass Block(Base):\n    pass\n"
    classless = "import torch\nfrom notinstalled_pkg import helper\n\n\ndef f():\n    return helper()\n"
    report, _ = analyze_file(tmp_path, "dependent.py", dependent)
    assert report.execution.nothing_built == (
        f"no module class of the file was defined: the class statement at line {line_of(dependent, 'class Block')} "
        f"uses a name that the failed statement at line {line_of(dependent, 'from notinstalled_pkg')} should have "
        "defined")
    report, _ = analyze_file(tmp_path, "classless.py", classless)
    assert report.execution.nothing_built == ("the file defines no class and builds no model (the statement at line "
                                              f"{line_of(classless, 'from notinstalled_pkg')} failed)")


NON_FINITE = '''import math

import torch
from torch import nn


class LoRALinear(nn.Module):
    """torch.empty() memory is whatever was there: NaN and inf included, as here on purpose."""

    def __init__(self, base, r=4):
        super().__init__()
        self.base = base
        self.lora_A = nn.Parameter(torch.full((r, base.in_features), float("nan")))
        self.lora_B = nn.Parameter(torch.full((base.out_features, r), float("inf")))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B)


lora = LoRALinear(nn.Linear(4, 8))
w = torch.full((3, 3), float("nan"))
nn.init.trunc_normal_(w, std=0.02)
v = torch.tensor([[-float("inf"), 1.0], [2.0, float("nan")]])
nn.init.ones_(v)
u = torch.zeros(2, 2)
nn.init.constant_(u, float("nan"))
u
p = nn.Parameter(torch.ones(3))
(p * float("inf")).sum().backward()
print(p.grad, u)
layer = nn.Linear(2, 2)
layer.weight.data[0, 1] = float("nan")
'''


def test_non_finite_values_are_observed_not_raised(tmp_path):
    """Uninitialised memory (`torch.empty`, `to_empty()`) often holds NaN or inf: what the probes read of it is
    shown as torch prints it, and a statement torch runs without error is never reported as raising (the probes'
    own JSON once refused NaN and the statement was said to raise ValueError, at random, with `torch.empty`)."""
    report, path = analyze_file(tmp_path, "non_finite.py", NON_FINITE)
    truth = run_oracle(NON_FINITE, str(path), at_end=["v.tolist()"])
    assert [s for s in truth.statements if s["status"] != "ok"] == []
    assert [d for d in report.diagnostics if d.code.startswith("PL9")] == []
    [lora] = [e for e in find_explanations(report, "module", line_of(NON_FINITE, "lora = LoRALinear("))
              if e.facts["class"] == "LoRALinear"]
    assert "`lora_A`" in lora.markdown
    [ones] = find_explanations(report, "init", line_of(NON_FINITE, "nn.init.ones_(v)"))
    assert ones.facts["calls"][0]["after"]["min"] == min(sum(truth.value_at_end("v.tolist()"), []))
    [constant] = find_explanations(report, "init", line_of(NON_FINITE, "nn.init.constant_(u, float(\"nan\"))"))
    [call] = constant.facts["calls"]
    assert call["args"]["val"] == "nan" and call["after"]["nonfinite"] == call["after"]["numel"] == 4
    assert "every value set to nan" in constant.markdown and "4 of 4 are NaN or infinite" in constant.markdown
    edit_line = line_of(NON_FINITE, "layer.weight.data[0, 1] = float(\"nan\")")
    [edit] = find_explanations(report, "data_mutation", edit_line)
    [change] = edit.facts["calls"][0]["changes"]
    before = run_oracle(NON_FINITE, str(path), before={edit_line: ["layer.weight[0, 1].item()"]}).value_before(
        edit_line, "layer.weight[0, 1].item()")
    assert change == {"index": [0, 1], "before": before, "after": "nan"}
    assert f"`[0, 1]`: {num(before)} → nan" in edit.markdown
    assert [e.span.line for e in report.explanations if "raised" in e.markdown] == []


REBINDINGS = {
    "a function's global": ("net = nn.Linear(2, 3)\n\n\ndef swap():\n    global net\n    net = nn.Linear(2, 5)\n\n\n"
                            "swap()\n", "swap()\n"),
    "globals()": ("globals()['net'] = nn.Linear(2, 3)\n", "globals()"),
    "a frame's globals": ("import sys\nsys._getframe().f_globals['net'] = nn.Linear(2, 3)\n", "f_globals"),
    "exec": ("exec('net = nn.Linear(2, 3)')\n", "exec("),
    "a walrus in a comprehension": ("sizes = [(net := nn.Linear(2, k)).out_features for k in (3, 4)]\n", "sizes ="),
    "a match capture": ("match nn.Linear(2, 3):\n    case net:\n        pass\n", "match "),
    "a star import": ("from torch.nn import *\nnet = Linear(2, 3)\n", "net = Linear"),
}


@pytest.mark.parametrize("case", sorted(REBINDINGS))
def test_models_bound_where_the_text_does_not_say_are_in_the_table(tmp_path, case):
    """The child finds the models a statement bound from the names it binds where it stands (reading every name
    after every statement cost ~2 ms a statement on long files); a model bound another way (a function's
    `global`, `globals()`, a frame's globals, `exec`, `:=` in a comprehension, a `match` capture) is still found,
    at the statement that bound it."""
    body, bound_at = REBINDINGS[case]
    source = "import torch\nfrom torch import nn\n\n" + body + "print(net)\n"
    report, path = analyze_file(tmp_path, "rebinding.py", source)
    truth = run_oracle(source, str(path))
    assert comparable_modules([m for m in report.modules if m.origin == "top-level"]) == truth.modules
    [net] = [m for m in report.modules if m.name == "net"]
    assert net.line == line_of(source, bound_at)

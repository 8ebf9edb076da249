"""Every sentence true (issue 12): observations follow objects, and claims are checked against the run.

Each test reproduces a sentence ParamLens used to get wrong on real code, with torch (the oracle) as the judge of
every number: what `apply` changed when the init function writes a child's tensors, names after a layer is replaced
or a model is moved with `to_empty()`, the element that changed in a large tensor.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import explanation_at_site, find_explanations, line_of, locate
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

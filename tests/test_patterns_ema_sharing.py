"""An exponential moving average of weights, a deep copy that keeps its ties, and layers shared through lists built
at run time, explained from what the run observed (issue 12, "sites with no explanation"). Which tensor moved
toward which and by how much, the values before and after, the copy's ties and the shared positions are compared
with torch running the same file; the English and Chinese runs must agree on every fact."""

from __future__ import annotations

import pytest

from helpers import facts, line_of, markdown
from reshaping_support import analyse_with_oracle, in_both_locales

SOURCE = '''"""A tiny language model with tied input/output embeddings, trained one step, with an EMA copy of its weights;
then layers shared through lists, as model builders write them."""
import copy

import torch
from torch import nn


class TinyLM(nn.Module):
    def __init__(self, vocab=12, dim=3):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.mix = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, tokens):
        return self.head(torch.tanh(self.mix(self.embed(tokens))))


lm = TinyLM()
ema = copy.deepcopy(lm)
ema.requires_grad_(False)
tokens = torch.randint(0, 12, (4, 5))
optimizer = torch.optim.SGD(lm.parameters(), lr=0.5)
loss = nn.functional.cross_entropy(lm(tokens).flatten(0, 1), tokens.flatten())
loss.backward()
optimizer.step()
decay = 0.9
with torch.no_grad():
    for ema_p, p in zip(ema.parameters(), lm.parameters()):
        ema_p.mul_(decay).add_(p, alpha=1 - decay)
with torch.no_grad():
    for ema_p, p in zip(ema.parameters(), lm.parameters()):
        ema_p.lerp_(p, 1.0 - decay)
ema.mix.bias.lerp_(lm.mix.bias, 0.5)

shared = nn.Linear(4, 4)
literal = nn.Sequential(shared, nn.ReLU(), shared)
layers = [shared, nn.ReLU(), shared]
net = nn.Sequential(*layers)
out = net(torch.randn(2, 4)).sum()
out.backward()


def tower(width, depth):
    block = nn.Linear(width, width)
    parts = []
    for _ in range(depth):
        parts.append(block)
        parts.append(nn.GELU())
    return nn.Sequential(*parts)


tall = tower(6, 3)
head = nn.Linear(4, 2)
heads = nn.ModuleList([head] * 3)
'''

EMA_VALUES = "[p.tolist() for p in ema.parameters()]"
LM_VALUES = "[p.tolist() for p in lm.parameters()]"
CHAINED = "ema_p.mul_(decay).add_(p, alpha=1 - decay)"
LERP_LOOP = "ema_p.lerp_(p, 1.0 - decay)"
LERP_ONE = "ema.mix.bias.lerp_(lm.mix.bias, 0.5)"
TIES = ("(lambda m: [g for g in __import__('functools').reduce(lambda acc, item: (acc.setdefault(id(item[1]), [])"
        ".append(item[0]), acc)[1], m.named_parameters(remove_duplicate=False), {}).values() if len(g) > 1])(MODULE)")
SHARED_POSITIONS = "(lambda c: [i for i, m in enumerate(c) if m is c[0]])(MODULE)"


def line(snippet: str) -> int:
    return line_of(SOURCE, snippet)


def of(template: str, module: str) -> str:
    return template.replace("MODULE", module)


CAPTURE = {
    line("ema = copy.deepcopy(lm)"): [of(TIES, "lm"), of(TIES, "ema"), "ema.head.weight is ema.embed.weight",
                                      "ema.head.weight is lm.head.weight",
                                      "ema.embed.weight.data_ptr() == lm.embed.weight.data_ptr()",
                                      "sum(p.numel() for p in ema.parameters())"],
    line("decay = 0.9"): ["1 - decay", "decay"],
    line(CHAINED): [EMA_VALUES, LM_VALUES, "[n for n, _ in ema.named_parameters()]"],
    line(LERP_LOOP): [EMA_VALUES, LM_VALUES],
    line(LERP_ONE): ["ema.mix.bias.tolist()", "lm.mix.bias.tolist()"],
    line("net = nn.Sequential(*layers)"): [of(SHARED_POSITIONS, "net"), of(TIES, "net"),
                                           "sum(p.numel() for p in net.parameters())",
                                           "sum(p.numel() for _, p in net.named_parameters(remove_duplicate=False))",
                                           "list(net.state_dict())"],
    line("out.backward()"): ["[net[0].weight.grad.norm().item(), net[0].bias.grad.norm().item()]"],
    line("tall = tower(6, 3)"): [of(SHARED_POSITIONS, "tall"), of(TIES, "tall"), "sum(p.numel() for p in tall.parameters())"],
    line("heads = nn.ModuleList([head] * 3)"): [of(SHARED_POSITIONS, "heads"), "[m is head for m in heads]"],
}
BEFORE = {
    line(CHAINED): [EMA_VALUES],
    line(LERP_LOOP): [EMA_VALUES],
    line(LERP_ONE): ["ema.mix.bias.tolist()"],
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return analyse_with_oracle(SOURCE, tmp_path_factory.mktemp("ema") / "ema_and_sharing.py", CAPTURE, BEFORE)


def both(run, pattern, snippet, within=None):
    """The English explanation at a site; the Chinese one must carry the same facts."""
    return in_both_locales(run[0], SOURCE, pattern, snippet, within)


def flat(values):
    return [x for v in values for x in flat(v)] if isinstance(values, list) else [values]


def mean_distance(a, b) -> float:
    pairs = list(zip(flat(a), flat(b)))
    return sum(abs(x - y) for x, y in pairs) / len(pairs)


def test_the_run_agrees_with_torch(run):
    reports, oracle = run
    assert reports["en"].execution.status == "ok"
    assert all(s["status"] == "ok" for s in oracle.statements)
    assert not [d for d in reports["en"].diagnostics if d.severity == "error"]


def test_deepcopy_keeps_the_tie_inside_the_copy(run):
    _, oracle = run
    at_line = line("ema = copy.deepcopy(lm)")
    explanation = both(run, "deepcopy", "copy.deepcopy(lm)")
    found = facts(explanation)
    assert found["tied_source"] == oracle.value(at_line, of(TIES, "lm"))
    assert found["tied_copy"] == oracle.value(at_line, of(TIES, "ema"))
    assert found["ties_point_into_copy"] is oracle.value(at_line, "ema.head.weight is ema.embed.weight") is True
    assert oracle.value(at_line, "ema.head.weight is lm.head.weight") is False
    assert (found["shared_storage"] == 0) is not oracle.value(at_line,
                                                              "ema.embed.weight.data_ptr() == lm.embed.weight.data_ptr()")
    assert found["param_count"] == oracle.value(at_line, "sum(p.numel() for p in ema.parameters())")
    assert "tie inside the copy" in markdown(explanation)


@pytest.mark.parametrize("site", [CHAINED, LERP_LOOP])
def test_ema_step_moves_each_tensor_toward_the_model(run, site):
    _, oracle = run
    at_line = line(site)
    explanation = both(run, "ema_update", site)
    steps = facts(explanation)["steps"]
    names = oracle.value(line(CHAINED), "[n for n, _ in ema.named_parameters()]")
    before, after = oracle.value_before(at_line, EMA_VALUES), oracle.value(at_line, EMA_VALUES)
    source = oracle.value(at_line, LM_VALUES)
    assert [s["target"] for s in steps] == [f"ema.{n}" for n in names]
    assert [s["source"] for s in steps] == [f"lm.{n}" for n in names]
    weight = oracle.value(line("decay = 0.9"), "1 - decay")
    for step, old, new, model in zip(steps, before, after, source):
        assert step["before_values"] == old and step["after_values"] == new
        assert step["fraction"] == pytest.approx(weight, rel=1e-12)
        assert step["distance_before"] == pytest.approx(mean_distance(old, model), rel=1e-9)
        assert step["distance_after"] == pytest.approx(mean_distance(new, model), rel=1e-9)
        assert step["max_change"] == pytest.approx(max(abs(x - y) for x, y in zip(flat(new), flat(old))), rel=1e-9)
    if site == CHAINED:
        assert [steps[0]["factor"], steps[0]["alpha"]] == pytest.approx(
            [oracle.value(line("decay = 0.9"), "decay"), weight], rel=1e-12)
    assert "10% of the way toward" in markdown(explanation)


def test_one_lerp_shows_values_before_and_after(run):
    _, oracle = run
    at_line = line(LERP_ONE)
    explanation = both(run, "ema_update", LERP_ONE)
    [step] = facts(explanation)["steps"]
    assert step["before_values"] == oracle.value_before(at_line, "ema.mix.bias.tolist()")
    assert step["after_values"] == oracle.value(at_line, "ema.mix.bias.tolist()")
    assert (step["target"], step["source"], step["fraction"]) == ("ema.mix.bias", "lm.mix.bias", 0.5)
    text = markdown(explanation)
    assert all(f"{value:.4f}" in text for value in step["after_values"])


def test_a_list_passed_with_a_star_is_explained_like_literal_arguments(run):
    _, oracle = run
    at_line = line("net = nn.Sequential(*layers)")
    starred = both(run, "shared_module", "layers", within="nn.Sequential(*layers)")
    literal = both(run, "shared_module", "shared", within="literal = nn.Sequential(shared, nn.ReLU(), shared)")
    found = facts(starred)
    assert found["name"] == "shared"
    assert found["positions"] == oracle.value(at_line, of(SHARED_POSITIONS, "net"))
    assert found["tied"] == oracle.value(at_line, of(TIES, "net"))
    assert found["param_count"] == oracle.value(at_line, "sum(p.numel() for p in net.parameters())")
    assert found["param_count_with_duplicates"] == \
        oracle.value(at_line, "sum(p.numel() for _, p in net.named_parameters(remove_duplicate=False))")
    assert found["state_dict_keys"] == oracle.value(at_line, "list(net.state_dict())")
    # the same explanation as the literal `nn.Sequential(shared, nn.ReLU(), shared)`, from the run
    assert markdown(starred).splitlines()[0] == markdown(literal).splitlines()[0]
    assert {k: found[k] for k in ("positions", "tied", "param_count", "param_count_with_duplicates")} == \
        {k: facts(literal)[k] for k in ("positions", "tied", "param_count", "param_count_with_duplicates")}
    norms = oracle.value(line("out.backward()"), "[net[0].weight.grad.norm().item(), net[0].bias.grad.norm().item()]")
    observed = [entry["grad_norm"] for entry in found["gradient"]["parameters"]]
    assert observed == pytest.approx(norms, rel=1e-6)
    assert all(entry["sum_matches"] for entry in found["gradient"]["parameters"])


def test_a_list_filled_by_append_in_a_loop(run):
    _, oracle = run
    at_line = line("tall = tower(6, 3)")
    explanation = both(run, "shared_module", "parts", within="return nn.Sequential(*parts)")
    found = facts(explanation)
    assert found["positions"] == oracle.value(at_line, of(SHARED_POSITIONS, "tall"))
    assert found["tied"] == oracle.value(at_line, of(TIES, "tall"))
    assert found["param_count"] == oracle.value(at_line, "sum(p.numel() for p in tall.parameters())")
    # no variable of the program holds the block, so it is named by what it is; no container name is guessed
    assert found["name"].startswith("Linear(") and "net[" not in markdown(explanation)


def test_a_module_list_from_a_repeated_list(run):
    _, oracle = run
    at_line = line("heads = nn.ModuleList([head] * 3)")
    found = facts(both(run, "shared_module", "[head] * 3"))
    assert found["positions"] == oracle.value(at_line, of(SHARED_POSITIONS, "heads"))
    assert all(oracle.value(at_line, "[m is head for m in heads]")) and found["name"] == "head"

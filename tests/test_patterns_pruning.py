"""Pruning and parametrizations explained from what the run observed (issue 12, "sites with no explanation"):
`prune.ln_structured` / `l1_unstructured` (twice on one tensor) / `random_unstructured` / `global_unstructured`,
`prune.remove`, `parametrizations.weight_norm` / `spectral_norm` and `parametrize.remove_parametrizations`, in a
model-compression script. Every number in an explanation's facts is compared with torch running the same file
(tests/oracle.py); the English and Chinese runs must agree on every fact."""

from __future__ import annotations

import pytest

from helpers import facts, line_of, markdown
from reshaping_support import analyse_with_oracle, in_both_locales

SOURCE = '''"""Compressing a small image classifier for deployment: structured pruning of conv channels, magnitude pruning of
the classifier, one global budget over two layers, then making it permanent; weight norm on a head and spectral
norm on a critic, as GAN and TTS code does."""
import copy

import torch
import torch.nn.utils.prune as prune
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm, weight_norm


class SmallNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, padding=1)
        self.fc1 = nn.Linear(16 * 4 * 4, 32)
        self.fc2 = nn.Linear(32, classes)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def prune_for_deployment(net):
    prune.l1_unstructured(net.fc2, name="bias", amount=0.5)


model = SmallNet()
images = torch.randn(2, 3, 16, 16)
prune.ln_structured(model.conv1, name="weight", amount=0.25, n=2, dim=0)
prune.l1_unstructured(model.fc1, name="weight", amount=0.6)
prune.l1_unstructured(model.fc1, name="weight", amount=0.5)
prune.random_unstructured(model.fc2, name="weight", amount=0.3)
to_prune = [(model.conv2, "weight"), (model.fc2, "bias")]
prune.global_unstructured(to_prune, pruning_method=prune.L1Unstructured, amount=0.4)
logits = model(images)
for module, name in [(model.conv1, "weight"), (model.fc1, "weight")]:
    prune.remove(module, name)
print(sum(int((p == 0).sum()) for p in model.parameters()))

head = nn.Linear(32, 10)
weight_norm(head, name="weight")
critic = nn.Linear(10, 1)
critic = spectral_norm(critic)
score = critic(torch.randn(4, 10))
parametrize.remove_parametrizations(head, "weight")
'''

NAMES = "{n: list(p.shape) for n, p in MODULE.named_parameters()}"
BUFFERS = "[n for n, _ in MODULE.named_buffers()]"


def names(module: str) -> str:
    return NAMES.replace("MODULE", module)


def buffers(module: str) -> str:
    return BUFFERS.replace("MODULE", module)


def zeros(tensor: str) -> str:
    return f"int(({tensor} == 0).sum())"


def line(snippet: str) -> int:
    return line_of(SOURCE, snippet)


STRUCTURED = 'prune.ln_structured(model.conv1, name="weight", amount=0.25, n=2, dim=0)'
FIRST_L1 = 'prune.l1_unstructured(model.fc1, name="weight", amount=0.6)'
SECOND_L1 = 'prune.l1_unstructured(model.fc1, name="weight", amount=0.5)'
RANDOM = 'prune.random_unstructured(model.fc2, name="weight", amount=0.3)'
GLOBAL = "prune.global_unstructured(to_prune, pruning_method=prune.L1Unstructured, amount=0.4)"
REMOVE = "prune.remove(module, name)"
WEIGHT_NORM = 'weight_norm(head, name="weight")'
SPECTRAL = "spectral_norm(critic)"
FOLD = 'parametrize.remove_parametrizations(head, "weight")'

SLICE_NORMS = "[model.conv1.weight_orig[i].double().norm().item() for i in range(8)]"
MAGNITUDES = ("(lambda o, m: [o.abs()[m == 0].max().item(), o.abs()[m != 0].min().item()])"
              "(model.fc1.weight_orig, model.fc1.weight_mask)")
GLOBAL_MAGNITUDES = ("(lambda o, m: [o.abs()[m == 0].max().item(), o.abs()[m != 0].min().item()])"
                     "(torch.cat([model.conv2.weight_orig.flatten(), model.fc2.bias_orig.flatten()]), "
                     "torch.cat([model.conv2.weight_mask.flatten(), model.fc2.bias_mask.flatten()]))")
# σ as torch itself applies it: in eval mode a spectral-norm weight is `original / σ` with no power iteration, so
# original / weight (on a copy, to leave the program's buffers alone) is σ in every element
SIGMA = ("(lambda c: (c.parametrizations.weight.original / c.eval().weight).flatten().tolist())"
         "(copy.deepcopy(critic))")

CAPTURE = {
    line(STRUCTURED): [zeros("model.conv1.weight_mask"), "model.conv1.weight_mask.numel()",
                       "[i for i in range(8) if not model.conv1.weight_mask[i].any()]", SLICE_NORMS,
                       "id(model.conv1.weight_orig)", names("model.conv1"), buffers("model.conv1")],
    line(FIRST_L1): [zeros("model.fc1.weight_mask"), "model.fc1.weight_mask.numel()", MAGNITUDES],
    line(SECOND_L1): [zeros("model.fc1.weight_mask"), MAGNITUDES],
    line(RANDOM): [zeros("model.fc2.weight_mask"), "model.fc2.weight_mask.numel()"],
    line(GLOBAL): [zeros("model.conv2.weight_mask"), "model.conv2.weight_mask.numel()", zeros("model.fc2.bias_mask"),
                   "model.fc2.bias_mask.numel()", GLOBAL_MAGNITUDES],
    line(REMOVE): [zeros("model.conv1.weight"), "model.conv1.weight.numel()", zeros("model.fc1.weight"),
                   "model.fc1.weight.numel()", "id(model.conv1.weight)", "id(model.fc1.weight)",
                   names("model.conv1"), buffers("model.conv1")],
    line(WEIGHT_NORM): [names("head"), "head.weight.tolist()", "type(head).__name__",
                        "sum(p.numel() for p in head.parameters())"],
    line(SPECTRAL): [names("critic"), buffers("critic"), SIGMA, "type(critic).__name__",
                     "torch.linalg.matrix_norm(critic.parametrizations.weight.original.double(), 2).item()",
                     "id(critic.parametrizations.weight.original)"],
    line(FOLD): [names("head"), "head.weight.tolist()", "type(head).__name__",
                 "sum(p.numel() for p in head.parameters())"],
}
BEFORE = {
    line(STRUCTURED): ["id(model.conv1.weight)", names("model.conv1")],
    line(REMOVE): ["id(model.conv1.weight_orig)", "id(model.fc1.weight_orig)", names("model.conv1"),
                   buffers("model.conv1")],
    line(WEIGHT_NORM): [names("head"), "head.weight.tolist()", "type(head).__name__",
                        "sum(p.numel() for p in head.parameters())"],
    line(SPECTRAL): ["id(critic.weight)", "type(critic).__name__"],
    line(FOLD): [names("head")],
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return analyse_with_oracle(SOURCE, tmp_path_factory.mktemp("pruning") / "compress.py", CAPTURE, BEFORE)


def both(run, pattern, snippet, within=None):
    """The English explanation at a site; the Chinese one must carry the same facts."""
    return in_both_locales(run[0], SOURCE, pattern, snippet, within)


def test_the_run_agrees_with_torch(run):
    reports, oracle = run
    assert reports["en"].execution.status == "ok"
    assert not [d for d in reports["en"].diagnostics if d.severity == "error"]
    printed = oracle.statement(line("print(sum(int((p == 0).sum())"))["output"]
    assert any(e.facts.get("output") == printed for e in reports["en"].explanations if e.pattern == "print_output")


def test_structured_prune_names_the_zeroed_channels_and_their_norms(run):
    _, oracle = run
    explanation = both(run, "prune", STRUCTURED)
    [target] = facts(explanation)["targets"]
    at_line = line(STRUCTURED)
    pruned = oracle.value(at_line, "[i for i in range(8) if not model.conv1.weight_mask[i].any()]")
    norms = oracle.value(at_line, SLICE_NORMS)
    assert target["tensor"] == "model.conv1.weight"
    assert target["zeros"] == oracle.value(at_line, zeros("model.conv1.weight_mask"))
    assert target["numel"] == oracle.value(at_line, "model.conv1.weight_mask.numel()")
    assert target["pruned_slices"] == pruned and target["dim"] == 0
    assert target["largest_pruned_norm"] == pytest.approx(max(norms[i] for i in pruned), rel=1e-12)
    assert target["smallest_kept_norm"] == pytest.approx(min(n for i, n in enumerate(norms) if i not in pruned),
                                                         rel=1e-12)
    # `weight` became `weight_orig` (the very same Parameter) plus a `weight_mask` buffer
    assert target["orig_is_former"] is True
    assert oracle.value_before(at_line, "id(model.conv1.weight)") == oracle.value(at_line, "id(model.conv1.weight_orig)")
    before, after = oracle.value_before(at_line, names("model.conv1")), oracle.value(at_line, names("model.conv1"))
    assert target["renamed"] == [[was, now] for was in before if was not in after for now in after if now not in before]
    assert [name for name, _ in target["added"]] == oracle.value(at_line, buffers("model.conv1"))
    text = markdown(explanation)
    assert f"{target['zeros']:,} of {target['numel']:,}" in text and "`weight_orig`" in text and "`weight_mask`" in text


def test_magnitude_prune_twice_on_one_tensor(run):
    _, oracle = run
    first = facts(both(run, "prune", FIRST_L1))["targets"][0]
    second_explanation = both(run, "prune", SECOND_L1)
    second = facts(second_explanation)["targets"][0]
    first_zeros = oracle.value(line(FIRST_L1), zeros("model.fc1.weight_mask"))
    assert first["zeros"] == first_zeros and first["zeros_before"] is None
    assert first["numel"] == oracle.value(line(FIRST_L1), "model.fc1.weight_mask.numel()")
    assert [first["largest_pruned"], first["smallest_kept"]] == oracle.value(line(FIRST_L1), MAGNITUDES)
    # the second call prunes among the survivors: its mask keeps the first one's zeros
    assert second["zeros_before"] == first_zeros
    assert second["zeros"] == oracle.value(line(SECOND_L1), zeros("model.fc1.weight_mask"))
    assert [second["largest_pruned"], second["smallest_kept"]] == oracle.value(line(SECOND_L1), MAGNITUDES)
    assert f"{second['zeros_before']:,} zeros in the old mask" in markdown(second_explanation)


def test_random_prune(run):
    _, oracle = run
    explanation = both(run, "prune", RANDOM)
    [target] = facts(explanation)["targets"]
    assert target["zeros"] == oracle.value(line(RANDOM), zeros("model.fc2.weight_mask"))
    assert target["numel"] == oracle.value(line(RANDOM), "model.fc2.weight_mask.numel()")
    assert "largest_pruned" not in target and "at random" in markdown(explanation)


def test_global_prune_fraction_per_tensor_and_overall(run):
    _, oracle = run
    at_line = line(GLOBAL)
    explanation = both(run, "prune", GLOBAL)
    found = facts(explanation)
    per_tensor = {t["tensor"]: (t["zeros"], t["numel"]) for t in found["targets"]}
    truth = {"model.conv2.weight": (oracle.value(at_line, zeros("model.conv2.weight_mask")),
                                    oracle.value(at_line, "model.conv2.weight_mask.numel()")),
             "model.fc2.bias": (oracle.value(at_line, zeros("model.fc2.bias_mask")),
                                oracle.value(at_line, "model.fc2.bias_mask.numel()"))}
    assert per_tensor == truth
    overall = found["overall"]
    assert overall["zeros"] == sum(z for z, _ in truth.values()) and overall["numel"] == sum(n for _, n in truth.values())
    assert [overall["largest_pruned"], overall["smallest_kept"]] == oracle.value(at_line, GLOBAL_MAGNITUDES)
    assert found["amount"] == 0.4 and f"{overall['zeros']:,} of {overall['numel']:,}" in markdown(explanation)


def test_prune_remove_folds_the_mask_and_the_zeros_stay(run):
    _, oracle = run
    at_line = line(REMOVE)
    explanation = both(run, "prune_remove", REMOVE)
    rows = {r["tensor"]: r for r in facts(explanation)["tensors"]}
    assert set(rows) == {"model.conv1.weight", "model.fc1.weight"}
    for layer in ("conv1", "fc1"):
        row = rows[f"model.{layer}.weight"]
        assert row["zeros"] == oracle.value(at_line, zeros(f"model.{layer}.weight"))
        assert row["numel"] == oracle.value(at_line, f"model.{layer}.weight.numel()")
        # the plain `weight` is the former `weight_orig` object, now holding the pruned values
        assert row["same_object"] is (oracle.value_before(at_line, f"id(model.{layer}.weight_orig)") ==
                                      oracle.value(at_line, f"id(model.{layer}.weight)")) is True
    before, after = oracle.value_before(at_line, buffers("model.conv1")), oracle.value(at_line, buffers("model.conv1"))
    assert rows["model.conv1.weight"]["removed"] == [b for b in before if b not in after]
    assert list(oracle.value(at_line, names("model.conv1"))) == ["bias", "weight"]
    assert "stay zero" in markdown(explanation)


def test_weight_norm_shows_g_and_v_and_that_the_weight_is_unchanged(run):
    _, oracle = run
    at_line = line(WEIGHT_NORM)
    explanation = both(run, "parametrize", WEIGHT_NORM)
    found = facts(explanation)
    before, after = oracle.value_before(at_line, names("head")), oracle.value(at_line, names("head"))
    assert found["added"] == [[n, s] for n, s in after.items() if n not in before]
    assert found["removed"] == [[n, s] for n, s in before.items() if n not in after]
    assert found["parametrizations"] == ["_WeightNorm"]
    old, new = oracle.value_before(at_line, "head.weight.tolist()"), oracle.value(at_line, "head.weight.tolist()")
    difference = max(abs(a - b) for row_a, row_b in zip(old, new) for a, b in zip(row_a, row_b))
    assert found["max_difference"] == pytest.approx(difference, rel=1e-6, abs=0.0)
    assert found["param_count_before"] == oracle.value_before(at_line, "sum(p.numel() for p in head.parameters())")
    assert found["param_count_after"] == oracle.value(at_line, "sum(p.numel() for p in head.parameters())")
    assert found["class_before"] == oracle.value_before(at_line, "type(head).__name__")
    assert found["class_after"] == oracle.value(at_line, "type(head).__name__")
    assert "g · v / ‖v‖" in markdown(explanation)


def test_spectral_norm_sigma_is_what_torch_divides_by(run):
    _, oracle = run
    at_line = line(SPECTRAL)
    explanation = both(run, "parametrize", SPECTRAL)
    found = facts(explanation)
    ratios = oracle.value(at_line, SIGMA)
    assert all(found["sigma"] == pytest.approx(ratio, rel=1e-5) for ratio in ratios)
    assert found["largest_singular_value"] == pytest.approx(oracle.value(
        at_line, "torch.linalg.matrix_norm(critic.parametrizations.weight.original.double(), 2).item()"), rel=1e-12)
    assert found["renamed"] == [["weight", "parametrizations.weight.original"]]
    assert oracle.value_before(at_line, "id(critic.weight)") == \
        oracle.value(at_line, "id(critic.parametrizations.weight.original)")
    assert [name for name, _ in found["added"]] == oracle.value(at_line, buffers("critic"))
    assert found["class_after"] == oracle.value(at_line, "type(critic).__name__")


def test_remove_parametrizations_folds_the_computed_weight(run):
    _, oracle = run
    at_line = line(FOLD)
    explanation = both(run, "parametrize", FOLD)
    found = facts(explanation)
    before, after = oracle.value_before(at_line, names("head")), oracle.value(at_line, names("head"))
    assert found["removed"] == [[n, s] for n, s in before.items() if n not in after]
    assert found["added"] == [[n, s] for n, s in after.items() if n not in before]
    truth = oracle.value(at_line, "head.weight.tolist()")
    flat = [x for row in truth for x in row]
    assert found["folded"]["shape"] == [len(truth), len(truth[0])]
    assert (found["folded"]["stats"]["min"], found["folded"]["stats"]["max"]) == (min(flat), max(flat))
    assert found["param_count_after"] == oracle.value(at_line, "sum(p.numel() for p in head.parameters())")
    assert found["class_after"] == oracle.value(at_line, "type(head).__name__")


def test_a_pruning_call_that_never_ran_says_why(run):
    explanation = both(run, "prune", 'prune.l1_unstructured(net.fc2, name="bias", amount=0.5)')
    assert "`prune_for_deployment` was never called" in markdown(explanation)

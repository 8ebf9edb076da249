"""Model surgery explained from what the run observed (issue 12, "sites with no explanation"): timm-style
`reset_classifier`, a module class chosen by name (`getattr(nn, name)(...)`), `to_empty` after building on the meta
device, `reset_parameters()` in a loop, `torch.func.functional_call` and `stack_module_state`, `copy.deepcopy` and
dtype casts. timm is not importable here, so the classifier defines `reset_classifier` the way timm's models do;
nothing in ParamLens depends on timm. Every number in the facts is compared with torch running the same file, and
the English and Chinese runs must agree on every fact."""

from __future__ import annotations

import math

import pytest

from helpers import facts, find_explanations, line_of, markdown
from reshaping_support import analyse_with_oracle, in_both_locales

SOURCE = '''"""Model surgery before fine-tuning: a timm-shaped classifier gets a new head, an encoder class is chosen by name
from a config, an adapter is built on the meta device and materialised, the model is evaluated with other head
weights through torch.func, an ensemble is stacked, and copies are cast to other dtypes."""
import copy

import torch
from torch import nn
from torch.func import functional_call, stack_module_state

CONFIG = {"cell": "GRU", "act": "GELU", "hidden": 16}


class TinyClassifier(nn.Module):
    """Shaped like a timm model: `num_features`, a `head`, and `reset_classifier` / `get_classifier`."""

    def __init__(self, num_classes=1000, in_chans=3):
        super().__init__()
        self.num_classes = num_classes
        self.num_features = 32
        self.stem = nn.Conv2d(in_chans, 8, 3, stride=2)
        self.norm = nn.BatchNorm2d(8)
        self.proj = nn.Linear(8, self.num_features)
        self.head = nn.Linear(self.num_features, num_classes)

    def get_classifier(self):
        return self.head

    def reset_classifier(self, num_classes, global_pool=None):
        self.num_classes = num_classes
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x):
        x = self.norm(self.stem(x)).mean((2, 3))
        return self.head(self.proj(x))


def make_encoder(cfg):
    return getattr(nn, cfg["cell"])(input_size=8, hidden_size=cfg["hidden"], batch_first=True)


model = TinyClassifier()
model.reset_classifier(5)
encoder = make_encoder(CONFIG)
activation = getattr(nn, CONFIG["act"])()

with torch.device("meta"):
    adapter = nn.Sequential(nn.Linear(32, 64), nn.LayerNorm(64), nn.Linear(64, 32))
adapter.to_empty(device="cpu")
for layer in adapter:
    if hasattr(layer, "reset_parameters"):
        layer.reset_parameters()

images = torch.randn(2, 3, 9, 9).to(torch.float32)
zero_head = {"head.weight": torch.zeros(5, 32), "head.bias": torch.ones(5)}
logits = functional_call(model, zero_head, (images,))

members = [nn.Linear(4, 3) for _ in range(5)]
params, buffers = stack_module_state(members)

backup = copy.deepcopy(model)
model.double()
deploy = copy.deepcopy(backup).half()
'''

PARAMS = "{n: list(p.shape) for n, p in MODULE.named_parameters()}"
COUNT = "sum(p.numel() for p in MODULE.parameters())"
IDS = "[id(p) for p in MODULE.parameters()]"
DTYPES = "[[str(t.dtype).replace('torch.', ''), t.device.type] for t in [*MODULE.parameters(), *MODULE.buffers()]]"
BYTES = "sum(t.numel() * t.element_size() for t in {id(t): t for t in [*MODULE.parameters(), *MODULE.buffers()]}.values())"
VALUES = "{n: p for n, p in MODULE.named_parameters()}"


def of(template: str, module: str) -> str:
    return template.replace("MODULE", module)


def line(snippet: str) -> int:
    return line_of(SOURCE, snippet)


RESET_HEAD = "model.reset_classifier(5)"
ENCODER = 'getattr(nn, cfg["cell"])(input_size=8, hidden_size=cfg["hidden"], batch_first=True)'
ACTIVATION = 'getattr(nn, CONFIG["act"])()'
TO_EMPTY = 'adapter.to_empty(device="cpu")'
RESET = "layer.reset_parameters()"
FUNCTIONAL = "functional_call(model, zero_head, (images,))"
STACK = "stack_module_state(members)"
COPY = "copy.deepcopy(model)"
DOUBLE = "model.double()"
HALF = "copy.deepcopy(backup).half()"
BUFFERS = "{n: b for n, b in model.named_buffers()}"
STACKED_EQUAL = ("all(torch.equal(params[k][i], dict(m.named_parameters())[k]) for k in params "
                 "for i, m in enumerate(members))")
STACKED_SHARED = ("any(params[k].untyped_storage().data_ptr() == dict(m.named_parameters())[k].untyped_storage()"
                  ".data_ptr() for k in params for m in members)")

CAPTURE = {
    line(RESET_HEAD): [of(PARAMS, "model.head"), of(COUNT, "model"), "type(model.head).__name__"],
    line("encoder = make_encoder(CONFIG)"): ["type(encoder).__module__ + '.' + type(encoder).__qualname__",
                                             "type(encoder).__name__", of(PARAMS, "encoder"), of(COUNT, "encoder")],
    line(ACTIVATION): ["type(activation).__name__", of(COUNT, "activation")],
    line(TO_EMPTY): [of(DTYPES, "adapter"), of(IDS, "adapter"), of(BYTES, "adapter")],
    line("for layer in adapter:"): [of(VALUES, "adapter"), "[fans(m.weight) for m in adapter if isinstance(m, nn.Linear)]"],
    line(FUNCTIONAL): ["list(zero_head)", "[n for n, _ in model.named_parameters() if n not in zero_head]",
                       "list(logits.shape)", BUFFERS, of(VALUES, "model")],
    line(STACK): ["{k: list(v.shape) for k, v in params.items()}", of(PARAMS, "members[0]"), "len(members)",
                  STACKED_EQUAL, STACKED_SHARED, "all(v.is_leaf and v.requires_grad for v in params.values())"],
    line(COPY): ["len({id(t) for t in [*backup.parameters(), *backup.buffers()]})",
                 "sum(1 for a in [*backup.parameters(), *backup.buffers()] for b in [*model.parameters(), *model.buffers()] if a is b)",
                 "all(torch.equal(a, b) for a, b in zip(backup.state_dict().values(), model.state_dict().values()))",
                 of(COUNT, "backup")],
    line(DOUBLE): [of(DTYPES, "model"), of(IDS, "model"), of(BYTES, "model")],
    line(HALF): [of(DTYPES, "deploy"), of(BYTES, "deploy")],
}
BEFORE = {
    line(RESET_HEAD): [of(PARAMS, "model.head"), of(COUNT, "model"), "type(model.head).__name__"],
    line(TO_EMPTY): [of(DTYPES, "adapter"), of(IDS, "adapter")],
    line(FUNCTIONAL): [BUFFERS, of(VALUES, "model")],
    line(DOUBLE): [of(DTYPES, "model"), of(IDS, "model"), of(BYTES, "model")],
    line(HALF): [of(DTYPES, "backup"), of(BYTES, "backup")],
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return analyse_with_oracle(SOURCE, tmp_path_factory.mktemp("surgery") / "surgery.py", CAPTURE, BEFORE)


def both(run, pattern, snippet, within=None):
    """The English explanation at a site; the Chinese one must carry the same facts."""
    return in_both_locales(run[0], SOURCE, pattern, snippet, within)


def groups(dtypes: list[list[str]]) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for dtype, device in dtypes:
        found[(dtype, device)] = found.get((dtype, device), 0) + 1
    return found


def test_the_run_agrees_with_torch(run):
    reports, oracle = run
    assert reports["en"].execution.status == "ok"
    assert all(s["status"] == "ok" for s in oracle.statements)
    assert not [d for d in reports["en"].diagnostics if d.severity == "error"]


def test_reset_classifier_replaces_the_head(run):
    _, oracle = run
    at_line = line(RESET_HEAD)
    found = facts(both(run, "reset_classifier", RESET_HEAD))
    [entry] = found["replaced"]
    assert entry["path"] == "head"
    assert entry["old"]["parameters"] == [[n, s] for n, s in oracle.value_before(at_line, of(PARAMS, "model.head")).items()]
    assert entry["new"]["parameters"] == [[n, s] for n, s in oracle.value(at_line, of(PARAMS, "model.head")).items()]
    assert entry["old"]["class"] == oracle.value_before(at_line, "type(model.head).__name__")
    assert entry["new"]["class"] == oracle.value(at_line, "type(model.head).__name__")
    assert found["param_count_before"] == oracle.value_before(at_line, of(COUNT, "model"))
    assert found["param_count_after"] == oracle.value(at_line, of(COUNT, "model"))
    assert entry["old"]["param_count"] - entry["new"]["param_count"] == \
        found["param_count_before"] - found["param_count_after"]


def test_a_class_chosen_by_name_inside_a_function(run):
    _, oracle = run
    at_line = line("encoder = make_encoder(CONFIG)")
    explanation = both(run, "module_by_name", ENCODER)
    found = facts(explanation)
    assert found["resolved"] == oracle.value(at_line, "type(encoder).__module__ + '.' + type(encoder).__qualname__")
    assert found["nn_name"] == "nn." + oracle.value(at_line, "type(encoder).__name__")
    assert found["parameters"] == [[n, s] for n, s in oracle.value(at_line, of(PARAMS, "encoder")).items()]
    assert found["param_count"] == oracle.value(at_line, of(COUNT, "encoder"))
    assert f"`{found['nn_name']}`" in markdown(explanation).splitlines()[0]


def test_a_class_chosen_by_name_at_top_level(run):
    _, oracle = run
    found = facts(both(run, "module_by_name", ACTIVATION))
    assert found["nn_name"] == "nn." + oracle.value(line(ACTIVATION), "type(activation).__name__")
    assert found["param_count"] == oracle.value(line(ACTIVATION), of(COUNT, "activation"))


def test_to_empty_moves_off_meta_into_new_parameters(run):
    _, oracle = run
    at_line = line(TO_EMPTY)
    explanation = both(run, "to_empty", TO_EMPTY)
    found = facts(explanation)
    before, after = oracle.value_before(at_line, of(DTYPES, "adapter")), oracle.value(at_line, of(DTYPES, "adapter"))
    moved = {(c["from"], c["device_from"], c["to"], c["device_to"]): c["tensors"] for c in found["changes"]}
    truth: dict[tuple, int] = {}
    for (dtype_a, device_a), (dtype_b, device_b) in zip(before, after):
        truth[(dtype_a, device_a, dtype_b, device_b)] = truth.get((dtype_a, device_a, dtype_b, device_b), 0) + 1
    assert moved == truth
    same = sum(a == b for a, b in zip(oracle.value_before(at_line, of(IDS, "adapter")),
                                      oracle.value(at_line, of(IDS, "adapter"))))
    assert found["same_parameters"] == same and found["parameters"] == len(oracle.value(at_line, of(IDS, "adapter")))
    assert found["bytes_after"] == oracle.value(at_line, of(BYTES, "adapter"))
    assert "uninitialised" in markdown(explanation)


def test_reset_parameters_redraws_with_torch_bounds(run):
    _, oracle = run
    at_line = line("for layer in adapter:")
    found = facts(both(run, "reset_parameters", RESET))
    after = oracle.value(at_line, of(VALUES, "adapter"))
    fans = iter(oracle.value(at_line, "[fans(m.weight) for m in adapter if isinstance(m, nn.Linear)]"))
    assert [m["module"] for m in found["modules"]] == \
        [f"adapter.{index}" for index in sorted({name.split(".")[0] for name in after}, key=int)]
    for module in found["modules"]:
        for change in module["changed"]:
            values = after[f"{module['module'].split('.', 1)[1]}.{change['name']}"]
            flat = [x for row in values for x in (row if isinstance(row, list) else [row])]
            assert (change["after"]["min"], change["after"]["max"]) == (min(flat), max(flat))
        calls = {call["tensor"]: call for call in module["calls"]}
        if module["class"] == "Linear":
            fan_in = next(fans)[0]
            bound = 1 / math.sqrt(fan_in)
            assert calls["weight"]["fn"] == "kaiming_uniform_" and calls["weight"]["fan_in"] == fan_in
            assert calls["weight"]["bound"] == pytest.approx(bound, rel=1e-12)
            assert [calls["bias"]["args"]["a"], calls["bias"]["args"]["b"]] == pytest.approx([-bound, bound], rel=1e-12)
            bias = next(c for c in module["changed"] if c["name"] == "bias")
            assert -bound <= bias["after"]["min"] <= bias["after"]["max"] <= bound
        else:
            assert {calls["weight"]["fn"], calls["bias"]["fn"]} == {"fill_", "zero_"}


def test_functional_call_substitutes_and_leaves_the_model_alone(run):
    _, oracle = run
    at_line = line(FUNCTIONAL)
    explanation = both(run, "functional_call", FUNCTIONAL)
    found = facts(explanation)
    assert [s["name"] for s in found["substituted"]] == oracle.value(at_line, "list(zero_head)")
    assert found["kept"] == oracle.value(at_line, "[n for n, _ in model.named_parameters() if n not in zero_head]")
    assert found["output"]["shape"] == oracle.value(at_line, "list(logits.shape)")
    # the parameters are untouched; BatchNorm's buffers were updated by the forward, as torch shows
    assert oracle.value_before(at_line, of(VALUES, "model")) == oracle.value(at_line, of(VALUES, "model"))
    assert found["replaced"] == [] and found["modified"] == []
    before, after = oracle.value_before(at_line, BUFFERS), oracle.value(at_line, BUFFERS)
    assert found["modified_buffers"] == [name for name in before if before[name] != after[name]]
    assert found["model_untouched"] is False and "`norm.running_mean`" in markdown(explanation)


def test_stack_module_state_shapes(run):
    _, oracle = run
    at_line = line(STACK)
    found = facts(both(run, "stack_module_state", STACK))
    stacked = oracle.value(at_line, "{k: list(v.shape) for k, v in params.items()}")
    single = oracle.value(at_line, of(PARAMS, "members[0]"))
    assert found["models"] == oracle.value(at_line, "len(members)")
    assert found["params"] == [[name, single[name], shape] for name, shape in stacked.items()]
    assert found["copies"] is (oracle.value(at_line, STACKED_EQUAL) and not oracle.value(at_line, STACKED_SHARED))
    assert found["leaves"] is oracle.value(at_line, "all(v.is_leaf and v.requires_grad for v in params.values())")


def test_deepcopy_makes_new_tensors(run):
    _, oracle = run
    at_line = line(COPY)
    found = facts(both(run, "deepcopy", COPY))
    assert found["tensors"] == oracle.value(at_line, "len({id(t) for t in [*backup.parameters(), *backup.buffers()]})")
    assert found["same_objects"] == oracle.value(at_line, CAPTURE[at_line][1])
    assert found["equal_values"] is oracle.value(at_line, CAPTURE[at_line][2])
    assert found["param_count"] == oracle.value(at_line, of(COUNT, "backup"))


@pytest.mark.parametrize("site, before_expr, after_expr", [(DOUBLE, "model", "model"), (HALF, "backup", "deploy")])
def test_casts_dtype_objects_and_memory(run, site, before_expr, after_expr):
    _, oracle = run
    at_line = line(site)
    explanation = both(run, "cast", site)
    found = facts(explanation)
    before, after = oracle.value_before(at_line, of(DTYPES, before_expr)), oracle.value(at_line, of(DTYPES, after_expr))
    observed = {}
    for change in found["changes"]:
        observed[(change["from"], change["to"])] = observed.get((change["from"], change["to"]), 0) + change["tensors"]
    truth: dict[tuple, int] = {}
    for (dtype_a, _), (dtype_b, _) in zip(before, after):
        truth[(dtype_a, dtype_b)] = truth.get((dtype_a, dtype_b), 0) + 1
    assert observed == truth
    assert found["bytes_before"] == oracle.value_before(at_line, of(BYTES, before_expr))
    assert found["bytes_after"] == oracle.value(at_line, of(BYTES, after_expr))
    if site == DOUBLE:
        same = sum(a == b for a, b in zip(oracle.value_before(at_line, of(IDS, "model")),
                                          oracle.value(at_line, of(IDS, "model"))))
        assert found["same_parameters"] == same == found["parameters"]
    assert f"{before[0][0]} → {after[0][0]}" in markdown(explanation)


def test_a_tensor_cast_is_not_explained_as_a_model_cast(run):
    reports, _ = run
    at_line = line("images = torch.randn(2, 3, 9, 9).to(torch.float32)")
    assert find_explanations(reports["en"], "cast", at_line) == []

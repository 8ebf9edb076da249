"""The sandboxed child's bookkeeping shortcuts give exactly what the slow way gives: the cached text of a tensor is
torch's own `str()` of it, and the names found rebound after a statement are the names whose object changed."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from paramlens.sandbox import summaries
from paramlens.sandbox.child import _rebound


def _tensors() -> list[torch.Tensor]:
    torch.manual_seed(0)
    grad = torch.randn(3, requires_grad=True)
    return [torch.tensor([0.0, -0.0]), torch.tensor([float("nan"), 1.0, float("inf")]),
            torch.zeros(3, dtype=torch.bfloat16), torch.ones(2, dtype=torch.bool), nn.Parameter(torch.randn(3, 4)),
            grad * 2, grad.sum(), torch.arange(200).reshape(20, 10), torch.randn(40, 40), torch.tensor(3.5),
            torch.empty(0, 3), torch.randint(0, 5, (4,)), torch.randn(2, dtype=torch.complex64),
            torch.randn(5).half(), torch.randn(4, 6).t(), torch.randn(3).conj()]


@pytest.mark.parametrize("index", range(len(_tensors())))
def test_cached_tensor_text_is_what_torch_prints(index):
    tensor = _tensors()[index]
    summaries._TEXT_CACHE.clear()
    first = summaries.tensor_text(tensor)
    again = summaries.tensor_text(tensor)  # from the cache when the tensor can be cached
    if tensor.numel() <= summaries.TEXT_ELEMENTS:
        assert first == again == str(tensor)
    else:
        with torch._tensor_str.printoptions(threshold=summaries.TEXT_ELEMENTS, edgeitems=3):
            assert first == again == str(tensor)


def test_cached_text_follows_print_options_default_dtype_and_values():
    summaries._TEXT_CACHE.clear()
    x = torch.randn(4)
    before = summaries.tensor_text(x)
    try:
        torch.set_printoptions(precision=2)
        assert summaries.tensor_text(x) == str(x) != before
    finally:
        torch.set_printoptions(profile="default")
    y = torch.tensor([1.0, 2.0], dtype=torch.float64)
    shown = summaries.tensor_text(y)
    try:
        torch.set_default_dtype(torch.float64)
        assert summaries.tensor_text(y) == str(y) != shown  # the dtype is printed only when it is not the default
    finally:
        torch.set_default_dtype(torch.float32)
    w = nn.Parameter(torch.zeros(2, 2))
    assert summaries.tensor_text(w) == str(w)
    w.data[0, 0] = 42.0  # through .data: the parameter's version counter does not move, its text must
    assert summaries.tensor_text(w) == str(w) and "42." in summaries.tensor_text(w)
    assert summaries.tensor_text(w.data) == str(w.data)  # same values, another class: another text


def test_rebound_names_are_the_names_whose_object_changed():
    namespace = {f"name_{i}": object() for i in range(100)}
    candidates, bindings = _rebound(namespace, None)
    assert candidates == list(namespace)
    candidates, bindings = _rebound(namespace, bindings)
    assert candidates == []
    namespace["name_7"] = object()
    namespace["name_93"] = object()
    namespace["added"] = object()
    candidates, bindings = _rebound(namespace, bindings)
    assert candidates == ["name_7", "name_93", "added"]
    del namespace["name_50"]
    namespace["name_50"] = object()  # deleted and bound again: the order changed, everything is looked at
    candidates, bindings = _rebound(namespace, bindings)
    assert set(candidates) == set(namespace)


@pytest.mark.parametrize("index", range(len(_tensors())))
def test_cached_statistics_are_the_computed_ones(index):
    tensor = _tensors()[index]
    if tensor.numel() == 0:
        assert summaries.tensor_stats(tensor) is None
        return
    summaries._STATS_CACHE.clear()
    first, again = summaries.tensor_stats(tensor), summaries.tensor_stats(tensor)
    fresh = summaries._computed_stats(tensor)
    assert repr(first) == repr(again) == repr(fresh)  # repr: NaN statistics compare equal as text


def test_statistics_follow_a_write_through_data():
    weight = nn.Parameter(torch.zeros(3, 3))
    assert summaries.tensor_stats(weight)["max"] == 0.0
    weight.data[1, 1] = 5.0
    assert summaries.tensor_stats(weight)["max"] == 5.0


@pytest.mark.parametrize("index", range(len(_tensors())))
def test_plain_values_are_torchs_values_and_always_json(index):
    """What a probe sends of a tensor's values is `tolist()`, with NaN and infinities spelled as torch prints them,
    and every event that holds it (or any other non-finite number, or a key JSON cannot take) can be written."""
    import json
    import math

    from paramlens.sandbox.protocol import event_line

    tensor = _tensors()[index]
    plain = summaries.plain_values(tensor)
    event = json.loads(event_line({"values": plain, "arg": float("nan"), (1, 2): -math.inf}))
    assert event["arg"] is None and event["(1, 2)"] is None

    def same(ours, theirs):
        if isinstance(theirs, list):
            return len(ours) == len(theirs) and all(same(o, t) for o, t in zip(ours, theirs))
        if isinstance(theirs, float) and not math.isfinite(theirs):
            return ours == str(theirs)  # torch prints nan, inf, -inf as Python spells them
        if isinstance(theirs, complex):
            return ours == str(theirs)  # complex values travel as their text
        return ours == theirs

    assert same(event["values"], tensor.detach().tolist())


def test_a_request_carries_the_latest_texts_within_its_bounds():
    """A document's runs hand their tensor texts to the next run: the latest ones, oldest first, at most
    TEXTS_CARRIED of them and about a megabyte in all (large tensors' texts are ~4 KB each)."""
    from collections import OrderedDict

    from paramlens.incremental.session import TEXTS_BYTES_CARRIED, _latest_texts
    from paramlens.sandbox.protocol import TEXTS_CARRIED

    small = OrderedDict((f"k{i}", "x" * 10) for i in range(TEXTS_CARRIED + 50))
    carried = _latest_texts(small)
    assert len(carried) == TEXTS_CARRIED and carried[-1] == ["k%d" % (TEXTS_CARRIED + 49), "x" * 10]
    assert [key for key, _ in carried] == list(small)[-TEXTS_CARRIED:]
    large = OrderedDict((f"k{i}", "y" * 4000) for i in range(1000))
    carried = _latest_texts(large)
    assert sum(len(k) + len(t) for k, t in carried) <= TEXTS_BYTES_CARRIED
    assert [key for key, _ in carried] == list(large)[-len(carried):] and len(carried) >= TEXTS_BYTES_CARRIED // 4100


def _containers() -> list:
    from collections import OrderedDict

    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(4, 30), nn.ReLU(), nn.Linear(30, 2))  # 120 weights: summarised like a tensor
    looped: list = [1]
    looped.append(looped)
    itself: dict = {}
    itself["self"] = itself
    return [net.state_dict(), dict(net.state_dict()), list(net.parameters()), tuple(net.parameters()),
            (net[2].bias,), [1, "a", [torch.ones(2), {"x": torch.zeros(3)}]], {1: torch.ones(2), 2: None},
            {True: torch.ones(1)}, [[[[torch.ones(1)]]]], {"layer": net[0]}, OrderedDict(), {}, [], (), looped,
            itself, torch.Size([2, 3]), OrderedDict(a=torch.arange(150.0).reshape(15, 10))]


@pytest.mark.parametrize("index", range(len(_containers())))
def test_container_text_is_the_containers_repr_with_tensor_texts(index):
    """A dict, list or tuple of tensors (a state dict, `list(net.parameters())`) is spelled as Python's `repr`
    spells it, each tensor as its tensor text (torch's summarised form above TEXT_ELEMENTS): torch and Python are
    the oracle. The tensors' texts come from the cache, so the same container met again formats nothing."""
    value = _containers()[index]
    summaries._TEXT_CACHE.clear()
    with torch._tensor_str.printoptions(threshold=summaries.TEXT_ELEMENTS, edgeitems=3):
        expected = repr(value)
    assert summaries.container_text(value) == expected
    summaries.TEXTS_COMPUTED[0] = 0
    assert summaries.container_text(value) == expected
    assert summaries.TEXTS_COMPUTED[0] == 0


def test_a_state_dict_met_again_formats_no_tensor(monkeypatch):
    """A probed `state_dict()` used to be repr'ed whole, formatting every tensor on every run (most of a resumed
    run of a long file): its text now comes from the tensors' cached texts."""
    torch.manual_seed(2)
    state = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2)).state_dict()
    summaries._TEXT_CACHE.clear()
    first = summaries.summarize(state)
    formatted = []
    torch_str = torch._tensor_str._str
    monkeypatch.setattr(torch._tensor_str, "_str", lambda *a, **k: formatted.append(1) or torch_str(*a, **k))
    again = summaries.summarize(state)
    assert formatted == [] and again["text"] == first["text"]
    monkeypatch.undo()
    assert first["text"] == repr(state)


def _census_models() -> list[nn.Module]:
    shared = nn.Linear(3, 3)
    twice = nn.Sequential(shared, nn.ReLU(), shared, nn.Sequential(shared, nn.Linear(3, 2, bias=False)))
    tied = nn.ModuleDict({"embed": nn.Embedding(10, 4), "head": nn.Linear(4, 10)})
    tied["head"].weight = tied["embed"].weight
    aliased = nn.Linear(2, 2)
    aliased.register_parameter("alias", aliased.weight)  # one parameter under two names of the same module
    lazy = nn.Sequential(nn.LazyLinear(4), nn.Linear(4, 2))
    return [nn.Linear(4, 8), twice, tied, aliased, lazy, nn.ReLU(), nn.TransformerEncoderLayer(8, 2)]


@pytest.mark.parametrize("index", range(len(_census_models())))
def test_one_parameter_walk_gives_what_torchs_own_walks_give(index):
    """The module table's counts, tied groups and parameter list come from one walk of
    `named_parameters(remove_duplicate=False)`; torch's own `named_parameters()` and `parameters()` are the truth."""
    module = _census_models()[index]
    census = summaries.ParameterCensus(module)
    assert [(name, id(p)) for name, p in census.named] == [(name, id(p)) for name, p in module.named_parameters()]
    every = list(module.named_parameters(remove_duplicate=False))
    numel = summaries._numel
    assert census.counts == (sum(numel(p) for p in module.parameters()), sum(numel(p) for _, p in every))
    names_by_tensor: dict[int, list[str]] = {}
    for name, p in every:
        names_by_tensor.setdefault(id(p), []).append(name)
    assert census.tied == [names for names in names_by_tensor.values() if len(names) > 1]


def _stats_tensors() -> list[torch.Tensor]:
    """_tensors() and the values the statistics' shortcuts turn on: NaN or an infinity alone, with the other
    sign's infinity, all positive, all negative, all zero, NaN among zeros, a complex NaN and infinity."""
    inf, nan = float("inf"), float("nan")
    return _tensors() + [torch.tensor([nan]), torch.tensor([inf, -inf]), torch.tensor([-inf, 2.0]),
                         torch.rand(6) + 1, -torch.rand(6) - 1, torch.zeros(4), torch.tensor([0.0, nan, 0.0]),
                         torch.tensor([1.0, inf]).half(), torch.tensor([complex(nan, 0), 1j]),
                         torch.tensor([complex(0, inf), 0j]), torch.tensor([True, False])]


@pytest.mark.parametrize("index", range(len(_stats_tensors())))
def test_statistics_are_what_torch_counts(index):
    """The zero and non-finite counts (read off min and max where they settle it) are torch's own counts."""
    tensor = _stats_tensors()[index]
    summaries._STATS_CACHE.clear()
    stats = summaries.tensor_stats(tensor)
    if tensor.numel() == 0:
        assert stats is None
        return
    values = tensor.detach()
    values = values.abs() if values.is_complex() else values
    values = values.to(torch.float64)
    assert stats["zeros"] == int((values == 0).sum())
    assert stats["nonfinite"] == int((~torch.isfinite(values)).sum())
    assert stats["numel"] == values.numel()
    assert stats["all_equal"] == bool(values.min() == values.max())


def _written_pairs() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(before, after) of in-place writes: one element, NaN and infinity on either side, zeroing, a 0-d tensor,
    integer, boolean, complex and half tensors, a transposed copy, no change at all."""
    pairs = []
    for before in _tensors():
        if before.numel() == 0 or before.is_conj():
            continue
        before = before.detach().clone().contiguous()
        after = before.clone()
        flat = after.view(-1)
        flat[0] = (not bool(flat[0])) if after.dtype == torch.bool else 0
        pairs += [(before, after), (before, before.clone())]
        if before.is_floating_point():
            nan = before.clone()
            nan.view(-1)[-1] = float("nan")
            pairs += [(before, nan), (nan, nan.clone()), (before, before * 2), (before, torch.zeros_like(before))]
    transposed = torch.randn(4, 6).t().clone()  # keeps the transposed strides
    written = transposed.clone()
    written[1, 2] = 7.0
    return pairs + [(transposed, written)]


@pytest.mark.parametrize("index", range(len(_written_pairs())))
def test_what_a_write_changed_is_what_torch_says(index):
    """compare() skips the NaN and zero tests the statistics answer and keeps what it computed under the values'
    digests: the counts and listed elements are still torch's, computed here the long way, cached or not."""
    from paramlens.sandbox import runtime

    before, after = _written_pairs()[index]
    nan_alike = torch.isnan(before) & torch.isnan(after) if before.is_floating_point() or before.is_complex() \
        else torch.zeros_like(before, dtype=torch.bool)
    different = ~((before == after) | nan_alike)
    where = torch.nonzero(different.reshape(after.shape) if after.dim() else different.reshape(1))
    runtime._COMPARISONS.clear()
    fresh = runtime.compare(before, after, summaries.tensor_stats(before))
    cached = runtime.compare(before, after, summaries.tensor_stats(before))
    fresh["name"] = "mutated by the caller"  # a caller's key never reaches the kept comparison
    for result in (fresh, cached):
        assert result["changed"] == int(different.sum())
        assert result["zeroed"] == int(((before != 0) & (after == 0)).sum())
        listed = [(c["index"], c["before"], c["after"]) for c in result.get("changes", [])]
        expected = [(i, (before[tuple(i)] if before.dim() else before).item(),
                     (after[tuple(i)] if after.dim() else after).item())
                    for i in where[:runtime.CHANGES_LISTED].tolist()]
        if not (0 < len(where) <= runtime.CHANGES_LISTED * 4 or after.numel() <= summaries.VALUES_LIMIT):
            expected = []  # many elements of a large tensor changed: the statistics say it, no list
        assert [i for i, _, _ in listed] == [i for i, _, _ in expected]
        for (_, old, new), (_, want_old, want_new) in zip(listed, expected):
            assert str(old) == summaries.plain_number(want_old) or old == want_old or \
                (old != old and want_old != want_old)
            assert str(new) == summaries.plain_number(want_new) or new == want_new or \
                (new != new and want_new != want_new)
    assert "name" not in cached and "name" not in runtime.compare(before, after, summaries.tensor_stats(before))


def _event_corpus() -> list[dict]:
    """Events of real runs (the seed, a model file of the corpus) and events holding what JSON has no rule for."""
    import datetime
    import enum
    import json as stdlib_json
    from pathlib import Path

    from paramlens import analysis
    from paramlens.analysis import AnalysisOptions, analyze

    captured: list[dict] = []
    original = analysis.Observations.from_events

    def recording(events, start=None):  # type: ignore[no-untyped-def]
        captured.extend(events)
        return original(events, start)

    analysis.Observations.from_events = staticmethod(recording)  # type: ignore[assignment]
    try:
        root = Path(__file__).resolve().parents[1]
        for path in (root / "examples" / "parameter_management.py", root / "examples" / "llama_shaped.py"):
            analyze(path.read_text(encoding="utf-8"), str(path), AnalysisOptions(locale="en"))
    finally:
        analysis.Observations.from_events = original  # type: ignore[assignment]
    assert len(captured) > 200

    class Colour(enum.Enum):
        RED = "red"

    class Level(enum.IntEnum):
        HIGH = 3

    class Name(str):
        pass

    odd = [
        {"t": "probe", "v": {"mean": float("nan"), "max": float("inf"), "min": -float("inf")}},
        {"t": "counts", "counts": {3: 1, 17: 40}, "tallies": {(1, 2): {True: 2, None: 1}}},
        {"t": "probe", "v": {"numel": 2 ** 70, "negative": -2 ** 65, "edge": 2 ** 63 - 1}},
        {"t": "probe", "v": {"when": datetime.datetime(2026, 12, 2, 17, 0), "day": datetime.date(2026, 12, 2)}},
        {"t": "probe", "v": {"level": Level.HIGH, "name": Name("weight"), "colour": Colour.RED}},
        {"t": "stmt", "output": "权重 \udc80 surrogate \u2028 é \x00", "error": None},
        {"t": "probe", "v": {"shape": (2, (3, 4)), "dtype": torch.float32, "nested": [[1.5, -0.0, 1e-300]]}},
    ]
    stdlib_json.dumps(odd[0], default=str)  # (the corpus is JSON-able at all)
    return captured + odd


def test_events_read_back_as_the_standard_librarys_json_gives_them(monkeypatch):
    """orjson writes and reads the run's events when installed; what the analysing side gets must be exactly what
    the standard library's encoder and decoder give (the old path, kept for interpreters without orjson), for
    real runs' events and for values JSON has no rule for (NaN, integer keys, huge integers, dates, enums,
    subclasses, lone surrogates, tuples, a dtype)."""
    import json as stdlib_json

    from paramlens.sandbox import protocol

    assert protocol._orjson is not None, "orjson is a dependency: the test environment has it"
    events = _event_corpus()
    fast = [protocol.parse_json(protocol.event_line(event).encode("utf-8", "surrogatepass")) for event in events]
    monkeypatch.setattr(protocol, "_orjson", None)
    lines = [protocol.event_line(event) for event in events]
    slow = [stdlib_json.loads(line) for line in lines]
    assert [protocol.parse_json(line.encode()) for line in lines] == slow
    for event, got, expected in zip(events, fast, slow):
        assert got == expected, event
        # exactly: an integer stays an integer, -0.0 keeps its sign
        assert stdlib_json.dumps(got) == stdlib_json.dumps(expected), event

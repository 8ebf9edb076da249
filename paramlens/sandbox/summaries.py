"""JSON-safe summaries of the values the user's code produced: tensors, parameters, modules, state dicts.

Runs inside the sandboxed child. Everything is bounded: at most VALUES_LIMIT elements are copied out verbatim,
printed text is capped, module listings stop at PARAMS_LIMIT entries, so a 7B-parameter model summarises as
cheaply as an MLP.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from typing import Any, Callable

import torch
from torch import nn

from paramlens.sandbox.protocol import TEXTS_CARRIED

VALUES_LIMIT = 64
TEXT_LIMIT = 4000
PARAMS_LIMIT = 300
ITEMS_LIMIT = 16


def _clip(text: str, limit: int = TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit} more characters)"


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def plain_values(tensor: torch.Tensor) -> Any:
    """`tensor.tolist()` made JSON: a NaN or infinity is written as torch prints it (`"nan"`, `"inf"`, `"-inf"`),
    since JSON has no such numbers. Uninitialised memory (`torch.empty`, `to_empty()`) holds them often, and a
    value list the channel refused once made the user's statement look as if it had raised."""
    values = tensor.detach().cpu().tolist()
    if (tensor.is_floating_point() or tensor.is_complex()) and tensor.numel() and \
            not bool(torch.isfinite(tensor.detach()).all()):
        return _spelled(values)
    return values


def plain_number(value: Any) -> Any:
    """One element as `plain_values` writes it (Python spells nan, inf and -inf as torch prints them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value


def _spelled(values: Any) -> Any:
    if isinstance(values, list):
        return [_spelled(v) for v in values]
    return plain_number(values)


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def is_uninitialized(tensor: torch.Tensor) -> bool:
    return isinstance(tensor, nn.parameter.UninitializedTensorMixin)


_STATS_CACHE: "OrderedDict[tuple, dict[str, Any]]" = OrderedDict()
STATS_CACHE_ENTRIES = 4096


COMPUTE = object()  # a digest not given: tensor_stats, tensor_text and runtime.compare digest the values


def tensor_stats(tensor: torch.Tensor, content: Any = COMPUTE) -> dict[str, Any] | None:
    """min / max / mean / std / zeros / all-equal of a real tensor; None for meta or lazy tensors. The probes take
    them of the same values again and again (before and after each statement that may write them): they are kept
    under the values' digest (`content_digest`), of which they are a function."""
    if is_uninitialized(tensor) or tensor.device.type == "meta" or tensor.numel() == 0:
        return None
    key = content_digest(tensor) if content is COMPUTE else content
    if key is not None:
        cached = _STATS_CACHE.get(key)
        if cached is not None:
            return dict(cached)
    stats = _computed_stats(tensor)
    if key is not None:
        _STATS_CACHE[key] = dict(stats)
        if len(_STATS_CACHE) > STATS_CACHE_ENTRIES:
            _STATS_CACHE.popitem(last=False)
    return stats


_DTYPE_NAMES: dict[torch.dtype, str] = {}


def content_digest(tensor: torch.Tensor) -> tuple[str, tuple, str] | None:
    """(dtype, shape, a 128-bit digest of the bytes) of a plain CPU tensor up to TEXT_CACHE_BYTES; None for what
    is not just its bytes (meta, lazy, sparse, quantized, nested, conjugate or negative views, other devices).

    Taken ~9 times per probed statement, so done the short way: on the detached tensor (no autograd to turn off:
    `torch.no_grad()` costs ~2 µs a use here), its bytes hashed where they lie when contiguous."""
    if tensor.layout != torch.strided or tensor.device.type != "cpu" or tensor.is_quantized or \
            tensor.is_nested or tensor.is_conj() or tensor.is_neg() or is_uninitialized(tensor):
        return None
    numel = tensor.numel()
    if numel * tensor.element_size() > TEXT_CACHE_BYTES:
        return None
    data = tensor.detach().contiguous()
    digest = hashlib.blake2b(data.view(-1).view(torch.uint8).numpy() if numel else b"", digest_size=16).hexdigest()
    dtype = tensor.dtype
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = str(dtype)
    return (name, tuple(tensor.shape), digest)


def _computed_stats(tensor: torch.Tensor) -> dict[str, Any]:
    # every operation is on the detached values: nothing for autograd to record, no `no_grad()` needed
    data = tensor.detach()
    if data.is_complex():
        data = data.abs()
    data = data.to(torch.float64)
    numel = data.numel()
    minimum = data.min().item()
    maximum = data.max().item()
    # min and max are NaN when any element is (torch propagates NaN) and infinite when one is: both finite settle
    # that none is, and a sign shared by both that none is zero (two tensor passes fewer, per value)
    bounded = math.isfinite(minimum) and math.isfinite(maximum)
    return {
        "min": _finite(minimum),
        "max": _finite(maximum),
        "mean": _finite(data.mean().item()),
        "std": _finite(data.std().item()) if numel > 1 else None,
        "zeros": 0 if bounded and (minimum > 0 or maximum < 0) else int((data == 0).sum().item()),
        "nonfinite": 0 if bounded else int(numel - torch.isfinite(data).sum().item()),
        "all_equal": bool(minimum == maximum),
        "numel": numel,
    }


TEXT_ELEMENTS = 100  # above this, the text shows torch's own summarised form (first and last rows, `...`)


TEXT_CACHE_ENTRIES = 4096
TEXT_CACHE_BYTES = 256 * 1024  # tensors up to this size are keyed by a digest of their bytes
_TEXT_CACHE: "OrderedDict[str, str]" = OrderedDict()
# the texts this run used, the latest last, handed back for the next run: with their text when this run computed
# them, by key alone (None) when they came from the cache, so that the analysing process knows which of the texts
# it keeps are still in use (it keeps the latest used; were only computed ones reported, the texts every run finds
# would age out first)
_USED_TEXTS: "OrderedDict[str, str | None]" = OrderedDict()
TEXTS_COMPUTED = [0]  # texts torch formatted during this run (the rest came from the cache)
TEXT_KEY_LIMIT = 400


def remember_texts(entries: Any) -> None:
    """Texts an earlier run of the same document computed (the request's `texts`): with the same seed, the next run
    of an edited file meets the same values again. Only well-formed entries are taken. Called as a run starts
    (fresh or resumed from a checkpoint), it also starts the count of texts this run computes."""
    TEXTS_COMPUTED[0] = 0
    _USED_TEXTS.clear()  # a resumed run inherits its parked process's: only what this run uses is reported
    if not isinstance(entries, list):
        return
    for entry in entries[:TEXTS_CARRIED]:
        if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str) and \
                isinstance(entry[1], str) and len(entry[0]) <= TEXT_KEY_LIMIT and len(entry[1]) <= TEXT_LIMIT + 100:
            _TEXT_CACHE[entry[0]] = entry[1]
            _TEXT_CACHE.move_to_end(entry[0])
    while len(_TEXT_CACHE) > TEXT_CACHE_ENTRIES:
        _TEXT_CACHE.popitem(last=False)


def used_texts() -> list[list[str | None]]:
    """The texts this run used (at most TEXTS_CARRIED, the latest): [key, text] when it computed the text,
    [key, None] when it found it in the cache. For the analysing process to carry into the next run."""
    taken = list(_USED_TEXTS.items())[-TEXTS_CARRIED:]
    _USED_TEXTS.clear()
    return [[key, text] for key, text in taken]


def _used(key: str, text: str | None) -> None:
    if text is not None or key not in _USED_TEXTS:
        _USED_TEXTS[key] = text
    _USED_TEXTS.move_to_end(key)
    if len(_USED_TEXTS) > TEXTS_CARRIED:
        _USED_TEXTS.popitem(last=False)


def tensor_text(tensor: torch.Tensor, content: Any = COMPUTE) -> str:
    """`str(tensor)` as the user would see it, but for a large tensor summarised the way torch does past its own
    threshold: formatting every element of a 32×16 weight costs ~5 ms, a long file has thousands of them, and the
    explanation shows the statistics anyway. The user's own print options are left as they were.

    Probes show the same values many times (a parameter, its `.data`, its state_dict entry, the same weight before
    one statement and after the previous one), and torch's formatting costs about a millisecond a tensor, most of a
    probed statement's time: the text is cached under everything it is a function of (class, dtype, shape, the
    bytes of the values, requires_grad, grad_fn, the default dtype, the print options), so a cached text is the
    text torch would print. Tensors torch formats in other ways (subclasses, named, quantized, sparse, conjugate
    views, other devices) are always formatted afresh."""
    key = _text_key(tensor, content)
    if key is not None:
        cached = _TEXT_CACHE.get(key)
        if cached is not None:
            _TEXT_CACHE.move_to_end(key)
            _used(key, None)
            return cached
    TEXTS_COMPUTED[0] += 1
    if tensor.numel() <= TEXT_ELEMENTS:
        text = str(tensor)
    else:
        with torch._tensor_str.printoptions(threshold=TEXT_ELEMENTS, edgeitems=3):
            text = str(tensor)
    if key is not None:
        _TEXT_CACHE[key] = text
        if len(_TEXT_CACHE) > TEXT_CACHE_ENTRIES:
            _TEXT_CACHE.popitem(last=False)
        _used(key, text)
    return text


# how this Python spells a non-empty OrderedDict: as a list of pairs up to 3.11, as a dict literal from 3.12
_ORDERED_DICT_AS_PAIRS = {"OrderedDict([('k', 0)])": True, "OrderedDict({'k': 0})": False}.get(
    repr(OrderedDict([("k", 0)])))
CONTAINER_DEPTH = 3


class _SelfContaining(Exception):
    """A container met inside itself: Python spells that `[...]`, which only its own repr knows where to put."""


def container_text(value: Any) -> str:
    """`repr(value)` of a dict, list or tuple that holds tensors, with each tensor's text from `tensor_text`: the
    cached text (so a state dict met again costs no formatting: repr'ing one formatted every tensor in it, most of
    a resumed run of a long file) and, above TEXT_ELEMENTS elements, torch's summarised form, as every tensor text
    ParamLens shows. Containers of exactly these built-in types are spelled as Python spells them; anything else
    (a subclass, a custom `__repr__`, keys that are not plain, a container inside itself) is the value's `repr`."""
    try:
        return _composed_text(value, 0, set())
    except _SelfContaining:
        return repr(value)


def _composed_text(value: Any, depth: int, inside: set[int]) -> str:
    kind = type(value)
    if kind is torch.Tensor or kind is nn.Parameter:
        return tensor_text(value)
    if kind not in (dict, OrderedDict, list, tuple):
        return repr(value)
    if id(value) in inside:
        raise _SelfContaining
    if depth >= CONTAINER_DEPTH:
        return repr(value)
    inside = inside | {id(value)}
    if kind is list or kind is tuple:
        items = [_composed_text(item, depth + 1, inside) for item in value]
        if kind is list:
            return "[" + ", ".join(items) + "]"
        return "(" + items[0] + ",)" if len(items) == 1 else "(" + ", ".join(items) + ")"
    if not value or not all(type(key) in (str, int) for key in value) or \
            (kind is OrderedDict and _ORDERED_DICT_AS_PAIRS is None):
        return repr(value)
    pairs = [(repr(key), _composed_text(item, depth + 1, inside)) for key, item in value.items()]
    if kind is OrderedDict and _ORDERED_DICT_AS_PAIRS:
        return "OrderedDict([" + ", ".join(f"({key}, {item})" for key, item in pairs) + "])"
    opening, closing = ("OrderedDict({", "})") if kind is OrderedDict else ("{", "}")
    return opening + ", ".join(f"{key}: {item}" for key, item in pairs) + closing


def _text_key(tensor: torch.Tensor, content: Any = COMPUTE) -> str | None:
    kind = type(tensor)
    if (kind is not torch.Tensor and kind is not nn.Parameter) or \
            any(n is not None for n in getattr(tensor, "names", None) or ()) or \
            torch._C._len_torch_function_stack() or torch._C._len_torch_dispatch_stack():
        return None
    if content is COMPUTE:
        content = content_digest(tensor)  # 128 bits: two different contents never meet
    if content is None:
        return None
    options = torch._tensor_str.PRINT_OPTS
    grad_fn = tensor.grad_fn
    key = (kind.__name__, content[0], list(content[1]), bool(tensor.requires_grad),
           None if grad_fn is None else type(grad_fn).__name__, str(torch.get_default_dtype()), options.precision,
           options.threshold, options.edgeitems, options.linewidth, options.sci_mode, content[2])
    text = repr(key)
    return text if len(text) <= TEXT_KEY_LIMIT else None


def tensor_summary(tensor: torch.Tensor, owners: Callable[[torch.Tensor], list] | None = None,
                   text: bool = True) -> dict[str, Any]:
    lazy = is_uninitialized(tensor)
    summary: dict[str, Any] = {
        "kind": "tensor",
        "parameter": isinstance(tensor, nn.Parameter),
        "class": type(tensor).__name__,
        "shape": None if lazy else list(tensor.shape),
        "dtype": dtype_name(tensor.dtype),
        "requires_grad": bool(tensor.requires_grad),
        "numel": None if lazy else tensor.numel(),
        "device": tensor.device.type,
        "lazy": lazy,
        "grad_fn": type(tensor.grad_fn).__name__ if tensor.grad_fn is not None else None,
        "is_leaf": bool(tensor.is_leaf),
    }
    if not lazy:
        # the values' digest once, for both caches (a pass over up to 256 KB)
        content = content_digest(tensor)
        summary["stats"] = tensor_stats(tensor, content)
        if tensor.device.type != "meta" and tensor.numel() <= VALUES_LIMIT:
            summary["values"] = plain_values(tensor)
        if text and tensor.device.type != "meta":
            summary["text"] = _clip(tensor_text(tensor, content))
    if isinstance(tensor, nn.Parameter):
        summary["has_grad"] = tensor.grad is not None
    if owners is not None:
        summary["owner"] = owners(tensor)
    return summary


def named_parameters_all(module: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return list(module.named_parameters(remove_duplicate=False))


def _numel(tensor: torch.Tensor) -> int:
    return 0 if is_uninitialized(tensor) else tensor.numel()


class ParameterCensus:
    """A module's parameters from one walk of `named_parameters(remove_duplicate=False)`: each parameter at every
    path it is reachable by. `named_parameters()` and `parameters()` are its first occurrences (torch walks the
    same modules in the same order and skips what it met already), so the counts, the tied groups and the
    parameter list of a module table come from one walk instead of four (a long file's final table has hundreds
    of models)."""

    def __init__(self, module: nn.Module) -> None:
        every = named_parameters_all(module)
        groups: dict[int, list[str]] = OrderedDict()
        first: dict[int, tuple[str, nn.Parameter]] = {}
        for name, param in every:
            groups.setdefault(id(param), []).append(name)
            first.setdefault(id(param), (name, param))
        self.named = list(first.values())  # as module.named_parameters()
        self.tied = [names for names in groups.values() if len(names) > 1]
        # (unique parameters' elements, elements counted at every path: tied weights twice)
        self.counts = (sum(_numel(p) for _, p in self.named), sum(_numel(p) for _, p in every))


def module_brief(module: nn.Module, census: ParameterCensus | None = None) -> dict[str, Any]:
    unique, with_duplicates = (census or ParameterCensus(module)).counts
    return {"kind": "module", "class": type(module).__name__, "extra": _clip(module.extra_repr(), 300),
            "param_count": unique, "param_count_with_duplicates": with_duplicates}


ELEMENTWISE = {"ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Tanh",
               "Sigmoid", "Hardtanh", "Hardswish", "Hardsigmoid", "Softplus", "Softsign", "Tanhshrink", "Dropout",
               "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "Identity", "LogSigmoid"}


def feature_sizes(module: nn.Module) -> dict[str, Any] | None:
    """What a layer expects and produces along the feature axis, for checking consecutive layers: `in`/`out`
    sizes (None when the layer does not constrain them), `keeps` for elementwise layers that pass sizes through."""
    name = type(module).__name__
    if name in ELEMENTWISE:
        return {"keeps": True}
    for inner, outer in (("in_features", "out_features"), ("in_channels", "out_channels")):
        if hasattr(module, inner) and hasattr(module, outer):
            size_in, size_out = getattr(module, inner), getattr(module, outer)
            if isinstance(size_in, int) and isinstance(size_out, int):
                return {"in": size_in if size_in > 0 else None, "out": size_out, "kind": inner.split("_")[1]}
    if hasattr(module, "num_features") and isinstance(getattr(module, "num_features"), int):
        size = module.num_features  # BatchNorm/InstanceNorm: channels after a conv, features after a linear
        return {"in": size, "out": size, "kind": "any"}
    if hasattr(module, "normalized_shape") and isinstance(getattr(module, "normalized_shape"), tuple) \
            and module.normalized_shape:
        size = module.normalized_shape[-1]
        return {"in": size, "out": size, "kind": "features"}
    if hasattr(module, "embedding_dim") and isinstance(getattr(module, "embedding_dim"), int):
        return {"in": None, "out": module.embedding_dim, "kind": "features"}
    return None


def _repeated_children(module: nn.Module) -> set[int]:
    """Ids of child objects placed at more than one position of `module`."""
    counts: dict[int, int] = {}
    for child in list(module._modules.values())[:PARAMS_LIMIT]:
        if child is not None:
            counts[id(child)] = counts.get(id(child), 0) + 1
    return {key for key, n in counts.items() if n > 1}


def module_summary(module: nn.Module, owners: Callable[[Any], list] | None = None) -> dict[str, Any]:
    census = ParameterCensus(module)
    summary = module_brief(module, census)
    params = []
    for index, (name, param) in enumerate(census.named):
        if index >= PARAMS_LIMIT:
            break
        lazy = is_uninitialized(param)
        params.append({"name": name, "shape": None if lazy else list(param.shape), "numel": _numel(param),
                       "dtype": dtype_name(param.dtype), "requires_grad": bool(param.requires_grad), "lazy": lazy})
    seen: dict[int, str] = {}
    children = []
    repeated = _repeated_children(module)
    for index, (name, child) in enumerate(module._modules.items()):
        if index >= PARAMS_LIMIT or child is None:
            continue
        unique, _ = ParameterCensus(child).counts
        children.append({"name": name, "class": type(child).__name__, "extra": _clip(child.extra_repr(), 200),
                         "param_count": unique, "same_as": seen.get(id(child)), "io": feature_sizes(child),
                         "submodules": sum(1 for grandchild in child._modules.values() if grandchild is not None)})
        if id(child) in repeated and owners is not None and id(child) not in seen:
            children[-1]["owner"] = owners(child)  # the variable a shared layer is bound to names it
        seen.setdefault(id(child), name)
    summary.update({
        "parameters": params,
        "parameters_total": len(census.named),
        "tied": census.tied,
        "children": children,
        "state_dict_keys": list(module.state_dict().keys())[:PARAMS_LIMIT],
        "buffers": [{"name": n, "shape": list(b.shape)} for n, b in list(module.named_buffers())[:PARAMS_LIMIT]],
        "text": _clip(str(module)),
        "training": module.training,
    })
    if owners is not None:
        summary["owner"] = owners(module)
    return summary


def optimizer_summary(optimizer: torch.optim.Optimizer, owners: Callable[[Any], list] | None) -> dict[str, Any]:
    groups = []
    for group in optimizer.param_groups[:ITEMS_LIMIT]:
        params = group["params"]
        options = {k: v for k, v in group.items() if k != "params" and isinstance(v, (int, float, bool, str))}
        names = []
        for param in params[:6]:
            found = owners(param) if owners is not None else []
            names.append(found[0]["path"] if found else None)
        groups.append({"tensors": len(params), "numel": sum(_numel(p) for p in params), "options": options,
                       "names": names})
    return {"kind": "optimizer", "class": type(optimizer).__name__, "groups": groups,
            "total_groups": len(optimizer.param_groups)}


def summarize(value: Any, owners: Callable[[Any], list] | None = None, depth: int = 0) -> dict[str, Any]:
    """A JSON-safe description of any value, detailed for the types parameter code deals with."""
    if isinstance(value, nn.Module):
        return module_summary(value, owners) if depth == 0 else module_brief(value)
    if isinstance(value, torch.Tensor):
        return tensor_summary(value, owners if depth < 2 else None)
    if value is None:
        return {"kind": "none"}
    if isinstance(value, (bool, int, float, str)):
        return {"kind": "scalar", "type": type(value).__name__, "text": _clip(repr(value), 500)}
    if isinstance(value, torch.Size):
        return {"kind": "size", "shape": list(value), "text": repr(value)}
    if isinstance(value, dict) and value and all(isinstance(v, torch.Tensor) for v in value.values()):
        entries = []
        for index, (key, tensor) in enumerate(value.items()):
            if index >= PARAMS_LIMIT:
                break
            entry = tensor_summary(tensor, owners if index < ITEMS_LIMIT else None, text=index < ITEMS_LIMIT)
            entry["key"] = str(key)
            entries.append(entry)
        # `state_dict()` marks its dict with `_metadata` (kept through torch.save/torch.load): a state dict, not a
        # dict of tensors the program assembled itself
        return {"kind": "state_dict", "type": type(value).__name__, "count": len(value), "entries": entries,
                "from_state_dict": hasattr(value, "_metadata"), "text": _clip(container_text(value))}
    if isinstance(value, (tuple, list)) and depth < 2:
        return {"kind": "sequence", "type": type(value).__name__, "count": len(value),
                "items": [summarize(item, owners, depth + 1) for item in list(value)[:ITEMS_LIMIT]],
                "text": _clip(container_text(value))}
    if isinstance(value, torch.optim.Optimizer):
        return optimizer_summary(value, owners)
    if isinstance(value, type):
        return {"kind": "type", "name": f"{value.__module__}.{value.__qualname__}",
                "mro": [f"{t.__module__}.{t.__qualname__}" for t in value.__mro__[:6]]}
    try:
        text = repr(value)
    except Exception as error:  # a user's __repr__ may raise
        text = f"<unprintable {type(value).__name__}: {error}>"
    return {"kind": "object", "type": type(value).__name__, "text": _clip(text, 500)}

"""The shared view of the tree every recognizer gets: ranges, source text, qualified names, scope facts."""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import PositionProvider

from paramlens.analyzers.names import NameResolver, dotted_name, iter_statements

from paramlens.analyzers.source import ParsedSource, span_of
from paramlens.report import Span

# Attribute names that name (or unwrap) a parameter tensor.
PARAM_ATTRS = frozenset({"weight", "bias", "data", "grad"})


# words that make a `weight_*` / `*_bias` name a setting, not a tensor (`weight_decay`, `init_weight_std`)
SETTING_WORDS = frozenset({"decay", "init", "initializer", "std", "scale", "lr", "dim", "size", "norm", "tying",
                           "tie", "share", "sharing", "type", "mode", "file", "path", "dtype", "fn", "func", "name",
                           "names", "factor", "ratio", "eps", "clip", "loss", "decay_rate"})


def is_param_attr_name(name: str) -> bool:
    """`weight`, `bias`, `.data`, `.grad`, and the common compound names (`weight_ih_l0`, `in_proj_bias`), but not
    settings named after them (`weight_decay`)."""
    if name in PARAM_ATTRS:
        return True
    if not (name.startswith(("weight_", "bias_")) or name.endswith(("_weight", "_bias"))):
        return False
    return not SETTING_WORDS.intersection(name.lower().split("_"))


@dataclass
class RecognitionContext:
    parsed: ParsedSource
    positions: dict
    qualified: "NameResolver"
    module_classes: set[str] = field(default_factory=set)
    local_functions: set[str] = field(default_factory=set)
    function_stack: list[str] = field(default_factory=list)
    class_depth: int = 0
    target_nodes: set[int] = field(default_factory=set)
    call_funcs: set[int] = field(default_factory=set)
    # variables (per enclosing function) bound to a state dict: `sd = net.state_dict()`, `sd = torch.load(path)`
    state_dict_names: set[tuple[str | None, str]] = field(default_factory=set)

    def span(self, node: cst.CSTNode) -> Span:
        return span_of(self.positions[node])

    def code(self, node: cst.CSTNode) -> str:
        return self.parsed.module.code_for_node(node)

    def qualnames(self, node: cst.CSTNode) -> set[str]:
        return self.qualified.qualnames(node)

    def qualname_startswith(self, node: cst.CSTNode, prefix: str) -> bool:
        return any(name == prefix.rstrip(".") or name.startswith(prefix) for name in self.qualnames(node))

    @property
    def function(self) -> str | None:
        return self.function_stack[-1] if self.function_stack else None

    @property
    def at_top_level(self) -> bool:
        return not self.function_stack and self.class_depth == 0

    def in_target(self, node: cst.CSTNode) -> bool:
        return id(node) in self.target_nodes

    def is_nn_init(self, func: cst.CSTNode) -> str | None:
        """The initialiser's name when `func` resolves to `torch.nn.init.<name>_`."""
        for name in self.qualnames(func):
            if name.startswith("torch.nn.init."):
                short = name.rsplit(".", 1)[1]
                if short.endswith("_") and not short.startswith("_"):
                    return short
        return None

    def is_module_constructor(self, func: cst.CSTNode) -> str | None:
        """The class name when `func` constructs an nn.Module: `nn.Linear`, `torch.nn.Sequential`, a class of
        this file that derives from one."""
        for name in self.qualnames(func):
            if name.startswith("torch.nn.") and not name.startswith(("torch.nn.init.", "torch.nn.functional.",
                                                                      "torch.nn.utils.")):
                short = name.rsplit(".", 1)[1]
                if short[:1].isupper() and short not in {"Parameter", "Buffer", "Module"}:
                    return short
            if name in self.module_classes:
                return name
        return None


def module_bases_closure(module: cst.Module, qualified: "NameResolver") -> set[str]:
    """Names of classes defined in the file that derive (directly or through each other) from nn.Module."""
    classes: dict[str, list[set[str]]] = {}
    for node in iter_statements(module.body):
        if isinstance(node, cst.ClassDef):
            bases = []
            for arg in node.bases:
                names = qualified.qualnames(arg.value)
                names.add(dotted_name(arg.value) or "")
                bases.append(names)
            classes[node.name.value] = bases
    return module_classes_among(classes)


def module_classes_among(classes: dict[str, list[set[str]]]) -> set[str]:
    """The classes (name -> each base's possible qualified names) that derive from a torch.nn class, directly or
    through each other: a fixed point, since a class may come before its base in the file."""
    found: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, bases in classes.items():
            if name in found:
                continue
            for base in bases:
                if any(b.startswith("torch.nn.") and b.rsplit(".", 1)[1][:1].isupper() for b in base) or \
                        base & found:
                    found.add(name)
                    changed = True
                    break
    return found


def attribute_chain_root_attr(node: cst.CSTNode) -> bool:
    """True when an Attribute/Subscript chain contains a parameter attribute (`net[0].weight.data[0]`)."""
    while isinstance(node, (cst.Attribute, cst.Subscript)):
        if isinstance(node, cst.Attribute) and is_param_attr_name(node.attr.value):
            return True
        node = node.value
    return False


__all__ = ["RecognitionContext", "PositionProvider", "NameResolver", "PARAM_ATTRS", "is_param_attr_name",
           "module_bases_closure", "dotted_name", "attribute_chain_root_attr"]

"""Examples, decided in the sandbox after the file's own statements ran: which of the file's classes are modules,
which factories it offers, and what to build (the static plan is analyzers/examples.py).

Why here and not from the source: a class is a module because of what it is, not because of how its base is
spelled (`class BertModel(BertPreTrainedModel)` whose base comes from another module, timm's
`VisionTransformerDistilled(VisionTransformer)`), and the arguments a class needs are those of the constructor
Python will call (inherited from another module, or passed on through `*args, **kwargs`). So each decision reads
the objects the file defined: `issubclass(cls, nn.Module)`, `inspect.signature`, annotations, `config_class`.

A class that needs exactly one argument gets a config built with its defaults, from (in this order) the class the
parameter's annotation names, the class's `config_class` or its `config` annotation (transformers), the one
config-like class of the file's namespace, or the config class of the package's matching configuration module
(`modeling_bert.py` -> `configuration_bert.py`). The expression that was built is reported as it would be
written (`BertModel(BertConfig())`), and every failure is the example's, never the file's (PL904).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
from typing import Any, Callable

from torch import nn

CONFIG_SUFFIXES = ("config", "cfg", "args", "params", "hparams", "options", "settings")
CONFIG_PARAMETER_SUFFIXES = CONFIG_SUFFIXES + ("opt", "hps")
EMPTY = inspect.Parameter.empty
NAMED = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


class NotBuilt(Exception):
    """An example that is not attempted, with the reason (a code and its facts) the report gives."""

    def __init__(self, reason: str, **facts: Any) -> None:
        super().__init__(reason)
        self.reason, self.facts = reason, facts


def own_classes(namespace: dict[str, Any], own_modules: set[str]) -> list[type]:
    """The classes the file itself defined (their `__module__` is the file's), in the namespace's order."""
    return [value for name, value in list(namespace.items()) if isinstance(value, type) and not name.startswith("__")
            and getattr(value, "__module__", None) in own_modules and value.__name__ == name]


def module_classes(namespace: dict[str, Any], own_modules: set[str]) -> list[str]:
    return [cls.__name__ for cls in own_classes(namespace, own_modules) if issubclass(cls, nn.Module)]


def effective_signature(cls: type) -> inspect.Signature | None:
    """The parameters `cls(...)` really takes: the first `__init__` along the MRO that names its parameters (an
    `__init__(self, *args, **kwargs)` passes everything on to its base, as QuantizableResNet's does)."""
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        try:
            signature = inspect.signature(init)
        except (TypeError, ValueError):
            return None
        parameters = list(signature.parameters.values())[1:]  # self
        if parameters and all(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters):
            continue
        return signature.replace(parameters=parameters)
    return inspect.Signature()


def required_parameters(signature: inspect.Signature) -> list[inspect.Parameter]:
    return [p for p in signature.parameters.values() if p.kind in NAMED and p.default is EMPTY]


def _resolve(annotation: Any, namespace: dict[str, Any]) -> list[type]:
    """The classes an annotation names: a class, a string naming one in the namespace (`"BertConfig"`), or a
    union of them (`BertConfig | None`). Strings are looked up, never evaluated."""
    if annotation is EMPTY or annotation is None:
        return []
    if isinstance(annotation, type):
        return [annotation]
    if isinstance(annotation, str):
        name = annotation.strip().strip("'\"").split("|")[0].strip()
        value = namespace.get(name)
        return [value] if isinstance(value, type) else []
    return [a for a in getattr(annotation, "__args__", ()) or () if isinstance(a, type)]


def _default_constructible(cls: type) -> bool:
    if issubclass(cls, nn.Module) or cls.__module__ == "builtins":
        return False
    signature = effective_signature(cls)
    return signature is not None and not required_parameters(signature)


def _is_config_name(name: str) -> bool:
    return name.lower().endswith(CONFIG_SUFFIXES)


def config_for(cls: type, parameter: inspect.Parameter, namespace: dict[str, Any],
               paired: Callable[[], list[type]]) -> tuple[type, str] | None:
    """The config class to build with defaults for `cls`'s one required parameter, and where it came from."""
    annotated = [c for c in _resolve(parameter.annotation, namespace) if _default_constructible(c)]
    if annotated:
        return annotated[0], "annotation"
    if parameter.annotation is not EMPTY and not annotated and _resolve(parameter.annotation, namespace):
        return None  # `dim: int`: not a config
    for klass in cls.__mro__:
        declared = klass.__dict__.get("config_class")
        if isinstance(declared, type) and _default_constructible(declared):
            return declared, "config_class"
        hinted = [c for c in _resolve(klass.__dict__.get("__annotations__", {}).get(parameter.name), namespace)
                  if _default_constructible(c)]
        if hinted:
            return hinted[0], "config_class"
    if not parameter.name.lower().endswith(CONFIG_PARAMETER_SUFFIXES):
        return None
    candidates = [v for k, v in list(namespace.items()) if isinstance(v, type) and k == v.__name__ and
                  _is_config_name(k) and _default_constructible(v)]
    chosen = _one_for(cls, candidates)
    if chosen is not None:
        return chosen, "namespace"
    chosen = _one_for(cls, [c for c in paired() if _default_constructible(c)])
    return (chosen, "configuration module") if chosen is not None else None


def _one_for(cls: type, candidates: list[type]) -> type | None:
    """The one candidate, or among several the one whose name shares the longest start with the class's
    (`BertEmbeddings` -> `BertConfig`), when that is unique."""
    unique = list(dict.fromkeys(candidates))
    if len(unique) <= 1:
        return unique[0] if unique else None

    def shared(candidate: type) -> int:
        return len(os.path.commonprefix([candidate.__name__.lower(), cls.__name__.lower()]))

    best = max(shared(c) for c in unique)
    top = [c for c in unique if shared(c) == best]
    return top[0] if len(top) == 1 and best >= 3 else None


def paired_configs(module_name: str | None, package: str | None) -> list[type]:
    """Config classes of the package's configuration module paired with this file by name (`modeling_bert` ->
    `configuration_bert`, `config_bert`; or the package's `configuration` / `config` module), imported the way the
    file's own `from .configuration_bert import BertConfig` would."""
    if not module_name or not package:
        return []
    stem = module_name.rsplit(".", 1)[-1]
    rest = stem.split("_", 1)[1] if "_" in stem else stem
    found: list[type] = []
    for candidate in (f"configuration_{rest}", f"config_{rest}", "configuration", "config"):
        name = f"{package}.{candidate}"
        if name == module_name or importlib.util.find_spec(name) is None:
            continue
        try:
            configs = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a configuration module that does not import offers nothing
            continue
        found += [v for k, v in list(vars(configs).items()) if isinstance(v, type) and k == v.__name__ and
                  v.__module__ == name and _is_config_name(k)]
        if found:
            return found
    return found


def plan_class(cls: type, namespace: dict[str, Any], paired: Callable[[], list[type]]) -> tuple[str, Callable[[], Any],
                                                                                                  str]:
    """(expression, build, how) for a module class of the file, or NotBuilt when its arguments cannot be chosen."""
    signature = effective_signature(cls)
    if signature is None:
        raise NotBuilt("signature")
    required = required_parameters(signature)
    name = cls.__name__
    if not required:
        return f"{name}()", cls, "defaults"
    if len(required) == 1:
        found = config_for(cls, required[0], namespace, paired)
        if found is not None:
            config, source = found
            return f"{name}({config.__name__}())", lambda: cls(config()), f"config:{source}"
    raise NotBuilt("arguments", parameters=[p.name for p in required][:6])


def factory_class_of(function: Any, namespace: dict[str, Any]) -> type | None:
    """The nn.Module class a factory's return annotation names, or None."""
    try:
        annotation = inspect.signature(function).return_annotation
    except (TypeError, ValueError):
        return None
    classes = [c for c in _resolve(annotation, namespace) if issubclass(c, nn.Module)]
    return classes[0] if classes else None


class ExampleRunner:
    """`__pl_example__(index)`, called by the synthetic example units (analyzers/instrument.py): decides, builds,
    records (the example's VALUE probe, so its explanation shows what was built) and emits one `example` event
    per unit: {index, status: "building" | "skipped", class, expression, how, reason, facts}."""

    def __init__(self, namespace: dict[str, Any], plans: dict[int, dict[str, Any]], emit: Callable[[dict], None],
                 has_instance: Callable[[str], bool], record: Callable[[int, Any], Any], own_modules: set[str],
                 module_name: str | None, package: str | None, event_kind: str, factories_kind: str,
                 names: dict[str, str]) -> None:
        self.namespace, self.plans, self.emit = namespace, plans, emit
        self.has_instance, self.record, self.own_modules = has_instance, record, own_modules
        self.module_name, self.package = module_name, package
        self.event_kind, self.factories_kind = event_kind, factories_kind
        self._paired: list[type] | None = None
        self.names = names  # the variable an example is bound to -> the expression the report names it by
        self.primary: list[nn.Module] = []
        self.base_model = False  # the class being built is a base model found inside the primary examples  # the models built as examples because nothing of their class existed

    def paired(self) -> list[type]:
        if self._paired is None:
            self._paired = paired_configs(self.module_name, self.package)
        return self._paired

    def __call__(self, index: int) -> Any:
        plan = self.plans.get(index) or {}
        kind = plan.get("kind")
        self.base_model = False
        try:
            if kind == "directive":
                return self._directive(index, plan)
            expression, build, how, cls = self._factory(index, plan) if kind == "factory" else \
                self._class(plan["class"])
        except NotBuilt as skipped:
            self.emit({"t": self.event_kind, "index": index, "status": "skipped", "class": plan.get("class"),
                       "reason": skipped.reason, "facts": skipped.facts})
            return None
        self.emit({"t": self.event_kind, "index": index, "status": "building", "class": cls, "expression": expression,
                   "how": how})
        if plan.get("name"):
            self.names[plan["name"]] = expression
        built = build()
        if not isinstance(built, nn.Module):
            self.emit({"t": self.event_kind, "index": index, "status": "skipped", "class": cls,
                       "reason": "not_module", "facts": {"returned": type(built).__name__, "expression": expression}})
            return None
        self.emit({"t": self.event_kind, "index": index, "status": "built", "class": type(built).__name__})
        if not (kind == "class" and self.base_model):
            self.primary.append(built)
        return self.record(index, built)

    def _directive(self, index: int, plan: dict[str, Any]) -> bool:
        """A directive is evaluated by its unit as written; this only says whether to, and what it is."""
        name = plan.get("class") or ""
        cls = self.namespace.get(name)
        if isinstance(cls, type) and issubclass(cls, nn.Module) and self.has_instance(name):
            self.emit({"t": self.event_kind, "index": index, "status": "skipped", "class": name, "reason": "instance",
                       "facts": {}})
            return False
        self.emit({"t": self.event_kind, "index": index, "status": "building", "class": name,
                   "expression": plan.get("expression"), "how": plan.get("chosen") or "comment"})
        return True

    def _base_model_inside_examples(self, cls: type) -> bool:
        """Whether `cls` exists only as a direct child of models built as examples that share a base class of
        their own with it: transformers' `BertModel` inside `BertForMaskedLM` (both `BertPreTrainedModel`s). Such
        a base model is what a reader of the file has in mind, so it is built on its own as well; blocks inside it
        are not (they do not share the models' base)."""
        if not self.primary:
            return False
        shared = None
        for root in self.primary:
            bases = {b for b in type(root).__mro__ if b not in (object, nn.Module) and
                     not b.__module__.startswith("torch.")}
            shared = bases if shared is None else shared & bases
        if not shared or not any(issubclass(cls, base) for base in shared):
            return False
        depths = set()
        for root in self.primary:
            depths.update(name.count(".") + 1 if name else 0 for name, m in root.named_modules() if isinstance(m, cls))
        elsewhere = any(isinstance(v, nn.Module) and not k.startswith("__pl_example_") and
                        any(isinstance(m, cls) for m in v.modules()) for k, v in list(self.namespace.items()))
        return depths == {1} and not elsewhere

    def _factory(self, index: int, plan: dict[str, Any]) -> tuple[str, Callable[[], Any], str, str | None]:
        listed: list[dict[str, Any]] = []
        callables: dict[str, Any] = {}
        for name, line, _annotated, builds in plan.get("factories", []):
            function = self.namespace.get(name)
            if not callable(function) or getattr(function, "__module__", None) not in self.own_modules:
                continue
            cls = factory_class_of(function, self.namespace)
            if cls is None and not builds:
                continue
            listed.append({"name": name, "line": line, "class": cls.__name__ if cls is not None else None})
            callables[name] = (function, cls)
        self.emit({"t": self.factories_kind, "index": index, "factories": listed})
        if plan.get("listed"):
            raise NotBuilt("listed")  # a comment or the editor chose the example; the factories are only listed
        if not listed:
            raise NotBuilt("no_factory")
        first = listed[0]
        function, cls = callables[first["name"]]
        if cls is not None and self.has_instance(cls.__name__):
            raise NotBuilt("instance", factory=first["name"], built=cls.__name__)
        if cls is None and any(self.has_instance(name) for name in module_classes(self.namespace, self.own_modules)):
            raise NotBuilt("instance", factory=first["name"])  # the file built its own models
        return f"{first['name']}()", function, "factory", first["class"]

    def _class(self, name: str) -> tuple[str, Callable[[], Any], str, str]:
        cls = self.namespace.get(name)
        if not isinstance(cls, type) or cls.__name__ != name:
            raise NotBuilt("undefined")
        if getattr(cls, "__module__", None) not in self.own_modules:
            raise NotBuilt("imported")
        if not issubclass(cls, nn.Module):
            raise NotBuilt("not_module")
        self.base_model = self.has_instance(name)
        if self.base_model and not self._base_model_inside_examples(cls):
            raise NotBuilt("instance")
        if inspect.isabstract(cls):
            raise NotBuilt("abstract")
        expression, build, how = plan_class(cls, self.namespace, self.paired)
        return expression, build, how, name

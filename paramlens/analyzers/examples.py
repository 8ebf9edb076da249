"""Library files without a driver: which nn.Module classes to build as examples, and how.

Many model files only define classes (GPT-, ResNet-style) and never instantiate them at top level. After the file's
own statements, ParamLens builds each module class that has no instance yet: with a `# paramlens: example EXPR`
directive when the user wrote one (`# paramlens: example GPT(GPTConfig(n_layer=2))`), else automatically when the
class can be built from defaults — no required argument, or one required argument that a config class of the file
with only defaulted fields can fill — or, for a class that needs arguments, through the first factory function of
the file that needs none and returns it (torchvision's `def resnet18(*, weights=None, **kwargs) -> ResNet`).
Factories run first and classes are tried from the last defined to the first, so a model built first already
contains its blocks and they are not built again. Models too large for the CPU go to the meta device like any other
run. A factory that trains, writes files or waits for input (the slicer's judgement) is never called.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import libcst as cst

from paramlens.analyzers.bindings import OwnCodeVisitor

DIRECTIVE = re.compile(r"#\s*paramlens:\s*example\s+(?P<expression>.+?)\s*$")


@dataclass(frozen=True)
class Example:
    """One synthetic unit that may build a model after the file's own statements. What it builds is decided in the
    sandbox, from the objects the file defined (sandbox/examples.py): `kind` "directive" evaluates `expression` as
    written (a `# paramlens: example` comment, or the factory chosen in the editor); "factory" calls the first of
    `factories` (ranked, see `rank_factories`) that turns out to return an nn.Module; "class" builds `class_name`
    from defaults or from its config class, when it is an nn.Module subclass of the file that has no instance."""

    class_name: str
    expression: str
    line: int          # the class definition, the factory, or the directive the example belongs to
    directive: bool
    kind: str = "class"
    factories: tuple = ()  # kind "factory": (name, line, annotated class or None, builds a class of the file) ranked
    chosen: str | None = None  # kind "directive": "comment" or "editor"

    def to_json(self) -> dict:
        data = {"kind": self.kind, "class": self.class_name, "expression": self.expression}
        if self.factories:
            data["factories"] = [list(f) for f in self.factories]
        if self.chosen:
            data["chosen"] = self.chosen
            data["listed"] = self.chosen == "listed"
        return data


def _required_parameters(function: cst.FunctionDef) -> list[cst.Param]:
    params = list(function.params.posonly_params) + list(function.params.params)
    params = params[1:] if params and params[0].name.value in {"self", "cls"} else params
    required = [p for p in params if p.default is None]
    required += [p for p in function.params.kwonly_params if p.default is None]
    return required


def _init_of(node: cst.ClassDef) -> cst.FunctionDef | None:
    body = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
    for statement in body:
        if isinstance(statement, cst.FunctionDef) and statement.name.value == "__init__":
            return statement
    return None


def _base_names(node: cst.ClassDef) -> list[str]:
    return [base.value.value for base in node.bases if base.keyword is None and isinstance(base.value, cst.Name)]


# bases from torch whose constructor needs no argument; any other base from outside the file is assumed to need
# some (nn.Linear, nn.LayerNorm, nn.Conv2d, nn.Embedding, a library's block ...)
NO_ARGUMENT_BASES = {"Module", "Sequential", "ModuleList", "ModuleDict", "Identity", "ReLU", "GELU", "SiLU",
                     "Tanh", "Sigmoid", "Dropout", "Flatten"}


def _external_base_needs_arguments(base: cst.Arg, classes: dict[str, cst.ClassDef]) -> bool:
    value = base.value
    name = value.value if isinstance(value, cst.Name) else value.attr.value if isinstance(value, cst.Attribute) \
        else None
    if name is None or (isinstance(value, cst.Name) and name in classes):
        return False
    return name not in NO_ARGUMENT_BASES and name not in {"ABC", "object", "Generic"}


def _constructor_needs_arguments(node: cst.ClassDef, classes: dict[str, cst.ClassDef], depth: int = 0) -> bool:
    """Whether `Class()` lacks a required argument: its own `__init__` requires one, or it has no `__init__` (or
    one with only `*args` / `**kwargs`, passed on) and a base class of the same file requires one (x-transformers'
    `class Encoder(AttentionLayers): def __init__(self, **kwargs)` needs AttentionLayers' `dim`)."""
    init = _init_of(node)
    if init is not None and _required_parameters(init):
        return True
    if init is None and any(_external_base_needs_arguments(base, classes) for base in node.bases
                            if base.keyword is None):
        return True  # `class LayerNorm(nn.LayerNorm): def forward(...)`: torch's constructor wants arguments
    # an `__init__(self, *args, **kwargs)` with nothing of its own passes everything on to the base class
    named = [*init.params.posonly_params, *init.params.params, *init.params.kwonly_params][1:] if init else []
    forwards = init is None or (not named and (isinstance(init.params.star_arg, cst.Param) or
                                               init.params.star_kwarg is not None))
    if not forwards or depth > 10:
        return False
    return any(_constructor_needs_arguments(classes[base], classes, depth + 1)
               for base in _base_names(node) if base in classes and base != node.name.value)


def _default_constructible(node: cst.ClassDef) -> bool:
    """A config class that `Config()` builds: an `__init__` whose parameters all have defaults, or (a dataclass or
    a plain class) whose annotated fields all have values."""
    init = _init_of(node)
    if init is not None:
        return not _required_parameters(init)
    body = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
    for statement in body:
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if isinstance(small, cst.AnnAssign) and small.value is None:
                    return False
    return True


def _annotation_name(param: cst.Param) -> str | None:
    annotation = param.annotation.annotation if param.annotation is not None else None
    if isinstance(annotation, cst.Name):
        return annotation.value
    if isinstance(annotation, cst.SimpleString):
        return annotation.evaluated_value
    return None


# A factory is a call ParamLens adds on its own initiative, after the file's own statements, to show a model the
# file never builds. Unlike the file's own code (which always runs, as Python would run it), such a call must be one
# a reader would expect to only build a model: not one that trains, writes files, downloads or waits for a person.
_TRAINING_METHODS = frozenset({"backward", "step", "zero_grad"})
_SIDE_EFFECT_CALLS = frozenset({"save", "to_csv", "savefig", "remove", "unlink", "rmtree", "write_text",
                                "write_bytes", "system", "makedirs", "mkdir", "rename", "input", "sleep", "show"})


class _SideEffects(OwnCodeVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        name = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) \
            else None
        if name in _TRAINING_METHODS or name in _SIDE_EFFECT_CALLS:
            self.found = True
        if name == "open" and any(isinstance(arg.value, cst.SimpleString) and
                                  any(c in str(arg.value.evaluated_value) for c in "wax+") for arg in node.args[1:]):
            self.found = True
        if any(arg.keyword is not None and arg.keyword.value == "download" for arg in node.args):
            self.found = True


def runs_only_model_code(node: cst.CSTNode) -> bool:
    """Whether a factory's body only builds (see the note above `_TRAINING_METHODS`)."""
    scan = _SideEffects()
    node.visit(scan)
    return not scan.found


class _FactoryBody(OwnCodeVisitor):
    """One pass over a function's own body: does it return a value, and which module classes of the file does it
    call by name (not inside nested definitions)."""

    def __init__(self, module_classes: set[str]) -> None:
        super().__init__()
        self.module_classes = module_classes
        self.returns_value = False
        self.called: set[str] = set()

    returns_call = False

    def visit_Return(self, node: cst.Return) -> None:
        self.returns_value = self.returns_value or node.value is not None
        self.returns_call = self.returns_call or isinstance(node.value, cst.Call)

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value in self.module_classes:
            self.called.add(node.func.value)


def factory_facts(function: cst.FunctionDef, classes: set[str]) -> tuple[str | None, bool] | None:
    """For a top-level function a reader may call with no arguments to get a model: (the class its return
    annotation names, or None; whether its body calls a class of the file). None when it
    needs an argument, is private, returns nothing or does something a model build must not (see above)."""
    if function.name.value.startswith("_") or _required_parameters(function):
        return None
    body = _FactoryBody(classes)
    function.body.visit(body)
    if not body.returns_value or not runs_only_model_code(function.body):
        return None
    returns = function.returns.annotation if function.returns is not None else None
    annotated = returns.value if isinstance(returns, cst.Name) else returns.attr.value \
        if isinstance(returns, cst.Attribute) else returns.evaluated_value if isinstance(returns, cst.SimpleString) \
        else None
    return annotated, bool(body.called)


def factory_class(function: cst.FunctionDef, module_classes: set[str]) -> str | None:
    """The module class a top-level function builds when called with no arguments: the class its return
    annotation names, else the only module class its body calls. None when the function needs an argument, is
    private, returns nothing, or does something a model build must not (train, write files, wait for input)."""
    if function.name.value.startswith("_") or _required_parameters(function):
        return None
    body = _FactoryBody(module_classes)
    function.body.visit(body)
    if not body.returns_value or not runs_only_model_code(function.body):
        return None
    returns = function.returns.annotation if function.returns is not None else None
    annotated = returns.value if isinstance(returns, cst.Name) else \
        returns.evaluated_value if isinstance(returns, cst.SimpleString) else None
    if annotated in module_classes:
        return annotated
    return next(iter(body.called)) if len(body.called) == 1 else None


CONFIG_SUFFIXES = ("config", "cfg", "args", "params", "hparams", "options", "settings")


def _config_candidates(param: cst.Param, configs: set[str]) -> list[str]:
    """The config classes that can fill the one required parameter: the one its annotation names (an annotation
    naming anything else, like `dim: int`, rules the guess out), else, for a parameter named like a config
    (`config`, `cfg`, `args`, `hparams`), the config-like classes of the file."""
    wanted = _annotation_name(param)
    if param.annotation is not None:
        return [wanted] if wanted in configs else []
    if not param.name.value.lower().endswith(CONFIG_SUFFIXES + ("opt", "hps")):
        return []
    return sorted(c for c in configs if c.lower().endswith(CONFIG_SUFFIXES))


_TOKENS = re.compile(r"[a-z]+|\d+")
# size words of model families, smallest first; "b" as in torchvision's `vit_b_16`
SIZE_WORDS = {"atto": 0, "femto": 1, "pico": 2, "nano": 3, "micro": 4, "tiny": 5, "t": 5, "small": 6, "s": 6,
              "medium": 7, "m": 7, "base": 8, "b": 8, "large": 9, "l": 9, "huge": 10, "h": 10, "giant": 11, "g": 11}


def _first_places(names: list[str]) -> dict[str, int]:
    """Each name's first index in `names` (`names.index`, looked up in a dict: a file of 300 factories made the
    ranking quadratic)."""
    places: dict[str, int] = {}
    for place, name in enumerate(names):
        places.setdefault(name, place)
    return places


def rank_factories(names: list[str], stem: str) -> list[str]:
    """The factories of a file, the one a reader most likely means first: the family the file is named after
    (`resnet.py` -> `resnet*`; else the first word most of its factories share, `vit` in `vision_transformer.py`),
    the base size of the family (`base` / `b`, else the middle depth: `resnet50` of 18/34/50/101/152), the plainest
    name (fewest parts: `resnet50` before `resnet50d`), then the file's order."""
    if not names:
        return []
    tokens = {n: _TOKENS.findall(n.lower()) or [n.lower()] for n in names}
    words = [tokens[n][0] for n in names]
    stem_word = (_TOKENS.findall(stem.lower()) or [""])[0]
    family = stem_word if stem_word in words else max(dict.fromkeys(words), key=words.count)
    pool = [n for n in names if tokens[n][0] == family]
    fewest = min(len(tokens[n]) for n in pool)
    plain = [n for n in pool if len(tokens[n]) == fewest]
    numbers = sorted({int(next(t for t in tokens[n] if t.isdigit())) for n in plain
                      if any(t.isdigit() for t in tokens[n])})
    middle = numbers[(len(numbers) - 1) // 2] if numbers else None
    place = _first_places(names)

    def key(name: str) -> tuple:
        parts = tokens[name]
        if parts[0] != family:
            return (1, 1, 99, 0, place[name])
        base = any(SIZE_WORDS.get(t) == 8 for t in parts[1:])
        digits = [int(t) for t in parts if t.isdigit()]
        distance = abs(digits[0] - middle) if digits and middle is not None and name in plain else 10 ** 9
        return (0, 0 if base else 1, len(parts), distance, place[name])

    return sorted(names, key=key)


def plan_examples(module: cst.Module, source: str, module_classes: set[str],
                  positions: dict, stem: str = "", chosen: str | None = None,
                  facts_of: Any = None) -> list[Example]:
    """The synthetic example units of a file: each `# paramlens: example` comment (or the editor's choice, which
    replaces them), else one unit for the file's no-argument factories; then one unit per top-level class, last
    defined first (a model built first already contains its blocks, which are then not built again). Which classes
    are modules, and what arguments they get, is decided in the sandbox once the file has run. `facts_of` (incremental
    analysis: cached per statement) stands in for `factory_facts`."""
    facts_of = facts_of or factory_facts
    classes = [s for s in module.body if isinstance(s, cst.ClassDef)]
    line_of = {c.name.value: positions[c].start.line for c in classes if c in positions}
    factories: list[tuple] = []
    for statement in module.body:
        if isinstance(statement, cst.FunctionDef) and statement in positions:
            facts = facts_of(statement, module_classes | set(line_of))
            if facts is not None:
                factories.append((statement.name.value, positions[statement].start.line, *facts))
    examples: list[Example] = []
    if chosen:
        expression = chosen if "(" in chosen else f"{chosen}()"
        name = _callee(expression) or chosen
        line = next((f[1] for f in factories if f[0] == name), line_of.get(name, 1))
        examples.append(Example(name, expression, line, directive=True, kind="directive", chosen="editor"))
    else:
        for number, text in enumerate(source.splitlines(), 1):
            match = DIRECTIVE.search(text)
            if match is None:
                continue
            expression = match.group("expression")
            name = _callee(expression)
            if name is not None:
                examples.append(Example(name, expression, number, directive=True, kind="directive", chosen="comment"))
    if factories and not examples:
        order = _first_places(rank_factories([f[0] for f in factories], stem))
        ranked = tuple(sorted(factories, key=lambda f: order[f[0]]))
        first = ranked[0]
        examples.append(Example(first[2] or "", f"{first[0]}()", first[1], directive=False, kind="factory",
                                factories=ranked))
    elif factories:
        # listed (the report shows every factory) but not called: the comment or the editor chose the example
        examples.append(Example("", "", factories[0][1], directive=False, kind="factory",
                                factories=tuple(factories), chosen="listed"))
    directed = {e.class_name for e in examples if e.kind == "directive"}
    for node in reversed(classes):
        name = node.name.value
        if name.startswith("_") or name in directed:
            continue
        examples.append(Example(name, f"{name}()", line_of.get(name, 1), directive=False, kind="class"))
    return examples


def _callee(expression: str) -> str | None:
    try:
        parsed = cst.parse_expression(expression)
    except cst.ParserSyntaxError:
        return None
    if isinstance(parsed, cst.Call) and isinstance(parsed.func, cst.Name):
        return parsed.func.value
    return None

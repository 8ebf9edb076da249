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

import libcst as cst

from paramlens.analyzers.bindings import OwnCodeVisitor

DIRECTIVE = re.compile(r"#\s*paramlens:\s*example\s+(?P<expression>.+?)\s*$")


@dataclass(frozen=True)
class Example:
    class_name: str
    expression: str
    line: int          # the class definition (or the directive) the example belongs to
    directive: bool


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

    def visit_Return(self, node: cst.Return) -> None:
        self.returns_value = self.returns_value or node.value is not None

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value in self.module_classes:
            self.called.add(node.func.value)


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


def plan_examples(module: cst.Module, source: str, module_classes: set[str],
                  positions: dict) -> list[Example]:
    classes = [s for s in module.body if isinstance(s, cst.ClassDef)]
    by_name = {c.name.value: c for c in classes}
    line_of = {c.name.value: positions[c].start.line for c in classes if c in positions}
    examples: list[Example] = []
    for number, text in enumerate(source.splitlines(), 1):
        match = DIRECTIVE.search(text)
        if match is None:
            continue
        expression = match.group("expression")
        try:
            parsed = cst.parse_expression(expression)
        except cst.ParserSyntaxError:
            continue
        name = parsed.func.value if isinstance(parsed, cst.Call) and isinstance(parsed.func, cst.Name) else None
        if name is not None:
            examples.append(Example(name, expression, number, directive=True))
    directed = {e.class_name for e in examples}
    factories: dict[str, Example] = {}
    for statement in module.body:
        if isinstance(statement, cst.FunctionDef) and statement in positions:
            built = factory_class(statement, module_classes)
            if built is not None and built not in directed and built not in factories:
                factories[built] = Example(built, f"{statement.name.value}()", positions[statement].start.line,
                                           directive=False)
    configs = {c.name.value for c in classes if c.name.value not in module_classes and _default_constructible(c)}
    automatic: list[Example] = []
    through_factory: list[Example] = []
    for node in reversed(classes):
        name = node.name.value
        if name not in module_classes or name in directed or name.startswith("_"):
            continue
        init = _init_of(node)
        required = _required_parameters(init) if init is not None else []
        expression = None
        if not _constructor_needs_arguments(node, by_name):
            expression = f"{name}()"
        elif len(required) == 1:
            candidates = _config_candidates(required[0], configs)
            if len(candidates) == 1:
                expression = f"{name}({candidates[0]}())"
        if expression is not None:
            automatic.append(Example(name, expression, line_of.get(name, 1), directive=False))
        elif name in factories:
            through_factory.append(factories[name])
    through_factory.sort(key=lambda example: example.line)
    return examples + through_factory + automatic

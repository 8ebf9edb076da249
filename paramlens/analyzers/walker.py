"""One pass over the tree that asks every recognizer about every node, tracking scope as it goes."""

from __future__ import annotations

import libcst as cst
from libcst.metadata import PositionProvider

from paramlens.analyzers.context import RecognitionContext, module_bases_closure
from paramlens.analyzers.findings import NONE, TRANSFORM, VALUE, Finding
from paramlens.analyzers.names import NameResolver
from paramlens.analyzers.recognizers import RECOGNIZERS
from paramlens.analyzers.source import ParsedSource


def _collect_nodes(node: cst.CSTNode, into: set[int]) -> None:
    class Collect(cst.CSTVisitor):
        def on_visit(self, inner: cst.CSTNode) -> bool:
            into.add(id(inner))
            return True

    node.visit(Collect())


class _Walker(cst.CSTVisitor):
    def __init__(self, ctx: RecognitionContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.findings: list[Finding] = []
        self.probed: dict[int, Finding] = {}
        self.statement = -1
        self.dispatch: dict[type, list] = {}
        for recognizer in RECOGNIZERS:  # keeps RECOGNIZERS' order within each node type
            for node_type in recognizer.NODE_TYPES:
                self.dispatch.setdefault(node_type, []).append(recognizer)

    def on_visit(self, node: cst.CSTNode) -> bool:
        ctx = self.ctx
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            return False  # `import torch.utils.data` names a module; its `.data` is no parameter access
        if isinstance(node, cst.Call):
            ctx.call_funcs.add(id(node.func))
        if isinstance(node, (cst.AugAssign, cst.AnnAssign)):  # `self.weight_dict: dict = {...}` is a target too
            _collect_nodes(node.target, ctx.target_nodes)
        elif isinstance(node, cst.AssignTarget):
            _collect_nodes(node.target, ctx.target_nodes)
        elif isinstance(node, (cst.For, cst.CompFor)):
            _collect_nodes(node.target, ctx.target_nodes)
        for recognizer in self.dispatch.get(type(node), ()):
            for finding in recognizer.recognize(node, ctx):
                self._add(finding)
        if isinstance(node, cst.FunctionDef):
            params = [param.name.value for param in node.params.params]
            self._add(Finding("function_def", ctx.span(node.name), None, NONE,
                              {"name": node.name.value, "params": params}, function=ctx.function))
            ctx.function_stack.append(node.name.value)
        elif isinstance(node, cst.ClassDef):
            # a class whose base comes from another module (`class BertModel(BertPreTrainedModel)`) may be a module
            # too: the run decides (what it is, not how its base is spelled); without a run only the classes the
            # source shows to derive from torch.nn are explained
            static = node.name.value in ctx.module_classes
            if static or (ctx.at_top_level and any(base.keyword is None for base in node.bases)):
                bases = ", ".join(ctx.code(base.value) if base.keyword is None else ctx.code(base).strip().rstrip(",")
                                  for base in node.bases)
                self._add(Finding("module_class", ctx.span(node.name), None, NONE,
                                  {"name": node.name.value, "bases": bases, "static": static}, function=ctx.function))
            ctx.class_depth += 1
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if isinstance(original_node, cst.FunctionDef):
            self.ctx.function_stack.pop()
        elif isinstance(original_node, cst.ClassDef):
            self.ctx.class_depth -= 1

    def _add(self, finding: Finding) -> None:
        finding.statement = self.statement
        if finding.probe is not None and finding.node is not None:
            existing = self.probed.get(id(finding.node))
            if existing is not None and existing.pattern == "cell_value":
                # a bare expression statement is visited before the expression itself: the more specific
                # explanation of the same expression replaces the generic "cell value" one
                self.findings.remove(existing)
                self.probed[id(finding.node)] = finding
            elif existing is not None and finding.pattern == "forward":
                return  # a method call another recognizer understands better (`net.apply(f)`, `x.state_dict()`)
            elif existing is not None and existing.probe == VALUE and finding.probe == TRANSFORM:
                # `return copy.deepcopy(model)`: the returned value is still recorded, around the transform's probe
                existing.facts["inner"] = finding
                finding.facts["wrapped"] = True
            elif existing is not None:
                finding.facts["observed_by"] = existing
                finding.probe = NONE
            else:
                self.probed[id(finding.node)] = finding
        self.findings.append(finding)


def recognize_all(parsed: ParsedSource) -> list[Finding]:
    wrapper = parsed.wrapper
    positions = wrapper.resolve(PositionProvider)
    module = parsed.module
    qualified = NameResolver(module)
    ctx = RecognitionContext(parsed=parsed, positions=positions, qualified=qualified)
    ctx.module_classes = module_bases_closure(module, qualified)
    ctx.local_functions = {node.name.value for node in _all_function_defs(module)}
    walker = _Walker(ctx)
    for index, statement in enumerate(module.body):
        walker.statement = index
        statement.visit(walker)
    for index, finding in enumerate(walker.findings):
        finding.id = index
    return walker.findings


def _all_function_defs(module: cst.Module) -> list[cst.FunctionDef]:
    """Free functions (not methods): a call of one of them may build and return modules."""
    found: list[cst.FunctionDef] = []
    pending: list = list(module.body)
    while pending:
        statement = pending.pop()
        if isinstance(statement, cst.FunctionDef):
            found.append(statement)
            pending.extend(statement.body.body if isinstance(statement.body, cst.IndentedBlock) else [])
        elif isinstance(statement, cst.ClassDef):
            continue
        else:
            for block in (getattr(statement, "body", None), getattr(statement, "orelse", None)):
                if isinstance(block, cst.IndentedBlock):
                    pending.extend(block.body)
                elif isinstance(block, cst.Else) and isinstance(block.body, cst.IndentedBlock):
                    pending.extend(block.body.body)
    return found

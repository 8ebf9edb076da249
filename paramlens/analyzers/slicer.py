"""Which top-level statements run in the sandbox, and which are skipped and why.

The slice keeps what builds, indexes, initialises, inspects or prints modules and tensors. It never runs training
(anything that calls `.backward()`, `.step()` or `.zero_grad()`), `if __name__ == "__main__":` blocks, data
downloads, file writes or interactive input. A skipped statement is reported with its reason, and the names it
would have bound are remembered so that errors that only follow from the skip are not reported again.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

TRAINING_METHODS = {"backward", "step", "zero_grad"}
WRITING_CALLS = {"save", "to_csv", "savefig", "remove", "unlink", "rmtree", "write_text", "write_bytes", "system",
                 "makedirs", "mkdir", "rename"}
BLOCKING_CALLS = {"input", "sleep", "show"}


@dataclass
class SliceDecision:
    run: bool
    reason: str | None = None  # a reason key for the explainer's text (see explain/text.py SKIP_REASONS)
    detail: str | None = None


class OwnCodeVisitor(cst.CSTVisitor):
    """Visits the code that runs when its node runs: not the bodies of nested defs, classes and lambdas (those
    run only when called)."""

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False


class _Scan(OwnCodeVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.methods: set[str] = set()
        self.functions: set[str] = set()
        self.download = False
        self.open_write = False

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Attribute):
            if not _saves_into_private_directory(node):
                self.methods.add(node.func.attr.value)
        elif isinstance(node.func, cst.Name):
            self.functions.add(node.func.value)
            if node.func.value == "open":
                for index, arg in enumerate(node.args):
                    is_mode = (arg.keyword is not None and arg.keyword.value == "mode") or \
                        (arg.keyword is None and index == 1)
                    if is_mode and isinstance(arg.value, cst.SimpleString) and \
                            any(c in arg.value.evaluated_value for c in "wax+"):
                        self.open_write = True
        for arg in node.args:
            if arg.keyword is not None and arg.keyword.value == "download" and \
                    isinstance(arg.value, cst.Name) and arg.value.value == "True":
                self.download = True
    # a def runs nothing (OwnCodeVisitor); calling it is judged where it is called


def _saves_into_private_directory(node: cst.Call) -> bool:
    """`torch.save(obj, "model.pt")` or into a BytesIO: the run's working directory is the sandbox's private
    temporary directory, so a relative path lands there (and an absolute one is refused by the sandbox)."""
    func = node.func
    if not (isinstance(func, cst.Attribute) and func.attr.value == "save" and isinstance(func.value, cst.Name)
            and func.value.value == "torch" and len(node.args) >= 2):
        return False
    target = node.args[1].value
    if isinstance(target, cst.SimpleString):
        path = target.evaluated_value
        return isinstance(path, str) and not path.startswith(("/", "~", "\\")) and ".." not in path
    return isinstance(target, (cst.Name, cst.Call))


def decide(statement: cst.CSTNode) -> SliceDecision:
    if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
        return SliceDecision(True)
    if isinstance(statement, cst.If) and _is_main_guard(statement.test):
        return SliceDecision(False, "main_block")
    scan = _Scan()
    statement.visit(scan)
    training = scan.methods & TRAINING_METHODS
    if training:
        return SliceDecision(False, "training", sorted(training)[0])
    if scan.download:
        return SliceDecision(False, "download")
    writes = (scan.methods | scan.functions) & WRITING_CALLS
    if writes or scan.open_write:
        return SliceDecision(False, "writes_files", sorted(writes)[0] if writes else "open")
    blocking = (scan.methods | scan.functions) & BLOCKING_CALLS
    if blocking:
        return SliceDecision(False, "interactive", sorted(blocking)[0])
    return SliceDecision(True)


def runs_only_model_code(node: cst.CSTNode) -> bool:
    """Whether code the file does not run by itself (a factory function's body) may be called to build an
    example: the same judgement as for a top-level statement (no training, downloads, file writes or input)."""
    scan = _Scan()
    node.visit(scan)
    return not (scan.methods & TRAINING_METHODS or scan.download or scan.open_write or
                (scan.methods | scan.functions) & (WRITING_CALLS | BLOCKING_CALLS))


def _is_main_guard(test: cst.BaseExpression) -> bool:
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return False
    sides = [test.left, test.comparisons[0].comparator]
    has_name = any(isinstance(s, cst.Name) and s.value == "__name__" for s in sides)
    has_main = any(isinstance(s, cst.SimpleString) and s.evaluated_value == "__main__" for s in sides)
    return has_name and has_main


def bound_names(statement: cst.CSTNode) -> set[str]:
    """Names a top-level statement binds in the module namespace (not inside nested defs or comprehensions)."""
    names: set[str] = set()

    class Collect(OwnCodeVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            names.add(node.name.value)
            return False

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            names.add(node.name.value)
            return False

        def visit_ListComp(self, node: cst.ListComp) -> bool:
            return False

        def visit_SetComp(self, node: cst.SetComp) -> bool:
            return False

        def visit_DictComp(self, node: cst.DictComp) -> bool:
            return False

        def visit_GeneratorExp(self, node: cst.GeneratorExp) -> bool:
            return False

        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            _targets(node.target, names)

        def visit_AugAssign(self, node: cst.AugAssign) -> None:
            _targets(node.target, names)

        def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
            _targets(node.target, names)

        def visit_For(self, node: cst.For) -> None:
            _targets(node.target, names)

        def visit_AsName(self, node: cst.AsName) -> None:
            _targets(node.name, names)

        def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
            _targets(node.target, names)

        def visit_Import(self, node: cst.Import) -> None:
            for alias in node.names:
                if alias.asname is None:
                    names.add(_first_name(alias.name))

        def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
            if isinstance(node.names, cst.ImportStar):
                return
            for alias in node.names:
                if alias.asname is None:
                    names.add(_first_name(alias.name))

    statement.visit(Collect())
    return names


def _first_name(node: cst.CSTNode) -> str:
    while isinstance(node, cst.Attribute):
        node = node.value
    return node.value if isinstance(node, cst.Name) else ""


def _targets(node: cst.CSTNode, into: set[str]) -> None:
    if isinstance(node, cst.Name):
        into.add(node.value)
    elif isinstance(node, (cst.Tuple, cst.List)):
        for element in node.elements:
            _targets(element.value, into)
    elif isinstance(node, cst.StarredElement):
        _targets(node.value, into)

"""Turns the parsed file into the program the sandbox runs: every top-level statement, in order (the program as
Python would run it), with probes wrapped around the recognized expressions and every loop placed under the loop
budget; one unit per top-level statement, every line number unchanged (so tracebacks and probes point at the
user's lines).

The probe functions are named in sandbox/protocol.py (`Probe`) and implemented in sandbox/probes.py and
sandbox/loops.py. Loops: `for x in it:` becomes `for x in __pl_loop__(id, it):` and `while c:` becomes
`while __pl_while__(id, c):`, so a loop that would run long can end early the way it ends normally (its `else`
runs); a `break` or `return` that leaves a `while` loop first tells the budget (`__pl_end__(id); break`), because a
`while` loop has no per-entry object to carry its count. Comprehensions are not budgeted: they cannot be cut without
changing the value they build.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import re

import libcst as cst
from libcst.metadata import PositionProvider

from paramlens.analyzers import findings as F
from paramlens.analyzers.findings import Finding
from paramlens.analyzers.examples import Example
from paramlens.analyzers.bindings import bound_names
from paramlens.analyzers.source import ParsedSource
from paramlens.sandbox.protocol import Probe, example_probe as protocol_example_probe


@dataclass
class Unit:
    """One top-level statement as the child executes it."""

    index: int
    line: int           # first line of the statement itself (after blank lines and comments)
    end_line: int
    first_code_line: int  # first line of `code` (including the blank lines and comments before the statement)
    code: str
    binds: list[str] = field(default_factory=list)
    first_line_length: int = 0  # characters on the statement's first line, for diagnostics' ranges
    example: Example | None = None  # set on the synthetic units that build a module class as an example
    is_import: bool = False  # an `import` / `from ... import` line: what it raises comes from other code
    loops: list[dict] = field(default_factory=list)  # the loops inside it: {id, line, kind, parent}
    # `if __name__ == "__main__":`: a file analysed as its package's module runs it after the import (sandbox/child.py)
    main_guard: bool = False
    displays: bool = False  # the last statement of a notebook cell, an expression: its value is the cell's output

    def to_json(self) -> dict:
        """The unit as the child reads it. Made once per unit and handed out again (a request reads it, never
        writes it; a unit is never changed in place, `dataclasses.replace` makes a new one): incremental analysis
        hands back the same units for the statements an edit did not touch, so an edit of a 5,000-line file no
        longer serializes all 2,000 of them (~4 ms)."""
        known = self.__dict__.get("_json")
        if known is not None:
            return known
        data = {"index": self.index, "line": self.line, "end_line": self.end_line,
                "first_code_line": self.first_code_line, "code": self.code,
                "binds": self.binds, "loops": self.loops, "displays": self.displays}
        if self.main_guard:
            data["main_guard"] = True
        if self.example is not None:
            data["example"] = {"name": example_variable(self.index), **self.example.to_json()}
        self.__dict__["_json"] = data
        return data


def example_variable(index: int) -> str:
    """The namespace name a synthetic example unit binds (dunder on both sides: never mangled, never shown)."""
    return f"__pl_example_{index}__"


example_probe = protocol_example_probe  # probe ids of examples are negative: never a finding's id


def example_units(examples: list[Example], first_index: int, source: str = "") -> list[Unit]:
    """Synthetic units, run after the file's own statements, that may build a model (sandbox/examples.py decides
    what, from the objects the file defined). A directive is evaluated as written, on its own line."""
    units = []
    lines = source.splitlines()
    for offset, example in enumerate(examples):
        index = first_index + offset
        variable = example_variable(index)
        if example.kind == "directive":
            code = (f"if {Probe.EXAMPLE}({index}):\n"
                    f"    {variable} = {Probe.VALUE}({example_probe(index)}, {example.expression})\n")
        else:
            code = f"{variable} = {Probe.EXAMPLE}({index})\n"
        units.append(Unit(index=index, line=example.line, end_line=example.line, first_code_line=example.line,
                          code=code, binds=[], first_line_length=len(lines[example.line - 1])
                          if 0 < example.line <= len(lines) else 0, example=example))
    return units


def _arg(value: cst.BaseExpression) -> cst.Arg:
    return cst.Arg(value=value)


def _int(value: int) -> cst.Integer:
    return cst.Integer(str(value))


def _protect(expr: cst.BaseExpression) -> cst.BaseExpression:
    """A bare tuple or a generator needs its own parentheses to become one call argument."""
    if isinstance(expr, cst.Tuple) and not expr.lpar:
        return expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return expr


def _receiver(func: cst.Attribute) -> cst.Arg:
    """`obj` of `obj.method(...)` as a probe argument; a line break around the dot (`(net\\n .apply(f))`) moves
    to the comma after it, so the lines stay where they were."""
    dot = func.dot
    return cst.Arg(value=_protect(func.value),
                   comma=cst.Comma(whitespace_before=dot.whitespace_before, whitespace_after=dot.whitespace_after)
                   if isinstance(dot, cst.Dot) else cst.MaybeSentinel.DEFAULT)


_CODE = cst.Module(body=[])  # renders any node as code, to compare line counts


class _Instrumenter(cst.CSTTransformer):
    """Wraps the findings' nodes in probes and puts every `for` / `while` loop under the loop budget, in one pass
    over a top-level statement. Loop ids count up across the whole file, so the child can name a loop by id."""

    def __init__(self, findings: list[Finding], positions) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        self.unprobed: list[Finding] = []  # findings whose probe would have moved lines, left as written
        self.by_node: dict[int, Finding] = {}
        for finding in findings:
            if finding.probe is not None and finding.node is not None and not finding.facts.get("wrapped"):
                self.by_node[id(finding.node)] = finding
        self.positions = positions
        self.displayed: set[int] = set()  # expression statements whose value a notebook shows (ids of nodes)
        self.loops: list[dict] = []  # every loop of the statement being visited: {id, line, kind, parent}
        self.next_loop = 0
        # the loops enclosing the node being visited, per function scope (a def, class or lambda starts a new one:
        # its body runs in another frame, so an outer `break` or `return` never leaves a loop inside it)
        self.scopes: list[list[dict]] = [[]]

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scopes.append([])

    def leave_FunctionDef(self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef) -> cst.FunctionDef:
        self.scopes.pop()
        return updated_node

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.scopes.append([])

    def leave_ClassDef(self, original_node: cst.ClassDef, updated_node: cst.ClassDef) -> cst.ClassDef:
        self.scopes.pop()
        return updated_node

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.scopes.append([])

    def leave_Lambda(self, original_node: cst.Lambda, updated_node: cst.Lambda) -> cst.Lambda:
        self.scopes.pop()
        return updated_node

    def _enter_loop(self, node: cst.CSTNode, kind: str) -> None:
        enclosing = self.scopes[-1]
        loop = {"id": self.next_loop, "line": self.positions[node].start.line, "kind": kind,
                "parent": enclosing[-1]["id"] if enclosing else None}
        self.next_loop += 1
        self.loops.append(loop)
        enclosing.append(loop)

    def visit_For(self, node: cst.For) -> None:
        if node.asynchronous is None:
            self._enter_loop(node, "for")

    def leave_For(self, original_node: cst.For, updated_node: cst.For) -> cst.For:
        if original_node.asynchronous is not None:
            return updated_node
        loop = self.scopes[-1].pop()
        wrapped = cst.Call(func=cst.Name(Probe.LOOP), args=[_arg(_int(loop["id"])), _arg(_protect(updated_node.iter))])
        return updated_node.with_changes(iter=wrapped)

    def visit_While(self, node: cst.While) -> None:
        self._enter_loop(node, "while")

    def leave_While(self, original_node: cst.While, updated_node: cst.While) -> cst.While:
        loop = self.scopes[-1].pop()
        wrapped = cst.Call(func=cst.Name(Probe.WHILE), args=[_arg(_int(loop["id"])), _arg(_protect(updated_node.test))])
        return updated_node.with_changes(test=wrapped)

    def _leaving(self, loops: list[dict], statement: cst.BaseSmallStatement):  # type: ignore[no-untyped-def]
        ids = [loop["id"] for loop in loops if loop["kind"] == "while"]
        if not ids:
            return statement
        end = cst.Expr(cst.Call(func=cst.Name(Probe.LOOP_END), args=[_arg(_int(i)) for i in ids]))
        return cst.FlattenSentinel([end, statement])

    def leave_Break(self, original_node: cst.Break, updated_node: cst.Break):  # type: ignore[no-untyped-def]
        enclosing = self.scopes[-1]
        return self._leaving(enclosing[-1:], updated_node)

    def leave_Return(self, original_node: cst.Return, updated_node: cst.Return):  # type: ignore[no-untyped-def]
        return self._leaving(self.scopes[-1], updated_node)

    def leave_Expr(self, original_node: cst.Expr, updated_node: cst.Expr) -> cst.Expr:
        if id(original_node) not in self.displayed:
            return updated_node
        shown = cst.Call(func=cst.Name(Probe.DISPLAY), args=[_arg(_protect(updated_node.value))])
        return updated_node.with_changes(value=shown)

    def on_leave(self, original_node, updated_node):  # type: ignore[no-untyped-def]
        updated_node = super().on_leave(original_node, updated_node)
        finding = self.by_node.get(id(original_node))
        if finding is None or isinstance(updated_node, cst.FlattenSentinel):
            return updated_node
        inner = finding.facts.get("inner")
        if isinstance(inner, Finding):  # two probes on one expression: the inner one wraps the call itself
            updated_node = self._probed(inner, updated_node)
        probed = self._probed(finding, updated_node)
        # a probe adds no line break, so only a site spread over several lines can lose one
        if finding.span.end_line > finding.span.line and isinstance(probed, cst.CSTNode) and \
                _line_count(_CODE.code_for_node(probed)) != _line_count(_CODE.code_for_node(updated_node)):
            # a layout the rebuild cannot reproduce (e.g. a line break before `.method`): run it unprobed
            self.unprobed.append(finding)
            return updated_node
        return probed

    def _call(self, name: str, leading: list[cst.Arg], node: cst.Call) -> cst.Call:
        """A probe call around `node`'s arguments that keeps its parentheses and line breaks where they were."""
        return cst.Call(func=cst.Name(name), args=[*leading, *node.args], lpar=node.lpar, rpar=node.rpar,
                        whitespace_before_args=node.whitespace_before_args)

    def _probed(self, finding: Finding, updated_node):  # type: ignore[no-untyped-def]
        probe = finding.probe
        ident = _int(finding.id)
        if probe == F.VALUE:
            return cst.Call(func=cst.Name(Probe.VALUE), args=[_arg(ident), _arg(_protect(updated_node))])
        if probe == F.METHOD:
            func = updated_node.func
            return self._call(Probe.METHOD, [_arg(ident), _receiver(func),
                                           _arg(cst.SimpleString(repr(func.attr.value)))], updated_node)
        if probe == F.CALL:
            return self._call(Probe.CALL, [_arg(ident), _arg(updated_node.func)], updated_node)
        if probe == F.APPLY:
            return self._call(Probe.APPLY, [_arg(ident), _receiver(updated_node.func)], updated_node)
        if probe == F.INIT:
            return self._call(Probe.INIT, [_arg(ident), _arg(updated_node.func)], updated_node)
        if probe == F.TRANSFORM:
            return self._call(Probe.TRANSFORM, [_arg(ident), _arg(updated_node.func)], updated_node)
        if probe == F.SAVE:
            return self._call(Probe.SAVE, [_arg(ident), _arg(updated_node.func)], updated_node)
        if probe == F.AFTER:
            after = cst.parse_expression(finding.watch_text or "None")
            probe_call = cst.Expr(cst.Call(func=cst.Name(Probe.VALUE), args=[_arg(ident), _arg(after)]))
            return cst.FlattenSentinel([updated_node, probe_call])
        if probe == F.WATCH:
            watched = cst.parse_expression(finding.watch_text or "None")
            thunk = cst.Lambda(params=cst.Parameters(), body=watched)

            def watch(phase: int) -> cst.Expr:
                return cst.Expr(cst.Call(func=cst.Name(Probe.WATCH), args=[_arg(ident), _arg(_int(phase)), _arg(thunk)]))

            return cst.FlattenSentinel([watch(0), updated_node, watch(1)])
        return updated_node


def _line_count(text: str) -> int:
    return text.count("\n")


def _is_import(statement: cst.CSTNode) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and bool(statement.body) and \
        all(isinstance(small, (cst.Import, cst.ImportFrom)) for small in statement.body)


def is_main_guard(statement: cst.CSTNode) -> bool:
    """`if __name__ == "__main__":` (either side of the `==`)."""
    if not isinstance(statement, cst.If) or not isinstance(statement.test, cst.Comparison):
        return False
    test = statement.test
    if len(test.comparisons) != 1 or not isinstance(test.comparisons[0].operator, cst.Equal):
        return False
    sides = [test.left, test.comparisons[0].comparator]
    names = [s for s in sides if isinstance(s, cst.Name) and s.value == "__name__"]
    strings = [s for s in sides if isinstance(s, cst.SimpleString) and s.evaluated_value == "__main__"]
    return len(names) == 1 and len(strings) == 1


def _leading_lines(statement: cst.CSTNode) -> int:
    lines = getattr(statement, "leading_lines", ())
    decorators = getattr(statement, "decorators", ())
    extra = sum(len(getattr(d, "leading_lines", ())) for d in decorators[:1])
    return len(lines) + extra


_LOOP_WORD = re.compile(r"\b(for|while)\b")


def _displayed(statement: cst.CSTNode) -> cst.Expr | None:
    """The expression statement whose value IPython would show as the cell's output: the statement's last one,
    unless a semicolon ends it (`net;` shows nothing)."""
    if not isinstance(statement, cst.SimpleStatementLine) or not statement.body:
        return None
    last = statement.body[-1]
    if not isinstance(last, cst.Expr) or isinstance(last.semicolon, cst.Semicolon):
        return None
    return last


def _statement_lines(module: cst.Module) -> list[tuple[int, int]]:
    """(first line of the statement itself, line after its code) of every top-level statement, 1-based."""
    lines = []
    line = 1 + sum(_line_count(module.code_for_node(line_node)) for line_node in module.header)
    for statement in module.body:
        code = module.code_for_node(statement)
        lines.append((line + _leading_lines(statement), line + _line_count(code)))
        line += _line_count(code)
    return lines


def displayed_statements(module: cst.Module, cells: list[tuple[int, int]]) -> dict[int, cst.Expr]:
    """For each cell (first and last line, 1-based), its last top-level statement if that shows a value, by
    statement index."""
    starts = [start for start, _ in _statement_lines(module)]
    shown = {}
    for first, last in cells:
        inside = [i for i, start in enumerate(starts) if first <= start <= last]
        if inside:
            expression = _displayed(module.body[inside[-1]])
            if expression is not None:
                shown[inside[-1]] = expression
    return shown


def instrument(parsed: ParsedSource, findings: list[Finding], cells: list[tuple[int, int]] | None = None) -> list[Unit]:
    """The units the child runs, in order: every top-level statement of the file. With `cells` (a notebook's,
    first and last line of each), the last statement of a cell that is an expression shows its value, as IPython
    shows it under the cell (`__pl_display__(expr)`, which returns the value unchanged)."""
    original = parsed.module
    instrumenter = _Instrumenter(findings, parsed.wrapper.resolve(PositionProvider))
    displayed = displayed_statements(original, cells) if cells else {}
    instrumenter.displayed = {id(node) for node in displayed.values()}
    probed = {f.statement for f in findings if f.probe is not None and f.node is not None}
    units: list[Unit] = []
    line = 1 + sum(_line_count(original.code_for_node(line_node)) for line_node in original.header)
    for index, statement in enumerate(original.body):
        original_code = original.code_for_node(statement)
        code, loops = instrument_statement(original, statement, original_code, instrumenter,
                                           index in probed or index in displayed)
        units.append(statement_unit(index, statement, original_code, code, loops, line,
                                    displays=index in displayed and Probe.DISPLAY in code))
        line += _line_count(original_code)
    return units


def instrument_statement(original: cst.Module, statement: cst.CSTNode, original_code: str,
                         instrumenter: _Instrumenter, probed: bool) -> tuple[str, list[dict]]:
    """One top-level statement's code with its probes and loop budgets, and its loops (paramlens/incremental/
    caches this per statement)."""
    code, loops = original_code, []
    # only statements with probes, loops or a value to show are transformed; the others run as written
    if probed or _LOOP_WORD.search(original_code):
        instrumenter.loops = []
        transformed = statement.visit(instrumenter)
        loops = instrumenter.loops
        if transformed is not statement:
            code = original.code_for_node(transformed)
        if _line_count(code) != _line_count(original_code):
            # never expected (each probe is checked in place), but a moved line would misplace every probe
            # and traceback after it: run the statement as written rather than fail the file
            code, loops = original_code, []
    return code, loops


def statement_unit(index: int, statement: cst.CSTNode, original_code: str, code: str, loops: list[dict],
                   line: int, displays: bool = False) -> Unit:
    """The unit of a top-level statement whose text (`original_code`, leading lines included) starts at `line`."""
    first_code_line = line
    start = line + _leading_lines(statement)
    end = line + _line_count(original_code) - 1
    return Unit(index=index, line=start, end_line=max(end, start), first_code_line=first_code_line,
                code=code, binds=sorted(bound_names(statement)),
                first_line_length=len(original_code.split("\n")[start - first_code_line]),
                is_import=_is_import(statement), loops=loops, main_guard=is_main_guard(statement),
                displays=displays)

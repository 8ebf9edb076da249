"""Turns the parsed file into the program the sandbox runs: probes wrapped around the recognized expressions,
one unit per top-level statement, every line number unchanged (so tracebacks and probes point at the user's
lines).

Probe calls (implemented in paramlens/sandbox/runtime.py):
  __pl_v__(id, expr)                      value of an expression
  __pl_m__(id, obj, "method", *a, **k)    method call, generator results materialised once
  __pl_c__(id, f, *a, **k)                a call that may be a module forward
  __pl_a__(id, obj, fn)                   Module.apply with every visit recorded
  __pl_i__(id, f, *a, **k)                an nn.init call with before/after statistics
  __pl_w__(id, phase, lambda: param)      snapshot around an in-place edit (0 before, 1 after)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from paramlens.analyzers import findings as F
from paramlens.analyzers.findings import Finding
from paramlens.analyzers.examples import Example
from paramlens.analyzers.slicer import bound_names, decide
from paramlens.analyzers.source import ParsedSource


@dataclass
class Unit:
    """One top-level statement as the child executes it."""

    index: int
    line: int           # first line of the statement itself (after blank lines and comments)
    end_line: int
    first_code_line: int  # first line of `code` (including the blank lines and comments before the statement)
    code: str
    run: bool
    reason: str | None = None
    detail: str | None = None
    binds: list[str] = field(default_factory=list)
    first_line_length: int = 0  # characters on the statement's first line, for diagnostics' ranges
    example: Example | None = None  # set on the synthetic units that build a module class as an example
    is_import: bool = False  # an `import` / `from ... import` line: what it raises comes from other code

    def to_json(self) -> dict:
        data = {"index": self.index, "line": self.line, "end_line": self.end_line,
                "first_code_line": self.first_code_line, "code": self.code, "run": self.run,
                "binds": self.binds}
        if self.example is not None:
            data["example"] = {"name": example_variable(self.index), "expression": self.example.expression}
        return data


def example_variable(index: int) -> str:
    """The namespace name a synthetic example unit binds (dunder on both sides: never mangled, never shown)."""
    return f"__pl_example_{index}__"


def example_probe(index: int) -> int:
    """Probe ids of examples are negative, so they never collide with the findings' ids."""
    return -(index + 1)


def example_units(examples: list[Example], first_index: int, source: str = "") -> list[Unit]:
    """Synthetic units, run after the file's own statements, that build each class unless an instance exists."""
    units = []
    lines = source.splitlines()
    for offset, example in enumerate(examples):
        index = first_index + offset
        code = (f"if not __pl_has_instance__({example.class_name!r}):\n"
                f"    {example_variable(index)} = __pl_v__({example_probe(index)}, {example.expression})\n")
        units.append(Unit(index=index, line=example.line, end_line=example.line, first_code_line=example.line,
                          code=code, run=True, binds=[], first_line_length=len(lines[example.line - 1])
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
    def __init__(self, findings: list[Finding]) -> None:
        super().__init__()
        self.unprobed: list[Finding] = []  # findings whose probe would have moved lines, left as written
        self.by_node: dict[int, Finding] = {}
        for finding in findings:
            if finding.probe is not None and finding.node is not None:
                self.by_node[id(finding.node)] = finding

    def on_leave(self, original_node, updated_node):  # type: ignore[no-untyped-def]
        finding = self.by_node.get(id(original_node))
        if finding is None:
            return updated_node
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
            return cst.Call(func=cst.Name("__pl_v__"), args=[_arg(ident), _arg(_protect(updated_node))])
        if probe == F.METHOD:
            func = updated_node.func
            return self._call("__pl_m__", [_arg(ident), _receiver(func),
                                           _arg(cst.SimpleString(repr(func.attr.value)))], updated_node)
        if probe == F.CALL:
            return self._call("__pl_c__", [_arg(ident), _arg(updated_node.func)], updated_node)
        if probe == F.APPLY:
            return self._call("__pl_a__", [_arg(ident), _receiver(updated_node.func)], updated_node)
        if probe == F.INIT:
            return self._call("__pl_i__", [_arg(ident), _arg(updated_node.func)], updated_node)
        if probe == F.AFTER:
            after = cst.parse_expression(finding.watch_text or "None")
            probe_call = cst.Expr(cst.Call(func=cst.Name("__pl_v__"), args=[_arg(ident), _arg(after)]))
            return cst.FlattenSentinel([updated_node, probe_call])
        if probe == F.WATCH:
            watched = cst.parse_expression(finding.watch_text or "None")
            thunk = cst.Lambda(params=cst.Parameters(), body=watched)

            def watch(phase: int) -> cst.Expr:
                return cst.Expr(cst.Call(func=cst.Name("__pl_w__"), args=[_arg(ident), _arg(_int(phase)), _arg(thunk)]))

            return cst.FlattenSentinel([watch(0), updated_node, watch(1)])
        return updated_node


def _line_count(text: str) -> int:
    return text.count("\n")


def _is_import(statement: cst.CSTNode) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and bool(statement.body) and \
        all(isinstance(small, (cst.Import, cst.ImportFrom)) for small in statement.body)


def _leading_lines(statement: cst.CSTNode) -> int:
    lines = getattr(statement, "leading_lines", ())
    decorators = getattr(statement, "decorators", ())
    extra = sum(len(getattr(d, "leading_lines", ())) for d in decorators[:1])
    return len(lines) + extra


def instrument(parsed: ParsedSource, findings: list[Finding]) -> list[Unit]:
    """The units the child runs, in order. Statements the slice skips are included with `run=False` so the
    child can report them and remember what they would have bound."""
    original = parsed.module
    instrumenter = _Instrumenter(findings)
    probed = {f.statement for f in findings if f.probe is not None and f.node is not None}
    # only statements with probes are transformed; the others run as written
    transformed_body = [statement.visit(instrumenter) if index in probed else statement
                        for index, statement in enumerate(original.body)]
    units: list[Unit] = []
    line = 1 + sum(_line_count(original.code_for_node(line_node)) for line_node in original.header)
    for index, (before, after) in enumerate(zip(original.body, transformed_body)):
        original_code = original.code_for_node(before)
        code = original.code_for_node(after) if after is not before else original_code
        if _line_count(code) != _line_count(original_code):
            # never expected (each probe is checked in place), but a moved line would misplace every probe and
            # traceback after it: run the statement as written rather than fail the file
            code = original_code
        decision = decide(before)
        first_code_line = line
        start = line + _leading_lines(before)
        end = line + _line_count(original_code) - 1
        units.append(Unit(index=index, line=start, end_line=max(end, start), first_code_line=first_code_line,
                          code=code if decision.run else "", run=decision.run, reason=decision.reason,
                          detail=decision.detail, binds=sorted(bound_names(before)),
                          first_line_length=len(original_code.split("\n")[start - first_code_line]),
                          is_import=_is_import(before)))
        line += _line_count(original_code)
    return units

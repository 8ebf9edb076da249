"""The static part of an analysis (libcst parse, recognition, instrumentation), cached per top-level statement.

A document is kept as its module header, its top-level statements (*chunks*: each one's exact text, blank lines
and comments before it included, with its libcst node) and its module footer. After an edit only the chunks whose
lines changed are parsed again: the changed lines are found by comparing the old and new text line by line, the
chunks they touch are parsed as one small module (the *region*), and the region is accepted when it parses the way
the whole file would have: it parses at all, its leading lines can only belong to its first statement (blank lines
and comments at column 0; an indented comment might close the block before it), and nothing trails its last
statement (comments there belong to the next statement). Otherwise the region grows by a neighbouring statement
and is tried again; when that fails too (an unclosed string, a statement merged into the previous one), the whole
file is parsed, as a full analysis does. Files with carriage returns are always parsed whole.

Recognition and instrumentation are cached per chunk, with what they read of the rest of the file: the import
aliases and names they resolved, the module classes and free functions they asked about, the state-dict variables
bound before the statement. A chunk is recognised again only when its text or one of those answers changed.
Findings are cached with statement-local ids and spans relative to the chunk; the assembly renumbers them (the
instrumented code's probe and loop ids are rewritten in place: the ids a full analysis would give) and shifts them
to the chunk's line. The assembled findings and units equal those of `recognize_all` + `instrument` on the whole
file (tests/test_incremental.py).
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field, replace
from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from paramlens.analyzers import imports as import_analysis
from paramlens.analyzers.bindings import combined_writes, text_writes
from paramlens.analyzers.context import RecognitionContext, module_classes_among
from paramlens.analyzers.examples import factory_facts, plan_examples
from paramlens.analyzers.findings import Finding
from paramlens.analyzers.instrument import Unit, _displayed, _Instrumenter, _leading_lines, _line_count, \
    example_units, instrument_statement, statement_unit
from paramlens.analyzers.names import BUILTIN_NAMES, NameResolver, dotted_name, iter_statements
from paramlens.analyzers.source import parse_source
from paramlens.analyzers.walker import _Walker, _all_function_defs
from paramlens.report import Span
from paramlens.sandbox.protocol import Probe

# probe calls the instrumenter writes, with the id that follows their opening parenthesis
_PROBE_NAMES = sorted({value for name, value in vars(Probe).items() if isinstance(value, str) and
                       value.startswith("__pl_") and value not in (Probe.LOOP, Probe.WHILE, Probe.LOOP_END,
                                                                   Probe.HAS_INSTANCE)}, key=len, reverse=True)
_PROBE_ID = re.compile(r"\b(" + "|".join(re.escape(name) for name in _PROBE_NAMES) + r")(\()(\s*(?:#[^\n]*\n\s*)*)(\d+)")
_LOOP_ID = re.compile(r"\b(__pl_(?:loop|while)__\()(\s*(?:#[^\n]*\n\s*)*)(\d+)")
_LOOP_END = re.compile(r"\b__pl_end__\(([\d, ]+)\)")
_COLUMN_ZERO = re.compile(r"(#[^\n]*)?\n")


def split_lines(text: str) -> list[str]:
    """Lines with their "\\n" (the last one without, when the text does not end with one)."""
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


class Chunk:
    """One top-level statement: its exact text, its node, and the module that renders it."""

    def __init__(self, text: str, node: cst.BaseStatement, module: cst.Module, code: str | None = None) -> None:
        self.text = text
        self.node = node
        self.module = module
        # what instrument() calls the statement's code (`code`: already rendered by the caller from this module)
        self.code = code if code is not None else module.code_for_node(node)
        self.text_lines = len(split_lines(text))
        self.newlines = _line_count(self.code)
        self._positions: Any = None
        self._facts: ChunkFacts | None = None
        self.recognition: Recognition | None = None
        self.assembled: tuple | None = None  # (key, findings, unit)
        self.unit_template: Unit | None = None  # its unit at line 1 (binds, first line's length, ...)
        self.factory: tuple | None = None  # (the classes it was judged against, factory_facts of it)
        self.writes: tuple[bool, frozenset[str]] | None = None  # bindings.text_writes of its text

    @property
    def positions(self) -> Any:
        if self._positions is None:
            alone = self.module.with_changes(body=[self.node], header=[], footer=[])
            self._positions = MetadataWrapper(alone, unsafe_skip_copy=True).resolve(PositionProvider)
        return self._positions

    @property
    def facts(self) -> "ChunkFacts":
        if self._facts is None:
            self._facts = ChunkFacts.of(self.node, self.code)
        return self._facts


@dataclass
class ChunkFacts:
    """What the file-wide analyses need of one statement."""

    names: list[tuple[str, str, str | None]]           # resolver updates, in order: ("alias", local, full) | ("bound", name, None)
    classes: list[tuple[str, list[cst.BaseExpression]]]  # class name -> its base expressions
    functions: set[str]                                 # free functions (not methods)
    absolute: set[str]                                  # imports, for uses_torch
    relative: list[tuple[int, str]]
    dynamic: bool

    @classmethod
    def of(cls, node: cst.BaseStatement, code: str | None = None) -> "ChunkFacts":
        names: list[tuple[str, str, str | None]] = []
        classes: list[tuple[str, list[cst.BaseExpression]]] = []
        for inner in iter_statements([node]):
            if isinstance(inner, cst.Import):
                for alias in inner.names:
                    full = dotted_name(alias.name) or ""
                    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                        names.append(("alias", alias.asname.name.value, full))
                    else:
                        first = full.split(".")[0]
                        names.append(("alias", first, first))
            elif isinstance(inner, cst.ImportFrom):
                if inner.relative or isinstance(inner.names, cst.ImportStar):
                    continue
                base = (dotted_name(inner.module) or "") if inner.module is not None else ""
                for alias in inner.names:
                    name = dotted_name(alias.name) or ""
                    local = alias.asname.name.value if alias.asname is not None and \
                        isinstance(alias.asname.name, cst.Name) else name
                    names.append(("alias", local, f"{base}.{name}"))
            elif isinstance(inner, (cst.FunctionDef, cst.ClassDef)):
                names.append(("bound", inner.name.value, None))
                if isinstance(inner, cst.ClassDef):
                    classes.append((inner.name.value, [arg.value for arg in inner.bases]))
            elif isinstance(inner, cst.Assign):
                for target in inner.targets:
                    if isinstance(target.target, cst.Name):
                        names.append(("bound", target.target.value, None))
        functions = {f.name.value for f in _all_function_defs(_Body([node]))}  # type: ignore[arg-type]
        found = import_analysis.imports_of(node, code)
        return cls(names, classes, functions, set(found.absolute), list(found.relative), found.dynamic)


@dataclass
class _Body:
    body: list


class Globals:
    """The file-wide facts recognition reads: resolved names, module classes, free functions."""

    def __init__(self, chunks: list[Chunk]) -> None:
        resolver = NameResolver.__new__(NameResolver)
        resolver.aliases, resolver.bound = {}, set()
        for chunk in chunks:
            for kind, name, full in chunk.facts.names:
                if kind == "alias":
                    resolver.aliases[name] = full  # type: ignore[assignment]
                else:
                    resolver.bound.add(name)
        self.resolver = resolver
        classes: dict[str, list[set[str]]] = {}
        for chunk in chunks:
            for name, bases in chunk.facts.classes:
                resolved = []
                for base in bases:
                    names = resolver.qualnames(base)
                    names.add(dotted_name(base) or "")
                    resolved.append(names)
                classes[name] = resolved
        self.module_classes = frozenset(module_classes_among(classes))
        self.local_functions = frozenset(name for chunk in chunks for name in chunk.facts.functions)

    def fingerprint(self) -> Any:
        resolver = self.resolver
        return hash((tuple(sorted(resolver.aliases.items())), frozenset(resolver.bound & BUILTIN_NAMES),
                     self.module_classes, self.local_functions))

    def answer(self, key: tuple) -> Any:
        kind, name = key
        if kind == "name":
            return self.resolver.aliases.get(name), name in self.resolver.bound
        if kind == "classes":
            return self.module_classes if name == "*" else name in self.module_classes
        return self.local_functions if name == "*" else name in self.local_functions




class _TrackedResolver(NameResolver):
    def __init__(self, base: NameResolver, reads: dict) -> None:  # noqa: D107 - no super(): no module to scan
        self.aliases, self.bound, self.reads = base.aliases, base.bound, reads

    def qualnames(self, node: cst.CSTNode) -> set[str]:
        dotted = dotted_name(node)
        if dotted is not None:
            first = dotted.partition(".")[0]
            if ("name", first) not in self.reads:
                self.reads[("name", first)] = (self.aliases.get(first), first in self.bound)
        return super().qualnames(node)


class _TrackedSet:
    def __init__(self, kind: str, items: frozenset[str], reads: dict) -> None:
        self.kind, self.items, self.reads = kind, items, reads

    def __contains__(self, name: object) -> bool:
        answer = name in self.items
        self.reads.setdefault((self.kind, name), answer)
        return answer

    def __iter__(self):  # type: ignore[no-untyped-def]
        self.reads[(self.kind, "*")] = self.items
        return iter(self.items)

    def __len__(self) -> int:
        self.reads[(self.kind, "*")] = self.items
        return len(self.items)


@dataclass
class Recognition:
    """One chunk's findings (ids local to it, spans relative to its first line) and instrumented code."""

    reads: dict
    state_dicts_in: frozenset
    state_dicts_out: frozenset
    findings: list[Finding]
    code: str
    loops: list[dict]
    probe_ids: list[int]       # the probe ids written in `code`, in order (for renumbering)
    loop_ids: int              # the loop ids written in `code` (0..n-1)
    renumberable: bool         # `code` holds exactly those ids where _PROBE_ID/_LOOP_ID find them
    patterns: bool             # recognised with the pattern recognizers (off: loops only)
    fingerprint: Any = None    # the file-wide facts it was last found valid under
    displays: bool = False     # instrumented to show its value (the last expression of a notebook cell)

    def valid(self, globals_: Globals, state_dicts: frozenset) -> bool:
        return state_dicts == self.state_dicts_in and all(globals_.answer(k) == v for k, v in self.reads.items())


def recognise(chunk: Chunk, globals_: Globals, state_dicts: frozenset, recognise_patterns: bool,
              positions: Any = None, shift: int = 0, displays: bool = False) -> Recognition:
    """Recognise and instrument one chunk. `positions` (with `shift`, the lines before the chunk): the whole
    file's, when the whole file was just parsed (computing them once is cheaper than once per statement).
    `displays`: the chunk is the last statement of a notebook cell and shows its value (instrument.instrument)."""
    reads: dict = {}
    positions = positions if positions is not None else chunk.positions
    # the chunk's own rendering module: ctx.code(node) and the positions see the statement as the file has it
    ctx = RecognitionContext(parsed=_Rendering(chunk.module), positions=positions,  # type: ignore[arg-type]
                             qualified=_TrackedResolver(globals_.resolver, reads))
    ctx.module_classes = _TrackedSet("classes", globals_.module_classes, reads)  # type: ignore[assignment]
    ctx.local_functions = _TrackedSet("functions", globals_.local_functions, reads)  # type: ignore[assignment]
    ctx.state_dict_names = set(state_dicts)
    findings: list[Finding] = []
    if recognise_patterns:
        walker = _Walker(ctx)
        walker.statement = 0
        chunk.node.visit(walker)
        findings = walker.findings
        for index, finding in enumerate(findings):
            finding.id = index
    instrumenter = _Instrumenter(findings, positions)
    shown = _displayed(chunk.node) if displays else None
    if shown is not None:
        instrumenter.displayed = {id(shown)}
    probed = any(f.probe is not None and f.node is not None for f in findings) or shown is not None
    code, loops = instrument_statement(chunk.module, chunk.node, chunk.code, instrumenter, probed)
    if shift:
        for finding in findings:
            span = finding.span
            finding.span = Span(span.line - shift, span.column, span.end_line - shift, span.end_column)
        for loop in loops:
            loop["line"] -= shift
    probe_ids = [int(m.group(4)) for m in _PROBE_ID.finditer(code)]
    loop_ids = len(loops)
    written_loops = [int(m.group(3)) for m in _LOOP_ID.finditer(code)]
    ends = [int(i) for m in _LOOP_END.finditer(code) for i in m.group(1).replace(" ", "").split(",") if i]
    renumberable = "__pl_" not in chunk.code and written_loops == sorted(written_loops) and \
        set(written_loops) | set(ends) <= set(range(loop_ids))
    return Recognition(reads, state_dicts, frozenset(ctx.state_dict_names), findings, code, loops, probe_ids,
                       loop_ids, renumberable, recognise_patterns, displays=shown is not None)


@dataclass
class _Rendering:
    """What RecognitionContext.code needs: `.module.code_for_node`."""

    module: cst.Module


def renumber(code: str, finding_base: int, loop_base: int) -> str:
    if not finding_base and not loop_base:
        return code
    if finding_base:
        code = _PROBE_ID.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{int(m.group(4)) + finding_base}", code)
    if loop_base:
        code = _LOOP_ID.sub(lambda m: f"{m.group(1)}{m.group(2)}{int(m.group(3)) + loop_base}", code)
        code = _LOOP_END.sub(lambda m: "__pl_end__(" + ", ".join(
            str(int(i) + loop_base) for i in m.group(1).split(",")) + ")", code)
    return code


# -- the document ------------------------------------------------------------------------------------------------

class FullParse(Exception):
    """The region could not be parsed on its own: parse the whole file."""


@dataclass
class Document:
    text: str
    header: str
    chunks: list[Chunk]
    footer: str
    reparsed: int = 0  # chunks parsed to make this document
    # the file-wide names and classes (Globals), made once per document: assembly and the examples' plan read them
    known_globals: Globals | None = field(default=None, repr=False, compare=False)
    # the examples' plan and what it was made from (see examples): kept by the next document while those hold
    plan: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def header_lines(self) -> int:
        return len(split_lines(self.header))

    @property
    def globals(self) -> Globals:
        if self.known_globals is None:
            self.known_globals = Globals(self.chunks)
        return self.known_globals


def from_module(text: str, module: cst.Module) -> Document:
    chunks, header, footer = _pieces(text, module, at_start=True, at_end=True)
    return Document(text, header, chunks, footer)


def _pieces(text: str, module: cst.Module, at_start: bool, at_end: bool) -> tuple[list[Chunk], str, str]:
    """The chunks of a parsed (region) module, and its header and footer text. Raises FullParse when the pieces do
    not add up to `text` exactly."""
    header = "".join(module.code_for_node(line) for line in module.header)
    codes = [module.code_for_node(statement) for statement in module.body]
    footer = "".join(module.code_for_node(line) for line in module.footer)
    pieces = [header, *codes, footer]
    if not module.has_trailing_newline:
        last = max(i for i, piece in enumerate(pieces) if piece) if any(pieces) else 0
        if pieces[last].endswith("\n"):
            pieces[last] = pieces[last][:-1]
    if "".join(pieces) != text:
        raise FullParse("pieces")
    header, footer = pieces[0], pieces[-1]
    nodes = list(module.body)
    rendered: list[str | None] = list(codes)  # each statement's code, rendered once (a second of a long file)
    if not at_start and header:
        # the region's leading lines are its first statement's leading lines in the whole file
        if not nodes or any(not _COLUMN_ZERO.fullmatch(line) for line in split_lines(header)):
            raise FullParse("header")
        first = nodes[0]
        nodes[0] = first.with_changes(leading_lines=[*module.header, *first.leading_lines])
        module = module.with_changes(body=nodes, header=[])
        pieces[1] = header + pieces[1]
        rendered[0] = None  # its leading lines changed: rendered again
        header = ""
    if not at_end and footer:
        raise FullParse("footer")
    chunks = [Chunk(piece, node, module, code) for piece, node, code in zip(pieces[1:-1], nodes, rendered)]
    return chunks, header, footer


MULTI_REGIONS = 8  # changed places handled one by one; more than this (a formatter's pass): one region around all


def update(old: Document | None, text: str) -> Document:
    """The document for `text`, reusing `old`'s chunks where its lines did not change. Raises
    SourceSyntaxError (as parse_source) when the file does not parse.

    An edit at two places (a statement and the end of the file, a rename in two functions) is applied place by
    place, each reparsing only the statements it touches: taken as one region, everything between the two places
    was parsed, recognised and instrumented again (43 of the seed's statements for a layer edit plus a comment
    appended at the end)."""
    if old is None or "\r" in text or "\r" in old.text:
        return _full(text)
    if text == old.text:
        return old
    regions = _changed_regions(split_lines(old.text), split_lines(text))
    document = None
    if 1 < len(regions) <= MULTI_REGIONS:
        try:
            document = _update_regions(old, text, regions)
        except Exception:  # noqa: BLE001 - an intermediate text that does not parse (a bracket opened in one place
            pass           # and closed in the other): the edit as one region
    if document is None:
        document = _update_one(old, text)
    if document.plan is None:
        document.plan = old.plan  # used only while what it was made from is unchanged (examples)
    return document


def _common_ends(old_lines: list[str], new_lines: list[str]) -> tuple[int, int]:
    """How many lines the two texts share at their start and, after that, at their end."""
    prefix = 0
    limit = min(len(old_lines), len(new_lines))
    while prefix < limit and old_lines[prefix] == new_lines[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old_lines[-1 - suffix] == new_lines[-1 - suffix]:
        suffix += 1
    return prefix, suffix


def _changed_regions(old_lines: list[str], new_lines: list[str]) -> list[tuple[int, int, int, int]]:
    """The places where the lines differ, as (old start, old end, new start, new end), in file order. The common
    prefix and suffix are skipped first, so a one-place edit costs no diff at all."""
    prefix, suffix = _common_ends(old_lines, new_lines)
    old_middle, new_middle = old_lines[prefix:len(old_lines) - suffix], new_lines[prefix:len(new_lines) - suffix]
    if len(old_middle) <= 1 or len(new_middle) <= 1:
        return [(prefix, len(old_lines) - suffix, prefix, len(new_lines) - suffix)]
    matcher = difflib.SequenceMatcher(None, old_middle, new_middle, autojunk=False)
    return [(prefix + o1, prefix + o2, prefix + n1, prefix + n2)
            for tag, o1, o2, n1, n2 in matcher.get_opcodes() if tag != "equal"]


def _update_regions(old: Document, text: str, regions: list[tuple[int, int, int, int]]) -> Document:
    """Apply the changed places one at a time, the last first (so the earlier ones keep their line numbers), each
    through the one-region update."""
    current = split_lines(old.text)
    new_lines = split_lines(text)
    document, reparsed = old, 0
    for old_start, old_end, new_start, new_end in reversed(regions):
        current[old_start:old_end] = new_lines[new_start:new_end]
        document = _update_one(document, "".join(current))
        reparsed += document.reparsed
    if document.text != text:
        raise Uncacheable()
    document.reparsed = reparsed
    return document


def _update_one(old: Document, text: str) -> Document:
    """The one-region update: the lines between the common prefix and the common suffix are parsed again."""
    if text == old.text:
        return old
    old_lines, new_lines = split_lines(old.text), split_lines(text)
    prefix, suffix = _common_ends(old_lines, new_lines)
    changed_end = len(old_lines) - suffix  # old lines [prefix, changed_end) changed
    # where each chunk starts, in old lines
    starts = []
    line = old.header_lines
    for chunk in old.chunks:
        starts.append(line)
        line += chunk.text_lines
    if not old.chunks:
        return _full(text)
    first = _chunk_at(starts, old.chunks, prefix)
    last = _chunk_at(starts, old.chunks, changed_end - 1) if changed_end > prefix else first
    delta = len(new_lines) - len(old_lines)
    for _attempt in range(4):
        at_start = first == 0
        at_end = last == len(old.chunks) - 1
        start_line = 0 if at_start else starts[first]
        end_line = len(old_lines) if at_end else starts[last] + old.chunks[last].text_lines
        region = "".join(new_lines[start_line:end_line + delta])
        try:
            module = cst.parse_module(region)
            chunks, header, footer = _pieces(region, module, at_start, at_end)
            if not chunks and not (at_start and at_end):
                raise FullParse("footer" if not at_end else "header")
        except (cst.ParserSyntaxError, FullParse, RecursionError) as error:
            reason = str(error) if isinstance(error, FullParse) else ""
            if reason == "header" and first > 0:
                first -= 1
                continue
            if reason == "footer" and not at_end:
                last += 1
                continue
            return _full(text)
        chunks = _kept_where_unchanged(chunks, old.chunks[first:last + 1])
        new_chunks = old.chunks[:first] + chunks + old.chunks[last + 1:]
        document = Document(text, header if at_start else old.header, new_chunks, footer if at_end else old.footer)
        if document.header + "".join(c.text for c in new_chunks) + document.footer != text:
            return _full(text)
        document.reparsed = len(chunks)
        return document
    return _full(text)


def _kept_where_unchanged(parsed: list[Chunk], replaced: list[Chunk]) -> list[Chunk]:
    """The region's chunks, with the old chunk (its recognition, its unit) wherever a statement's text did not
    change: a region is whole statements, so an edit next to a statement (a line appended after the file's last
    statement, a comment added above one) parses it again, but need not recognise and instrument it again."""
    unused = {}
    for chunk in replaced:
        unused.setdefault(chunk.text, []).append(chunk)
    kept = []
    for chunk in parsed:
        same = unused.get(chunk.text)
        kept.append(same.pop(0) if same else chunk)
    return kept


def _chunk_at(starts: list[int], chunks: list[Chunk], line: int) -> int:
    """The chunk holding old line `line` (the first one for the header, the last one for the footer)."""
    for index in range(len(chunks) - 1, -1, -1):
        if starts[index] <= line:
            return index
    return 0


class Uncacheable(Exception):
    """The file parses but its pieces do not add up to its text (libcst's rendering differs): analyse it whole."""


def _full(text: str) -> Document:
    parsed = parse_source(text)  # SourceSyntaxError as a full analysis raises it
    try:
        document = from_module(text, parsed.module)
    except FullParse:
        raise Uncacheable() from None
    document.reparsed = len(document.chunks)
    return document


# -- assembly ----------------------------------------------------------------------------------------------------

def assemble(document: Document, recognise_patterns: bool,
             cells: list[tuple[int, int]] | None = None) -> tuple[list[Finding], list[Unit], int]:
    """The findings and units `recognize_all` + `instrument` give on the whole file, from the chunk caches. With
    `cells` (a notebook's, first and last line of each), the last statement of a cell that is an expression shows
    its value, as `instrument` does it."""
    globals_ = document.globals
    shown = _shown_chunks(document, cells) if cells else set()
    fingerprint = globals_.fingerprint()
    stale = [c for c in document.chunks if c.recognition is None]
    whole_positions = None
    if len(stale) > 1 and len(stale) * 2 >= len(document.chunks) and \
            all(c.module is document.chunks[0].module for c in document.chunks):
        # the whole file was just parsed: its positions, once, are cheaper than once per statement
        whole_positions = MetadataWrapper(document.chunks[0].module, unsafe_skip_copy=True).resolve(PositionProvider)
    findings: list[Finding] = []
    units: list[Unit] = []
    state_dicts: frozenset = frozenset()
    line = 1 + _line_count(document.header)
    finding_base = loop_base = 0
    recognised = 0
    for index, chunk in enumerate(document.chunks):
        recognition = chunk.recognition
        displays = index in shown
        if recognition is None or recognition.patterns != recognise_patterns or \
                (recognition.fingerprint != fingerprint and not recognition.valid(globals_, state_dicts)) or \
                recognition.state_dicts_in != state_dicts or recognition.displays != displays:
            recognition = recognise(chunk, globals_, state_dicts, recognise_patterns, whole_positions,
                                    line - 1 if whole_positions is not None else 0, displays)
            chunk.recognition = recognition
            chunk.assembled = None
            recognised += 1
        recognition.fingerprint = fingerprint
        state_dicts = recognition.state_dicts_out
        key = (id(recognition), index, line, finding_base, loop_base)
        if chunk.assembled is not None and chunk.assembled[0] == key:
            chunk_findings, unit = chunk.assembled[1], chunk.assembled[2]
        else:
            chunk_findings = _placed(recognition.findings, index, line - 1, finding_base)
            if recognition.renumberable:
                code = renumber(recognition.code, finding_base, loop_base)
            else:
                code = _instrument_again(chunk, chunk_findings, loop_base, recognition.displays)
            loops = [{"id": loop["id"] + loop_base, "line": loop["line"] + line - 1, "kind": loop["kind"],
                      "parent": None if loop["parent"] is None else loop["parent"] + loop_base}
                     for loop in recognition.loops]
            if chunk.unit_template is None:
                chunk.unit_template = statement_unit(0, chunk.node, chunk.code, "", [], 1)
            template = chunk.unit_template
            unit = replace(template, index=index, line=template.line + line - 1,
                           end_line=template.end_line + line - 1, first_code_line=line, code=code, loops=loops,
                           binds=list(template.binds), displays=recognition.displays and Probe.DISPLAY in code)
            chunk.assembled = (key, chunk_findings, unit)
        findings.extend(chunk_findings)
        units.append(unit)
        finding_base += len(recognition.findings)
        loop_base += recognition.loop_ids
        line += chunk.newlines
    return findings, units, recognised


def _shown_chunks(document: Document, cells: list[tuple[int, int]]) -> set[int]:
    """The chunks that show their value: for each cell, its last statement (by the line the statement itself starts
    on, after its leading comments), when that is an expression (instrument.displayed_statements)."""
    starts = []
    line = 1 + _line_count(document.header)
    for chunk in document.chunks:
        starts.append(line + _leading_lines(chunk.node))
        line += chunk.newlines
    shown = set()
    for first, last in cells:
        inside = [index for index, start in enumerate(starts) if first <= start <= last]
        if inside and _displayed(document.chunks[inside[-1]].node) is not None:
            shown.add(inside[-1])
    return shown


def _placed(local: list[Finding], index: int, shift: int, base: int) -> list[Finding]:
    """Copies of a chunk's findings with the file's ids, spans and statement index (cross-references between
    them, `observed_by` and `inner`, point at the copies)."""
    copies: dict[int, Finding] = {}
    placed = []
    for finding in local:
        span = finding.span
        copy = replace(finding, span=Span(span.line + shift, span.column, span.end_line + shift, span.end_column),
                       facts=dict(finding.facts), id=finding.id + base, statement=index)
        copies[id(finding)] = copy
        placed.append(copy)
    for copy in placed:
        for key, value in copy.facts.items():
            if isinstance(value, Finding) and id(value) in copies:
                copy.facts[key] = copies[id(value)]
    return placed


def _instrument_again(chunk: Chunk, placed: list[Finding], loop_base: int, displays: bool = False) -> str:
    """A statement whose own text spells a probe's name: instrument it with the file's ids instead of rewriting."""
    instrumenter = _Instrumenter(placed, chunk.positions)
    instrumenter.next_loop = loop_base
    shown = _displayed(chunk.node) if displays else None
    if shown is not None:
        instrumenter.displayed = {id(shown)}
    probed = any(f.probe is not None and f.node is not None for f in placed) or shown is not None
    code, _loops = instrument_statement(chunk.module, chunk.node, chunk.code, instrumenter, probed)
    return code


def torch_used(document: Document, path: str | None) -> bool:
    """uses_torch on the whole file, from each chunk's imports."""
    found = import_analysis._Imports()
    for chunk in document.chunks:
        facts = chunk.facts
        found.absolute |= facts.absolute
        found.relative.extend(facts.relative)
        found.dynamic = found.dynamic or facts.dynamic
    return import_analysis.uses_torch_found(found, path)


def namespace_writes(document: Document) -> dict[str, Any]:
    """bindings.namespace_writes of the whole text, from each statement's answer (kept on its chunk: the regular
    expressions over a 5,000-line file's text cost ~5 ms an edit)."""
    pieces = [text_writes(document.header), text_writes(document.footer)]
    for chunk in document.chunks:
        if chunk.writes is None:
            chunk.writes = text_writes(chunk.text)
        pieces.append(chunk.writes)
    return combined_writes(pieces)


def body(document: Document) -> cst.Module:
    """The file's top-level statements as one module (no parse: the chunks' nodes), for what only reads the body
    (the examples' plan, the warm worker's preload candidates)."""
    return cst.Module(body=[chunk.node for chunk in document.chunks])


def examples(document: Document, source: str, path: str = "", chosen: str | None = None) -> list:
    """analysis._plan_examples on the whole file, with positions from the chunks. Every class is planned (which
    are modules is decided in the sandbox, whatever module their base came from), as are the file's factories.

    The plan reads only the file's classes and functions (each statement node, and the line it starts at), its
    module classes, its directive comments, the editor's choice and the file's name: while those are what they were
    for the plan the document keeps (`update` hands it on from the document before), that plan is the answer
    (planning a 5,000-line file's 313 factories again cost ~5–10 ms an edit)."""
    globals_ = document.globals
    stem = os.path.splitext(os.path.basename(path))[0]
    inputs = _plan_inputs(document, source, globals_, stem, chosen)
    kept = document.plan
    if kept is not None and _same_plan_inputs(kept[0], inputs):
        return list(kept[1])
    chunks = {id(chunk.node): chunk for chunk in document.chunks}

    def facts_of(function: Any, classes: set[str]) -> Any:
        # a factory's facts depend on its own text and the file's class names only: kept on its chunk (walking
        # every function of a 5,000-line file again cost ~0.2 s an edit)
        chunk = chunks.get(id(function))
        if chunk is None:
            return factory_facts(function, classes)
        key = frozenset(classes)
        if chunk.factory is None or chunk.factory[0] != key:
            chunk.factory = (key, factory_facts(function, classes))
        return chunk.factory[1]

    plan = plan_examples(body(document), source, set(globals_.module_classes), _StatementPositions(document),
                         stem=stem, chosen=chosen, facts_of=facts_of)
    document.plan = (inputs, tuple(plan))
    return plan


def _plan_inputs(document: Document, source: str, globals_: Globals, stem: str, chosen: str | None) -> tuple:
    """What plan_examples reads of a file: (its class and function statements' nodes, the lines they start at, the
    rest). A node is the same object while its statement's text is (the chunk caches)."""
    nodes, lines = [], []
    line = _line_count(document.header)
    for chunk in document.chunks:
        if isinstance(chunk.node, (cst.ClassDef, cst.FunctionDef)):
            nodes.append(chunk.node)
            lines.append(line)
        line += chunk.newlines
    # a directive comment may sit on any line (inside a statement too): none without the word
    directives = tuple((number, text) for number, text in enumerate(source.splitlines(), 1) if "paramlens" in text) \
        if "paramlens" in source else ()
    return nodes, (lines, directives, globals_.module_classes, stem, chosen)


def _same_plan_inputs(kept: tuple, now: tuple) -> bool:
    return len(kept[0]) == len(now[0]) and all(a is b for a, b in zip(kept[0], now[0])) and kept[1] == now[1]


class _StatementPositions:
    """Absolute positions of top-level statements (what plan_examples asks for)."""

    def __init__(self, document: Document) -> None:
        self.by_node: dict[int, tuple[Chunk, int]] = {}
        line = _line_count(document.header)
        for chunk in document.chunks:
            self.by_node[id(chunk.node)] = (chunk, line)
            line += chunk.newlines

    def __contains__(self, node: Any) -> bool:
        return id(node) in self.by_node

    def __getitem__(self, node: Any) -> Any:
        chunk, shift = self.by_node[id(node)]
        position = chunk.positions[chunk.node]
        from libcst.metadata import CodePosition, CodeRange

        return CodeRange(CodePosition(position.start.line + shift, position.start.column),
                         CodePosition(position.end.line + shift, position.end.column))


__all__ = ["Chunk", "Document", "assemble", "body", "examples", "namespace_writes", "split_lines", "torch_used",
           "update", "example_units"]

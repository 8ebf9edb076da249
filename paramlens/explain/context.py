"""What an explainer gets: the finding, what the run observed at it, the locale, and the other findings."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.analyzers.instrument import Unit
from paramlens.observations import Observations


@dataclass
class ExplainContext:
    observations: Observations
    locale: str
    findings: list[Finding]
    units: list[Unit]
    by_node: dict[int, Finding] = field(default_factory=dict)
    source_lines: list[str] = field(default_factory=list)  # the file's lines, for spans inside a line

    def __post_init__(self) -> None:
        for finding in self.findings:
            if finding.node is not None and finding.probe is not None and not finding.facts.get("wrapped"):
                self.by_node[id(finding.node)] = finding
        # indexes built on first use (explainers that scanned every finding or unit made long files quadratic)
        self._by_pattern: dict[str, list[Finding]] | None = None
        self._unit_lines: tuple[list[int], list[Unit], list[Unit]] | None = None
        self._symmetry_indexes: list[int] | None = None
        self._memo: dict[str, Any] = {}

    def of_pattern(self, pattern: str) -> list[Finding]:
        """The findings of one pattern, in file order (as a scan of `findings` would meet them)."""
        if self._by_pattern is None:
            index: dict[str, list[Finding]] = {}
            for finding in self.findings:
                index.setdefault(finding.pattern, []).append(finding)
            self._by_pattern = index
        return self._by_pattern.get(pattern, [])

    def first_at(self, pattern: str, line: int, column: int) -> Finding | None:
        """The first finding of `pattern` (in file order) that starts at `line`, `column`: the `state_dict()` call
        inside `state_dict()['key']`. Indexed once per pattern (a scan per lookup was quadratic in long files)."""
        def build() -> dict[tuple[int, int], Finding]:
            places: dict[tuple[int, int], Finding] = {}
            for finding in self.of_pattern(pattern):
                places.setdefault((finding.span.line, finding.span.column), finding)
            return places

        return self.memo(f"{pattern} by place", build).get((line, column))

    def memo(self, key: str, build: Any) -> Any:
        """A value computed once per report (an index over the findings), by `build()`."""
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]

    def symmetry_indexes(self) -> list[int]:
        if self._symmetry_indexes is None:
            self._symmetry_indexes = sorted(self.observations.symmetry)
        return self._symmetry_indexes

    def probe_id(self, finding: Finding) -> int:
        source = finding.facts.get("observed_by")
        return source.id if isinstance(source, Finding) else finding.id

    def records(self, finding: Finding) -> list[dict[str, Any]]:
        return self.observations.records(self.probe_id(finding))

    def count(self, finding: Finding) -> int:
        return self.observations.count(self.probe_id(finding))

    def tally(self, finding: Finding) -> dict[str, int]:
        """How often each simple result (True, False, None, a small int) came out, over every evaluation."""
        return self.observations.tallies.get(self.probe_id(finding), {})

    def unit_at(self, line: int) -> Unit | None:
        """The first unit whose lines hold `line`: a binary search over the leading run of units in line order
        (the file's statements), then the rest in order (what a scan of `units` would find first)."""
        if self._unit_lines is None:
            ordered: list[Unit] = []
            for unit in self.units:
                if ordered and (unit.first_code_line <= ordered[-1].end_line or unit.end_line < unit.first_code_line):
                    break
                ordered.append(unit)
            self._unit_lines = ([u.first_code_line for u in ordered], ordered, self.units[len(ordered):])
        starts, ordered, rest = self._unit_lines
        position = bisect.bisect_right(starts, line) - 1
        if position >= 0 and ordered[position].first_code_line <= line <= ordered[position].end_line:
            return ordered[position]
        for unit in rest:
            if unit.first_code_line <= line <= unit.end_line:
                return unit
        return None

    def statement_status(self, line: int) -> dict[str, Any] | None:
        unit = self.unit_at(line)
        if unit is None:
            return None
        return self.observations.statements.get(unit.index)

    def function_ran(self, finding: Finding) -> bool:
        """Whether the def enclosing `finding` was called: another probed site of the same def (same name, same
        top-level statement) recorded something. Tells a branch not taken from a function never called."""
        if finding.function is None:
            return False
        return any(other is not finding and other.probe is not None and other.function == finding.function and
                   other.statement == finding.statement and self.count(other) > 0 for other in self.findings)

"""What an explainer gets: the finding, what the run observed at it, the locale, and the other findings."""

from __future__ import annotations

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
        for unit in self.units:
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

    def findings_of(self, pattern: str) -> list[Finding]:
        return [f for f in self.findings if f.pattern == pattern]

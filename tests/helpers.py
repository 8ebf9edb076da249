"""Small helpers shared by the tests: find source positions by text (never hard-coded line numbers), pick
explanations and diagnostics out of a report (JSON dicts or report objects), compare floats exactly."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class Site:
    """A 1-based source range; end_column is exclusive (one past the last character)."""

    line: int
    column: int
    end_line: int
    end_column: int


def locate(source: str, snippet: str, occurrence: int = 1, within: str | None = None) -> Site:
    """Where the `occurrence`-th (1-based) exact occurrence of `snippet` is. With `within`, the snippet is searched
    inside the first occurrence of the larger text `within` (to disambiguate repeated snippets)."""
    base = 0
    if within is not None:
        base = source.index(within)
        if snippet not in within:
            raise ValueError(f"{snippet!r} is not part of {within!r}")
    start = base - 1
    for _ in range(occurrence):
        start = source.index(snippet, start + 1)
    end = start + len(snippet)
    line = source.count("\n", 0, start) + 1
    column = start - (source.rfind("\n", 0, start) + 1) + 1
    end_line = source.count("\n", 0, end) + 1
    end_column = end - (source.rfind("\n", 0, end) + 1) + 1
    return Site(line, column, end_line, end_column)


def line_of(source: str, snippet: str, occurrence: int = 1) -> int:
    return locate(source, snippet, occurrence).line


def count_occurrences(source: str, snippet: str) -> int:
    return source.count(snippet)


def _get(item: Any, key: str) -> Any:
    if isinstance(item, dict):
        return item[key]
    if key in ("line", "column", "end_line", "end_column"):
        return getattr(item.span, key)
    return getattr(item, key)


def explanations(report: Any) -> list[Any]:
    return report["explanations"] if isinstance(report, dict) else report.explanations


def diagnostics(report: Any) -> list[Any]:
    return report["diagnostics"] if isinstance(report, dict) else report.diagnostics


def find_explanations(report: Any, pattern: str | None = None, line: int | None = None) -> list[Any]:
    return [e for e in explanations(report)
            if (pattern is None or _get(e, "pattern") == pattern) and (line is None or _get(e, "line") == line)]


def explanation_at_site(report: Any, pattern: str, site: Site) -> Any:
    """The explanation with exactly this pattern and range; fails with a readable list of what is there."""
    hits = [e for e in explanations(report) if _get(e, "pattern") == pattern and
            (_get(e, "line"), _get(e, "column"), _get(e, "end_line"), _get(e, "end_column")) ==
            (site.line, site.column, site.end_line, site.end_column)]
    if len(hits) != 1:
        near = [(_get(e, "line"), _get(e, "column"), _get(e, "end_line"), _get(e, "end_column"), _get(e, "pattern"))
                for e in explanations(report) if abs(_get(e, "line") - site.line) <= 1]
        raise AssertionError(f"expected one {pattern!r} explanation at {site}, found {len(hits)}; "
                             f"explanations near it: {near}")
    return hits[0]


def facts(explanation: Any) -> dict[str, Any]:
    return _get(explanation, "facts")


def markdown(explanation: Any) -> str:
    return _get(explanation, "markdown")


def codes_at(report: Any, line: int) -> list[str]:
    return [_get(d, "code") for d in diagnostics(report) if _get(d, "line") == line]


def flatten(values: Any) -> list[float]:
    if isinstance(values, (list, tuple)):
        return [x for v in values for x in flatten(v)]
    return [values]


def shape_of(values: Any) -> list[int]:
    shape = []
    while isinstance(values, list):
        shape.append(len(values))
        values = values[0] if values else None
    return shape


def stats_of(values: Any) -> dict[str, float]:
    """min/max/zero count of a nested list, as plain Python computes them (no rounding)."""
    flat = flatten(values)
    return {"min": min(flat), "max": max(flat), "zeros": sum(1 for x in flat if x == 0), "numel": len(flat)}


# what ParamLens adds to a module entry beyond what torch itself has (where it was bound, how it was built, whether
# it was observed after a shortened loop): left out when comparing with the oracle's module table
REPORT_ONLY_MODULE_KEYS = ("line", "origin", "after_cut")


def comparable_modules(modules: list[Any]) -> list[dict[str, Any]]:
    """A report's module table (JSON dicts or ModuleInfo objects) as the oracle states it."""
    entries = [m if isinstance(m, dict) else m.to_json() for m in modules]
    return [{k: v for k, v in m.items() if k not in REPORT_ONLY_MODULE_KEYS} for m in entries]

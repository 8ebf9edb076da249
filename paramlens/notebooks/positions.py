"""Positions of a notebook's report, from lines of the joined program to (cell, line in the cell): the JSON gives
every position a `cell` (1-based over all cells, markdown included) and makes `line` / `end_line` relative to that
cell; columns do not change (a cell's lines are the program's lines)."""

from __future__ import annotations

from typing import Any

from paramlens.notebooks.program import Program


def _move(entry: dict[str, Any], program: Program, line_key: str = "line", end_key: str | None = "end_line",
          cell_key: str = "cell") -> None:
    line = entry.get(line_key)
    if not isinstance(line, int):
        return
    where = program.to_cell(line)
    if where is None:
        entry[cell_key] = None
        return
    cell, relative = where
    entry[cell_key] = cell
    entry[line_key] = relative
    if end_key and isinstance(entry.get(end_key), int):
        place = program.cell(cell)
        end = min(entry[end_key], place.end) if place is not None else entry[end_key]
        entry[end_key] = end - (line - relative)


def to_cells(data: dict[str, Any], program: Program) -> dict[str, Any]:
    """One file's JSON (FileReport.to_json) with cell-relative positions (in place; returned)."""
    for explanation in data.get("explanations", []):
        _move(explanation, program)
        after = (explanation.get("facts") or {}).get("after_cut")
        if isinstance(after, dict):
            _move(after, program, end_key=None)
    for diagnostic in data.get("diagnostics", []):
        _move(diagnostic, program)
        if diagnostic.get("fix"):
            _move(diagnostic["fix"], program)
    for module in data.get("modules", []):
        _move(module, program, end_key=None)
        _move(module, program, line_key="after_cut", end_key=None, cell_key="after_cut_cell")
    execution = data.get("execution") or {}
    for entry in execution.get("skipped", []) + execution.get("loops_cut", []):
        _move(entry, program, end_key=None)
    return data

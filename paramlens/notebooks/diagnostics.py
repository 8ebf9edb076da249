"""What a notebook adds to its report once the program ran: each cell's fresh output (what it printed and showed),
the comparison with the outputs the notebook stored (outputs.py), and the diagnostics that only notebooks have:
IPython syntax that was not run (PL920), a cell that is not Python (PL000, at that cell: the others still ran),
and stored outputs that differ from the fresh run (PL921)."""

from __future__ import annotations

from typing import Any

from paramlens.analyzers.instrument import Unit
from paramlens.messages import t
from paramlens.notebooks import outputs as compare_outputs
from paramlens.notebooks.ipython import HARMLESS, Magic
from paramlens.notebooks.program import Program
from paramlens.observations import Observations
from paramlens.report import Diagnostic, NotebookReport, Span

IPYTHON_SYNTAX = "PL920"
STORED_OUTPUT = "PL921"
SYNTAX_ERROR = "PL000"
# magics that only configure IPython: a cell holding one is still compared with its stored output
QUIET = {"matplotlib", "config", "load_ext", "reload_ext", "autoreload", "aimport"}


def magic_text(magic: Magic, locale: str) -> tuple[str, str]:
    """(severity, message) of the PL920 diagnostic for one piece of IPython syntax."""
    text = magic.text.strip()
    if magic.kind == "shell":
        return "information", t(locale, "`{text}` is a shell command: ParamLens did not run it (the sandbox starts no "
                                        "programs). What it installs or creates must already be there for the cells "
                                        "after it; install packages into the interpreter that runs the notebook "
                                        "yourself.", text=text)
    if magic.kind == "cell_magic":
        return "information", t(locale, "This cell is a `{text}` cell, not Python: ParamLens did not run it.",
                                text=text)
    if magic.kind == "timed":
        if magic.name == "timeit":
            return "hint", t(locale, "`{text}`: ParamLens ran the statement once, as plain Python, without timing it "
                                     "(`%timeit` runs it many times).", text=text)
        return "hint", t(locale, "`{text}`: ParamLens ran the statement once, as plain Python, without timing it.",
                         text=text)
    if magic.kind == "cell_timed":
        return "hint", t(locale, "`{text}`: ParamLens ran the cell's code once, as plain Python, without timing it.",
                         text=text)
    if magic.kind == "captured":
        return "hint", t(locale, "`{text}`: the cell's code ran; its output is hidden, as in Jupyter.", text=text)
    if magic.kind == "help":
        return "hint", t(locale, "`{text}` asks IPython for help: nothing to run.", text=text)
    if magic.kind == "ipython_call":
        return "information", t(locale, "This `get_ipython()` call uses IPython itself, which does not run here: "
                                        "ParamLens did not run it.")
    if magic.name in HARMLESS:
        return "hint", t(locale, "`{text}` only configures IPython; ParamLens runs the cells as plain Python and "
                                 "skipped it.", text=text)
    return "information", t(locale, "`{text}` is an IPython magic: ParamLens runs the cells as plain Python, without "
                                    "IPython, and did not run it; what it would have changed is missing in the cells "
                                    "after it.", text=text)


def magic_diagnostics(program: Program, locale: str) -> list[Diagnostic]:
    diagnostics = []
    for line, magic in program.magics:
        severity, message = magic_text(magic, locale)
        diagnostics.append(Diagnostic(Span(line, magic.column + 1, line, max(magic.end_column, magic.column + 1) + 1),
                                      IPYTHON_SYNTAX, severity, message))
    return diagnostics


def broken_cell_diagnostics(program: Program, locale: str) -> list[Diagnostic]:
    diagnostics = []
    for broken in program.broken:
        cell = program.cell(broken.number)
        if cell is None or cell.count == 0:
            continue
        line = cell.start + min(broken.line, cell.count) - 1
        message = t(locale, "Syntax error: {error}. Jupyter raises SyntaxError for this cell; ParamLens ran the other "
                            "cells without it.", error=broken.message)
        diagnostics.append(Diagnostic(Span(line, broken.column, line, broken.column + 1), SYNTAX_ERROR, "error",
                                      message))
    return diagnostics


def _unit_cells(program: Program, units: list[Unit]) -> dict[int, list[Unit]]:
    cells: dict[int, list[Unit]] = {}
    for unit in units:
        if unit.example is not None:
            continue
        place = program.cell_at(unit.line)
        if place is not None:
            cells.setdefault(place.number, []).append(unit)
    return cells


def fresh_outputs(program: Program, units: list[Unit], observations: Observations) -> dict[int, dict[str, Any] | None]:
    """Per code cell: what the fresh run printed (`stdout`), showed (`shown`: the cell's value and `display()`
    calls, as text) and the exception it raised (`error`, a type name), or None when the run never got there."""
    by_cell = _unit_cells(program, units)
    fresh: dict[int, dict[str, Any] | None] = {}
    for cell in program.cells:
        if cell.kind != "code":
            continue
        statements = [observations.statements.get(unit.index) for unit in by_cell.get(cell.number, [])]
        if any(statement is None for statement in statements):
            fresh[cell.number] = None
            continue
        errors = [s["error"]["type"] for s in statements if s and s.get("error") and s.get("status") == "error"]
        fresh[cell.number] = {
            "stdout": "".join(s.get("output") or "" for s in statements if s),
            "shown": [item["text"] for s in statements if s for item in s.get("shown", [])],
            "error": errors[0] if errors else None,
            "after_cut": any(s.get("after_cut") for s in statements if s),
        }
    return fresh


def _comparable(program: Program, fresh: dict[int, dict[str, Any] | None]) -> set[int]:
    unrun = {program.cell_at(line).number for line, magic in program.magics
             if not magic.ran and magic.name not in QUIET and program.cell_at(line) is not None}
    return {number for number, output in fresh.items()
            if output is not None and not output["after_cut"] and number not in program.captured
            and number not in unrun}


def notebook_parts(program: Program, units: list[Unit], observations: Observations, seed: int | None,
                   device: str | None, locale: str) -> tuple[NotebookReport, list[Diagnostic]]:
    """The notebook's part of the report, and its own diagnostics."""
    diagnostics = magic_diagnostics(program, locale) + broken_cell_diagnostics(program, locale)
    fresh = fresh_outputs(program, units, observations) if observations.executed else {}
    outcomes = []
    if program.notebook is not None and program.cells and observations.executed and device != "meta":
        outcomes = compare_outputs.compare(program, fresh, _comparable(program, fresh))
        by_number = {outcome.number: outcome for outcome in outcomes}
        for group in compare_outputs.group(program, outcomes):
            place = program.cell(group.cells[0])
            if place is None or place.count == 0:
                continue
            diagnostics.append(Diagnostic(_first_line(program, place), STORED_OUTPUT, "information",
                                          compare_outputs.message(group, by_number, seed, locale)))
    by_number = {outcome.number: outcome for outcome in outcomes}
    cells = []
    notebook = program.notebook
    places = {cell.number: cell for cell in program.cells}
    numbers = range(1, program.total_cells + 1)
    for number in numbers:
        place = places.get(number)
        kind = place.kind if place is not None else (notebook.cells[number - 1].kind if notebook else "markdown")
        entry: dict[str, Any] = {"cell": number, "kind": kind}
        if place is not None and program.kind == "percent":
            entry.update(line=place.start, end_line=place.end)
        if kind == "code":
            if notebook is not None:
                entry["execution_count"] = notebook.cells[number - 1].execution_count
            output = fresh.get(number)
            entry["output"] = None if output is None else {key: output[key] for key in ("stdout", "shown", "error")}
            if number in by_number:
                entry["stored"] = by_number[number].to_json()
        cells.append(entry)
    return NotebookReport(program=program, cells=cells), diagnostics


def _first_line(program: Program, place: Any) -> Span:
    """The cell's first line with code, as the cell has it (where a diagnostic about the whole cell sits)."""
    notebook = program.notebook
    source = notebook.cells[place.number - 1].source if notebook is not None else ""
    lines = source.split("\n") if notebook is not None else program.text.split("\n")[place.start - 1:place.end]
    for offset, text in enumerate(lines[:place.count]):
        if text.strip():
            indent = len(text) - len(text.lstrip())
            return Span(place.start + offset, indent + 1, place.start + offset, len(text.rstrip()) + 1)
    return Span(place.start, 1, place.start, 1)

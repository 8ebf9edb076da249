"""Notebooks in the language server (LSP 3.17 notebook synchronisation): what to analyse and how a cell sees the
result.

A notebook is analysed as one program (paramlens/notebooks/): an edit in any cell schedules the notebook once, under
its own URI, with the cells as they are then (`NotebookInput`). Hovers, inlay hints, code lenses, code actions and
diagnostics are asked per cell document; a cell's `View` is the notebook's snapshot seen through that cell: the
program's lines of the cell, mapped to the cell's current lines by the edits made in that cell since (positions.py).
The outputs the notebook stored (for PL921) come from the saved `.ipynb` on disk, matched to the synced code cells by
their source: LSP does not carry outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from lsprotocol import types as lsp

from paramlens.notebooks.reading import Cell, Notebook, read_saved
from paramlens.server.positions import LineMap

NOTEBOOK_TYPES = ("jupyter-notebook",)
# markdown and raw cells are synced too, so that cells are numbered as the editor numbers them ("Cell 13 of 18")
SYNC = lsp.NotebookDocumentSyncOptions(
    notebook_selector=[lsp.NotebookDocumentFilterWithCells(
        notebook=notebook_type, cells=[lsp.NotebookCellLanguage(language) for language in
                                       ("python", "markdown", "raw")]) for notebook_type in NOTEBOOK_TYPES],
    save=True)


@dataclass(frozen=True)
class CellInput:
    uri: str            # as the client names it (unquoted: pygls' workspace keys)
    kind: str           # code | markdown | raw
    language: str
    text: str
    version: int


@dataclass(frozen=True)
class NotebookInput:
    """A notebook's cells as they were when an analysis was requested (the scheduler's "text" for a notebook)."""

    uri: str
    version: int
    cells: tuple[CellInput, ...]

    def number_of(self, cell_uri: str) -> int | None:
        """The cell's 1-based number (over all synced cells) at that time."""
        for index, cell in enumerate(self.cells):
            if cell.uri == cell_uri:
                return index + 1
        return None


def key(uri: str) -> str:
    return unquote(uri)


def notebook_input(workspace: Any, notebook_uri: str) -> NotebookInput | None:
    """The open notebook's cells from pygls' workspace, or None when it is not open."""
    notebook = workspace.notebook_documents.get(key(notebook_uri))
    if notebook is None:
        return None
    cells = []
    for cell in notebook.cells:
        document = workspace.text_documents.get(key(cell.document))
        text = document.source if document is not None else ""
        language = (document.language_id or "") if document is not None else ""
        kind = "code" if cell.kind == lsp.NotebookCellKind.Code and language.lower() in ("python", "py", "python3") \
            else "markdown" if cell.kind == lsp.NotebookCellKind.Markup else "raw"
        cells.append(CellInput(key(cell.document), kind, language, text,
                               (document.version or 0) if document is not None else 0))
    return NotebookInput(key(notebook_uri), notebook.version or 0, tuple(cells))


def to_notebook(given: NotebookInput, path: str | None) -> Notebook:
    """The cells as ParamLens' notebook model, with the stored outputs and execution counts of the saved file (when
    it can be read and a code cell's source matches one of its cells, in order)."""
    cells = [Cell(index=index, kind=cell.kind, source=cell.text) for index, cell in enumerate(given.cells)]
    notebook = Notebook(cells=cells)
    saved = read_saved(path)
    if saved is None:
        return notebook
    remaining = [cell for cell in saved.cells if cell.kind == "code"]
    for cell in notebook.code_cells:
        match = next((i for i, stored in enumerate(remaining) if stored.source == cell.source), None)
        if match is None:
            continue
        stored = remaining[match]
        cell.execution_count, cell.outputs = stored.execution_count, stored.outputs
        remaining = remaining[match + 1:]
    return notebook


class CellLineMap:
    """A notebook snapshot's program lines seen from one cell: program lines [start, start + count) are the cell's
    lines at analysis time, mapped to its current lines by the edits made in the cell since (`inner`). 0-based."""

    def __init__(self, inner: LineMap, start: int, count: int) -> None:
        self.inner, self.start, self.count = inner, start, count

    def to_new(self, line: int) -> int | None:
        relative = line - self.start
        return self.inner.to_new(relative) if 0 <= relative < self.count else None

    def to_old(self, line: int) -> int | None:
        relative = self.inner.to_old(line)
        return None if relative is None or relative >= self.count else relative + self.start

    def old_bounds(self, start: int, end: int) -> tuple[int, int] | None:
        bounds = self.inner.old_bounds(start, end)
        if bounds is None or bounds[0] >= self.count:
            return None
        return bounds[0] + self.start, min(bounds[1], self.count - 1) + self.start

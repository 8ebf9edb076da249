"""A notebook as one program: its code cells, in order, joined into one Python text (Run All), and the map between
that text's lines and (cell, line in the cell).

- `.ipynb`: the code cells' sources, IPython syntax made plain Python (ipython.py), one after the other; markdown
  and raw cells take no lines. A cell that is not valid Python even then takes its lines as blank lines (Jupyter's
  Run All with errors allowed: that cell raises SyntaxError, the others run) and is reported at its own position.
- a `.py` file with cell markers (`# %%` of VS Code, jupytext's percent format and Spyder; `# In[3]:` of a script
  nbconvert exported): the file itself, its lines unchanged, each marker starting a cell.
- a jupyterlab-lsp document (a path under `.virtual_documents/`): the text, IPython syntax made plain Python.

Cells are numbered from 1 over *all* cells, markdown included, as JupyterLab ("Cell 13/18") and VS Code ("Cell 13
of 18") show them.
"""

from __future__ import annotations

import ast
import bisect
import re
from dataclasses import dataclass, field
from pathlib import PurePath

from paramlens.notebooks.ipython import Magic, transform_cell
from paramlens.notebooks.reading import Cell, Notebook

MARKER = re.compile(r"^#\s*(?:%%|In\[[ \d]*\]:)(.*)$")
MARKDOWN_MARKER = re.compile(r"\[(markdown|md|raw)\]")


@dataclass
class CellPlace:
    """Where one cell's lines are in the program: its number (1-based over all cells), its first line (1-based)
    and how many lines it has there."""

    number: int
    start: int
    count: int
    kind: str = "code"

    @property
    def end(self) -> int:
        """The last line (1-based); start - 1 for an empty cell."""
        return self.start + self.count - 1


@dataclass
class BrokenCell:
    """A cell that is not Python: Jupyter would raise SyntaxError there and run the next cell."""

    number: int
    line: int       # 1-based, in the cell
    column: int     # 1-based
    message: str


@dataclass
class Program:
    text: str
    kind: str                                   # ipynb | percent | ipython
    cells: list[CellPlace] = field(default_factory=list)   # the code cells (for percent: every cell)
    total_cells: int = 0
    magics: list[tuple[int, Magic]] = field(default_factory=list)  # (1-based program line, what was there)
    broken: list[BrokenCell] = field(default_factory=list)
    captured: set[int] = field(default_factory=set)   # cell numbers whose output `%%capture` hides
    notebook: Notebook | None = None

    @property
    def relative(self) -> bool:
        """Positions are told per cell (an .ipynb, or jupyterlab-lsp's document of one whose cells were found)
        rather than as lines of one file (a .py with markers)."""
        return self.kind == "ipynb" or (self.kind == "ipython" and bool(self.cells))

    def cell_at(self, line: int) -> CellPlace | None:
        """The cell that holds program line `line` (1-based)."""
        starts = [cell.start for cell in self.cells]
        index = bisect.bisect_right(starts, line) - 1
        while index >= 0 and self.cells[index].count == 0:
            index -= 1
        if index < 0:
            return None
        cell = self.cells[index]
        return cell if cell.start <= line <= cell.end else None

    def to_cell(self, line: int) -> tuple[int, int] | None:
        """Program line -> (cell number, line in the cell), both 1-based."""
        cell = self.cell_at(line)
        return None if cell is None else (cell.number, line - cell.start + 1)

    def to_program(self, number: int, line: int) -> int | None:
        """(cell number, 1-based line in the cell) -> program line, if that cell has that line."""
        for cell in self.cells:
            if cell.number == number:
                return cell.start + line - 1 if 1 <= line <= cell.count else None
        return None

    def display_cells(self) -> list[tuple[int, int]] | None:
        """First and last line of every code cell whose last expression shows its value (not a `%%capture`
        cell); None for a document whose cells are unknown."""
        if not self.cells:
            return None
        return [(cell.start, cell.end) for cell in self.cells
                if cell.kind == "code" and cell.count and cell.number not in self.captured]

    def cell(self, number: int) -> CellPlace | None:
        return next((cell for cell in self.cells if cell.number == number), None)


def _lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _syntax_error(text: str) -> tuple[int, int, str] | None:
    try:
        ast.parse(text)
    except SyntaxError as error:
        return error.lineno or 1, error.offset or 1, error.msg
    except (ValueError, RecursionError, MemoryError) as error:
        return 1, 1, str(error)
    return None


def from_notebook(notebook: Notebook) -> Program:
    """The code cells of an .ipynb as one program."""
    lines: list[str] = []
    program = Program(text="", kind="ipynb", total_cells=len(notebook.cells), notebook=notebook)
    for cell in notebook.cells:
        if cell.kind != "code":
            continue
        _add_cell(program, lines, cell)
    program.text = "\n".join(lines) + "\n" if lines else ""
    return program


def from_cells(cells: list[Cell]) -> Program:
    """Cells an editor sent (LSP notebook synchronisation) as one program."""
    return from_notebook(Notebook(cells=cells))


def _add_cell(program: Program, lines: list[str], cell: Cell) -> None:
    number = cell.index + 1
    transformed = transform_cell(cell.source.replace("\r\n", "\n"))
    cell_lines = _lines(transformed.text)
    start = len(lines) + 1
    error = _syntax_error(transformed.text)
    if error is not None:
        program.broken.append(BrokenCell(number, error[0], error[1], error[2]))
        cell_lines = [""] * len(cell_lines)
    else:
        program.magics.extend((start + magic.line, magic) for magic in transformed.magics)
    if transformed.captured:
        program.captured.add(number)
    program.cells.append(CellPlace(number, start, len(cell_lines)))
    lines.extend(cell_lines)


def has_cell_markers(text: str) -> bool:
    return any(MARKER.match(line) for line in text.split("\n"))


def is_virtual_document(path: str) -> bool:
    """A document jupyterlab-lsp made from a notebook (its path is under `.virtual_documents/`)."""
    return ".virtual_documents" in PurePath(path).parts


def from_percent(text: str) -> Program:
    """A .py file with cell markers: the same lines, each marker starting a cell (and the lines before the first
    marker one more, if they hold anything); IPython syntax in a cell made plain Python, cell by cell (so that
    `%%time` under a marker is the cell magic it is in VS Code's Interactive Window)."""
    lines = text.split("\n")
    last = len(lines) - (1 if lines and lines[-1] == "" else 0)
    starts = [i for i, line in enumerate(lines[:last]) if MARKER.match(line)]
    if not starts or any(line.strip() for line in lines[:starts[0]]):
        starts.insert(0, 0)
    program = Program(text="", kind="percent")
    for number, (start, end) in enumerate(zip(starts, starts[1:] + [last]), start=1):
        match = MARKER.match(lines[start])
        kind = "markdown" if match and MARKDOWN_MARKER.search(match.group(1)) else "code"
        program.cells.append(CellPlace(number, start + 1, max(end - start, 0), kind))
        body = start + 1 if match else start
        if kind != "code" or body >= end:
            continue
        transformed = transform_cell("\n".join(lines[body:end]))
        lines[body:end] = transformed.text.split("\n")
        program.magics.extend((body + 1 + magic.line, magic) for magic in transformed.magics)
        if transformed.captured:
            program.captured.add(number)
    program.total_cells = len(program.cells)
    program.text = "\n".join(lines)
    return program


def from_ipython_text(text: str, saved: Notebook | None = None) -> Program:
    """A jupyterlab-lsp document: the notebook's code cells joined (blank lines between them, markdown cells as
    blank lines), its IPython syntax in jupyterlab-lsp's `get_ipython()` spelling, made plain Python. With the saved
    notebook it was made from, its code cells are found in it, in order (a cell edited since the save lies between
    its found neighbours, and its stored outputs are not used): then each cell's value is shown, sentences name
    cells, and the stored outputs are compared (PL921) on the cells found as saved."""
    transformed = transform_cell(text)
    program = Program(text=transformed.text, kind="ipython",
                      magics=[(magic.line + 1, magic) for magic in transformed.magics])
    if saved is not None and saved.code_cells:
        _find_cells(program, saved)
    return program


SEARCH = 400  # lines a cell is looked for past the previous one (markdown cells and blank lines between)


def _find_cells(program: Program, saved: Notebook) -> None:
    lines = program.text.split("\n")
    found: list[tuple[Cell, int | None, int]] = []   # (cell, first line index or None, line count)
    position = 0
    for cell in saved.code_cells:
        cell_lines = _lines(transform_cell(cell.source.replace("\r\n", "\n")).text)
        while cell_lines and not cell_lines[-1].strip():
            cell_lines.pop()
        count = len(cell_lines)
        at = next((i for i in range(position, min(len(lines) - count, position + SEARCH) + 1)
                   if lines[i:i + count] == cell_lines), None) if count else None
        if at is not None:
            position = at + count
        found.append((cell, at, count))
    if sum(1 for _, at, count in found if at is not None or not count) < len(found) / 2:
        return  # mostly edited since the save (or another notebook): cells unknown
    kept = []
    for index, (cell, at, count) in enumerate(found):
        if at is None:  # edited since the save: the lines between its found neighbours, its outputs unknown
            start = max((a + c for _, a, c in found[:index] if a is not None), default=0)
            end = min((a for _, a, _ in found[index + 1:] if a is not None), default=len(lines))
            while start < end and not lines[start].strip():
                start += 1
            while end > start and not lines[end - 1].strip():
                end -= 1
            at, count = start, end - start
            cell = Cell(index=cell.index, kind="code", source=cell.source)
        program.cells.append(CellPlace(cell.index + 1, at + 1, count))
        kept.append(cell)
    program.total_cells = len(saved.cells)
    by_index = {cell.index: cell for cell in kept}
    program.notebook = Notebook(cells=[by_index.get(cell.index, cell) for cell in saved.cells],
                                language=saved.language, version=saved.version)


def notebook_origin(path: str) -> str | None:
    """The notebook a jupyterlab-lsp document was made from: its path without the `.virtual_documents` folder."""
    parts = list(PurePath(path).parts)
    if ".virtual_documents" not in parts:
        return None
    parts.remove(".virtual_documents")
    return str(PurePath(*parts))

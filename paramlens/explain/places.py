"""How a sentence names a place in the code: "line 12" in a file, "cell 3, line 2" in a notebook.

The analysis of a notebook runs its code cells as one program; every position inside it is a line of that
program, which means nothing to a reader of the notebook. While a notebook is analysed (`naming(program)`), the
sentences that mention a line say the cell and the line in it instead. For files (and .py files with `# %%` cells,
whose lines are what the editor shows) nothing changes.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import Any, Iterator

from paramlens.explain.fmt import names_list
from paramlens.messages import t

_PROGRAM: ContextVar[Any] = ContextVar("paramlens_program", default=None)


@contextlib.contextmanager
def naming(program: Any) -> Iterator[None]:
    """Sentences written inside this block name `program`'s cells (a notebook's) rather than its lines."""
    token = _PROGRAM.set(program if program is not None and program.relative else None)
    try:
        yield
    finally:
        _PROGRAM.reset(token)


def _cell(line: int, program: Any = None) -> tuple[int, int] | None:
    program = program or _PROGRAM.get()
    return program.to_cell(line) if program is not None and program.relative else None


def place(locale: str, line: int | None, program: Any = None) -> str:
    """"line 12" / "第 12 行", or "cell 3, line 2" / "单元格 3 第 2 行" in a notebook."""
    where = _cell(line, program) if line is not None else None
    if where is not None:
        return t(locale, "cell {cell}, line {line}", cell=where[0], line=where[1])
    return t(locale, "line {line}", line=line)


def place_heading(locale: str, line: int | None, program: Any = None) -> str:
    """`place` at the start of a sentence: "Line 12", "Cell 3, line 2"."""
    text = place(locale, line, program)
    return text[:1].upper() + text[1:]


def places(locale: str, lines: list[int], program: Any = None) -> str:
    """Several places: "lines 3 and 5", or "cell 2, line 3 and cell 4, line 1" in a notebook."""
    if len(lines) == 1:
        return place(locale, lines[0], program)
    if any(_cell(line, program) is not None for line in lines):
        return names_list(locale, [place(locale, line, program) for line in lines])
    return t(locale, "lines {lines}", lines=names_list(locale, [str(line) for line in lines]))

"""Reading `.ipynb` files with nbformat (the Jupyter project's own reader and schema) into the few facts the
analysis needs: each cell's kind and source, and for code cells the execution count and the text outputs the
author's run stored.

nbformat 4 notebooks of any minor version are read; a file that is not JSON, not a notebook, or of another major
version is a `NotebookError` with a message a user can act on. A notebook that does not quite follow the schema
(real notebooks sometimes lack a field) is read as far as it can be, with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from paramlens.messages import t

# output mime types that mean "a picture or a widget", not text a program printed
RICH_MIME = ("image/", "application/vnd.jupyter.widget")


class NotebookError(Exception):
    """The file cannot be read as a notebook; the message says why and what to do."""


@dataclass
class StoredOutput:
    """One output the notebook stored: `stream` (name `stdout`/`stderr`), `execute_result`, `display_data` (their
    text/plain, and whether they carry a picture or widget instead) or `error` (`ename`)."""

    kind: str
    text: str = ""
    name: str | None = None
    rich: bool = False


@dataclass
class Cell:
    index: int                      # 0-based over all cells, markdown included
    kind: str                       # "code" | "markdown" | "raw"
    source: str
    execution_count: int | None = None
    outputs: list[StoredOutput] = field(default_factory=list)


@dataclass
class Notebook:
    cells: list[Cell]
    language: str | None = None     # the kernel's language, when the notebook says
    version: str = "4"
    warnings: list[str] = field(default_factory=list)

    @property
    def code_cells(self) -> list[Cell]:
        return [cell for cell in self.cells if cell.kind == "code"]


def _outputs(raw: Any) -> list[StoredOutput]:
    outputs = []
    for output in raw or []:
        kind = output.get("output_type")
        if kind == "stream":
            outputs.append(StoredOutput("stream", output.get("text") or "", name=output.get("name")))
        elif kind in ("execute_result", "display_data"):
            data = output.get("data") or {}
            rich = any(str(mime).startswith(RICH_MIME) for mime in data)
            outputs.append(StoredOutput(kind, data.get("text/plain") or "", rich=rich))
        elif kind == "error":
            outputs.append(StoredOutput("error", str(output.get("evalue") or ""), name=str(output.get("ename") or "")))
    return outputs


def _language(metadata: Any) -> str | None:
    for key in ("kernelspec", "language_info"):
        section = metadata.get(key) if metadata else None
        if section:
            language = section.get("language") or (section.get("name") if key == "language_info" else None)
            if isinstance(language, str) and language:
                return language.lower()
    return None


def read_notebook(text: str, locale: str = "en") -> Notebook:
    """The notebook in `text` (the file's contents), or NotebookError. nbformat parses it (multiline strings
    joined, its own schema checked); nothing here walks the JSON by hand."""
    import nbformat
    from nbformat.reader import NotJSONError, get_version, parse_json

    if not text.strip():
        raise NotebookError(t(locale, "the file is empty, not a Jupyter notebook (a notebook is JSON with a "
                                      "`cells` list)"))
    try:
        raw = parse_json(text)
    except NotJSONError as error:
        detail = str(error.__cause__ or error).split("\n")[0][:200]
        raise NotebookError(t(locale, "not a Jupyter notebook: the file is not valid JSON ({detail})",
                              detail=detail)) from None
    if not isinstance(raw, dict) or "nbformat" not in raw:
        raise NotebookError(t(locale, "not a Jupyter notebook: the JSON has no `nbformat` version field"))
    major, minor = get_version(raw)
    if major != 4:
        raise NotebookError(t(locale, "this notebook is in nbformat {version}; ParamLens reads nbformat 4 (Jupyter's "
                                      "format since 2015). Convert it with `jupyter nbconvert --to notebook "
                                      "--nbformat 4 --output converted.ipynb NOTEBOOK.ipynb`", version=major))
    if not isinstance(raw.get("cells"), list) or not all(isinstance(cell, dict) for cell in raw["cells"]):
        raise NotebookError(t(locale, "not a Jupyter notebook: nbformat 4 needs a `cells` list of objects and this "
                                      "file has none"))
    invalid: dict[str, Any] = {}
    try:
        notebook = nbformat.reads(text, as_version=nbformat.NO_CONVERT, capture_validation_error=invalid)
    except Exception as error:  # noqa: BLE001 - nbformat's own words for a structure it cannot read
        raise NotebookError(t(locale, "not a readable Jupyter notebook: {message}",
                              message=str(error).split("\n")[0][:200])) from None
    warnings = []
    error = invalid.get("ValidationError")
    if error is not None:
        path = "/".join(str(part) for part in getattr(error, "absolute_path", [])) or "notebook"
        warnings.append(t(locale, "the notebook does not follow the nbformat schema at `{path}` ({message}); "
                                  "ParamLens read what it could", path=path,
                          message=str(getattr(error, "message", error)).split("\n")[0][:160]))
    cells = []
    for index, cell in enumerate(notebook.cells):
        kind = cell.get("cell_type")
        if kind not in ("code", "markdown", "raw"):
            raise NotebookError(t(locale, "cell {cell} has an unknown cell_type {kind} (nbformat 4 knows `code`, "
                                          "`markdown` and `raw`)", cell=index + 1, kind=repr(kind)))
        source = cell.get("source") or ""
        count = cell.get("execution_count") if kind == "code" else None
        cells.append(Cell(index=index, kind=kind, source=source if isinstance(source, str) else "".join(source),
                          execution_count=count if isinstance(count, int) else None,
                          outputs=_outputs(cell.get("outputs")) if kind == "code" else []))
    return Notebook(cells=cells, language=_language(notebook.get("metadata")), version=f"{major}.{minor}",
                    warnings=warnings)


MAX_SAVED_BYTES = 32 * 1024 * 1024


def read_saved(path: str | None) -> Notebook | None:
    """The saved `.ipynb` at `path` (an open notebook's file: its stored outputs and execution counts), or None when
    there is none, it is too large, or it cannot be read as a notebook."""
    import os

    if not path or not path.lower().endswith(".ipynb") or not os.path.isfile(path):
        return None
    try:
        if os.path.getsize(path) > MAX_SAVED_BYTES:
            return None
        with open(path, encoding="utf-8-sig") as handle:
            return read_notebook(handle.read())
    except (OSError, UnicodeDecodeError, NotebookError, ImportError):
        # ImportError: nbformat cannot be imported in this interpreter (the VS Code extension's bundled copy has no
        # build of its compiled dependency for every Python version): the stored outputs are not compared
        return None

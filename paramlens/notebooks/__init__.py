"""Notebooks: Jupyter `.ipynb` files and `# %%` cells, analysed as one program per notebook.

- reading.py: an `.ipynb` read with nbformat (cells, execution counts, stored text outputs);
- ipython.py: IPython syntax (magics, shell escapes, help, jupyterlab-lsp's `get_ipython()` spelling) made plain
  Python that keeps every line;
- program.py: the code cells joined into one program, and the map between its lines and (cell, line);
- positions.py: a report's JSON positions made cell-relative;
- outputs.py: the stored outputs compared with the fresh run, and why they differ;
- diagnostics.py: each cell's fresh output and the notebook-only diagnostics (PL920, PL921, PL000 per cell).
"""

from __future__ import annotations

NOTEBOOK_SUFFIX = ".ipynb"


def is_notebook_path(path: str) -> bool:
    """An .ipynb file (not a jupyterlab-lsp virtual document, whose text is Python although its name ends so)."""
    from paramlens.notebooks.program import is_virtual_document

    return path.lower().endswith(NOTEBOOK_SUFFIX) and not is_virtual_document(path)

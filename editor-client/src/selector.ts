/**
 * The documents the ParamLens server is asked about: Python files on disk and untitled Python buffers, and the Python
 * cells of Jupyter notebooks open in VS Code's notebook editor. The notebook entry makes vscode-languageclient send
 * hovers, inlay hints, code lenses and code actions for cell documents; which cells are *synchronised* (LSP 3.17
 * `notebookDocument/*`: every cell of a notebook, markdown included, so that cells are numbered as the editor numbers
 * them) is what the server's `notebookDocumentSync` capability says. No `vscode` import: unit-tested as it is.
 */
export type Filter =
  | { scheme: string; language: string }
  | { notebook: string; language: string };

export const NOTEBOOK_TYPE = "jupyter-notebook";

export const DOCUMENT_SELECTOR: Filter[] = [
  { scheme: "file", language: "python" },
  { scheme: "untitled", language: "python" },
  { notebook: NOTEBOOK_TYPE, language: "python" },
];

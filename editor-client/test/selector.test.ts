import * as assert from "node:assert/strict";
import { DOCUMENT_SELECTOR, NOTEBOOK_TYPE } from "../src/selector";

describe("document selector", () => {
  it("selects Python files on disk and untitled Python buffers", () => {
    assert.ok(DOCUMENT_SELECTOR.some((f) => "scheme" in f && f.scheme === "file" && f.language === "python"));
    assert.ok(DOCUMENT_SELECTOR.some((f) => "scheme" in f && f.scheme === "untitled" && f.language === "python"));
  });

  it("selects the Python cells of Jupyter notebooks, so that vscode-languageclient asks the server about cells", () => {
    const notebook = DOCUMENT_SELECTOR.filter((f) => "notebook" in f);
    assert.deepEqual(notebook, [{ notebook: NOTEBOOK_TYPE, language: "python" }]);
    assert.equal(NOTEBOOK_TYPE, "jupyter-notebook");
  });

  it("never selects other schemes (git:, vscode-vfs:) on their own", () => {
    for (const filter of DOCUMENT_SELECTOR) {
      if ("scheme" in filter) assert.ok(["file", "untitled"].includes(filter.scheme));
    }
  });
});

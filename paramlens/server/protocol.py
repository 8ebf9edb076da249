"""pygls' LSP protocol with the document notifications made safe for any client.

- `didChange` records, for each content change, the line edit it made (positions.py), once per edit, so that
  hovers between an edit and its analysis map lines without comparing texts;
- `didChange`, `didSave` and `didClose` of a document that is not open are logged and ignored: pygls would raise
  (a "KeyError" popup) or, for `didSave`, read the file from disk, which the server must never do for a file the
  user did not open (it would then run it);
- every error pygls reports is a line in the client's log (`window/logMessage`), never a popup: a misbehaving
  client is not the user's business.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import attrs

from lsprotocol import types as lsp
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from paramlens.server.positions import incremental_edit, whole_edit


class ParamLensProtocol(LanguageServerProtocol):
    def _open(self, uri: str, method: str) -> bool:
        if uri in self.workspace.text_documents:
            return True
        self._server.log_noise(f"{method} for {uri}, which is not open: ignored")
        return False

    @lsp_method(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: lsp.DidChangeTextDocumentParams):
        uri = params.text_document.uri
        if not self._open(uri, "didChange"):
            return
        document = self.workspace.get_text_document(uri)
        log = self._server.edit_log(uri)
        before = document.source.split("\n")
        for change in params.content_changes:
            self.workspace.update_text_document(params.text_document, change)
            after = document.source.split("\n")
            if isinstance(change, lsp.TextDocumentContentChangePartial):
                log.record(incremental_edit(params.text_document.version, before, after, change.range.start.line,
                                            change.range.end.line, change.text))
            else:
                log.record(whole_edit(params.text_document.version, before, after))
            before = after
        if (handler := self.fm.features.get(lsp.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(lsp.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def lsp_notebook_document__did_change(self, params: lsp.DidChangeNotebookDocumentParams):
        """pygls applies the structure and metadata; the cells' text changes are applied here, one by one, so that
        each records its line edit in that cell's log (hovers on a cell between an edit and its analysis)."""
        uri = unquote(params.notebook_document.uri)
        if uri not in self.workspace.notebook_documents:
            self._server.log_noise(f"notebookDocument/didChange for {uri}, which is not open: ignored")
            return
        cells = params.change.cells
        texts = (cells.text_content or []) if cells is not None else []
        if texts:
            params = attrs.evolve(params, change=attrs.evolve(params.change, cells=attrs.evolve(cells, text_content=None)))
        self.workspace.update_notebook_document(params)
        for text in texts:
            key = unquote(text.document.uri)
            document = self.workspace.text_documents.get(key)
            if document is None:
                self._server.log_noise(f"a change to cell {key}, which is not open: ignored")
                continue
            log = self._server.edit_log(key)
            before = document.source.split("\n")
            for change in text.changes:
                self.workspace.update_text_document(text.document, change)
                after = document.source.split("\n")
                if isinstance(change, lsp.TextDocumentContentChangePartial):
                    log.record(incremental_edit(text.document.version, before, after, change.range.start.line,
                                                change.range.end.line, change.text))
                else:
                    log.record(whole_edit(text.document.version, before, after))
                before = after
        if (handler := self.fm.features.get(lsp.NOTEBOOK_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(lsp.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def lsp_notebook_document__did_close(self, params: lsp.DidCloseNotebookDocumentParams):
        if unquote(params.notebook_document.uri) not in self.workspace.notebook_documents:
            self._server.log_noise(f"notebookDocument/didClose for {params.notebook_document.uri}, which is not open: "
                                   "ignored")
            return
        self.workspace.remove_notebook_document(params)
        if (handler := self.fm.features.get(lsp.NOTEBOOK_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None

    @lsp_method(lsp.TEXT_DOCUMENT_DID_SAVE)
    def lsp_text_document__did_save(self, params: lsp.DidSaveTextDocumentParams):
        if not self._open(params.text_document.uri, "didSave"):
            return
        if (handler := self.fm.features.get(lsp.TEXT_DOCUMENT_DID_SAVE)) is not None:
            yield handler, (params,), None

    @lsp_method(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: lsp.DidCloseTextDocumentParams):
        if not self._open(params.text_document.uri, "didClose"):
            return
        self.workspace.remove_text_document(params.text_document.uri)
        if (handler := self.fm.features.get(lsp.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None

    def _send_data(self, data: Any) -> None:
        """A client that went away (stdin closed, pipe broken) is not an error worth a traceback."""
        try:
            super()._send_data(data)
        except (BrokenPipeError, ValueError, OSError):
            pass

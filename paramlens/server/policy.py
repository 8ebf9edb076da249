"""What the language server executes. Running a document means running code the user may not have written (a
cloned repository, a file a client sent without being asked), so the server decides per document, in this order:

| document | executed? |
|---|---|
| execution off (the `execution` setting; the stricter of `initializationOptions` and configuration) | no |
| language other than Python (`plaintext`, `markdown`, ...) | not analysed at all |
| `untitled:` buffer (the user's own typing) | yes |
| notebook cell (`vscode-notebook-cell:`) | yes |
| `file:` inside a workspace folder (or the root URI) | yes |
| `file:` outside every workspace folder | static analysis, unless `executeOutsideWorkspace` |
| any other scheme (`git:`, `vscode-vfs:`, ...) | static analysis |
| a file that was never opened (`didSave` / `didChange` without `didOpen`) | never read, never run |

The last row is enforced where the notifications arrive (protocol.py); the others here, as a pure function.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlparse

from pygls.uris import to_fs_path

from paramlens.messages import t

PYTHON_LANGUAGES = {"python", "py", "python3"}
RUNNING_SCHEMES = {"untitled", "vscode-notebook-cell"}


@dataclass(frozen=True)
class Decision:
    analyse: bool   # False: the document is not Python, nothing is reported for it
    execute: bool
    reason: str | None = None  # why it is not executed, for the report's execution message


def _inside(path: str, folders: list[str]) -> bool:
    real = os.path.realpath(path)
    for folder in folders:
        root = os.path.realpath(folder)
        if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
            return True
    return False


def decide(uri: str, language_id: str | None, execution: bool, outside_allowed: bool, folders: list[str],
           locale: str) -> Decision:
    """The policy for one open document; `folders` are the workspace folders as file-system paths."""
    if language_id is not None and language_id.lower() not in PYTHON_LANGUAGES:
        return Decision(False, False, t(locale, "not a Python document ({language})", language=language_id))
    if not execution:
        return Decision(True, False, None)
    scheme = urlparse(uri).scheme
    if scheme in RUNNING_SCHEMES:
        return Decision(True, True)
    if scheme != "file":
        return Decision(True, False, t(locale, "execution is off for `{scheme}:` documents (static analysis only)",
                                       scheme=scheme))
    path = to_fs_path(uri) or ""
    if outside_allowed or _inside(path, folders):
        return Decision(True, True)
    return Decision(True, False, t(
        locale, "the file is outside every workspace folder, so it is not run (static analysis only); the setting "
                "executeOutsideWorkspace runs such files"))

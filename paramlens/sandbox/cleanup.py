"""Removing a run's private directory (or a lineage's root of them) whatever the run did to it.

Why one function: the run may have made its files read-only or its directories unsearchable, so removal makes them
writable first; and the private directory holds symbolic links into the user's project (isolation.
link_workspace_entries) and whatever links the run made, so that chmod must never follow a link: the worker that
calls this is not sandboxed, and following one would change the permissions of the user's own files.
"""

from __future__ import annotations

import os
import shutil
import stat
from typing import Any, Callable


def make_removable(function: Callable[[str], Any], failed: str, _info: Any) -> None:
    """shutil.rmtree's error handler: make the entry and its directory writable, then retry; never through a link."""
    try:
        os.chmod(os.path.dirname(failed), stat.S_IRWXU)
        if not os.path.islink(failed):
            os.chmod(failed, stat.S_IRWXU)
        function(failed)
    except OSError:
        pass


def remove_tree(path: str) -> None:
    """Remove `path` and everything below it; never follows a symbolic link, never raises."""
    shutil.rmtree(path, onerror=make_removable)


__all__ = ["make_removable", "remove_tree"]

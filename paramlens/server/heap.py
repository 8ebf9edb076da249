"""The language server's garbage-collector policy.

A long file keeps millions of objects alive between analyses (the per-statement parse caches, the last report,
the events it was built from). Python's full collection walks every one of them, and it is triggered by the
allocations of an analysis: on the 5,012-line file a full collection took ~0.4 s in the middle of every other
edit's analysis. Objects that survive an analysis are long-lived by construction, so after each analysis they are
frozen (`gc.freeze`: moved where collections never walk). Reference counting still frees them as soon as nothing
refers to them; only garbage *cycles* among frozen objects wait, until every FULL_EVERY analyses everything is
unfrozen and collected once (off the path of any edit: right after an analysis has been published).
"""

from __future__ import annotations

import gc
import threading

FULL_EVERY = 64


class Heap:
    def __init__(self, full_every: int = FULL_EVERY) -> None:
        self.full_every = full_every
        self.analyses = 0
        self.lock = threading.Lock()

    def after_analysis(self) -> None:
        """On the analysis thread, once an analysis is done."""
        with self.lock:
            self.analyses += 1
            if self.analyses % self.full_every == 0:
                gc.unfreeze()
                gc.collect()
            gc.freeze()

    def status(self) -> dict[str, int]:
        return {"analyses": self.analyses, "frozen": gc.get_freeze_count()}


__all__ = ["FULL_EVERY", "Heap"]

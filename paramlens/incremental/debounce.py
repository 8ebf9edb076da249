"""How long the server waits after an edit before analysing: sized by what the document's analyses cost.

A fixed debounce sized for an expensive analysis holds back a cheap one: an edit whose re-analysis resumes from a
checkpoint and runs a few statements takes milliseconds, and waiting 300 ms for it is most of the latency. The
rule, per document:

- nothing known yet (no analysis since the document opened): the configured maximum (`debounceMs`' default);
- otherwise a quarter of what the last analyses cost (an exponential average upwards; a cheaper analysis sets it
  at once): a run that the next keystroke cancels wastes at most about four times the wait, and a cheap one
  starts almost at once;
- while the user types faster than an analysis takes (the gaps between edits, averaged over bursts: gaps longer
  than a second end a burst), at least one and a half typical gaps, so that a run starts when typing pauses, not
  between two keystrokes;
- a lone edit (none in the LONE_EDIT_SECONDS before it: a change made after looking, a paste, a quick fix) is
  analysed at once (MINIMUM_SECONDS): waiting would only delay its result. If it turns out to be the first key
  of a burst, the next key cancels that run (a resumed run is stopped within milliseconds) and the burst is
  debounced as above: at most one run per burst is wasted;
- so is an edit that came later after the previous one than an analysis takes (with a margin, FINISHES_FIRST):
  at that pace each analysis ends before the next edit, so none is wasted and a wait is only latency (edits a
  third of a second apart on a file whose re-analysis takes 130 ms waited 33 ms each);
- never less than MINIMUM_SECONDS, never more than the maximum;
- an analysis whose run the next edit cancelled is not counted: it ended when that edit came.

`debounceMs` set in the settings is a fixed wait instead (settings.py: `adaptive_debounce`).
"""

from __future__ import annotations

import time

MINIMUM_SECONDS = 0.005      # enough for the notifications of one edit that arrive together to coalesce
COST_SHARE = 0.25
TYPING_GAP_SECONDS = 1.0   # a pause longer than this ends a burst of typing
LONE_EDIT_SECONDS = 0.5    # an edit this long after the previous one is analysed at once
GAP_FACTOR = 1.5
SMOOTHING = 0.5            # weight of the newest sample in the averages
FINISHES_FIRST = 1.25      # an edit this many analyses' costs after the previous one is analysed at once


class Debounce:
    def __init__(self) -> None:
        self.cost: float | None = None      # seconds an analysis of this document took (average)
        self.gap: float | None = None       # seconds between edits while typing (average)
        self.last_edit: float | None = None
        self.since_previous: float | None = None  # seconds between the last edit and the one before it

    def edited(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if self.last_edit is not None:
            gap = now - self.last_edit
            self.since_previous = gap
            if gap < TYPING_GAP_SECONDS:
                self.gap = gap if self.gap is None else SMOOTHING * gap + (1 - SMOOTHING) * self.gap
        self.last_edit = now

    def analysed(self, seconds: float, cancelled: bool = False) -> None:
        # a cancelled run ended when the next edit came, not when its work was done: it says nothing of the cost
        if cancelled:
            return
        # down at once, up smoothly: the first analysis of a document (a whole run, perhaps a worker's start) or
        # one expensive edit must not hold back the cheap resumed runs that follow it
        if self.cost is None or seconds < self.cost:
            self.cost = seconds
        else:
            self.cost = SMOOTHING * seconds + (1 - SMOOTHING) * self.cost

    def typing(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return self.gap is not None and self.last_edit is not None and now - self.last_edit < TYPING_GAP_SECONDS

    def delay(self, maximum_seconds: float, now: float | None = None) -> float:
        """Seconds to wait after the edit that was just made."""
        if self.cost is None:
            return maximum_seconds
        if self.since_previous is None or self.since_previous >= min(LONE_EDIT_SECONDS, FINISHES_FIRST * self.cost):
            return min(maximum_seconds, MINIMUM_SECONDS)
        wait = COST_SHARE * self.cost
        if self.gap is not None and self.typing(now) and self.cost > self.gap:
            wait = max(wait, GAP_FACTOR * self.gap)
        return min(maximum_seconds, max(MINIMUM_SECONDS, wait))

    def to_json(self) -> dict:
        return {"cost_ms": None if self.cost is None else round(self.cost * 1000, 1),
                "typing_gap_ms": None if self.gap is None else round(self.gap * 1000, 1)}

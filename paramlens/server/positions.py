"""Positions between the text that was analysed and the text the editor has now.

Hovers are answered from the Report of the last analysed version while the user keeps typing, so a position in
the current text is mapped back to the analysed text (and ranges forward again) line by line: a line that is
unchanged between the two versions maps, an edited line does not (and gets no stale answer).

The map is kept from the edits themselves, never by comparing the two texts per request: each `didChange` content
change becomes one `Edit` (old lines [start, end) replaced by `count` new lines that map nowhere; a first or last
line whose text did not change keeps its mapping), recorded once per edit at a cost linear in the size of the
change. A `LineMap` is a sorted list of blocks of unchanged lines; applying an edit touches the blocks it overlaps
and shifts the ones after it (O(number of blocks), which is the number of edits since the analysis, plus one),
and a lookup is a binary search. A whole-document replacement is turned into one edit by its common prefix and
suffix of lines (linear). Columns: LSP counts UTF-16 code units, the Report counts code points.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Edit:
    """Lines [start, end) of the text before the edit were replaced by `count` lines that map to nothing."""

    version: int
    start: int
    end: int
    count: int


class LineMap:
    """Maps 0-based lines of an analysed text to the current text and back, where a line is unchanged."""

    def __init__(self, lines: int) -> None:
        # blocks of unchanged lines: (first line in the current text, first line in the analysed text, length)
        self.new_starts: list[int] = [0] if lines else []
        self.old_starts: list[int] = [0] if lines else []
        self.lengths: list[int] = [lines] if lines else []

    def apply(self, edit: Edit) -> None:
        new_starts, old_starts, lengths = [], [], []
        delta = edit.count - (edit.end - edit.start)
        for new, old, length in zip(self.new_starts, self.old_starts, self.lengths):
            stop = new + length
            if stop <= edit.start:                       # wholly before the edit
                new_starts.append(new), old_starts.append(old), lengths.append(length)
                continue
            if new >= edit.end:                          # wholly after: shifted
                new_starts.append(new + delta), old_starts.append(old), lengths.append(length)
                continue
            if new < edit.start:                         # the part before the edit
                new_starts.append(new), old_starts.append(old), lengths.append(edit.start - new)
            if stop > edit.end:                          # the part after it, shifted
                skip = edit.end - new
                new_starts.append(edit.end + delta), old_starts.append(old + skip), lengths.append(stop - edit.end)
        self.new_starts, self.old_starts, self.lengths = new_starts, old_starts, lengths

    def old_bounds(self, start: int, end: int) -> tuple[int, int] | None:
        """The first and last analysed line that map into current lines [start, end], or None."""
        low = high = None
        for new, old, length in zip(self.new_starts, self.old_starts, self.lengths):
            top, bottom = max(start, new), min(end, new + length - 1)
            if top > bottom:
                continue
            low = old + top - new if low is None else low
            high = old + bottom - new
        return None if low is None else (low, high)

    def to_old(self, line: int) -> int | None:
        index = bisect.bisect_right(self.new_starts, line) - 1
        if index < 0 or line >= self.new_starts[index] + self.lengths[index]:
            return None
        return self.old_starts[index] + line - self.new_starts[index]

    def to_new(self, line: int) -> int | None:
        index = bisect.bisect_right(self.old_starts, line) - 1
        if index < 0 or line >= self.old_starts[index] + self.lengths[index]:
            return None
        return self.new_starts[index] + line - self.old_starts[index]


def _line(lines: list[str], index: int) -> str | None:
    return lines[index].rstrip("\r\n") if 0 <= index < len(lines) else None


def incremental_edit(version: int, before: list[str], after: list[str], start: int, end: int, text: str) -> Edit:
    """The edit for one ranged content change: lines start..end (inclusive) of `before` became lines
    start..start+k of `after` (k = newlines in `text`); only their own first and last lines are compared."""
    count = text.count("\n") + 1
    first_same = _line(before, start) == _line(after, start) and _line(before, start) is not None
    last_same = (_line(before, end) == _line(after, start + count - 1) and _line(before, end) is not None
                 and not (first_same and (end == start or count == 1)))
    return Edit(version, start + first_same, end + 1 - last_same, count - first_same - last_same)


def whole_edit(version: int, before: list[str], after: list[str]) -> Edit:
    """The edit for a whole-document replacement: everything between the common first and last lines."""
    limit = min(len(before), len(after))
    prefix = 0
    while prefix < limit and before[prefix] == after[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and before[-1 - suffix] == after[-1 - suffix]:
        suffix += 1
    return Edit(version, prefix, len(before) - suffix, len(after) - suffix - prefix)


@dataclass
class EditLog:
    """The edits of one open document, kept as long as a snapshot older than them may be shown."""

    edits: list[Edit] = field(default_factory=list)
    maps: dict[tuple[int, int], LineMap] = field(default_factory=dict)  # (snapshot, current version) -> map

    def record(self, edit: Edit) -> None:
        if edit.start < edit.end or edit.count:
            self.edits.append(edit)

    def map_for(self, snapshot_version: int, snapshot_lines: int, current_version: int) -> LineMap:
        """The map from a snapshot to the current text: built once per (snapshot, edit), then reused."""
        key = (snapshot_version, current_version)
        found = self.maps.get(key)
        if found is None:
            found = LineMap(snapshot_lines)
            for edit in self.edits:
                if edit.version > snapshot_version:
                    found.apply(edit)
            self.maps = {k: v for k, v in self.maps.items() if k[1] == current_version}
            self.maps[key] = found
        return found

    def forget_before(self, version: int) -> None:
        """Drop the edits no shown snapshot needs any more (those up to `version`)."""
        self.edits = [edit for edit in self.edits if edit.version > version]


def utf16_to_codepoints(line_text: str, character: int) -> int:
    units = 0
    for index, char in enumerate(line_text):
        if units >= character:
            return index
        units += 2 if ord(char) > 0xFFFF else 1
    return len(line_text)


def codepoints_to_utf16(line_text: str, column: int) -> int:
    return sum(2 if ord(char) > 0xFFFF else 1 for char in line_text[:column])

"""Positions between the text that was analysed and the text the editor has now.

Hovers are answered from the Report of the last analysed version while the user keeps typing, so a position in
the current text is mapped back to the analysed text (and ranges forward again) line by line: a line that is
unchanged between the two versions maps, an edited line does not (and gets no stale answer). Columns: LSP counts
UTF-16 code units, the Report counts code points.
"""

from __future__ import annotations

import difflib


class LineMap:
    """Maps 0-based line numbers of `old` to `new` where the line is unchanged."""

    def __init__(self, old_lines: list[str], new_lines: list[str]) -> None:
        self.forward: dict[int, int] = {}
        self.backward: dict[int, int] = {}
        if old_lines == new_lines:
            self.identity = True
            return
        self.identity = False
        matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
        for block in matcher.get_matching_blocks():
            for offset in range(block.size):
                self.forward[block.a + offset] = block.b + offset
                self.backward[block.b + offset] = block.a + offset

    def to_new(self, line: int) -> int | None:
        return line if self.identity else self.forward.get(line)

    def to_old(self, line: int) -> int | None:
        return line if self.identity else self.backward.get(line)


def utf16_to_codepoints(line_text: str, character: int) -> int:
    units = 0
    for index, char in enumerate(line_text):
        if units >= character:
            return index
        units += 2 if ord(char) > 0xFFFF else 1
    return len(line_text)


def codepoints_to_utf16(line_text: str, column: int) -> int:
    return sum(2 if ord(char) > 0xFFFF else 1 for char in line_text[:column])

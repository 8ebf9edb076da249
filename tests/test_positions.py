"""Line maps kept from the edits (paramlens/server/positions.py), checked against the texts themselves: after any
sequence of edits, a line maps exactly when the map says so, to the line with the same text."""

from __future__ import annotations

import random

from paramlens.server.positions import EditLog, LineMap, incremental_edit, whole_edit


def _apply(lines: list[str], start: tuple[int, int], end: tuple[int, int], text: str) -> list[str]:
    """An LSP range edit on a list of lines (columns in code points: the texts here are ASCII)."""
    before = lines[start[0]][:start[1]]
    after = lines[end[0]][end[1]:]
    return lines[:start[0]] + (before + text + after).split("\n") + lines[end[0] + 1:]


def _check(original: list[str], current: list[str], line_map: LineMap) -> int:
    mapped = 0
    for new, text in enumerate(current):
        old = line_map.to_old(new)
        if old is not None:
            assert original[old] == text, (new, old)
            assert line_map.to_new(old) == new
            mapped += 1
    return mapped


def test_random_edits_keep_every_mapping_true():
    rng = random.Random(7)
    mapped = total = 0
    for trial in range(200):
        original = [f"line {i} {'x' * rng.randint(0, 6)}" for i in range(rng.randint(1, 40))]
        current = list(original)
        log = EditLog()
        for version in range(2, 2 + rng.randint(1, 8)):
            start_line = rng.randrange(len(current))
            end_line = rng.randrange(start_line, min(len(current), start_line + 4))
            start = (start_line, rng.randint(0, len(current[start_line])))
            end = (end_line, rng.randint(0 if end_line > start_line else start[1], len(current[end_line])))
            text = rng.choice(["", "a", "\n", "new\nlines\n", "z\n", "\nq"])
            after = _apply(current, start, end, text)
            log.record(incremental_edit(version, current, after, start[0], end[0], text))
            current = after
        line_map = log.map_for(1, len(original), version)
        mapped += _check(original, current, line_map)
        total += len(current)
    assert mapped > total // 2, "most lines are away from the edits and must keep their mapping"


def test_inserting_lines_shifts_what_follows_and_keeps_it():
    original = [f"line {i}" for i in range(10)]
    current = _apply(original, (3, 0), (3, 0), "new one\nnew two\n")
    log = EditLog()
    log.record(incremental_edit(2, original, current, 3, 3, "new one\nnew two\n"))
    line_map = log.map_for(1, len(original), 2)
    assert _check(original, current, line_map) == 10  # every old line still maps, two down
    assert line_map.to_new(9) == 11 and line_map.to_old(3) is None


def test_a_whole_document_replacement_keeps_the_common_ends():
    original = [f"line {i}" for i in range(10)]
    current = original[:4] + ["changed"] + original[6:]
    log = EditLog()
    log.record(whole_edit(2, original, current))
    line_map = log.map_for(1, len(original), 2)
    assert _check(original, current, line_map) == 8
    assert line_map.to_old(4) is None and line_map.to_new(9) == 8


def test_maps_are_made_once_per_edit_and_old_edits_forgotten():
    log = EditLog()
    original = ["a", "b", "c"]
    current = _apply(original, (0, 0), (0, 0), "x\n")
    log.record(incremental_edit(2, original, current, 0, 0, "x\n"))
    first = log.map_for(1, 3, 2)
    assert log.map_for(1, 3, 2) is first
    log.forget_before(2)
    assert log.edits == []


def test_old_bounds_cover_exactly_the_mapped_lines_of_a_viewport():
    original = [f"line {i}" for i in range(30)]
    current = _apply(original, (10, 0), (12, 0), "a\nb\nc\nd\n")
    log = EditLog()
    log.record(incremental_edit(2, original, current, 10, 12, "a\nb\nc\nd\n"))
    line_map = log.map_for(1, len(original), 2)
    for start in range(0, len(current), 3):
        end = min(len(current) - 1, start + 5)
        olds = [line_map.to_old(n) for n in range(start, end + 1) if line_map.to_old(n) is not None]
        assert line_map.old_bounds(start, end) == ((min(olds), max(olds)) if olds else None)

"""Incremental analysis: a long file re-analysed from its first changed statement.

- static.py: the static work (libcst parse, recognition, instrumentation) per top-level statement, cached; only
  the statements whose text changed are parsed again, the others are reused shifted by line;
- session.py: one document's analyses: the static caches, the checkpoints of its runs (sandbox/checkpoint.py) and
  which one an edit resumes from, the observations of the unchanged prefix reused;
- debounce.py: how long the server waits after an edit, from what the document's last analysis cost and how fast
  its user types.

The result of an incremental analysis is the report a full `analyze()` of the same text gives
(tests/test_incremental.py compares them on every file of the corpus and on random edits of them).
"""

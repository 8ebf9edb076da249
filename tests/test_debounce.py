"""The adaptive debounce (paramlens/incremental/debounce.py): the wait after an edit fits what the document's
analyses cost and how the user edits. Times are given explicitly, so these rules are checked exactly."""

from __future__ import annotations

from paramlens.incremental.debounce import (COST_SHARE, GAP_FACTOR, LONE_EDIT_SECONDS, MINIMUM_SECONDS, Debounce)

MAXIMUM = 0.3


def test_nothing_known_yet_waits_the_maximum():
    debounce = Debounce()
    debounce.edited(now=10.0)
    assert debounce.delay(MAXIMUM, now=10.0) == MAXIMUM


def test_a_lone_edit_is_analysed_at_once():
    debounce = Debounce()
    debounce.analysed(0.4)                     # the document costs 0.4 s an analysis
    debounce.edited(now=10.0)                  # the first edit since it opened
    assert debounce.delay(MAXIMUM, now=10.0) == MINIMUM_SECONDS
    debounce.edited(now=10.0 + LONE_EDIT_SECONDS + 0.1)  # after looking at the result
    assert debounce.delay(MAXIMUM, now=10.0 + LONE_EDIT_SECONDS + 0.1) == MINIMUM_SECONDS


def test_a_burst_of_typing_waits_for_a_pause_or_a_share_of_the_cost():
    debounce = Debounce()
    debounce.analysed(0.4)
    now = 10.0
    for _ in range(6):                         # keys 0.12 s apart, faster than an analysis
        debounce.edited(now=now)
        now += 0.12
    now -= 0.12
    wait = debounce.delay(MAXIMUM, now=now)
    assert wait == max(COST_SHARE * 0.4, GAP_FACTOR * debounce.gap)
    assert abs(debounce.gap - 0.12) < 1e-9


def test_edits_slower_than_an_analysis_are_analysed_at_once():
    """Edits a third of a second apart on a document whose analysis takes 130 ms: each analysis ends before the
    next edit, so waiting saves nothing and is only latency."""
    debounce = Debounce()
    debounce.analysed(0.13)
    now = 10.0
    for _ in range(5):
        debounce.edited(now=now)
        assert debounce.delay(MAXIMUM, now=now) == MINIMUM_SECONDS
        now += 0.3
    debounce.edited(now=now - 0.3 + 0.1)       # then faster than an analysis: a wait again
    assert debounce.delay(MAXIMUM, now=now - 0.2) > MINIMUM_SECONDS


def test_a_cheap_document_waits_little_even_while_typing():
    debounce = Debounce()
    debounce.analysed(0.02)                    # a resumed run of a few statements
    debounce.edited(now=10.0)
    debounce.edited(now=10.1)
    assert debounce.delay(MAXIMUM, now=10.1) == max(MINIMUM_SECONDS, COST_SHARE * 0.02)


def test_a_cancelled_analysis_teaches_nothing_about_the_cost():
    """A run cancelled by the next keystroke ends after however long that keystroke took to come: counted as an
    analysis's cost (which goes down at once), it made the next waits those of a cheap document, and a typist on an
    expensive one got a run started, and cancelled, at nearly every key."""
    debounce = Debounce()
    debounce.analysed(0.4)
    debounce.analysed(0.05, cancelled=True)
    assert debounce.cost == 0.4
    debounce.analysed(0.2)
    assert debounce.cost == 0.2


def test_the_server_freezes_what_survives_an_analysis_and_collects_now_and_then():
    """paramlens/server/heap.py: survivors are frozen (full collections no longer walk them) and every
    `full_every` analyses a garbage cycle among them is collected."""
    import gc
    import weakref

    from paramlens.server.heap import Heap

    class Node:
        pass

    heap = Heap(full_every=3)
    try:
        cycle = Node()
        cycle.self = cycle
        alive = weakref.ref(cycle)
        heap.after_analysis()
        assert gc.get_freeze_count() > 0
        del cycle
        gc.collect()
        assert alive() is not None  # frozen: a collection does not walk it
        heap.after_analysis()
        heap.after_analysis()  # the third: everything unfrozen and collected once
        assert alive() is None
    finally:
        gc.unfreeze()

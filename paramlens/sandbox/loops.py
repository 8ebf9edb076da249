"""The loop budget, inside the sandboxed child: a loop that would run long is cut after a few iterations.

Why: ParamLens runs a file as `python file.py` would, training loops included, so that every value it shows is the
program's. A training loop of 10,000 steps or a `while True:` loop would take the whole run's time budget, and
nothing after it would be observed. So each loop is cut after the iteration in which it has run at least
`iterations` iterations and `seconds` of wall time (defaults 2 and 0.2 s), the way it would end normally (a `for`
loop's iterator stops, a `while` loop's condition turns false; its `else` runs). The cut is reported with how many
iterations ran (and of how many, when the iterable has a length), and from then on every observation is labelled as
made after a shortened loop, because from then on the program's state is not the one `python file.py` reaches.

What is never cut, because cutting it would change the model rather than shorten the work (decided from what the
run does, not from names):
- an iteration that created parameters (a loop that builds layers, however slow);
- a loop whose items are the model's own parts (modules or parameters: `for m in self.modules()`,
  `for block in self.blocks`, `for name, p in net.named_parameters()`);
- a loop running inside a module's call (its forward): cutting it would silently skip layers of a computation.
Comprehensions are not instrumented at all (see analyzers/instrument.py).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from paramlens.sandbox.protocol import Event

@dataclass
class LoopSite:
    id: int
    line: int
    kind: str                 # "for" | "while"
    parent: int | None        # the loop it is nested in, in the same function
    inner_whiles: list[int] = field(default_factory=list)  # while loops nested in it, in the same function
    cuts: int = 0


@dataclass
class _WhileEntry:
    """One entry into a `while` loop: a `while` has no per-entry object, so its state is kept per (frame, loop)."""

    code: Any
    started: float
    done: int = 0
    params_mark: int = 0
    built: bool = False


class LoopBudget:
    """Implements the loop probes. `record_cut` is called with each cut (the recorder labels what follows)."""

    def __init__(self, iterations: int, seconds: float, sites: Iterable[dict[str, Any]],
                 emit: Callable[[dict[str, Any]], None], on_cut: Callable[[dict[str, Any]], None]) -> None:
        self.iterations = max(1, int(iterations))
        self.seconds = max(0.0, float(seconds))
        self.emit = emit
        self.on_cut = on_cut
        self.sites: dict[int, LoopSite] = {}
        for raw in sites:
            self.sites[raw["id"]] = LoopSite(raw["id"], raw["line"], raw["kind"], raw.get("parent"))
        for site in self.sites.values():
            parent = site.parent
            while parent is not None and parent in self.sites:
                if site.kind == "while":
                    self.sites[parent].inner_whiles.append(site.id)
                parent = self.sites[parent].parent
        self.whiles: dict[tuple[int, int], _WhileEntry] = {}
        self.parameters_created = 0
        self._module_call_code = None

    def replace_sites(self, first_id: int, sites: Iterable[dict[str, Any]]) -> None:
        """A run resumed from a checkpoint (checkpoint.py): the loops numbered from `first_id` on are those of its
        new statements (a loop nests only in loops of its own statement)."""
        for loop_id in [loop_id for loop_id in self.sites if loop_id >= first_id]:
            del self.sites[loop_id]
        added = [LoopSite(raw["id"], raw["line"], raw["kind"], raw.get("parent")) for raw in sites]
        for site in added:
            self.sites[site.id] = site
        for site in added:
            parent = site.parent
            while parent is not None and parent in self.sites:
                if site.kind == "while":
                    self.sites[parent].inner_whiles.append(site.id)
                parent = self.sites[parent].parent

    # -- what the run did -------------------------------------------------------------------------------------
    def install(self) -> None:
        """Count parameters as they are created (an iteration that creates them is building a model)."""
        from torch import nn

        from paramlens.sandbox.guards import on_parameter_created

        on_parameter_created(self._parameter_created)
        self._module_call_code = nn.Module._call_impl.__code__

    def _parameter_created(self, parameter: Any) -> None:
        self.parameters_created += 1

    def _inside_module_call(self) -> bool:
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code is self._module_call_code:
                return True
            frame = frame.f_back
        return False

    # -- probes -----------------------------------------------------------------------------------------------
    def for_loop(self, loop_id: int, iterable: Any) -> Iterator[Any]:
        """`for x in __pl_loop__(id, iterable)`: `iter()` is taken here, eagerly, so a non-iterable raises at the
        user's `for` line exactly as without the probe."""
        iterator = iter(iterable)
        total = _length(iterable)
        frame_id = id(sys._getframe(1))
        return self._iterate(loop_id, iterator, total, frame_id)

    def _iterate(self, loop_id: int, iterator: Iterator[Any], total: int | None, frame_id: int) -> Iterator[Any]:
        started = time.perf_counter()
        done = 0
        built = False
        parts_only = True
        site = self.sites.get(loop_id)
        while True:
            # a loop whose length is known and reached ends by itself; one of unknown length is cut without
            # asking its iterator for one more item (that would consume it, visibly to code that shares it)
            if done >= self.iterations and (total is None or done < total) and not built and not parts_only and \
                    time.perf_counter() - started >= self.seconds and not self._inside_module_call():
                self._cut(site, done, total, time.perf_counter() - started)
                return
            try:
                item = next(iterator)
            except StopIteration:
                return
            parts_only = parts_only and _is_model_part(item)
            if site is not None:
                for inner in site.inner_whiles:
                    self.whiles.pop((frame_id, inner), None)
            mark = self.parameters_created
            yield item
            done += 1
            built = self.parameters_created > mark

    def while_tick(self, loop_id: int, condition: Any) -> bool:
        """`while __pl_while__(id, condition)`: the condition's truth, computed once as `while` would."""
        if not condition:
            self._forget(loop_id, sys._getframe(1))
            return False
        frame = sys._getframe(1)
        key = (id(frame), loop_id)
        entry = self.whiles.get(key)
        site = self.sites.get(loop_id)
        now = time.perf_counter()
        if entry is None or entry.code is not frame.f_code:
            self.whiles[key] = _WhileEntry(frame.f_code, now, 0, self.parameters_created)
        else:
            entry.done += 1
            built = self.parameters_created > entry.params_mark
            entry.params_mark = self.parameters_created
            if entry.done >= self.iterations and not built and now - entry.started >= self.seconds and \
                    not self._inside_module_call():
                del self.whiles[key]
                self._cut(site, entry.done, None, now - entry.started)
                return False
        if site is not None:
            for inner in site.inner_whiles:
                self.whiles.pop((id(frame), inner), None)
        return True

    def end(self, *loop_ids: int) -> None:
        """`__pl_end__(id); break` / `return`: the `while` loop is left without its condition turning false."""
        frame = sys._getframe(1)
        for loop_id in loop_ids:
            self._forget(loop_id, frame)

    def _forget(self, loop_id: int, frame: Any) -> None:
        self.whiles.pop((id(frame), loop_id), None)

    def _cut(self, site: LoopSite | None, done: int, total: int | None, seconds: float) -> None:
        if site is None:
            return
        site.cuts += 1
        function = sys._getframe(2).f_code.co_name
        cut = {"t": Event.LOOP_CUT, "loop": site.id, "line": site.line, "iterations": done, "of": total,
               "seconds": round(seconds, 3), "function": None if function == "<module>" else function,
               "n": site.cuts}
        self.on_cut(cut)
        self.emit(cut)  # every cut: each costs at least the loop budget's time, so the run's time bounds them


def _length(iterable: Any) -> int | None:
    """How many items a `for` loop over this would see, when the object says so without being iterated (a list,
    a range, a DataLoader); None for iterators and generators."""
    if not hasattr(type(iterable), "__len__") or hasattr(type(iterable), "__next__"):
        return None
    try:
        length = len(iterable)
    except Exception:  # noqa: BLE001 - e.g. a DataLoader over an IterableDataset; the loop still runs
        return None
    return length if isinstance(length, int) else None


def _is_model_part(item: Any, depth: int = 0) -> bool:
    """A module or a parameter, or a tuple of them and names: `(name, module)` from `named_modules()`, `(p, q)` from
    `zip(ema.parameters(), model.parameters())`, `((n, p), (m, q))` from a zip of named parameters."""
    from torch import nn

    if isinstance(item, (nn.Module, nn.Parameter)):
        return True
    if isinstance(item, tuple) and item and depth < 3:
        parts = [part for part in item if not isinstance(part, str)]
        return bool(parts) and all(_is_model_part(part, depth + 1) for part in parts)
    return False

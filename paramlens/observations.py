"""What the sandboxed run observed, indexed for the explainers: probe records by probe id, statement outcomes by
unit index, the final module variables."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from paramlens.sandbox.protocol import Event


@dataclass
class Observations:
    executed: bool
    probes: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    counts: dict[int, int] = field(default_factory=dict)
    statements: dict[int, dict[str, Any]] = field(default_factory=dict)
    modules: list[dict[str, Any]] = field(default_factory=list)
    torch_version: str | None = None
    seed: int | None = None
    device: str | None = None
    # the file's module classes that had an instance at the end of the run (None: not reported)
    instantiated: set[str] | None = None
    tallies: dict[int, dict[str, int]] = field(default_factory=dict)  # probe -> result -> evaluations
    notes: list[dict[str, Any]] = field(default_factory=list)  # things the sandbox did differently (argparse)
    cuts: dict[int, dict[str, Any]] = field(default_factory=dict)  # loop id -> first cut, with `times` counted
    refusals: list[dict[str, Any]] = field(default_factory=list)  # operations the sandbox refused, with lines
    backwards: list[dict[str, Any]] = field(default_factory=list)  # backward passes and their shared parameters
    symmetry: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # statement -> layers with equal rows
    # statement -> the top-level models its symmetry check covered (absent: all of them)
    symmetry_models: dict[int, set[str]] = field(default_factory=dict)
    # example unit -> what it decided (sandbox/examples.py): {status: building | skipped, class, expression, how,
    # reason, facts}; the file's no-argument model factories (default first); the file's nn.Module classes
    examples: dict[int, dict[str, Any]] = field(default_factory=dict)
    factories: list[dict[str, Any]] = field(default_factory=list)
    module_classes: list[str] | None = None
    package_import: dict[str, Any] | None = None  # the package's own import raised (the file ran as its module)
    module_name: str | None = None  # the module name the file ran as, when it is a package's module

    @classmethod
    def from_events(cls, events: list[dict[str, Any]], start: "Fold | None" = None) -> "Observations":
        """The observations of a run's events. `start`: those of the events it begins with, already folded (an
        incremental analysis resumed from a checkpoint: the checkpoint's prefix, folded once, see Fold)."""
        fold = start.copy() if start is not None and start.begins(events) else Fold.empty(cls(executed=True))
        fold.add(events[fold.count:])
        fold.observations.modules = fold.modules
        return fold.observations

    @classmethod
    def none(cls) -> "Observations":
        return cls(executed=False)

    def records(self, probe_id: int) -> list[dict[str, Any]]:
        return self.probes.get(probe_id, [])

    def first(self, probe_id: int) -> dict[str, Any] | None:
        records = self.records(probe_id)
        return records[0] if records else None

    def count(self, probe_id: int) -> int:
        return self.counts.get(probe_id, 0)


@dataclass
class Fold:
    """`Observations.from_events` as a fold: the observations of the events so far and what the next events need
    (the statement running, the module table and where each name stands in it). A run resumed from a checkpoint
    repeats the events of the run that took it (its prefix: ~90 % of a long file's events for an edit near its end),
    so their fold is kept with the checkpoint and copied, instead of folding them again at every edit."""

    observations: Observations
    running: int | None
    modules: list[dict[str, Any]]
    positions: dict[str, list[int]]
    count: int = 0                       # events folded
    last: dict[str, Any] | None = None   # the last of them (the same object must end the prefix it continues)

    @classmethod
    def empty(cls, observations: Observations) -> "Fold":
        return cls(observations, None, [], {})

    @classmethod
    def of(cls, events: list[dict[str, Any]]) -> "Fold":
        fold = cls.empty(Observations(executed=True))
        fold.add(events)
        return fold

    def begins(self, events: list[dict[str, Any]]) -> bool:
        """Whether `events` start with the events this fold folded (checked by the identity of the last)."""
        return self.count == 0 or (len(events) >= self.count and events[self.count - 1] is self.last)

    def copy(self) -> "Fold":
        """A copy the next events can be folded into, leaving this one as it is: every container the fold adds to
        or changes in place is copied (records are added to a probe's list; a loop's first cut counts its times)."""
        o = self.observations
        observations = replace(
            o, probes={key: list(records) for key, records in o.probes.items()}, counts=dict(o.counts),
            statements=dict(o.statements), modules=list(o.modules), tallies=dict(o.tallies), notes=list(o.notes),
            cuts={key: dict(cut) for key, cut in o.cuts.items()}, refusals=list(o.refusals),
            backwards=list(o.backwards), symmetry=dict(o.symmetry), symmetry_models=dict(o.symmetry_models),
            examples=dict(o.examples), factories=list(o.factories))
        return Fold(observations, self.running, list(self.modules), dict(self.positions), self.count, self.last)

    def add(self, events: list[dict[str, Any]]) -> None:
        observations, running, modules, positions = self.observations, self.running, self.modules, self.positions
        for event in events:
            kind = event.get("t")
            if kind == Event.PROBE:
                probe_id = event["id"]
                observations.counts[probe_id] = max(observations.counts.get(probe_id, 0), event["n"] + 1)
                if event.get("v"):
                    # how many backward passes had run when this was recorded ("`.grad` after line 12's pass")
                    event["v"]["backwards_before"] = len(observations.backwards)
                    event["v"]["statement"] = running  # the top-level statement that was running
                    observations.probes.setdefault(probe_id, []).append(event["v"])
            elif kind == Event.LOOP_CUT:
                first = observations.cuts.setdefault(event["loop"], dict(event))
                first["times"] = max(first.get("times", 1), event.get("n", 1))
            elif kind == Event.SANDBOX_REFUSAL:
                observations.refusals.append({**event, "statement": running})
            elif kind == Event.BEGIN:
                running = event.get("index")
            elif kind == Event.SYMMETRY:
                observations.symmetry[event["index"]] = event["layers"]
                if event.get("models") is not None:
                    observations.symmetry_models[event["index"]] = set(event["models"])
            elif kind == Event.BACKWARD:
                observations.backwards.append(event)
            elif kind == Event.COUNTS:
                for probe_id, total in event["counts"].items():
                    observations.counts[int(probe_id)] = max(observations.counts.get(int(probe_id), 0), total)
                for probe_id, tally in event.get("tallies", {}).items():
                    observations.tallies[int(probe_id)] = tally
            elif kind == Event.STATEMENT:
                observations.statements[event["index"]] = event
            elif kind == Event.MODULE:  # one (re)bound variable, streamed as the run goes
                entry = event["module"]
                if entry["name"] in positions:
                    for position in positions[entry["name"]]:
                        modules[position] = entry
                else:
                    positions[entry["name"]] = [len(modules)]
                    modules.append(entry)
            elif kind == Event.MODULES:  # the authoritative table at the end of the run
                modules = list(event["modules"])
                positions = {}
                for position, entry in enumerate(modules):
                    positions.setdefault(entry["name"], []).append(position)
            elif kind == Event.NOTE:
                observations.notes.append(event)
                if event.get("kind") == "package_import":
                    observations.package_import = event
            elif kind == Event.INSTANCES:
                observations.instantiated = set(event["classes"])
                observations.module_classes = event.get("modules")
            elif kind == Event.EXAMPLE:
                if event.get("status") == "skipped" and event.get("reason") == "not_module" and \
                        event["index"] in observations.examples:
                    # a factory that returned something else: keep what was called
                    event = {**event, "expression": observations.examples[event["index"]].get("expression")}
                if event.get("status") == "built":
                    event = {**observations.examples.get(event["index"], {}), **event}
                observations.examples[event["index"]] = event
            elif kind == Event.FACTORIES:
                observations.factories = event.get("factories") or []
            elif kind == Event.START:
                observations.torch_version = event.get("torch")
                observations.seed = event.get("seed")
                observations.device = event.get("device", observations.device)
                observations.module_name = event.get("module")
        self.running, self.modules, self.positions = running, modules, positions
        if events:
            self.count += len(events)
            self.last = events[-1]

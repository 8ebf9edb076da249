"""The outputs a notebook stored (the author's own run) compared with ParamLens' fresh Run All, cell by cell, and
the likely reason for each difference as far as the notebook shows it.

What is compared: what the cell printed (stream `stdout`), the text of what it displayed (`execute_result` and
`display_data` text/plain; outputs that are pictures or widgets are left out) and whether it raised (the
exception's type). Whitespace is ignored (IPython's pretty printer breaks long values over lines where `repr`
does not) and so are memory addresses (`at 0x7f…`); a class shows as IPython's pretty printer shows it
(`torch.nn.parameter.Parameter` for `repr`'s `<class 'torch.nn.parameter.Parameter'>`); `%time` / `%timeit` timing
lines are dropped.

Why a stored output can differ, as the notebook shows it (nbformat keeps each code cell's last execution count):
- **run more than once**: between the code cell above ([44]) and this one ([47]) two executions happened that no
  cell of the notebook holds; the usual cause is running this cell again (the stored output is the last run's);
- **out of order**: this cell's count is lower than the cell above's, or cells below it hold the counts in between
  (they ran first);
- **another random state**: only numbers differ, and no code cell up to here sets a seed, so the author's run drew
  other random numbers than ParamLens' (which seeds torch first);
- **not installed here**: the fresh run failed to import a module (ImportError) where the author's run did not; the
  interpreter that runs ParamLens' run lacks a package the author had (PL903 is at the import);
- otherwise the notebook does not say (the cell or one before it may have been edited after it ran).
Differences after a cell that ran more than once or out of order are grouped with it: they may follow from it.
One diagnostic (PL921) per group, at its first differing cell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from paramlens.explain.fmt import names_list
from paramlens.explain.fmt import plural
from paramlens.messages import t
from paramlens.notebooks.program import Program
from paramlens.notebooks.reading import Cell

_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_CLASS = re.compile(r"<class '([\w.]+)'>")  # repr of a class; IPython's pretty printer shows its dotted name
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_TIMING = re.compile(r"^(CPU times:|Wall time:|.*± .* per loop|\d+ loops?, best of)")
_SEEDING = re.compile(r"\b(manual_seed|random\.seed|set_seed|seed_everything|default_rng)\s*\(")
EXCERPT = 60
_IMPORT_ERRORS = ("ModuleNotFoundError", "ImportError")


@dataclass
class CellOutput:
    """One code cell, as stored and as freshly run, and how they compare."""

    number: int
    execution_count: int | None
    fresh: dict[str, Any] | None = None     # {stdout, shown: [text], error: type | None}; None: not run
    status: str = "not-compared"            # same | differs | no-stored | not-run | not-compared
    reason: str | None = None               # rerun | order | random | import | unknown (for `differs`)
    caused_by: int | None = None            # the cell of the group's reason
    stored_excerpt: str | None = None
    fresh_excerpt: str | None = None
    numbers_only: bool = False              # the texts differ in their numbers only
    import_failed: bool = False             # the fresh run failed to import a module; the author's did not fail

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "caused_by": self.caused_by}


@dataclass
class Group:
    """Differing cells explained by one reason; one diagnostic, at `cells[0]`."""

    reason: str
    cause: int                                  # the cell whose counts show the reason (or the first cell)
    cells: list[int] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


def _normal(text: str) -> str:
    return "".join(_CLASS.sub(r"\1", _ADDRESS.sub("0x", text)).split())


def _stored(cell: Cell, timed: bool) -> dict[str, Any]:
    stdout = "".join(o.text for o in cell.outputs if o.kind == "stream" and o.name == "stdout")
    if timed:
        stdout = "\n".join(line for line in stdout.split("\n") if not _TIMING.match(line.strip()))
    rich = any(o.rich for o in cell.outputs if o.kind in ("execute_result", "display_data"))
    shown = [o.text for o in cell.outputs if o.kind in ("execute_result", "display_data") and not o.rich]
    error = next((o.name for o in cell.outputs if o.kind == "error"), None)
    return {"stdout": stdout, "shown": shown, "error": error, "rich": rich, "any": bool(cell.outputs)}


def _excerpts(stored: str, fresh: str) -> tuple[str, str]:
    """The first line where the two texts differ (whitespace ignored), shortened."""
    old = [line.strip() for line in stored.split("\n") if line.strip()]
    new = [line.strip() for line in fresh.split("\n") if line.strip()]
    for index in range(max(len(old), len(new))):
        a = old[index] if index < len(old) else ""
        b = new[index] if index < len(new) else ""
        if _normal(a) != _normal(b):
            return _short(a), _short(b)
    return _short(old[0] if old else ""), _short(new[0] if new else "")


def _short(text: str) -> str:
    return text if len(text) <= EXCERPT else text[:EXCERPT - 1] + "…"


def compare(program: Program, fresh: dict[int, dict[str, Any] | None], comparable: set[int]) -> list[CellOutput]:
    """Every code cell of an .ipynb compared; `fresh` maps a cell number to what the run produced there (None: the
    run never got there), `comparable` holds the cells whose fresh values can be compared (not after a shortened
    loop, not hidden by `%%capture`, not a cell magic ParamLens did not run)."""
    notebook = program.notebook
    if notebook is None:
        return []
    timed = {program.cell_at(line).number for line, magic in program.magics
             if magic.kind in ("timed", "cell_timed") and program.cell_at(line) is not None}
    results = []
    for cell in notebook.code_cells:
        number = cell.index + 1
        outcome = CellOutput(number, cell.execution_count, fresh.get(number))
        stored = _stored(cell, number in timed)
        results.append(outcome)
        if not stored["any"] and cell.execution_count is None:  # never run by the author (or outputs cleared)
            outcome.status = "no-stored"
            continue
        if outcome.fresh is None:
            outcome.status = "not-run"
            continue
        if number not in comparable:
            continue
        new = outcome.fresh
        same_out = _normal(stored["stdout"]) == _normal(new["stdout"])
        same_shown = stored["rich"] or [_normal(s) for s in stored["shown"]] == [_normal(s) for s in new["shown"]]
        same_error = (stored["error"] or None) == (new.get("error") or None)
        if same_out and same_shown and same_error:
            outcome.status = "same"
            continue
        outcome.status = "differs"
        if not same_out:
            outcome.stored_excerpt, outcome.fresh_excerpt = _excerpts(stored["stdout"], new["stdout"])
        elif not same_shown:
            outcome.stored_excerpt, outcome.fresh_excerpt = _excerpts("\n".join(stored["shown"]), "\n".join(new["shown"]))
        else:
            outcome.stored_excerpt, outcome.fresh_excerpt = stored["error"] or "", new.get("error") or ""
        outcome.import_failed = not stored["error"] and new.get("error") in _IMPORT_ERRORS
        outcome.numbers_only = same_error and _NUMBER.sub("#", _normal(stored["stdout"] + "".join(stored["shown"]))) == \
            _NUMBER.sub("#", _normal(new["stdout"] + "".join(new["shown"])))
    return results


def counts_anomaly(program: Program) -> dict[int, dict[str, Any]]:
    """Per code cell, what its execution count says about how the author ran it (only cells with something to
    say): `rerun` (executions between the cell above and this one that no cell holds) or `order` (this cell's count
    is lower than the one above it, or cells below hold counts in between: they ran first)."""
    notebook = program.notebook
    if notebook is None:
        return {}
    owners: dict[int, int] = {}
    for cell in notebook.code_cells:
        if cell.execution_count is not None:
            owners.setdefault(cell.execution_count, cell.index + 1)
    found = {}
    previous = 0
    for cell in notebook.code_cells:
        count = cell.execution_count
        if count is None:
            continue
        number = cell.index + 1
        if count < previous:
            found[number] = {"reason": "order", "count": count, "previous": previous, "below": []}
        elif count > previous + 1:
            between = range(previous + 1, count)
            below = sorted({owners[c] for c in between if c in owners and owners[c] > number})
            hidden = [c for c in between if c not in owners]
            if below:
                found[number] = {"reason": "order", "count": count, "previous": previous, "below": below}
            elif hidden:
                found[number] = {"reason": "rerun", "count": count, "previous": previous, "hidden": len(hidden)}
        previous = count
    return found


def group(program: Program, outcomes: list[CellOutput]) -> list[Group]:
    """Differing cells grouped by their likely reason (see the module's docstring)."""
    anomalies = counts_anomaly(program)
    seeded_from = _first_seeding_cell(program)
    groups: list[Group] = []
    current: Group | None = None       # the latest cell whose counts show a reason, and its differing followers
    random_group: Group | None = None
    for outcome in outcomes:
        own = anomalies.get(outcome.number)
        if own is not None:
            current = Group(own["reason"], outcome.number, facts=own)
        if outcome.status != "differs":
            continue
        if outcome.import_failed:  # the environment, whatever the counts say; later cells are judged on their own
            groups.append(Group("import", outcome.number, [outcome.number]))
            outcome.reason = "import"
            continue
        if current is not None:
            if not current.cells:
                groups.append(current)
            current.cells.append(outcome.number)
            outcome.reason, outcome.caused_by = current.reason, current.cause
        elif outcome.numbers_only and (seeded_from is None or seeded_from > outcome.number):
            if random_group is None:
                random_group = Group("random", outcome.number)
                groups.append(random_group)
            random_group.cells.append(outcome.number)
            outcome.reason = "random"
        else:
            groups.append(Group("unknown", outcome.number, [outcome.number]))
            outcome.reason = "unknown"
    return groups


def _first_seeding_cell(program: Program) -> int | None:
    notebook = program.notebook
    for cell in notebook.code_cells if notebook else []:
        if _SEEDING.search(cell.source):
            return cell.index + 1
    return None


def message(group_: Group, outcomes: dict[int, CellOutput], seed: int | None, locale: str) -> str:
    """The diagnostic's sentences: what differs, the likely reason, and the other cells it covers."""
    first = outcomes[group_.cells[0]]
    stored = first.stored_excerpt or t(locale, "nothing")
    fresh = first.fresh_excerpt or t(locale, "nothing")
    parts = [t(locale, "This cell's stored output differs from ParamLens' fresh Run All: the notebook has `{stored}` "
                       "where the fresh run gave `{fresh}`.", stored=stored, fresh=fresh)]
    facts = group_.facts
    others = [str(number) for number in group_.cells[1:]]
    if group_.reason == "rerun":
        times = facts["hidden"] + 1
        if facts["previous"]:
            parts.append(t(locale, "Its execution count is [{count}] and the code cell above it has [{previous}]: "
                                   "{hidden} happened in between that no cell of the notebook holds. The usual cause "
                                   "is running this cell again: then it ran {times} times in the author's session and "
                                   "kept the last run's output, while Run All runs it once.",
                           count=facts["count"], previous=facts["previous"], hidden=executions(locale, facts["hidden"]),
                           times=times))
        else:
            parts.append(t(locale, "Its execution count is [{count}] although no code cell above it ran: {hidden} "
                                   "happened before it that no cell of the notebook holds (cells run again, or deleted, "
                                   "before the outputs were saved).", count=facts["count"],
                           hidden=executions(locale, facts["hidden"])))
        if group_.cause != group_.cells[0]:
            parts[-1] = t(locale, "Cell {cell} above shows why: {why}", cell=group_.cause, why=parts[-1])
    elif group_.reason == "order":
        if facts.get("below"):
            parts.append(t(locale, "Its execution count is [{count}], and cells {cells} below it hold counts between "
                                   "[{previous}] and [{count}]: they ran before it, so it saw another state than in a "
                                   "top-to-bottom run.", count=facts["count"], previous=facts["previous"],
                           cells=names_list(locale, [str(c) for c in facts["below"]])))
        else:
            parts.append(t(locale, "Its execution count [{count}] is lower than [{previous}] of the code cell above it: "
                                   "the cells ran out of order, so it saw another state than in a top-to-bottom run.",
                           count=facts["count"], previous=facts["previous"]))
        if group_.cause != group_.cells[0]:
            parts[-1] = t(locale, "Cell {cell} above shows why: {why}", cell=group_.cause, why=parts[-1])
    elif group_.reason == "random":
        seeded = t(locale, "ParamLens seeds torch with `torch.manual_seed({seed})` before the first cell",
                   seed=seed) if seed is not None else t(locale, "ParamLens' run was not seeded either")
        parts.append(t(locale, "Only numbers differ, and no code cell up to here sets a random seed: the author's run "
                               "drew other random numbers ({seeded}).", seeded=seeded))
        if len(others) == 1:
            parts.append(t(locale, "Cell {cell} differs in the same way.", cell=others[0]))
        elif others:
            parts.append(t(locale, "Cells {cells} differ in the same way.", cells=names_list(locale, others)))
        return " ".join(parts)
    elif group_.reason == "import":
        parts.append(t(locale, "The fresh run could not import a module here and the author's run could: it is not "
                               "installed in the interpreter that runs ParamLens' run (PL903 at the import says "
                               "which and how to install it). The notebook is not at fault."))
        return " ".join(parts)
    else:
        parts.append(t(locale, "The notebook does not show why (its execution counts are in order): the cell, or one "
                               "it depends on, may have been edited after it ran, or the author's environment "
                               "differed (library versions, files, data)."))
        return " ".join(parts)
    if len(others) == 1:
        parts.append(t(locale, "Cell {cell}, which ran after it, differs too; that may follow from it.",
                       cell=others[0]))
    elif others:
        parts.append(t(locale, "Cells {cells}, which ran after it, differ too; that may follow from it.",
                       cells=names_list(locale, others)))
    return " ".join(parts)


def executions(locale: str, n: int) -> str:
    return plural(locale, n, "{n} execution", "{n} executions")

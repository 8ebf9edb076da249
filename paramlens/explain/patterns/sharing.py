"""A layer at several positions of one container, decided from the run by identity: `nn.Sequential(*layers)` with
`layers = [shared, nn.ReLU(), shared]`, a list filled by `.append` in a loop, `nn.ModuleList(blocks)`, or literal
arguments that reach one object through different names. The container's construction record lists each child and
the first position holding the same object; each group of positions is explained exactly as a literal
`nn.Sequential(a, b, a)` is (modules.explain_shared_module), with the name the program bound the layer to."""

from __future__ import annotations

import dataclasses
from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import join
from paramlens.explain.i18n import tr
from paramlens.explain.patterns.common import module_label
from paramlens.explain.patterns.modules import explain_shared_module

GROUPS = 2  # shared layers explained in full per site (a hover stays short); the rest are counted


def shared_groups(module: dict[str, Any]) -> list[dict[str, Any]]:
    """Children that are one object, in order of first position: {first child, positions}."""
    groups: dict[str, dict[str, Any]] = {}
    for child in module.get("children", []):
        first = child.get("same_as") or child["name"]
        group = groups.setdefault(first, {"child": child, "positions": []})
        group["positions"].append(int(child["name"]) if child["name"].isdigit() else child["name"])
    return [g for g in groups.values() if len(g["positions"]) > 1]


def _layer_name(child: dict[str, Any]) -> str:
    """The variable the program bound the shared layer to (`shared`), else its class and arguments."""
    holders = [o["path"] for o in child.get("owner", []) if o.get("relation") == "same"]
    plain = [path for path in holders if "." not in path]
    return (plain or holders or [module_label(child)])[0]


def explain_shared(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    """Literal repeats of one name (static positions) go to modules.explain_shared_module as before; a container
    filled at run time is explained from its construction record, one shared layer at a time."""
    if not finding.facts.get("observed"):
        return explain_shared_module(finding, ctx)
    container = ctx.by_node.get(id(finding.facts.get("container_node")))
    records = [r for r in ctx.records(container) if r.get("kind") == "module"] if container else []
    if not records:
        return None  # not run: which positions share an object is known only from the run
    groups = shared_groups(records[0])
    index = finding.facts.get("index")
    if index is not None:
        groups = [g for g in groups if index in g["positions"]]
    if not groups:
        return None
    parts, facts = [], {"observed": True, "groups": []}
    for group in groups[:GROUPS]:
        name = _layer_name(group["child"])
        delegate = dataclasses.replace(finding, facts={**finding.facts, "name": name, "positions": group["positions"]})
        result = explain_shared_module(delegate, ctx)
        if result is None:
            continue
        parts.append(result[0])
        facts["groups"].append({"name": name, **result[1]})
    if not parts:
        return None
    if len(groups) > GROUPS:
        hidden = len(groups) - GROUPS
        parts.append(tr(ctx.locale, f"… and {hidden} more shared layer(s) in this container.",
                        f"……这个容器中另有 {hidden} 个共享层。"))
    facts.update({k: v for k, v in facts["groups"][0].items() if k != "name"})
    facts["name"] = facts["groups"][0]["name"]
    return join(*parts), facts

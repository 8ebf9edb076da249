"""Server settings, read from `initializationOptions` and `workspace/configuration` (section `paramlens`).

Keys (camelCase as editors send them): `execution` (bool), `timeout` (seconds), `memoryMb`, `paramBudget`,
`interpreter` (path of the Python that runs the user's code), `debounceMs`, `locale` (override), and
`inlayHints: {parameters, forwardShapes, sharedLayers}` (bools). Unknown keys are ignored; a value of the wrong
type is ignored with a warning, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class InlayHintKinds:
    parameters: bool = True
    forward_shapes: bool = True
    shared_layers: bool = True


@dataclass(frozen=True)
class ServerSettings:
    execution: bool = True
    timeout_seconds: float = 30.0
    memory_mb: int = 4096
    param_budget: int = 50_000_000
    interpreter: str | None = None
    debounce_ms: int = 300
    locale: str | None = None
    inlay_hints: InlayHintKinds = field(default_factory=InlayHintKinds)

    def merged(self, raw: Any, warnings: list[str] | None = None) -> "ServerSettings":
        """A copy with the values of `raw` (a dict from the client) applied."""
        if not isinstance(raw, dict):
            return self
        if isinstance(raw.get("paramlens"), dict):  # some clients send the whole settings tree
            raw = raw["paramlens"]
        warnings = warnings if warnings is not None else []
        changes: dict[str, Any] = {}
        simple = {"execution": ("execution", bool), "timeout": ("timeout_seconds", (int, float)),
                  "memoryMb": ("memory_mb", int), "paramBudget": ("param_budget", int),
                  "interpreter": ("interpreter", str), "debounceMs": ("debounce_ms", int),
                  "locale": ("locale", str)}
        for key, (attribute, kind) in simple.items():
            if key not in raw or raw[key] is None:
                continue
            value = raw[key]
            if isinstance(value, bool) and kind is not bool:
                warnings.append(f"setting {key}: expected a number, got {value!r}")
                continue
            if not isinstance(value, kind):
                warnings.append(f"setting {key}: expected {getattr(kind, '__name__', 'a number')}, got {value!r}")
                continue
            if attribute in {"timeout_seconds", "memory_mb", "param_budget"} and value <= 0:
                warnings.append(f"setting {key}: must be positive, got {value!r}")
                continue
            if attribute == "debounce_ms" and value < 0:
                warnings.append(f"setting {key}: must not be negative, got {value!r}")
                continue
            changes[attribute] = value if value != "" else None
        hints = raw.get("inlayHints")
        if isinstance(hints, dict):
            current = self.inlay_hints
            changes["inlay_hints"] = InlayHintKinds(
                parameters=bool(hints.get("parameters", current.parameters)),
                forward_shapes=bool(hints.get("forwardShapes", current.forward_shapes)),
                shared_layers=bool(hints.get("sharedLayers", current.shared_layers)))
        return replace(self, **changes)

"""Server settings, read from `initializationOptions` and `workspace/configuration` (section `paramlens`).

The keys, defaults and bounds are those of paramlens/options.py (each option's `setting` name, camelCase as
editors send them: `execution`, `timeout`, `memoryMb`, `seed`, `device`, `paramBudget`, `loopIterations`,
`loopSeconds`, `interpreter`, `locale`, `executeOutsideWorkspace`, `debounceMs`, `inlayHints: {parameters,
forwardShapes, sharedLayers}`). The raw JSON is structured with cattrs: one hook per option checks its kind and
bounds, so no value is checked by hand here. Unknown keys are ignored; a value of the wrong type or out of bounds
is left out with a warning (the option keeps its default), never an error.

Two layers arrive: `initializationOptions` at start, then each answer to `workspace/configuration` (or a pushed
`didChangeConfiguration`), which replaces the previous answer. A later layer wins for every option except the ones
that allow execution (`execution`, `executeOutsideWorkspace`): there the stricter of the two wins, so a client that
starts the server with execution off (VS Code in Restricted Mode) cannot have it turned on by a configuration
answer that says otherwise.
"""

from __future__ import annotations

from typing import Any

import attrs
import cattrs
from cattrs.errors import AttributeValidationNote, ClassValidationError
from cattrs.gen import make_dict_structure_fn, override

from paramlens import options as opt
from paramlens.explain.i18n import normalize_locale

# options whose `False` is the safe value: the stricter layer wins
STRICTER_WINS = (opt.EXECUTE, opt.EXECUTE_OUTSIDE_WORKSPACE)
ANALYSIS_SETTINGS = tuple(option for option in opt.ANALYSIS if option.setting)


@attrs.frozen
class InlayHintKinds:
    parameters: bool = opt.HINT_PARAMETERS.default
    forward_shapes: bool = opt.HINT_FORWARD_SHAPES.default
    shared_layers: bool = opt.HINT_SHARED_LAYERS.default


@attrs.frozen
class ServerSettings:
    execute: bool = opt.EXECUTE.default
    timeout_seconds: float = opt.TIMEOUT.default
    memory_mb: int = opt.MEMORY.default
    seed: int = opt.SEED.default
    device: str = opt.DEVICE.default
    param_budget: int = opt.PARAM_BUDGET.default
    loop_iterations: int = opt.LOOP_ITERATIONS.default
    loop_seconds: float = opt.LOOP_SECONDS.default
    python: str | None = opt.PYTHON.default
    locale: str | None = opt.LOCALE.default
    execute_outside_workspace: bool = opt.EXECUTE_OUTSIDE_WORKSPACE.default
    debounce_ms: int = opt.DEBOUNCE.default
    incremental: bool = opt.INCREMENTAL.default
    checkpoints: int = opt.CHECKPOINTS.default
    checkpoint_memory_mb: int = opt.CHECKPOINT_MEMORY.default
    inlay_hints: InlayHintKinds = attrs.field(factory=InlayHintKinds)
    # the analysis options the client set (names): they win over the project's [tool.paramlens]
    explicit: frozenset[str] = frozenset()
    # `debounceMs` unset: the wait adapts (incremental/debounce.py); set: it is the wait
    adaptive_debounce: bool = True

    def analysis_values(self) -> dict[str, Any]:
        """The analysis options as the server passes them on: every one the client set (by option name)."""
        return {option.name: getattr(self, option.name) for option in ANALYSIS_SETTINGS
                if option.name in self.explicit}

    def restart_needed(self, other: "ServerSettings") -> bool:
        """Whether going from `self` to `other` needs a new server process: only a new interpreter does (the
        server itself runs in it when an editor starts it there); everything else applies live."""
        return self.python != other.python


def _hook(option: opt.Option):
    def structure(value: Any, _type: Any) -> Any:
        if option is opt.LOCALE and isinstance(value, str) and value.strip():
            value = normalize_locale(value.strip())
        if option is opt.PYTHON and isinstance(value, str):
            value = value.strip()
        return option.check(value)

    return structure


def _converter() -> cattrs.Converter:
    converter = cattrs.Converter(detailed_validation=True, forbid_extra_keys=False)
    hints = {option.name: override(rename=option.setting.split(".", 1)[1], struct_hook=_hook(option))
             for option in opt.INLAY_HINTS}
    converter.register_structure_hook(InlayHintKinds, make_dict_structure_fn(InlayHintKinds, converter, **hints))
    fields = {option.name: override(rename=option.setting, struct_hook=_hook(option))
              for option in ANALYSIS_SETTINGS + opt.SERVER_ONLY}
    fields["inlay_hints"] = override(rename="inlayHints")
    fields["explicit"] = override(omit=True)
    fields["adaptive_debounce"] = override(omit=True)
    converter.register_structure_hook(ServerSettings, make_dict_structure_fn(ServerSettings, converter, **fields))
    return converter


CONVERTER = _converter()
KEY_OF = {option.name: option.setting for option in ANALYSIS_SETTINGS + opt.SERVER_ONLY} | {"inlay_hints": "inlayHints"}
HINT_KEY_OF = {option.name: option.setting.split(".", 1)[1] for option in opt.INLAY_HINTS}


def _section(raw: Any) -> dict[str, Any]:
    """The `paramlens` section of what a client sent (some send the whole settings tree), without nulls."""
    if not isinstance(raw, dict):
        return {}
    if isinstance(raw.get("paramlens"), dict):
        raw = raw["paramlens"]
    section = {key: value for key, value in raw.items() if value is not None}
    if isinstance(section.get("inlayHints"), dict):
        section["inlayHints"] = {k: v for k, v in section["inlayHints"].items() if v is not None}
    return section


def _drop_invalid(data: dict[str, Any], error: ClassValidationError, keys: dict[str, str],
                  warnings: list[str], prefix: str = "") -> None:
    """Remove every value cattrs rejected from `data`, with one warning each."""
    for exception in error.exceptions:
        note = next((n for n in getattr(exception, "__notes__", []) if isinstance(n, AttributeValidationNote)), None)
        if note is None:
            continue
        key = keys.get(note.name, note.name)
        if isinstance(exception, ClassValidationError) and isinstance(data.get(key), dict):
            _drop_invalid(data[key], exception, HINT_KEY_OF, warnings, f"{prefix}{key}.")
            continue
        text = exception.en.split(" ", 1)[1] if isinstance(exception, opt.OptionError) else str(exception)
        warnings.append(f"setting {prefix}{key} ignored: {text}")
        data.pop(key, None)


def _clean(section: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    """`section` without the values cattrs rejects (one warning each)."""
    data = dict(section)
    if "inlayHints" in data:
        if isinstance(data["inlayHints"], dict):
            data["inlayHints"] = dict(data["inlayHints"])
        else:
            warnings.append(f"setting inlayHints ignored: expected an object, got {data.pop('inlayHints')!r}")
    for _ in range(len(KEY_OF) + len(HINT_KEY_OF) + 1):
        try:
            CONVERTER.structure(data, ServerSettings)
            return data
        except ClassValidationError as error:
            before = repr(data)
            _drop_invalid(data, error, KEY_OF, warnings)
            if repr(data) == before:  # nothing attributable to one key: keep nothing of this section
                warnings.append(f"settings ignored: {error}")
                return {}
    return {}  # pragma: no cover - every round removes at least one key


def structure(raw: Any, warnings: list[str]) -> ServerSettings:
    """`raw` (one `paramlens` section) as settings; invalid values dropped with a warning."""
    data = _clean(_section(raw), warnings)
    explicit = frozenset(option.name for option in ANALYSIS_SETTINGS if option.setting in data)
    return attrs.evolve(CONVERTER.structure(data, ServerSettings), explicit=explicit,
                        adaptive_debounce=opt.DEBOUNCE.setting not in data)


def layered(initialization: Any, configuration: Any, warnings: list[str]) -> ServerSettings:
    """The settings from `initializationOptions` and the latest configuration answer (see the module's doc)."""
    first = _clean(_section(initialization), warnings)
    second = _clean(_section(configuration), warnings)
    merged = {**first, **second}
    hints = {**first.get("inlayHints", {}), **second.get("inlayHints", {})}
    if hints:
        merged["inlayHints"] = hints
    settings = structure(merged, warnings)
    stricter = {option.name: False for option in STRICTER_WINS
                if any(layer.get(option.setting) is False for layer in (first, second))}
    return attrs.evolve(settings, **stricter)

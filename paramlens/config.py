"""Per-project configuration from `[tool.paramlens]` in the nearest `pyproject.toml`, read by both the CLI and
the language server: which rules to report, and the analysis options a project may set (their names, defaults and
bounds are in `paramlens/options.py`):

    [tool.paramlens]
    select = ["PL1", "PL201"]          # codes or prefixes to report (default: all)
    ignore = ["PL103"]                 # codes or prefixes never to report
    severity = { PL201 = "hint", PL102 = "error" }
    timeout = 60                       # any option with a `toml` name: timeout, memory-mb, seed, device, ...

A project cannot choose the interpreter nor turn execution on or off: those belong to the person running ParamLens
(a cloned repository must not pick the Python that runs its own code). Options given on the command line or in the
editor's settings win over the project's.

Diagnostics about the run itself (PL000 syntax error, PL900/PL901 execution) cannot be deselected: hiding them would
hide why explanations are missing.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paramlens.options import BY_TOML, OptionError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SEVERITIES = {"error", "warning", "information", "hint"}
ALWAYS_REPORTED = {"PL000", "PL900", "PL901", "PL902"}


class ConfigError(Exception):
    """The `[tool.paramlens]` table is malformed; the message says where."""


@dataclass(frozen=True)
class RuleConfig:
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    severity: dict[str, str] = field(default_factory=dict)
    source: str | None = None  # the pyproject.toml it came from

    def enabled(self, code: str) -> bool:
        if code in ALWAYS_REPORTED:
            return True
        if self.select and not any(code.startswith(prefix) for prefix in self.select):
            return False
        return not any(code.startswith(prefix) for prefix in self.ignore)

    def severity_of(self, code: str, default: str) -> str:
        return self.severity.get(code, default)


def find_pyproject(path: str | Path) -> Path | None:
    current = Path(path).resolve()
    for directory in [current, *current.parents] if current.is_dir() else current.parents:
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class ProjectConfig:
    """Everything `[tool.paramlens]` says: the rules, and option values by option name (only those it sets)."""

    rules: RuleConfig = field(default_factory=RuleConfig)
    options: dict[str, Any] = field(default_factory=dict)


def load_config(path: str | Path) -> ProjectConfig:
    """The configuration that applies to the file at `path` (defaults when there is none)."""
    pyproject = find_pyproject(path)
    if pyproject is None:
        return ProjectConfig()
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{pyproject}: cannot read it ({error})") from None
    table = data.get("tool", {}).get("paramlens", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{pyproject}: [tool.paramlens] must be a table")
    return parse_config(table, str(pyproject))


def parse_config(table: dict, source: str | None = None) -> ProjectConfig:
    where = source or "[tool.paramlens]"

    def codes(key: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: `{key}` must be a list of rule codes such as [\"PL101\"]")
        return tuple(v.upper() for v in value)

    severity = table.get("severity", {})
    if not isinstance(severity, dict):
        raise ConfigError(f"{where}: `severity` must be a table such as {{ PL201 = \"hint\" }}")
    for code, level in severity.items():
        if level not in SEVERITIES:
            raise ConfigError(f"{where}: severity of {code} must be one of {', '.join(sorted(SEVERITIES))}, "
                              f"not {level!r}")
    options: dict[str, Any] = {}
    for key, value in table.items():
        option = BY_TOML.get(key)
        if option is None:
            continue
        try:
            options[option.name] = option.check(value)
        except OptionError as error:
            raise ConfigError(f"{where}: `{key}`: {error.en.removeprefix(option.label + ' ')}") from None
    known = {"select", "ignore", "severity", *BY_TOML}
    unknown = set(table) - known
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
    rules = RuleConfig(select=codes("select"), ignore=codes("ignore"),
                       severity={k.upper(): v for k, v in severity.items()}, source=source)
    return ProjectConfig(rules, options)

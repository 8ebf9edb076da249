"""Writes the VS Code extension's settings (`contributes.configuration.properties` of editor-client/package.json)
from the one options model, paramlens/options.py: type, default, bounds, choices and description of every option
that has an editor `setting` name. tests/test_options.py fails when package.json differs from what this writes.

usage: python scripts/sync_settings.py [--check]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from paramlens import options as opt  # noqa: E402

PACKAGE_JSON = ROOT / "editor-client" / "package.json"
TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}

# what only VS Code users need to know, after the option's own description
VSCODE_NOTES = {
    "interpreter": "It runs the ParamLens server (the extension's bundled copy: nothing needs to be installed there) "
                   "and the file's model-building code, so it should have `torch`. Empty: the active environment "
                   "of the Python extension, else `python3` on `PATH`. `${workspaceFolder}` and `~` are expanded. "
                   "Ignored in Restricted Mode when set by the workspace. Changing it restarts the server.",
    "execution": "Always off in Restricted Mode (untrusted workspaces) and when the interpreter has no torch.",
    "locale": "Changing it re-analyses open files in the new language without restarting the server.",
}
ENUM_DESCRIPTIONS = {"locale": ["VS Code's display language", "English", "Simplified Chinese"]}


def property_of(option: opt.Option) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": TYPES[option.kind]}
    spec["default"] = "" if option.default is None else option.default
    if option.setting == "interpreter":
        spec["scope"] = "machine-overridable"
    if option.choices:
        spec["enum"] = ([""] if option.nullable else []) + list(option.choices)
        if option.setting in ENUM_DESCRIPTIONS:
            spec["enumDescriptions"] = ENUM_DESCRIPTIONS[option.setting]
    if option.minimum is not None:
        spec["exclusiveMinimum" if option.exclusive_minimum else "minimum"] = option.minimum
    if option.maximum is not None:
        spec["maximum"] = option.maximum
    note = VSCODE_NOTES.get(option.setting or "")
    spec["markdownDescription"] = option.help + (f" {note}" if note else "")
    return spec


def properties() -> dict[str, Any]:
    return {f"paramlens.{option.setting}": property_of(option) for option in opt.ALL if option.setting}


def main(argv: list[str]) -> int:
    manifest = json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))
    wanted = properties()
    if "--check" in argv:
        same = manifest["contributes"]["configuration"]["properties"] == wanted
        print("package.json settings match paramlens/options.py" if same else
              "package.json settings differ from paramlens/options.py: run python scripts/sync_settings.py")
        return 0 if same else 1
    manifest["contributes"]["configuration"]["properties"] = wanted
    PACKAGE_JSON.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(wanted)} settings to {PACKAGE_JSON}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

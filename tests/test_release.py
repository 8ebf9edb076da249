"""The release build, installed as a user installs it: scripts/release.sh makes the wheel, the sdist and the .vsix
with one version; a fresh virtual environment with only that wheel (and the CPU torch) answers `paramlens rule`,
`check` of the seed example (text and SARIF, whose rule help comes from the pages shipped in the wheel) and
`doctor`, run outside the source tree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from paramlens.explain.rules import RULES

REPO = Path(__file__).resolve().parent.parent


def _run(release, cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "LANG", "LC_ALL")}
    env["NO_COLOR"] = "1"
    return subprocess.run([str(release.paramlens), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_one_version_everywhere(release):
    assert release.wheel.is_file() and release.sdist.is_file()
    manifest = json.loads((REPO / "editor-client" / "package.json").read_text())
    assert manifest["version"] == release.version
    with zipfile.ZipFile(release.wheel) as wheel:
        names = wheel.namelist()
        metadata = wheel.read(f"paramlens-{release.version}.dist-info/METADATA").decode()
    assert f"Version: {release.version}" in metadata
    assert {f"paramlens/rule_pages/{rule.code}.md" for rule in RULES} <= set(names)
    assert "Requires-Dist: torch" not in metadata.split("Provides-Extra: torch")[0], \
        "torch is the user's: installing ParamLens must not pull one"
    with tarfile.open(release.sdist) as sdist:
        assert any(name.endswith("paramlens/rule_pages/PL101.md") for name in sdist.getnames())
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: the .vsix was not built")
    with zipfile.ZipFile(release.vsix) as vsix:
        names = set(vsix.namelist())
        package = json.loads(vsix.read("extension/package.json"))
        bundle = json.loads(vsix.read("extension/bundled/libs/paramlens-bundle.json"))
    assert package["version"] == release.version == bundle["paramlens"]
    assert "extension/bundled/serve.py" in names
    assert "extension/bundled/libs/paramlens/rule_pages/PL101.md" in names
    for python in bundle["pythons"]:
        tag = "cpython-" + python.replace(".", "")
        assert any(n.startswith("extension/bundled/libs/libcst/native." + tag) for n in names), python
    assert "extension/bundled/libs/nbformat/__init__.py" in names  # the stored outputs of an open notebook
    import sys
    own = f"cpython-{sys.version_info.major}{sys.version_info.minor}"
    assert any(n.startswith("extension/bundled/libs/rpds/rpds." + own) for n in names)
    assert any(n.startswith("extension/bundled/libs/orjson/orjson." + own) for n in names)  # the events' JSON


def test_installed_wheel_runs_outside_the_source_tree(release, tmp_path, example_source):
    where = subprocess.run([str(release.python), "-c", "import paramlens; print(paramlens.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(release.venv)), where

    rule = _run(release, tmp_path, "rule", "PL101")
    assert rule.returncode == 0, rule.stderr
    assert rule.stdout.startswith("# PL101") and "## Fix" in rule.stdout
    chinese = _run(release, tmp_path, "rule", "PL101", "--locale", "zh-CN")
    assert chinese.returncode == 0 and "## 修复" in chinese.stdout

    (tmp_path / "parameter_management.py").write_text(example_source, encoding="utf-8")
    checked = _run(release, tmp_path, "check", "parameter_management.py")
    assert checked.returncode in (0, 1), checked.stderr
    assert "PL102" in checked.stdout and "Traceback" not in checked.stderr
    sarif = _run(release, tmp_path, "check", "--format", "sarif", "parameter_management.py")
    rules = {r["id"]: r for r in json.loads(sarif.stdout)["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["PL101"]["help"]["text"].startswith("# PL101") and "## Fix" in rules["PL101"]["help"]["markdown"]

    doctor = _run(release, tmp_path, "doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "torch" in doctor.stdout and "live check   ok" in doctor.stdout

"""SARIF 2.1.0 rendering of reports, for code-scanning upload (`paramlens check --format sarif`).

Every rule is described in `tool.driver.rules` with its short description and its full help page (Markdown and
text, from the rule pages shipped in the package, paramlens/rule_pages/), results point at 1-based regions relative to `%SRCROOT%` (the current directory), and
quick fixes become SARIF `fixes`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from paramlens import __version__
from paramlens.explain.rules import RULES, rule_page
from paramlens.messages import t
from paramlens.report import FileReport, Span

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"error": "error", "warning": "warning", "information": "note", "hint": "note"}


def _uri(path: str) -> tuple[str, str | None]:
    """A URI relative to %SRCROOT% when the file is under the current directory, else an absolute file URI."""
    absolute = Path(path).resolve()
    try:
        return absolute.relative_to(Path.cwd().resolve()).as_posix(), "%SRCROOT%"
    except ValueError:
        return absolute.as_uri(), None


def _region(span: Span) -> dict[str, int]:
    return {"startLine": span.line, "startColumn": span.column, "endLine": span.end_line,
            "endColumn": max(span.end_column, span.column)}


def _artifact(path: str) -> dict[str, str]:
    uri, base = _uri(path)
    location = {"uri": uri}
    if base:
        location["uriBaseId"] = base
    return location


def _notebook_location(path: str, notebook: Any, span: Span, locale: str) -> dict[str, Any]:
    """A notebook's position: SARIF regions count lines of the artifact (the .ipynb's JSON), which mean nothing
    here, so the location names the notebook and, as a logical location, the cell; the cell-relative range is in
    `properties` (as in the JSON format)."""
    where = notebook.to_cell(span.line)
    location: dict[str, Any] = {"physicalLocation": {"artifactLocation": _artifact(path)}}
    if where is not None:
        cell, line = where
        end = span.end_line - (span.line - line)
        location["logicalLocations"] = [{"name": t(locale, "cell {cell}", cell=cell),
                                         "fullyQualifiedName": f"{Path(path).name}#cell={cell}"}]
        location["message"] = {"text": t(locale, "cell {cell}, line {line}", cell=cell, line=line)}
        location["properties"] = {"cell": cell, "line": line, "column": span.column, "endLine": end,
                                  "endColumn": max(span.end_column, span.column)}
    return location


def sarif_log(reports: list[FileReport], locale: str = "en") -> dict[str, Any]:
    rules = []
    index = {}
    for position, rule in enumerate(RULES):
        index[rule.code] = position
        page = rule_page(rule.code, locale) or t("en", rule.summary)
        rules.append({
            "id": rule.code,
            "name": "".join(part.capitalize() for part in rule.name.split("-")),
            "shortDescription": {"text": t(locale, rule.summary)},
            "fullDescription": {"text": page.split("\n## ", 2)[1].split("\n", 1)[1].strip()
                                if "\n## " in page else page},
            "help": {"text": page, "markdown": page},
            "defaultConfiguration": {"level": LEVELS[rule.severity]},
            "properties": {"tags": ["pytorch", "parameters"]},
        })
    results = []
    for report in reports:
        notebook = report.notebook if report.notebook is not None and report.notebook.relative else None
        for diagnostic in report.diagnostics:
            result: dict[str, Any] = {
                "ruleId": diagnostic.code,
                "level": LEVELS.get(diagnostic.severity, "note"),
                "message": {"text": diagnostic.message},
                "locations": [_notebook_location(report.path, notebook, diagnostic.span, locale) if notebook else
                              {"physicalLocation": {"artifactLocation": _artifact(report.path),
                                                    "region": _region(diagnostic.span)}}],
            }
            if diagnostic.code in index:
                result["ruleIndex"] = index[diagnostic.code]
            if notebook is not None:  # a region would count lines of the .ipynb's JSON: no fix to apply there
                results.append(result)
                continue
            if diagnostic.fix is not None:
                result["fixes"] = [{
                    "description": {"text": diagnostic.fix.title},
                    "artifactChanges": [{"artifactLocation": _artifact(report.path), "replacements": [{
                        "deletedRegion": _region(diagnostic.fix.span),
                        "insertedContent": {"text": diagnostic.fix.replacement}}]}]}]
            results.append(result)
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "ParamLens", "version": __version__, "semanticVersion": __version__,
                            "rules": rules}},
        "results": results,
        "columnKind": "unicodeCodePoints",
        "invocations": [{"executionSuccessful": True,
                         "workingDirectory": {"uri": Path.cwd().resolve().as_uri() + "/"}}],
        "originalUriBaseIds": {"%SRCROOT%": {"uri": Path(os.getcwd()).resolve().as_uri() + "/"}},
    }
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}

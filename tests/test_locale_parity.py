"""The analysis does not depend on the language: every runnable file of the repository, analysed in English and in
Simplified Chinese, gets the same diagnostics (codes, lines, severities), the same explanations (patterns and
ranges) and the same exit status; only the words differ. Decisions are made on the run's data and rendering comes
last (a Chinese run once reported an extra PL900 error because a decision read an English message)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import CJK

REPO = Path(__file__).resolve().parents[1]
FILES = sorted((REPO / "examples").glob("*.py")) + sorted((REPO / "tests" / "models").glob("*.py")) + \
    sorted((REPO / "tests" / "corpus").glob("*.py"))


def _analyze(path: Path, locale: str):
    from paramlens.analysis import AnalysisOptions, analyze

    # the deterministic loop budget: both runs cut the same loops after the same number of iterations
    options = AnalysisOptions(locale=locale, loop_iterations=3, loop_seconds=0.0)
    return analyze(path.read_text(encoding="utf-8"), str(path), options)


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_same_decisions_in_both_languages(path):
    english, chinese = _analyze(path, "en"), _analyze(path, "zh-CN")
    shape = lambda report: sorted((d.code, d.span.line, d.span.column, d.severity) for d in report.diagnostics)  # noqa: E731
    assert shape(english) == shape(chinese)
    assert english.has_errors == chinese.has_errors
    assert [(e.pattern, e.span) for e in english.explanations] == [(e.pattern, e.span) for e in chinese.explanations]
    assert english.execution.status == chinese.execution.status
    # and the Chinese report is Chinese
    for diagnostic in chinese.diagnostics:
        assert CJK.search(diagnostic.message), diagnostic.message
    for explanation in chinese.explanations:
        assert CJK.search(explanation.markdown) or len(explanation.markdown.splitlines()) <= 3, explanation.markdown

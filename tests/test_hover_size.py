"""Hovers fit a hover: over the seed walkthrough and every runnable file of the repository, no explanation runs past
about 20 lines of text, and none opens with a block of values before saying what it is (the key fact first; a
large tensor or module tree is cut to its first lines, with its statistics before it)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FILES = sorted((REPO / "examples").glob("*.py")) + sorted((REPO / "tests" / "models").glob("*.py")) + \
    sorted((REPO / "tests" / "corpus").glob("*.py"))
MAX_LINES = 22  # lines with text (blank lines between paragraphs do not count)


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_every_hover_fits(path, locale):
    from paramlens.analysis import AnalysisOptions, analyze

    report = analyze(path.read_text(encoding="utf-8"), str(path),
                     AnalysisOptions(locale=locale, loop_iterations=3, loop_seconds=0.0))
    for explanation in report.explanations:
        lines = [line for line in explanation.markdown.splitlines() if line.strip()]
        assert len(lines) <= MAX_LINES, (explanation.span, explanation.pattern, explanation.markdown)
        body = [line for line in lines[1:] if not line.startswith("⚠")]
        assert not body or not body[0].startswith("```"), (explanation.span, explanation.markdown)

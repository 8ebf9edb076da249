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


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_apply_over_a_deep_model_fits(tmp_path, locale):
    """nanoGPT's `self.apply(self._init_weights)` on 12 blocks changed 51 modules: the table lists the first few
    and sums up the rest by class, with the counts torch's own module tree gives."""
    from paramlens.analysis import AnalysisOptions, analyze

    source = (REPO / "tests" / "models" / "gpt_tied.py").read_text(encoding="utf-8").replace("n_layer=2", "n_layer=12")
    path = tmp_path / "deep_gpt.py"
    path.write_text(source, encoding="utf-8")
    report = analyze(source, str(path), AnalysisOptions(locale=locale))
    [apply] = [e for e in report.explanations if e.pattern == "apply" and "_init_weights" in e.markdown]
    lines = [line for line in apply.markdown.splitlines() if line.strip()]
    assert len(lines) <= MAX_LINES, apply.markdown
    changed = [v for v in apply.facts["visits"] if v["changed"]]
    assert len(changed) > 12
    assert f"{len(changed) - 8}" in apply.markdown  # the ones not in the table are counted

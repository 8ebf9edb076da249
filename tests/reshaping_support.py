"""What the tests of reshaping-call explanations share: one realistic program analysed in English and Chinese next to
torch running it (the oracle), and the explanation at a site, checked to carry the same facts in both languages."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable

from helpers import CJK, explanation_at_site, facts, locate, markdown
from oracle import OracleResult, run_oracle

LOCALES = ("en", "zh-CN")


def analyse_with_oracle(source: str, path: Path, capture: dict[int, Iterable[str]],
                        before: dict[int, Iterable[str]]) -> tuple[dict[str, Any], OracleResult]:
    """({locale: report}, oracle) for `source` written to `path`; the three runs go in parallel."""
    from paramlens.analysis import AnalysisOptions, analyze

    path.write_text(source, encoding="utf-8")
    with ThreadPoolExecutor(max_workers=3) as pool:
        reports = {locale: pool.submit(analyze, source, str(path), AnalysisOptions(locale=locale)) for locale in LOCALES}
        oracle = pool.submit(run_oracle, source, str(path), capture=capture, before=before)
        return {locale: future.result() for locale, future in reports.items()}, oracle.result()


def in_both_locales(reports: dict[str, Any], source: str, pattern: str, snippet: str, within: str | None = None) -> Any:
    """The English explanation at a site, after checking that the Chinese one has the same facts and is Chinese (and
    the English one is not)."""
    site = locate(source, snippet, within=within)
    english, chinese = (explanation_at_site(reports[locale], pattern, site) for locale in LOCALES)
    assert facts(english) == facts(chinese)
    assert CJK.search(markdown(chinese)) and not CJK.search(markdown(english))
    return english

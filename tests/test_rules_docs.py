"""Every rule has a page in English and Chinese, `paramlens rule` prints it, and every code the seed example
produces is a documented rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from paramlens.explain.rules import PAGES, RULES, rule_page


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_page_in_both_languages(rule):
    english = rule_page(rule.code, "en")
    chinese = rule_page(rule.code, "zh-CN")
    assert english and english.startswith(f"# {rule.code} {rule.name}")
    assert chinese and any("\u4e00" <= ch <= "\u9fff" for ch in chinese)
    for heading in ("## What it finds", "## Fix"):
        assert heading in english
    assert "## 修复" in chinese


def test_rule_command_and_listing():
    listing = subprocess.run([sys.executable, "-m", "paramlens", "rules"], capture_output=True, text=True, check=True)
    assert all(rule.code in listing.stdout for rule in RULES)
    page = subprocess.run([sys.executable, "-m", "paramlens", "rule", "PL102", "--locale", "zh-CN"],
                          capture_output=True, text=True, check=True)
    assert "精确类型判断" in page.stdout
    missing = subprocess.run([sys.executable, "-m", "paramlens", "rule", "PL999"], capture_output=True, text=True)
    assert missing.returncode == 2 and "no such rule" in missing.stderr


def test_no_undocumented_pages():
    documented = {page.name[:-3] for page in PAGES.iterdir() if page.name.startswith("PL") and page.name.endswith(".md")}
    assert documented == {rule.code for rule in RULES}


def test_seed_codes_are_documented(seed_report):
    codes = {d["code"] for d in seed_report["diagnostics"]}
    assert codes and codes <= {rule.code for rule in RULES}


def test_chinese_rule_pages_follow_the_typography_rules():
    """The Chinese half of every rule page: no bold run ending on full-width punctuation (CommonMark renderers,
    VS Code's included, then show the asterisks), no ASCII punctuation or parentheses around Chinese text."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import messages

    problems = []
    for code in (rule.code for rule in RULES):
        chinese = rule_page(code, "zh-CN") or ""
        fenced = False
        for line in chinese.splitlines():
            if line.startswith("```"):
                fenced = not fenced
                continue
            if fenced or not line.strip():
                continue
            problems += [f"{code}: {p}: {line[:60]}" for p in messages.style_problems("", line)
                         if not p.startswith("English")]
    assert problems == []

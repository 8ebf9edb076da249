"""Locale handling: which language a reader asked for. The texts themselves are in paramlens/messages."""

from __future__ import annotations

EN = "en"
ZH = "zh-CN"
CHINESE_PREFIXES = ("zh",)


def normalize_locale(locale: str | None) -> str:
    """`zh-CN`, `zh-Hans`, `zh_CN.UTF-8`, `zh` all mean Simplified Chinese; everything else English."""
    if not locale:
        return EN
    lowered = locale.replace("_", "-").lower()
    if lowered.startswith(CHINESE_PREFIXES) and "hant" not in lowered and not lowered.startswith(("zh-tw", "zh-hk")):
        return ZH
    return EN

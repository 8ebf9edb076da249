"""The message catalogue: every text the code shows comes from `t(locale, english, **named)` and has a reviewed
Chinese version in paramlens/messages/zh_CN.po with exactly the same placeholders, following the Chinese
typography rules (no bold run ending on full-width punctuation, no ASCII punctuation inside Chinese sentences, no
untranslated English prose). scripts/messages.py does the checking; this test keeps it true."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import messages  # noqa: E402


def test_every_message_is_translated_with_the_same_placeholders():
    problems = messages.check()
    assert problems == [], "\n".join(problems)


def test_the_catalogue_round_trips():
    from paramlens.messages import CATALOGUE, read_po, write_po

    text = CATALOGUE.read_text(encoding="utf-8")
    entries = read_po(text)
    assert read_po(write_po(entries))[0].msgid == entries[0].msgid
    assert [(e.msgid, e.msgstr) for e in read_po(write_po(entries))] == [(e.msgid, e.msgstr) for e in entries]


def test_a_message_is_filled_the_same_way_in_both_languages():
    from paramlens.messages import chinese, t

    message = next(m for m in chinese() if "{times}" in m)
    english, zh = t("en", message, **{k: 7 for k in messages.placeholders(message)}), \
        t("zh-CN", message, **{k: 7 for k in messages.placeholders(message)})
    assert "7" in english and "7" in zh and english != zh


def test_the_style_checks_catch_what_they_are_for():
    assert messages.style_problems("x", "**为什么常数权重有问题：**后文")
    assert messages.style_problems("x", "共有 49 个参数.")
    assert messages.style_problems("x", "它是一个 (uninitialised) 参数")
    assert not messages.style_problems("x", "**为什么常数权重有问题**：后文")

"""Every text ParamLens shows, in English and Simplified Chinese, from one reviewed catalogue.

The code writes each message once, in English, with named placeholders: `t(locale, "Result: `{value}`.", value=x)`.
The English text is the message id; its Chinese version lives in `zh_CN.po` (gettext's PO format: one file a
translator reviews as a whole, with the code location of every message). Placeholders are filled with `str.format`,
so both languages name the same values and neither can drift to a different number or word order of its own
(tests/test_messages.py checks that every message has a translation with exactly the same placeholders, and the
Chinese typography rules below). A message missing from the catalogue falls back to English; the test keeps that
from happening in a release.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

ZH = "zh-CN"
CATALOGUE = Path(__file__).resolve().parent / "zh_CN.po"


def t(locale: str, message: str, /, **values: Any) -> str:
    """`message` (English, the message id) in `locale`, with its placeholders filled from `values`."""
    template = message
    if locale == ZH:
        template = chinese().get(message) or message
    return template.format(**values) if values or "{" in template else template


@functools.lru_cache(maxsize=1)
def chinese() -> dict[str, str]:
    """The catalogue, read once: message id -> Chinese."""
    return {entry.msgid: entry.msgstr for entry in read_po(CATALOGUE.read_text(encoding="utf-8")) if entry.msgstr}


class Entry:
    __slots__ = ("msgid", "msgstr", "references", "obsolete")

    def __init__(self, msgid: str, msgstr: str, references: list[str], obsolete: bool = False) -> None:
        self.msgid, self.msgstr, self.references, self.obsolete = msgid, msgstr, references, obsolete


def read_po(text: str) -> list[Entry]:
    """The entries of a PO file (msgid, msgstr, `#:` references); the header entry (empty msgid) is skipped."""
    entries: list[Entry] = []
    references: list[str] = []
    current: dict[str, list[str]] = {}
    field = None

    def finish() -> None:
        if "msgid" in current:
            msgid = "".join(current["msgid"])
            if msgid:
                entries.append(Entry(msgid, "".join(current.get("msgstr", [])), list(references)))
        current.clear()
        references.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#:"):
            if "msgstr" in current:
                finish()
            references.extend(line[2:].split())
        elif line.startswith("#"):
            continue
        elif line.startswith("msgid "):
            finish() if "msgid" in current else None
            field = "msgid"
            current[field] = [_unquote(line[len("msgid "):])]
        elif line.startswith("msgstr "):
            field = "msgstr"
            current[field] = [_unquote(line[len("msgstr "):])]
        elif line.startswith('"') and field is not None:
            current[field].append(_unquote(line))
    finish()
    return entries


def write_po(entries: list[Entry]) -> str:
    header = ('# ParamLens messages in Simplified Chinese. msgid: the English text in the code (with {named} '
              'placeholders);\n# msgstr: its Chinese version, with the same placeholders. Reviewed as one file; '
              'checked by tests/test_messages.py.\nmsgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n'
              '"Language: zh_CN\\n"\n')
    blocks = [header]
    for entry in entries:
        lines = []
        if entry.references:
            lines.append("#: " + " ".join(entry.references))
        lines.append(f"msgid {_quote(entry.msgid)}")
        lines.append(f"msgstr {_quote(entry.msgstr)}")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n", "\\t": "\t"}


def _unquote(token: str) -> str:
    token = token.strip()
    if not (token.startswith('"') and token.endswith('"')):
        raise ValueError(f"not a PO string: {token!r}")
    body, out, index = token[1:-1], [], 0
    while index < len(body):
        pair = body[index:index + 2]
        if pair in _ESCAPES:
            out.append(_ESCAPES[pair])
            index += 2
        else:
            out.append(body[index])
            index += 1
    return "".join(out)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def message_id(message: str) -> str:
    """Marks a message chosen before it is translated (`text = message_id("...") if x else message_id("...")`,
    then `t(locale, text, ...)`): returns it unchanged, and lets scripts/messages.py find it."""
    return message

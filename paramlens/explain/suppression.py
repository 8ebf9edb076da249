"""Per-line suppression comments: `# paramlens: ignore[PL101]`, `# paramlens: ignore[PL101, PL103]`, or a bare
`# paramlens: ignore` for every rule, on the first line of the diagnostic's range."""

from __future__ import annotations

import io
import re
import tokenize

from paramlens.config import ALWAYS_REPORTED, RuleConfig
from paramlens.report import Diagnostic

PATTERN = re.compile(r"#\s*paramlens:\s*ignore(?:\[(?P<codes>[A-Za-z0-9_,\s]*)\])?", re.IGNORECASE)
ALL = "*"


def suppressions(source: str) -> dict[int, set[str]]:
    """Line -> codes suppressed there (`*` for all). Comments are found with the tokenizer, so a `#` inside a
    string never counts; a file that does not tokenize falls back to a plain line scan."""
    found: dict[int, set[str]] = {}
    try:
        comments = [(token.start[0], token.string) for token in tokenize.generate_tokens(io.StringIO(source).readline)
                    if token.type == tokenize.COMMENT]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        comments = [(number, line[line.index("#"):]) for number, line in enumerate(source.splitlines(), 1)
                    if "#" in line]
    for line, comment in comments:
        match = PATTERN.search(comment)
        if match is None:
            continue
        codes = match.group("codes")
        entry = found.setdefault(line, set())
        if codes is None or not codes.strip():
            entry.add(ALL)
        else:
            entry.update(code.strip().upper() for code in codes.split(",") if code.strip())
    return found


def apply_rules_config(diagnostics: list[Diagnostic], source: str, config: RuleConfig) -> list[Diagnostic]:
    """Drops deselected and suppressed diagnostics and applies severity overrides."""
    # the tokenizer costs ~5 ms on a short file, every analysis: only when a suppression could be there at all
    suppressed = suppressions(source) if PATTERN.search(source) else {}
    kept = []
    for diagnostic in diagnostics:
        if not config.enabled(diagnostic.code):
            continue
        codes = suppressed.get(diagnostic.span.line, set())
        if diagnostic.code in codes or (ALL in codes and diagnostic.code not in ALWAYS_REPORTED):
            continue  # a bare `ignore` never hides why the run failed; naming the code does
        diagnostic.severity = config.severity_of(diagnostic.code, diagnostic.severity)
        kept.append(diagnostic)
    return kept

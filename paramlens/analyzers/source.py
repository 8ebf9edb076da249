"""Parsing user source into a libcst tree with the metadata the recognizers need.

libcst has no error recovery, so a syntax error fails the whole file: we turn it into a `SourceSyntaxError`
with a 1-based position that the front ends show as a diagnostic (the server will keep the last good Report).
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper

from paramlens.report import Span


class SourceSyntaxError(Exception):
    """The file does not parse; `line`/`column` are 1-based."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass
class ParsedSource:
    text: str
    wrapper: MetadataWrapper

    @property
    def module(self) -> cst.Module:
        return self.wrapper.module


def parse_source(text: str) -> ParsedSource:
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError as error:
        python = _python_error(text)
        if python is not None:
            message, line, column = python
        else:
            message, line, column = error.message, error.raw_line, error.raw_column + 1
        raise SourceSyntaxError(message, max(line, 1), max(column, 1)) from None
    # unsafe_skip_copy: the recognizers and the instrumenter must see the very same node objects.
    return ParsedSource(text=text, wrapper=MetadataWrapper(module, unsafe_skip_copy=True))


def _python_error(text: str) -> tuple[str, int, int] | None:
    """Python's own parser words the error as Python users know it and points at the right line more often than
    libcst (which can land a line late); `compile` only parses, it runs nothing."""
    try:
        compile(text, "<paramlens>", "exec", dont_inherit=True)
    except SyntaxError as error:
        if error.lineno:
            return error.msg, error.lineno, error.offset or 1
    except (ValueError, RecursionError, MemoryError):
        return None
    return None


def span_of(code_range: CodeRange) -> Span:
    """libcst ranges are 1-based lines and 0-based, end-exclusive columns; ours are 1-based columns."""
    return Span(code_range.start.line, code_range.start.column + 1, code_range.end.line, code_range.end.column + 1)

"""IPython syntax in a cell, turned into plain Python that keeps every line (and the columns of any code that
runs) where it was, plus a record of what was not run.

What a cell can hold besides Python, and what becomes of it:

| in the cell | becomes | runs? |
|---|---|---|
| `%matplotlib inline`, `%load_ext x`, any other line magic | `pass` | no |
| `!pip install d2l`, `%pip install ...`, `x = !ls` | `pass` / `x = []` | no (ParamLens runs no shell commands) |
| `?net`, `net??`, `%pinfo net` | `pass` | no (help) |
| `%time stmt`, `%timeit -n 3 stmt` | `if 1: stmt` / `(     expr)`, same columns | once, untimed |
| `%%time`, `%%timeit`, `%%capture` on a cell's first line | a comment | the body runs (`%%capture`: its output hidden) |
| `%%bash`, `%%writefile f.py`, `%%html`, any other cell magic | `pass`, blank lines | no |
| `get_ipython().run_line_magic("time", " x = f()")` (jupyterlab-lsp, nbconvert) | as the IPython line it stands for | as above |
| `get_ipython().run_cell_magic(...)`, `.system(...)`, `.getoutput(...)` | `pass`, blank lines | no |

Only lines that start a logical line are looked at (not a line inside brackets, a string or after a backslash), so
`x = (a\\n % b)` stays Python. A line that starts with `%`, `!` or `?`, or an assignment whose value starts with
one, is never valid Python, so transforming it cannot change a program that ran.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

# line magics that only configure the front end or inspect: not running them changes nothing the program computes
HARMLESS = {"matplotlib", "config", "load_ext", "reload_ext", "autoreload", "aimport", "precision", "who", "whos",
            "who_ls", "pinfo", "pinfo2", "pdoc", "psource", "pfile", "pdef", "lsmagic", "magic", "history", "hist",
            "xmode", "pprint", "colors", "automagic", "autocall", "page", "quickref", "doctest_mode", "notebook",
            "load_ext", "unload_ext", "alias_magic", "gui", "tb", "debug", "pdb", "killbgscripts", "reset_selective",
            "dhist", "bookmark", "pwd", "ls", "ll", "env_show", "recall", "rerun", "save"}
SHELL_MAGICS = {"pip", "conda", "mamba", "micromamba", "uv", "sx", "system", "bash", "sh"}
TIMED = {"time", "timeit", "prun"}
CELL_BODY_RUNS = {"time", "timeit", "capture", "prun"}

_MAGIC = re.compile(r"%{1,2}([A-Za-z_][\w.]*)")
_HELP = re.compile(r"(\?{1,2})\s*[\w.\[\]'\"]+\s*$|[\w.\[\]'\"()]+\s*(\?{1,2})\s*$")
_ASSIGNED = re.compile(r"([A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*)\s*=\s*([%!])")
_TARGET = re.compile(r"[A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*(?=get_ipython\(\))")
_TIMEIT_OPTION = re.compile(r"\s*-(?:[nrp]\s*\d+(?:\.\d+)?|[tcqo])(?=\s)")
_CALL = re.compile(r"""get_ipython\(\)\s*\.\s*(run_line_magic|magic|system|getoutput|run_cell_magic)\s*\(\s*(['"])((?:\\.|(?!\2).)*)\2"""
                   r"""(?:\s*,\s*(['"])((?:\\.|(?!\4).)*)\4)?""")


@dataclass
class Magic:
    """One piece of IPython syntax: where (0-based line in the cell's text, 0-based columns), what, and whether
    the Python inside it ran."""

    line: int
    column: int
    end_column: int
    kind: str       # magic | shell | help | timed | cell_magic | cell_timed | captured | ipython_call
    name: str       # the magic's name, or the shell command's first word
    text: str       # the line as written (first line for a cell magic)
    ran: bool = False


@dataclass
class Transformed:
    text: str
    magics: list[Magic] = field(default_factory=list)
    captured: bool = False   # `%%capture`: the cell's output is hidden, as in Jupyter


class _Scanner:
    """Whether the next physical line starts a logical line: not inside brackets, a string, or after `\\`."""

    def __init__(self) -> None:
        self.depth = 0
        self.string: str | None = None  # the delimiter of an open triple-quoted string
        self.continued = False

    @property
    def at_start(self) -> bool:
        return self.depth == 0 and self.string is None and not self.continued

    def feed(self, line: str) -> None:
        i, n = 0, len(line)
        self.continued = False
        while i < n:
            if self.string is not None:
                end = line.find(self.string, i)
                while end > 0 and _escaped(line, end):
                    end = line.find(self.string, end + 1)
                if end < 0:
                    return
                i = end + len(self.string)
                self.string = None
                continue
            char = line[i]
            if char == "#":
                break
            if char in "'\"":
                triple = line[i:i + 3]
                if triple in ("'''", '"""'):
                    self.string = triple
                    i += 3
                    continue
                end = i + 1
                while end < n and (line[end] != char or _escaped(line, end)):
                    end += 1
                i = end + 1
                continue
            if char in "([{":
                self.depth += 1
            elif char in ")]}":
                self.depth = max(0, self.depth - 1)
            i += 1
        stripped = line.rstrip("\r\n")
        self.continued = self.string is None and stripped.endswith("\\") and "#" not in stripped


def _escaped(line: str, index: int) -> bool:
    backslashes = 0
    while index - backslashes - 1 >= 0 and line[index - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _is_expression(code: str) -> bool:
    try:
        ast.parse(code.strip(), mode="eval")
        return True
    except SyntaxError:
        return False


def _from_call(rest: str) -> str | None:
    """The IPython line a one-line `get_ipython()` call stands for (jupyterlab-lsp and IPython write them), or
    None for calls that are not one line magic / shell command."""
    match = _CALL.match(rest)
    if match is None or not rest[match.end():].strip().startswith(")"):
        return None
    method, first, second = match.group(1), _unescape(match.group(3)), _unescape(match.group(5) or "")
    if rest[match.end():].strip() != ")":
        return None
    if method in ("system", "getoutput"):
        return "!" + first
    if method == "run_line_magic":
        if first in ("pinfo", "pinfo2"):
            marks = "?" if first == "pinfo" else "??"
            # jupyterlab-lsp writes two spaces after the comma for `name?`, one for `?name`
            return f"{second.strip()}{marks}" if ",  " in rest else f"{marks}{second.strip()}"
        return f"%{first}" + (second if second[:1].isspace() or not second else " " + second)
    if method == "magic":
        return "%" + first
    return None


def transform_cell(text: str) -> Transformed:
    """`text` (one cell, or a whole jupyterlab-lsp document) with its IPython syntax made plain Python."""
    lines = text.split("\n")
    magics: list[Magic] = []
    captured = False
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%") and not lines[first][:1].isspace():
        cell = _cell_magic(lines, first, magics)
        if cell == "skip":
            return Transformed("\n".join(lines), magics)
        captured = cell == "capture"
    scanner = _Scanner()
    index = 0
    while index < len(lines):
        line = lines[index]
        if scanner.at_start and line.strip():
            consumed = _line(lines, index, magics, scanner)
            if consumed:
                index += consumed
                continue
        scanner.feed(line)
        index += 1
    return Transformed("\n".join(lines), magics, captured)


def _cell_magic(lines: list[str], first: int, magics: list[Magic]) -> str:
    """A `%%name` first line: the body runs (time, timeit, capture, prun) and the line becomes a comment, or the
    whole cell is not Python and becomes `pass` and blank lines."""
    head = lines[first]
    match = _MAGIC.match(head.lstrip())
    name = match.group(1) if match else head.strip()[2:]
    if name in CELL_BODY_RUNS:
        lines[first] = "#" + head[1:]
        magics.append(Magic(first, 0, len(head), "captured" if name == "capture" else "cell_timed", name, head, True))
        return "capture" if name == "capture" else "run"
    magics.append(Magic(first, 0, len(head), "cell_magic", name, head))
    for i in range(first, len(lines)):
        lines[i] = "pass" if i == first else ""
    return "skip"


def _line(lines: list[str], index: int, magics: list[Magic], scanner: _Scanner) -> int:
    """Transforms the logical line starting at `index` if it is IPython syntax; how many lines it used (0: none,
    it is Python)."""
    line = lines[index]
    indent = len(line) - len(line.lstrip())
    ws, rest = line[:indent], line[indent:].rstrip("\r")
    target = _TARGET.match(rest)
    call = rest[target.end():] if target else rest
    if call.startswith("get_ipython()"):
        stands_for = _from_call(call)
        if stands_for is not None:
            original = lines[index]
            lines[index] = ws + (target.group(0) if target else "") + stands_for
            if _line(lines, index, magics, scanner):
                # the diagnostic covers the line as the document has it; its text is what the user wrote
                magics[-1].end_column = len(original)
                return 1
            lines[index] = original
        return _ipython_call(lines, index, ws, rest, magics)
    assigned = _ASSIGNED.match(rest)
    if assigned is not None:
        value = rest[assigned.end() - 1:]
        kind = "shell" if value.startswith("!") else "magic"
        name = _command_name(value)
        lines[index] = ws + assigned.group(1) + (" = []" if kind == "shell" else " = None")
        magics.append(Magic(index, indent, len(line), kind, name, rest))
        return 1
    if rest.startswith("!"):
        lines[index] = ws + "pass"
        magics.append(Magic(index, indent, len(line), "shell", _command_name(rest), rest))
        return 1
    if rest.startswith("%"):
        match = _MAGIC.match(rest)
        name = match.group(1) if match else ""
        if name in TIMED:
            return _timed(lines, index, ws, rest, name, match.end() if match else len(rest), magics)
        lines[index] = ws + "pass"
        kind = "shell" if name in SHELL_MAGICS else "help" if name in ("pinfo", "pinfo2") else "magic"
        magics.append(Magic(index, indent, len(line), kind, name, rest))
        return 1
    if (rest.startswith("?") or rest.endswith("?")) and _HELP.fullmatch(rest.strip()):
        lines[index] = ws + "pass"
        magics.append(Magic(index, indent, len(line), "help", rest.strip("? "), rest))
        return 1
    return 0


def _command_name(value: str) -> str:
    words = value.lstrip("!%").split()
    return words[0] if words else ""


def _timed(lines: list[str], index: int, ws: str, rest: str, name: str, after_name: int,
           magics: list[Magic]) -> int:
    """`%time stmt` / `%timeit -n 3 stmt`: the statement runs once, at its own columns."""
    indent = len(ws)
    position = after_name
    if name in ("timeit", "prun"):
        while True:
            option = _TIMEIT_OPTION.match(rest, position)
            if option is None:
                break
            position = option.end()
    code = rest[position:]
    stripped = code.strip()
    column = indent + position + (len(code) - len(code.lstrip()))
    width = column - indent
    if not stripped:
        lines[index] = ws + "pass"
        magics.append(Magic(index, indent, indent + len(rest), "magic", name, rest))
        return 1
    if _is_expression(stripped) and width >= 1:
        lines[index] = ws + "(" + " " * (width - 1) + stripped + ")"
    elif width >= 6:
        lines[index] = ws + "if 1:" + " " * (width - 5) + stripped
    else:
        lines[index] = ws + "pass"
        magics.append(Magic(index, indent, indent + len(rest), "magic", name, rest))
        return 1
    magics.append(Magic(index, indent, column, "timed", name, rest, True))
    return 1


def _ipython_call(lines: list[str], index: int, ws: str, rest: str, magics: list[Magic]) -> int:
    """Any other statement that calls `get_ipython()` (a cell magic jupyterlab-lsp wrapped in a string, spread
    over several lines): not run; `pass` and blank lines keep the lines."""
    scanner = _Scanner()
    end = index
    scanner.feed(lines[index])
    while not scanner.at_start and end + 1 < len(lines):
        end += 1
        scanner.feed(lines[end])
    match = _CALL.match(rest)
    name = _unescape(match.group(3)) if match else "get_ipython"
    kind = "cell_magic" if match and match.group(1) == "run_cell_magic" else \
        "shell" if match and match.group(1) in ("system", "getoutput") else "ipython_call"
    if kind == "shell":
        name = _command_name(name)
    magics.append(Magic(index, len(ws), len(lines[index]), kind, name, rest))
    for i in range(index, end + 1):
        lines[i] = ws + "pass" if i == index else ""
    return end - index + 1

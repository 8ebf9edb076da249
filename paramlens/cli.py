"""`paramlens check | explain`: the command-line front end. Thin: read files, call `analyze`, render.

Exit status: 0 when no diagnostic has severity `error`, 1 when one does (or `explain` found nothing at the
position), 2 on bad usage (unknown option, missing or unreadable file, a file that is not UTF-8 text).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

from paramlens import __version__
from paramlens import options as opt
from paramlens.analysis import AnalysisOptions, analyze
from paramlens.config import ConfigError, load_config
from paramlens.explain.fmt import names_list
from paramlens.explain.i18n import normalize_locale
from paramlens.messages import t
from paramlens.notebooks import is_notebook_path
from paramlens.notebooks.reading import NotebookError, read_notebook
from paramlens.render_text import Style, render_file
from paramlens.report import FileReport, report_json

MAX_FILE_BYTES = 2 * 1024 * 1024


class UsageError(Exception):
    """Bad usage: reported on stderr with exit status 2."""


def _default_locale() -> str:
    return normalize_locale(os.environ.get("PARAMLENS_LOCALE") or os.environ.get("LC_ALL") or os.environ.get("LANG"))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paramlens", description="Explains PyTorch parameter code with the real "
                                     "numbers torch produced.")
    parser.add_argument("--version", action="version", version=f"paramlens {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        for option in opt.ANALYSIS:
            if option is opt.LOCALE:
                sub.add_argument("--locale", default=None, help="en or zh-CN (default: from LANG)")
            elif option is opt.EXECUTE:
                sub.add_argument("--no-exec", dest="execute", action="store_const", const=False, default=None,
                                 help="static analysis only: run nothing")
            elif option.cli is not None:
                shown = "none" if option.default is None else f"{option.default:,}" if option.kind is int else \
                    f"{option.default:g}" if option.kind is float else option.default
                sub.add_argument(option.cli, dest=option.name, type=_parse_option(option), default=None,
                                 metavar=option.metavar, choices=option.choices or None,
                                 help=f"{option.help} (default: {shown}; {option.describe_bounds() or 'a path'})")

    check = commands.add_parser("check", help="analyse files and report modules and diagnostics",
                                description="Analyse Python files and Jupyter notebooks (.ipynb: the code cells run "
                                            "in order as one program, Run All; positions are CELL:LINE:COL with "
                                            "CELL counted over all cells, markdown included).")
    check.add_argument("paths", nargs="+", metavar="PATH", help="a .py or .ipynb file, or a directory (its .py and "
                                                               ".ipynb files)")
    check.add_argument("--format", choices=["text", "json", "sarif"], default="text")
    check.add_argument("--explanations", action="store_true", help="text format: print every explanation too")
    common(check)
    rules = commands.add_parser("rules", help="list the diagnostics ParamLens reports")
    rules.add_argument("--locale", default=None)
    rule = commands.add_parser("rule", help="explain one rule, e.g. `paramlens rule PL101`")
    rule.add_argument("code")
    rule.add_argument("--locale", default=None)
    serve = commands.add_parser("serve", help="run the language server (LSP over stdio)")
    serve.add_argument("--tcp", action="store_true", help="listen on TCP instead of stdio (for debugging)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=2087)
    doctor = commands.add_parser("doctor", help="show the interpreter, torch and the sandbox's isolation layers")
    doctor.add_argument("--locale", default=None)
    explain = commands.add_parser(
        "explain", help="print the explanation at FILE:LINE:COL, or NOTEBOOK.ipynb:CELL:LINE:COL (1-based)",
        description="Print the explanation at a position, the same text a hover shows. LINE and COL are 1-based. In a "
                    "notebook (.ipynb) CELL is the 1-based number of the cell counting every cell, markdown included, "
                    "as JupyterLab (\"Cell 13/18\") and VS Code (\"Cell 13 of 18\") show it, and LINE is the line "
                    "in that cell.")
    explain.add_argument("position", metavar="FILE:LINE:COL | NOTEBOOK.ipynb:CELL:LINE:COL")
    common(explain)
    return parser


def _parse_option(option: opt.Option) -> Callable[[str], Any]:
    """argparse's `type` for an option: its kind, then its bounds (a bad value is a usage error, exit 2)."""

    def parse(text: str) -> Any:
        try:
            value = option.kind(text) if option.kind is not str else text
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {opt.KINDS[option.kind][0]}") from None
        if option.choices and value not in option.choices:
            return value  # argparse's own `choices` check says which are allowed
        try:
            return option.check(value)
        except opt.OptionError as error:
            raise argparse.ArgumentTypeError(error.en.removeprefix(option.label + " ")) from None

    parse.__name__ = option.cli or option.name  # argparse names the option in its message
    return parse


def _explicit(args: argparse.Namespace) -> dict[str, Any]:
    """The options given on the command line (they win over `[tool.paramlens]`)."""
    values = {option.name: getattr(args, option.name, None) for option in opt.ANALYSIS
              if option.cli is not None and option is not opt.LOCALE}
    return {name: value for name, value in values.items() if value is not None}


def _options(args: argparse.Namespace) -> AnalysisOptions:
    return AnalysisOptions(locale=args.locale or _default_locale()).with_values(_explicit(args))


def read_source(path: Path) -> str:
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if path.is_dir():
        raise UsageError(f"{path}: is a directory")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UsageError(f"{path}: cannot read ({error.strerror})") from None
    if len(data) > MAX_FILE_BYTES:
        raise UsageError(f"{path}: {len(data):,} bytes is too large to analyse (limit {MAX_FILE_BYTES:,})")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UsageError(f"{path}: not UTF-8 text (invalid byte at offset {error.start}); ParamLens reads Python "
                         "source files and Jupyter notebooks encoded as UTF-8") from None
    if is_notebook_path(str(path)):
        try:
            read_notebook(text, _default_locale())
        except NotebookError as error:
            raise UsageError(f"{path}: {error}") from None
    return text


def _expand(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for pattern in ("*.py", "*.ipynb") for p in path.rglob(pattern)
                           if not {".venv", "site-packages", ".ipynb_checkpoints", ".virtual_documents"} & set(p.parts))
            if not found:
                raise UsageError(t(_default_locale(), "{path}: no Python files or notebooks in this directory", path=path))
            files.extend(found)
        else:
            files.append(path)
    return files


def _with_config(args: argparse.Namespace, path: Path) -> AnalysisOptions:
    """The options for one file: defaults, then the `[tool.paramlens]` of the project the file belongs to, then the
    command line."""
    try:
        project = load_config(path)
    except ConfigError as error:
        raise UsageError(str(error)) from None
    options = AnalysisOptions(locale=args.locale or _default_locale(), rules=project.rules)
    return options.with_values(project.options).with_values(_explicit(args))


def _check(args: argparse.Namespace) -> int:
    options = _options(args)
    files = _expand(args.paths)
    sources = [(path, read_source(path)) for path in files]  # all usage errors before any work
    reports: list[FileReport] = [analyze(source, str(path), _with_config(args, path)) for path, source in sources]
    if args.format == "json":
        print(json.dumps(report_json(reports), ensure_ascii=False, indent=2))
    elif args.format == "sarif":
        from paramlens.report_sarif import sarif_log

        print(json.dumps(sarif_log(reports, normalize_locale(options.locale)), ensure_ascii=False, indent=2))
    else:
        style = Style(sys.stdout)
        print("\n\n".join(render_file(r, normalize_locale(options.locale), style, args.explanations)
                          for r in reports))
    return 1 if any(r.has_errors for r in reports) else 0


def parse_position(text: str) -> tuple[Path, int | None, int, int]:
    """FILE:LINE:COL, or NOTEBOOK.ipynb:CELL:LINE:COL -> (path, cell or None, line, column), all 1-based."""
    notebook = is_notebook_path(text.rsplit(":", 3)[0])
    parts = text.rsplit(":", 3 if notebook else 2)
    if notebook and (len(parts) != 4 or not all(part.isdigit() for part in parts[1:])):
        raise UsageError(t(_default_locale(), "{text}: expected {form}, all 1-based, with CELL counted over every cell "
                           "(markdown included) as {editors} number them, e.g. {example}", text=repr(text),
                           form="NOTEBOOK.ipynb:CELL:LINE:COL", editors="JupyterLab / VS Code",
                           example="examples/parameter_management.ipynb:9:1:25"))
    if not notebook and (len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit()):
        raise UsageError(f"{text!r}: expected FILE:LINE:COL with 1-based LINE and COL, e.g. "
                         "examples/parameter_management.py:23:48")
    numbers = [int(part) for part in parts[1:]]
    if min(numbers) < 1:
        raise UsageError(t(_default_locale(), "{text}: CELL, LINE and COL are 1-based", text=repr(text)) if notebook
                         else f"{text!r}: LINE and COL are 1-based")
    cell = numbers.pop(0) if notebook else None
    return Path(parts[0]), cell, numbers[0], numbers[1]


def _explain(args: argparse.Namespace) -> int:
    options = _options(args)
    path, cell, line, column = parse_position(args.position)
    source = read_source(path)
    locale = normalize_locale(options.locale)
    report = analyze(source, str(path), _with_config(args, path))
    shown = f"{cell}:{line}:{column}" if cell is not None else f"{line}:{column}"
    if cell is not None:
        line = _notebook_line(report, path, cell, line, locale)
    explanation = report.explanation_at(line, column)
    if explanation is None:
        for diagnostic in report.diagnostics:
            if diagnostic.span.line == line:
                print(f"{diagnostic.severity} {diagnostic.code}: {diagnostic.message}")
                return 1
        nearby = sorted({e.span.line for e in report.explanations if abs(e.span.line - line) <= 5})
        if cell is not None and report.notebook is not None:
            nearby = [where[1] for where in map(report.notebook.to_cell, nearby) if where and where[0] == cell]
        hint = t(locale, " Lines nearby with explanations: {lines}.", lines=names_list(locale, list(map(str, nearby)))) \
            if nearby else ""
        print(t(locale, "No explanation at {path}:{line}:{column}.{hint}", path=path, line=shown.rsplit(":", 1)[0],
                column=column, hint=hint), file=sys.stderr)
        return 1
    print(explanation.markdown)
    return 0


def _notebook_line(report: FileReport, path: Path, cell: int, line: int, locale: str) -> int:
    """The program line of (cell, line) in a notebook's report; a usage error for a cell that is not code or a line
    it does not have."""
    notebook = report.notebook
    if notebook is None:
        raise UsageError(f"{path}: {report.execution.message or t(locale, 'not analysed')}")
    total = notebook.program.total_cells
    if cell > total:
        raise UsageError(t(locale, "{path} has {total} cells; there is no cell {cell}", path=path, total=total,
                           cell=cell))
    kind = notebook.cells[cell - 1]["kind"] if cell - 1 < len(notebook.cells) else "code"
    if kind != "code":
        raise UsageError(t(locale, "cell {cell} of {path} is a {kind} cell; only code cells have explanations",
                           cell=cell, path=path, kind=kind))
    found = notebook.to_program(cell, line)
    if found is None:
        place = notebook.program.cell(cell)
        raise UsageError(t(locale, "cell {cell} of {path} has {count} lines; there is no line {line}", cell=cell,
                           path=path, count=place.count if place else 0, line=line))
    return found


def _rules(args: argparse.Namespace) -> int:
    from paramlens.explain.rules import RULES, rule_page

    locale = normalize_locale(args.locale or _default_locale())
    if args.command == "rules":
        for rule in RULES:
            print(f"{rule.code}  {rule.name:<20} {rule.severity:<12} {t(locale, rule.summary)}")
        return 0
    page = rule_page(args.code, locale)
    if page is None:
        known = ", ".join(r.code for r in RULES)
        raise UsageError(f"{args.code}: no such rule (known: {known})")
    print(page)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0) if exit_.code in (0, None) else 2
    try:
        if args.command == "check":
            return _check(args)
        if args.command in {"rules", "rule"}:
            return _rules(args)
        if args.command == "doctor":
            from paramlens.doctor import run as doctor

            return doctor(normalize_locale(args.locale or _default_locale()))
        if args.command == "serve":
            from paramlens.server.server import main as serve

            return serve(tcp=args.tcp, host=args.host, port=args.port)
        return _explain(args)
    except UsageError as error:
        print(f"paramlens: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `paramlens ... | head`: the reader left; not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Markdown building blocks shared by the explainers: numbers, shapes, tables, code blocks."""

from __future__ import annotations

from typing import Any, Iterable

from paramlens.messages import t


def num(value: float | str | None, digits: int = 4) -> str:
    """A number as a hover shows it; a value list's NaN or infinity arrives spelled as torch prints it (`nan`)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value)}" if abs(value) >= 1 or value == 0 else f"{value:.{digits}f}"
    if abs(value) >= 1e4 or abs(value) < 1e-3:
        return f"{value:.3e}"
    return f"{value:.{digits}f}"


def count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def shape(dims: list[int] | None, locale: str = "en") -> str:
    """`[8, 4]` (the shape as torch lists it); a lazy layer's UninitializedParameter has none yet."""
    if dims is None:
        return t(locale, "(uninitialised)")
    return "[" + ", ".join(str(d) for d in dims) + "]"


def shape_product(dims: list[int] | None) -> str:
    if not dims:
        return "1" if dims == [] else "?"
    return "×".join(str(d) for d in dims)


def code(text: str) -> str:
    return f"`{text}`" if "`" not in text else f"``{text}``"


def block(text: str, language: str = "") -> str:
    return f"```{language}\n{text.rstrip()}\n```"


VALUE_LINES = 6  # lines of a printed value a hover shows; the rest is summarised (the statistics say the rest)


def value_block(locale: str, text: str, max_lines: int = VALUE_LINES) -> str:
    """A printed tensor or module as torch prints it, cut to `max_lines` so a hover stays readable: a [1, 64, 4,
    16, 16] output printed 100 lines even in torch's summarised form."""
    lines = text.rstrip().split("\n")
    if len(lines) <= max_lines:
        return block(text)
    shown = "\n".join(lines[:max_lines - 1]) + "\n…"
    return block(shown) + "\n" + t(locale, "_({n_lines} more lines not shown.)_", n_lines=len(lines) - max_lines + 1)


def table(header: list[str], rows: Iterable[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines)


def stats_line(locale: str, stats: dict[str, Any] | None) -> str:
    if not stats:
        return t(locale, "no values (meta or uninitialised tensor)")
    # a statistic that is NaN or infinite arrives as None (the values hold NaN or ±inf): said as a count instead
    parts = [f"{label} {num(stats[key])}" for label, key in (("min", "min"), ("max", "max"), ("mean", "mean"))
             if stats.get(key) is not None or not stats.get("nonfinite")]
    if stats.get("std") is not None:
        parts.append(f"std {num(stats['std'])}")
    if stats.get("zeros"):
        parts.append(t(locale, "{zeros} of {numel} are zero", zeros=stats['zeros'], numel=stats['numel']))
    if stats.get("nonfinite"):
        parts.append(t(locale, "{count} of {numel} are NaN or infinite", count=stats["nonfinite"],
                       numel=stats["numel"]))
    return series(locale, parts)


def owners_text(locale: str, owners: list[dict[str, str]] | None) -> str:
    """`net.2.weight` (and `net.4.weight`, the same tensor)."""
    if not owners:
        return ""
    names = []
    for owner in owners:
        path = code(owner["path"])
        if owner["relation"] == "view":
            path = t(locale, "a view into {path}", path=path)
        elif owner["relation"] == "data":
            path = t(locale, "{path} (its `.data`)", path=path)
        names.append(path)
    return ", ".join(names) if locale != "zh-CN" else "、".join(names)


def output_block(locale: str, text: str | None) -> str:
    if not text or not text.strip():
        return ""
    return t(locale, "**Printed:**") + "\n" + block(text)


def join(*parts: str) -> str:
    return "\n\n".join(p for p in parts if p)


def series(locale: str, items: Iterable[str]) -> str:
    """Items of running text one after another: `a, b` in English, `a，b` in Chinese (a full-width comma; `names_list`
    is for names, which Chinese separates with 、)."""
    return ("，" if locale == "zh-CN" else ", ").join(items)


def clauses(locale: str, items: Iterable[str]) -> str:
    """Clauses separated by semicolons: `a; b` in English, `a；b` in Chinese."""
    return ("；" if locale == "zh-CN" else "; ").join(items)


def names_list(locale: str, items: list[str]) -> str:
    """A list in running text: `a`, `b` and `c` in English, `a`、`b`、`c` in Chinese."""
    if locale == "zh-CN":
        return "、".join(items)
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]

def plural(locale: str, n: int, one: str, many: str) -> str:
    """`1 tensor` / `3 tensors` / `3 个张量`: `one` and `many` are message ids with an `{n}` placeholder (the
    catalogue gives both the same Chinese)."""
    return t(locale, one if n == 1 else many, n=count(n))

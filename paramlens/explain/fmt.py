"""Markdown building blocks shared by the explainers: numbers, shapes, tables, code blocks."""

from __future__ import annotations

from typing import Any, Iterable

from paramlens.explain.i18n import tr


def num(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "—"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value)}" if abs(value) >= 1 or value == 0 else f"{value:.{digits}f}"
    if abs(value) >= 1e4 or abs(value) < 1e-3:
        return f"{value:.3e}"
    return f"{value:.{digits}f}"


def count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def shape(dims: list[int] | None) -> str:
    if dims is None:
        return "(uninitialised)"
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
    return block(shown) + "\n" + tr(locale, f"_({len(lines) - max_lines + 1} more lines not shown.)_",
                                    f"_（另有 {len(lines) - max_lines + 1} 行未显示。）_")


def table(header: list[str], rows: Iterable[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines)


def stats_line(locale: str, stats: dict[str, Any] | None) -> str:
    if not stats:
        return tr(locale, "no values (meta or uninitialised tensor)", "没有数值（meta 设备或未初始化的张量）")
    parts = [f"min {num(stats['min'])}", f"max {num(stats['max'])}", f"mean {num(stats['mean'])}"]
    if stats.get("std") is not None:
        parts.append(f"std {num(stats['std'])}")
    if stats.get("zeros"):
        parts.append(tr(locale, f"{stats['zeros']} of {stats['numel']} are zero",
                        f"{stats['numel']} 个元素中有 {stats['zeros']} 个为 0"))
    return ", ".join(parts) if locale != "zh-CN" else "，".join(parts)


def owners_text(locale: str, owners: list[dict[str, str]] | None) -> str:
    """`net.2.weight` (and `net.4.weight`, the same tensor)."""
    if not owners:
        return ""
    names = []
    for owner in owners:
        path = code(owner["path"])
        if owner["relation"] == "view":
            path = tr(locale, f"a view into {path}", f"{path} 的一个视图")
        elif owner["relation"] == "data":
            path = tr(locale, f"{path} (its `.data`)", f"{path}（其 `.data`）")
        names.append(path)
    return ", ".join(names) if locale != "zh-CN" else "、".join(names)


def output_block(locale: str, text: str | None) -> str:
    if not text or not text.strip():
        return ""
    return tr(locale, "**Printed:**", "**打印输出：**") + "\n" + block(text)


def join(*parts: str) -> str:
    return "\n\n".join(p for p in parts if p)

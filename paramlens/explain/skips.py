"""Why the slice did not run a statement, in both languages."""

from __future__ import annotations

from paramlens.explain.i18n import tr


def skip_reason_text(reason: str | None, detail: str | None, locale: str) -> str:
    detail = detail or ""
    texts = {
        "main_block": ("an `if __name__ == \"__main__\":` block is the script's entry point, not model building",
                       "`if __name__ == \"__main__\":` 块是脚本入口，不属于模型构建"),
        "training": (f"it trains (calls `.{detail}()`); ParamLens never runs training",
                     f"它在训练（调用了 `.{detail}()`）；ParamLens 从不运行训练"),
        "download": ("it downloads data", "它会下载数据"),
        "writes_files": (f"it writes files (`{detail}`)", f"它会写文件（`{detail}`）"),
        "interactive": (f"it waits for a person (`{detail}`)", f"它会等待用户操作（`{detail}`）"),
    }
    en, zh = texts.get(reason or "", ("not part of the model-building slice", "不属于模型构建部分"))
    return tr(locale, en, zh)

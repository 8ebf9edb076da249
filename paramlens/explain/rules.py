"""Rules about parameter mistakes, each confirmed by what the run observed where the code alone cannot prove it.

| code  | name                | severity    |
|-------|---------------------|-------------|
| PL101 | constant-init       | warning     |
| PL102 | exact-type-check    | warning     |
| PL103 | data-write          | information |
| PL104 | grad-compared-none  | warning     |
| PL201 | shared-parameters   | information |
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import shape
from paramlens.explain.i18n import tr
from paramlens.report import Diagnostic, Fix


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: str
    summary_en: str
    summary_zh: str


RULES = [
    Rule("PL000", "syntax-error", "error", "the file does not parse", "文件无法解析"),
    Rule("PL101", "constant-init", "warning", "a weight matrix set to one constant: its units stay identical",
         "权重矩阵被设为同一个常数：各单元始终相同"),
    Rule("PL102", "exact-type-check", "warning", "`type(m) == nn.X` misses subclasses and lazy modules",
         "`type(m) == nn.X` 不匹配子类和惰性模块"),
    Rule("PL103", "data-write", "information", "in-place write through `.data`, invisible to autograd",
         "通过 `.data` 原地写入，autograd 不可见"),
    Rule("PL104", "grad-compared-none", "warning", "`p.grad == None` instead of `is None`",
         "用 `p.grad == None` 而不是 `is None`"),
    Rule("PL201", "shared-parameters", "information", "parameters shared between several places",
         "参数在多个位置之间共享"),
    Rule("PL900", "statement-raised", "error", "a top-level statement raised when the file ran",
         "运行文件时某条顶层语句抛出异常"),
    Rule("PL901", "execution-stopped", "error", "the run stopped: time limit, memory limit or a crash",
         "运行被停止：超时、超出内存或崩溃"),
]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules"


def rule_page(code: str, locale: str) -> str | None:
    """The rule's page from docs/rules/, in the requested language (each page has English, `---`, Chinese)."""
    page = DOCS / f"{code.upper()}.md"
    if not page.exists():
        return None
    english, _, chinese = page.read_text(encoding="utf-8").partition("\n---\n")
    return (chinese if locale == "zh-CN" and chinese.strip() else english).strip()


def check_all(ctx: ExplainContext) -> list[Diagnostic]:
    diagnostics: list[Diagnostic] = []
    for rule in (constant_init, exact_type_check, data_write, grad_compared_none, shared_parameters):
        diagnostics.extend(rule(ctx))
    return diagnostics


def constant_init(ctx: ExplainContext) -> list[Diagnostic]:
    """PL101: a weight matrix set to one constant keeps all its units identical forever."""
    found = []
    for finding in ctx.findings_of("init"):
        for record in ctx.records(finding):
            after = record.get("after") or {}
            dims = record.get("shape") or []
            if record.get("kind") != "init" or not after.get("all_equal") or len(dims) < 2 or dims[0] < 2:
                continue
            owner = next((o["path"] for o in record.get("owner", [])), record.get("param_name") or "the weight")
            value = after.get("min")
            found.append(Diagnostic(finding.span, "PL101", "warning", tr(
                ctx.locale,
                f"`{owner}` {shape(dims)} is set to the constant {value:g}: its {dims[0]} units compute the same "
                f"output, get the same gradient and stay identical in training (symmetry is never broken). Use a "
                f"random initialiser such as `nn.init.xavier_uniform_` or `nn.init.kaiming_uniform_`.",
                f"`{owner}` {shape(dims)} 被设为常数 {value:g}：它的 {dims[0]} 个单元输出相同、梯度相同，训练中始终保持一致"
                f"（对称性永远不会被打破）。请使用随机初始化，如 `nn.init.xavier_uniform_` 或 `nn.init.kaiming_uniform_`。")))
            break
    return found


def exact_type_check(ctx: ExplainContext) -> list[Diagnostic]:
    """PL102: `type(m) == nn.Linear` misses subclasses (and lazy modules before their first forward)."""
    found = []
    for finding in ctx.findings_of("type_check"):
        replacement = finding.facts["replacement"]
        cls = finding.facts["class"]
        found.append(Diagnostic(finding.span, "PL102", "warning", tr(
            ctx.locale,
            f"`{finding.facts['text']}` is an exact type test: it does not match subclasses of `{cls}` (e.g. "
            f"`NonDynamicallyQuantizableLinear` inside `nn.MultiheadAttention`) nor lazy modules before their first "
            f"forward. Use `{replacement}`.",
            f"`{finding.facts['text']}` 是精确类型判断：它不匹配 `{cls}` 的子类（例如 `nn.MultiheadAttention` 中的 "
            f"`NonDynamicallyQuantizableLinear`），也不匹配首次前向之前的惰性模块。请改用 `{replacement}`。"),
            Fix(tr(ctx.locale, f"Use {replacement}", f"改用 {replacement}"), replacement, finding.span)))
    return found


def data_write(ctx: ExplainContext) -> list[Diagnostic]:
    """PL103: in-place writes through `.data` bypass autograd. Informational: fine for initialisation."""
    found = []
    for finding in ctx.findings_of("data_mutation"):
        if not finding.facts.get("through_data"):
            continue
        found.append(Diagnostic(finding.span, "PL103", "information", tr(
            ctx.locale,
            f"`{finding.facts['text']}` writes into `{finding.facts['watched']}` through `.data`, which autograd does "
            "not see. Harmless for initialisation; in training code use `with torch.no_grad():` on the parameter.",
            f"`{finding.facts['text']}` 通过 `.data` 写入 `{finding.facts['watched']}`，autograd 看不到这次修改。"
            "用于初始化没有问题；在训练代码中请对参数本身使用 `with torch.no_grad():`。")))
    return found


def grad_compared_none(ctx: ExplainContext) -> list[Diagnostic]:
    """PL104: `p.grad == None` compares element-wise once a gradient exists; `is None` is the identity test."""
    found = []
    for finding in ctx.findings_of("grad_none"):
        operator = finding.facts["operator"]
        if operator not in {"Equal", "NotEqual"}:
            continue
        replacement = f"{finding.facts['receiver']}.grad {'is' if operator == 'Equal' else 'is not'} None"
        found.append(Diagnostic(finding.span, "PL104", "warning", tr(
            ctx.locale,
            f"Compare `.grad` with `None` using `is`: `{replacement}`. `==` on a tensor is element-wise, so once "
            "`backward()` has filled the gradient this no longer gives one True/False.",
            f"请用 `is` 与 `None` 比较 `.grad`：`{replacement}`。对张量使用 `==` 是逐元素比较，一旦 `backward()` 填充了梯度，"
            "它就不再给出单个 True/False。"),
            Fix(tr(ctx.locale, f"Use {replacement}", f"改用 {replacement}"), replacement, finding.span)))
    return found


def shared_parameters(ctx: ExplainContext) -> list[Diagnostic]:
    """PL201: one layer object at several positions: its parameters are shared (counted once, gradients add)."""
    found = []
    for finding in ctx.findings_of("module"):
        records = [r for r in ctx.records(finding) if r.get("kind") == "module" and r.get("tied")]
        if not records:
            continue
        tied = records[0]["tied"]
        groups = "; ".join(" = ".join(group) for group in tied)
        found.append(Diagnostic(finding.span, "PL201", "information", tr(
            ctx.locale,
            f"Shared parameters: {groups}. `parameters()` counts them once ({records[0]['param_count']:,} values) but "
            f"`state_dict()` has every name ({records[0]['param_count_with_duplicates']:,} values), and gradients from "
            "each position add up.",
            f"共享参数：{groups}。`parameters()` 只计一次（{records[0]['param_count']:,} 个值），而 `state_dict()` 包含每个名字"
            f"（{records[0]['param_count_with_duplicates']:,} 个值），各位置的梯度会累加。")))
    return found

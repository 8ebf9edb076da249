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
from importlib import resources
from pathlib import Path

import difflib
import re

from paramlens.analyzers.findings import Finding
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
    Rule("PL001", "layer-size-mismatch", "error", "consecutive layers whose feature sizes disagree",
         "相邻层的特征维度不一致"),
    Rule("PL002", "input-shape-mismatch", "error", "a module called with an input whose shape does not fit",
         "调用模块时输入形状不匹配"),
    Rule("PL003", "missing-state-dict-key", "error", "a state_dict key that does not exist", "state_dict 中不存在的键"),
    Rule("PL004", "child-index-out-of-range", "error", "an index past the end of a Sequential / ModuleList",
         "索引超出 Sequential / ModuleList 的范围"),
    Rule("PL005", "no-such-parameter", "error", "a parameter attribute on a module that has none",
         "访问没有该参数的模块的参数属性"),
    Rule("PL101", "constant-init", "warning", "a weight matrix set to one constant: its units stay identical",
         "权重矩阵被设为同一个常数：各单元始终相同"),
    Rule("PL102", "exact-type-check", "warning", "`type(m) == nn.X` misses subclasses and lazy modules",
         "`type(m) == nn.X` 不匹配子类和惰性模块"),
    Rule("PL103", "data-write", "information", "in-place write through `.data`, invisible to autograd",
         "通过 `.data` 原地写入，autograd 不可见"),
    Rule("PL104", "grad-compared-none", "warning", "`p.grad == None` instead of `is None`",
         "用 `p.grad == None` 而不是 `is None`"),
    Rule("PL105", "init-missing-parameter", "error", "an init function touches a parameter a visited module lacks",
         "初始化函数访问了被访问模块没有的参数"),
    Rule("PL106", "fan-init-on-vector", "error", "fan-based init (xavier/kaiming) on a tensor with fewer than 2 dims",
         "对少于二维的张量使用基于 fan 的初始化（xavier/kaiming）"),
    Rule("PL107", "apply-changed-nothing", "warning", "an init function given to apply() changed no parameter",
         "传给 apply() 的初始化函数没有修改任何参数"),
    Rule("PL108", "lazy-parameter-read", "warning", "parameters of a lazy module read before its first forward",
         "在惰性模块第一次前向之前读取其参数"),
    Rule("PL201", "shared-parameters", "information", "parameters shared between several places",
         "参数在多个位置之间共享"),
    Rule("PL900", "statement-raised", "error", "a top-level statement raised when the file ran",
         "运行文件时某条顶层语句抛出异常"),
    Rule("PL901", "execution-stopped", "error", "the run stopped: time limit, memory limit or a crash",
         "运行被停止：超时、超出内存或崩溃"),
    Rule("PL902", "sandbox-refused", "information",
         "the sandbox refused an operation (network, process, file, signal) or `input()` read end-of-file",
         "沙箱拒绝了一个操作（网络、进程、文件、信号），或 `input()` 读到了文件结尾"),
    Rule("PL903", "import-failed", "information",
         "an import failed in the interpreter that runs the code (not installed, or not inside its package)",
         "导入在运行代码的解释器中失败（未安装，或文件不在其包内）"),
    Rule("PL904", "example-failed", "information",
         "a module class ParamLens built as an example (the file never creates one) failed with its defaults",
         "ParamLens 作为示例构建的模块类（文件中从未创建）使用默认参数时失败"),
    Rule("PL905", "loop-shortened", "information",
         "the loop budget ended a long loop early; values observed after it are labelled",
         "循环预算提前结束了一个耗时的循环；之后观测到的数值都有标注"),
]

# rules that explain a statement's exception better than the generic PL900 (which is then not reported)
EXPLAINS_RUNTIME_ERRORS = {"PL002", "PL003", "PL004", "PL005", "PL105", "PL106", "PL108"}

# The pages ship inside the package (package data), so an installed wheel has them: `paramlens rule`, SARIF's
# help and the server's code-description links all read this one copy.
PAGES = resources.files("paramlens") / "rule_pages"


def rule_page_file(code: str) -> Path | None:
    """The rule's page as a file on disk (for links), or None when there is no page or the package is not on a
    file system (a zip import)."""
    page = PAGES / f"{code.upper()}.md"
    return page if isinstance(page, Path) and page.is_file() else None


def rule_page(code: str, locale: str) -> str | None:
    """The rule's page, in the requested language (each page has English, `---`, Chinese)."""
    page = PAGES / f"{code.upper()}.md"
    if not page.is_file():
        return None
    english, _, chinese = page.read_text(encoding="utf-8").partition("\n---\n")
    return (chinese if locale == "zh-CN" and chinese.strip() else english).strip()


def check_all(ctx: ExplainContext) -> list[Diagnostic]:
    diagnostics: list[Diagnostic] = []
    for rule in (layer_size_mismatch, input_shape_mismatch, missing_state_dict_key, child_index_out_of_range,
                 no_such_parameter, constant_init, exact_type_check, data_write, grad_compared_none,
                 init_missing_parameter, fan_init_on_vector, apply_changed_nothing, lazy_parameter_read,
                 shared_parameters):
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
    """PL104: `p.grad == None`: `is None` is the identity test PEP 8 asks for. With a tensor, `==` works only by
    Python's fallback (`Tensor.__eq__` returns NotImplemented for None), which the message says with the result the
    run observed."""
    found = []
    for finding in ctx.findings_of("grad_none"):
        operator = finding.facts["operator"]
        if operator not in {"Equal", "NotEqual"}:
            continue
        replacement = f"{finding.facts['receiver']}.grad {'is' if operator == 'Equal' else 'is not'} None"
        results = [r["text"] for r in ctx.records(finding) if r.get("kind") == "scalar"]
        observed_en = f" Here it gave `{results[0]}`, a plain bool, the same as `is` would." if results else ""
        observed_zh = f"这里它的结果是 `{results[0]}`（普通布尔值），与 `is` 相同。" if results else ""
        found.append(Diagnostic(finding.span, "PL104", "warning", tr(
            ctx.locale,
            f"Compare with `None` by identity: `{replacement}` (PEP 8).{observed_en} `==` only works on a tensor "
            "because `Tensor.__eq__` returns NotImplemented for None and Python falls back to identity; `is` says "
            "what is meant without relying on that.",
            f"请按同一性与 `None` 比较：`{replacement}`（PEP 8）。{observed_zh}`==` 之所以能用在张量上，只是因为 "
            "`Tensor.__eq__` 遇到 None 返回 NotImplemented，Python 退回到同一性比较；`is` 直接表达了本意，不依赖这种退回。"),
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


# -- rules that need what the run observed ------------------------------------------------------------------------

def _statement_error(ctx: ExplainContext, line: int) -> dict | None:
    status = ctx.statement_status(line)
    if status and status.get("status") == "error":
        return status["error"]
    return None


def _layer(child: dict) -> str:
    return f"{child['class']}({child['extra']})"


def layer_size_mismatch(ctx: ExplainContext) -> list[Diagnostic]:
    """PL001: in a Sequential, a layer whose input size differs from what the previous sized layer produces."""
    found = []
    for finding in ctx.findings_of("module"):
        if finding.facts.get("class") != "Sequential":
            continue
        records = [r for r in ctx.records(finding) if r.get("kind") == "module"]
        if not records:
            continue
        arguments = _argument_nodes(finding)
        previous: tuple[int, dict, dict] | None = None
        for position, child in enumerate(records[0].get("children", [])):
            io = child.get("io")
            if io is None:
                previous = None  # an unknown layer (Flatten, a custom block): sizes are not comparable across it
                continue
            if io.get("keeps"):
                continue
            if previous is not None and io.get("in") is not None:
                _, last, last_io = previous
                compatible = io["kind"] == "any" or last_io["kind"] == "any" or io["kind"] == last_io["kind"]
                if compatible and last_io["out"] != io["in"]:
                    span = finding.span
                    if arguments and position < len(arguments):
                        target = ctx.by_node.get(id(arguments[position]))
                        span = target.span if target is not None else span
                    unit = "channels" if io["kind"] == "channels" else "features"
                    found.append(Diagnostic(span, "PL001", "error", tr(
                        ctx.locale,
                        f"`{_layer(child)}` at position {child['name']} expects {io['in']} input {unit}, but "
                        f"`{_layer(last)}` at position {last['name']} produces {last_io['out']}. The forward pass "
                        f"will fail; make them agree (e.g. `{io['in']}` → `{last_io['out']}`).",
                        f"位置 {child['name']} 的 `{_layer(child)}` 期望 {io['in']} 个输入{'通道' if unit == 'channels' else '特征'}，"
                        f"但位置 {last['name']} 的 `{_layer(last)}` 输出 {last_io['out']} 个。前向计算会失败；请让两者一致"
                        f"（例如把 `{io['in']}` 改为 `{last_io['out']}`）。")))
            previous = (position, child, io) if io.get("out") is not None else None
    return found


def _argument_nodes(finding: Finding) -> list:
    node = finding.node
    args = getattr(node, "args", None)
    if not args or any(arg.star or arg.keyword is not None for arg in args):
        return []
    return [arg.value for arg in args]


SHAPES = re.compile(r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)")


def input_shape_mismatch(ctx: ExplainContext) -> list[Diagnostic]:
    """PL002: a forward call that failed because the input does not fit a layer, with both shapes."""
    found = []
    for finding in ctx.findings_of("forward"):
        for record in ctx.records(finding):
            error = record.get("error") or ""
            if record.get("kind") != "forward" or not error:
                continue
            inputs = [i.get("shape") for i in record.get("inputs", []) if i.get("kind") == "tensor"]
            match = SHAPES.search(error)
            module = record.get("module", {})
            if match:
                rows, got, expected, out = map(int, match.groups())
                layer = next((c for c in module.get("children", []) if (c.get("io") or {}).get("in") == expected
                              and (c.get("io") or {}).get("out") == out), None)
                which = f"`{_layer(layer)}` ({layer['name']})" if layer else f"a layer with in_features={expected}"
                message = tr(ctx.locale,
                             f"Input of shape {shape(inputs[0]) if inputs else '?'} does not fit: {which} expects "
                             f"{expected} features in the last dimension but receives {got}.",
                             f"形状为 {shape(inputs[0]) if inputs else '?'} 的输入不匹配：{which} 期望最后一维有 {expected} "
                             f"个特征，实际收到 {got} 个。")
            elif "shape" in error or "size" in error:
                message = tr(ctx.locale, f"The input {', '.join(shape(i) for i in inputs)} does not fit "
                                         f"`{module.get('class')}`: {error}",
                             f"输入 {'、'.join(shape(i) for i in inputs)} 与 `{module.get('class')}` 不匹配：{error}")
            else:
                continue
            found.append(Diagnostic(finding.span, "PL002", "error", message))
            break
    return found


def missing_state_dict_key(ctx: ExplainContext) -> list[Diagnostic]:
    """PL003: `state_dict()['key']` with a key that does not exist, with the nearest real keys."""
    found = []
    for finding in ctx.findings_of("state_dict_key"):
        key = finding.facts.get("key")
        if key is None or ctx.records(finding):
            continue
        inner = next((f for f in ctx.findings if f.pattern == "state_dict" and f.span.line == finding.span.line
                      and f.span.column == finding.span.column), None)
        state = [r for r in ctx.records(inner) if r.get("kind") == "state_dict"] if inner else []
        if not state:
            continue
        keys = [entry["key"] for entry in state[0]["entries"]]
        if key in keys:
            continue
        near = difflib.get_close_matches(key, keys, n=3, cutoff=0.3)
        hint = ", ".join(f"`{k}`" for k in near) if near else ", ".join(f"`{k}`" for k in keys[:6])
        found.append(Diagnostic(finding.span, "PL003", "error", tr(
            ctx.locale, f"`{finding.facts['receiver']}.state_dict()` has no key `{key}`; nearest: {hint}.",
            f"`{finding.facts['receiver']}.state_dict()` 中没有键 `{key}`；最接近的：{hint}。")))
    return found


INDEX = re.compile(r"index (-?\d+) is out of range")


def child_index_out_of_range(ctx: ExplainContext) -> list[Diagnostic]:
    """PL004: `net[5]` on a container with fewer children."""
    found = []
    for unit in ctx.units:
        status = ctx.observations.statements.get(unit.index)
        error = (status or {}).get("error") or {}
        if (status or {}).get("status") != "error" or error.get("type") != "IndexError":
            continue
        match = INDEX.search(error.get("message", ""))
        if not match:
            continue
        index = int(match.group(1))
        site = _subscript_site(ctx, unit.line, unit.end_line, index)
        if site is None:
            continue
        finding, name, size = site
        found.append(Diagnostic(finding, "PL004", "error", tr(
            ctx.locale,
            f"`{name}` has {size} children (indices 0 to {size - 1}, or -{size} to -1); index {index} does not exist.",
            f"`{name}` 只有 {size} 个子模块（索引 0 到 {size - 1}，或 -{size} 到 -1）；不存在索引 {index}。")))
    return found


def _subscript_site(ctx: ExplainContext, line: int, end_line: int, index: int):
    """The `name[index]` subscript in the statement and how many children `name` has (from the module table)."""
    sizes = {}
    for module in ctx.observations.modules:
        sizes[module["name"]] = None
    for finding in ctx.findings:
        if not (line <= finding.span.line <= end_line):
            continue
        text = finding.facts.get("text") or finding.facts.get("receiver") or ""
        match = re.search(r"\b([A-Za-z_]\w*)\[\s*" + re.escape(str(index)) + r"\s*\]", text)
        if not match:
            continue
        name = match.group(1)
        children = _children_count(ctx, name)
        if children is None:
            continue
        from paramlens.report import Span

        column = finding.span.column + match.start() if finding.span.line == finding.span.end_line else 1
        return Span(finding.span.line, column, finding.span.line, column + len(match.group(0))), name, children
    return None


def _children_count(ctx: ExplainContext, name: str) -> int | None:
    for finding in ctx.findings_of("module"):
        for record in ctx.records(finding):
            owners = [o["path"] for o in record.get("owner", [])]
            if name in owners and record.get("children") is not None:
                return len(record["children"])
    # the module table does not list children; find the last construction bound to that name statically
    bound = [m for m in ctx.observations.modules if m["name"] == name]
    if bound:
        for finding in ctx.findings_of("module"):
            if finding.span.line == bound[0]["line"] or finding.span.line <= bound[0]["line"] <= finding.span.end_line:
                records = [r for r in ctx.records(finding) if r.get("kind") == "module" and r.get("children")]
                if records:
                    return len(records[0]["children"])
    return None


NO_ATTRIBUTE = re.compile(r"'(\w+)' object has no attribute '(\w+)'")


def no_such_parameter(ctx: ExplainContext) -> list[Diagnostic]:
    """PL005: `net[1].weight` on a ReLU (a module without that parameter)."""
    found = []
    for finding in ctx.findings_of("param_attr"):
        if finding.function is not None or ctx.records(finding):
            continue
        error = _statement_error(ctx, finding.span.line)
        if not error or error.get("type") != "AttributeError":
            continue
        match = NO_ATTRIBUTE.search(error.get("message", ""))
        if not match or match.group(2) != finding.facts.get("attr"):
            continue
        cls, attr = match.groups()
        receiver = finding.facts["text"].rsplit(".", 1)[0]
        found.append(Diagnostic(finding.span, "PL005", "error", tr(
            ctx.locale,
            f"`{receiver}` is a `{cls}`, which has no parameter `{attr}` (layers such as `{cls}` have no parameters "
            "at all). Index the layer that has it.",
            f"`{receiver}` 是 `{cls}`，它没有参数 `{attr}`（`{cls}` 这类层根本没有参数）。请索引真正拥有该参数的层。")))
        break
    return found


def init_missing_parameter(ctx: ExplainContext) -> list[Diagnostic]:
    """PL105: an init function that touches e.g. `m.bias` on a visited module built with `bias=False`."""
    found = []
    for finding in ctx.findings_of("apply"):
        for record in ctx.records(finding):
            error = record.get("error") or ""
            if record.get("kind") != "apply" or "NoneType" not in error or not record.get("visits"):
                continue
            visit = record["visits"][-1]
            missing = "bias" if "bias=False" in visit.get("extra", "") else None
            what = f"`{missing}`" if missing else tr(ctx.locale, "a parameter", "某个参数")
            found.append(Diagnostic(finding.span, "PL105", "error", tr(
                ctx.locale,
                f"`{finding.facts.get('fn')}` touched {what} of `{visit['class']}({visit['extra']})` "
                f"({visit['paths'][0] or 'the module itself'}), which has none ({error}). Guard it: "
                "`if m.bias is not None:`.",
                f"`{finding.facts.get('fn')}` 访问了 `{visit['class']}({visit['extra']})`"
                f"（{visit['paths'][0] or '模块自身'}）的 {what}，但它没有该参数（{error}）。请加判断：`if m.bias is not None:`。")))
    return found


def fan_init_on_vector(ctx: ExplainContext) -> list[Diagnostic]:
    """PL106: xavier_*/kaiming_* on a tensor with fewer than two dimensions (typically a bias)."""
    found = []
    for finding in ctx.findings_of("init"):
        name = finding.facts.get("init", "")
        if not ("xavier" in name or "kaiming" in name):
            continue
        for record in ctx.records(finding):
            dims = record.get("shape")
            if record.get("kind") != "init" or dims is None or len(dims) >= 2:
                continue
            owner = next((o["path"] for o in record.get("owner", [])), finding.facts.get("tensor") or "the tensor")
            found.append(Diagnostic(finding.span, "PL106", "error", tr(
                ctx.locale,
                f"`nn.init.{name}` needs fan-in and fan-out, which a tensor with {len(dims)} dimension(s) does not have: "
                f"`{owner}` is {shape(dims)}. Initialise biases with `nn.init.zeros_` or a small uniform range.",
                f"`nn.init.{name}` 需要 fan-in 和 fan-out，而 {len(dims)} 维张量没有：`{owner}` 的形状是 {shape(dims)}。"
                "偏置请用 `nn.init.zeros_` 或较小的均匀分布初始化。")))
            break
    return found


def apply_changed_nothing(ctx: ExplainContext) -> list[Diagnostic]:
    """PL107: `apply(fn)` where `fn` is an init function (it calls nn.init or writes parameters) but changed no
    parameter of any visited module: usually a condition that never matches."""
    found = []
    if ctx.observations.device == "meta":
        return found  # no values to compare: a write through `.data` leaves no trace on the meta device
    initialising = {f.function for f in ctx.findings if f.pattern in {"init", "data_mutation"} and f.function}
    for finding in ctx.findings_of("apply"):
        fn = finding.facts.get("fn")
        if fn not in initialising:
            continue
        records = [r for r in ctx.records(finding) if r.get("kind") == "apply" and not r.get("error")]
        if not records or any(v["changed"] for v in records[0]["visits"]):
            continue
        classes = sorted({v["class"] for v in records[0]["visits"]})
        found.append(Diagnostic(finding.span, "PL107", "warning", tr(
            ctx.locale,
            f"`{fn}` visited {len(records[0]['visits'])} modules ({', '.join(classes)}) and changed no parameter: its "
            "condition never matched. Check the class it tests for (and prefer `isinstance`).",
            f"`{fn}` 访问了 {len(records[0]['visits'])} 个模块（{'、'.join(classes)}），却没有修改任何参数：它的条件从未满足。"
            "请检查它判断的类（并优先使用 `isinstance`）。")))
    return found


def lazy_parameter_read(ctx: ExplainContext) -> list[Diagnostic]:
    """PL108: reading a lazy module's parameters (shape, values) before its first forward call."""
    found = []
    seen_lines = set()
    for finding in ctx.findings:
        if finding.pattern not in {"param_attr", "named_parameters", "parameters", "init"}:
            continue
        records = ctx.records(finding)
        lazy = any(r.get("lazy") for r in records) or any(i.get("shape") is None and i.get("kind") == "tensor"
                                                          for r in records for i in r.get("items", []))
        error = _statement_error(ctx, finding.span.line) if not records else None
        uninitialised = error and "uninitialized parameter" in error.get("message", "")
        if not (lazy or uninitialised) or finding.span.line in seen_lines:
            continue
        seen_lines.add(finding.span.line)
        found.append(Diagnostic(finding.span, "PL108", "warning", tr(
            ctx.locale,
            f"`{finding.facts.get('text')}` reads parameters of a lazy module before its first forward: they are "
            "still `UninitializedParameter`s with no shape or values. Run one forward pass (e.g. with a dummy "
            "batch) first.",
            f"`{finding.facts.get('text')}` 在惰性模块第一次前向之前读取它的参数：它们仍是没有形状和数值的 "
            "`UninitializedParameter`。请先做一次前向计算（例如用一个假的批次）。")))
    return found

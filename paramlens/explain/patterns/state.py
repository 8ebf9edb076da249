"""`state_dict()` and key lookup, the parameter/buffer/module iterators, and `add_module`."""

from __future__ import annotations

import difflib
from typing import Any

from paramlens.analyzers.findings import Finding
from paramlens.explain.context import ExplainContext
from paramlens.explain.fmt import code, count, join, shape, shape_product, table
from paramlens.explain.i18n import tr
from paramlens.explain.patterns.common import calls_note, heading, module_label, not_run_note, site_code, times
from paramlens.explain.patterns.parameters import describe_tensor, tensor_facts


def _short_values(entry: dict[str, Any]) -> str:
    values = entry.get("values")
    if values is None:
        stats = entry.get("stats")
        return f"{_range(stats)}" if stats else "…"
    flat = _flatten(values)
    shown = ", ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in flat[:4])
    return f"[{shown}{', …' if len(flat) > 4 else ''}]"


def _range(stats: dict[str, Any]) -> str:
    from paramlens.explain.fmt import num

    return f"{num(stats['min'])} … {num(stats['max'])}"


def _flatten(values: Any) -> list:
    if isinstance(values, list):
        return [x for v in values for x in _flatten(v)]
    return [values]


def explain_state_dict(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    records = [r for r in ctx.records(finding) if r.get("kind") == "state_dict"]
    title = heading(site_code(finding))
    general = tr(locale,
                 "`state_dict()` is an ordered dictionary from names to tensors: every parameter and every persistent "
                 "buffer, detached from autograd (no `requires_grad`). It is what `torch.save` writes and "
                 "`load_state_dict` reads, so its keys are the contract between a model and its checkpoint. A layer's "
                 "keys are bare (`weight`); a container prefixes each child's keys with the child's name (`2.weight`).",
                 "`state_dict()` 是一个从名字到张量的有序字典：包含所有参数和所有持久化缓冲区，并且脱离了 autograd"
                 "（没有 `requires_grad`）。`torch.save` 保存的、`load_state_dict` 读取的就是它，所以它的键是模型与检查点"
                 "之间的约定。单个层的键不带前缀（`weight`）；容器会在每个子模块的键前加上子模块的名字（`2.weight`）。")
    if not records:
        return join(title, general, not_run_note(finding, ctx)), {}
    record = records[0]
    rows = [[code(e["key"]), shape(e["shape"]), e["dtype"], code(_short_values(e))] for e in record["entries"][:16]]
    header = tr(locale, "key|shape|dtype|values", "键|形状|dtype|数值").split("|")
    parts = [title, tr(locale, f"{record['count']} entries:", f"共 {record['count']} 项："), table(header, rows)]
    if record["count"] > 16:
        parts.append(tr(locale, f"… and {record['count'] - 16} more.", f"……另有 {record['count'] - 16} 项。"))
    parts.append(general)
    return join(*parts), {"keys": [e["key"] for e in record["entries"]],
                          "shapes": [e["shape"] for e in record["entries"]],
                          "values": [e.get("values") for e in record["entries"]]}


def explain_state_dict_key(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    key = finding.facts.get("key")
    title = heading(site_code(finding))
    records = [r for r in ctx.records(finding) if r.get("kind") == "tensor"]
    inner = next((f for f in ctx.findings if f.pattern == "state_dict" and f.span.line == finding.span.line
                  and f.span.column == finding.span.column), None)
    available = []
    if inner is not None:
        state = [r for r in ctx.records(inner) if r.get("kind") == "state_dict"]
        available = [e["key"] for e in state[0]["entries"]] if state else []
    if not records:
        if key is not None and available and key not in available:
            near = difflib.get_close_matches(key, available, n=3, cutoff=0.3)
            return join(title, tr(locale, f"There is no key `{key!s}`. " + (
                "Nearest keys: " + ", ".join(code(k) for k in near) + ". " if near else "") +
                "Keys: " + ", ".join(code(k) for k in available[:12]),
                f"不存在键 `{key!s}`。" + ("最接近的键：" + "、".join(code(k) for k in near) + "。" if near else "") +
                "全部键：" + "、".join(code(k) for k in available[:12]))), {"missing": key, "nearest": near}
        return join(title, not_run_note(finding, ctx)), {}
    value = records[0]
    parts = [title]
    if key and "." in key:
        child, _, name = key.rpartition(".")
        parts.append(tr(locale, f"The key `{key}` names `{name}` of child `{child}`. `state_dict()` holds a detached "
                                "view of it (`param.detach()`): a different tensor object with "
                                "`requires_grad=False` that shares the parameter's storage, so writing into it changes "
                                "the model.",
                        f"键 `{key}` 指子模块 `{child}` 的 `{name}`。`state_dict()` 中保存的是它的分离视图"
                        "（`param.detach()`）：一个不同的张量对象，`requires_grad=False`，与参数共享存储，所以向它写入会"
                        "改变模型。"))
    parts.append(describe_tensor(locale, value))
    return join(*parts), tensor_facts(value)


ITERATOR_NOTES = {
    "named_parameters": (
        "`named_parameters()` yields `(name, parameter)` pairs for this module and, recursively, all its children, in "
        "registration order. Names are the child names joined with dots (`0.weight`). A tensor reached twice (a "
        "shared layer) is yielded once.",
        "`named_parameters()` 按注册顺序递归地给出本模块及其所有子模块的 `(名字, 参数)` 对。名字由子模块名用点连接而成"
        "（`0.weight`）。被访问到两次的张量（共享层）只给出一次。"),
    "parameters": (
        "`parameters()` yields the same tensors as `named_parameters()`, without names — this is what you hand to an "
        "optimizer. Shared tensors are yielded once.",
        "`parameters()` 给出与 `named_parameters()` 相同的张量，但不带名字——这正是交给优化器的东西。共享的张量只给出一次。"),
    "buffers": (
        "Buffers are tensors a module keeps that are not trained (e.g. BatchNorm's running statistics); persistent "
        "ones are saved in `state_dict()`.",
        "缓冲区是模块保存的、不参与训练的张量（例如 BatchNorm 的滑动统计量）；持久化的缓冲区会保存在 `state_dict()` 中。"),
    "modules": (
        "Module iterators walk the tree of submodules: `children()` only the direct children, `modules()` the module "
        "itself and every descendant (each object once).",
        "模块迭代器遍历子模块树：`children()` 只给出直接子模块，`modules()` 给出模块本身及其所有后代（每个对象只出现一次）。"),
}


ROWS = 8  # rows of a listing a hover shows (the count says how many there are)


def explain_iteration(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    method = finding.facts["method"]
    note = tr(locale, *ITERATOR_NOTES[finding.pattern])
    title = heading(site_code(finding))
    records = [r for r in ctx.records(finding) if r.get("kind") == "method" and "items" in r]
    if not records:
        return join(title, note, not_run_note(finding, ctx)), {}
    total_calls = ctx.count(finding)
    parts = [title]
    facts: dict[str, Any] = {"calls": []}
    shown, repeats = _distinct(records[:4])
    for record in shown:
        items = record["items"]
        receiver = record.get("receiver") or {}
        owner = (receiver.get("owner") or [{}])[0].get("path")
        label = code(owner) if owner else code(finding.facts["receiver"])
        if receiver and receiver.get("extra"):
            label += f" = {code(module_label(receiver))}"
        elif receiver:
            label += f" ({code(receiver.get('class', '?'))})"
        tensors = [i for i in items if i.get("kind") == "tensor"]
        if tensors:
            rows = [[code(i["name"]) if i.get("name") is not None else "—", shape(i["shape"]),
                     f"{shape_product(i['shape'])} = {count(i['numel'])}" if i["shape"] and len(i["shape"]) > 1
                     else count(i["numel"])] for i in tensors[:ROWS]]
            header = tr(locale, "name|shape|count", "名字|形状|数量").split("|")
            total = sum(i["numel"] for i in tensors)
            summary = tr(locale, f"{label}: {record['count']} tensors, {count(total)} values in all.",
                         f"{label}：共 {record['count']} 个张量，{count(total)} 个值。")
            parts.extend([summary, table(header, rows)])
            if record["count"] > ROWS:
                parts.append(tr(locale, f"… and {record['count'] - ROWS} more.", f"……另有 {record['count'] - ROWS} 个。"))
            facts["calls"].append({"receiver": owner, "names": [i.get("name") for i in tensors],
                                   "shapes": [i["shape"] for i in tensors], "total": total})
        else:
            names = ", ".join(code(f"{i.get('name') or ''}: {i.get('class', i.get('type'))}") for i in items[:12])
            parts.append(f"{label}: {names}" + (" …" if len(items) > 12 else ""))
            facts["calls"].append({"receiver": owner, "names": [i.get("name") for i in items]})
    if finding.function and total_calls > 1:
        parts.insert(1, tr(locale, f"Called {times(locale, total_calls)} inside `{finding.function}` (once per call):",
                           f"在 `{finding.function}` 中共调用 {total_calls} 次（每次调用一次）："))
    if repeats:
        parts.append(tr(locale, f"_The other {repeats} recorded evaluations gave the same tensors._",
                        f"_其余 {repeats} 次记录的求值给出了相同的张量。_"))
    parts.append(calls_note(locale, total_calls, min(len(records), 4)))
    parts.append(note)
    if method == "named_parameters" and "print(*" in _statement_text(ctx, finding):
        parts.append(tr(locale, "`print(*[...])` unpacks the list, so `print` receives each `(name, shape)` tuple as a "
                                "separate argument and prints them separated by spaces.",
                        "`print(*[...])` 会把列表解包，`print` 把每个 `(名字, 形状)` 元组当作单独的参数接收，并以空格分隔打印。"))
    return join(*parts), facts


def _distinct(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Records that list different things (a loop calling `model.parameters()` gets the same tensors every time:
    one table, not four identical ones), and how many repeats were folded."""
    seen: set[str] = set()
    distinct = []
    for record in records:
        key = repr([(i.get("name"), i.get("shape"), i.get("class")) for i in record.get("items", [])]) + \
            repr(((record.get("receiver") or {}).get("owner") or [{}])[0].get("path"))
        if key not in seen:
            seen.add(key)
            distinct.append(record)
    return distinct, len(records) - len(distinct)


def _statement_text(ctx: ExplainContext, finding: Finding) -> str:
    for candidate in ctx.findings:
        if candidate.pattern == "print_output" and candidate.span.line <= finding.span.line <= candidate.span.end_line:
            return candidate.facts.get("text", "")
    return ""


def explain_add_module(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    locale = ctx.locale
    records = [r for r in ctx.records(finding) if r.get("kind") == "method"]
    title = heading(site_code(finding))
    general = tr(locale,
                 "`add_module(name, module)` registers a child under an explicit name, exactly like assigning an "
                 "attribute, but the name can be any string — including ones like `'block 0'` that are not valid "
                 "attribute names (reach those with `net[0]` or `getattr`). The name becomes the prefix of the child's "
                 "parameter names.",
                 "`add_module(name, module)` 以显式名字注册一个子模块，效果与属性赋值相同，但名字可以是任意字符串——包括 "
                 "`'block 0'` 这种不能作为属性名的名字（可用 `net[0]` 或 `getattr` 访问）。这个名字会成为该子模块参数名的前缀。")
    if not records:
        return join(title, general, not_run_note(finding, ctx)), {}
    rows = [[code(repr(r.get("name"))), code(module_label(r["child"])) if r.get("child") else "—",
             count(r["child"]["param_count"]) if r.get("child") else "—"] for r in records]
    header = tr(locale, "name|child|parameters", "名字|子模块|参数数量").split("|")
    total = ctx.count(finding)
    parts = [title, tr(locale, f"Called {times(locale, total)}; registered:", f"共调用 {total} 次；注册了："), table(header, rows),
             calls_note(locale, total, len(records)), general]
    return join(*parts), {"names": [r.get("name") for r in records], "calls": total}



def explain_state_dict_lookup(finding: Finding, ctx: ExplainContext) -> tuple[str, dict[str, Any]] | None:
    """`sd["fc2.bias"]` / `sd.get("fc2.bias")` on a variable holding a state dict: the entry, or the nearest keys
    when it does not exist (PL003 says so as a diagnostic)."""
    locale = ctx.locale
    key = finding.facts["key"]
    variable = finding.facts["variable"]
    title = heading(site_code(finding))
    if not ctx.records(finding):
        return join(title, not_run_note(finding, ctx)), {}
    state = [r for r in ctx.records(finding) if r.get("kind") == "state_dict"]
    if not state:
        return None  # the variable held something else at run time: nothing state-dict-specific to say
    entries = state[0]["entries"]
    entry = next((e for e in entries if e["key"] == key), None)
    head = tr(locale, f"`{variable}` holds a state dict with {count(state[0]['count'])} entries.",
              f"`{variable}` 是一个包含 {count(state[0]['count'])} 项的 state dict。")
    if entry is None:
        keys = [e["key"] for e in entries]
        near = difflib.get_close_matches(key, keys, n=3, cutoff=0.3)
        missing = tr(locale, f"It has no key `{key}`" + (": nearest " + ", ".join(code(k) for k in near) if near else "")
                     + ".", f"其中没有键 `{key}`" + ("：最接近的是 " + "、".join(code(k) for k in near) if near else "") + "。")
        return join(title, missing, head), {"key": key, "missing": True, "nearest": near}
    found = tr(locale, f"`{key}`: a tensor of shape {shape(entry.get('shape'))}, `{entry.get('dtype')}`.",
               f"`{key}`：形状为 {shape(entry.get('shape'))}、类型为 `{entry.get('dtype')}` 的张量。")
    return join(title, found, head), {"key": key, "missing": False, "shape": entry.get("shape")}

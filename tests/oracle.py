"""The oracle: run a PyTorch file with plain torch, no ParamLens, and report what torch itself produced.

Every number a test compares against comes from here. `run_oracle(source, path)` starts a fresh interpreter
(`sys.executable -c ORACLE_SCRIPT`) that seeds torch exactly like ParamLens says it does (`torch.manual_seed(seed)`,
default 0), then executes the file's top-level statements one by one in one namespace, like notebook cells:
stdout is captured per statement, an exception stops only its own statement. At the end it dumps, for every
top-level variable bound to an `nn.Module` (in order of first binding): named parameters, counts, tied groups,
buffers and state_dict keys.

Values in the middle of the program are requested with
  capture={line: [expr, ...]}  evaluated right AFTER the top-level statement that contains `line`,
  before={line: [expr, ...]}   evaluated right BEFORE that statement runs,
  at_end=[expr, ...]           evaluated after the last statement.
Expressions see the program's namespace plus three helpers that only read state:
  apply_order(module)  -> qualified names of the modules `module.apply(fn)` visits, in torch's order;
  owners(tensor)       -> "var.param" names (over every top-level module variable, duplicates included) whose
                          parameter is that very tensor object;
  fans(tensor)         -> [fan_in, fan_out] as torch.nn.init computes them.
Tensors come back as nested lists (`tolist()`), dicts as dicts, tuples as lists.

`skip_lines` lists top-level statements (by their first line) the oracle must not run, e.g. an infinite loop or
an `os._exit`. `loop_caps={line: n}` runs the `for` / `while` loop that starts on `line` at most `n` iterations each
time it is entered, ending it the way it ends normally (the truth for a loop ParamLens' loop budget cut after n
iterations). `show=[line, ...]` makes the expression statements starting on those lines show their value as a
notebook cell's last expression does (`statements[i]["shown"]`: its `repr`, or None). The file runs as `python file.py` runs it: `__name__` is "__main__" unless `name` says otherwise. Since instrumentation must not consume random numbers, ParamLens's observed values must equal the
oracle's bit for bit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any, Iterable

ORACLE_SCRIPT = r'''
import ast, io, json, random, sys

request = json.loads(sys.stdin.read())
import torch
from torch import nn

torch.set_num_threads(1)
seed = request["seed"]
if seed is not None:
    random.seed(seed)
    torch.manual_seed(seed)

path = request["path"]
tree = ast.parse(request["source"], path)
caps = {int(k): v for k, v in request["loop_caps"].items()}
show = set(request.get("show", []))


def __oracle_for_cap__(limit, iterable):
    iterator = iter(iterable)
    for _ in range(limit):  # never asks the iterator for more than `limit` items
        try:
            item = next(iterator)
        except StopIteration:
            return
        yield item


__oracle_while_counts__ = {}


def __oracle_while_cap__(key, limit, condition):
    frame_key = (id(sys._getframe(1)), key)
    if not condition:
        __oracle_while_counts__.pop(frame_key, None)
        return False
    done = __oracle_while_counts__.get(frame_key, 0)
    if done >= limit:
        __oracle_while_counts__.pop(frame_key, None)
        return False
    __oracle_while_counts__[frame_key] = done + 1
    return True


class CapLoops(ast.NodeTransformer):
    def visit_For(self, node):
        self.generic_visit(node)
        if node.lineno in caps:
            node.iter = ast.Call(ast.Name("__oracle_for_cap__", ast.Load()), [ast.Constant(caps[node.lineno]), node.iter], [])
        return node

    def visit_While(self, node):
        self.generic_visit(node)
        if node.lineno in caps:
            node.test = ast.Call(ast.Name("__oracle_while_cap__", ast.Load()),
                                 [ast.Constant(node.lineno), ast.Constant(caps[node.lineno]), node.test], [])
        return node


if caps:
    tree = ast.fix_missing_locations(CapLoops().visit(tree))
namespace = {"__name__": request["name"], "__file__": path, "__builtins__": __builtins__,
             "__oracle_for_cap__": __oracle_for_cap__, "__oracle_while_cap__": __oracle_while_cap__}
skip = set(request["skip_lines"])
capture = {int(k): v for k, v in request["capture"].items()}
before = {int(k): v for k, v in request["before"].items()}


def jsonable(value, depth=0):
    if depth > 20:
        return repr(value)
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().tolist()
    if isinstance(value, torch.Size):
        return list(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, depth + 1) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def top_level_modules():
    return [(k, v) for k, v in list(namespace.items()) if not k.startswith("__") and isinstance(v, nn.Module)]


def apply_order(root):
    names = {}
    for name, module in root.named_modules(remove_duplicate=False):
        names.setdefault(id(module), name)
    visited = []
    root.apply(lambda m: visited.append(names.get(id(m))))
    return visited


def owners(tensor):
    found = []
    for var, module in top_level_modules():
        for name, param in module.named_parameters(remove_duplicate=False):
            if param is tensor:
                found.append(var + "." + name)
    return found


def fans(tensor):
    return list(torch.nn.init._calculate_fan_in_and_fan_out(tensor))


helpers = {"apply_order": apply_order, "owners": owners, "fans": fans, "torch": torch, "nn": nn}


def evaluate(expressions):
    out = {}
    scope = dict(namespace)
    scope.update(helpers)
    for expression in expressions:
        real_stdout = sys.stdout
        sys.stdout = io.StringIO()
        try:
            out[expression] = {"ok": True, "value": jsonable(eval(expression, scope))}
        except BaseException as error:
            out[expression] = {"ok": False, "error": type(error).__name__ + ": " + str(error)}
        finally:
            sys.stdout = real_stdout
    return out


def wanted(table, start, end):
    return [e for line, exprs in table.items() if start <= line <= end for e in exprs]


import __future__
FUTURE_MASK = 0
for feature in __future__.all_feature_names:
    FUTURE_MASK |= getattr(__future__, feature).compiler_flag
future_flags = 0
statements = []
captured = {}
captured_before = {}
order, ids = [], {}
for node in tree.body:
    start, end = node.lineno, node.end_lineno
    if getattr(node, "decorator_list", None):
        start = min([start] + [d.lineno for d in node.decorator_list])
    record = {"line": start, "end_line": end, "status": "ok", "error": None, "output": ""}
    statements.append(record)
    if start in skip:
        record["status"] = "skipped"
        continue
    pre = wanted(before, start, end)
    if pre:
        captured_before[str(start)] = evaluate(pre)
    shows = start in show and isinstance(node, ast.Expr)
    # the file's own future features hold for every statement after their import, as in `python file.py`
    code = compile(ast.Expression(node.value) if shows else ast.Module(body=[node], type_ignores=[]), path,
                   "eval" if shows else "exec", flags=future_flags, dont_inherit=True)
    future_flags |= code.co_flags & FUTURE_MASK
    buffer = io.StringIO()
    real_stdout = sys.stdout
    sys.stdout = buffer
    try:
        if shows:  # a notebook cell's last expression: its value is shown, as IPython's displayhook shows it
            value = eval(code, namespace)
            record["shown"] = None if value is None else repr(value)
        else:
            exec(code, namespace)
    except SystemExit:
        record["status"] = "exit"
    except BaseException as error:
        record["status"] = "error"
        record["error"] = {"type": type(error).__name__, "message": str(error)}
    finally:
        sys.stdout = real_stdout
    record["output"] = buffer.getvalue()
    for name, value in top_level_modules():
        if name not in ids:
            order.append(name)
        ids[name] = id(value)
    post = wanted(capture, start, end)
    if post:
        captured[str(start)] = evaluate(post)
    if record["status"] == "exit":
        break

modules = []
for name in order:
    module = namespace.get(name)
    if not isinstance(module, nn.Module):
        continue
    groups = {}
    for pname, param in module.named_parameters(remove_duplicate=False):
        groups.setdefault(id(param), []).append(pname)
    persistent = set(module.state_dict().keys())
    modules.append({
        "name": name,
        "class": type(module).__name__,
        "param_count": sum(p.numel() for p in module.parameters()),
        "param_count_with_duplicates": sum(p.numel() for _, p in module.named_parameters(remove_duplicate=False)),
        "parameters": [{"name": n, "shape": list(p.shape), "dtype": str(p.dtype).replace("torch.", ""),
                        "requires_grad": bool(p.requires_grad)} for n, p in module.named_parameters()],
        "tied": [g for g in groups.values() if len(g) > 1],
        "buffers": [{"name": n, "shape": list(b.shape), "persistent": n in persistent}
                    for n, b in module.named_buffers()],
        "state_dict_keys": list(module.state_dict().keys()),
    })

result = {"torch": torch.__version__, "seed": seed, "statements": statements, "modules": modules,
          "captures": captured, "before": captured_before, "end": evaluate(request["at_end"])}
with open(request["out"], "w", encoding="utf-8") as handle:
    json.dump(result, handle)
'''


class OracleError(RuntimeError):
    pass


class OracleResult:
    """What torch produced. `value(line, expr)` is the value of `expr` right after the statement containing
    `line` (it must have been requested with `capture`); `value_before` and `value_at_end` likewise."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.torch_version: str = data["torch"]
        self.modules: list[dict[str, Any]] = data["modules"]
        self.statements: list[dict[str, Any]] = data["statements"]

    def module(self, name: str) -> dict[str, Any]:
        for module in self.modules:
            if module["name"] == name:
                return module
        raise KeyError(name)

    def statement(self, line: int) -> dict[str, Any]:
        for statement in self.statements:
            if statement["line"] <= line <= statement["end_line"]:
                return statement
        raise KeyError(line)

    @staticmethod
    def _get(table: dict[str, Any], key: str, expression: str) -> Any:
        try:
            entry = table[key][expression]
        except KeyError:
            raise KeyError(f"{expression!r} was not requested at {key}") from None
        if not entry["ok"]:
            raise OracleError(f"oracle could not evaluate {expression!r}: {entry['error']}")
        return entry["value"]

    def value(self, line: int, expression: str) -> Any:
        return self._get(self.data["captures"], str(self.statement(line)["line"]), expression)

    def value_before(self, line: int, expression: str) -> Any:
        return self._get(self.data["before"], str(self.statement(line)["line"]), expression)

    def value_at_end(self, expression: str) -> Any:
        return self._get({"end": self.data["end"]}, "end", expression)


def run_oracle(source: str, path: str = "oracle_input.py", *, capture: dict[int, Iterable[str]] | None = None,
               before: dict[int, Iterable[str]] | None = None, at_end: Iterable[str] = (),
               skip_lines: Iterable[int] = (), seed: int | None = 0, name: str = "__main__",
               loop_caps: dict[int, int] | None = None, timeout: float = 120.0,
               cwd: str | None = None, show: Iterable[int] = ()) -> OracleResult:
    """Run `source` (as if it were the file `path`) with plain torch and return what it produced. It runs in a
    fresh temporary directory unless `cwd` is given (as `python file.py` run from that directory would)."""
    with tempfile.TemporaryDirectory(prefix="paramlens-oracle-") as workdir:
        out = os.path.join(workdir, "result.json")
        request = {"source": source, "path": str(path), "seed": seed, "name": name, "out": out,
                   "skip_lines": sorted(set(skip_lines)),
                   "loop_caps": {str(k): int(v) for k, v in (loop_caps or {}).items()},
                   "capture": {str(k): list(v) for k, v in (capture or {}).items()},
                   "before": {str(k): list(v) for k, v in (before or {}).items()},
                   "at_end": list(at_end), "show": sorted(set(show))}
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
        completed = subprocess.run([sys.executable, "-c", ORACLE_SCRIPT], input=json.dumps(request), text=True,
                                   capture_output=True, cwd=cwd or workdir, env=env, timeout=timeout)
        if completed.returncode != 0 or not os.path.exists(out):
            raise OracleError(f"oracle failed (exit {completed.returncode}):\n{completed.stderr[-4000:]}")
        with open(out, encoding="utf-8") as handle:
            return OracleResult(json.load(handle))

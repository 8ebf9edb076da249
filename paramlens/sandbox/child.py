"""Entry point of the sandboxed child: `python -I -m paramlens.sandbox.child`.

Reads one JSON request on stdin, runs the units (top-level statements) one by one in a single namespace like a
notebook run with errors allowed, and streams JSON events (one per line) to the result channel as it goes, so
that whatever was observed before a timeout, a memory error or a crash still reaches the parent.

Events: start, begin (a statement starts), probe, stmt (a statement ended: ok/error/skipped/dependent),
modules (the module variables at the end), done.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
import traceback
from typing import Any

OUTPUT_LIMIT = 64_000  # characters of printed output kept per statement


class Capture(io.TextIOBase):
    """Stands in for sys.stdout: keeps what one statement prints (capped) and lets probes read slices of it."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.size < OUTPUT_LIMIT:
            kept = text[: OUTPUT_LIMIT - self.size]
            self.parts.append(kept)
            self.size += len(kept)
            self.dropped += len(text) - len(kept)
        else:
            self.dropped += len(text)
        return len(text)

    def flush(self) -> None:
        pass

    def tell_text(self) -> int:
        return self.size

    def text_since(self, position: int) -> str:
        return "".join(self.parts)[position:]

    def take(self) -> str:
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n… ({self.dropped} more characters not kept)"
        self.parts, self.size, self.dropped = [], 0, 0
        return text


def _limit_memory(budget_mb: int) -> None:
    """Address-space limit = what the process maps now (torch imported) + the budget. Set after importing torch:
    set before, it can break the import."""
    try:
        import resource

        with open("/proc/self/status") as status:
            size_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
        limit = size_kb * 1024 + budget_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (OSError, ValueError, StopIteration, ImportError):
        pass  # not Linux: the parent's wall-clock limit still applies


def _error_info(error: BaseException, path: str) -> dict[str, Any]:
    frames = traceback.extract_tb(error.__traceback__)
    user_frames = [f for f in frames if f.filename == path]
    innermost = user_frames[-1] if user_frames else None
    message = str(error)
    if isinstance(error, KeyError) and len(error.args) == 1:
        message = repr(error.args[0])
    return {"type": type(error).__name__, "message": message[:2000],
            "line": innermost.lineno if innermost else None,
            "function": innermost.name if innermost and innermost.name != "<module>" else None,
            "memory": _is_memory_error(error),
            "name": getattr(error, "name", None) if isinstance(error, NameError) else None}


def _is_memory_error(error: BaseException) -> bool:
    if isinstance(error, MemoryError):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and ("can't allocate memory" in text or "DefaultCPUAllocator" in text)


def main() -> int:
    request = json.loads(sys.stdin.read())
    # The result channel is the original stdout; fd 1 then points at stderr so stray C-level prints cannot corrupt
    # the JSON stream.
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdin = open(os.devnull)

    def emit(event: dict) -> None:
        channel.write(json.dumps(event, allow_nan=False, default=str) + "\n")

    started = time.perf_counter()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from paramlens.sandbox.runtime import Recorder, install

    _limit_memory(int(request.get("memory_mb", 4096)))
    seed = request.get("seed")
    if seed is not None:
        import random

        random.seed(seed)
        torch.manual_seed(seed)
    path = request["path"]
    directory = os.path.dirname(os.path.abspath(path))
    if directory not in sys.path:
        sys.path.insert(0, directory)

    capture = Capture()
    namespace: dict[str, Any] = {"__name__": "__paramlens__", "__file__": path, "__builtins__": __builtins__}
    recorder = Recorder(emit, namespace, capture, max_records=int(request.get("max_records", 8)))
    install(recorder, namespace)
    emit({"t": "start", "torch": torch.__version__, "seed": seed,
          "import_seconds": round(time.perf_counter() - started, 3)})

    poisoned: dict[str, int] = {}  # name -> line of the statement that should have bound it
    module_order: list[str] = []
    module_lines: dict[str, int] = {}
    module_ids: dict[str, int] = {}
    real_stdout = sys.stdout
    for unit in request["units"]:
        index, line = unit["index"], unit["line"]
        if not unit["run"]:
            for name in unit["binds"]:
                poisoned[name] = line
            emit({"t": "stmt", "index": index, "status": "skipped"})
            continue
        emit({"t": "begin", "index": index})
        code = "\n" * (unit["first_code_line"] - 1) + unit["code"]
        status, error = "ok", None
        begun = time.perf_counter()
        sys.stdout = capture
        try:
            exec(compile(code, path, "exec"), namespace)
        except SystemExit:
            status = "exit"
        except BaseException as exc:  # noqa: BLE001 - every failure of user code is reported, none escapes
            error = _error_info(exc, path)
            status = "error"
            if isinstance(exc, NameError) and error["name"] in poisoned:
                status = "dependent"
                error["depends_on"] = poisoned[error["name"]]
            for name in unit["binds"]:
                poisoned[name] = line
        finally:
            sys.stdout = real_stdout
        if status in {"ok", "exit"}:
            for name in unit["binds"]:
                poisoned.pop(name, None)
        emit({"t": "stmt", "index": index, "status": status, "seconds": round(time.perf_counter() - begun, 4),
              "output": capture.take(), "error": error})
        _track_modules(namespace, line, module_order, module_lines, module_ids)
        # the module table after every statement, so a timeout or crash later still leaves the latest one
        emit({"t": "modules", "modules": _final_modules(namespace, module_order, module_lines)})
        if status == "exit":
            break
    emit({"t": "done", "seconds": round(time.perf_counter() - started, 3)})
    channel.flush()
    return 0


def _track_modules(namespace: dict, line: int, order: list[str], lines: dict[str, int], ids: dict[str, int]) -> None:
    from torch import nn

    for name, value in list(namespace.items()):
        if name.startswith("__") or not isinstance(value, nn.Module):
            continue
        if name not in lines:
            order.append(name)
        if ids.get(name) != id(value):
            ids[name] = id(value)
            lines[name] = line


def _final_modules(namespace: dict, order: list[str], lines: dict[str, int]) -> list[dict]:
    from torch import nn

    from paramlens.sandbox.summaries import dtype_name, is_uninitialized, param_counts, tied_groups

    modules = []
    for name in order:
        module = namespace.get(name)
        if not isinstance(module, nn.Module):
            continue
        unique, with_duplicates = param_counts(module)
        persistent = set(module.state_dict().keys())
        modules.append({
            "name": name, "line": lines[name], "class": type(module).__name__,
            "param_count": unique, "param_count_with_duplicates": with_duplicates,
            "parameters": [{"name": n, "shape": None if is_uninitialized(p) else list(p.shape),
                            "dtype": dtype_name(p.dtype), "requires_grad": bool(p.requires_grad)}
                           for n, p in module.named_parameters()],
            "tied": tied_groups(module),
            "buffers": [{"name": n, "shape": list(b.shape), "persistent": n in persistent}
                        for n, b in module.named_buffers()],
            "state_dict_keys": list(module.state_dict().keys()),
        })
    return modules


if __name__ == "__main__":
    sys.exit(main())

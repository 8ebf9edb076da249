"""A language-server client over raw stdio, for the fault tests: it sends whatever bytes a test asks for (wrong
Content-Length, no header, bad params, documents that were never opened), which a client library would refuse to
send, and reads the server's messages with correct framing on a thread."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

SERVER = [sys.executable, "-m", "paramlens", "serve"]


def frame(message: dict | bytes, delta: int = 0, headers: bytes | None = None) -> bytes:
    body = message if isinstance(message, bytes) else json.dumps(message).encode("utf-8")
    if headers is None:
        headers = f"Content-Length: {len(body) + delta}\r\n".encode()
    return headers + b"\r\n" + body


class RawServer:
    def __init__(self, tmpdir: Path, cwd: Path | None = None) -> None:
        """`tmpdir` becomes the server's TMPDIR: every directory it or its worker makes is in there."""
        env = dict(os.environ, TMPDIR=str(tmpdir), PYTHONFAULTHANDLER="1")
        self.process = subprocess.Popen(SERVER, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, cwd=str(cwd or tmpdir), env=env)
        self.messages: queue.Queue[dict] = queue.Queue()
        self.seen: list[dict] = []
        self.stderr = b""
        self._next_id = 0
        self._pending: dict[int | str | None, dict] = {}
        self._lock = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    # -- reading --------------------------------------------------------------------------------------------------
    def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length is None:
                continue
            message = json.loads(stream.read(length))
            with self._lock:
                self.seen.append(message)
                self._lock.notify_all()
            if "id" in message and "method" in message:
                self._answer(message)
            self.messages.put(message)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for chunk in iter(lambda: self.process.stderr.read(4096), b""):
            self.stderr += chunk

    def _answer(self, request: dict) -> None:
        """Requests from the server (configuration, progress, refresh): answered as an editor would."""
        method = request["method"]
        result: Any = None
        if method == "workspace/configuration":
            result = [self.configuration for _ in request["params"]["items"]]
        self.send({"jsonrpc": "2.0", "id": request["id"], "result": result})

    configuration: Any = None

    # -- writing --------------------------------------------------------------------------------------------------
    def send_bytes(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def send(self, message: dict, delta: int = 0, headers: bytes | None = None) -> None:
        self.send_bytes(frame(message, delta, headers))

    def request_message(self, method: str, params: Any = None, with_params: bool = True) -> dict:
        self._next_id += 1
        message: dict = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
        if with_params:
            message["params"] = params
        return message

    def request(self, method: str, params: Any = None, timeout: float = 30, **framing: Any) -> dict:
        message = self.request_message(method, params)
        self.send(message, **framing)
        return self.response(message["id"], timeout)

    def notify(self, method: str, params: Any) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def response(self, request_id: int, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        with self._lock:
            checked = 0
            while True:
                for message in self.seen[checked:]:
                    if message.get("id") == request_id and "method" not in message:
                        return message
                checked = len(self.seen)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no response to request {request_id} within {timeout} s")
                self._lock.wait(remaining)

    def wait_for(self, predicate, timeout: float = 60, what: str = "a message") -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = next((m for m in self.seen if predicate(m)), None)
            if found is not None:
                return found
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}")

    # -- LSP -----------------------------------------------------------------------------------------------------
    def initialize(self, root: Path, options: dict | None = None, **capabilities: Any) -> None:
        answer = self.request("initialize", {
            "processId": os.getpid(), "rootUri": root.as_uri(), "locale": "en",
            "capabilities": {"workspace": {"configuration": True, **capabilities}},
            "initializationOptions": {"debounceMs": 0, **(options or {})}}, timeout=60)
        assert "result" in answer, answer
        self.notify("initialized", {})

    def open(self, uri: str, text: str, language: str = "python", version: int = 1) -> None:
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": language,
                                                              "version": version, "text": text}})

    def hover(self, uri: str, line: int, character: int, timeout: float = 30) -> dict:
        return self.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                   "position": {"line": line, "character": character}},
                            timeout=timeout)

    def report(self, uri: str) -> dict | None:
        return self.request("paramlens/report", {"textDocument": {"uri": uri}}).get("result")

    def wait_report(self, uri: str, timeout: float = 120, version: int = 1) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = self.report(uri)
            if answer and answer["version"] >= version:
                return answer["report"]
            time.sleep(0.1)
        raise AssertionError(f"{uri} was not analysed within {timeout} s")

    def diagnostics(self, uri: str) -> list[dict] | None:
        with self._lock:
            published = [m for m in self.seen if m.get("method") == "textDocument/publishDiagnostics"
                         and m["params"]["uri"] == uri]
        return published[-1]["params"]["diagnostics"] if published else None

    def popups(self) -> list[dict]:
        with self._lock:
            return [m for m in self.seen if m.get("method") in ("window/showMessage", "window/showMessageRequest")]

    def logs(self) -> list[str]:
        with self._lock:
            return [m["params"]["message"] for m in self.seen if m.get("method") == "window/logMessage"]

    # -- the process --------------------------------------------------------------------------------------------
    def descendants(self) -> dict[int, str]:
        return process_tree(self.process.pid)

    def close_stdin(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """End the server and everything under it (a test's cleanup, whatever state it is in)."""
        if self.process.poll() is None:
            for pid in [*self.descendants(), self.process.pid]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.process.wait(timeout=10)


def process_tree(root: int) -> dict[int, str]:
    """pid -> command line of every process under `root` (not `root` itself), from /proc."""
    children: dict[int, list[int]] = {}
    commands: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            commands[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        children.setdefault(int(stat[stat.rindex(")") + 2:].split()[1]), []).append(int(entry))
    found: dict[int, str] = {}
    frontier = list(children.get(root, []))
    while frontier:
        pid = frontier.pop()
        found[pid] = commands.get(pid, "")
        frontier.extend(children.get(pid, []))
    return found


def alive(pid: int) -> bool:
    """Running (a zombie counts as not running but is reported by `zombie`)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


def zombie(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] == "Z"

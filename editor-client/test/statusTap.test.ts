import * as assert from "node:assert/strict";
import type { StatusEvent } from "../src/status";
import { RawMessage, statusEventOf, statusTap } from "../src/statusTap";

describe("status tap on incoming messages", () => {
  it("turns paramlens/status and $/progress notifications into status events", () => {
    assert.deepEqual(statusEventOf({ jsonrpc: "2.0", method: "paramlens/status",
      params: { state: "ready", execution: true, isolation: ["seccomp"] } }),
    { type: "server-status", params: { state: "ready", execution: true, isolation: ["seccomp"] } });
    assert.deepEqual(statusEventOf({ jsonrpc: "2.0", method: "$/progress",
      params: { token: "paramlens/worker-start", value: { kind: "begin", title: "starting", percentage: 0 } } }),
    { type: "progress-begin", token: "paramlens/worker-start", title: "starting", message: undefined });
    assert.deepEqual(statusEventOf({ jsonrpc: "2.0", method: "$/progress",
      params: { token: 7, value: { kind: "report", message: "half" } } }),
    { type: "progress-report", token: "7", message: "half" });
    assert.deepEqual(statusEventOf({ jsonrpc: "2.0", method: "$/progress", params: { token: 7, value: { kind: "end" } } }),
      { type: "progress-end", token: "7" });
  });

  it("ignores requests, responses, other notifications and malformed payloads", () => {
    const ignored: RawMessage[] = [
      { jsonrpc: "2.0", id: 1, method: "paramlens/status", params: { state: "ready", execution: true, isolation: [] } },
      { jsonrpc: "2.0", id: 2 },
      { jsonrpc: "2.0", method: "textDocument/publishDiagnostics", params: {} },
      { jsonrpc: "2.0", method: "paramlens/status", params: { state: "bogus" } },
      { jsonrpc: "2.0", method: "$/progress", params: { token: {}, value: { kind: "begin" } } },
      { jsonrpc: "2.0", method: "$/progress", params: { token: "t", value: { kind: "later" } } },
      { jsonrpc: "2.0", method: "$/progress" },
    ];
    for (const message of ignored) assert.equal(statusEventOf(message), undefined, JSON.stringify(message));
  });

  it("passes every message on, in order, even when the listener throws", () => {
    const events: StatusEvent[] = [];
    let calls = 0;
    const tap = statusTap((event) => {
      events.push(event);
      calls += 1;
      if (calls === 1) throw new Error("listener bug");
    });
    const passed: RawMessage[] = [];
    const messages: RawMessage[] = [
      { jsonrpc: "2.0", method: "paramlens/status", params: { state: "starting", execution: true, isolation: [] } },
      { jsonrpc: "2.0", id: 3, result: null } as RawMessage,
      { jsonrpc: "2.0", method: "paramlens/status", params: { state: "ready", execution: true, isolation: [] } },
    ];
    for (const message of messages) tap.handleMessage(message, (m) => passed.push(m));
    assert.deepEqual(passed, messages);
    assert.equal(events.length, 2);
  });
});

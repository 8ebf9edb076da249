import * as assert from "node:assert/strict";
import {
  INITIAL_STATUS, parseStatusParams, present, reduceStatus, StatusEvent, StatusModel,
} from "../src/status";

const LAYERS = ["session", "resource-limits", "landlock-fs", "seccomp"];

function run(events: StatusEvent[], start: StatusModel = INITIAL_STATUS): StatusModel {
  return events.reduce(reduceStatus, start);
}

describe("status transitions", () => {
  it("goes starting → running (worker progress) → ready with the isolation layers", () => {
    const launching = run([{ type: "launching", interpreter: "/env/bin/python" }]);
    assert.equal(present(launching).display, "starting");
    assert.match(present(launching).text, /loading~spin.*ParamLens: starting/);

    const serverStarting = reduceStatus(launching,
      { type: "server-status", params: { state: "starting", execution: true, isolation: [] } });
    assert.equal(present(serverStarting).display, "starting");

    const busy = reduceStatus(serverStarting,
      { type: "progress-begin", token: "paramlens/worker-start", title: "ParamLens: starting the torch worker" });
    assert.equal(present(busy).display, "running");
    assert.match(present(busy).tooltip, /starting the torch worker/);
    const reported = reduceStatus(busy, { type: "progress-report", token: "paramlens/worker-start", message: "50%" });
    assert.match(present(reported).tooltip, /starting the torch worker \(50%\)/);

    const done = run([
      { type: "progress-end", token: "paramlens/worker-start" },
      { type: "server-status", params: { state: "ready", execution: true, isolation: LAYERS } },
    ], reported);
    const shown = present(done);
    assert.equal(shown.display, "ready");
    assert.equal(shown.text, "$(shield) ParamLens: ready · 4 isolation layers");
    assert.match(shown.tooltip, /session, resource-limits, landlock-fs, seccomp/);
    assert.match(shown.tooltip, /Python: \/env\/bin\/python/);
    assert.equal(shown.severity, "none");
  });

  it("shows execution disabled with the reason the client knows", () => {
    const model = run([
      { type: "launching", interpreter: "/p", executionOffReason: "Restricted Mode: not trusted" },
      { type: "server-status", params: { state: "disabled", execution: false, isolation: [] } },
    ]);
    const shown = present(model);
    assert.equal(shown.display, "execution disabled");
    assert.equal(shown.text, "$(circle-slash) ParamLens: execution disabled");
    assert.match(shown.tooltip, /Restricted Mode: not trusted/);
    assert.doesNotMatch(shown.tooltip, /sandbox/);
  });

  it("a ready server whose execution is off is shown as disabled too", () => {
    const model = run([{ type: "server-status", params: { state: "ready", execution: false, isolation: LAYERS } }]);
    assert.equal(present(model).display, "execution disabled");
  });

  it("warns when code runs without any isolation layer", () => {
    const shown = present(run([{ type: "server-status", params: { state: "ready", execution: true, isolation: [] } }]));
    assert.equal(shown.text, "$(shield) ParamLens: ready · weaker isolation");
    assert.equal(shown.severity, "warning");
    assert.match(shown.tooltip, /No isolation layer/);
  });

  it("shows errors from the server and from the client, and recovers on the next status", () => {
    const serverError = run([{ type: "server-status", params: { state: "error", execution: true, isolation: [] } }]);
    assert.equal(present(serverError).display, "error");
    assert.equal(present(serverError).severity, "error");
    const clientError = run([
      { type: "progress-begin", token: "t", title: "work" },
      { type: "failed", message: "The ParamLens server stopped" },
    ]);
    assert.equal(present(clientError).display, "error", "an error is not hidden by a pending progress");
    assert.deepEqual(clientError.progress, {});
    assert.match(present(clientError).tooltip, /server stopped/);
    const recovered = reduceStatus(clientError,
      { type: "server-status", params: { state: "ready", execution: true, isolation: LAYERS } });
    assert.equal(present(recovered).display, "ready");
    assert.equal(recovered.message, undefined);
  });

  it("shows an interpreter the bundled server cannot run in as a warning", () => {
    const shown = present(run([{ type: "unsupported", interpreter: "/usr/bin/python3", message: "Python 3.9" }]));
    assert.equal(shown.display, "unsupported Python");
    assert.equal(shown.severity, "warning");
    assert.match(shown.tooltip, /\/usr\/bin\/python3/);
  });

  it("ignores progress it never saw begin, and resets on stop", () => {
    const model = run([
      { type: "server-status", params: { state: "ready", execution: true, isolation: LAYERS } },
      { type: "progress-report", token: "unknown", message: "x" },
      { type: "progress-end", token: "unknown" },
    ]);
    assert.equal(present(model).display, "ready");
    const stopped = reduceStatus({ ...model, interpreter: "/p" }, { type: "stopped" });
    assert.equal(present(stopped).display, "stopped");
    assert.equal(stopped.interpreter, "/p");
  });
});

describe("paramlens/status payloads", () => {
  it("accepts the server's shape and drops non-string layers", () => {
    assert.deepEqual(parseStatusParams({ state: "ready", execution: true, isolation: ["seccomp", 3, null] }),
      { state: "ready", execution: true, isolation: ["seccomp"] });
    assert.deepEqual(parseStatusParams({ state: "disabled", execution: false }),
      { state: "disabled", execution: false, isolation: [] });
  });

  it("rejects anything else", () => {
    for (const raw of [null, "ready", 3, {}, { state: "running" }, { state: 1 }]) {
      assert.equal(parseStatusParams(raw), undefined, JSON.stringify(raw));
    }
  });
});

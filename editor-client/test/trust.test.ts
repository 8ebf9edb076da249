import * as assert from "node:assert/strict";
import { serverSettings } from "../src/settings";
import { executionAllowed, executionOffReason } from "../src/trust";
import { MemoryConfig } from "./fakes";

describe("workspace trust", () => {
  it("never allows execution in Restricted Mode, whatever the setting says", () => {
    assert.equal(executionAllowed(false, true), false);
    assert.equal(executionAllowed(false, false), false);
    assert.equal(executionAllowed(true, true), true);
    assert.equal(executionAllowed(true, false), false);
  });

  it("turns execution off in the settings sent to the server when untrusted", () => {
    const config = new MemoryConfig({ execution: true, timeout: 5 });
    assert.equal(serverSettings(config, { trusted: false }).execution, false);
    assert.equal(serverSettings(config, { trusted: false }).timeout, 5, "other settings still apply");
    assert.equal(serverSettings(config, { trusted: true }).execution, true);
  });

  it("says why execution is off", () => {
    assert.match(executionOffReason(false, true) ?? "", /Restricted Mode/);
    assert.match(executionOffReason(true, false) ?? "", /paramlens\.execution/);
    assert.equal(executionOffReason(true, true), undefined);
  });
});

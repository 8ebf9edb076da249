import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { SETTING_KEYS, serverSettings } from "../src/settings";
import { MemoryConfig } from "./fakes";
import { clientRoot } from "./helpers";

const manifest = JSON.parse(fs.readFileSync(path.join(clientRoot, "package.json"), "utf8"));
const properties: Record<string, { default: unknown; markdownDescription?: string; description?: string }> =
  manifest.contributes.configuration.properties;

describe("settings mapping", () => {
  it("sends only what the user set, as written (the server checks it), plus execution and the interpreter", () => {
    const settings = serverSettings(new MemoryConfig({ timeout: 12.5, memoryMb: "4096", loopSeconds: 0.5,
      "inlayHints.parameters": false }), { trusted: true, interpreter: "/env/bin/python" });
    assert.deepEqual(settings, { execution: true, timeout: 12.5, memoryMb: "4096", loopSeconds: 0.5,
      inlayHints: { parameters: false }, interpreter: "/env/bin/python" });
  });

  it("sends nothing for settings left at their defaults, so [tool.paramlens] and the server's defaults apply", () => {
    assert.deepEqual(serverSettings(new MemoryConfig(), { trusted: true }), { execution: true });
  });

  it("never sends the workspace's own interpreter setting, only the interpreter the server runs in", () => {
    const settings = serverSettings(new MemoryConfig({ interpreter: "./evil/python" }), { trusted: true });
    assert.equal("interpreter" in settings, false);
  });

  it("turns execution off in Restricted Mode and without torch, whatever the setting says", () => {
    const config = new MemoryConfig({ execution: true });
    assert.equal(serverSettings(config, { trusted: false }).execution, false);
    assert.equal(serverSettings(config, { trusted: true, noTorch: true }).execution, false);
    assert.equal(serverSettings(new MemoryConfig({ execution: false }), { trusted: true }).execution, false);
  });
});

describe("package.json contributions", () => {
  it("contributes exactly the server's settings, each with a description", () => {
    assert.deepEqual(Object.keys(properties).sort(), SETTING_KEYS.map((key) => `paramlens.${key}`).sort());
    for (const [key, spec] of Object.entries(properties)) {
      const text = spec.markdownDescription ?? spec.description ?? "";
      assert.ok(text.length > 20, `${key} has no real description`);
    }
  });

  it("declares limited support for untrusted workspaces, with the interpreter restricted", () => {
    const trust = manifest.capabilities.untrustedWorkspaces;
    assert.equal(trust.supported, "limited");
    assert.deepEqual(trust.restrictedConfigurations, ["paramlens.interpreter"]);
    assert.match(trust.description, /static analysis only/);
  });

  it("contributes the two commands and bundles to the main file", () => {
    const commands = manifest.contributes.commands.map((c: { command: string; title: string; category: string }) =>
      `${c.category}: ${c.title} (${c.command})`);
    assert.deepEqual(commands, [
      "ParamLens: Restart Server (paramlens.restartServer)",
      "ParamLens: Show Output (paramlens.showOutput)",
    ]);
    assert.equal(manifest.main, "./dist/extension.js");
    assert.ok(manifest.repository && fs.existsSync(path.join(clientRoot, "LICENSE")), "vsce would prompt");
  });
});

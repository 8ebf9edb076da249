import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { SETTING_KEYS, serverSettings } from "../src/settings";
import { MemoryConfig } from "./fakes";
import { clientRoot } from "./helpers";

const manifest = JSON.parse(fs.readFileSync(path.join(clientRoot, "package.json"), "utf8"));
const properties: Record<string, { default: unknown; markdownDescription?: string; description?: string }> =
  manifest.contributes.configuration.properties;

/** The defaults of paramlens/server/settings.py (ServerSettings), as documented in docs/editors.md. */
const SERVER_DEFAULTS = { execution: true, timeout: 30, memoryMb: 4096, paramBudget: 50_000_000, debounceMs: 300 };

describe("settings mapping", () => {
  it("sends the server its documented keys with VS Code's defaults", () => {
    const config = new MemoryConfig(Object.fromEntries(
      Object.entries(properties).map(([key, spec]) => [key.replace(/^paramlens\./, ""), spec.default])));
    const settings = serverSettings(config, { trusted: true, interpreter: "/env/bin/python" });
    assert.deepEqual(settings, {
      ...SERVER_DEFAULTS,
      interpreter: "/env/bin/python",
      inlayHints: { parameters: true, forwardShapes: true, sharedLayers: true },
    });
  });

  it("passes every user value through", () => {
    const config = new MemoryConfig({
      execution: true, timeout: 12.5, memoryMb: 2048, paramBudget: 1000, debounceMs: 0, locale: "zh-CN",
      "inlayHints.parameters": false, "inlayHints.forwardShapes": true, "inlayHints.sharedLayers": false,
    });
    assert.deepEqual(serverSettings(config, { trusted: true }), {
      execution: true, timeout: 12.5, memoryMb: 2048, paramBudget: 1000, debounceMs: 0, locale: "zh-CN",
      inlayHints: { parameters: false, forwardShapes: true, sharedLayers: false },
    });
  });

  it("leaves out values of the wrong type or range so the server keeps its defaults", () => {
    const config = new MemoryConfig({
      execution: "yes", timeout: -1, memoryMb: "4096", paramBudget: 0, debounceMs: -5, locale: "  ",
      "inlayHints.parameters": "no",
    });
    assert.deepEqual(serverSettings(config, { trusted: true }), {
      execution: true, inlayHints: { parameters: true, forwardShapes: true, sharedLayers: true },
    });
  });

  it("rounds integer settings", () => {
    const settings = serverSettings(new MemoryConfig({ memoryMb: 1000.6, debounceMs: 99.4 }), { trusted: true });
    assert.equal(settings.memoryMb, 1001);
    assert.equal(settings.debounceMs, 99);
  });

  it("an empty locale means the client's locale: the key is not sent", () => {
    assert.equal("locale" in serverSettings(new MemoryConfig({ locale: "" }), { trusted: true }), false);
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

  it("has the server's defaults", () => {
    for (const [key, value] of Object.entries(SERVER_DEFAULTS)) {
      assert.equal(properties[`paramlens.${key}`].default, value, key);
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

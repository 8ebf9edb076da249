import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { checkEnvironment, launcher, serverCommand, torchInstallCommand } from "../src/environment";
import { findOnPath } from "../src/interpreter";
import { clientRoot, repositoryPython, tempDir } from "./helpers";

describe("environment check (real processes, the real bundled/serve.py)", () => {
  const python3 = findOnPath("python3", process.env.PATH);

  it("finds torch in the repository's environment, and the server runs there", async function () {
    const python = repositoryPython();
    if (!python) this.skip(); // no .venv: scripts/setup.sh was not run
    const check = await checkEnvironment(python!, clientRoot);
    assert.equal(check.serverRuns, true, check.detail);
    assert.match(check.version ?? "", /^3\.\d+\.\d+$/);
    assert.match(check.torch ?? "", /^\d+\.\d+/);
  });

  it("reports an interpreter with no torch without importing anything of the workspace", async function () {
    if (!python3) this.skip();
    const extension = tempDir();
    fs.mkdirSync(path.join(extension, "bundled"));
    fs.copyFileSync(launcher(clientRoot), launcher(extension));
    const check = await checkEnvironment(python3!, extension);
    assert.equal(check.torch, undefined);
    assert.match(check.version ?? "", /^3\./);
  });

  it("reports an interpreter that cannot be started", async () => {
    const check = await checkEnvironment(path.join(tempDir(), "no-python"), clientRoot);
    assert.equal(check.serverRuns, false);
    assert.match(check.detail ?? "", /ENOENT/);
  });

  it("serves with the bundled launcher in the chosen interpreter", () => {
    assert.deepEqual(serverCommand("/env/bin/python", "/ext"),
      { command: "/env/bin/python", args: [path.join("/ext", "bundled", "serve.py"), "serve"] });
  });

  it("quotes an interpreter path with spaces in the torch command", () => {
    assert.equal(torchInstallCommand("/my envs/bin/python"),
      "\"/my envs/bin/python\" -m pip install torch --index-url https://download.pytorch.org/whl/cpu");
  });
});

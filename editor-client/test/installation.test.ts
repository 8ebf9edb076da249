import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { checkInstalled, installCommand, runProcess, serverCommand } from "../src/installation";
import { findOnPath } from "../src/interpreter";
import { repositoryPython, tempDir } from "./helpers";

describe("installation check (real processes)", () => {
  const python3 = findOnPath("python3", process.env.PATH);

  it("finds ParamLens in the repository's environment", function () {
    const python = repositoryPython();
    if (!python) this.skip(); // no .venv: scripts/setup.sh was not run
    return checkInstalled(python!, tempDir()).then((check) => {
      assert.equal(check.installed, true);
      assert.match(check.version ?? "", /^\d+\.\d+/);
    });
  });

  it("reports the import error of an interpreter without ParamLens", async function () {
    if (!python3) this.skip();
    const isolated = tempDir();
    const check = await checkInstalled(python3!, isolated, (command, args, cwd, timeout) =>
      runProcess(command, ["-I", ...args], cwd, timeout)); // -I: ignore any user site that might have it
    assert.equal(check.installed, false);
    assert.match(check.detail ?? "", /No module named 'paramlens'/);
  });

  it("imports from the working directory it is given, which is why the extension never uses the workspace",
    async function () {
      if (!python3) this.skip();
      const workspace = tempDir();
      fs.mkdirSync(path.join(workspace, "paramlens"));
      fs.writeFileSync(path.join(workspace, "paramlens", "__init__.py"), "__version__ = 'from-the-workspace'\n");
      const check = await checkInstalled(python3!, workspace);
      assert.equal(check.version, "from-the-workspace");
    });

  it("reports an interpreter that cannot be started", async () => {
    const check = await checkInstalled(path.join(tempDir(), "no-python"), tempDir());
    assert.equal(check.installed, false);
    assert.match(check.detail ?? "", /ENOENT/);
  });

  it("installs and serves with the same interpreter", () => {
    assert.deepEqual(installCommand("/env/bin/python"),
      { command: "/env/bin/python", args: ["-m", "pip", "install", "--upgrade", "paramlens"] });
    assert.deepEqual(serverCommand("/env/bin/python"), { command: "/env/bin/python", args: ["-m", "paramlens", "serve"] });
  });
});

import * as assert from "node:assert/strict";
import * as path from "node:path";
import {
  expandInterpreterSetting, findOnPath, InterpreterNotFound, resolveInterpreter,
} from "../src/interpreter";
import { executable, plainFile, tempDir } from "./helpers";

describe("interpreter resolution", () => {
  const noExtension = async (): Promise<string | undefined> => undefined;

  it("takes the paramlens.interpreter setting first", async () => {
    const dir = tempDir();
    const configured = executable(dir, "env/bin/python");
    const fromExtension = executable(dir, "other/bin/python");
    const onPath = executable(dir, "bin/python3");
    const found = await resolveInterpreter({
      configured, pythonExtension: async () => fromExtension, searchPath: path.dirname(onPath),
    });
    assert.deepEqual(found, { path: configured, source: "setting" });
  });

  it("expands ${workspaceFolder}, ~ and workspace-relative paths in the setting", async () => {
    const workspace = tempDir();
    const home = tempDir();
    const inWorkspace = executable(workspace, ".venv/bin/python");
    const inHome = executable(home, "envs/torch/bin/python");
    assert.equal((await resolveInterpreter({ configured: "${workspaceFolder}/.venv/bin/python",
      workspaceFolder: workspace, pythonExtension: noExtension, home })).path, inWorkspace);
    assert.equal((await resolveInterpreter({ configured: ".venv/bin/python", workspaceFolder: workspace,
      pythonExtension: noExtension, home })).path, inWorkspace);
    assert.equal((await resolveInterpreter({ configured: "~/envs/torch/bin/python", pythonExtension: noExtension,
      home })).path, inHome);
    assert.equal(expandInterpreterSetting("${userHome}/x/python", undefined, "/home/u"), "/home/u/x/python");
  });

  it("finds a bare command name in the setting on PATH", async () => {
    const dir = tempDir();
    const python = executable(dir, "python3.11");
    const found = await resolveInterpreter({ configured: "python3.11", pythonExtension: noExtension, searchPath: dir });
    assert.deepEqual(found, { path: python, source: "setting" });
  });

  it("rejects a setting that is not an executable file instead of falling back silently", async () => {
    const dir = tempDir();
    const notExecutable = plainFile(dir, "python");
    for (const configured of [notExecutable, path.join(dir, "missing"), dir]) {
      await assert.rejects(resolveInterpreter({ configured, pythonExtension: async () => notExecutable,
        searchPath: dir }), (error: Error) => error instanceof InterpreterNotFound && error.message.includes(configured));
    }
  });

  it("uses the Python extension's active environment when the setting is empty", async () => {
    const dir = tempDir();
    const fromExtension = executable(dir, "conda/bin/python");
    const onPath = executable(dir, "bin/python3");
    const found = await resolveInterpreter({ configured: "  ", pythonExtension: async () => fromExtension,
      searchPath: path.dirname(onPath) });
    assert.deepEqual(found, { path: fromExtension, source: "python-extension" });
  });

  it("falls back to python3 on PATH when the Python extension is absent, fails or points nowhere", async () => {
    const dir = tempDir();
    const first = tempDir();
    plainFile(first, "python3"); // not executable: skipped like `command -v` does
    const onPath = executable(dir, "python3");
    const searchPath = [first, "", dir].join(path.delimiter);
    for (const pythonExtension of [noExtension, async () => { throw new Error("activation failed"); },
      async () => path.join(dir, "gone/python")]) {
      assert.deepEqual(await resolveInterpreter({ pythonExtension, searchPath }), { path: onPath, source: "path" });
    }
  });

  it("says what to do when there is no Python at all", async () => {
    await assert.rejects(resolveInterpreter({ pythonExtension: noExtension, searchPath: tempDir() }),
      /set paramlens\.interpreter/);
  });

  it("findOnPath follows PATH order", () => {
    const a = tempDir();
    const b = tempDir();
    executable(b, "python3");
    const inA = executable(a, "python3");
    assert.equal(findOnPath("python3", [a, b].join(path.delimiter)), inA);
    assert.equal(findOnPath("python3", undefined), undefined);
  });
});

/**
 * The real ParamLens server (the repository's .venv) over stdio, with the extension's own pieces on the client
 * side: the settings mapping for `initializationOptions` and `workspace/configuration`, the status tap and the
 * status reducer. Checks the transitions a user sees in the status bar, trusted and in Restricted Mode.
 */
import * as assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import {
  createMessageConnection, MessageConnection, StreamMessageReader, StreamMessageWriter,
} from "vscode-jsonrpc/node";
import { serverCommand } from "../src/environment";
import { serverSettings } from "../src/settings";
import { INITIAL_STATUS, present, reduceStatus, StatusModel } from "../src/status";
import { statusTap } from "../src/statusTap";
import { MemoryConfig } from "./fakes";
import { clientRoot, repositoryPython, tempDir } from "./helpers";

interface Session {
  connection: MessageConnection;
  process: ChildProcess;
  displays: string[];
  model: () => StatusModel;
  configurationAnswers: unknown[];
}

function startServer(python: string, trusted: boolean): Session {
  const { command, args } = serverCommand(python, clientRoot);
  const child = spawn(command, args, { cwd: tempDir(), stdio: ["pipe", "pipe", "pipe"] });
  let model = INITIAL_STATUS;
  const displays: string[] = [];
  const connection = createMessageConnection(new StreamMessageReader(child.stdout!),
    new StreamMessageWriter(child.stdin!), undefined, {
      messageStrategy: statusTap((event) => {
        model = reduceStatus(model, event);
        const display = present(model).display;
        if (displays[displays.length - 1] !== display) displays.push(display);
      }),
    });
  const config = new MemoryConfig({ execution: true, timeout: 20 });
  const configurationAnswers: unknown[] = [];
  connection.onRequest("workspace/configuration", (params: { items: { section?: string }[] }) => {
    const answer = params.items.map((item) => (item.section === "paramlens"
      ? serverSettings(config, { trusted, interpreter: python }) : null));
    configurationAnswers.push(...answer);
    return answer;
  });
  connection.onRequest("window/workDoneProgress/create", () => null);
  connection.onRequest("client/registerCapability", () => null);
  connection.onNotification("window/logMessage", () => undefined);
  connection.listen();
  return { connection, process: child, displays, model: () => model, configurationAnswers };
}

async function initialize(session: Session, python: string, trusted: boolean): Promise<void> {
  await session.connection.sendRequest("initialize", {
    processId: process.pid, rootUri: null, locale: "en",
    capabilities: { window: { workDoneProgress: true }, workspace: { configuration: true } },
    initializationOptions: serverSettings(new MemoryConfig({ execution: true }), { trusted, interpreter: python }),
  });
  await session.connection.sendNotification("initialized", {});
}

async function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function shutdown(session: Session): Promise<void> {
  try {
    await session.connection.sendRequest("shutdown");
    await session.connection.sendNotification("exit");
  } catch {
    // the server may already be gone
  }
  session.connection.dispose();
  if (session.process.exitCode === null) {
    await new Promise((resolve) => {
      const timer = setTimeout(() => { session.process.kill("SIGKILL"); resolve(undefined); }, 5000);
      session.process.once("exit", () => { clearTimeout(timer); resolve(undefined); });
    });
  }
}

describe("status bar against the real server", function () {
  this.timeout(90_000);
  const python = repositoryPython();

  before(function () {
    if (!python) this.skip(); // no .venv: run scripts/setup.sh
  });

  it("trusted: starting → running (torch worker) → ready with isolation layers", async () => {
    const session = startServer(python!, true);
    try {
      await initialize(session, python!, true);
      await until(() => session.model().phase === "ready", 60_000, "ready");
      // the server ends its progress just before it reports ready, hence the second "starting"
      assert.deepEqual(session.displays, ["starting", "running", "starting", "ready"]);
      const model = session.model();
      assert.equal(model.execution, true);
      assert.ok(model.isolation.length > 0, "a Linux server reports its isolation layers");
      assert.match(present(model).text, /ParamLens: ready · \d+ isolation layers?/);
      assert.deepEqual(session.configurationAnswers.map((a) => (a as { execution: boolean }).execution), [true]);
    } finally {
      await shutdown(session);
    }
  });

  it("Restricted Mode: the server is told execution is off and reports disabled", async () => {
    const session = startServer(python!, false);
    try {
      await initialize(session, python!, false);
      await until(() => session.model().phase === "disabled", 60_000, "disabled");
      assert.deepEqual(session.displays, ["starting", "execution disabled"]);
      assert.equal(session.model().execution, false);
      assert.deepEqual(session.configurationAnswers.map((a) => (a as { execution: boolean }).execution), [false]);
    } finally {
      await shutdown(session);
    }
  });
});

import * as assert from "node:assert/strict";
import * as path from "node:path";
import { ServerController } from "../src/controller";
import { executable, tempDir } from "./helpers";
import { FakeHost, FakeRunner, FakeServers } from "./fakes";

/** Lets queued promise continuations (the controller's restart queue, the install offer) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

function setUp() {
  const dir = tempDir();
  const python = executable(dir, "venv/bin/python");
  const host = new FakeHost();
  host.config.values.interpreter = python;
  const servers = new FakeServers();
  const runner = new FakeRunner();
  runner.pythons.set(python, { version: "3.11.7", torch: "2.13.0" });
  const controller = new ServerController(host, servers.factory, runner.run);
  return { dir, python, host, servers, runner, controller };
}

describe("server controller", () => {
  it("starts the bundled server (`python bundled/serve.py serve`) in the extension's directory", async () => {
    const { python, host, servers, runner, controller } = setUp();
    host.config.values.timeout = 10;
    await controller.restart("test");
    assert.equal(servers.made.length, 1);
    const launch = servers.last.launch;
    assert.equal(launch.command, python);
    assert.deepEqual(launch.args, [path.join(host.safeDirectory, "bundled", "serve.py"), "serve"]);
    assert.equal(launch.cwd, host.safeDirectory);
    assert.equal(launch.initializationOptions.execution, true);
    assert.equal(launch.initializationOptions.timeout, 10);
    assert.equal(launch.initializationOptions.interpreter, python);
    assert.ok(servers.last.started);
    assert.deepEqual(runner.calls.map((call) => call.cwd), [host.safeDirectory], "the environment check too");
    assert.equal(host.lastStatus.display, "starting");
  });

  it("answers configuration requests with the current settings", async () => {
    const { host, servers, controller } = setUp();
    await controller.restart("test");
    host.config.values.debounceMs = 50;
    assert.equal(servers.last.launch.settings().debounceMs, 50);
  });

  it("feeds the server's status events to the status bar", async () => {
    const { host, servers, controller } = setUp();
    await controller.restart("test");
    servers.last.launch.onStatusEvent({ type: "progress-begin", token: "w", title: "starting the torch worker" });
    assert.equal(host.lastStatus.display, "running");
    servers.last.launch.onStatusEvent({ type: "progress-end", token: "w" });
    servers.last.launch.onStatusEvent({ type: "server-status",
      params: { state: "ready", execution: true, isolation: ["seccomp", "landlock-fs"] } });
    assert.equal(host.lastStatus.text, "$(shield) ParamLens: ready · 2 isolation layers");
  });

  it("ignores events from a server that was replaced", async () => {
    const { host, servers, controller } = setUp();
    await controller.restart("first");
    const old = servers.last;
    await controller.restart("second");
    old.launch.onStatusEvent({ type: "failed", message: "old server died" });
    assert.notEqual(host.lastStatus.display, "error");
  });

  describe("workspace trust", () => {
    it("starts with execution off in Restricted Mode, in init options and configuration answers", async () => {
      const { host, servers, controller } = setUp();
      host.trusted = false;
      host.config.values.execution = true;
      await controller.restart("test");
      assert.equal(servers.last.launch.initializationOptions.execution, false);
      assert.equal(servers.last.launch.settings().execution, false);
      assert.ok(host.lines.some((line) => line.includes("Restricted Mode")));
      servers.last.launch.onStatusEvent({ type: "server-status", params: { state: "disabled", execution: false,
        isolation: [] } });
      assert.match(host.lastStatus.tooltip, /Restricted Mode/);
    });

    it("restarts with execution on when trust is granted", async () => {
      const { host, servers, controller } = setUp();
      host.trusted = false;
      await controller.restart("test");
      const restricted = servers.last;
      host.trusted = true;
      await controller.trustGranted();
      assert.equal(servers.made.length, 2);
      assert.ok(restricted.stopped, "the restricted server is stopped");
      assert.equal(servers.last.launch.initializationOptions.execution, true);
      assert.deepEqual(servers.running, [servers.last]);
    });
  });

  describe("restarts", () => {
    it("shares a restart that has not begun yet", async () => {
      const { servers, controller } = setUp();
      await Promise.all([controller.restart("activated"), controller.settingsChanged(true),
        controller.settingsChanged(true)]);
      assert.equal(servers.made.length, 1);
    });

    it("queues a burst of setting changes during a start as one restart after it", async () => {
      const { servers, controller } = setUp();
      let open = (): void => undefined;
      servers.gate = new Promise((resolve) => { open = resolve; });
      const first = controller.restart("activated");
      await settle();
      assert.equal(servers.made.length, 1, "the first start is under way");
      const changes = [controller.settingsChanged(true), controller.settingsChanged(true),
        controller.settingsChanged(true)];
      servers.gate = undefined;
      open();
      await Promise.all([first, ...changes]);
      assert.equal(servers.made.length, 2);
      assert.deepEqual(servers.running, [servers.last]);
    });

    it("follows the Python extension only when the interpreter came from it", async () => {
      const { dir, host, servers, controller } = setUp();
      await controller.restart("test");
      await controller.pythonEnvironmentChanged();
      assert.equal(servers.made.length, 1, "the setting wins: nothing to do");

      const other = executable(dir, "conda/bin/python");
      host.config.values.interpreter = "";
      host.pythonEnvironment = other;
      const runner = new FakeRunner();
      runner.pythons.set(other, { version: "3.12.1", torch: "2.13.0" });
      const fresh = new ServerController(host, servers.factory, runner.run);
      await fresh.restart("test");
      assert.equal(fresh.currentInterpreter?.source, "python-extension");
      const third = executable(dir, "conda2/bin/python");
      runner.pythons.set(third, { version: "3.12.1", torch: "2.13.0" });
      host.pythonEnvironment = third;
      await fresh.pythonEnvironmentChanged();
      assert.equal(servers.last.launch.command, third);
    });

    it("stops the server on deactivation and starts nothing afterwards", async () => {
      const { servers, controller } = setUp();
      await controller.restart("test");
      await controller.stop();
      assert.ok(servers.last.stopped);
      await controller.restart("late event");
      assert.equal(servers.made.length, 1);
    });
  });

  describe("failures", () => {
    it("reports a missing interpreter", async () => {
      const { host, servers, controller } = setUp();
      host.config.values.interpreter = "/nonexistent/python";
      await controller.restart("test");
      assert.equal(servers.made.length, 0);
      assert.equal(host.lastStatus.display, "error");
      assert.match(host.errors[0], /\/nonexistent\/python/);
    });

    it("reports a server that does not start", async () => {
      const { host, servers, controller } = setUp();
      servers.failNext = new Error("spawn EACCES");
      await controller.restart("test");
      assert.equal(host.lastStatus.display, "error");
      assert.match(host.lastStatus.tooltip, /spawn EACCES/);
    });
  });

  describe("settings that apply live", () => {
    it("sends a changed setting to the running server instead of restarting it", async () => {
      const { host, servers, controller } = setUp();
      await controller.restart("test");
      host.config.values.locale = "zh-CN";
      host.config.values["inlayHints.forwardShapes"] = false;
      await controller.settingsChanged(false);
      assert.equal(servers.made.length, 1, "no new server");
      assert.equal(servers.last.settingsSent, 1);
      const answer = servers.last.launch.settings();
      assert.equal(answer.locale, "zh-CN");
      assert.deepEqual(answer.inlayHints, { forwardShapes: false });
    });

    it("restarts for a new interpreter", async () => {
      const { dir, host, servers, runner, controller } = setUp();
      await controller.restart("test");
      const other = executable(dir, "other/bin/python");
      runner.pythons.set(other, { version: "3.12.1", torch: "2.13.0" });
      host.config.values.interpreter = other;
      await controller.settingsChanged(true);
      assert.equal(servers.made.length, 2);
      assert.equal(servers.last.launch.command, other);
      assert.deepEqual(servers.running, [servers.last]);
    });
  });

  describe("the interpreter has no torch", () => {
    function noTorch() {
      const setup = setUp();
      setup.runner.pythons.set(setup.python, { version: "3.11.7" });
      return setup;
    }

    it("starts the server with execution off and says so, with the CPU install command", async () => {
      const { python, host, servers, controller } = noTorch();
      await controller.restart("test");
      await settle();
      assert.equal(servers.made.length, 1, "static analysis still works");
      assert.equal(servers.last.launch.initializationOptions.execution, false);
      assert.equal(servers.last.launch.settings().execution, false);
      assert.equal(host.questions.length, 1);
      assert.ok(host.questions[0].includes(`PyTorch is not installed in ${python}`));
      assert.ok(host.questions[0].includes(`${python} -m pip install torch --index-url https://download.pytorch.org/whl/cpu`));
      servers.last.launch.onStatusEvent({ type: "server-status", params: { state: "disabled", execution: false,
        isolation: [] } });
      assert.match(host.lastStatus.tooltip, /PyTorch is not installed/);
    });

    it("copies the command when asked, and never runs it", async () => {
      const { python, host, runner, controller } = noTorch();
      host.answer = "copy";
      await controller.restart("test");
      await settle();
      assert.deepEqual(host.clipboard, [`${python} -m pip install torch --index-url https://download.pytorch.org/whl/cpu`]);
      assert.ok(runner.calls.every((call) => call.args[call.args.length - 1] === "check"), "only the check ran");
    });

    it("says it in Chinese when VS Code's language is Chinese", async () => {
      const { host, controller } = noTorch();
      host.language = "zh-cn";
      await controller.restart("test");
      await settle();
      assert.match(host.questions[0], /没有安装 PyTorch/);
    });
  });

  describe("an interpreter the bundled server cannot run in", () => {
    it("names the Python versions the bundle serves and starts nothing", async () => {
      const { python, host, servers, runner, controller } = setUp();
      runner.pythons.set(python, { version: "3.9.18", server: "ImportError: libcst.native" });
      await controller.restart("test");
      assert.equal(servers.made.length, 0);
      assert.equal(host.lastStatus.display, "unsupported Python");
      assert.match(host.errors[0], /runs on Python 3\.10, 3\.11.*is Python 3\.9\.18/);
    });
  });
});

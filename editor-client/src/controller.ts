/**
 * Owns the server's life cycle: which interpreter, whether ParamLens is installed there, what the server is told
 * (settings, trust), when it restarts (command, setting change, trust granted, new Python environment) and the
 * status bar. Restarts are serialised and coalesced so a burst of setting changes starts one server, never two.
 */
import type { Host, ServerFactory, ServerHandle } from "./host";
import { checkInstalled, installCommand, runProcess, Runner, serverCommand } from "./installation";
import { describeSource, Interpreter, InterpreterNotFound, resolveInterpreter } from "./interpreter";
import { serverSettings } from "./settings";
import { INITIAL_STATUS, present, reduceStatus, StatusEvent, StatusModel } from "./status";
import { executionOffReason } from "./trust";

const INSTALL_TIMEOUT_MS = 15 * 60_000;

export class ServerController {
  private server: ServerHandle | undefined;
  private interpreter: Interpreter | undefined;
  private model: StatusModel = INITIAL_STATUS;
  private queue: Promise<void> = Promise.resolve();
  private pending: Promise<void> | undefined;
  private disposed = false;
  /** Bumped at every launch, so that events of a server that was replaced are ignored. */
  private generation = 0;

  constructor(private readonly host: Host, private readonly factory: ServerFactory,
    private readonly run: Runner = runProcess) {
    this.host.showStatus(present(this.model));
  }

  get status(): StatusModel {
    return this.model;
  }

  get currentInterpreter(): Interpreter | undefined {
    return this.interpreter;
  }

  /** (Re)starts the server; calls made while a restart is waiting to begin share it. */
  restart(reason: string): Promise<void> {
    if (this.pending) return this.pending;
    const pending = this.queue.then(async () => {
      this.pending = undefined;
      if (this.disposed) return;
      this.host.log(`[client] ${reason}: (re)starting the server`);
      await this.launch();
    });
    this.pending = pending;
    this.queue = pending.catch(() => undefined);
    return pending;
  }

  /** A `paramlens.*` setting changed: every one of them is read at start, so restart. */
  settingsChanged(): Promise<void> {
    return this.restart("settings changed");
  }

  /** `workspace.onDidGrantWorkspaceTrust`: the server was started with execution off; start it again with it on. */
  trustGranted(): Promise<void> {
    return this.restart("workspace trusted, execution allowed");
  }

  /** The Python extension selected another environment: matters only when it is where the interpreter came from. */
  pythonEnvironmentChanged(): Promise<void> {
    if (this.interpreter && this.interpreter.source === "setting") return Promise.resolve();
    return this.restart("the Python extension's active environment changed");
  }

  async stop(): Promise<void> {
    this.disposed = true;
    await this.queue;
    await this.stopServer();
  }

  private dispatch(event: StatusEvent): void {
    this.model = reduceStatus(this.model, event);
    this.host.showStatus(present(this.model));
  }

  private async stopServer(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.generation += 1;
    if (server) {
      try {
        await server.stop();
      } catch (error) {
        this.host.log(`[client] stopping the server failed: ${String(error)}`);
      }
      this.dispatch({ type: "stopped" });
    }
  }

  private async launch(): Promise<void> {
    await this.stopServer();
    let interpreter: Interpreter;
    try {
      interpreter = await resolveInterpreter({
        configured: this.host.configuration().get<string>("interpreter"),
        workspaceFolder: this.host.workspaceFolder(),
        pythonExtension: () => this.host.activePythonEnvironment(),
        searchPath: this.host.searchPath(),
      });
    } catch (error) {
      const message = error instanceof InterpreterNotFound ? error.message : `Cannot find Python: ${String(error)}`;
      this.interpreter = undefined;
      this.host.log(`[client] ${message}`);
      this.dispatch({ type: "failed", message });
      this.host.showError(`ParamLens: ${message}`);
      return;
    }
    this.interpreter = interpreter;
    this.host.log(`[client] Python: ${interpreter.path} (from ${describeSource(interpreter.source)})`);

    const check = await checkInstalled(interpreter.path, this.host.safeDirectory, this.run);
    if (!check.installed) {
      const message = `ParamLens is not installed in ${interpreter.path} (${check.detail ?? "import failed"}).`;
      this.host.log(`[client] ${message}`);
      this.dispatch({ type: "not-installed", interpreter: interpreter.path, message });
      void this.offerInstall(interpreter);
      return;
    }
    this.host.log(`[client] paramlens ${check.version ?? "(unknown version)"} found`);

    const trusted = this.host.isTrusted();
    const settings = () => serverSettings(this.host.configuration(),
      { trusted: this.host.isTrusted(), interpreter: interpreter.path });
    const initial = settings();
    const configuredExecution = this.host.configuration().get<boolean>("execution") !== false;
    if (!trusted) this.host.log("[client] Restricted Mode: the server runs with execution off (static analysis only)");
    this.dispatch({ type: "launching", interpreter: interpreter.path,
      executionOffReason: executionOffReason(trusted, configuredExecution) });

    const generation = ++this.generation;
    const { command, args } = serverCommand(interpreter.path);
    const server = this.factory({
      command, args, cwd: this.host.safeDirectory, initializationOptions: initial, settings,
      onStatusEvent: (event) => {
        if (generation === this.generation) this.dispatch(event);
      },
    });
    this.server = server;
    try {
      await server.start();
    } catch (error) {
      const message = `The ParamLens server did not start: ${error instanceof Error ? error.message : String(error)}`;
      this.host.log(`[client] ${message}`);
      if (generation === this.generation) this.dispatch({ type: "failed", message });
    }
  }

  /** Asks (never installs silently); on "Install", runs pip in that interpreter, then restarts. */
  private async offerInstall(interpreter: Interpreter): Promise<void> {
    const choice = await this.host.askToInstall(
      `ParamLens is not installed in ${interpreter.path} (from ${describeSource(interpreter.source)}). ` +
      "Install it there with pip?");
    if (choice === "output") {
      this.host.showOutput();
    } else if (choice === "settings") {
      this.host.openSettings();
    } else if (choice === "install") {
      await this.install(interpreter);
    }
  }

  private async install(interpreter: Interpreter): Promise<void> {
    const { command, args } = installCommand(interpreter.path);
    this.host.log(`[client] running: ${[command, ...args].join(" ")}`);
    const result = await this.host.withProgress(`Installing ParamLens into ${interpreter.path}`,
      () => this.run(command, args, this.host.safeDirectory, INSTALL_TIMEOUT_MS));
    for (const text of [result.stdout, result.stderr]) {
      if (text.trim()) this.host.log(text.trimEnd());
    }
    if (result.code === 0) {
      await this.restart("ParamLens installed");
    } else {
      this.host.showError(`ParamLens could not be installed into ${interpreter.path} ` +
        `(${result.error ?? `pip exited with ${result.code}`}); see the ParamLens output.`);
    }
  }
}

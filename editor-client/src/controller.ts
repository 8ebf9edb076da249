/**
 * Owns the server's life cycle: which interpreter, whether the bundled server runs there and whether it has torch,
 * what the server is told (settings, trust), when it restarts (command, a new interpreter, trust granted, new
 * Python environment) and the status bar. Every other setting change is applied live by the running server.
 * Restarts are serialised and coalesced so a burst of changes starts one server, never two.
 */
import { checkEnvironment, EnvironmentCheck, runProcess, Runner, serverCommand, torchInstallCommand } from "./environment";
import type { Host, ServerFactory, ServerHandle } from "./host";
import { languageOf, tr } from "./i18n";
import { describeSource, Interpreter, InterpreterNotFound, resolveInterpreter } from "./interpreter";
import { serverSettings } from "./settings";
import { INITIAL_STATUS, present, reduceStatus, StatusEvent, StatusModel } from "./status";
import { executionOffReason } from "./trust";

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

  /** A `paramlens.*` setting changed: a new interpreter needs a new server; anything else is sent to the
   * running one, which applies it live (its torch worker stays). */
  async settingsChanged(needsRestart: boolean): Promise<void> {
    if (needsRestart || this.server === undefined) {
      return this.restart("the interpreter setting changed");
    }
    await this.queue;
    try {
      await this.server?.settingsChanged();
    } catch (error) {
      this.host.log(`[client] could not send the settings to the server: ${String(error)}`);
    }
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

    const check = await checkEnvironment(interpreter.path, this.host.safeDirectory, this.run);
    const language = languageOf(this.host.displayLanguage());
    if (!check.serverRuns) {
      const message = unsupportedMessage(interpreter.path, check, language);
      this.host.log(`[client] ${message}`);
      this.dispatch({ type: "unsupported", interpreter: interpreter.path, message });
      this.host.showError(`ParamLens: ${message}`);
      return;
    }
    this.host.log(`[client] Python ${check.version ?? "?"}; torch ${check.torch ?? "not installed"}; ` +
      "server: the extension's bundled copy");
    const noTorch = check.torch === undefined;

    const trusted = this.host.isTrusted();
    const settings = () => serverSettings(this.host.configuration(),
      { trusted: this.host.isTrusted(), interpreter: interpreter.path, noTorch });
    const initial = settings();
    const configuredExecution = this.host.configuration().get<boolean>("execution") !== false;
    if (!trusted) this.host.log("[client] Restricted Mode: the server runs with execution off (static analysis only)");
    const offReason = noTorch ? noTorchMessage(interpreter.path, language)
      : executionOffReason(trusted, configuredExecution);
    this.dispatch({ type: "launching", interpreter: interpreter.path, executionOffReason: offReason });
    if (noTorch) {
      this.host.log(`[client] ${offReason}`);
      void this.offerTorch(interpreter, offReason ?? "");
    }

    const generation = ++this.generation;
    const { command, args } = serverCommand(interpreter.path, this.host.safeDirectory);
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

  /** Says that torch is missing, with the command that installs it (copied on request, never run). */
  private async offerTorch(interpreter: Interpreter, message: string): Promise<void> {
    const choice = await this.host.askAboutTorch(message);
    if (choice === "copy") {
      await this.host.copyToClipboard(torchInstallCommand(interpreter.path));
    } else if (choice === "output") {
      this.host.showOutput();
    } else if (choice === "settings") {
      this.host.openSettings();
    }
  }
}

/** Why the bundled server cannot run in this interpreter, in a sentence a user can act on. */
export function unsupportedMessage(python: string, check: EnvironmentCheck, language: "en" | "zh-CN"): string {
  const versions = check.served.join(", ");
  const detail = check.detail ? ` (${check.detail})` : "";
  if (check.version === undefined) {
    return tr(language, `${python} did not run${detail}. Choose another interpreter in paramlens.interpreter.`,
      `${python} 无法运行${detail}。请在 paramlens.interpreter 中选择其他解释器。`);
  }
  return tr(language,
    `ParamLens' server runs on Python ${versions || "3.10 or later"}; ${python} is Python ${check.version}${detail}. ` +
    "Choose another interpreter in paramlens.interpreter.",
    `ParamLens 的服务器支持 Python ${versions || "3.10 及以上"}；${python} 是 Python ${check.version}${detail}。` +
    "请在 paramlens.interpreter 中选择其他解释器。");
}

/** The interpreter has no torch: what that means and the command that installs the CPU build. */
export function noTorchMessage(python: string, language: "en" | "zh-CN"): string {
  const command = torchInstallCommand(python);
  return tr(language,
    `PyTorch is not installed in ${python}, so ParamLens shows static analysis only (no real values). ` +
    `Install the CPU build of torch there with: ${command}`,
    `${python} 中没有安装 PyTorch，因此 ParamLens 只显示静态分析结果（没有真实数值）。` +
    `可用以下命令在其中安装 CPU 版 torch：${command}`);
}

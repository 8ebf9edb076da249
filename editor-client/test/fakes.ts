/**
 * In-memory implementations of the `Host` and `ServerFactory` contracts (host.ts) for the controller's tests: they
 * record what the extension asked VS Code and the language client to do, so the tests check behaviour, not calls
 * into a mock library.
 */
import type { Host, InstallChoice, LaunchSpec, ServerFactory, ServerHandle } from "../src/host";
import type { ProcessResult, Runner } from "../src/installation";
import type { ConfigReader } from "../src/settings";
import type { Presentation } from "../src/status";

export class MemoryConfig implements ConfigReader {
  constructor(public values: Record<string, unknown> = {}) {}

  get<T>(key: string): T | undefined {
    return this.values[key] as T | undefined;
  }
}

export class FakeHost implements Host {
  readonly safeDirectory = "/opt/extension";
  trusted = true;
  config = new MemoryConfig();
  folder: string | undefined = "/work/project";
  pythonEnvironment: string | undefined;
  path: string | undefined;
  statuses: Presentation[] = [];
  lines: string[] = [];
  errors: string[] = [];
  questions: string[] = [];
  answer: InstallChoice = undefined;
  outputShown = 0;
  settingsOpened = 0;
  progressTitles: string[] = [];

  isTrusted(): boolean {
    return this.trusted;
  }

  configuration(): ConfigReader {
    return this.config;
  }

  workspaceFolder(): string | undefined {
    return this.folder;
  }

  async activePythonEnvironment(): Promise<string | undefined> {
    return this.pythonEnvironment;
  }

  searchPath(): string | undefined {
    return this.path;
  }

  showStatus(presentation: Presentation): void {
    this.statuses.push(presentation);
  }

  get lastStatus(): Presentation {
    return this.statuses[this.statuses.length - 1];
  }

  log(line: string): void {
    this.lines.push(line);
  }

  showOutput(): void {
    this.outputShown += 1;
  }

  async askToInstall(message: string): Promise<InstallChoice> {
    this.questions.push(message);
    return this.answer;
  }

  showError(message: string): void {
    this.errors.push(message);
  }

  openSettings(): void {
    this.settingsOpened += 1;
  }

  withProgress<T>(title: string, task: () => Promise<T>): Promise<T> {
    this.progressTitles.push(title);
    return task();
  }
}

export class FakeServer implements ServerHandle {
  started = false;
  stopped = false;

  constructor(readonly launch: LaunchSpec, private readonly failure?: Error,
    private readonly gate: Promise<void> = Promise.resolve()) {}

  async start(): Promise<void> {
    await this.gate;
    if (this.failure) throw this.failure;
    this.started = true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
  }
}

/** A server factory that keeps every server it made; `failNext` makes the next start reject. */
export class FakeServers {
  made: FakeServer[] = [];
  failNext: Error | undefined;
  /** While set, servers made wait for it before they count as started (a slow server start). */
  gate: Promise<void> | undefined;

  readonly factory: ServerFactory = (launch) => {
    const server = new FakeServer(launch, this.failNext, this.gate);
    this.failNext = undefined;
    this.made.push(server);
    return server;
  };

  get last(): FakeServer {
    return this.made[this.made.length - 1];
  }

  get running(): FakeServer[] {
    return this.made.filter((server) => server.started && !server.stopped);
  }
}

/** Records each process the controller runs; answers the import check and pip by the given rules. */
export class FakeRunner {
  calls: { command: string; args: string[]; cwd: string }[] = [];
  installed = new Set<string>();
  pipSucceeds = true;

  readonly run: Runner = async (command, args, cwd) => {
    this.calls.push({ command, args, cwd });
    if (args[0] === "-c") {
      return this.installed.has(command)
        ? result(0, "0.1.0", "")
        : result(1, "", "Traceback (most recent call last):\nModuleNotFoundError: No module named 'paramlens'\n");
    }
    if (args[0] === "-m" && args[1] === "pip") {
      if (this.pipSucceeds) this.installed.add(command);
      return this.pipSucceeds ? result(0, "Successfully installed paramlens-0.1.0\n", "")
        : result(1, "", "error: externally-managed-environment\n");
    }
    return result(127, "", `unexpected command ${command}`);
  };

  pipCalls(): { command: string; args: string[]; cwd: string }[] {
    return this.calls.filter((call) => call.args[1] === "pip");
  }
}

function result(code: number, stdout: string, stderr: string): ProcessResult {
  return { code, stdout, stderr, error: code === 0 ? undefined : `exit ${code}` };
}

/**
 * In-memory implementations of the `Host` and `ServerFactory` contracts (host.ts) for the controller's tests: they
 * record what the extension asked VS Code and the language client to do, so the tests check behaviour, not calls
 * into a mock library.
 */
import type { ProcessResult, Runner } from "../src/environment";
import type { Host, LaunchSpec, ServerFactory, ServerHandle, TorchChoice } from "../src/host";
import type { ConfigReader } from "../src/settings";
import type { Presentation } from "../src/status";

export class MemoryConfig implements ConfigReader {
  constructor(public values: Record<string, unknown> = {}) {}

  get<T>(key: string): T | undefined {
    return this.values[key] as T | undefined;
  }

  /** Every key in `values` counts as set by the user. */
  isSet(key: string): boolean {
    return key in this.values;
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
  answer: TorchChoice = undefined;
  language = "en";
  clipboard: string[] = [];
  outputShown = 0;
  settingsOpened = 0;

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

  displayLanguage(): string {
    return this.language;
  }

  async askAboutTorch(message: string): Promise<TorchChoice> {
    this.questions.push(message);
    return this.answer;
  }

  async copyToClipboard(text: string): Promise<void> {
    this.clipboard.push(text);
  }

  showError(message: string): void {
    this.errors.push(message);
  }

  openSettings(): void {
    this.settingsOpened += 1;
  }
}

export class FakeServer implements ServerHandle {
  started = false;
  stopped = false;
  settingsSent = 0;

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

  async settingsChanged(): Promise<void> {
    this.settingsSent += 1;
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

/** Records each process the controller runs; answers `serve.py check` as the interpreter described in `pythons`
 * would (absent: an interpreter that does not run). */
export class FakeRunner {
  calls: { command: string; args: string[]; cwd: string }[] = [];
  pythons = new Map<string, { version: string; torch?: string; server?: string }>();

  readonly run: Runner = async (command, args, cwd) => {
    this.calls.push({ command, args, cwd });
    const python = this.pythons.get(command);
    if (args[args.length - 1] !== "check" || python === undefined) {
      return result(null, "", "", `spawn ${command} ENOENT`);
    }
    const answer = { python: command, version: python.version, server: python.server ?? "ok",
      torch: python.torch ?? null, bundle: { pythons: ["3.10", "3.11", "3.12", "3.13", "3.14"] } };
    return result(0, JSON.stringify(answer) + "\n", "");
  };
}

function result(code: number | null, stdout: string, stderr: string, error?: string): ProcessResult {
  return { code, stdout, stderr, error: code === 0 ? undefined : error ?? `exit ${code}` };
}

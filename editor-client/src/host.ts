/**
 * The contract between the extension's logic and VS Code: everything the controller needs from the editor and
 * from the language client, as plain interfaces. `vscodeHost.ts` and `languageClient.ts` implement it over the
 * real `vscode` and `vscode-languageclient` modules (thin, untested there); unit tests implement it in memory, so
 * the logic (when to restart, what the server is told, what the user is asked) runs without VS Code.
 */
import type { ConfigReader, ServerSettings } from "./settings";
import type { Presentation, StatusEvent } from "./status";

/** The user's answer to "this interpreter has no torch": copy the install command, choose another, see the log. */
export type TorchChoice = "copy" | "settings" | "output" | undefined;

export interface Host {
  /** Working directory for every Python process the extension starts (never the workspace; see installation.ts). */
  readonly safeDirectory: string;
  isTrusted(): boolean;
  /** The `paramlens` section of the configuration (workspace values of restricted settings already dropped). */
  configuration(): ConfigReader;
  workspaceFolder(): string | undefined;
  /** The Python extension's active environment executable; undefined when the extension is not installed. */
  activePythonEnvironment(): Promise<string | undefined>;
  searchPath(): string | undefined;
  showStatus(presentation: Presentation): void;
  log(line: string): void;
  showOutput(): void;
  /** VS Code's display language (`vscode.env.language`), for the extension's own messages. */
  displayLanguage(): string;
  /** A warning with buttons about the missing torch; resolves with the user's choice (undefined: dismissed). */
  askAboutTorch(message: string): Promise<TorchChoice>;
  copyToClipboard(text: string): Promise<void>;
  showError(message: string): void;
  openSettings(): void;
}

/** How to start the server, and the hooks the language client calls back. */
export interface LaunchSpec {
  command: string;
  args: string[];
  cwd: string;
  initializationOptions: ServerSettings;
  /** The answer to a `workspace/configuration` request for section `paramlens`, computed when asked. */
  settings(): ServerSettings;
  onStatusEvent(event: StatusEvent): void;
}

export interface ServerHandle {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Tells the running server that settings changed (it asks for them again and applies them live). */
  settingsChanged(): Promise<void>;
}

export type ServerFactory = (launch: LaunchSpec) => ServerHandle;

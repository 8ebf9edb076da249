/**
 * The thin wrapper around the `vscode` module: implements `Host` (host.ts) with VS Code's API and nothing else, so
 * every decision stays in modules the unit tests load without VS Code. Also the Python extension's API
 * (`@vscode/python-extension`), which is optional: code-server and VSCodium often do not have it.
 */
import { PVSC_EXTENSION_ID, PythonExtension } from "@vscode/python-extension";
import * as vscode from "vscode";
import type { Host, TorchChoice } from "./host";
import { languageOf, tr } from "./i18n";
import { ConfigReader, SECTION } from "./settings";
import type { Presentation } from "./status";

export const COMMAND_RESTART = "paramlens.restartServer";
export const COMMAND_SHOW_OUTPUT = "paramlens.showOutput";

async function pythonApi(): Promise<PythonExtension | undefined> {
  if (vscode.extensions.getExtension(PVSC_EXTENSION_ID) === undefined) return undefined;
  return PythonExtension.api();
}

/** The active environment's executable for the first workspace folder, if the Python extension has one. */
async function activePythonEnvironment(): Promise<string | undefined> {
  const api = await pythonApi();
  if (!api) return undefined;
  const resource = vscode.workspace.workspaceFolders?.[0]?.uri;
  const environmentPath = api.environments.getActiveEnvironmentPath(resource);
  const resolved = await api.environments.resolveEnvironment(environmentPath);
  return resolved?.executable.uri?.fsPath ?? environmentPath.path;
}

/** Calls `listener` when the Python extension's active environment changes (nothing when it is absent). */
export async function onPythonEnvironmentChange(listener: () => void): Promise<vscode.Disposable | undefined> {
  try {
    const api = await pythonApi();
    return api?.environments.onDidChangeActiveEnvironmentPath(() => listener());
  } catch {
    return undefined;
  }
}

export class VscodeHost implements Host {
  constructor(readonly safeDirectory: string, private readonly output: vscode.OutputChannel,
    private readonly item: vscode.StatusBarItem) {}

  isTrusted(): boolean {
    return vscode.workspace.isTrusted;
  }

  configuration(): ConfigReader {
    const config = vscode.workspace.getConfiguration(SECTION);
    return {
      get: <T>(key: string) => config.get<T>(key),
      isSet: (key: string) => {
        const found = config.inspect(key);
        return found !== undefined && [found.globalValue, found.workspaceValue, found.workspaceFolderValue,
          found.globalLanguageValue, found.workspaceLanguageValue, found.workspaceFolderLanguageValue]
          .some((value) => value !== undefined);
      },
    };
  }

  workspaceFolder(): string | undefined {
    return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  }

  activePythonEnvironment(): Promise<string | undefined> {
    return activePythonEnvironment();
  }

  searchPath(): string | undefined {
    return process.env.PATH;
  }

  showStatus(presentation: Presentation): void {
    this.item.text = presentation.text;
    this.item.tooltip = presentation.tooltip;
    this.item.backgroundColor = presentation.severity === "none" ? undefined
      : new vscode.ThemeColor(presentation.severity === "error"
        ? "statusBarItem.errorBackground" : "statusBarItem.warningBackground");
    this.item.show();
  }

  log(line: string): void {
    this.output.appendLine(line);
  }

  showOutput(): void {
    this.output.show(true);
  }

  displayLanguage(): string {
    return vscode.env.language;
  }

  async askAboutTorch(message: string): Promise<TorchChoice> {
    const language = languageOf(this.displayLanguage());
    const copy = tr(language, "Copy Install Command", "复制安装命令");
    const settings = tr(language, "Choose Interpreter", "选择解释器");
    const output = tr(language, "Show Output", "显示输出");
    const choice = await vscode.window.showWarningMessage(message, copy, settings, output);
    return choice === copy ? "copy" : choice === settings ? "settings" : choice === output ? "output" : undefined;
  }

  async copyToClipboard(text: string): Promise<void> {
    await vscode.env.clipboard.writeText(text);
  }

  showError(message: string): void {
    void vscode.window.showErrorMessage(message, "Show Output").then((choice) => {
      if (choice) this.showOutput();
    });
  }

  openSettings(): void {
    void vscode.commands.executeCommand("workbench.action.openSettings", "paramlens.interpreter");
  }
}

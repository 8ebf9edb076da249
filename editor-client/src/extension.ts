/**
 * Entry point: creates the output channel, the status bar item and the controller, and connects VS Code's events
 * (commands, setting changes, workspace trust, the Python extension's environment) to it. No logic lives here.
 */
import * as vscode from "vscode";
import { ServerController } from "./controller";
import { languageClientFactory } from "./languageClient";
import { RESTART_KEYS, SECTION } from "./settings";
import { COMMAND_RESTART, COMMAND_SHOW_OUTPUT, onPythonEnvironmentChange, VscodeHost } from "./vscodeHost";

let controller: ServerController | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel("ParamLens");
  const item = vscode.window.createStatusBarItem("paramlens.status", vscode.StatusBarAlignment.Right, 100);
  item.name = "ParamLens";
  item.command = COMMAND_SHOW_OUTPUT;
  context.subscriptions.push(output, item);

  const host = new VscodeHost(context.extensionPath, output, item);
  const active = new ServerController(host, languageClientFactory(output));
  controller = active;

  context.subscriptions.push(
    vscode.commands.registerCommand(COMMAND_RESTART, () => active.restart("Restart Server command")),
    vscode.commands.registerCommand(COMMAND_SHOW_OUTPUT, () => host.showOutput()),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration(SECTION)) {
        void active.settingsChanged(RESTART_KEYS.some((key) => event.affectsConfiguration(`${SECTION}.${key}`)));
      }
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => void active.trustGranted()),
  );
  void onPythonEnvironmentChange(() => void active.pythonEnvironmentChanged()).then((subscription) => {
    if (subscription) context.subscriptions.push(subscription);
  });
  void active.restart("activated");
}

export async function deactivate(): Promise<void> {
  await controller?.stop();
  controller = undefined;
}

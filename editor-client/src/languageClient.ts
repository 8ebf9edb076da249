/**
 * Builds the `vscode-languageclient` client for one server launch (implements `ServerFactory` of host.ts): stdio
 * transport, Python files on disk and notebook cells (selector.ts), our settings as `initializationOptions` and as the answer to
 * `workspace/configuration` for section `paramlens` (so Restricted Mode's `execution: false` holds however the
 * server asks), and the status tap on incoming messages.
 */
import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification, LanguageClient, LanguageClientOptions, RevealOutputChannelOn, ServerOptions,
  State,
} from "vscode-languageclient/node";
import type { LaunchSpec, ServerFactory, ServerHandle } from "./host";
import { DOCUMENT_SELECTOR } from "./selector";
import { SECTION } from "./settings";
import { statusTap } from "./statusTap";

export function languageClientFactory(output: vscode.OutputChannel): ServerFactory {
  return (launch: LaunchSpec): ServerHandle => {
    const serverOptions: ServerOptions = {
      command: launch.command,
      args: launch.args,
      // no `transport`: TransportKind.stdio would append `--stdio`, an argument `paramlens serve` does not take
      options: { cwd: launch.cwd },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: DOCUMENT_SELECTOR,
      outputChannel: output,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      initializationOptions: launch.initializationOptions,
      connectionOptions: { messageStrategy: statusTap(launch.onStatusEvent), maxRestartCount: 3 },
      middleware: {
        workspace: {
          configuration: async (params, token, next) => {
            const answers = await next(params, token);
            if (!Array.isArray(answers)) return answers;
            return params.items.map((item, index) => (item.section === SECTION ? launch.settings() : answers[index]));
          },
        },
      },
    };
    const client = new LanguageClient("paramlens", "ParamLens", serverOptions, clientOptions);
    let stopping = false;
    client.onDidChangeState((change) => {
      if (change.newState === State.Stopped && !stopping) {
        launch.onStatusEvent({ type: "failed", message: "The ParamLens server stopped; see the ParamLens output." });
      }
    });
    return {
      start: () => client.start(),
      stop: async () => {
        stopping = true;
        if (client.isRunning()) await client.stop(5000);
        await client.dispose();
      },
      // `settings: null`: the server asks with workspace/configuration, answered through the middleware above
      settingsChanged: async () => {
        if (client.isRunning()) {
          await client.sendNotification(DidChangeConfigurationNotification.type, { settings: null });
        }
      },
    };
  };
}

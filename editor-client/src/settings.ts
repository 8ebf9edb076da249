/**
 * Maps the `paramlens.*` settings of VS Code to the object the server reads from `initializationOptions` and from
 * the `paramlens` section of `workspace/configuration` (docs/editors.md). Kept free of the `vscode` module so that
 * the mapping, which decides what the server is allowed to do, is unit-tested outside VS Code.
 *
 * Values are passed on as the user wrote them, and only those the user set: the server checks every value against
 * its one options model (paramlens/options.py: kind, bounds, default) and logs what it ignores, so nothing is
 * validated twice; an unset key lets the project's `[tool.paramlens]` or the server's default apply. The
 * exceptions are the two decisions that are the client's to make: execution is off in Restricted Mode or when the
 * interpreter has no torch, and the interpreter is the one the server was started with.
 */

import { executionAllowed } from "./trust";

/** The few calls of `vscode.WorkspaceConfiguration` this module needs, for keys of the `paramlens` section. */
export interface ConfigReader {
  get<T>(key: string): T | undefined;
  /** Whether the user set the key anywhere (user, workspace or folder settings), not just its default. */
  isSet(key: string): boolean;
}

/** Every setting the extension contributes (package.json), as the server names it (dots: nested objects). */
export const SETTING_KEYS = [
  "interpreter",
  "execution",
  "executeOutsideWorkspace",
  "timeout",
  "memoryMb",
  "seed",
  "device",
  "paramBudget",
  "loopIterations",
  "loopSeconds",
  "debounceMs",
  "incremental",
  "checkpoints",
  "checkpointMemoryMb",
  "locale",
  "inlayHints.parameters",
  "inlayHints.forwardShapes",
  "inlayHints.sharedLayers",
] as const;

/** Settings whose change needs a new server process: the interpreter it runs in. Every other one applies live. */
export const RESTART_KEYS: readonly string[] = ["interpreter"];

export type ServerSettings = Record<string, unknown> & { execution: boolean };

export const SECTION = "paramlens";

export interface MappingContext {
  /** `workspace.isTrusted`: false in Restricted Mode, where the server must not execute anything. */
  trusted: boolean;
  /** The interpreter the server was started with, passed on so that the user's code runs in the same Python. */
  interpreter?: string;
  /** The interpreter has no torch: nothing could run, so execution is off (static analysis only). */
  noTorch?: boolean;
}

/** The settings object sent to the server. */
export function serverSettings(config: ConfigReader, context: MappingContext): ServerSettings {
  const settings: ServerSettings = { execution: true };
  for (const key of SETTING_KEYS) {
    if (key === "interpreter" || !config.isSet(key)) continue;
    const value = config.get<unknown>(key);
    if (value === undefined) continue;
    const [head, tail] = key.split(".", 2);
    if (tail === undefined) {
      settings[head] = value;
    } else {
      const nested = (settings[head] ?? {}) as Record<string, unknown>;
      nested[tail] = value;
      settings[head] = nested;
    }
  }
  const configured = settings.execution !== false;
  settings.execution = executionAllowed(context.trusted, configured) && !context.noTorch;
  if (context.interpreter) settings.interpreter = context.interpreter;
  return settings;
}

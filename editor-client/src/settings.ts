/**
 * Maps the `paramlens.*` settings of VS Code to the object the server reads from `initializationOptions` and from
 * the `paramlens` section of `workspace/configuration` (docs/editors.md). Kept free of the `vscode` module so that
 * the mapping, which decides what the server is allowed to do, is unit-tested outside VS Code.
 */

import { executionAllowed } from "./trust";

/** The few calls of `vscode.WorkspaceConfiguration` this module needs: read one key of the `paramlens` section. */
export interface ConfigReader {
  get<T>(key: string): T | undefined;
}

export interface InlayHintSettings {
  parameters: boolean;
  forwardShapes: boolean;
  sharedLayers: boolean;
}

/** Exactly the keys `paramlens/server/settings.py` reads; absent keys keep the server's defaults. */
export interface ServerSettings {
  execution: boolean;
  timeout?: number;
  memoryMb?: number;
  paramBudget?: number;
  interpreter?: string;
  debounceMs?: number;
  locale?: string;
  inlayHints: InlayHintSettings;
}

export const SECTION = "paramlens";

/** Every setting the extension contributes; a change to any of them restarts the server. */
export const SETTING_KEYS = [
  "interpreter",
  "execution",
  "timeout",
  "memoryMb",
  "paramBudget",
  "debounceMs",
  "locale",
  "inlayHints.parameters",
  "inlayHints.forwardShapes",
  "inlayHints.sharedLayers",
] as const;

export interface MappingContext {
  /** `workspace.isTrusted`: false in Restricted Mode, where the server must not execute anything. */
  trusted: boolean;
  /** The interpreter the server was started with, passed on so that the user's code runs in the same Python. */
  interpreter?: string;
}

function positiveNumber(value: unknown, integer: boolean): number | undefined {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    return undefined;
  }
  return integer ? Math.round(value) : value;
}

function flag(value: unknown, fallback: boolean): boolean {
  return typeof value === "boolean" ? value : fallback;
}

/**
 * The settings object sent to the server. Values of the wrong type or out of range are left out so the server
 * keeps its default (VS Code's settings editor validates, but settings.json can hold anything).
 */
export function serverSettings(config: ConfigReader, context: MappingContext): ServerSettings {
  const settings: ServerSettings = {
    execution: executionAllowed(context.trusted, flag(config.get("execution"), true)),
    inlayHints: {
      parameters: flag(config.get("inlayHints.parameters"), true),
      forwardShapes: flag(config.get("inlayHints.forwardShapes"), true),
      sharedLayers: flag(config.get("inlayHints.sharedLayers"), true),
    },
  };
  const timeout = positiveNumber(config.get("timeout"), false);
  if (timeout !== undefined) settings.timeout = timeout;
  const memoryMb = positiveNumber(config.get("memoryMb"), true);
  if (memoryMb !== undefined) settings.memoryMb = memoryMb;
  const paramBudget = positiveNumber(config.get("paramBudget"), true);
  if (paramBudget !== undefined) settings.paramBudget = paramBudget;
  const debounce = config.get<unknown>("debounceMs");
  if (typeof debounce === "number" && Number.isFinite(debounce) && debounce >= 0) {
    settings.debounceMs = Math.round(debounce);
  }
  const locale = config.get<unknown>("locale");
  if (typeof locale === "string" && locale.trim() !== "") settings.locale = locale.trim();
  if (context.interpreter) settings.interpreter = context.interpreter;
  return settings;
}

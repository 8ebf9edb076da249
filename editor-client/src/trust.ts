/**
 * Workspace trust. A workspace the user has not trusted may be a repository they just cloned: in VS Code's
 * Restricted Mode ParamLens must not run any of its code, so the server gets `execution: false` (static analysis
 * only), and a workspace cannot pick the interpreter (`restrictedConfigurations` in package.json). Granting trust
 * restarts the server with execution back on. Trust can only be granted while a window is open, never revoked.
 */

/** Whether the server may execute code: the user's `paramlens.execution`, and never in Restricted Mode. */
export function executionAllowed(isTrusted: boolean, executionSetting: boolean): boolean {
  return isTrusted && executionSetting;
}

/** Why execution is off, for the status bar tooltip and the output channel; undefined when it is on. */
export function executionOffReason(isTrusted: boolean, executionSetting: boolean): string | undefined {
  if (!isTrusted) {
    return "Restricted Mode: this workspace is not trusted, so none of its code is run (static analysis only). " +
      "Trust the workspace to see real names, shapes and values.";
  }
  if (!executionSetting) {
    return "`paramlens.execution` is off: static analysis only.";
  }
  return undefined;
}

/**
 * Which Python runs the server (and, through the server's `interpreter` setting, the user's code): the
 * `paramlens.interpreter` setting if given, else the active environment of the Python extension, else `python3`
 * on PATH. The order matters: an explicit setting must win over whatever environment the Python extension
 * selected, and the Python extension may be absent (code-server, VSCodium), so PATH is the last resort.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export type InterpreterSource = "setting" | "python-extension" | "path";

export interface Interpreter {
  path: string;
  source: InterpreterSource;
}

export interface ResolveInputs {
  /** `paramlens.interpreter` as read (may be empty). */
  configured?: string;
  /** First workspace folder, for `${workspaceFolder}` in the setting. */
  workspaceFolder?: string;
  /** The Python extension's active environment executable, or undefined when it is absent or has none. */
  pythonExtension: () => Promise<string | undefined>;
  /** The PATH to search (process.env.PATH in the extension). */
  searchPath?: string;
  home?: string;
}

export class InterpreterNotFound extends Error {}

/** Expands `${workspaceFolder}`, `${userHome}` and a leading `~`; relative paths are taken from the workspace. */
export function expandInterpreterSetting(value: string, workspaceFolder: string | undefined, home: string): string {
  let expanded = value.trim();
  if (expanded === "~" || expanded.startsWith("~/")) {
    expanded = home + expanded.slice(1);
  }
  expanded = expanded.replace(/\$\{userHome\}/g, home);
  if (workspaceFolder !== undefined) {
    expanded = expanded.replace(/\$\{workspaceFolder\}/g, workspaceFolder);
  }
  const looksLikePath = expanded.includes("/") || expanded.includes(path.sep);
  if (looksLikePath && !path.isAbsolute(expanded) && workspaceFolder !== undefined) {
    expanded = path.join(workspaceFolder, expanded);
  }
  return expanded;
}

function isExecutableFile(candidate: string): boolean {
  try {
    const stat = fs.statSync(candidate);
    if (!stat.isFile()) return false;
    fs.accessSync(candidate, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable `name` in `searchPath` (PATH syntax), like `command -v`; Windows extensions included. */
export function findOnPath(name: string, searchPath: string | undefined): string | undefined {
  if (!searchPath) return undefined;
  const extensions = process.platform === "win32" ? ["", ".exe", ".cmd", ".bat"] : [""];
  for (const directory of searchPath.split(path.delimiter)) {
    if (!directory) continue;
    for (const extension of extensions) {
      const candidate = path.join(directory, name + extension);
      if (isExecutableFile(candidate)) return candidate;
    }
  }
  return undefined;
}

/** Resolves the interpreter, or throws InterpreterNotFound with a message a user can act on. */
export async function resolveInterpreter(inputs: ResolveInputs): Promise<Interpreter> {
  const home = inputs.home ?? os.homedir();
  const configured = inputs.configured?.trim();
  if (configured) {
    const expanded = expandInterpreterSetting(configured, inputs.workspaceFolder, home);
    const onPath = expanded.includes("/") || expanded.includes(path.sep)
      ? expanded : findOnPath(expanded, inputs.searchPath);
    if (onPath === undefined || !isExecutableFile(onPath)) {
      throw new InterpreterNotFound(`paramlens.interpreter is set to "${configured}", which is not an executable file.`);
    }
    return { path: onPath, source: "setting" };
  }
  let fromExtension: string | undefined;
  try {
    fromExtension = await inputs.pythonExtension();
  } catch {
    fromExtension = undefined; // the Python extension failed to activate: fall through to PATH
  }
  if (fromExtension && isExecutableFile(fromExtension)) {
    return { path: fromExtension, source: "python-extension" };
  }
  for (const name of process.platform === "win32" ? ["python", "py"] : ["python3", "python"]) {
    const found = findOnPath(name, inputs.searchPath);
    if (found) return { path: found, source: "path" };
  }
  throw new InterpreterNotFound(
    "No Python interpreter found: set paramlens.interpreter, select an environment with the Python extension, " +
    "or put python3 on PATH.");
}

export function describeSource(source: InterpreterSource): string {
  switch (source) {
    case "setting": return "the paramlens.interpreter setting";
    case "python-extension": return "the Python extension's active environment";
    case "path": return "python3 on PATH";
  }
}

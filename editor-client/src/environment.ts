/**
 * What the chosen interpreter can do, and how the server is started in it. The extension carries its own server
 * (`bundled/serve.py` + `bundled/libs/`, made by scripts/release.sh from the release wheel): it runs in the user's
 * interpreter, which needs nothing of ParamLens installed, only torch for real values (the sandbox runs the user's
 * code there). `serve.py check` reports, without importing torch, whether the bundled server imports in that
 * interpreter (its compiled parser exists per Python version) and which torch it has.
 *
 * Every process runs with the extension's own directory as working directory: `python -c` and `python script`
 * put a directory first on `sys.path`, and a workspace's own `paramlens/` folder must never be what gets imported
 * (that would run a cloned repository's code, even in Restricted Mode).
 */
import { execFile } from "node:child_process";
import * as path from "node:path";

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
  error?: string;
}

export type Runner = (command: string, args: string[], cwd: string, timeoutMs: number) => Promise<ProcessResult>;

/** Runs a program without a shell (paths with spaces or quotes stay one argument). */
export const runProcess: Runner = (command, args, cwd, timeoutMs) => new Promise((resolve) => {
  execFile(command, args, { cwd, timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024, windowsHide: true },
    (error, stdout, stderr) => {
      if (!error) {
        resolve({ code: 0, stdout: String(stdout), stderr: String(stderr) });
        return;
      }
      // A non-zero exit gives a numeric code; a failure to start (ENOENT, EACCES) a string one.
      const exitCode = (error as { code?: unknown }).code;
      resolve({ code: typeof exitCode === "number" ? exitCode : null, stdout: String(stdout),
        stderr: String(stderr), error: error.message });
    });
});

/** The launcher of the bundled server inside the extension. */
export function launcher(extensionDirectory: string): string {
  return path.join(extensionDirectory, "bundled", "serve.py");
}

export interface EnvironmentCheck {
  /** The bundled server imports in this interpreter. */
  serverRuns: boolean;
  /** Python's version (`3.11.7`), when the interpreter ran at all. */
  version?: string;
  /** torch's version, or undefined when the interpreter has no torch. */
  torch?: string;
  /** The Python versions the bundle serves (from its manifest). */
  served: string[];
  /** What went wrong, for the output channel and the message. */
  detail?: string;
}

function lastLine(text: string): string | undefined {
  const lines = text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== "");
  return lines.length > 0 ? lines[lines.length - 1] : undefined;
}

export async function checkEnvironment(python: string, extensionDirectory: string, run: Runner = runProcess,
  timeoutMs = 60_000): Promise<EnvironmentCheck> {
  const result = await run(python, [launcher(extensionDirectory), "check"], extensionDirectory, timeoutMs);
  if (result.code !== 0) {
    return { serverRuns: false, served: [], detail: lastLine(result.stderr) ?? result.error ?? `exit status ${result.code}` };
  }
  try {
    const found = JSON.parse(lastLine(result.stdout) ?? "") as Record<string, unknown>;
    const bundle = (found.bundle ?? {}) as { pythons?: unknown };
    const served = Array.isArray(bundle.pythons) ? bundle.pythons.filter((v): v is string => typeof v === "string") : [];
    return {
      serverRuns: found.server === "ok",
      version: typeof found.version === "string" ? found.version : undefined,
      torch: typeof found.torch === "string" ? found.torch : undefined,
      served,
      detail: found.server === "ok" ? undefined : String(found.server),
    };
  } catch {
    return { serverRuns: false, served: [], detail: `unexpected answer: ${result.stdout.slice(0, 200)}` };
  }
}

/** How the server is started: the bundled launcher in the chosen interpreter. */
export function serverCommand(python: string, extensionDirectory: string): { command: string; args: string[] } {
  return { command: python, args: [launcher(extensionDirectory), "serve"] };
}

/** The command that installs the CPU build of torch into `python` (shown, copied on request, never run). */
export function torchInstallCommand(python: string): string {
  const quoted = /[\s"'$`\\]/.test(python) ? `"${python.replace(/(["$`\\])/g, "\\$1")}"` : python;
  return `${quoted} -m pip install torch --index-url https://download.pytorch.org/whl/cpu`;
}

/**
 * Whether ParamLens is importable in an interpreter, and the command that installs it there. Both run the
 * interpreter with the extension's own directory as working directory: `python -c` puts the working directory
 * first on `sys.path`, and a workspace's own `paramlens/` folder must never be what gets imported (that would run
 * a cloned repository's code, even in Restricted Mode).
 */
import { execFile } from "node:child_process";

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

export const IMPORT_CHECK = ["-c", "import paramlens, sys; sys.stdout.write(paramlens.__version__)"];

export interface InstallationCheck {
  installed: boolean;
  version?: string;
  /** What went wrong, for the output channel (the last line of a traceback, or the spawn error). */
  detail?: string;
}

function lastLine(text: string): string | undefined {
  const lines = text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== "");
  return lines.length > 0 ? lines[lines.length - 1] : undefined;
}

export async function checkInstalled(python: string, cwd: string, run: Runner = runProcess,
  timeoutMs = 60_000): Promise<InstallationCheck> {
  const result = await run(python, IMPORT_CHECK, cwd, timeoutMs);
  if (result.code === 0) {
    return { installed: true, version: result.stdout.trim() || undefined };
  }
  return { installed: false, detail: lastLine(result.stderr) ?? result.error ?? `exit status ${result.code}` };
}

/** The pip command offered (never run without the user's click) when ParamLens is missing. */
export function installCommand(python: string): { command: string; args: string[] } {
  return { command: python, args: ["-m", "pip", "install", "--upgrade", "paramlens"] };
}

/** How the server is started: the same interpreter, as a module, so no console script on PATH is needed. */
export function serverCommand(python: string): { command: string; args: string[] } {
  return { command: python, args: ["-m", "paramlens", "serve"] };
}

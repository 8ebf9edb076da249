/** Temporary directories with executable files, for interpreter resolution against a real filesystem. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export function tempDir(prefix = "paramlens-client-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function executable(directory: string, name: string, body = "#!/bin/sh\nexit 0\n"): string {
  const file = path.join(directory, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, body, { mode: 0o755 });
  return file;
}

export function plainFile(directory: string, name: string): string {
  const file = path.join(directory, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, "not a program\n", { mode: 0o644 });
  return file;
}

/** The repository's .venv Python (made by scripts/setup.sh), if there is one. */
export function repositoryPython(): string | undefined {
  const python = path.resolve(__dirname, "..", "..", "..", ".venv", "bin", "python");
  return fs.existsSync(python) ? python : undefined;
}

export const clientRoot = path.resolve(__dirname, "..", "..");

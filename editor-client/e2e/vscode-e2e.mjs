// End-to-end check of the packaged extension in real VS Code (code-server) driven by headless Chromium: what a
// user sees — the hover, the Problems panel, the status bar — in a trusted folder and in Restricted Mode.
// Run by e2e/run.sh, which installs code-server, unpacks the .vsix and computes the expected shapes with torch.
//
// usage: node vscode-e2e.mjs --scenario trusted|restricted --code-server DIR --extensions DIR --folder DIR
//          --file RELATIVE_PATH --interpreter PYTHON --expected JSON --artifacts DIR
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { chromium } from "playwright-core";

const HOVER_TARGET = "net[0].named_parameters()";
const STATIC_ONLY = "Not executed (static analysis only)";

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith("--")) throw new Error(`unexpected argument ${argv[i]}`);
    args[argv[i].slice(2)] = argv[i + 1];
  }
  for (const key of ["scenario", "code-server", "extensions", "folder", "file", "interpreter", "expected", "artifacts"]) {
    if (!args[key]) throw new Error(`missing --${key}`);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const notebook = args.scenario === "notebook"; // the .ipynb in VS Code's notebook editor, in a trusted folder
const trusted = args.scenario === "trusted" || notebook;
const expected = JSON.parse(args.expected); // {"weight": [8, 4], "bias": [8]} from torch
const started = Date.now();
const log = (message) => console.log(`[${args.scenario} ${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

async function waitForHttp(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { redirect: "manual" });
      if (response.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`code-server did not answer at ${url} within ${timeoutMs / 1000}s`);
}

/** A function from parent pids to all their descendants, read from /proc: servers that other programs on this
 * machine run (benchmarks, other editors) never count, only those under our code-server. */
function processTree() {
  const table = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").filter(Boolean);
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      table.push({ pid: Number(entry), ppid, cmdline });
    } catch {
      // the process ended while we read
    }
  }
  const descendantsOf = (pids) => {
    const found = [];
    const frontier = [...pids];
    while (frontier.length > 0) {
      const parent = frontier.pop();
      for (const child of table.filter((p) => p.ppid === parent)) {
        found.push(child);
        frontier.push(child.pid);
      }
    }
    return found;
  };
  return descendantsOf;
}

/** The ParamLens servers that this code-server's extension host started, and every process under them. */
function serverProcesses(codeServerPid) {
  const descendantsOf = processTree();
  const servers = descendantsOf([codeServerPid]).filter((p) => p.cmdline[0] === args.interpreter
    && p.cmdline.some((arg) => arg.endsWith(path.join("bundled", "serve.py"))) && p.cmdline.includes("serve"));
  return { servers, descendants: descendantsOf(servers.map((p) => p.pid)) };
}

async function screenshot(page, name) {
  const file = path.join(args.artifacts, `${args.scenario}-${name}.png`);
  await page.screenshot({ path: file });
  log(`screenshot ${file}`);
  return file;
}

async function statusText(page) {
  const item = page.locator(".statusbar-item", { hasText: "ParamLens" }).first();
  if ((await item.count()) === 0) return "";
  return ((await item.innerText()) || "").replace(/\s+/g, " ").trim();
}

async function waitForStatus(page, predicate, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let text = "";
  while (Date.now() < deadline) {
    text = await statusText(page);
    if (predicate(text)) return text;
    await page.waitForTimeout(500);
  }
  throw new Error(`status bar item never matched; last text: "${text}"`);
}

async function openFile(page, relativePath) {
  await page.keyboard.press("Control+P");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible", timeout: 30_000 });
  await input.fill(relativePath);
  await page.locator(".quick-input-list .monaco-list-row").first().waitFor({ timeout: 30_000 });
  await page.waitForTimeout(300);
  await page.keyboard.press("Enter");
  await page.locator(".monaco-editor .view-lines").first().waitFor({ timeout: 30_000 });
}

async function runCommand(page, title) {
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible", timeout: 30_000 });
  await input.fill(`>${title}`);
  await page.locator(".quick-input-list .monaco-list-row", { hasText: title }).first().waitFor({ timeout: 30_000 });
  await page.keyboard.press("Enter");
}

/** Where the word to hover is drawn on its line (`named_parameters` on the line of HOVER_TARGET in the file; `Linear`
 * on the line `nn.Linear(4, 8)` of a notebook cell): found by its text, as a user would. */
const TARGET = notebook
  ? { scope: ".notebook-editor .monaco-editor .view-line", line: "nn.Linear(4, 8)", word: "Linear" }
  : { scope: ".monaco-editor .view-line", line: HOVER_TARGET, word: "named_parameters" };

async function hoverTarget(page) {
  const line = page.locator(TARGET.scope, { hasText: TARGET.line }).first();
  await line.waitFor({ timeout: 30_000 });
  const box = await line.evaluate((element, word) => {
    // Monaco splits a line into token spans; find the word across text nodes and measure it with a Range.
    const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
    const nodes = [];
    let text = "";
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      nodes.push({ node, start: text.length });
      text += node.textContent.replace(/\u00a0/g, " ");
    }
    const at = text.indexOf(word);
    if (at < 0) return null;
    const middle = at + Math.floor(word.length / 2);
    const hit = nodes.filter((entry) => entry.start <= middle).pop();
    const range = document.createRange();
    range.setStart(hit.node, middle - hit.start);
    range.setEnd(hit.node, middle - hit.start + 1);
    const rect = range.getBoundingClientRect();
    return { x: rect.x, y: rect.y, width: rect.width, height: rect.height };
  }, TARGET.word);
  if (!box) throw new Error(`${TARGET.word} not found on the line of ${TARGET.line}`);
  return box;
}

async function readHover(page) {
  const contents = page.locator(".monaco-hover-content");
  const count = await contents.count();
  const texts = [];
  for (let i = 0; i < count; i++) {
    if (await contents.nth(i).isVisible()) texts.push(((await contents.nth(i).innerText()) || "").trim());
  }
  return texts.filter(Boolean).join("\n");
}

/** Moves the mouse onto the token until a hover with ParamLens' explanation shows (the analysis may still run). */
async function hoverUntil(page, accept, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let text = "";
  while (Date.now() < deadline) {
    const box = await hoverTarget(page);
    await page.mouse.move(box.x - 40, box.y - 60);
    await page.waitForTimeout(200);
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2, { steps: 4 });
    const shownBy = Date.now() + 4_000;
    while (Date.now() < shownBy) {
      await page.waitForTimeout(300);
      text = await readHover(page);
      if (accept(text)) return text;
    }
  }
  throw new Error(`no ParamLens hover within ${timeoutMs / 1000}s; last hover text:\n${text}`);
}

async function problemsText(page) {
  const panel = page.locator(".markers-panel");
  if ((await panel.count()) === 0) return "";
  return ((await panel.first().innerText()) || "").replace(/\s+/g, " ");
}

async function main() {
  fs.mkdirSync(args.artifacts, { recursive: true });
  const home = fs.mkdtempSync(path.join(os.tmpdir(), `paramlens-e2e-${args.scenario}-`));
  const userData = path.join(home, "user-data");
  fs.mkdirSync(path.join(userData, "User"), { recursive: true });
  const settings = {
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": false,
    "workbench.enableExperiments": false,
    "extensions.autoCheckUpdates": false,
    "extensions.autoUpdate": false,
    "telemetry.telemetryLevel": "off",
    "editor.hover.delay": 300,
    "security.workspace.trust.enabled": !trusted,
    "security.workspace.trust.startupPrompt": "never",
    "security.workspace.trust.banner": "always",
    "paramlens.interpreter": args.interpreter,
  };
  fs.writeFileSync(path.join(userData, "User", "settings.json"), JSON.stringify(settings, null, 2));
  const port = await freePort();
  const entry = path.join(args["code-server"], "out", "node", "entry.js");
  const serverLog = fs.openSync(path.join(args.artifacts, `${args.scenario}-code-server.log`), "w");
  const codeServer = spawn(process.execPath, [entry, "--auth", "none", "--bind-addr", `127.0.0.1:${port}`,
    "--config", path.join(home, "config.yaml"), "--user-data-dir", userData, "--extensions-dir", args.extensions,
    "--disable-telemetry", "--disable-update-check", args.folder],
  { detached: true, stdio: ["ignore", serverLog, serverLog], env: { ...process.env, HOME: home } });
  let browser;
  const failures = [];
  try {
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, 60_000);
    log(`code-server on port ${port}`);
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"],
    });
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(args.folder)}`);
    await page.locator(".monaco-workbench").waitFor({ timeout: 90_000 });
    await page.locator(".explorer-folders-view, .explorer-viewlet").first().waitFor({ timeout: 90_000 });
    log("workbench loaded");
    await openFile(page, args.file);
    log(`opened ${args.file}`);
    if (notebook) {
      // VS Code's own notebook editor (no kernel needed to show the cells); the cells are synchronised with the
      // server through LSP 3.17 notebook synchronisation
      await page.locator(TARGET.scope, { hasText: TARGET.line }).first().waitFor({ timeout: 60_000 });
      log("notebook editor shows the cells");
    }

    const statusWanted = trusted ? (text) => /ParamLens: ready/.test(text) : (text) => /execution disabled/.test(text);
    let status = "";
    try {
      status = await waitForStatus(page, statusWanted, 120_000);
      log(`status bar: "${status}"`);
    } catch (error) {
      failures.push(String(error.message || error));
    }

    const names = Object.keys(expected);
    const shapeTexts = names.map((name) => `[${expected[name].join(", ")}]`);
    const hover = await hoverUntil(page, trusted
      ? (text) => names.every((name) => text.includes(name)) && shapeTexts.every((shape) => text.includes(shape))
      : (text) => text.includes("named_parameters()") && text.includes(STATIC_ONLY), 120_000);
    log(`hover:\n${hover}`);
    await page.waitForTimeout(600); // let the hover finish fading in before the screenshot
    await screenshot(page, "hover");
    if (trusted) {
      if (hover.includes(STATIC_ONLY)) failures.push("the trusted hover says it is static-only");
    } else {
      for (const shape of shapeTexts) {
        if (hover.includes(shape)) failures.push(`the restricted hover shows an observed shape ${shape}`);
      }
    }

    await page.mouse.move(5, 500);
    await page.keyboard.press("Escape");
    await page.keyboard.press("Control+Shift+M");
    await page.locator(".markers-panel").first().waitFor({ timeout: 30_000 });
    let problems = "";
    const problemsDeadline = Date.now() + 60_000;
    while (Date.now() < problemsDeadline) {
      problems = await problemsText(page);
      if (problems.includes("PL102")) break;
      await page.waitForTimeout(500);
    }
    if (notebook) {
      // the stored output of the cell the author ran twice (PL921), said on that cell
      const storedDeadline = Date.now() + 60_000;
      while (Date.now() < storedDeadline && !problems.includes("PL921")) {
        await page.waitForTimeout(500);
        problems = await problemsText(page);
      }
      if (!problems.includes("PL921")) failures.push("no PL921 (stored output differs) diagnostic in the Problems panel");
    }
    log(`problems panel: ${problems.slice(0, 400)}`);
    if (!problems.includes("PL102")) failures.push("no PL102 diagnostic in the Problems panel");
    if (!/paramlens/i.test(problems)) failures.push("no diagnostic attributed to paramlens in the Problems panel");
    await screenshot(page, "problems");

    status = await statusText(page);
    const item = page.locator(".statusbar-item", { hasText: "ParamLens" }).first();
    await item.hover();
    await page.waitForTimeout(1500);
    await screenshot(page, "status");
    if (trusted) {
      if (!/ParamLens: ready · \d+ isolation layers?/.test(status)) {
        failures.push(`status bar "${status}" does not show ready with isolation layers`);
      }
    } else if (!/ParamLens: execution disabled/.test(status)) {
      failures.push(`status bar "${status}" does not show execution disabled`);
    }

    const processes = serverProcesses(codeServer.pid);
    log(`server processes: ${processes.servers.map((p) => p.pid).join(", ") || "none"}; ` +
      `their descendants: ${processes.descendants.map((p) => `${p.pid} ${p.cmdline.slice(0, 4).join(" ")}`).join("; ") || "none"}`);
    if (processes.servers.length === 0) failures.push(`no "${args.interpreter} .../bundled/serve.py serve" process`);
    if (trusted && processes.descendants.length === 0) {
      failures.push("execution on, but the server started no worker process");
    }
    if (!trusted && processes.descendants.length > 0) {
      failures.push("Restricted Mode, but the server started processes (code may have run)");
    }

    if (!trusted && failures.length === 0) {
      // Granting trust must restart the server with execution on: the same hover now has the observed shapes.
      await runCommand(page, "Workspaces: Manage Workspace Trust");
      const trustButton = page.locator(".workspace-trust-editor .monaco-button", { hasText: /^Trust/ }).first();
      await trustButton.waitFor({ timeout: 30_000 });
      await trustButton.click();
      log("trusted the folder");
      status = await waitForStatus(page, (text) => /ParamLens: ready/.test(text), 120_000);
      log(`status bar after trust: "${status}"`);
      await page.keyboard.press("Control+W"); // close the trust editor: back to the file
      await hoverTarget(page);
      const granted = await hoverUntil(page, (text) => names.every((name) => text.includes(name))
        && shapeTexts.every((shape) => text.includes(shape)), 120_000);
      log(`hover after trust:\n${granted}`);
      await page.waitForTimeout(600);
      await screenshot(page, "trust-granted-hover");
      if (granted.includes(STATIC_ONLY)) failures.push("after trust the hover is still static-only");
      if (serverProcesses(codeServer.pid).descendants.length === 0) failures.push("after trust the server started no worker");
    }
  } catch (error) {
    failures.push(String(error.stack || error));
    if (browser) {
      const pages = browser.contexts().flatMap((context) => context.pages());
      if (pages[0]) await screenshot(pages[0], "failure").catch(() => undefined);
    }
  } finally {
    if (browser) await browser.close().catch(() => undefined);
    try {
      process.kill(-codeServer.pid, "SIGTERM");
    } catch {
      // already gone
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    try {
      process.kill(-codeServer.pid, "SIGKILL");
    } catch {
      // already gone
    }
    // VS Code's own logs, the ParamLens output channel among them, are kept next to the screenshots
    fs.cpSync(path.join(userData, "logs"), path.join(args.artifacts, `${args.scenario}-logs`),
      { recursive: true, force: true });
    fs.rmSync(home, { recursive: true, force: true });
  }
  if (failures.length > 0) {
    console.error(`FAILED (${args.scenario}):\n- ${failures.join("\n- ")}`);
    process.exit(1);
  }
  log("passed");
}

await main();

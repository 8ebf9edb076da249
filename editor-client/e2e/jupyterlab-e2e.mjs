// End-to-end check of ParamLens in real JupyterLab: JupyterLab with jupyterlab-lsp, whose server side (jupyter-lsp)
// finds ParamLens through its `jupyter_lsp_spec_v1` entry point and starts `python -m paramlens serve`; headless
// Chromium (playwright-core, as for code-server) opens the example notebook, holds Control over a word of a cell
// (jupyterlab-lsp's hover gesture) and reads ParamLens' hover; the cell's diagnostics are read from the editor.
// Run by tests/test_jupyterlab_e2e.py, which computes the expected shapes with torch.
//
// usage: node jupyterlab-e2e.mjs --python PYTHON --folder DIR --notebook NAME --expected JSON --artifacts DIR
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { chromium } from "playwright-core";

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith("--")) throw new Error(`unexpected argument ${argv[i]}`);
    args[argv[i].slice(2)] = argv[i + 1];
  }
  for (const key of ["python", "folder", "notebook", "expected", "artifacts"]) {
    if (!args[key]) throw new Error(`missing --${key}`);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const expected = JSON.parse(args.expected); // {"weight": [8, 4], "bias": [8]} from torch
const LINE = "nn.Linear(4, 8)";
const WORD = "Linear";
const started = Date.now();
const log = (message) => console.log(`[jupyterlab ${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);

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
  throw new Error(`JupyterLab did not answer at ${url} within ${timeoutMs / 1000}s`);
}

async function screenshot(page, name) {
  const file = path.join(args.artifacts, `jupyterlab-${name}.png`);
  await page.screenshot({ path: file });
  log(`screenshot ${file}`);
  return file;
}

/** Where WORD is drawn on the first line of a cell editor that shows LINE (CodeMirror 6 splits lines into spans). */
async function wordBox(page) {
  const line = page.locator(".jp-Notebook .cm-line", { hasText: LINE }).first();
  await line.waitFor({ timeout: 60_000 });
  return line.evaluate((element, word) => {
    const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
    const nodes = [];
    let text = "";
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      nodes.push({ node, start: text.length });
      text += node.textContent;
    }
    const at = text.indexOf(word);
    if (at < 0) return null;
    const middle = at + Math.floor(word.length / 2);
    const hit = nodes.filter((entry) => entry.start <= middle).pop();
    const range = document.createRange();
    range.setStart(hit.node, middle - hit.start);
    range.setEnd(hit.node, middle - hit.start + 1);
    const rect = range.getBoundingClientRect();
    return { x: rect.x + rect.width / 2, y: rect.y + rect.height / 2 };
  }, WORD);
}

async function hoverText(page) {
  const tooltips = page.locator(".lsp-hover");
  const texts = [];
  for (let i = 0; i < (await tooltips.count()); i++) {
    if (await tooltips.nth(i).isVisible()) texts.push(((await tooltips.nth(i).innerText()) || "").trim());
  }
  return texts.filter(Boolean).join("\n");
}

/** Holds Control over the word until jupyterlab-lsp shows ParamLens' hover (the server may still be analysing). */
async function hoverUntil(page, accept, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let text = "";
  while (Date.now() < deadline) {
    const box = await wordBox(page);
    if (!box) throw new Error(`${WORD} not found on the line ${LINE}`);
    await page.mouse.click(box.x, box.y); // jupyterlab-lsp listens on the active cell's editor
    await page.keyboard.down("Control");
    await page.mouse.move(box.x - 30, box.y - 30);
    await page.mouse.move(box.x, box.y, { steps: 4 });
    const shownBy = Date.now() + 4_000;
    while (Date.now() < shownBy) {
      await page.waitForTimeout(300);
      text = await hoverText(page);
      if (accept(text)) return text;
    }
    await page.keyboard.up("Control");
    await page.mouse.move(5, 5);
    await page.waitForTimeout(1_000);
  }
  throw new Error(`no ParamLens hover within ${timeoutMs / 1000}s; last hover text:\n${text}`);
}

async function main() {
  fs.mkdirSync(args.artifacts, { recursive: true });
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "paramlens-jupyterlab-"));
  const env = {
    ...process.env, HOME: home, JUPYTER_CONFIG_DIR: path.join(home, "config"),
    JUPYTER_DATA_DIR: path.join(home, "data"), JUPYTER_RUNTIME_DIR: path.join(home, "runtime"),
    JUPYTERLAB_SETTINGS_DIR: path.join(home, "settings"), JUPYTERLAB_WORKSPACES_DIR: path.join(home, "workspaces"),
    IPYTHONDIR: path.join(home, "ipython"),
  };
  const port = await freePort();
  const serverLog = fs.openSync(path.join(args.artifacts, "jupyterlab-server.log"), "w");
  const lab = spawn(args.python, ["-m", "jupyter", "lab", "--no-browser", `--port=${port}`, "--ip=127.0.0.1",
    "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
    `--ServerApp.root_dir=${args.folder}`, "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    "--LabApp.extension_manager=readonly", ...(process.getuid && process.getuid() === 0 ? ["--allow-root"] : [])],
  { detached: true, stdio: ["ignore", serverLog, serverLog], env, cwd: args.folder });
  let browser;
  const failures = [];
  try {
    await waitForHttp(`http://127.0.0.1:${port}/lab`, 90_000);
    log(`JupyterLab on port ${port}`);
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"],
    });
    const page = await browser.newPage({ viewport: { width: 1500, height: 950 } });
    await page.goto(`http://127.0.0.1:${port}/lab/tree/${encodeURIComponent(args.notebook)}`);
    await page.locator(".jp-Notebook .cm-line", { hasText: LINE }).first().waitFor({ timeout: 120_000 });
    log(`opened ${args.notebook}`);
    // a kernel is not needed: ParamLens runs the cells in its own sandbox; dismiss a kernel dialog if one shows
    const dialog = page.locator(".jp-Dialog .jp-mod-reject, .jp-Dialog button", { hasText: /No Kernel|Cancel/ });
    if (await dialog.count()) await dialog.first().click().catch(() => undefined);

    // JupyterLab's "notified about news?" toast would cover part of the screenshots: answer it
    const news = page.locator(".jp-toast-button, .Toastify button", { hasText: /^No$/ });
    await news.first().waitFor({ timeout: 5_000 }).then(() => news.first().click()).catch(() => undefined);

    const names = Object.keys(expected);
    const shapes = names.map((name) => `[${expected[name].join(", ")}]`);
    const hover = await hoverUntil(page, (text) => names.every((name) => text.includes(name))
      && shapes.every((shape) => text.includes(shape)), 240_000);
    log(`hover:\n${hover}`);
    await page.waitForTimeout(500);
    await screenshot(page, "hover");
    await page.keyboard.up("Control");
    await page.mouse.move(5, 5);

    // ParamLens' diagnostics are drawn in the cells: the exact-type test of `init_normal` (PL102)
    const deadline = Date.now() + 60_000;
    let underlined = 0;
    while (Date.now() < deadline) {
      underlined = await page.locator(".jp-Notebook .cm-lintRange, .jp-Notebook .cm-lsp-diagnostic").count();
      if (underlined > 0) break;
      await page.waitForTimeout(500);
    }
    log(`diagnostic marks in the cells: ${underlined}`);
    if (underlined === 0) failures.push("no ParamLens diagnostic is drawn in any cell");
    await screenshot(page, "notebook");

    // jupyterlab-lsp's diagnostics panel (a cell's context menu): the stored output of the cell the author ran twice
    // differs from the fresh run (PL921), found on that cell through the saved notebook
    await page.locator(".jp-Notebook .jp-CodeCell .jp-Editor").first().click({ button: "right" });
    await page.locator(".lm-Menu-item", { hasText: "Show diagnostics panel" }).first().click();
    const listing = page.locator(".lsp-diagnostics-listing").first();
    let listed = "";
    const listedBy = Date.now() + 60_000;
    while (Date.now() < listedBy && !listed.includes("PL921")) {
      await page.waitForTimeout(500);
      listed = (await listing.count()) ? (await listing.innerText()) || "" : "";
    }
    log(`diagnostics panel: ${listed.replace(/\s+/g, " ").slice(0, 600)}`);
    if (!listed.includes("PL921")) failures.push("no PL921 (stored output differs) in jupyterlab-lsp's diagnostics panel");
    if (!listed.includes("PL102")) failures.push("no PL102 in jupyterlab-lsp's diagnostics panel");
    await screenshot(page, "diagnostics");
    const virtual = path.join(args.folder, ".virtual_documents");
    if (fs.existsSync(virtual)) {
      for (const entry of fs.readdirSync(virtual)) log(`virtual document: ${entry}`);
    }
  } catch (error) {
    failures.push(String(error.stack || error));
    if (browser) {
      const pages = browser.contexts().flatMap((context) => context.pages());
      if (pages[0]) await screenshot(pages[0], "failure").catch(() => undefined);
    }
  } finally {
    if (browser) await browser.close().catch(() => undefined);
    for (const signal of ["SIGTERM", "SIGKILL"]) {
      try {
        process.kill(-lab.pid, signal);
      } catch {
        // already gone
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    fs.rmSync(home, { recursive: true, force: true });
  }
  if (failures.length > 0) {
    console.error(`FAILED (jupyterlab):\n- ${failures.join("\n- ")}`);
    process.exit(1);
  }
  log("passed");
}

await main();

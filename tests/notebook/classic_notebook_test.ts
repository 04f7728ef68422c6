/**
 * `02_evaluate.ipynb` in Debian's classic Notebook 6 (`jupyter-notebook`), driven through Chromium as a person does:
 * the server started here on a free port with a token, the notebook opened, *Cell → Run All*, and every cell's output
 * checked on the page — present for every code cell below the Parameters cell, no error output, tables as HTML
 * tables, charts as SVG. Then the same with a Parameters value that cannot work: Run All stops at that cell with one
 * line, and no cell below it shows anything. The models are the test server's; runs and caches go to a temporary
 * folder; autosave is switched off first, and the notebooks folder is checked untouched at the end.
 *
 * JupyterLab itself is not installed in CI (it comes only from PyPI, and its install alone takes longer than this
 * test's budget); the headless runs (`notebooks_test.ts`, `tests/support/nb_run_all.py`) cover its Run All.
 * Needs `apt-get install -y jupyter-notebook` (the test fails with that line when it is missing) and Chromium.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO_ROOT } from "../../lib/notebook/mod.ts";
import { withBrowserUrl } from "../support/browser.ts";
import { answersFromDataset, goldScript, startFakeOpenAI } from "../support/fake_openai_server.ts";
import { denoDir, privateKernel } from "../support/notebook_setup.ts";

const NOTEBOOKS = join(REPO_ROOT, "notebooks");
const INSTALL = "apt-get install -y --no-install-recommends jupyter-notebook";

/** What the page shows of one code cell after Run All. */
interface CellView {
  prompt: string;
  source: string;
  outputs: number;
  errors: string[];
  tables: number;
  svgs: number;
  text: string;
}

/** Reads every code cell of the open notebook (run in the page). */
const READ_CELLS = `[...document.querySelectorAll("#notebook-container .cell.code_cell")].map((cell) => ({
  prompt: cell.querySelector(".input_prompt")?.textContent.trim() ?? "",
  source: cell.querySelector(".CodeMirror")?.CodeMirror?.getValue() ?? "",
  outputs: cell.querySelectorAll(".output_area").length,
  errors: [...cell.querySelectorAll(".output_area .output_error")].map((e) => e.textContent.trim()),
  tables: cell.querySelectorAll(".output_html table").length,
  svgs: cell.querySelectorAll(".output_html figure svg").length,
  text: cell.querySelector(".output_wrapper")?.textContent.trim().slice(0, 300) ?? "",
}))`;

/** True once the kernel is connected and idle and every code cell has run (`In [3]`, not `In [ ]` or `In [*]`). */
const IDLE = `(() => {
  const nb = globalThis.Jupyter?.notebook;
  if (!nb?.kernel?.is_connected?.()) return false;
  if (document.querySelector("#kernel_indicator_icon.kernel_busy_icon")) return false;
  return nb.get_cells().every((c) => c.cell_type !== "code" || /\\[\\d+\\]/.test(c.element.find(".input_prompt").text()));
})()`;

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Every file under a folder with its content. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) {
      for (const [k, v] of Object.entries(await snapshot(path))) files[`${entry.name}/${k}`] = v;
    } else files[entry.name] = await Deno.readTextFile(path);
  }
  return files;
}

/** The classic Notebook server on a free port with a token; `stop` shuts its kernels down, then the server. */
async function startNotebookServer(env: Record<string, string>) {
  const port = freePort();
  const token = crypto.randomUUID().replaceAll("-", "");
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("jupyter-notebook", {
      args: [
        "--no-browser",
        "--ip=127.0.0.1",
        `--port=${port}`,
        "--port-retries=0",
        `--NotebookApp.token=${token}`,
        `--notebook-dir=${NOTEBOOKS}`,
        ...(Deno.uid() === 0 ? ["--allow-root"] : []),
      ],
      env,
      clearEnv: true,
      stdout: "null",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`jupyter-notebook is not installed; install it with: ${INSTALL}`);
    }
    throw e;
  }
  const log: string[] = [];
  const pump = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) log.push(chunk);
  })();
  const base = `http://127.0.0.1:${port}`;
  const api = (path: string, init?: RequestInit) => fetch(`${base}${path}?token=${token}`, init);
  for (let i = 0;; i++) {
    const up = await api("/api").then((r) => (r.body?.cancel(), r.ok), () => false);
    if (up) break;
    if (i > 150) {
      child.kill("SIGKILL");
      throw new Error(`the Notebook server did not start:\n${log.join("")}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    token,
    log,
    async stop() {
      const kernels = await api("/api/kernels").then((r) => r.json(), () => []) as { id: string }[];
      for (const k of kernels) {
        await api(`/api/kernels/${k.id}`, { method: "DELETE" }).then((r) => r.body?.cancel());
      }
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await child.status;
      clearTimeout(timer);
      await pump;
    },
  };
}

/** Opens 02 in the classic Notebook, switches autosave off, runs all cells, and reads them once idle. */
async function runAll(server: { base: string; token: string }, shot: string): Promise<CellView[]> {
  const origin = server.base;
  return await withBrowserUrl(
    `${origin}/notebooks/02_evaluate.ipynb?token=${server.token}`,
    async (page) => {
      await page.waitForFunction(`globalThis.Jupyter?.notebook?.kernel?.is_connected?.() === true`, null, {
        timeout: 60_000,
      });
      // The test must not write into notebooks/.
      await page.evaluate(`Jupyter.notebook.set_autosave_interval(0)`);
      await page.click("#celllink");
      await page.click("#run_all_cells");
      await page.waitForFunction(IDLE, null, { timeout: 90_000, polling: 250 });
      // Outputs the kernel sends after its idle status (see nb_execute.py) have a moment to land.
      await page.waitForTimeout(500);
      await page.screenshot({
        path: join(REPO_ROOT, "tests", ".tmp", `classic_notebook_02_${shot}.png`),
        fullPage: true,
      });
      return await page.evaluate(READ_CELLS) as CellView[];
    },
    { width: 1280, allowOrigins: [origin] },
  );
}

Deno.test({
  name:
    "classic Notebook 6 in Chromium: Run All on 02 shows every output (HTML tables, SVG charts); an error stops it",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const kernel = await privateKernel();
    const tmp = await Deno.makeTempDir({ prefix: "text2sql-classic-" });
    const models = await startFakeOpenAI({
      models: [{ id: "gold-model", max_model_len: 8192 }],
      script: goldScript(await answersFromDataset(join(REPO_ROOT, "data", "sample", "dev.json"))),
    });
    const before = await snapshot(NOTEBOOKS);
    const base = Object.fromEntries(
      Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("TEXT2SQL_") && !/_API_KEY$/.test(k)),
    );
    const env = (extra: Record<string, string>) => ({
      ...base,
      ...kernel.env,
      JUPYTER_CONFIG_DIR: join(tmp, "config"),
      JUPYTER_RUNTIME_DIR: join(tmp, "runtime"),
      XDG_CACHE_HOME: join(tmp, "cache"),
      // The completion cache is private to the test, Deno's own cache is not (a cold one costs half a minute).
      DENO_DIR: denoDir(),
      NO_COLOR: "1",
      TEXT2SQL_RUNS_DIR: join(tmp, "runs"),
      TEXT2SQL_MODELS: "gold-model",
      TEXT2SQL_BASE_URL: models.url,
      TEXT2SQL_LIMIT: "6",
      ...extra,
    });
    await Deno.mkdir(join(REPO_ROOT, "tests", ".tmp"), { recursive: true });
    try {
      await t.step(
        "Run All: every code cell below the Parameters cell has its output, none an error",
        async () => {
          const server = await startNotebookServer(env({}));
          try {
            const cells = await runAll(server, "run_all");
            assert.ok(cells.length >= 8, `only ${cells.length} code cells on the page`);
            assert.equal(cells[0].outputs, 0, "the Parameters cell printed something");
            cells.slice(1).forEach((c, i) => {
              const where = `code cell ${i + 2} (${c.source.split("\n")[0]})`;
              assert.match(c.prompt, /In\s*\[\d+\]/, `${where} did not run: ${c.prompt}`);
              assert.ok(c.outputs > 0, `${where} shows no output`);
              assert.deepEqual(c.errors, [], `${where} shows an error`);
            });
            const tables = cells.filter((c) => c.tables > 0).length;
            const charts = cells.filter((c) => c.svgs > 0).length;
            assert.ok(tables >= 4, `${tables} cells show an HTML table`);
            assert.equal(charts, 2, `${charts} cells show an SVG chart`);
            assert.match(cells[2].text, /gold-model/);
          } finally {
            await server.stop();
          }
        },
      );

      await t.step(
        "Run All with a database that is not there: one line at the setup cell, nothing below",
        async () => {
          const server = await startNotebookServer(env({ TEXT2SQL_DB: "california_schools" }));
          try {
            const cells = await runAll(server, "stopped");
            const failing = cells.findIndex((c) => c.errors.length > 0);
            assert.equal(failing, 1, `the stop is in code cell ${failing + 1}`);
            assert.equal(cells[1].errors.length, 1);
            assert.match(
              cells[1].errors[0],
              /^Stopped: the database california_schools is missing under .*leave it out with DB in the Parameters cell/,
            );
            assert.ok(!/\n\s*at /.test(cells[1].errors[0]), `a stack trace: ${cells[1].errors[0]}`);
            cells.slice(2).forEach((c, i) =>
              assert.equal(c.outputs, 0, `code cell ${i + 3} shows: ${c.text}`)
            );
          } finally {
            await server.stop();
          }
        },
      );

      await t.step("the notebooks folder is untouched (no save, no checkpoint)", async () => {
        assert.deepEqual(await snapshot(NOTEBOOKS), before);
      });
    } finally {
      await models.close();
      await kernel.remove();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});

/**
 * The six notebooks, executed headlessly top to bottom in order, as CI runs them ("Notebooks in CI" in
 * ARCHITECTURE.md): `01` downloads from a local archive server (an archive built here from the bundled sample in
 * the official layout), `02`–`04` call the test model server, `05` runs the trainer as a dry run and charts the
 * recorded metrics stream, `06` compares `02`'s runs and writes the report. The parameters reach the notebooks as
 * `TEXT2SQL_*` environment variables, which win over each notebook's Parameters cell; one step edits the
 * Parameters cell of a copy of `02` instead, as a user would, to add a model and rerun. Every code cell must produce its
 * expected outputs (tables with the right numbers, charts with marks, progress lines), not merely not throw —
 * Deno's kernel can report a cell done before its outputs are sent, which `tests/support/nb_execute.py` must survive.
 * Then `01` and `02` are rerun to show that rerunning is cheap (no new download, no model call), and `06` is
 * exported to HTML (`deno task notebook:html`) and opened in headless Chromium, where its charts must have size.
 *
 * Needs Debian's `jupyter-client jupyter-nbconvert` and the Deno kernelspec: without them the test FAILS with the
 * install command (see `tests/support/notebook_setup.ts`). Runs, data, caches and reports go to a temporary folder; the
 * notebooks themselves are never rewritten.
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseHTML } from "linkedom";
import { DatabaseSync } from "node:sqlite";
import {
  checkNbconvert,
  checkNotebookSetup,
  denoDir,
  type NotebookSetup,
  privateKernel,
} from "../support/notebook_setup.ts";
import { startArchiveServer } from "../support/archive_server.ts";
import { devArchive } from "../support/sample_archives.ts";
import {
  answersFromDataset,
  fnv1a,
  goldScript,
  mixedScript,
  type Script,
  startFakeOpenAI,
  teacherScript,
} from "../support/fake_openai_server.ts";
import { withBrowserPage } from "../support/browser.ts";
import {
  exportNotebookHtml,
  notebookHtmlCommand,
  notebooksCommand,
} from "../../lib/notebook/notebook_html.ts";
import { setDisplayBackend } from "../../lib/notebook/display.ts";
import {
  describeSelection,
  evalTargets,
  liveLossChart,
  NotebookParamError,
  notebookParams,
  notebookRuns,
  prepareData,
  previewConversation,
  REPO_ROOT,
  runSlug,
  summaryRows,
} from "../../lib/notebook/mod.ts";
import { SAMPLE_GRPO_METRICS, TRAINER_DIR } from "../../lib/train/mod.ts";

const NOTEBOOKS_DIR = join(REPO_ROOT, "notebooks");
const EXECUTOR = join(dirname(fileURLToPath(import.meta.url)), "..", "support", "nb_execute.py");
const RUN_ALL = join(dirname(fileURLToPath(import.meta.url)), "..", "support", "nb_run_all.py");
const SAMPLE = join(REPO_ROOT, "data", "sample");
const SAMPLE_DATASET = join(SAMPLE, "dev.json");
/** Questions `02` evaluates per model: enough for every difficulty bucket, small enough to be quick. */
const LIMIT = 30;
const SCREENSHOT_DIR = join(REPO_ROOT, "tests", ".tmp");

// ---------------------------------------------------------------------------------------------------------
// Executing a notebook and reading its outputs

/** One output of an executed cell, flattened. */
interface Output {
  type: string;
  /** `text/plain`, or the stream's text, or the error's name and value. */
  text: string;
  html: string | null;
  /** The rows of the HTML table the output shows (numeric cells as numbers), when it shows one. */
  rows: Record<string, unknown>[] | null;
  mimes: string[];
}

interface RawOutput {
  output_type: string;
  text?: string | string[];
  data?: Record<string, unknown>;
  ename?: string;
  evalue?: string;
}

interface RawCell {
  cell_type: string;
  source: string | string[];
  outputs?: RawOutput[];
}

const joinText = (t: unknown) => Array.isArray(t) ? t.join("") : typeof t === "string" ? t : "";
// The kernel colours text/plain with ANSI escapes.
const ANSI = new RegExp(String.fromCharCode(27) + "\\[[0-9;]*m", "g");
const stripAnsi = (s: string) => s.replace(ANSI, "");

/** The rows of the first `<table>` in an output's HTML: header cells name the columns; `num` cells are numbers. */
function tableRows(html: string | null): Record<string, unknown>[] | null {
  if (html === null || !/<table[\s>]/.test(html)) return null;
  interface El {
    textContent: string | null;
    classList: { contains(c: string): boolean };
    querySelectorAll(s: string): El[];
  }
  const { document } = parseHTML(`<html><body>${html}</body></html>`) as unknown as {
    document: { querySelector(s: string): El };
  };
  const table = document.querySelector("table");
  const columns = [...table.querySelectorAll("thead th")].map((th) => th.textContent ?? "");
  return [...table.querySelectorAll("tbody tr")].map((tr) =>
    Object.fromEntries(
      [...tr.querySelectorAll("td")].map((td, i) => {
        const text = td.textContent ?? "";
        const value = td.classList.contains("null")
          ? null
          : td.classList.contains("num")
          ? Number(text)
          : text;
        return [columns[i], value];
      }),
    )
  );
}

function flatten(o: RawOutput): Output {
  const data = o.data ?? {};
  const html = data["text/html"] === undefined ? null : joinText(data["text/html"]);
  return {
    type: o.output_type,
    text: stripAnsi(
      o.output_type === "stream"
        ? joinText(o.text)
        : o.output_type === "error"
        ? `${o.ename}: ${o.evalue}`
        : joinText(data["text/plain"]),
    ),
    html,
    rows: tableRows(html),
    mimes: Object.keys(data),
  };
}

/** The code cells of an executed notebook with their outputs. */
async function codeCells(path: string): Promise<{ source: string; outputs: Output[] }[]> {
  const nb = JSON.parse(await Deno.readTextFile(path)) as { cells: RawCell[] };
  return nb.cells.filter((c) => c.cell_type === "code").map((c) => ({
    source: joinText(c.source),
    outputs: (c.outputs ?? []).map(flatten),
  }));
}

/**
 * Runs `tests/support/nb_execute.py` on a notebook of `notebooks/` (or on `source`, an edited copy, run in `notebooks/` as
 * the original would be); the executed copy goes to `outDir`.
 */
async function execute(
  setup: NotebookSetup,
  notebook: string,
  outDir: string,
  env: Record<string, string>,
  suffix = "",
  source = join(NOTEBOOKS_DIR, notebook),
): Promise<string> {
  const out = join(outDir, notebook.replace(/\.ipynb$/, `${suffix}.ipynb`));
  const run = await new Deno.Command(setup.python, {
    args: [EXECUTOR, source, "--out", out, "--timeout", "120", "--cwd", NOTEBOOKS_DIR],
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const log = new TextDecoder().decode(run.stderr) + new TextDecoder().decode(run.stdout);
  if (!run.success) throw new Error(`${notebook} failed to execute:\n${log}`);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// What each code cell must show

/** One expected output of a cell. */
type Check =
  /** A table (Polars DataFrame or `showTable`); `rows` may assert on a DataFrame's rows. */
  | { kind: "table"; rows?: (rows: Record<string, unknown>[]) => void }
  /** A chart from `lib/look/charts.ts` displayed as HTML: the figure, its SVG, and marks drawn. */
  | { kind: "chart"; chart: string }
  /** Text (stdout or `text/plain`) matching. */
  | { kind: "text"; match: RegExp }
  /** An in-place progress display, finished. */
  | { kind: "progress"; match?: RegExp };

function describe(check: Check): string {
  switch (check.kind) {
    case "table":
      return "a table";
    case "chart":
      return `a "${check.chart}" chart`;
    case "text":
      return `text matching ${check.match}`;
    case "progress":
      return `a finished progress display${check.match ? ` matching ${check.match}` : ""}`;
  }
}

function satisfies(o: Output, check: Check): boolean {
  switch (check.kind) {
    case "table":
      if (o.html === null || !/<table[\s>]/.test(o.html)) return false;
      if (check.rows) {
        if (o.rows === null) return false;
        check.rows(o.rows);
      }
      return true;
    case "chart": {
      if (o.html === null || !o.html.includes(`data-chart="${check.chart}"`)) return false;
      // Drawn as HTML (nbconvert's export drops image/svg+xml), with an SVG holding marks, not an empty figure.
      assert.ok(!o.mimes.includes("image/svg+xml"), `chart ${check.chart} sent as image/svg+xml`);
      assert.ok(!o.html.includes("t2s-empty"), `chart ${check.chart} is an empty figure: ${o.text}`);
      assert.match(o.html, /<svg[\s\S]*<(rect|path|circle|line)[\s>]/, `chart ${check.chart} has no marks`);
      return true;
    }
    case "text":
      return check.match.test(o.text);
    case "progress":
      return o.type === "display_data" && o.html !== null && o.html.includes("t2s-progress") &&
        /\bdone\b/.test(o.text) && (!check.match || check.match.test(o.text));
  }
}

/** Asserts that every code cell has every expected output and no error. */
function assertOutputs(
  name: string,
  cells: { source: string; outputs: Output[] }[],
  expected: Check[][],
): void {
  assert.equal(
    cells.length,
    expected.length,
    `${name}: ${cells.length} code cells but expectations for ${expected.length}: update the test with the notebook`,
  );
  assertParametersCell(name, cells);
  cells.forEach((cell, i) => {
    const where = `${name} code cell ${i + 1} (${cell.source.split("\n")[0]})`;
    const errors = cell.outputs.filter((o) => o.type === "error");
    assert.equal(errors.length, 0, `${where}: error output ${errors.map((e) => e.text).join("; ")}`);
    for (const o of cell.outputs) {
      // VS Code renders the first MIME type it knows: a DataFrame's dataresource bundle shows as nothing there.
      assert.ok(
        !o.mimes.includes("application/vnd.dataresource+json"),
        `${where}: a table sent as application/vnd.dataresource+json (display it with showTable)`,
      );
      if (o.rows !== null) assert.ok(o.mimes.includes("text/html"), `${where}: a table without text/html`);
      assert.ok(!/\bIn CI\b/.test(o.text), `${where}: prints "In CI": ${o.text.slice(0, 200)}`);
    }
    for (const check of expected[i]) {
      assert.ok(
        cell.outputs.some((o) => satisfies(o, check)),
        `${where}: expected ${describe(check)}; outputs were:\n${
          cell.outputs.map((o) => `  [${o.type} ${o.mimes.join(",")}] ${o.text.slice(0, 300)}`).join("\n") ||
          "  (none)"
        }`,
      );
    }
  });
}

/**
 * The first code cell is the Parameters cell: only comments and `const NAME = <literal>;` lines (nothing a user
 * must read code to change), and the next cell passes every one of them to `notebookParams`.
 */
function assertParametersCell(name: string, cells: { source: string; outputs: Output[] }[]): void {
  const [params, setup] = cells;
  const names: string[] = [];
  for (const line of params.source.split("\n")) {
    if (!line.trim() || /^\s*\/\//.test(line)) continue;
    const m = line.match(/^const ([A-Z][A-Z_]*) = ("[^"]*"|null|true|false|\d+|\[[^\]]*\]);\s*(\/\/.*)?$/);
    assert.ok(m, `${name}: the Parameters cell has a line that is not a plain assignment: ${line}`);
    names.push(m[1]);
  }
  assert.ok(names.length > 0, `${name}: the first code cell assigns no parameter`);
  assert.equal(params.outputs.length, 0, `${name}: the Parameters cell printed something`);
  assert.match(setup.source, /notebookParams\(\{/, `${name}: the second cell does not call notebookParams`);
  for (const n of names) {
    assert.match(
      setup.source,
      new RegExp(`: ${n}\\b`),
      `${name}: parameter ${n} is not passed to notebookParams`,
    );
  }
}

/** A copy of a notebook whose Parameters cell has `name` set to `value` (a TypeScript literal), as a user edits it. */
async function withParameter(notebook: string, edits: Record<string, string>, out: string): Promise<string> {
  const nb = JSON.parse(await Deno.readTextFile(join(NOTEBOOKS_DIR, notebook))) as { cells: RawCell[] };
  const cell = nb.cells.find((c) => c.cell_type === "code")!;
  let source = joinText(cell.source);
  for (const [name, value] of Object.entries(edits)) {
    const next = source.replace(new RegExp(`^const ${name} = .*?;`, "m"), `const ${name} = ${value};`);
    assert.notEqual(next, source, `${notebook}: no parameter ${name} to edit`);
    source = next;
  }
  cell.source = source;
  await Deno.writeTextFile(out, JSON.stringify(nb));
  return out;
}

/** Markdown and code of a notebook as committed, for checks on what it says. */
async function notebookText(notebook: string): Promise<string> {
  const nb = JSON.parse(await Deno.readTextFile(join(NOTEBOOKS_DIR, notebook))) as { cells: RawCell[] };
  return nb.cells.map((c) => joinText(c.source)).join("\n");
}

/** Every file under a folder with its content, to show a run left it as it was. */
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

const byKey = (rows: Record<string, unknown>[], key: string) => new Map(rows.map((r) => [String(r[key]), r]));

// ---------------------------------------------------------------------------------------------------------
// Fixtures: the archive, the model server

interface Question {
  db_id: string;
  question: string;
  difficulty?: string;
  SQL: string;
}

/**
 * The test model server's models: `gold-model` answers the gold SQL (must score 100.00), `mixed-model` the
 * server's fixed mix (20% wrong by a hash of the question), `teacher-model` writes chain-of-thought ending in the
 * gold SQL, except for a hashed fifth of the questions where the SQL at the end is wrong (to be rejected).
 */
function modelScript(answers: Map<string, string>): Script {
  const gold = goldScript(answers);
  const mixed = mixedScript(answers);
  // The standalone server's `--mode teacher`, so `deno task cot` against it behaves as this notebook run does.
  const teacher = teacherScript();
  return (req) => {
    if (req.model === "mixed-model") return mixed(req);
    if (req.model === "teacher-model") return teacher(req);
    return gold(req);
  };
}

/**
 * A tiny dev set in BIRD's layout with two databases (`alpha`, `beta`), three questions each, so a notebook's
 * default selection (every database of a non-sample dataset) can be seen to take both.
 */
async function tinyMultiDbDataset(dir: string): Promise<{ file: string; questions: Question[] }> {
  const questions: Question[] = [];
  for (const db of ["alpha", "beta"]) {
    await Deno.mkdir(join(dir, "dev_databases", db), { recursive: true });
    const sqlite = new DatabaseSync(join(dir, "dev_databases", db, `${db}.sqlite`));
    sqlite.exec("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT, price REAL);");
    for (let i = 1; i <= 5; i++) sqlite.exec(`INSERT INTO item VALUES (${i}, '${db}-${i}', ${i * 1.5});`);
    sqlite.close();
    questions.push(
      {
        db_id: db,
        question: `How many items are in ${db}?`,
        difficulty: "simple",
        SQL: "SELECT COUNT(*) FROM item",
      },
      {
        db_id: db,
        question: `Which ${db} items cost more than 4?`,
        difficulty: "moderate",
        SQL: "SELECT name FROM item WHERE price > 4",
      },
      {
        db_id: db,
        question: `What is the most expensive ${db} item?`,
        difficulty: "challenging",
        SQL: "SELECT name FROM item ORDER BY price DESC LIMIT 1",
      },
    );
  }
  const file = join(dir, "dev.json");
  await Deno.writeTextFile(
    file,
    JSON.stringify(questions.map((q, i) => ({ question_id: i, evidence: "", ...q }))),
  );
  return { file, questions };
}

/** The mixed model's expected accuracy on the first `limit` superhero questions: its wrong bucket is known. */
function mixedAccuracy(questions: Question[], limit: number): string {
  const selected = questions.filter((q) => q.db_id === "superhero").slice(0, limit);
  const wrong = selected.filter((q) => fnv1a(q.question.trim()) % 10 < 2).length;
  return (100 * (selected.length - wrong) / selected.length).toFixed(2);
}

/** The environment of the executor and kernel: this process's, minus any notebook parameter or key, plus ours. */
function kernelEnv(extra: Record<string, string>): Record<string, string> {
  const env = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) =>
      !k.startsWith("TEXT2SQL_") && !/_API_KEY$/.test(k) && k !== "HF_TOKEN"
    ),
  );
  return { ...env, NO_COLOR: "1", ...extra };
}

// ---------------------------------------------------------------------------------------------------------
// The test

Deno.test({
  name:
    "notebooks: all six execute headlessly in order with every expected output, rerun cheaply, export to HTML",
  // The kernel and the servers outlive single steps; resources are closed in `finally`.
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    // Fails (never skips) with the install command when Jupyter or the kernel is missing. The kernel is
    // registered in a private folder: the user's own registration is left alone.
    const kernel = await privateKernel();
    const setup = await checkNotebookSetup({ env: kernel.env });
    await checkNbconvert();
    const before = await snapshot(NOTEBOOKS_DIR);
    const tmp = await Deno.makeTempDir({ prefix: "text2sql-notebooks-" });
    const questions = JSON.parse(await Deno.readTextFile(SAMPLE_DATASET)) as Question[];
    const archive = startArchiveServer({
      "/dev.zip": await devArchive({ questions: questions.filter((q) => q.db_id === "superhero") }),
    });
    const tiny = await tinyMultiDbDataset(join(tmp, "tiny_dev"));
    const models = await startFakeOpenAI({
      models: ["gold-model", "mixed-model", "teacher-model"].map((id) => ({ id, max_model_len: 8192 })),
      script: modelScript(
        new Map([...await answersFromDataset(SAMPLE_DATASET), ...await answersFromDataset(tiny.file)]),
      ),
    });
    const executed = join(tmp, "executed");
    const dirs = {
      data: join(tmp, "data"),
      runs: join(tmp, "runs"),
      reports: join(tmp, "reports"),
      cache: join(tmp, "cache"),
    };
    const env = kernelEnv({
      ...kernel.env,
      XDG_CACHE_HOME: dirs.cache,
      // A private completion cache, but Deno's own cache as it is (a cold one costs every kernel half a minute).
      DENO_DIR: denoDir(),
      TEXT2SQL_BIRD_URL_DEV: archive.url("/dev.zip"),
      TEXT2SQL_DATA_DIR: dirs.data,
      TEXT2SQL_RUNS_DIR: dirs.runs,
      TEXT2SQL_REPORTS_DIR: dirs.reports,
      TEXT2SQL_MODELS: "gold-model,mixed-model",
      TEXT2SQL_TEACHER_MODEL: "teacher-model",
      TEXT2SQL_BASE_URL: models.url,
      // 01 downloads a dev set here: without this, 02 would use it by default (tested on its own below).
      TEXT2SQL_DATASET: SAMPLE_DATASET,
      TEXT2SQL_DB: "superhero",
      TEXT2SQL_LIMIT: String(LIMIT),
    });
    const paths: Record<string, string> = {};
    try {
      await t.step("01_download: downloads from the local archive server, verifies, summarises", async () => {
        paths["01"] = await execute(setup, "01_download.ipynb", executed, env);
        assertOutputs("01_download", await codeCells(paths["01"]), [
          [],
          [{ kind: "table" }],
          [
            { kind: "progress" },
            { kind: "text", match: new RegExp(`Downloaded BIRD dev from ${archive.url("/dev.zip")}`) },
          ],
          [{
            kind: "table",
            rows: (rows) => {
              const n = byKey(rows, "difficulty");
              assert.deepEqual(
                ["simple", "moderate", "challenging", "total"].map((d) => n.get(d)?.questions),
                [81, 33, 15, 129],
              );
            },
          }],
          [{
            kind: "table",
            rows: (rows) => assert.equal(byKey(rows, "db_id").get("superhero")?.questions, 129),
          }],
        ]);
        assert.ok(archive.requests.length >= 1, "the archive server was never asked");
        await Deno.stat(join(dirs.data, "dev_20240627", "dev_databases", "superhero", "superhero.sqlite"));
      });

      await t.step("01_download again: finds the verified dataset and makes no request", async () => {
        const before = archive.requests.length;
        const again = await execute(setup, "01_download.ipynb", executed, env, ".rerun");
        const cells = await codeCells(again);
        assert.ok(
          cells[2].outputs.some((o) => /already verified, nothing fetched/.test(o.text)),
          "rerun did not report the dataset as already there",
        );
        assert.equal(archive.requests.length, before, "rerunning 01 requested the archive again");
      });

      const gold = "100.00";
      const mixed = mixedAccuracy(questions, LIMIT);
      await t.step(`02_evaluate: gold model ${gold}, mixed model ${mixed}, baseline scored`, async () => {
        paths["02"] = await execute(setup, "02_evaluate.ipynb", executed, env);
        // The official-style table: the count row ends with the total, the accuracy row with the total accuracy.
        const accuracyRow = (model: string, total: string) =>
          new RegExp(
            `${model}\\n[\\s\\S]*?count\\s+\\d+\\s+\\d+\\s+\\d+\\s+${LIMIT}\\s` +
              `[\\s\\S]*?accuracy\\s+[\\d.]+\\s+[\\d.]+\\s+[\\d.]+\\s+${total}\\s`,
          );
        assertOutputs("02_evaluate", await codeCells(paths["02"]), [
          [],
          [
            { kind: "table" },
            {
              kind: "text",
              match: new RegExp(`^selected: ${LIMIT} questions on 1 database \\(DB superhero`),
            },
          ],
          [
            {
              kind: "progress",
              match: new RegExp(
                `evaluate gpt-3\\.5-turbo-evidence: .* 0 from the run log, 0 from the completion cache, ` +
                  `${LIMIT} scored from the predictions file`,
              ),
            },
            {
              kind: "progress",
              match: new RegExp(
                `evaluate gold-model: .* 0 from the run log, 0 from the completion cache, ${LIMIT} asked`,
              ),
            },
            { kind: "progress", match: /evaluate mixed-model/ },
            {
              kind: "table",
              rows: (rows) => {
                assert.deepEqual(rows.map((r) => r.model), [
                  "gpt-3.5-turbo-evidence",
                  "gold-model",
                  "mixed-model",
                ]);
                assert.ok(rows.every((r) => r.new === LIMIT && r.from_run_log === 0 && r.from_cache === 0));
                assert.deepEqual(rows.map((r) => r.run), [
                  `gpt-3.5-turbo-evidence-superhero-first${LIMIT}`,
                  `gold-model-superhero-first${LIMIT}`,
                  `mixed-model-superhero-first${LIMIT}`,
                ]);
              },
            },
          ],
          [
            { kind: "text", match: /gold-model\n[\s\S]*?accuracy\s+100\.00\s+100\.00\s+100\.00\s+100\.00\s/ },
            { kind: "text", match: accuracyRow("mixed-model", mixed.replace(".", "\\.")) },
            { kind: "text", match: accuracyRow("gpt-3.5-turbo-evidence", "\\d+\\.\\d\\d") },
          ],
          [{
            kind: "table",
            rows: (rows) => {
              const m = byKey(rows, "model");
              assert.equal(m.get("gold-model")?.total, 100);
              assert.equal(Number(m.get("mixed-model")?.total).toFixed(2), mixed);
              assert.equal(m.get("gold-model")?.total_count, LIMIT);
            },
          }],
          [{ kind: "chart", chart: "accuracy-by-difficulty" }],
          [{
            kind: "table",
            rows: (rows) => {
              assert.equal(rows.length, 3);
              assert.ok(!("run" in rows[0]), "the error table repeats the run beside the model");
            },
          }],
          [{ kind: "chart", chart: "error-taxonomy" }],
        ]);
        assert.deepEqual(
          (await notebookRuns(dirs.runs)).map((d) => d.split("/").at(-1)),
          ["gpt-3.5-turbo-evidence", "gold-model", "mixed-model"].map((m) => `${m}-superhero-first${LIMIT}`),
          "a run folder is named by what defines it: model and selection",
        );
        // Numbers formatted one way: accuracies with two decimals, in every table.
        const html = (await codeCells(paths["02"]))[4].outputs.find((o) => o.rows !== null)!.html!;
        assert.match(html, /<td class="num">100\.00<\/td>/);
      });

      await t.step("02_evaluate again: resumes the finished runs, no model call", async () => {
        const before = models.requests.length;
        const again = await execute(setup, "02_evaluate.ipynb", executed, env, ".rerun");
        const cells = await codeCells(again);
        assert.ok(cells[3].outputs.some((o) => /gold-model\n[\s\S]*?accuracy\s+100\.00/.test(o.text)));
        for (const model of ["gpt-3.5-turbo-evidence", "gold-model", "mixed-model"]) {
          const line = new RegExp(
            `evaluate ${model.replaceAll(".", "\\.")}: .* ${LIMIT} from the run log, 0 from the completion ` +
              "cache, 0 (asked the model|scored from the predictions file)",
          );
          assert.ok(cells[2].outputs.some((o) => line.test(o.text)), `the rerun of ${model} does not say so`);
        }
        const calls = models.requests.slice(before).filter((r) => r.path.endsWith("/chat/completions"));
        assert.equal(calls.length, 0, "rerunning 02 called the model again");
      });

      await t.step(
        "02 edited as a user would: a dev set of two databases is selected whole; adding a model runs only it",
        async () => {
          // No TEXT2SQL_MODELS, _DB or _LIMIT: the Parameters cell decides.
          const own = Object.fromEntries(
            Object.entries(env).filter(([k]) =>
              !["TEXT2SQL_MODELS", "TEXT2SQL_DB", "TEXT2SQL_LIMIT"].includes(k)
            ),
          );
          own.TEXT2SQL_DATASET = tiny.file;
          own.TEXT2SQL_RUNS_DIR = join(tmp, "runs-edited");
          const chat = (from: number) =>
            models.requests.slice(from).filter((r) => r.path.endsWith("/chat/completions"));
          const n = tiny.questions.length;

          const one = await withParameter(
            "02_evaluate.ipynb",
            { MODELS: '["gold-model"]' },
            join(tmp, "02_one.ipynb"),
          );
          let before = models.requests.length;
          const first = await codeCells(
            await execute(setup, "02_evaluate.ipynb", executed, own, ".one", one),
          );
          assert.ok(
            first[1].outputs.some((o) =>
              new RegExp(`^selected: ${n} questions on 2 databases \\(all of `).test(o.text)
            ),
            `02 did not select both databases: ${first[1].outputs.map((o) => o.text).join(" | ")}`,
          );
          const rows = first[2].outputs.find((o) => o.rows !== null)!.rows!;
          assert.deepEqual(rows.map((r) => [r.model, r.questions, r.accuracy]), [["gold-model", n, 100]]);
          assert.equal(chat(before).length, n);

          const two = await withParameter(
            "02_evaluate.ipynb",
            { MODELS: '["gold-model", "mixed-model"]' },
            join(tmp, "02_two.ipynb"),
          );
          before = models.requests.length;
          const second = await codeCells(
            await execute(setup, "02_evaluate.ipynb", executed, own, ".two", two),
          );
          assert.deepEqual(
            [...new Set(chat(before).map((r) => r.body?.model))],
            ["mixed-model"],
            "adding a model called the model already evaluated",
          );
          assert.equal(chat(before).length, n);
          assert.ok(
            second[2].outputs.some((o) =>
              new RegExp(
                `evaluate gold-model: .* ${n} from the run log, 0 from the completion cache, 0 asked`,
              )
                .test(o.text)
            ),
            "the evaluated model did not come back from its run folder",
          );
          assert.deepEqual(
            second[2].outputs.find((o) => o.rows !== null)!.rows!.map((
              r,
            ) => [r.model, r.from_run_log, r.new]),
            [["gold-model", n, 0], ["mixed-model", 0, n]],
          );
        },
      );

      await t.step(
        "02 as a person drives it: a new LIMIT is a run of its own; every error stops Run All at its cell in one line",
        async () => {
          // The Parameters cell decides the limit. A runs folder of its own (06 compares the one above), holding a
          // copy of the LIMIT 30 run of gold-model, as the folder above does.
          const own = Object.fromEntries(
            Object.entries(env).filter(([k]) => k !== "TEXT2SQL_LIMIT" && k !== "TEXT2SQL_DB"),
          );
          own.TEXT2SQL_MODELS = "gold-model";
          own.TEXT2SQL_RUNS_DIR = join(tmp, "runs-person");
          const personRuns = join(own.TEXT2SQL_RUNS_DIR, "notebooks");
          await Deno.mkdir(join(personRuns, `gold-model-superhero-first${LIMIT}`), { recursive: true });
          for (const file of ["run.json", "results.jsonl", "summary.json", "predict_dev.json"]) {
            await Deno.copyFile(
              join(dirs.runs, "notebooks", `gold-model-superhero-first${LIMIT}`, file),
              join(personRuns, `gold-model-superhero-first${LIMIT}`, file),
            );
          }
          const twenty = await withParameter(
            "02_evaluate.ipynb",
            { LIMIT: "20" },
            join(tmp, "02_limit20.ipynb"),
          );
          const before = models.requests.length;
          const cells = await codeCells(
            await execute(setup, "02_evaluate.ipynb", executed, own, ".limit20", twenty),
          );
          const rows = cells[2].outputs.find((o) => o.rows !== null)!.rows!;
          // Its own folder (no refusal of the LIMIT 30 run), its answers all from the completion cache.
          assert.deepEqual(rows.map((r) => [r.run, r.from_run_log, r.from_cache, r.new]), [
            ["gpt-3.5-turbo-evidence-superhero-first20", 0, 0, 20],
            ["gold-model-superhero-first20", 0, 20, 0],
          ]);
          assert.equal(
            models.requests.slice(before).filter((r) => r.path.endsWith("/chat/completions")).length,
            0,
          );
          assert.deepEqual(
            (await notebookRuns(own.TEXT2SQL_RUNS_DIR)).map((d) => d.split("/").at(-1)),
            [
              "gpt-3.5-turbo-evidence-superhero-first20",
              "gold-model-superhero-first20",
              `gold-model-superhero-first${LIMIT}`,
            ],
          );

          const cases: {
            name: string;
            edits: Record<string, string>;
            env?: Record<string, string>;
            cell: number;
            line: RegExp;
            prepare?: () => Promise<void>;
            /** The notebook (default `02_evaluate.ipynb`). */
            notebook?: string;
          }[] = [
            {
              name: "a database that is not there",
              edits: { DB: '["california_schools"]' },
              cell: 1,
              line:
                /^the database california_schools is missing under .*: run 01_download\.ipynb to fetch them, or leave it out with DB in the Parameters cell/,
            },
            {
              name: "a bad LIMIT",
              edits: { LIMIT: "0" },
              cell: 1,
              line:
                /^LIMIT \(TEXT2SQL_LIMIT\) must be a positive integer, got 0: fix it in the Parameters cell$/,
            },
            {
              // A folder reused by hand: the LIMIT 30 run's description copied where the LIMIT 20 run goes.
              name: "a folder holding another run",
              edits: { LIMIT: "20" },
              env: { TEXT2SQL_MODELS: "mixed-model" },
              prepare: async () => {
                const folder = join(personRuns, "mixed-model-superhero-first20");
                await Deno.mkdir(folder, { recursive: true });
                await Deno.copyFile(
                  join(dirs.runs, "notebooks", `mixed-model-superhero-first${LIMIT}`, "run.json"),
                  join(folder, "run.json"),
                );
              },
              cell: 2,
              line:
                /mixed-model-superhero-first20 holds a run made with other settings \(selection\): set the Parameters cell back/,
            },
            {
              name: "a dead endpoint",
              edits: { LIMIT: "20" },
              env: { TEXT2SQL_BASE_URL: "http://127.0.0.1:9/v1", TEXT2SQL_MODELS: "dead-model" },
              cell: 2,
              line: /^cannot reach http:\/\/127\.0\.0\.1:9\/v1: .*set BASE_URL in the Parameters cell/,
            },
            {
              name: "a missing API key",
              edits: { LIMIT: "20" },
              env: { TEXT2SQL_BASE_URL: "", TEXT2SQL_PROVIDER: "together", TEXT2SQL_MODELS: "keyless-model" },
              cell: 2,
              line:
                /^provider together needs an API key: set TOGETHER_API_KEY in the environment Jupyter was started from/,
            },
            {
              name: "03 with a database that is not there",
              notebook: "03_sft_dataset.ipynb",
              edits: { DB: '["formula_1"]' },
              cell: 1,
              line: /^the database formula_1 is missing under .*leave it out with DB in the Parameters cell/,
            },
            {
              name: "04 without a teacher",
              notebook: "04_cot_dataset.ipynb",
              // TEACHER_MODEL is "" in the committed cell; the test's environment sets one, cleared here.
              edits: { LIMIT: "3" },
              env: { TEXT2SQL_TEACHER_MODEL: "", TEXT2SQL_MODELS: "" },
              cell: 1,
              line: /^no teacher model: set TEACHER_MODEL in the Parameters cell/,
            },
            {
              name: "05 with a config file that is not there",
              notebook: "05_finetune.ipynb",
              edits: { TRAIN_CONFIG: '"trainer/configs/no_such.json"' },
              cell: 1,
              line: /no_such\.json.*\(check TRAIN_CONFIG and METRICS in the Parameters cell/,
            },
          ];
          for (const c of cases) {
            await c.prepare?.();
            const notebook = c.notebook ?? "02_evaluate.ipynb";
            const nb = await withParameter(notebook, c.edits, join(tmp, `stop_${notebook}`));
            const caseEnv = { ...own, ...c.env };
            if (c.env?.TEXT2SQL_BASE_URL === "") delete caseEnv.TEXT2SQL_BASE_URL;
            // As JupyterLab's Run All: every cell sent at once; Deno's kernel runs the queued ones after an error.
            const out = join(tmp, "run_all.json");
            const run = await new Deno.Command(setup.python, {
              args: [RUN_ALL, nb, "--out", out, "--cwd", NOTEBOOKS_DIR, "--timeout", "120"],
              env: caseEnv,
              clearEnv: true,
              stdout: "piped",
              stderr: "piped",
            }).output();
            assert.ok(run.success, `${c.name}: run all failed: ${new TextDecoder().decode(run.stderr)}`);
            const all = JSON.parse(await Deno.readTextFile(out)) as {
              status: string;
              outputs: { output_type: string; evalue?: string; traceback?: string[] }[];
            }[];
            const errors = all.flatMap((cell, i) =>
              cell.outputs.filter((o) => o.output_type === "error").map((o) => ({ i, o }))
            );
            assert.equal(
              errors.length,
              1,
              `${c.name}: ${errors.length} error outputs: ${JSON.stringify(errors)}`,
            );
            const [{ i, o }] = errors;
            assert.equal(i, c.cell, `${c.name}: stopped at code cell ${i + 1}, not ${c.cell + 1}`);
            assert.match(o.evalue!, c.line, c.name);
            // One line, no stack frame.
            assert.deepEqual(
              o.traceback,
              [`Stopped: ${o.evalue}`],
              `${c.name}: traceback ${JSON.stringify(o.traceback)}`,
            );
            all.slice(c.cell + 1).forEach((cell, k) =>
              assert.deepEqual(
                cell.outputs,
                [],
                `${c.name}: code cell ${c.cell + k + 2} printed after the stop`,
              )
            );
            // A cell-by-cell executor (nbconvert) stops at the same cell with the same line.
            const partial = join(tmp, "stop.executed.ipynb");
            const exec = await new Deno.Command(setup.python, {
              args: [EXECUTOR, nb, "--out", partial, "--timeout", "120", "--cwd", NOTEBOOKS_DIR],
              env: caseEnv,
              clearEnv: true,
              stdout: "piped",
              stderr: "piped",
            }).output();
            assert.equal(exec.success, false, `${c.name}: nbconvert ran through`);
            const executedCells = await codeCells(partial);
            const error = executedCells[c.cell].outputs.find((x) => x.type === "error");
            assert.match(
              error?.text ?? "",
              new RegExp(c.line.source.replace(/^\^/, "")),
              `${c.name} (nbconvert)`,
            );
            for (const later of executedCells.slice(c.cell + 1)) assert.deepEqual(later.outputs, []);
          }
        },
      );

      const sftCheck = (kind: string) => (rows: Record<string, unknown>[]) => {
        assert.equal(rows.length, 3, `${kind}: train, test and all rows`);
        const all = byKey(rows, "split").get("all")!;
        assert.ok(
          Number(all.prompt_mean) > 500,
          `${kind}: prompts with a schema are long: ${all.prompt_mean}`,
        );
      };
      await t.step(
        "03_sft_dataset: builds the SFT split with lengths and a prompt-length chart",
        async () => {
          paths["03"] = await execute(setup, "03_sft_dataset.ipynb", executed, env);
          assertOutputs("03_sft_dataset", await codeCells(paths["03"]), [
            [],
            [{ kind: "table" }, {
              kind: "text",
              match: new RegExp(`^selected: ${LIMIT} questions on 1 database`),
            }],
            // The gold audit: the first 30 superhero questions hold a tie and an evidence mismatch, neither
            // excluded by default (0 dropped below).
            [{ kind: "text", match: new RegExp(`^audit: ${LIMIT} questions, \\d+ clean, 1 severe`) }, {
              kind: "table",
            }],
            [
              { kind: "text", match: /wrote .*datasets\/sft: \d+ train, \d+ test, 0 dropped/ },
              {
                kind: "table",
                rows: ([c]) => {
                  assert.equal(c.kept, LIMIT);
                  assert.equal(Number(c.train) + Number(c.test), LIMIT);
                  assert.ok(
                    Number(c.train) > 0 && Number(c.test) > 0,
                    "both sides of the split have examples",
                  );
                },
              },
            ],
            [{ kind: "text", match: /^tokenizer: / }, { kind: "table", rows: sftCheck("sft") }],
            [{ kind: "chart", chart: "prompt-lengths" }],
            [{ kind: "text", match: /no question dropped/ }],
            [
              { kind: "text", match: /^--- system\n/ },
              // The schema is cut short; the question at the end stays.
              {
                kind: "text",
                match:
                  /^--- user\n-- DB Schema: CREATE TABLE[\s\S]*more characters of schema\)[\s\S]*\n-- Question: \S/,
              },
              { kind: "text", match: /^--- assistant\nSELECT /i },
            ],
          ]);
        },
      );

      const rejected = questions.filter((q) => q.db_id === "superhero").slice(0, LIMIT)
        .filter((q) => fnv1a(q.SQL.trim()) % 5 === 0).length;
      await t.step(
        `04_cot_dataset: teacher answers verified by execution (${rejected} rejected)`,
        async () => {
          paths["04"] = await execute(setup, "04_cot_dataset.ipynb", executed, env);
          assertOutputs("04_cot_dataset", await codeCells(paths["04"]), [
            [],
            [{ kind: "table" }, {
              kind: "text",
              match: new RegExp(`^selected: ${LIMIT} questions on 1 database`),
            }],
            [
              // The teacher's progress shows in the notebook, not in the Jupyter server's log.
              {
                kind: "progress",
                match: new RegExp(`teacher teacher-model: ${LIMIT} done .* ${LIMIT} teacher requests`),
              },
              {
                kind: "text",
                match: new RegExp(`wrote .*datasets/cot: ${LIMIT - rejected} kept, ${rejected} rejected`),
              },
              {
                kind: "table",
                rows: ([c]) => {
                  assert.equal(c.kept, LIMIT - rejected);
                  assert.equal(c.rejected, rejected);
                  assert.equal(c.requests, LIMIT, "one teacher request per question");
                },
              },
            ],
            [
              rejected > 0
                ? {
                  kind: "table",
                  rows: (rows) => {
                    assert.equal(rows.length, rejected);
                    for (const r of rows) assert.equal(r.reason, "different_result");
                  },
                }
                : { kind: "text", match: /no answer rejected/ },
            ],
            [{ kind: "table", rows: sftCheck("cot") }],
            [{ kind: "chart", chart: "prompt-lengths" }],
            [{
              kind: "text",
              match: /--- assistant \(a kept answer\)\nLet me think step by step[\s\S]*```sql\n[\s\S]+\n```/,
            }],
          ]);
        },
      );

      await t.step(
        "04_cot_dataset again: finished questions come from progress.jsonl, no request",
        async () => {
          const before = models.requests.length;
          const cells = await codeCells(
            await execute(setup, "04_cot_dataset.ipynb", executed, env, ".rerun"),
          );
          assert.ok(
            cells[2].outputs.some((o) => / 0 teacher requests/.test(o.text)),
            "the rerun asked the teacher",
          );
          assert.equal(
            models.requests.filter((r, i) => i >= before && r.path.endsWith("/chat/completions")).length,
            0,
          );
        },
      );

      await t.step("05_finetune: dry-run command, live loss chart from the recorded stream", async () => {
        paths["05"] = await execute(setup, "05_finetune.ipynb", executed, env);
        assertOutputs("05_finetune", await codeCells(paths["05"]), [
          [],
          [
            {
              kind: "text",
              match: /^config .*llama31_8b_qlora\.json: qlora, base meta-llama\/Llama-3\.1-8B-Instruct/,
            },
            // 05 trains on 03's output when there is one.
            {
              kind: "text",
              match: new RegExp(`dataset ${dirs.runs}/datasets/sft: \\d+ train, \\d+ test examples`),
            },
            {
              kind: "table",
              rows: (rows) => assert.equal(byKey(rows, "setting").get("lora.r")?.value, "256"),
            },
          ],
          [{ kind: "text", match: /run --rm --gpus all [\s\S]* -e HF_TOKEN [\s\S]*train\.py/ }],
          [
            { kind: "chart", chart: "loss-curve" },
            // The replayed stream is named for what it is: a real run, of a tiny model on CPU.
            {
              kind: "text",
              match:
                /^\[chart: Training loss, replayed: metrics_cpu_tiny\.jsonl \(a real trainer run, but of a tiny random .* on CPU, .*\), 40 steps\]$/,
            },
          ],
          [{
            kind: "table",
            rows: (rows) => assert.ok(rows.length >= 1 && rows.every((r) => Number(r.eval_loss) > 0)),
          }],
          [{
            kind: "table",
            rows: (rows) => {
              assert.equal(rows.length, 5);
              // An SFT stream's columns, as before GRPO had any: no reward column, empty or not.
              assert.deepEqual(Object.keys(rows[0]), SFT_TRAIN_COLUMNS);
            },
          }],
        ]);
        const text = await Deno.readTextFile(paths["05"]);
        assert.ok(!/hf_[A-Za-z0-9]{20,}/.test(text), "a token value leaked into the notebook");
        // No GRPO chart, nor a note about one, for an SFT stream: its charts and tables as before.
        const shown = (await codeCells(paths["05"])).slice(3).flatMap((c) => c.outputs);
        assert.ok(
          !shown.some((o) => /grpo|reward/i.test(o.text + (o.html ?? ""))),
          "GRPO output for an SFT stream",
        );
      });

      await t.step("06_analysis: compares the runs, paired test, writes the report", async () => {
        paths["06"] = await execute(setup, "06_analysis.ipynb", executed, env);
        const report = join(dirs.reports, "notebook-analysis.html");
        assertOutputs("06_analysis", await codeCells(paths["06"]), [
          [],
          [{
            kind: "table",
            rows: (rows) => assert.equal(byKey(rows, "parameter").get("runsDir")?.value, dirs.runs),
          }],
          [{
            kind: "table",
            rows: (rows) => {
              // The leaderboard: every run once, best EX first, gold-model on top at 100.
              assert.deepEqual(rows.map((r) => r.model).sort(), [
                "gold-model",
                "gpt-3.5-turbo-evidence",
                "mixed-model",
              ]);
              assert.equal(rows[0].model, "gold-model");
              assert.equal(rows[0].EX, 100);
              const ex = rows.map((r) => Number(r.EX));
              assert.deepEqual(ex, [...ex].sort((a, b) => b - a));
              assert.deepEqual(rows.map((r) => r.dialect), ["sqlite", "sqlite", "sqlite"]);
              assert.equal(byKey(rows, "model").get("gpt-3.5-turbo-evidence")?.tokens, null);
            },
          }],
          [{
            kind: "table",
            rows: (rows) => assert.equal(byKey(rows, "model").get("gold-model")?.total, 100),
          }],
          [{ kind: "chart", chart: "accuracy-by-difficulty" }],
          [{ kind: "table" }],
          [{ kind: "chart", chart: "error-taxonomy" }],
          [{ kind: "table" }],
          [{
            kind: "table",
            rows: (rows) => {
              assert.equal(rows.length, 2);
              for (const r of rows) assert.equal(r.n, LIMIT);
            },
          }],
          [
            { kind: "text", match: new RegExp(`^${LIMIT} common questions`) },
            { kind: "text", match: /^only gpt-3\.5-turbo-evidence: \d+; only mixed-model: \d+/ },
            { kind: "table" },
          ],
          [{ kind: "chart", chart: "token-usage" }],
          [{ kind: "text", match: /^no voting or agent run: set MODE/ }],
          [{ kind: "text", match: new RegExp(`report: ${report.replaceAll(".", "\\.")} \\(3 runs\\)`) }],
        ]);
        const html = await Deno.readTextFile(report);
        assert.match(html, /gold-model/);
        assert.match(html, /data-chart="accuracy-by-difficulty"/);
      });

      await t.step(
        "defaults: no model set, 02 scores only the bundled baseline, 06 has nothing to pair",
        async () => {
          // As a user who sets nothing (but runs and caches still in the temporary folder).
          const plain = Object.fromEntries(
            Object.entries(env).filter(([k]) => !k.startsWith("TEXT2SQL_") || k === "TEXT2SQL_REPORTS_DIR"),
          );
          plain.TEXT2SQL_RUNS_DIR = join(tmp, "runs-defaults");
          // No dev downloaded there: the bundled sample, whose only database is superhero.
          plain.TEXT2SQL_DATA_DIR = join(tmp, "no-data");
          const nb02 = await codeCells(
            await execute(setup, "02_evaluate.ipynb", executed, plain, ".defaults"),
          );
          assert.ok(
            nb02[1].outputs.some((o) =>
              /^selected: 129 questions on 1 database \(DB superhero of /.test(o.text)
            ),
            "02 does not say what it selected",
          );
          const summary = nb02[2].outputs.find((o) => o.rows !== null)?.rows;
          assert.deepEqual(summary?.map((r) => [r.model, r.questions]), [["gpt-3.5-turbo-evidence", 129]]);
          assert.match(String(summary?.[0].accuracy), /^\d+(\.\d+)?$/);
          const nb06 = await codeCells(
            await execute(setup, "06_analysis.ipynb", executed, plain, ".defaults"),
          );
          assert.ok(nb06[8].outputs.some((o) => /only one run: nothing to compare/.test(o.text)));
          assert.ok(nb06.at(-1)!.outputs.some((o) => /report: .* \(1 run\)$/m.test(o.text)));
          assert.ok(
            !nb06.some((c) => c.outputs.some((o) => o.type === "execute_result")),
            "a cell echoes a value",
          );
        },
      );

      await t.step(
        "notebook:html exports the executed 06; its charts render with size in Chromium",
        async () => {
          const out = join(tmp, "html", "06_analysis.html");
          // --saved: the outputs the notebook holds, as they are.
          const { html, executed: reran } = await exportNotebookHtml(paths["06"], { out, saved: true });
          assert.equal(html, out);
          assert.equal(reran, false, "--saved executed the notebook");
          const text = await Deno.readTextFile(out);
          assert.match(text, /data-chart="accuracy-by-difficulty"/);
          await withBrowserPage(out, async (page) => {
            // Kept for people and CI artifacts (tests/.tmp/ is gitignored).
            await Deno.mkdir(SCREENSHOT_DIR, { recursive: true });
            await page.screenshot({ path: join(SCREENSHOT_DIR, "notebook_06_analysis.png"), fullPage: true });
            const charts = await page.evaluate(
              `[...document.querySelectorAll("figure[data-chart]")].map((f) => {
            const marks = [...f.querySelectorAll("svg rect, svg path, svg circle")].filter((m) => {
              const r = m.getBoundingClientRect();
              return r.width > 0 && r.height > 0;
            });
            const box = f.getBoundingClientRect();
            return { chart: f.getAttribute("data-chart"), marks: marks.length, width: box.width, height: box.height };
          })`,
            ) as { chart: string; marks: number; width: number; height: number }[];
            const kinds = charts.map((c) => c.chart);
            for (const kind of ["accuracy-by-difficulty", "error-taxonomy", "token-usage"]) {
              assert.ok(kinds.includes(kind), `no ${kind} chart on the page: ${kinds.join(", ")}`);
            }
            for (const c of charts) {
              assert.ok(c.width > 100 && c.height > 50, `${c.chart} figure is ${c.width}×${c.height}`);
              assert.ok(c.marks >= 3, `${c.chart} has ${c.marks} marks with a size`);
            }
            const tables = await page.evaluate(
              `[...document.querySelectorAll("table")].filter((t) => t.getBoundingClientRect().height > 0).length`,
            ) as number;
            assert.ok(tables >= 5, `only ${tables} visible tables`);
          });
        },
      );

      await t.step(
        "notebook:html executes a notebook first (into a temporary copy), unless --saved",
        async () => {
          const out = join(tmp, "html", "06_cli.html");
          const saved = Deno.env.toObject();
          // The command's executor inherits this process's environment, so point it at the test's folders.
          const ours = (k: string) =>
            k.startsWith("TEXT2SQL_") || k.startsWith("JUPYTER_") || k === "XDG_CACHE_HOME";
          for (const [k, v] of Object.entries(env)) {
            if (ours(k)) Deno.env.set(k, v);
          }
          try {
            const status = await notebookHtmlCommand([
              join(NOTEBOOKS_DIR, "06_analysis.ipynb"),
              "--out",
              out,
            ]);
            assert.equal(status, 0);
          } finally {
            for (const k of Object.keys(env)) {
              if (ours(k)) {
                if (saved[k] === undefined) Deno.env.delete(k);
                else Deno.env.set(k, saved[k]);
              }
            }
          }
          const text = await Deno.readTextFile(out);
          assert.match(text, /data-chart="error-taxonomy"/);
          assert.match(text, /notebook-analysis\.html/);
        },
      );
      await t.step("the notebooks folder is untouched: no rewritten notebook, no new file", async () => {
        assert.deepEqual(await snapshot(NOTEBOOKS_DIR), before);
      });
    } finally {
      await archive.close();
      await models.close();
      await kernel.remove();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});

/** The columns of an SFT stream's train table in `05`. */
const SFT_TRAIN_COLUMNS = ["step", "epoch", "loss", "lr", "grad_norm", "tokens_per_s", "gpu_mem_gb"];

/** The figures of a GRPO chart's output, by panel: whether each holds an SVG and how many dots it draws. */
function grpoPanels(html: string): Record<string, { svg: boolean; dots: number; lines: number }> {
  interface El {
    getAttribute(n: string): string | null;
    querySelectorAll(s: string): El[];
  }
  const { document } = parseHTML(`<html><body>${html}</body></html>`) as unknown as {
    document: { querySelectorAll(s: string): El[] };
  };
  return Object.fromEntries(
    [...document.querySelectorAll('[data-chart="grpo-metrics"] > figure')].map((f) => [
      f.getAttribute("data-chart"),
      {
        svg: f.querySelectorAll("svg").length > 0,
        dots: f.querySelectorAll('g[aria-label="dot"] circle').length,
        lines: f.querySelectorAll('g[aria-label="line"] path').length,
      },
    ]),
  );
}

Deno.test({
  name:
    "05 replays a recorded GRPO run: reward, frac_reward_zero_std, KL and grad_norm charted, GRPO columns, no error",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const kernel = await privateKernel();
    const setup = await checkNotebookSetup({ env: kernel.env });
    const tmp = await Deno.makeTempDir({ prefix: "text2sql-05-grpo-" });
    try {
      // 03's SFT conversations are there: a GRPO config must not train on them (it takes its prompt rows).
      const sft = join(tmp, "runs", "datasets", "sft");
      await Deno.mkdir(sft, { recursive: true });
      for (const f of ["train.jsonl", "test.jsonl"]) {
        await Deno.copyFile(join(TRAINER_DIR, "fixtures", "sft_sample", f), join(sft, f));
      }
      const env = kernelEnv({
        ...kernel.env,
        XDG_CACHE_HOME: join(tmp, "cache"),
        DENO_DIR: denoDir(),
        TEXT2SQL_RUNS_DIR: join(tmp, "runs"),
        TEXT2SQL_TRAIN_CONFIG: "trainer/configs/llama31_8b_grpo.json",
        TEXT2SQL_METRICS: SAMPLE_GRPO_METRICS,
      });
      const out = await execute(setup, "05_finetune.ipynb", join(tmp, "executed"), env, ".grpo");
      const cells = await codeCells(out);
      const grpoTitle = new RegExp(
        "^\\[chart: GRPO reward and learning signal, replayed: metrics_grpo_cpu_tiny\\.jsonl \\(a real GRPO run .*" +
          "tiny random .* on CPU.*\\), 4 steps: reward ± batch std, frac_reward_zero_std, kl, grad_norm\\]$",
      );
      assertOutputs("05_finetune (GRPO)", cells, [
        [],
        [
          {
            kind: "text",
            match: /^config .*llama31_8b_grpo\.json: grpo, base meta-llama\/Llama-3\.1-8B-Instruct/,
          },
          { kind: "text", match: /^dataset .*trainer\/fixtures\/grpo_sample: 7 train, 5 test examples/ },
          {
            kind: "table",
            rows: (rows) => assert.equal(byKey(rows, "setting").get("grpo.num_generations")?.value, "16"),
          },
        ],
        [{
          kind: "text",
          match: /run --rm --gpus all [\s\S]* -e HF_TOKEN [\s\S]*TEXT2SQL_DB_ROOT[\s\S]*train\.py/,
        }],
        [
          { kind: "chart", chart: "loss-curve" },
          { kind: "chart", chart: "grpo-metrics" },
          { kind: "text", match: grpoTitle },
        ],
        [{ kind: "text", match: /^no eval lines in this metrics stream/ }],
        [{
          kind: "table",
          rows: (rows) => {
            assert.equal(rows.length, 4);
            assert.deepEqual(Object.keys(rows[0]), [
              "step",
              "epoch",
              "loss",
              "reward",
              "reward_std",
              "frac_reward_zero_std",
              "frac_correct",
              "frac_executable",
              "kl",
              "completion_length",
              "grad_norm",
              "lr",
              "gpu_mem_gb",
            ]);
            assert.deepEqual(rows.map((r) => r.frac_reward_zero_std), [0, 0, 0.5, 1]);
            assert.ok(rows.every((r, i) => i === 0 || Number(r.kl) > Number(rows[i - 1].kl)), "KL grows");
          },
        }],
      ]);
      // Every panel drawn as an SVG with one dot per step: the reward (with the share correct), the groups
      // without signal, KL (logged: beta > 0 in this run), the gradient norm.
      const chart = cells[3].outputs.find((o) => o.html?.includes('data-chart="grpo-metrics"'))!;
      const panels = grpoPanels(chart.html!);
      assert.deepEqual(Object.keys(panels), ["grpo-reward", "grpo-zero-std", "grpo-kl", "grpo-grad-norm"]);
      for (const [name, p] of Object.entries(panels)) {
        assert.ok(p.svg && p.dots === 4 && p.lines >= 1, `${name}: ${JSON.stringify(p)}`);
      }
      assert.equal(panels["grpo-reward"].lines, 2);
      assert.ok(!chart.html!.includes("KL not logged"));
    } finally {
      await kernel.remove();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});

// ---------------------------------------------------------------------------------------------------------
// The executor and the parameters on their own

Deno.test("nb_execute.py keeps every output of every cell (Deno's kernel sends some after the cell's idle)", async () => {
  const kernel = await privateKernel();
  const setup = await checkNotebookSetup({ env: kernel.env });
  const tmp = await Deno.makeTempDir({ prefix: "text2sql-nbexec-" });
  const env = { ...Deno.env.toObject(), ...kernel.env };
  try {
    // Cells that print, display and return: with plain `nbconvert --execute` some of these outputs went missing.
    const cells = Array.from({ length: 12 }, (_, i) => ({
      cell_type: "code",
      id: `c${i}`,
      metadata: {},
      execution_count: null,
      outputs: [],
      source:
        `console.log("line ${i}");\nawait Deno.jupyter.display({ "text/html": "<b>html ${i}</b>" }, { raw: true });\n${i} * 2`,
    }));
    const nb = {
      cells,
      metadata: { kernelspec: { name: "deno", display_name: "Deno", language: "typescript" } },
      nbformat: 4,
      nbformat_minor: 5,
    };
    await Deno.writeTextFile(join(tmp, "race.ipynb"), JSON.stringify(nb));
    for (let round = 0; round < 2; round++) {
      const out = join(tmp, `race.out${round}.ipynb`);
      const run = await new Deno.Command(setup.python, {
        args: [EXECUTOR, join(tmp, "race.ipynb"), "--out", out, "--html", join(tmp, "race.html")],
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(run.success, new TextDecoder().decode(run.stderr));
      (await codeCells(out)).forEach((cell, i) => {
        const got = cell.outputs.map((o) => o.type).sort();
        assert.deepEqual(
          got,
          ["display_data", "execute_result", "stream"],
          `round ${round} cell ${i}: ${got}`,
        );
        assert.equal(cell.outputs.find((o) => o.type === "stream")?.text, `line ${i}\n`);
        assert.equal(cell.outputs.find((o) => o.type === "execute_result")?.text, String(i * 2));
      });
    }
    assert.match(await Deno.readTextFile(join(tmp, "race.html")), /<b>html 11<\/b>/);

    // A throwing cell fails the run (exit 1) and the partial notebook is still written.
    cells[3].source = 'throw new Error("boom in cell 3")';
    await Deno.writeTextFile(join(tmp, "fail.ipynb"), JSON.stringify(nb));
    const fail = await new Deno.Command(setup.python, {
      args: [EXECUTOR, join(tmp, "fail.ipynb"), "--out", join(tmp, "fail.out.ipynb")],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(fail.code, 1);
    assert.match(new TextDecoder().decode(fail.stderr), /boom in cell 3/);
    const partial = await codeCells(join(tmp, "fail.out.ipynb"));
    assert.equal(partial[2].outputs.length, 3);
    assert.ok(partial[3].outputs.some((o) => o.type === "error"));
  } finally {
    await kernel.remove();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
});

Deno.test("notebook parameters: defaults, the Parameters cell, the environment winning, errors", async () => {
  const none = join(REPO_ROOT, "tests", ".tmp", "no-such-data-dir");
  const d = notebookParams({ dataDir: none }, {});
  assert.equal(d.download, null, "nothing set: the bundled sample, no download");
  assert.equal(d.dataset, SAMPLE_DATASET);
  assert.deepEqual(d.db, ["superhero"], "superhero is the default on the bundled sample");
  assert.deepEqual(d.models, []);
  assert.equal(d.runsDir, join(REPO_ROOT, "runs"));
  assert.deepEqual(evalTargets(d).map((x) => x.label), ["gpt-3.5-turbo-evidence"]);

  const p = notebookParams({}, {
    TEXT2SQL_BIRD_URL_DEV: "http://127.0.0.1:9/dev.zip",
    TEXT2SQL_MODELS: " meta-llama/Llama-3.3-70B-Instruct-Turbo , gold-model,",
    TEXT2SQL_LIMIT: "7",
    TEXT2SQL_DB: "",
    TEXT2SQL_RUNS_DIR: "tmp-runs",
    TEXT2SQL_DATA_DIR: none,
  });
  assert.equal(p.download, "dev", "a dev mirror URL alone selects dev");
  assert.equal(p.downloadUrl, "http://127.0.0.1:9/dev.zip");
  assert.equal(p.limit, 7);
  assert.deepEqual(p.db, [], "an empty TEXT2SQL_DB selects every database");
  assert.equal(p.runsDir, join(REPO_ROOT, "tmp-runs"), "relative paths are from the repository root");
  assert.deepEqual(evalTargets(p).map((x) => x.out.slice(REPO_ROOT.length + 1)), [
    "tmp-runs/notebooks/gpt-3.5-turbo-evidence-all-first7",
    "tmp-runs/notebooks/meta-llama-Llama-3.3-70B-Instruct-Turbo-all-first7",
    "tmp-runs/notebooks/gold-model-all-first7",
  ]);
  assert.equal(notebookParams({}, { TEXT2SQL_DOWNLOAD: "minidev" }).download, "mini-dev");
  assert.equal(runSlug("../../etc"), "etc");

  // The cell's values are used, and a set variable wins over them.
  const cell = { models: ["a", "b"], limit: 5, db: [] as string[], provider: "together", train: true };
  const fromCell = notebookParams(cell, {});
  assert.deepEqual([fromCell.models, fromCell.limit, fromCell.db, fromCell.provider, fromCell.trainRun], [
    ["a", "b"],
    5,
    [],
    "together",
    true,
  ]);
  const overridden = notebookParams(cell, { TEXT2SQL_MODELS: "c", TEXT2SQL_LIMIT: "9" });
  assert.deepEqual([overridden.models, overridden.limit], [["c"], 9]);
  assert.deepEqual(notebookParams({ db: null, dataset: "", models: null }, {}).models, []);

  assert.throws(() => notebookParams({}, { TEXT2SQL_LIMIT: "ten" }), NotebookParamError);
  assert.throws(() => notebookParams({ limit: 0 }, {}), /LIMIT \(TEXT2SQL_LIMIT\)/);
  assert.throws(() => notebookParams({}, { TEXT2SQL_DOWNLOAD: "test" }), /TEXT2SQL_DOWNLOAD/);
  assert.throws(() => notebookParams({ baseUrl: "localhost:8000" }, {}), /BASE_URL/);

  // After 01 downloaded dev (a verified folder under the data dir), it is the default, with every database.
  const tmp = await Deno.makeTempDir({ prefix: "text2sql-nbparams-" });
  try {
    const dev = join(tmp, "dev_20240627");
    await Deno.mkdir(dev);
    await Deno.writeTextFile(join(dev, "dev.json"), "[]");
    assert.equal(
      notebookParams({ dataDir: tmp }, {}).dataset,
      SAMPLE_DATASET,
      "an unverified folder is not used",
    );
    await Deno.writeTextFile(join(dev, ".text2sql-verified.json"), "{}");
    const after = notebookParams({ dataDir: tmp }, {});
    assert.equal(after.dataset, join(dev, "dev.json"));
    assert.deepEqual(after.db, [], "every database of the downloaded set, not superhero alone");
    assert.deepEqual(notebookParams({ dataDir: tmp, dataset: SAMPLE_DATASET }, {}).db, ["superhero"]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("describeSelection counts what the parameters select; previewConversation keeps the question", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "text2sql-nbsel-" });
  try {
    const tiny = await tinyMultiDbDataset(tmp);
    const all = await describeSelection(notebookParams({ dataset: tiny.file }, {}));
    assert.equal(all.line, `6 questions on 2 databases (all of ${tiny.file}, 6 questions)`);
    const some = await describeSelection(notebookParams({ dataset: tiny.file, db: ["beta"], limit: 1 }, {}));
    assert.equal(some.line, `1 question on 1 database (DB beta, first 1 of ${tiny.file}, 6 questions)`);
    const sample = await describeSelection(notebookParams({ dataDir: tmp }, {}));
    assert.match(
      sample.line,
      /^129 questions on 1 database \(DB superhero of .*dev\.json, 1534 questions\)$/,
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
  const schema = "CREATE TABLE t (" + "x INTEGER, ".repeat(200) + "y TEXT)";
  const [system, user] = previewConversation([
    { role: "system", content: "You translate." },
    {
      role: "user",
      content: `-- DB Schema: ${schema}\n\n-- External Knowledge: e\n\n-- Question: How many?`,
    },
  ], { schemaChars: 50 });
  assert.equal(system, "--- system\nYou translate.");
  assert.ok(
    user.startsWith(
      `--- user\n-- DB Schema: ${schema.slice(0, 50)}\n… (${schema.length - 50} more characters`,
    ),
  );
  assert.ok(user.endsWith("-- External Knowledge: e\n\n-- Question: How many?"));
});

Deno.test("deno task notebooks: the install line without JupyterLab; else registers the kernel, opens notebooks/", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "text2sql-nbcmd-" });
  const saved = {
    PATH: Deno.env.get("PATH"),
    HOME: Deno.env.get("HOME"),
    XDG: Deno.env.get("XDG_DATA_HOME"),
  };
  const restore = (k: string, v: string | undefined) =>
    v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  const errors: string[] = [];
  const logs: string[] = [];
  const [error, log] = [console.error, console.log];
  console.error = (...a: unknown[]) => void errors.push(a.join(" "));
  console.log = (...a: unknown[]) => void logs.push(a.join(" "));
  try {
    // Deno's kernel installer writes under $XDG_DATA_HOME: a private one, so the user's registration is untouched.
    Deno.env.set("XDG_DATA_HOME", join(tmp, "xdg"));
    Deno.env.set("HOME", join(tmp, "home"));
    const bin = join(tmp, "bin");
    await Deno.mkdir(bin);
    Deno.env.set("PATH", bin);
    assert.equal(await notebooksCommand([]), 1);
    assert.deepEqual(errors, [
      "JupyterLab is not installed; install it with: apt-get install -y pipx && pipx install jupyterlab",
    ]);
    assert.equal(
      await Deno.stat(join(tmp, "xdg")).then(() => true, () => false),
      false,
      "nothing registered",
    );

    // A stand-in jupyter-lab that records how it was started.
    const called = join(tmp, "called.txt");
    await Deno.writeTextFile(
      join(bin, "jupyter-lab"),
      `#!/bin/sh\n[ "$1" = --version ] && { echo 4.2.5; exit 0; }\necho "$@" > ${called}\n`,
    );
    await Deno.chmod(join(bin, "jupyter-lab"), 0o755);
    assert.equal(await notebooksCommand(["--", "--no-browser"]), 0);
    // As root, JupyterLab needs --allow-root: passed, and said.
    const root = Deno.uid() === 0;
    assert.equal(
      (await Deno.readTextFile(called)).trim(),
      `--notebook-dir=${join(REPO_ROOT, "notebooks")} --no-browser${root ? " --allow-root" : ""}`,
    );
    assert.equal(logs.includes("running as root: passing --allow-root to JupyterLab"), root);
    const spec = JSON.parse(
      await Deno.readTextFile(join(tmp, "xdg", "jupyter", "kernels", "deno", "kernel.json")),
    ) as { argv: string[] };
    assert.equal(spec.argv[0], Deno.execPath(), "the kernel is registered for the Deno that ran the command");
    assert.ok(logs.includes(`registered the Deno kernel for ${Deno.execPath()}`));
  } finally {
    console.error = error;
    console.log = log;
    restore("PATH", saved.PATH);
    restore("HOME", saved.HOME);
    restore("XDG_DATA_HOME", saved.XDG);
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test('no notebook has an "In CI" paragraph; each starts with a Parameters cell that drives it', async () => {
  for await (const entry of Deno.readDir(NOTEBOOKS_DIR)) {
    if (!entry.name.endsWith(".ipynb")) continue;
    const text = await notebookText(entry.name);
    assert.ok(!/\bIn CI\b/.test(text), `${entry.name} still says "In CI"`);
    // A ``` inside a line opens a code fence in nbconvert's HTML export and swallows the rest of the cell.
    const inline = text.split("\n").filter((l) => /\S.*```/.test(l));
    assert.deepEqual(inline, [], `${entry.name}: a code fence inside a line`);
    const nb = JSON.parse(await Deno.readTextFile(join(NOTEBOOKS_DIR, entry.name))) as { cells: RawCell[] };
    const code = nb.cells.filter((c) => c.cell_type === "code").map((c) => ({
      source: joinText(c.source),
      outputs: [] as Output[],
    }));
    assertParametersCell(entry.name, code);
    // Below the setup cell every cell is guarded, so Run All stays silent after a stop (see lib/notebook/stop.ts).
    for (const cell of code.slice(2)) {
      const first = cell.source.split("\n").find((l) => l.trim() && !l.trim().startsWith("//")) ?? "";
      assert.match(
        first,
        /^if \(!stopped\(\)\) /,
        `${entry.name}: a cell below the setup cell is not guarded: ${first}`,
      );
    }
    assert.match(
      code[1].source,
      /import \{[^}]*\bstopped\b/,
      `${entry.name}: the setup cell does not import stopped`,
    );
  }
});

Deno.test("02 scores the baseline only on the dataset its predictions index; 06 finds runs baseline first", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "text2sql-nbenv-" });
  try {
    const subset = join(tmp, "dev.json");
    const questions = JSON.parse(await Deno.readTextFile(SAMPLE_DATASET)) as Question[];
    await Deno.writeTextFile(subset, JSON.stringify(questions.filter((q) => q.db_id === "superhero")));
    const copy = join(tmp, "dev_20240627");
    await Deno.mkdir(copy);
    await Deno.copyFile(SAMPLE_DATASET, join(copy, "dev.json"));
    const labels = (dataset: string) =>
      evalTargets(notebookParams({ dataset, models: ["m"] }, {})).map((x) => x.label);
    assert.deepEqual(labels(subset), ["m"], "predictions keyed by index do not fit another dev.json");
    assert.deepEqual(
      labels(copy),
      ["gpt-3.5-turbo-evidence", "m"],
      "an official download with the same bytes",
    );

    const names = ["aaa", "gpt-3.5-turbo-evidence-superhero", "zzz", "unfinished"].map((n) =>
      `notebooks/${n}`
    );
    for (const name of [...names, "other"]) {
      await Deno.mkdir(join(tmp, "runs", name), { recursive: true });
      if (!name.endsWith("unfinished")) {
        await Deno.writeTextFile(join(tmp, "runs", name, "summary.json"), "{}");
      }
    }
    assert.deepEqual(
      (await notebookRuns(join(tmp, "runs"))).map((d) => d.split("/").at(-1)),
      ["gpt-3.5-turbo-evidence-superhero", "aaa", "zzz"],
    );
    assert.deepEqual(await notebookRuns(join(tmp, "absent")), []);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("summaryRows orders difficulties and adds the total", () => {
  const rows = summaryRows({
    questions: 6,
    databases: 1,
    byDifficulty: { unknown: 1, challenging: 1, simple: 3, moderate: 1 },
    perDatabase: [{ db_id: "a", questions: 6, bytes: 2_500_000 }],
    quickCheck: "ok",
  });
  assert.deepEqual(rows.difficulty.map((r) => r.difficulty), [
    "simple",
    "moderate",
    "challenging",
    "unknown",
    "total",
  ]);
  assert.deepEqual(rows.databases, [{ db_id: "a", questions: 6, size_mb: 2.5 }]);
});

Deno.test("liveLossChart draws one chart and updates it in place; outside a notebook it draws nothing", async () => {
  const calls: { obj: Record<string, string>; options: Record<string, unknown> }[] = [];
  setDisplayBackend({
    display(obj, options = {}) {
      calls.push({ obj: obj as Record<string, string>, options });
      return Promise.resolve();
    },
  });
  try {
    const chart = liveLossChart("Loss", { intervalMs: 60_000 });
    chart.onMetric({ type: "train", step: 1, loss: 2 });
    chart.onMetric({ type: "train", step: 2, loss: 1.5 }); // within the interval: no redraw
    chart.onMetric({ type: "eval", step: 2, eval_loss: 1.7 });
    await chart.finish();
    assert.equal(calls.length, 2);
    const [first, last] = calls;
    assert.deepEqual([first.options.update, last.options.update], [false, true]);
    assert.equal(last.options.display_id, first.options.display_id);
    assert.equal(last.obj["text/plain"], "[chart: Loss, 2 steps]");
    assert.ok(last.obj["text/html"].includes('data-chart="loss-curve"'));
    assert.equal(chart.metrics.length, 3);
  } finally {
    setDisplayBackend(undefined);
  }
  setDisplayBackend(null);
  try {
    const offline = liveLossChart();
    offline.onMetric({ type: "train", step: 1, loss: 2 });
    await offline.finish();
    assert.equal(offline.metrics.length, 1);
  } finally {
    setDisplayBackend(undefined);
  }
});

Deno.test("01 offline: a failed download is one line after a bounded wait, then the bundled sample", async () => {
  // A port nothing listens on: connections are refused, as offline or behind a firewall.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const tmp = await Deno.makeTempDir({ prefix: "text2sql-nboffline-" });
  try {
    const params = notebookParams({ download: "dev", dataDir: tmp }, {
      TEXT2SQL_BIRD_URL_DEV: `http://127.0.0.1:${port}/dev.zip`,
    });
    const data = await prepareData(params);
    assert.equal(data.source, "sample");
    assert.match(
      data.failed ?? "",
      new RegExp(`127\\.0\\.0\\.1:${port}/dev\\.zip: .*gave up after 3 attempts`),
    );
    assert.match(
      data.note,
      /^Download of BIRD dev failed: .* Using the bundled sample instead; run this cell again/,
    );
    assert.ok(!data.note.includes("\n"), "one line");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

// Kept here rather than in evaluate_test.ts, which other branches edit at the same time.
Deno.test("eval CLI: a wrong --dataset alone is 'dataset not found'; a file covering few questions warns", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "text2sql-evalwarn-" });
  const run = async (...args: string[]) => {
    const o = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(REPO_ROOT, "lib", "cli", "cli.ts"), "eval", ...args],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: o.code, err: new TextDecoder().decode(o.stderr).trim() };
  };
  try {
    const missing = await run("--dataset", "/nonexistent/dev.json");
    assert.deepEqual(missing, { code: 1, err: "error: /nonexistent/dev.json: dataset not found" });

    // One prediction, for the first superhero question of the sample (its dev.json index).
    const questions = JSON.parse(await Deno.readTextFile(SAMPLE_DATASET)) as Question[];
    const first = questions.findIndex((q) => q.db_id === "superhero");
    const one = join(tmp, "predict_dev.json");
    await Deno.writeTextFile(
      one,
      JSON.stringify({ [first]: `${questions[first].SQL}\t----- bird -----\tsuperhero` }),
    );
    const few = await run("--predictions", one, "--db", "superhero", "--out", join(tmp, "run"), "--quiet");
    assert.equal(few.code, 0, few.err);
    assert.match(
      few.err,
      /warning: .*predict_dev\.json: 128 of the 129 selected questions have no prediction/,
    );
    const full = await run("--db", "superhero", "--out", join(tmp, "full"), "--quiet");
    assert.doesNotMatch(full.err, /have no prediction/, "the bundled baseline covers every question");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

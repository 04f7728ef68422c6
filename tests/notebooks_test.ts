/**
 * The six notebooks, executed headlessly top to bottom in order, as CI runs them ("Notebooks in CI" in
 * ARCHITECTURE.md): `01` downloads from a local archive server (an archive built here from the bundled sample in
 * the official layout), `02`–`04` call the test model server, `05` runs the trainer as a dry run and charts the
 * recorded metrics stream, `06` compares `02`'s runs and writes the report. Every code cell must produce its
 * expected outputs (tables with the right numbers, charts with marks, progress lines), not merely not throw —
 * Deno's kernel can report a cell done before its outputs are sent, which `tests/nb_execute.py` must survive.
 * Then `01` and `02` are rerun to show that rerunning is cheap (no new download, no model call), and `06` is
 * exported to HTML (`deno task notebook:html`) and opened in headless Chromium, where its charts must have size.
 *
 * Needs Debian's `jupyter-client jupyter-nbconvert` and the Deno kernelspec: without them the test FAILS with the
 * install command (see `tests/notebook_setup.ts`). Runs, data, caches and reports go to a temporary folder; the
 * notebooks themselves are never rewritten.
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkNbconvert, checkNotebookSetup, type NotebookSetup } from "./notebook_setup.ts";
import { startArchiveServer } from "./archive_server.ts";
import { devArchive } from "./sample_archives.ts";
import {
  answersFromDataset,
  fnv1a,
  goldScript,
  mixedScript,
  type Script,
  startFakeOpenAI,
  styleAnswer,
} from "./fake_openai_server.ts";
import { withBrowserPage } from "./browser.ts";
import { exportNotebookHtml, notebookHtmlCommand } from "../lib/notebook_html.ts";
import { setDisplayBackend } from "../lib/display.ts";
import {
  evalTargets,
  liveLossChart,
  NotebookParamError,
  notebookParams,
  notebookRuns,
  REPO_ROOT,
  runSlug,
  summaryRows,
} from "../lib/notebook_env.ts";

const NOTEBOOKS_DIR = join(REPO_ROOT, "notebooks");
const EXECUTOR = join(dirname(fileURLToPath(import.meta.url)), "nb_execute.py");
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
  /** Polars' table rows (`application/vnd.dataresource+json`), when the output is a DataFrame. */
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

function flatten(o: RawOutput): Output {
  const data = o.data ?? {};
  const resource = data["application/vnd.dataresource+json"] as
    | { data?: Record<string, unknown>[] }
    | undefined;
  return {
    type: o.output_type,
    text: stripAnsi(
      o.output_type === "stream"
        ? joinText(o.text)
        : o.output_type === "error"
        ? `${o.ename}: ${o.evalue}`
        : joinText(data["text/plain"]),
    ),
    html: data["text/html"] === undefined ? null : joinText(data["text/html"]),
    rows: resource?.data ?? null,
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

/** Runs `tests/nb_execute.py` on a notebook of `notebooks/`; the executed copy goes to `outDir`. */
async function execute(
  setup: NotebookSetup,
  notebook: string,
  outDir: string,
  env: Record<string, string>,
  suffix = "",
): Promise<string> {
  const out = join(outDir, notebook.replace(/\.ipynb$/, `${suffix}.ipynb`));
  const run = await new Deno.Command(setup.python, {
    args: [EXECUTOR, join(NOTEBOOKS_DIR, notebook), "--out", out, "--timeout", "120"],
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
  /** A chart from `lib/charts.ts` displayed as HTML: the figure, its SVG, and marks drawn. */
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
  cells.forEach((cell, i) => {
    const where = `${name} code cell ${i + 1} (${cell.source.split("\n")[0]})`;
    const errors = cell.outputs.filter((o) => o.type === "error");
    assert.equal(errors.length, 0, `${where}: error output ${errors.map((e) => e.text).join("; ")}`);
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
  return (req) => {
    if (req.model === "mixed-model") return mixed(req);
    if (req.model === "teacher-model") {
      const content = req.messages.findLast((m) => m.role === "user")?.content ?? "";
      const sql = content.match(/-- Gold SQL: ([\s\S]*?)\n\n/)?.[1];
      if (sql === undefined) return { content: "I cannot find the gold SQL." };
      const wrong = fnv1a(sql) % 5 === 0;
      return { content: styleAnswer(wrong ? "SELECT -424242 AS wrong_answer" : sql, "reasoning") };
    }
    return gold(req);
  };
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
    // Fails (never skips) with the install command when Jupyter or the kernel is missing.
    const setup = await checkNotebookSetup();
    await checkNbconvert();
    const before = await snapshot(NOTEBOOKS_DIR);
    const tmp = await Deno.makeTempDir({ prefix: "text2sql-notebooks-" });
    const questions = JSON.parse(await Deno.readTextFile(SAMPLE_DATASET)) as Question[];
    const archive = startArchiveServer({
      "/dev.zip": await devArchive({ questions: questions.filter((q) => q.db_id === "superhero") }),
    });
    const models = await startFakeOpenAI({
      models: ["gold-model", "mixed-model", "teacher-model"].map((id) => ({ id, max_model_len: 8192 })),
      script: modelScript(await answersFromDataset(SAMPLE_DATASET)),
    });
    const executed = join(tmp, "executed");
    const dirs = {
      data: join(tmp, "data"),
      runs: join(tmp, "runs"),
      reports: join(tmp, "reports"),
      cache: join(tmp, "cache"),
    };
    const env = kernelEnv({
      XDG_CACHE_HOME: dirs.cache,
      TEXT2SQL_BIRD_URL_DEV: archive.url("/dev.zip"),
      TEXT2SQL_DATA_DIR: dirs.data,
      TEXT2SQL_RUNS_DIR: dirs.runs,
      TEXT2SQL_REPORTS_DIR: dirs.reports,
      TEXT2SQL_MODELS: "gold-model,mixed-model",
      TEXT2SQL_TEACHER_MODEL: "teacher-model",
      TEXT2SQL_BASE_URL: models.url,
      TEXT2SQL_DB: "superhero",
      TEXT2SQL_LIMIT: String(LIMIT),
    });
    const paths: Record<string, string> = {};
    try {
      await t.step("01_download: downloads from the local archive server, verifies, summarises", async () => {
        paths["01"] = await execute(setup, "01_download.ipynb", executed, env);
        assertOutputs("01_download", await codeCells(paths["01"]), [
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
          cells[1].outputs.some((o) => /already verified, nothing fetched/.test(o.text)),
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
          [{ kind: "table" }],
          [
            { kind: "progress", match: /evaluate baseline-gpt-3\.5-turbo/ },
            { kind: "progress", match: /evaluate gold-model/ },
            { kind: "progress", match: /evaluate mixed-model/ },
            { kind: "table", rows: (rows) => assert.equal(rows.length, 3) },
          ],
          [
            { kind: "text", match: /gold-model\n[\s\S]*?accuracy\s+100\.00\s+100\.00\s+100\.00\s+100\.00\s/ },
            { kind: "text", match: accuracyRow("mixed-model", mixed.replace(".", "\\.")) },
            { kind: "text", match: accuracyRow("baseline-gpt-3.5-turbo", "\\d+\\.\\d\\d") },
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
          [{ kind: "table", rows: (rows) => assert.equal(rows.length, 3) }],
          [{ kind: "chart", chart: "error-taxonomy" }],
        ]);
        assert.equal((await notebookRuns(dirs.runs)).length, 3);
      });

      await t.step("02_evaluate again: resumes the finished runs, no model call", async () => {
        const before = models.requests.length;
        const again = await execute(setup, "02_evaluate.ipynb", executed, env, ".rerun");
        const cells = await codeCells(again);
        assert.ok(cells[2].outputs.some((o) => /gold-model\n[\s\S]*?accuracy\s+100\.00/.test(o.text)));
        const calls = models.requests.slice(before).filter((r) => r.path.endsWith("/chat/completions"));
        assert.equal(calls.length, 0, "rerunning 02 called the model again");
      });

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
            [{ kind: "table" }],
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
              { kind: "text", match: /^--- user\n-- DB Schema: CREATE TABLE/ },
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
            [{ kind: "table" }],
            [
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
            cells[1].outputs.some((o) => / 0 teacher requests/.test(o.text)),
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
          [{ kind: "chart", chart: "loss-curve" }],
          [{
            kind: "table",
            rows: (rows) => assert.ok(rows.length >= 1 && rows.every((r) => Number(r.eval_loss) > 0)),
          }],
          [{ kind: "table", rows: (rows) => assert.equal(rows.length, 5) }],
        ]);
        const text = await Deno.readTextFile(paths["05"]);
        assert.ok(!/hf_[A-Za-z0-9]{20,}/.test(text), "a token value leaked into the notebook");
      });

      await t.step("06_analysis: compares the runs, paired test, writes the report", async () => {
        paths["06"] = await execute(setup, "06_analysis.ipynb", executed, env);
        const report = join(dirs.reports, "notebook-analysis.html");
        assertOutputs("06_analysis", await codeCells(paths["06"]), [
          [{
            kind: "table",
            rows: (rows) => assert.equal(byKey(rows, "parameter").get("runsDir")?.value, dirs.runs),
          }],
          [{
            kind: "table",
            rows: (rows) =>
              assert.deepEqual(rows.map((r) => r.run), [
                "nb-baseline-gpt-3.5-turbo",
                "nb-gold-model",
                "nb-mixed-model",
              ]),
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
            { kind: "text", match: /^only nb-baseline-gpt-3\.5-turbo: \d+; only nb-mixed-model: \d+/ },
            { kind: "table" },
          ],
          [{ kind: "chart", chart: "token-usage" }],
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
          const nb02 = await codeCells(
            await execute(setup, "02_evaluate.ipynb", executed, plain, ".defaults"),
          );
          const summary = nb02[1].outputs.find((o) => o.rows !== null)?.rows;
          assert.deepEqual(summary?.map((r) => [r.model, r.questions]), [["baseline-gpt-3.5-turbo", 129]]);
          assert.match(String(summary?.[0].accuracy), /^\d+(\.\d+)?$/);
          const nb06 = await codeCells(
            await execute(setup, "06_analysis.ipynb", executed, plain, ".defaults"),
          );
          assert.ok(nb06[7].outputs.some((o) => /only one run: nothing to compare/.test(o.text)));
          assert.ok(nb06.at(-1)!.outputs.some((o) => /report: .* \(1 runs\)/.test(o.text)));
        },
      );

      await t.step(
        "notebook:html exports the executed 06; its charts render with size in Chromium",
        async () => {
          const out = join(tmp, "html", "06_analysis.html");
          const { html, executed: reran } = await exportNotebookHtml(paths["06"], { out });
          assert.equal(html, out);
          assert.equal(reran, false, "an executed notebook must not be executed again");
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

      await t.step("notebook:html --execute runs a notebook first (into a temporary copy)", async () => {
        const out = join(tmp, "html", "06_cli.html");
        const saved = Deno.env.toObject();
        // The command's executor inherits this process's environment, so point it at the test's folders.
        for (const [k, v] of Object.entries(env)) {
          if (k.startsWith("TEXT2SQL_") || k === "XDG_CACHE_HOME") Deno.env.set(k, v);
        }
        try {
          const status = await notebookHtmlCommand([
            join(NOTEBOOKS_DIR, "06_analysis.ipynb"),
            "--out",
            out,
            "--execute",
          ]);
          assert.equal(status, 0);
        } finally {
          for (const k of Object.keys(env)) {
            if (k.startsWith("TEXT2SQL_") || k === "XDG_CACHE_HOME") {
              if (saved[k] === undefined) Deno.env.delete(k);
              else Deno.env.set(k, saved[k]);
            }
          }
        }
        const text = await Deno.readTextFile(out);
        assert.match(text, /data-chart="error-taxonomy"/);
        assert.match(text, /notebook-analysis\.html/);
      });
      await t.step("the notebooks folder is untouched: no rewritten notebook, no new file", async () => {
        assert.deepEqual(await snapshot(NOTEBOOKS_DIR), before);
      });
    } finally {
      await archive.close();
      await models.close();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});

// ---------------------------------------------------------------------------------------------------------
// The executor and the parameters on their own

Deno.test("nb_execute.py keeps every output of every cell (Deno's kernel sends some after the cell's idle)", async () => {
  const setup = await checkNotebookSetup();
  const tmp = await Deno.makeTempDir({ prefix: "text2sql-nbexec-" });
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
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(fail.code, 1);
    assert.match(new TextDecoder().decode(fail.stderr), /boom in cell 3/);
    const partial = await codeCells(join(tmp, "fail.out.ipynb"));
    assert.equal(partial[2].outputs.length, 3);
    assert.ok(partial[3].outputs.some((o) => o.type === "error"));
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
});

Deno.test("notebook parameters: defaults, environment, errors", () => {
  const d = notebookParams({});
  assert.equal(d.download, null, "nothing set: the bundled sample, no download");
  assert.equal(d.dataset, SAMPLE_DATASET);
  assert.deepEqual(d.db, ["superhero"]);
  assert.deepEqual(d.models, []);
  assert.equal(d.runsDir, join(REPO_ROOT, "runs"));
  assert.deepEqual(evalTargets(d).map((x) => x.label), ["baseline-gpt-3.5-turbo"]);

  const p = notebookParams({
    TEXT2SQL_BIRD_URL_DEV: "http://127.0.0.1:9/dev.zip",
    TEXT2SQL_MODELS: " meta-llama/Llama-3.3-70B-Instruct , gold-model,",
    TEXT2SQL_LIMIT: "7",
    TEXT2SQL_DB: "",
    TEXT2SQL_RUNS_DIR: "tmp-runs",
  });
  assert.equal(p.download, "dev", "a dev mirror URL alone selects dev");
  assert.equal(p.downloadUrl, "http://127.0.0.1:9/dev.zip");
  assert.equal(p.limit, 7);
  assert.deepEqual(p.db, [], "an empty TEXT2SQL_DB selects every database");
  assert.equal(p.runsDir, join(REPO_ROOT, "tmp-runs"), "relative paths are from the repository root");
  assert.deepEqual(evalTargets(p).map((x) => x.out), [
    join(REPO_ROOT, "tmp-runs", "nb-baseline-gpt-3.5-turbo"),
    join(REPO_ROOT, "tmp-runs", "nb-meta-llama-llama-3.3-70b-instruct"),
    join(REPO_ROOT, "tmp-runs", "nb-gold-model"),
  ]);
  assert.equal(notebookParams({ TEXT2SQL_DOWNLOAD: "minidev" }).download, "mini-dev");
  assert.equal(runSlug("../../etc"), "etc");

  assert.throws(() => notebookParams({ TEXT2SQL_LIMIT: "ten" }), NotebookParamError);
  assert.throws(() => notebookParams({ TEXT2SQL_LIMIT: "0" }), /TEXT2SQL_LIMIT/);
  assert.throws(() => notebookParams({ TEXT2SQL_DOWNLOAD: "test" }), /TEXT2SQL_DOWNLOAD/);
  assert.throws(() => notebookParams({ TEXT2SQL_BASE_URL: "localhost:8000" }), /TEXT2SQL_BASE_URL/);
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
      evalTargets(notebookParams({ TEXT2SQL_DATASET: dataset, TEXT2SQL_MODELS: "m" })).map((x) => x.label);
    assert.deepEqual(labels(subset), ["m"], "predictions keyed by index do not fit another dev.json");
    assert.deepEqual(
      labels(copy),
      ["baseline-gpt-3.5-turbo", "m"],
      "an official download with the same bytes",
    );

    for (const name of ["nb-aaa", "nb-baseline-gpt-3.5-turbo", "nb-zzz", "nb-unfinished", "other"]) {
      await Deno.mkdir(join(tmp, "runs", name), { recursive: true });
      if (name !== "nb-unfinished") await Deno.writeTextFile(join(tmp, "runs", name, "summary.json"), "{}");
    }
    assert.deepEqual(
      (await notebookRuns(join(tmp, "runs"))).map((d) => d.split("/").at(-1)),
      ["nb-baseline-gpt-3.5-turbo", "nb-aaa", "nb-zzz"],
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

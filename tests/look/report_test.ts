import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { accuracyByDifficulty, loadRuns, readRun } from "../../lib/look/mod.ts";
import { buildReport, reportCommand } from "../../lib/look/report.ts";
import { copyRunAs, makeRunFixtures } from "../support/run_fixtures.ts";

const root = await Deno.makeTempDir({ prefix: "t2s-report-" });
const fx = await makeRunFixtures(root, { torn: true });
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
const generatedAt = new Date("2026-11-26T00:00:00Z");

function count(html: string, fragment: string): number {
  return html.split(fragment).length - 1;
}

/** Captures console.log / console.error while `fn` runs. */
async function capture<T>(fn: () => Promise<T>): Promise<{ result: T; out: string[]; err: string[] }> {
  const out: string[] = [], err: string[] = [];
  const [log, error] = [console.log, console.error];
  console.log = (...a: unknown[]) => out.push(a.map(String).join(" "));
  console.error = (...a: unknown[]) => err.push(a.map(String).join(" "));
  try {
    return { result: await fn(), out, err };
  } finally {
    [console.log, console.error] = [log, error];
  }
}

Deno.test("buildReport: metadata, official tables, charts, comparison, failing questions", async () => {
  const html = await buildReport([fx.a, fx.b, fx.train], { generatedAt });
  assert(html.startsWith("<!doctype html>"));
  for (const id of ["leaderboard", "accuracy", "errors", "tokens", "comparisons", "failures", "training"]) {
    assert(html.includes(`<section id="${id}">`), id);
  }
  // Metadata: provider, base URL, dataset hash prefix, evaluator, SQLite version, dates, torn-line note.
  for (
    const s of [
      "openai-compatible",
      "http://127.0.0.1:8000/v1",
      "data/sample/dev.json",
      "bird-ex-set",
      "3.53.2",
      "2026-11-20T10:07:12.000Z",
      "sha256:5f1c0e9a7d2b",
      "half-written last line of results.jsonl skipped",
      "Generated 2026-11-26T00:00:00.000Z",
    ]
  ) assert(html.replaceAll("<wbr>", "").includes(s), s);
  // An unfinished or damaged run is flagged before any table shows its numbers.
  const banner = html.indexOf('<p class="warn">');
  assert(
    banner > 0 && banner < html.indexOf('<section id="leaderboard">'),
    "warning banner above the sections",
  );
  // The leaderboard: B (63.57) above A (57.36); A asked no model, so no tokens (a dash, not 0).
  const board = html.slice(
    html.indexOf('<table class="leaderboard">'),
    html.indexOf("</table>", html.indexOf('<table class="leaderboard">')),
  );
  assert(
    board.indexOf("llama-<wbr>3.3-<wbr>70b-<wbr>instruct") <
      board.indexOf("gpt-<wbr>3.5-<wbr>turbo-<wbr>evidence"),
    board,
  );
  assert(board.includes('<td class="num ex">63.57</td>') && board.includes('<td class="num ex">57.36</td>'));
  for (
    const th of [
      "model",
      "mode",
      "dialect",
      "questions",
      "simple",
      "moderate",
      "challenging",
      "EX",
      "Soft-F1",
      "tokens",
      "cost ($)",
    ]
  ) {
    assert(board.includes(`>${th}</th>`), th);
  }
  assert(board.includes("<td>sqlite</td>") && board.includes('<td class="null num">—</td>'));
  // The run metadata is collapsed.
  assert(html.includes('<details class="meta"><summary>Run metadata: 2 runs'));
  assertEquals(count(html, '<table class="official">'), 2);
  // Error kinds per run (runs as rows): run A's 15 wrong values of 129 questions, run B's 4 generation errors.
  const errors = html.slice(
    html.indexOf('<table class="errors">'),
    html.indexOf("</table>", html.indexOf('<table class="errors">')),
  );
  const rowOf = (label: string) =>
    errors.slice(errors.indexOf(label), errors.indexOf("</tr>", errors.indexOf(label)));
  assert(rowOf("gpt-<wbr>3.5").includes('<td class="num" title="15 questions">11.6</td>'));
  assert(rowOf("llama-<wbr>3.3").includes('<td class="num" title="4 questions">3.1</td>'));
  assert(errors.includes("wrong:<wbr>values") && errors.includes("generation_<wbr>error"));
  for (const s of ["<b>60.49</b>", "<b>45.45</b>", "<b>57.36</b>", "<b>63.57</b>", "<b>54.55</b>"]) {
    assert(html.includes(s), s);
  }
  for (
    const chart of [
      "accuracy-by-difficulty",
      "accuracy-by-database",
      "error-taxonomy",
      "token-usage",
      "loss-curve",
    ]
  ) assertEquals(count(html, `data-chart="${chart}"`), 1, chart);
  // The paired test: 64/10/18/37, p and CI as pinned in analysis_test.
  const paired = html.slice(
    html.indexOf('<table class="paired">'),
    html.indexOf("</table>", html.indexOf('<table class="paired">')),
  );
  for (
    const s of [
      '<td class="num">-6.20</td>',
      '<td class="num">[-14.73, 1.55]</td>',
      '<td class="num">0.1849</td>',
    ]
  ) {
    assert(paired.includes(s), s);
  }
  assert(html.includes("10 questions only gpt-3.5-turbo-evidence solves"));
  assert(html.includes("18 questions only llama-3.3-70b-instruct solves"));
  // Every non-correct question, collapsible, with both SQLs.
  assertEquals(count(html, '<details class="q"'), (129 - 74) + (129 - 82));
  assert(
    html.includes("55 of 129 questions not correct") && html.includes("47 of 129 questions not correct"),
  );
  assert(html.includes("no such column: T1.name") && html.includes("query timed out after 30 s"));
  assert(html.includes("<h4>Predicted SQL</h4>") && html.includes("<h4>Gold SQL</h4>"));
});

Deno.test("buildReport output is self-contained: no script, no external resource", async () => {
  const html = await buildReport([fx.a, fx.b], { generatedAt });
  assert(!/<script/i.test(html), "no script");
  assert(!/\bsrc\s*=/i.test(html), "no src attribute");
  assert(!/href\s*=\s*"(?!#)/i.test(html), "only in-page links");
  assert(!/@import|@font-face|url\(/i.test(html), "no CSS resource");
  assert(!/<link\b/i.test(html), "no link element");
});

Deno.test("buildReport escapes everything taken from a run and includes nothing from the environment", async () => {
  const dir = join(root, "hostile");
  await copyRunAs(fx.b, dir, "<b>bold</b> & co");
  const lines = (await Deno.readTextFile(join(fx.b, "results.jsonl"))).split("\n").filter((l) =>
    l.startsWith("{")
  );
  const records = lines.flatMap((l) => {
    try {
      return [JSON.parse(l)];
    } catch {
      return [];
    }
  });
  const bad = records.find((r) => r.status === "wrong")!;
  bad.sql = "SELECT '</pre><script>alert(1)</script>'";
  bad.question = "<img src=x onerror=alert(2)>";
  bad.pred.sample = [["<iframe src=//evil>"]];
  bad.pred.columns = ["<u>c</u>"];
  await Deno.writeTextFile(
    join(dir, "results.jsonl"),
    records.map((r) => JSON.stringify(r)).join("\n") + "\n",
  );
  Deno.env.set("OPENAI_API_KEY", "sk-test-secret-value-123");
  try {
    const html = await buildReport([fx.a, dir], { generatedAt });
    for (const raw of ["<script>alert(1)", "<img src=x", "<iframe", "<u>c</u>", "<b>bold</b>"]) {
      assert(!html.includes(raw), `unescaped: ${raw}`);
    }
    for (
      const esc of [
        "&lt;script&gt;alert(1)",
        "&lt;img src=x",
        "&lt;iframe src=//evil&gt;",
        "&lt;b&gt;bold&lt;/b&gt; &amp; co",
      ]
    ) {
      assert(html.includes(esc), `escaped: ${esc}`);
    }
    assert(!html.includes("sk-test-secret-value-123"));
  } finally {
    Deno.env.delete("OPENAI_API_KEY");
  }
});

Deno.test("buildReport: runs over different datasets get no comparison; bad dirs are named", async () => {
  const other = join(root, "mini-dev-run");
  await Deno.mkdir(other);
  const info = JSON.parse(await Deno.readTextFile(join(fx.b, "run.json")));
  info.dataset = { path: "data/sample/mini_dev/mini_dev_sqlite.json", sha256: "f".repeat(64), count: 500 };
  await Deno.writeTextFile(join(other, "run.json"), JSON.stringify(info));
  await Deno.copyFile(join(fx.b, "results.jsonl"), join(other, "results.jsonl"));
  const html = await buildReport([fx.a, other], { generatedAt });
  assert(!html.includes('<section id="comparisons">'));
  assert(html.includes("no summary.json yet"));
  await rejects(buildReport([fx.a, join(root, "missing")]), {
    message: `run directory not found: ${join(root, "missing")}`,
  });
  await rejects(buildReport([]), { message: "no run directory given" });
});

Deno.test("buildReport caps the failing questions listed per run", async () => {
  const html = await buildReport([fx.a], { generatedAt, maxFailures: 5 });
  assertEquals(count(html, '<details class="q"'), 5);
  assert(html.includes("… 50 more not shown"));
});

Deno.test("reportCommand: --out, printed path, exit codes and one-line errors", async () => {
  const out = join(root, "out", "r.html");
  const ok = await capture(() => reportCommand(["--out", out, fx.a, fx.b]));
  assertEquals([ok.result, ok.out, ok.err], [0, [out], []]);
  assert((await Deno.readTextFile(out)).includes('data-chart="error-taxonomy"'));

  const missing = join(root, "no-such-run");
  const bad = await capture(() => reportCommand([fx.a, missing]));
  assertEquals([bad.result, bad.err], [1, [`report: run directory not found: ${missing}`]]);

  const notRun = await capture(() => reportCommand([root]));
  assertEquals(notRun.result, 1);
  assert(notRun.err[0].startsWith(`report: not a run directory: ${root} (missing`), notRun.err[0]);

  const none = await capture(() => reportCommand([]));
  assertEquals([none.result, none.err], [2, [
    "report: no run directory given. usage: deno task report [--out FILE] [--audit DIR] RUN_DIR...",
  ]]);
  const unknown = await capture(() => reportCommand(["--bogus", fx.a]));
  assertEquals(unknown.result, 2);
  assertEquals(unknown.err.length, 1);
});

Deno.test("reportCommand: default output reports/<UTC timestamp>.html", async () => {
  const cwd = Deno.cwd();
  const work = await Deno.makeTempDir({ dir: root });
  Deno.chdir(work);
  try {
    const r = await capture(() => reportCommand([fx.a]));
    assertEquals(r.result, 0);
    assert(/^reports\/\d{8}T\d{6}Z\.html$/.test(r.out[0]), r.out[0]);
    assert((await Deno.stat(join(work, r.out[0]))).isFile);
  } finally {
    Deno.chdir(cwd);
  }
});

Deno.test("a real run from the evaluation engine: numbers agree with its summary.json, report compares it", async () => {
  const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
  const real = join(root, "real-run");
  // With no arguments, `eval` scores the bundled baseline predictions on the superhero sample (no network).
  const proc = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "lib/cli/cli.ts", "eval", "--out", real],
    cwd: repo,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(proc.code, 0, new TextDecoder().decode(proc.stderr));
  const summary = readRun(real).summary!;
  const acc = accuracyByDifficulty(loadRuns([real])).toRecords()[0];
  for (const b of Object.keys(summary.by_difficulty)) {
    assertEquals([acc[`${b}_count`], acc[b]], [
      summary.by_difficulty[b].total,
      summary.by_difficulty[b].accuracy,
    ], b);
  }
  assertEquals([acc.total_count, acc.total], [summary.total, summary.accuracy]);
  // Same dataset file as the fixtures, so the paired comparison applies.
  const html = await buildReport([real, fx.b], { generatedAt });
  assert(html.includes('<section id="comparisons">'));
  assert(html.includes(`<b>${summary.accuracy!.toFixed(2)}</b>`));
});

Deno.test("report without --allow-ffi: one line saying which permission, no stack trace", async () => {
  const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
  const proc = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", "lib/cli/cli.ts", "report", fx.a],
    cwd: repo,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(proc.stderr).trim();
  assertEquals(proc.code, 1);
  assertEquals(err.split("\n").length, 1, err);
  assert(err.startsWith("report: needs --allow-ffi"), err);
});

Deno.test("buildReport: a run that has scored nothing yet does not shift the other runs' tables", async () => {
  const fresh = join(root, "fresh-run");
  await Deno.mkdir(fresh);
  await Deno.copyFile(join(fx.b, "run.json"), join(fresh, "run.json"));
  const html = await buildReport([fresh, fx.a], { generatedAt });
  assert(html.includes("No question scored yet."));
  assert(html.includes("129 questions not scored yet"));
  assertEquals(count(html, '<table class="official">'), 1);
  const aSection = html.slice(html.indexOf("<h3>gpt-3.5-turbo-evidence"));
  assert(aSection.indexOf("<b>57.36</b>") > 0 && aSection.indexOf("<b>57.36</b>") < 2000, "A's own numbers");
  assert(!html.includes('<section id="comparisons">'));
});

Deno.test("report: TEXT that reads as a number is quoted, so '750' and 750 look different", async () => {
  const { runEvaluation } = await import("../../lib/run/evaluate.ts");
  const dir = await Deno.makeTempDir({ prefix: "t2s-report-types-" });
  const db = new URL("../../data/sample/dev_databases", import.meta.url).pathname;
  await Deno.writeTextFile(
    `${dir}/dev.json`,
    JSON.stringify([{
      db_id: "superhero",
      question: "How many heroes?",
      SQL: "SELECT COUNT(*) FROM superhero",
    }]),
  );
  await Deno.mkdir(`${dir}/p`);
  await Deno.writeTextFile(
    `${dir}/p/predict_dev.json`,
    JSON.stringify({ "0": "SELECT '750'\t----- bird -----\tsuperhero" }),
  );
  const run = await runEvaluation({
    dataset: `${dir}/dev.json`,
    dbRoot: db,
    predictions: `${dir}/p/predict_dev.json`,
    out: `${dir}/run`,
    silent: true,
    goldCacheDir: `${dir}/gold`,
  });
  assertEquals(run.records[0].status, "wrong");
  const html = await buildReport([`${dir}/run`]);
  assert(html.includes("&#39;750&#39;") || html.includes("'750'"), "the TEXT value is quoted");
  assert(/>750</.test(html), "the INTEGER value is plain");
});

Deno.test("buildReport leaves out what does not apply: a predictions run has no sampling, provider or cost", async () => {
  const only = await buildReport([fx.a], { generatedAt });
  for (const row of ["sampling", "provider", "base URL", "model identity"]) {
    assert(!only.includes(`<tr><th>${row}</th>`), `${row} shown for a predictions file`);
  }
  assert(!/max_tokens|&quot;n&quot;/.test(only), "sampling settings shown for a predictions file");
  // Beside a model run, that run's card has it, as settings.
  const both = await buildReport([fx.a, fx.b], { generatedAt });
  assertEquals(count(both, "<tr><th>sampling</th>"), 1);
  assert(both.includes("<tr><th>sampling</th><td>temperature 0, max_tokens 512, n 1</td></tr>"));
  assert(/<th>cost_<wbr>usd<\/th>/.test(both), "run B has priced tokens: the cost column stays");
});

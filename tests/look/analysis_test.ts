import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import pl from "nodejs-polars";
import {
  accuracyByDatabase,
  accuracyByDifficulty,
  errorTable,
  errorTaxonomy,
  loadRuns,
  mcnemarExact,
  pairedBootstrap,
  pairedTest,
  parseMetrics,
  readMetrics,
  readRun,
  readRuns,
  solvedDiff,
  tokenUsage,
} from "../../lib/look/mod.ts";
import { parseResults } from "../../lib/run/run_log.ts";
import type { ResultRecord, ResultShape } from "../../lib/types.ts";
import {
  assertNear,
  assertThrowsWith,
  FIXTURE_FACTS,
  makeRunFixtures,
  metricsLines,
  RUN_A_FAILURES,
  RUN_B_FAILURES,
} from "../support/run_fixtures.ts";

const root = await Deno.makeTempDir({ prefix: "t2s-analysis-" });
const fx = await makeRunFixtures(root, { torn: true });
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
const A = "gpt-3.5-turbo-evidence", B = "llama-3.3-70b-instruct";

Deno.test("readRun reads a run, skipping a torn last line", () => {
  const a = readRun(fx.a), b = readRun(fx.b);
  assertEquals([a.records.length, a.torn, a.label], [129, false, A]);
  assertEquals([b.records.length, b.torn, b.label], [129, true, B]);
  assertEquals(b.summary?.correct, 82);
  assertEquals(a.id, "20261120T090000Z-gpt-3.5-turbo-evidence");
});

Deno.test("readRun: a bad line before the end is corruption and names its line", () => {
  // The one reading rule, shared with evaluation's resume (run_log.parseResults).
  const text = '{"index": 1}\n{"index": 2, "db\n{"index": 3}\n';
  assertThrowsWith(() => parseResults(text, "results.jsonl"), "results.jsonl: line 2 is corrupt");
  const torn = parseResults('{"index": 1}\n{"ind', "x");
  assertEquals([[...torn.records.values()], torn.torn], [[{ index: 1 }], true]);
  const clean = parseResults('{"index": 1}\n\n', "x");
  assertEquals([[...clean.records.values()], clean.torn], [[{ index: 1 }], false]);
});

Deno.test("readRun: a retried question's last record wins", async () => {
  const dir = join(root, "retried");
  await Deno.mkdir(dir);
  await Deno.copyFile(join(fx.a, "run.json"), join(dir, "run.json"));
  const lines = (await Deno.readTextFile(join(fx.a, "results.jsonl"))).trim().split("\n");
  const first = JSON.parse(lines[0]) as ResultRecord;
  const retried = { ...first, status: first.status === "correct" ? "wrong" : "correct" };
  await Deno.writeTextFile(join(dir, "results.jsonl"), [...lines, JSON.stringify(retried)].join("\n") + "\n");
  const run = readRun(dir);
  assertEquals(run.records.length, 129);
  assertEquals(run.records.find((r) => r.index === first.index)?.status, retried.status);
  assertEquals(run.summary, null);
});

Deno.test("readRun: missing or invalid run directories get one-line errors naming them", async () => {
  assertThrowsWith(() => readRun(join(root, "nope")), `run directory not found: ${join(root, "nope")}`);
  const empty = join(root, "empty");
  await Deno.mkdir(empty);
  assertThrowsWith(
    () => readRun(empty),
    `not a run directory: ${empty} (missing ${join(empty, "run.json")})`,
  );
  await Deno.writeTextFile(join(empty, "run.json"), "{not json");
  assertThrowsWith(() => readRun(empty), "invalid JSON in");
});

Deno.test("readRuns makes labels and ids unique in order", () => {
  const runs = readRuns([fx.b, fx.a, fx.b]);
  assertEquals(runs.map((r) => r.label), [B, A, `${B} #2`]);
  assertEquals(runs.map((r) => r.id.endsWith("#2")), [false, false, true]);
});

Deno.test("loadRuns: one row per question per run with typed columns", () => {
  const df = loadRuns([fx.a, fx.b]);
  assertEquals(df.height, 258);
  for (
    const c of [
      "run",
      "model",
      "index",
      "question_id",
      "db_id",
      "difficulty",
      "status",
      "error_kind",
      "soft_f1",
    ]
  ) {
    assert(df.columns.includes(c), c);
  }
  assertEquals(df.filter(pl.col("correct")).height, 74 + 82);
  assert(df.getColumn("index").dtype.equals(pl.Int64));
  assertEquals(df.getColumn("prompt_tokens").nullCount(), 129 + 4); // run A has none; 4 generation errors in B
});

Deno.test("accuracyByDifficulty: official buckets, counts and two-decimal percentages", () => {
  const rows = accuracyByDifficulty(loadRuns([fx.a, fx.b])).toRecords();
  assertEquals(rows.map((r) => r.model), [A, B]);
  assertEquals(
    [rows[0].simple_count, rows[0].moderate_count, rows[0].challenging_count, rows[0].total_count],
    [81, 33, 15, 129],
  );
  assertEquals([rows[0].simple, rows[0].moderate, rows[0].challenging, rows[0].total], [
    60.49,
    45.45,
    66.67,
    57.36,
  ]);
  assertEquals([rows[1].simple, rows[1].moderate, rows[1].challenging, rows[1].total], [
    66.67,
    54.55,
    66.67,
    63.57,
  ]);
  assertEquals([rows[1].simple_correct, rows[1].total_correct], [54, 82]);
  // Same numbers as summary.json (computed independently by the fixture).
  assertEquals(readRun(fx.b).summary?.by_difficulty.moderate.accuracy, 54.55);
});

Deno.test("accuracyByDatabase", () => {
  const rows = accuracyByDatabase(loadRuns([fx.a, fx.b])).toRecords();
  assertEquals(rows.map((r) => [r.model, r.db_id, r.count, r.correct, r.accuracy]), [
    [A, "superhero", 129, 74, 57.36],
    [B, "superhero", 129, 82, 63.57],
  ]);
});

const shape = (columns: number, rows: number, distinct = rows): ResultShape => ({
  columns: Array.from({ length: columns }, (_, i) => `c${i}`),
  rows,
  distinct_rows: distinct,
  sample: [],
});

Deno.test("errorTaxonomy classifies every kind", () => {
  const rec = (status: ResultRecord["status"], error: string | null, pred: ResultShape | null = null) => ({
    status,
    error,
    pred,
    gold: shape(2, 5),
  });
  const cases: [ReturnType<typeof rec>, string][] = [
    [rec("correct", null, shape(2, 5)), "correct"],
    [rec("generation_error", "429 Too Many Requests"), "generation_error"],
    [rec("timeout", "query timed out after 30 s"), "timeout"],
    [rec("pred_error", "query timed out after 30 s"), "timeout"],
    [rec("gold_error", "gold SQL failed"), "gold_error"],
    [rec("pred_error", "no such column: T1.name"), "sql_error:no_such_column"],
    [rec("pred_error", "no such table: superheroes"), "sql_error:no_such_table"],
    [rec("pred_error", 'near "SELEC": syntax error'), "sql_error:syntax"],
    [rec("pred_error", "incomplete input"), "sql_error:syntax"],
    [rec("pred_error", "no prediction"), "sql_error:other"],
    [rec("pred_error", "You can only execute one statement at a time."), "sql_error:other"],
    [rec("wrong", null, shape(2, 0)), "wrong:empty_result"],
    [rec("wrong", null, shape(3, 5)), "wrong:column_count"],
    [rec("wrong", null, shape(2, 9, 7)), "wrong:row_count"],
    [rec("wrong", null, shape(2, 9, 5)), "wrong:values"], // duplicates differ but the sets are the same size
    [rec("wrong", null, null), "wrong:values"],
  ];
  for (const [r, kind] of cases) assertEquals(errorTaxonomy(r), kind, `${r.status} ${r.error}`);
});

Deno.test("errorTable: counts per kind match what the fixture dealt", () => {
  const df = loadRuns([fx.a, fx.b]);
  const wide = errorTable(df, { wide: true }).toRecords();
  for (const [i, failures] of [RUN_A_FAILURES, RUN_B_FAILURES].entries()) {
    for (const [kind, n] of failures) assertEquals(wide[i][kind], n, kind);
    assertEquals(wide[i].gold_error, 1);
  }
  assertEquals([wide[0].correct, wide[1].correct, wide[0].generation_error], [74, 82, 0]);
  const long = errorTable(df).toRecords();
  const aRows = long.filter((r) => r.model === A);
  assertEquals(aRows.length, 11); // no generation_error row in A
  assertEquals(aRows[0], {
    run: readRun(fx.a).id,
    model: A,
    error_kind: "correct",
    count: 74,
    percent: 57.36,
  });
  assertEquals(aRows.reduce((s, r) => s + Number(r.count), 0), 129);
});

Deno.test("solvedDiff: questions one run solves and the other does not", () => {
  const df = loadRuns([fx.a, fx.b]);
  const d = solvedDiff(df, A, B);
  assertEquals([d.common, d.both, d.neither, d.onlyA.height, d.onlyB.height], [
    129,
    FIXTURE_FACTS.bothCorrect,
    FIXTURE_FACTS.neither,
    FIXTURE_FACTS.onlyA,
    FIXTURE_FACTS.onlyB,
  ]);
  assert((d.onlyA.getColumn("error_kind_b").toArray() as string[]).every((k) => k !== "correct"));
  const rev = solvedDiff(df, readRun(fx.b).id, readRun(fx.a).id);
  assertEquals(rev.onlyA.getColumn("index").toArray(), d.onlyB.getColumn("index").toArray());
  assertThrowsWith(() => solvedDiff(df, A, "gpt-9"), 'unknown run "gpt-9"; runs: ');
});

Deno.test("mcnemarExact: exact binomial two-sided p", () => {
  assertEquals(mcnemarExact(10, 2), 0.03857421875); // 2·(1+12+66)/4096
  assertEquals(mcnemarExact(2, 10), 0.03857421875);
  assertEquals(mcnemarExact(10, 18), 0.1849333420395851);
  assertEquals(mcnemarExact(0, 0), 1);
  assertEquals(mcnemarExact(5, 5), 1);
  assertEquals(mcnemarExact(0, 6), 0.03125); // 2/64
  // Large tables stay exact enough: 400 vs 350 discordant pairs.
  assertEquals(mcnemarExact(400, 350), 0.07350777405843545); // Python, exact fractions
  assertNear(mcnemarExact(2000, 1000) / 1.0090148627941341e-75, 1, 1e-12); // far tail, no underflow
});

Deno.test("pairedBootstrap: deterministic for a seed, centred on the observed difference", () => {
  const a = Array.from({ length: 200 }, (_, i) => i % 3 !== 0);
  const b = Array.from({ length: 200 }, (_, i) => i % 4 !== 0);
  const ci = pairedBootstrap(a, b, { seed: 7, resamples: 2000 });
  assertEquals(pairedBootstrap(a, b, { seed: 7, resamples: 2000 }), ci);
  assert(pairedBootstrap(a, b, { seed: 8, resamples: 2000 })[0] !== ci[0]);
  const observed = 100 * (a.filter(Boolean).length - b.filter(Boolean).length) / 200; // -8.5
  assert(ci[0] < observed && observed < ci[1], `${ci} around ${observed}`);
  assertEquals(pairedBootstrap(a, a), [0, 0]);
});

Deno.test("pairedTest on the fixture pair: pinned p-value and CI", () => {
  const t = pairedTest(loadRuns([fx.a, fx.b]), A, B);
  assertEquals([t.n, t.bothCorrect, t.onlyA, t.onlyB, t.neither], [129, 64, 10, 18, 37]);
  assertEquals([t.accuracyA, t.accuracyB, t.diff], [57.36, 63.57, -6.2]);
  assertEquals(t.mcnemarP, 0.1849333420395851);
  assertEquals([t.ciLow, t.ciHigh, t.seed, t.resamples], [-14.73, 1.55, 42, 10000]);
  assertEquals(t.significant, false);
  const same = pairedTest(loadRuns([fx.a, fx.a]), A, `${A} #2`);
  assertEquals([same.mcnemarP, same.ciLow, same.ciHigh, same.diff], [1, 0, 0, 0]);
});

Deno.test("pairedTest refuses runs over different datasets", async () => {
  const other = join(root, "other-dataset");
  await Deno.mkdir(other);
  const info = JSON.parse(await Deno.readTextFile(join(fx.b, "run.json")));
  info.dataset.sha256 = "0".repeat(64);
  await Deno.writeTextFile(join(other, "run.json"), JSON.stringify(info));
  await Deno.copyFile(join(fx.b, "results.jsonl"), join(other, "results.jsonl"));
  assertThrowsWith(() => pairedTest(loadRuns([fx.a, other]), A, `${B}`), "different datasets");
});

Deno.test("tokenUsage: sums per run; tokens null for a predictions run, cost null when unknown", () => {
  const rows = tokenUsage(loadRuns([fx.a, fx.b])).toRecords();
  assertEquals(rows.map((r) => [r.model, r.questions, r.prompt_tokens, r.completion_tokens, r.cost_usd]), [
    [A, 129, null, null, null],
    [B, 129, 144355, 9469, 0.09265],
  ]);
});

Deno.test("parseMetrics / readMetrics keep train and eval lines, skip the rest", () => {
  assertEquals(readMetrics(fx.train).length, 63);
  const lines = metricsLines();
  const text = [
    "Loading checkpoint shards: 100%",
    lines[0],
    "{not json",
    lines[19],
    lines[20],
    '{"type":"train","st',
  ]
    .join("\n");
  const m = parseMetrics(text);
  assertEquals(m.map((x) => [x.type, x.step]), [["train", 1], ["train", 20], ["eval", 20]]);
  // Lines the chart cannot plot are skipped too: other types, a non-numeric step or loss, a JSON array.
  const untyped = [
    '{"type":"progress","step":1,"loss":1}',
    '{"type":"train","step":"2","loss":1}',
    '{"type":"train","step":3,"loss":null}',
    '{"type":"eval","step":4,"eval_loss":"0.5"}',
    '{"type":"eval","step":5,"loss":0.5}',
    "[1]",
    '{"type":"eval","step":6,"epoch":1,"eval_loss":0.5}',
  ].join("\n");
  assertEquals(parseMetrics(untyped), [{ type: "eval", step: 6, epoch: 1, eval_loss: 0.5 }]);
});

Deno.test("accuracyByDifficulty: questions without a difficulty get an `unknown` bucket before total", async () => {
  const dir = join(root, "no-difficulty");
  await Deno.mkdir(dir);
  await Deno.copyFile(join(fx.a, "run.json"), join(dir, "run.json"));
  const records = readRun(fx.a).records.map((r, i) =>
    i < 10 ? { ...r, difficulty: i < 4 ? "unknown" : "very_hard" } : r
  );
  await Deno.writeTextFile(join(dir, "results.jsonl"), records.map((r) => JSON.stringify(r) + "\n").join(""));
  const table = accuracyByDifficulty(loadRuns([dir]));
  const row = table.toRecords()[0];
  assertEquals(table.columns.slice(-9), [
    "unknown_count",
    "unknown_correct",
    "unknown",
    "very_hard_count",
    "very_hard_correct",
    "very_hard",
    "total_count",
    "total_correct",
    "total",
  ]);
  assertEquals([row.unknown_count, row.very_hard_count, row.total_count, row.total], [4, 6, 129, 57.36]);
  assert(table.getColumn("very_hard").dtype.equals(pl.Float64));
  const k = records.slice(4, 10).filter((r) => r.status === "correct").length;
  assertEquals(row.very_hard, Number((100 * k / 6).toFixed(2)));
});

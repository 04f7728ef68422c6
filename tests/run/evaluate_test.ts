import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { join } from "node:path";
import { runEvaluation, SAMPLE_DIR, SAMPLE_PREDICTIONS } from "../../lib/run/evaluate.ts";
import { sha256Hex } from "../../lib/util/hash.ts";
import { STATUSES } from "../../lib/types.ts";

const DEV = join(SAMPLE_DIR, "dev.json");
const DB_ROOT = join(SAMPLE_DIR, "dev_databases");
const SUPERHERO_DB = join(DB_ROOT, "superhero", "superhero.sqlite");

async function tmp(prefix: string): Promise<string> {
  return await Deno.makeTempDir({ prefix: `t2s-${prefix}-` });
}

async function readJsonl(path: string): Promise<Record<string, unknown>[]> {
  return (await Deno.readTextFile(path)).split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

/** Per-question verdicts of the official semantics, computed by Python's sqlite3 over the same files. */
async function officialVerdicts(predictions: string): Promise<Record<string, [number, number]>> {
  const out = await new Deno.Command("python3", {
    args: ["tests/parity/official_ex.py", DEV, predictions, DB_ROOT, "--db", "superhero"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test("the bundled baseline scores question by question as the official evaluator (EX and Soft-F1)", async () => {
  const dbBefore = sha256Hex(await Deno.readFile(SUPERHERO_DB));
  const out = await tmp("parity");
  const gold = await tmp("gold");
  const res = await runEvaluation({ out, silent: true, goldCacheDir: gold });
  assert(res.usedDefaults);
  assertEquals(res.records.length, 129);
  const official = await officialVerdicts(SAMPLE_PREDICTIONS);
  assertEquals(Object.keys(official).length, 129);
  for (const r of res.records) {
    const [ex, f1] = official[String(r.index)];
    assertEquals(r.status === "correct" ? 1 : 0, ex, `question ${r.index}: ${r.status} ${r.error ?? ""}`);
    assert(Math.abs(r.soft_f1 - f1) < 1e-9, `soft-F1 of question ${r.index}: ${r.soft_f1} vs ${f1}`);
  }
  // The official table's numbers for this file and gold revision.
  assertEquals(res.summary.correct, Object.values(official).filter(([ex]) => ex === 1).length);
  assertEquals(res.summary.accuracy, Math.round((res.summary.correct / 129) * 10000) / 100);
  assertEquals(sha256Hex(await Deno.readFile(SUPERHERO_DB)), dbBefore, "database bytes unchanged");
});

Deno.test("run directory and summary.json follow the contract", async () => {
  const out = await tmp("contract");
  const res = await runEvaluation({
    out,
    silent: true,
    limit: 20,
    db: ["superhero"],
    predictions: SAMPLE_PREDICTIONS,
  });
  const names = [...Deno.readDirSync(out)].map((e) => e.name).sort();
  assertEquals(names, ["predict_dev.json", "results.jsonl", "run.json", "summary.json"]);
  const summary = JSON.parse(await Deno.readTextFile(join(out, "summary.json")));
  assertEquals(Object.keys(summary).sort(), [
    "accuracy",
    "by_difficulty",
    "correct",
    "cost_usd",
    "evaluator",
    "r_ves",
    "soft_f1",
    "statuses",
    "tokens",
    "total",
  ]);
  assertEquals(summary.evaluator, "bird-ex-set");
  assertEquals(summary.total, 20);
  assertEquals(Object.keys(summary.statuses).sort(), [...STATUSES].sort());
  for (const d of ["simple", "moderate", "challenging"]) {
    assertEquals(Object.keys(summary.by_difficulty[d]).sort(), ["accuracy", "correct", "soft_f1", "total"]);
  }
  const sum = (["simple", "moderate", "challenging"] as const).reduce(
    (a, d) => a + summary.by_difficulty[d].total,
    0,
  );
  assertEquals(sum, 20);
  const run = JSON.parse(await Deno.readTextFile(join(out, "run.json")));
  assertEquals(run.evaluator, "bird-ex-set");
  assert(/^3\.\d+\.\d+$/.test(run.sqlite_version));
  assertEquals(run.dataset.sha256, sha256Hex(await Deno.readFile(DEV)));
  const preds = JSON.parse(await Deno.readTextFile(join(out, "predict_dev.json")));
  assertEquals(Object.keys(preds).length, 20);
  const first = res.records[0];
  assertEquals(preds[String(first.index)], `${first.sql}\t----- bird -----\tsuperhero`);
  const lines = await readJsonl(join(out, "results.jsonl"));
  assertEquals(lines.length, 20);
  for (
    const key of ["index", "question_id", "db_id", "difficulty", "prompt_hash", "completion", "sql", "status"]
  ) {
    assert(key in lines[0], `record has ${key}`);
  }
});

Deno.test("gold results are cached: a second predictions file reruns no gold query", async () => {
  const goldDir = await tmp("goldcache");
  const dev = JSON.parse(await Deno.readTextFile(DEV)) as { db_id: string; SQL: string }[];
  const distinctGold = new Set(dev.filter((q) => q.db_id === "superhero").map((q) => q.SQL)).size;
  // First: the gold SQL itself as predictions, so every prediction runs and every question must be correct.
  const goldPreds: Record<string, string> = {};
  dev.forEach((q, i) => {
    if (q.db_id === "superhero") goldPreds[String(i)] = `${q.SQL}\t----- bird -----\tsuperhero`;
  });
  const predsDir = await tmp("gold-preds");
  const predsFile = join(predsDir, "predict_dev.json");
  await Deno.writeTextFile(predsFile, JSON.stringify(goldPreds));
  const first = await runEvaluation({
    out: await tmp("g1"),
    silent: true,
    goldCacheDir: goldDir,
    predictions: predsFile,
    db: ["superhero"],
  });
  assertEquals(first.summary.correct, 129);
  assertEquals(first.summary.accuracy, 100);
  assertEquals(first.gold.misses, distinctGold, "each distinct gold query runs once");
  // Second: the bundled baseline on the same questions: no gold query runs again.
  const second = await runEvaluation({ out: await tmp("g2"), silent: true, goldCacheDir: goldDir });
  assertEquals(second.gold.misses, 0);
  assert(second.gold.hits > 100);
  // Failed predictions still show the gold result when it is cached.
  const failed = second.records.find((r) => r.status === "pred_error")!;
  assert(failed.gold !== null);
});

Deno.test("resume: a torn last line is dropped, finished questions are not redone; a different run is refused", async () => {
  const out = await tmp("resume");
  const gold = await tmp("gold");
  await runEvaluation({ out, silent: true, goldCacheDir: gold });
  const path = join(out, "results.jsonl");
  const lines = (await Deno.readTextFile(path)).split("\n").filter(Boolean);
  // Keep 50 records plus half of the 51st, as a SIGKILL mid-write would leave it.
  await Deno.writeTextFile(path, lines.slice(0, 50).join("\n") + "\n" + lines[50].slice(0, 40));
  const resumed = await runEvaluation({ out, silent: true, goldCacheDir: gold });
  assertEquals(resumed.records.length, 129);
  const after = await readJsonl(path);
  assertEquals(after.length, 129, "79 appended to the 50 kept, none twice");
  assertEquals(new Set(after.map((r) => r.index)).size, 129);
  assertEquals(after.slice(0, 50), lines.slice(0, 50).map((l) => JSON.parse(l)));
  await rejects(
    runEvaluation({ out, silent: true, limit: 10, db: ["superhero"], predictions: SAMPLE_PREDICTIONS }),
    (e: Error) => e.name === "RunMismatchError" && /selection/.test(e.message),
  );
  await rejects(
    runEvaluation({ out, silent: true, goldCacheDir: gold, ves: 3 }),
    (e: Error) => e.name === "RunMismatchError" && /R-VES/.test(e.message),
  );
  await rejects(
    runEvaluation({ out, silent: true, goldCacheDir: gold, timeoutS: 5 }),
    (e: Error) => e.name === "RunMismatchError" && /timeout/.test(e.message),
  );
});

Deno.test("bad input: malformed predictions or dataset, missing database, predictions without entries", async () => {
  const dir = await tmp("bad");
  const badJson = join(dir, "bad.json");
  await Deno.writeTextFile(badJson, '{"0": "SELECT 1"');
  await rejects(
    runEvaluation({ out: join(dir, "r1"), silent: true, predictions: badJson, db: ["superhero"] }),
    (e: Error) =>
      e.name === "DatasetError" && e.message.includes(badJson) && /malformed JSON/.test(e.message),
  );
  const badDataset = join(dir, "dev.json");
  await Deno.writeTextFile(
    badDataset,
    JSON.stringify([{ db_id: "superhero", question: "q", SQL: "SELECT 1" }, { db_id: 3 }]),
  );
  await rejects(
    runEvaluation({
      out: join(dir, "r2"),
      silent: true,
      dataset: badDataset,
      predictions: SAMPLE_PREDICTIONS,
    }),
    (e: Error) => e.message.includes(badDataset) && /entry 1/.test(e.message) && /db_id/.test(e.message),
  );
  // The full dev set with only superhero's database present (the sample alone defaults to --db superhero).
  const fullDev = join(dir, "full", "dev.json");
  await Deno.mkdir(join(dir, "full"));
  await Deno.copyFile(DEV, fullDev);
  await rejects(
    runEvaluation({
      out: join(dir, "r3"),
      silent: true,
      dataset: fullDev,
      dbRoot: DB_ROOT,
      predictions: SAMPLE_PREDICTIONS,
    }),
    (e: Error) =>
      /missing databases/.test(e.message) && /california_schools/.test(e.message) && /--db/.test(e.message),
  );
  // A selected question without a prediction, or a non-string one, is pred_error "no prediction".
  const sparse = join(dir, "sparse.json");
  const dev = JSON.parse(await Deno.readTextFile(DEV)) as { db_id: string; SQL: string }[];
  const firstHero = dev.findIndex((q) => q.db_id === "superhero");
  await Deno.writeTextFile(sparse, JSON.stringify({ [firstHero]: 42 }));
  const res = await runEvaluation({
    out: join(dir, "r4"),
    silent: true,
    predictions: sparse,
    db: ["superhero"],
    limit: 3,
  });
  assertEquals(res.records.map((r) => r.status), ["pred_error", "pred_error", "pred_error"]);
  assert(/not a string/.test(res.records[0].error!));
  assertEquals(res.records[1].error, "no prediction");
});

Deno.test("hostile predictions fail their own question only; every other question is scored", async () => {
  const dev = JSON.parse(await Deno.readTextFile(DEV)) as { db_id: string; SQL: string }[];
  const heroes = dev.map((q, i) => [q, i] as const).filter(([q]) => q.db_id === "superhero");
  const hostile = [
    "DROP TABLE superhero",
    "DELETE FROM superhero",
    "UPDATE superhero SET full_name = NULL",
    "ATTACH DATABASE '/tmp/t2s-evil.db' AS evil",
    "VACUUM INTO '/tmp/t2s-evil-copy.db'",
    "PRAGMA writable_schema = ON",
    "SELECT load_extension('/tmp/evil.so')",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    "SELECT a.id, b.id, c.id FROM superhero a, superhero b, superhero c",
    "SELECT 1; DROP TABLE superhero",
  ];
  const preds: Record<string, string> = {};
  heroes.forEach(([q, i], k) => {
    preds[String(i)] = `${k < hostile.length ? hostile[k] : q.SQL}\t----- bird -----\tsuperhero`;
  });
  const dir = await tmp("hostile");
  const file = join(dir, "predict_dev.json");
  await Deno.writeTextFile(file, JSON.stringify(preds));
  const before = sha256Hex(await Deno.readFile(SUPERHERO_DB));
  const res = await runEvaluation({
    out: join(dir, "run"),
    silent: true,
    predictions: file,
    db: ["superhero"],
    // Long enough for the slowest correct superhero query on a loaded machine; the endless ones still stop.
    timeoutS: 3,
  });
  assertEquals(sha256Hex(await Deno.readFile(SUPERHERO_DB)), before);
  const byIndex = new Map(res.records.map((r) => [r.index, r]));
  heroes.forEach(([, i], k) => {
    const r = byIndex.get(i)!;
    if (k < hostile.length) {
      assert(["pred_error", "timeout"].includes(r.status), `${hostile[k]} → ${r.status}`);
    } else assertEquals(r.status, "correct");
  });
  for (const f of ["/tmp/t2s-evil.db", "/tmp/t2s-evil-copy.db"]) {
    assert(!(await Deno.stat(f).then(() => true, () => false)), `${f} must not exist`);
  }
});

Deno.test("CLI: one-line errors and non-zero exits for bad input", async () => {
  const run = async (...args: string[]) => {
    const o = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "lib/cli/cli.ts", "eval", ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: o.code, err: new TextDecoder().decode(o.stderr).trim() };
  };
  const missing = await run("--dataset", "/nonexistent/dev.json", "--predictions", SAMPLE_PREDICTIONS);
  assertEquals(missing.code, 1);
  assertEquals(missing.err, "error: /nonexistent/dev.json: dataset not found");
  const flag = await run("--limit", "abc");
  assertEquals(flag.code, 2);
  assert(/--limit expects an integer/.test(flag.err) && !flag.err.includes("\n"));
  // Nothing scored at all is a setup problem: the table is printed, then one line and exit 1.
  const dir = await tmp("allbad");
  const bad = join(dir, "predict_dev.json");
  await Deno.writeTextFile(bad, JSON.stringify({}));
  const none = await run(
    "--predictions",
    bad,
    "--db",
    "superhero",
    "--limit",
    "3",
    "--out",
    join(dir, "r"),
    "--quiet",
  );
  assertEquals(none.code, 1);
  assert(/none of the 3 questions could be scored; the first error: no prediction/.test(none.err), none.err);
  const key = await run("--api-key", "sk-123");
  assertEquals(key.code, 2);
  assert(/environment only/.test(key.err) && !key.err.includes("sk-123"));
});

Deno.test("a run folder is locked while written; predictions naming another database are refused", async () => {
  const out = await tmp("lock");
  // A live holder of the flock (a second descriptor of this process conflicts like another process).
  const holder = await Deno.open(join(out, ".lock"), { create: true, write: true });
  try {
    assert(await holder.tryLock(true));
    await rejects(
      runEvaluation({ out, silent: true, limit: 3 }),
      (e: Error) => /being written by another run/.test(e.message) && !e.message.includes("\n"),
    );
  } finally {
    holder.close();
  }
  // A lock file left by a dead run (here: naming a pid that is alive, ours) never blocks.
  await Deno.writeTextFile(join(out, ".lock"), String(Deno.pid));
  const res = await runEvaluation({ out, silent: true, limit: 3 });
  assertEquals(res.summary.total, 3);
  // Released (and removed) at the end.
  assert(!(await Deno.stat(join(out, ".lock")).then(() => true, () => false)));
  // The official script runs a prediction on the database it names: another one is a mismatched file.
  const dir = await tmp("otherdb");
  const file = join(dir, "predict_dev.json");
  await Deno.writeTextFile(file, JSON.stringify({ "717": "SELECT 1\t----- bird -----\tcard_games" }));
  const mixed = await runEvaluation({
    out: join(dir, "run"),
    silent: true,
    predictions: file,
    db: ["superhero"],
    limit: 1,
  });
  assertEquals(mixed.records[0].status, "pred_error");
  assert(/names database card_games/.test(mixed.records[0].error!));
});

Deno.test("R-VES: correct questions are timed and rewarded, wrong ones get 0, the summary is mean(sqrt(reward))", async () => {
  const out = await tmp("ves");
  const gold = await tmp("ves-gold");
  const { records, summary } = await runEvaluation({
    out,
    silent: true,
    goldCacheDir: gold,
    limit: 20,
    ves: 3,
  });
  const rewards = records.map((r) => r.ves_reward ?? -1);
  assert(records.some((r) => r.status === "correct") && records.some((r) => r.status !== "correct"));
  for (const r of records) {
    if (r.status === "correct") {
      assert([0.25, 0.5, 0.75, 1, 1.25].includes(r.ves_reward!), String(r.ves_reward));
    } else assertEquals(r.ves_reward, 0);
  }
  const expected = rewards.reduce((a, x) => a + Math.sqrt(x), 0) / rewards.length * 100;
  assertEquals(summary.r_ves, Math.round(expected * 100) / 100);
});

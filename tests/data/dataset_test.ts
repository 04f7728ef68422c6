import { deepStrictEqual as assertEquals, ok as assert, rejects, throws } from "node:assert/strict";
import { join } from "node:path";
import {
  dbPath,
  loadDataset,
  loadPredictions,
  missingDatabases,
  parseDataset,
  parsePredictions,
  selectExamples,
} from "../../lib/data/dataset.ts";
import { runEvaluation, SAMPLE_DIR } from "../../lib/run/evaluate.ts";
import { summarize } from "../../lib/run/run_log.ts";

Deno.test("dev, mini-dev and train load; train has no difficulty; a BIRD folder resolves to its file", async () => {
  const dev = await loadDataset(SAMPLE_DIR);
  assertEquals(dev.path, join(SAMPLE_DIR, "dev.json"));
  assertEquals(dev.examples.length, 1534);
  assertEquals(dev.dbRoot, join(SAMPLE_DIR, "dev_databases"));
  const counts = Object.groupBy(dev.examples, (e) => e.difficulty);
  assertEquals([counts.simple!.length, counts.moderate!.length, counts.challenging!.length], [925, 464, 145]);
  const mini = await loadDataset(join(SAMPLE_DIR, "mini_dev"));
  assertEquals(mini.examples.length, 500);
  assert(mini.path.endsWith("mini_dev_sqlite.json"));
  const train = await loadDataset(join(SAMPLE_DIR, "train", "train.json"));
  assert(train.examples.length > 6000);
  assert(train.examples.every((e) => e.difficulty === "unknown"));
  assertEquals(train.dbRoot, join(SAMPLE_DIR, "train", "train_databases"));
  // Selection: --db then --limit, dataset order kept; missing databases listed.
  const heroes = selectExamples(dev, { db: ["superhero"], limit: 5 });
  assertEquals(heroes.map((e) => e.index), [717, 718, 719, 720, 721]);
  assertEquals(await missingDatabases(dev, heroes), []);
  assertEquals(await missingDatabases(dev, selectExamples(dev, { limit: 2 })), ["california_schools"]);
  assertEquals(dbPath("/x", "superhero"), "/x/superhero/superhero.sqlite");
  throws(() => selectExamples(dev, { db: ["nope"] }), /no question uses database nope/);
  // A summary of TRAIN-like records puts them under "unknown" and keeps the three official buckets empty.
  const s = summarize([]);
  assertEquals(s.by_difficulty.simple, { total: 0, correct: 0, accuracy: null, soft_f1: null });
});

Deno.test("validation names the file and the bad entry", () => {
  throws(() => parseDataset({ a: 1 }, "f.json"), /f\.json: expected a JSON array/);
  throws(
    () => parseDataset([{ db_id: "x", question: "q" }], "f.json"),
    /f\.json: entry 0: field SQL \(or query\)/,
  );
  throws(
    () => parseDataset([{ db_id: "../etc", question: "q", SQL: "s" }], "f.json"),
    /entry 0: db_id .* not a plain name/,
  );
  throws(
    () => parseDataset([{ db_id: "x", question: "q", SQL: "s", evidence: 3 }], "f.json"),
    /entry 0: evidence/,
  );
  assertEquals(parseDataset([{ db_id: "x", question: "q", query: "SELECT 1" }], "f.json")[0].sql, "SELECT 1");
  throws(() => parsePredictions([], "p.json"), /p\.json: expected a JSON object/);
  throws(() => parsePredictions({ abc: "x" }, "p.json"), /key "abc" is not a question index/);
  const p = parsePredictions({ "3": "SELECT 1\t----- bird -----\tdb", "4": null }, "p.json");
  assertEquals(p.get(3), { sql: "SELECT 1", db: "db" });
  assert("error" in p.get(4)!);
});

Deno.test("missing or malformed files give one clear line", async () => {
  await rejects(loadDataset("/nonexistent/x.json"), /\/nonexistent\/x\.json: dataset not found/);
  await rejects(loadPredictions("/nonexistent/p.json"), /\/nonexistent\/p\.json: predictions file not found/);
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(join(dir, "dev.json"), "[{");
  await rejects(
    loadDataset(dir),
    (e: Error) => e.message.startsWith(join(dir, "dev.json")) && /malformed JSON/.test(e.message),
  );
});

Deno.test("--ves times correct questions and reports R-VES", async () => {
  const res = await runEvaluation({
    out: await Deno.makeTempDir(),
    silent: true,
    limit: 12,
    db: ["superhero"],
    ves: 3,
    predictions: join(SAMPLE_DIR, "predictions", "gpt-3.5-turbo-evidence", "predict_dev.json"),
  });
  assert(
    typeof res.summary.r_ves === "number" && res.summary.r_ves > 0 && res.summary.r_ves <= 125 ** 0.5 * 10,
  );
  for (const r of res.records) {
    if (r.status === "correct") {
      assert([0.25, 0.5, 0.75, 1, 1.25].includes(r.ves_reward!), String(r.ves_reward));
    } else assertEquals(r.ves_reward, 0);
  }
});

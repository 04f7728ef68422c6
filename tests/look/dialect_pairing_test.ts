/**
 * One model in several dialects compares question by question: mini-dev's SQLite and PostgreSQL files hold the
 * same questions in the same order (their gold SQL and some evidence differ), so the paired test pairs their
 * runs; runs over different questions are still refused.
 *
 * @module
 */
import { ok as assert, throws } from "node:assert/strict";
import { join } from "node:path";
import { loadRuns, pairedTest, readRuns } from "../../lib/look/mod.ts";
import { comparablePairs } from "../../lib/look/report_tables.ts";
import { runEvaluation } from "../../lib/run/mod.ts";

const SAMPLE = join(import.meta.dirname!, "..", "..", "data", "sample");
const DB_ROOT = join(SAMPLE, "dev_databases");
const PG_PREDS = join(SAMPLE, "predictions", "mini_dev", "predict_mini_dev_gpt-35-turbo_postgresql.json");

Deno.test("runs of one set in two dialects pair question by question; other sets are refused", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "t2s-dialect-pairs-" });
  try {
    const common = { db: ["superhero"], dbRoot: DB_ROOT, silent: true, goldCacheDir: join(tmp, "gold") };
    // The same model's answers (the official PostgreSQL baseline), scored on the SQLite and PostgreSQL files.
    const sqlite = await runEvaluation({
      ...common,
      dataset: join(SAMPLE, "mini_dev", "mini_dev_sqlite.json"),
      predictions: PG_PREDS,
      out: join(tmp, "sqlite"),
    });
    const pg = await runEvaluation({
      ...common,
      dialect: "postgresql",
      dataset: join(SAMPLE, "mini_dev", "mini_dev_postgresql.json"),
      predictions: PG_PREDS,
      out: join(tmp, "postgresql"),
    });
    assert(sqlite.summary.total === 52 && pg.summary.total === 52);
    const df = loadRuns([sqlite.dir, pg.dir]);
    const runs = [...new Set(df.getColumn("run").toArray() as string[])];
    const t = pairedTest(df, runs[0], runs[1]);
    assert(t.n === 52, `paired over the 52 questions, got ${t.n}`);
    // A set whose questions differ (one question_id changed) is not comparable, whatever its dialect.
    const questions = JSON.parse(await Deno.readTextFile(join(SAMPLE, "mini_dev", "mini_dev_sqlite.json")));
    const first = questions.findIndex((q: { db_id: string }) => q.db_id === "superhero");
    questions[first].question_id = -1;
    await Deno.writeTextFile(join(tmp, "other.json"), JSON.stringify(questions));
    const other = await runEvaluation({
      ...common,
      dataset: join(tmp, "other.json"),
      predictions: PG_PREDS,
      out: join(tmp, "other"),
    });
    const mixed = loadRuns([pg.dir, other.dir]);
    const ids = [...new Set(mixed.getColumn("run").toArray() as string[])];
    throws(() => pairedTest(mixed, ids[0], ids[1]), /different datasets/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("the report pairs a model's runs in two dialects of one set", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "t2s-dialect-report-" });
  try {
    const common = { db: ["superhero"], dbRoot: DB_ROOT, silent: true, goldCacheDir: join(tmp, "gold") };
    const dirs = [];
    for (
      const [dialect, file] of [["sqlite", "mini_dev_sqlite.json"], [
        "postgresql",
        "mini_dev_postgresql.json",
      ]]
    ) {
      const r = await runEvaluation({
        ...common,
        dialect: dialect as "sqlite" | "postgresql",
        dataset: join(SAMPLE, "mini_dev", file),
        predictions: PG_PREDS,
        out: join(tmp, dialect),
      });
      dirs.push(r.dir);
    }
    const runs = readRuns(dirs);
    assert(comparablePairs(runs).length === 1, "the two dialect runs are one comparable pair");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

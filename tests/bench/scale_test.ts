import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { ensureScaleDatabase, FULL_SCALE, type ScaleQuestion } from "../../lib/bench/mod.ts";
import { runEvaluation } from "../../lib/run/evaluate.ts";
import { BIRD_SEPARATOR } from "../../lib/data/dataset.ts";
import { fileSha256 } from "../../lib/util/files.ts";

const TINY = { transactions: 20_000, accounts: 2_000, posts: 3_000, users: 1_000 };

function count(db: string, sql: string): number {
  const conn = new DatabaseSync(db, { readOnly: true });
  try {
    return Number(Object.values(conn.prepare(sql).get() as Record<string, number>)[0]);
  } finally {
    conn.close();
  }
}

Deno.test("a scaled-down build is deterministic, reused by its hash, and its predictions are what they say", async () => {
  const a = await Deno.makeTempDir({ prefix: "t2s-scale-a-" });
  const b = await Deno.makeTempDir({ prefix: "t2s-scale-b-" });
  try {
    const first = await ensureScaleDatabase({ params: TINY, cacheDir: a });
    const other = await ensureScaleDatabase({ params: TINY, cacheDir: b });
    assert(first.built && other.built);
    const again = await ensureScaleDatabase({ params: TINY, cacheDir: a });
    assertEquals(again.built, false);
    assertEquals(again.dir, first.dir);
    for (const db of ["bank_scale", "forum_scale"]) {
      const path = (r: typeof first) => join(r.dbRoot, db, `${db}.sqlite`);
      assertEquals(await fileSha256(path(first)), await fileSha256(path(other)), `${db} is byte-identical`);
    }
    assertEquals(await Deno.readTextFile(first.predictions), await Deno.readTextFile(other.predictions));
    // Other sizes are another build, in another folder.
    const bigger = await ensureScaleDatabase({ params: { ...TINY, transactions: 30_000 }, cacheDir: a });
    assert(bigger.built && bigger.dir !== first.dir);
    assertEquals(
      count(join(bigger.dbRoot, "bank_scale", "bank_scale.sqlite"), "SELECT COUNT(*) FROM trans"),
      30_000,
    );
    // Each prediction is what its label says, checked by Python's sqlite3 (the official logic).
    const verdicts = await official(first.dataset, first.predictions, first.dbRoot);
    first.questions.forEach((q, i) => {
      const [ex] = verdicts[String(i)];
      if (q.kind === "correct") assertEquals(ex, 1, `question ${i} (${q.question}) should be correct`);
      if (q.kind === "error") assertEquals(ex, 0, `question ${i} should fail`);
    });
    assert(first.questions.length >= 45, `${first.questions.length} questions`);
    const kinds = new Set(first.questions.map((q) => q.kind));
    assertEquals([...kinds].sort(), ["correct", "error", "wrong"]);
  } finally {
    await Deno.remove(a, { recursive: true });
    await Deno.remove(b, { recursive: true });
  }
});

async function official(dataset: string, predictions: string, dbRoot: string) {
  const out = await new Deno.Command("python3", {
    args: ["tests/parity/official_ex.py", dataset, predictions, dbRoot, "--processes", "2"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout)) as Record<string, [number, number]>;
}

Deno.test({
  name: "BIRD scale: a 1M-row result and queries over the 5M-row fact table score as the official logic",
  // The full build (~0.8 GB) is cached under $XDG_CACHE_HOME/text2sql/scale and reused by later runs.
  sanitizeResources: false,
  fn: async () => {
    const scale = await ensureScaleDatabase();
    const bank = join(scale.dbRoot, "bank_scale", "bank_scale.sqlite");
    assert(count(bank, "SELECT COUNT(*) FROM trans") >= FULL_SCALE.transactions);
    assert(
      count(bank, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'trans'") >= 2,
    );
    let bytes = 0;
    for (const db of ["bank_scale", "forum_scale"]) {
      bytes += (await Deno.stat(join(scale.dbRoot, db, `${db}.sqlite`))).size;
    }
    assert(bytes >= 200 * 2 ** 20, `${bytes} bytes`);

    // A subset the suite can afford: the 1M-row result, full scans and window queries over the fact table,
    // a wrong and an erroring prediction, long texts.
    const pick = (i: number) => [i, scale.questions[i]] as const;
    const chosen: (readonly [number, ScaleQuestion])[] = scale.questions.map((_, i) => pick(i)).filter((
      [, q],
    ) =>
      q.tags.includes("1m") || q.kind === "error" || q.tags.includes("long-text") ||
      (q.tags.includes("fact") && q.tags.includes("window")) ||
      q.question.startsWith("How many transactions were")
    );
    const million = chosen.find(([, q]) => q.tags.includes("1m"));
    assert(million, "a 1M-row question is chosen");
    assert(count(bank, `SELECT COUNT(*) FROM (${million[1].SQL})`) >= 1_000_000, "its gold has ≥ 1M rows");
    assert(chosen.some(([, q]) => q.kind === "wrong") && chosen.some(([, q]) => q.kind === "correct"));

    const dir = await Deno.makeTempDir({ prefix: "t2s-scale-run-" });
    try {
      const dataset = join(dir, "dev.json");
      const predictions = join(dir, "predict_dev.json");
      await Deno.writeTextFile(dataset, JSON.stringify(chosen.map(([i, q]) => ({ question_id: i, ...q }))));
      await Deno.writeTextFile(
        predictions,
        JSON.stringify(
          Object.fromEntries(
            chosen.map(([, q], j) => [String(j), `${q.prediction}${BIRD_SEPARATOR}${q.db_id}`]),
          ),
        ),
      );
      const verdicts = await official(dataset, predictions, scale.dbRoot);
      const res = await runEvaluation({
        dataset,
        dbRoot: scale.dbRoot,
        predictions,
        workers: 2,
        goldCacheDir: join(dir, "gold"),
        out: join(dir, "run"),
        silent: true,
      });
      assertEquals(res.records.length, chosen.length);
      for (const r of res.records) {
        const [ex, f1] = verdicts[String(r.index)];
        const [i, q] = chosen[r.index];
        assertEquals(
          r.status === "correct" ? 1 : 0,
          ex,
          `scale question ${i} (${q.question}): ${r.status} ${r.error ?? ""}`,
        );
        assert(Math.abs(r.soft_f1 - f1) < 1e-9, `soft-F1 of scale question ${i}: ${r.soft_f1} vs ${f1}`);
      }
      const millionRecord = res.records.find((r) => chosen[r.index] === million)!;
      assertEquals(millionRecord.status, "correct", "the 1M-row prediction is compared, not refused");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

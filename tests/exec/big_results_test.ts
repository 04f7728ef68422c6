/**
 * Results at real scale are compared exactly inside the worker: 1M rows equal, 1M rows with one cell different,
 * the same through the gold digest the cache keeps, and no row cap (Python compares any size; so do we).
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import type { GoldDigest } from "../../lib/exec/pool_types.ts";
import { SqlitePool } from "../../lib/exec/sqlite_pool.ts";
import { cacheable } from "../../lib/exec/gold_cache.ts";

const SAMPLE_DB =
  new URL("../../data/sample/dev_databases/superhero/superhero.sqlite", import.meta.url).pathname;
const rows = (n: number, cell = "x * 2.5") =>
  `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < ${n}) SELECT x, ${cell}, 'r' || x FROM c`;

Deno.test("a 1M-row result is compared exactly: equal, one cell different, and against the cached digest", async () => {
  // A digest this big is not sent back by default (see the next test): asked for here, to compare against it.
  const pool = new SqlitePool({ workers: 1, timeoutS: 300, goldDigestChars: Number.MAX_SAFE_INTEGER });
  try {
    const gold = rows(1_000_000);
    const same = await pool.score(SAMPLE_DB, rows(1_000_000, "x * 5 / 2.0"), { gold });
    assert(same.pred.ok && same.gold?.ok && same.goldExecuted);
    assertEquals([same.match, same.softF1], [true, 1]);
    assertEquals([same.pred.rowCount, same.pred.distinctRows, same.gold.distinctRows], [
      1_000_000,
      1_000_000,
      1_000_000,
    ]);
    // One cell of one row differs: not EX; Soft-F1 loses exactly that cell (1/3 of one row in a million).
    const one = rows(1_000_000, "CASE x WHEN 777777 THEN 0 ELSE x * 2.5 END");
    const cached = same.gold as GoldDigest;
    const diff = await pool.score(SAMPLE_DB, one, { gold: cached });
    assert(diff.pred.ok && !diff.goldExecuted);
    assertEquals(diff.match, false);
    const tp = 1_000_000 - 1 / 3;
    const f1 = (2 * (tp / (tp + 1 / 3)) * (tp / (tp + 1 / 3))) / (2 * (tp / (tp + 1 / 3)));
    assert(Math.abs(diff.softF1 - f1) < 1e-12, `Soft-F1 ${diff.softF1} vs ${f1}`);
    // Order and duplicates do not matter to EX, against the cached digest too.
    const shuffled = await pool.score(
      SAMPLE_DB,
      `SELECT * FROM (${rows(1_000_000)}) UNION ALL SELECT 5, 12.5, 'r5' ORDER BY 1 DESC`,
      { gold: cached },
    );
    assert(
      shuffled.pred.ok && shuffled.pred.rowCount === 1_000_001 && shuffled.pred.distinctRows === 1_000_000,
    );
    assertEquals(shuffled.match, true);
  } finally {
    await pool.close();
  }
});

Deno.test("a gold result too large to cache comes back without its digest, and the cache does not keep it", async () => {
  const pool = new SqlitePool({ workers: 1, timeoutS: 300 });
  try {
    const big = await pool.score(SAMPLE_DB, rows(1_000_000), { gold: rows(1_000_000) });
    assert(big.gold?.ok && big.goldExecuted);
    assertEquals([big.match, big.gold.distinctRows, big.gold.digest], [true, 1_000_000, undefined]);
    assertEquals(cacheable(big.gold), false);
    // A small gold result keeps its digest (base64 of 16 bytes per row and 8 per cell), and is cacheable.
    const small = await pool.score(SAMPLE_DB, rows(1000), { gold: rows(1000) });
    assert(small.gold?.ok && small.gold.digest);
    assertEquals([small.match, small.gold.digest.rows.length, cacheable(small.gold)], [true, 21336, true]);
  } finally {
    await pool.close();
  }
});

Deno.test("2.1M distinct rows are compared, not refused", async () => {
  const pool = new SqlitePool({ workers: 1, timeoutS: 300 });
  try {
    const q =
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 2100000) SELECT x FROM c";
    const r = await pool.score(SAMPLE_DB, q, { gold: q.replace("SELECT x FROM c", "SELECT x * 1.0 FROM c") });
    assert(r.pred.ok && r.pred.distinctRows === 2_100_000, JSON.stringify(r.pred).slice(0, 300));
    assertEquals(r.match, true);
  } finally {
    await pool.close();
  }
});

/**
 * The worker's digest comparison (`result_digest.ts`) gives the verdict and Soft-F1 of the pure reference
 * (`compare.ts`) on every input: random results over values that are equal or not under Python's `==`.
 * The gold cache serves only entries of the same engine, and treats a malformed entry as a miss, with a warning.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { exMatch, softF1 } from "../../lib/exec/compare.ts";
import { GoldCache } from "../../lib/exec/gold_cache.ts";
import {
  cellKey,
  decodeDigest,
  DigestBuilder,
  digestExMatch,
  digestRows,
  digestSoftF1,
  encodeDigest,
  setDigest,
  setDigestOf,
} from "../../lib/exec/result_digest.ts";
import { ENGINE_OPTIONS, type GoldDigest } from "../../lib/exec/pool_types.ts";
import { PqExec } from "../../lib/exec/pg_wire.ts";
import { PG_OID } from "../../lib/exec/pg_values.ts";

/** Values that collide under Python's `==` across types, and ones that must not. */
const VALUES: unknown[] = [
  0,
  -0,
  1,
  1n,
  1.0,
  1.5,
  "1",
  "1.0",
  null,
  new Uint8Array([1]),
  new Uint8Array([]),
  "",
  "a",
  "A",
  "é",
  2 ** 53,
  2n ** 53n,
  2n ** 53n + 1n,
  9007199254740993n,
  2 ** 60,
  2n ** 60n,
  9223372036854775807n,
  -9223372036854775808n,
  1e20,
  Infinity,
  -Infinity,
  0.1 + 0.2,
  0.3,
  "\uFFFD",
  new Uint8Array([0, 255]),
];

function rng(seed: number): () => number {
  return () => {
    seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) | 0;
    return ((seed ^ (seed >>> 13)) >>> 0) / 2 ** 32;
  };
}

Deno.test("digest verdicts and Soft-F1 equal compare.ts on random results", () => {
  const rand = rng(42);
  const pick = () => VALUES[Math.floor(rand() * VALUES.length)];
  let equalCases = 0;
  for (let t = 0; t < 3000; t++) {
    const width = 1 + Math.floor(rand() * 3);
    const gold = Array.from({ length: Math.floor(rand() * 6) }, () => Array.from({ length: width }, pick));
    let pred: unknown[][];
    const mode = rand();
    if (mode < 0.3) pred = [...gold].reverse().concat(gold.slice(0, 1)); // same set, other order, a duplicate
    else if (mode < 0.5) pred = gold.map((r) => r.map((v) => (typeof v === "bigint" ? Number(v) : v))); // int vs real
    else {
      const w = mode < 0.9 ? width : width + 1;
      pred = Array.from({ length: Math.floor(rand() * 6) }, () => Array.from({ length: w }, pick));
    }
    const keys = (rs: unknown[][]) => ({ rows: rs.map((r) => r.map(cellKey)) });
    const want = exMatch(keys(pred), keys(gold));
    const dp = digestRows(pred, pred[0]?.length ?? width);
    const dg = decodeDigest(encodeDigest(digestRows(gold, width)));
    assertEquals(digestExMatch(dp, dg), want, `EX of ${String(pred)} vs ${String(gold)}`);
    // The set digest (voting, candidate verdicts) is the same equality, also when derived from an encoded digest.
    assertEquals(setDigest(dp.rows) === setDigestOf(encodeDigest(dg)), want, `set digest of ${String(pred)}`);
    const f1 = softF1(keys(pred), keys(gold));
    assert(
      Math.abs(digestSoftF1(dp, dg) - f1) < 1e-12,
      `Soft-F1 ${digestSoftF1(dp, dg)} vs ${f1}: ${JSON.stringify(keys(pred))} ${JSON.stringify(keys(gold))}`,
    );
    if (want) equalCases++;
  }
  assert(equalCases > 500, "the cases include many equal results");
});

Deno.test("a PostgreSQL result digested as its rows stream in equals digestRows of all its rows", () => {
  const rand = rng(7);
  const oids = [PG_OID.int4, PG_OID.text, PG_OID.float8, PG_OID.numeric];
  const texts = ["1", "2", "1.0", "2.5", "x", "é", "1996-01-02", "0.1", "NaN"];
  for (let t = 0; t < 300; t++) {
    const width = 1 + Math.floor(rand() * 4);
    const cols = Array.from(
      { length: width },
      (_, j) => ({ name: `c${j}`, oid: oids[Math.floor(rand() * 4)] }),
    );
    // Each column's texts parse as its type (`1 == 1.0` across int, float and numeric columns).
    const cell = (oid: number) =>
      rand() < 0.1
        ? null
        : oid === PG_OID.int4
        ? String(Math.floor(rand() * 3))
        : oid === PG_OID.text
        ? texts[Math.floor(rand() * texts.length)]
        : ["1", "2.5", "0.1", "-3"][Math.floor(rand() * 4)];
    const rows = Array.from({ length: Math.floor(rand() * 40) }, () => cols.map((c) => cell(c.oid)));
    const feed = (digest: boolean) => {
      const exec = new PqExec({ maxBytes: 1 << 20, sampleRows: 3, digest });
      exec.rowDescription(cols);
      for (const r of rows) exec.dataRow(r);
      exec.commandComplete();
      const o = exec.outcome();
      if (!o.ok) throw new Error(o.error);
      return o;
    };
    const whole = feed(false);
    const streamed = feed(true);
    assertEquals(whole.digest, undefined);
    assertEquals(streamed.rowCount, rows.length);
    assertEquals(whole.rowCount, rows.length);
    assertEquals(streamed.rows, whole.rows.slice(0, 3), "the first sampleRows rows are kept");
    assertEquals(streamed.digest, digestRows(whole.rows, width), `digest of ${JSON.stringify(rows)}`);
  }
});

Deno.test("gold cache: engine in the key, malformed entries a miss with one warning, writes not awaited", async () => {
  const dir = await Deno.makeTempDir({ prefix: "t2s-goldcache-" });
  const db = join(dir, "x.sqlite");
  await Deno.writeTextFile(db, "not really a database, only hashed");
  const entry: GoldDigest = {
    ok: true,
    columns: ["a"],
    rowCount: 1,
    distinctRows: 1,
    sample: [[1]],
    execMs: 1,
    digest: encodeDigest(digestRows([[1]], 1)),
  };
  try {
    const a = new GoldCache({ dir, engine: "engine A" });
    await a.dbHash(db);
    a.record(db, "SELECT 1", entry);
    a.record(db, "SELECT 2", { ok: false, kind: "timeout", error: "query timed out after 30 s", ms: 1 });
    await a.flush();
    const again = new GoldCache({ dir, engine: "engine A" });
    await again.dbHash(db);
    assertEquals(await again.peek(db, "SELECT 1"), entry);
    assertEquals(await again.peek(db, "SELECT 2"), null, "timeouts are never cached");
    const other = new GoldCache({ dir, engine: "engine B" });
    await other.dbHash(db);
    assertEquals(await other.peek(db, "SELECT 1"), null, "another engine's entry is never served");
    // A parseable line of the wrong shape: a miss, one warning naming the file, and dropped from the file.
    const shard = [...Deno.readDirSync(dir)].find((e) => e.name.endsWith(".jsonl"))!.name;
    await Deno.writeTextFile(
      join(dir, shard),
      JSON.stringify({ key: "engine A", sql: "SELECT 3", result: { ok: true, rows: "oops" } }) + "\n",
      { append: true },
    );
    const warnings: string[] = [];
    const error = console.error;
    console.error = (m: string) => warnings.push(m);
    try {
      const c = new GoldCache({ dir, engine: "engine A" });
      await c.dbHash(db);
      assertEquals(await c.peek(db, "SELECT 3"), null);
      assertEquals(await c.peek(db, "SELECT 1"), entry);
    } finally {
      console.error = error;
    }
    assertEquals(warnings.length, 1);
    assert(warnings[0].includes(shard), warnings[0]);
    assert(!(await Deno.readTextFile(join(dir, shard))).includes("oops"), "the malformed entry is replaced");
    // A changed file is never served an entry of its old content.
    await Deno.writeTextFile(db, "changed content");
    const d = new GoldCache({ dir, engine: "engine A" });
    await d.dbHash(db);
    assertEquals(await d.peek(db, "SELECT 1"), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gold cache: memory bounded, least recently used out first, evicted entries still on disk", async () => {
  const dir = await Deno.makeTempDir({ prefix: "t2s-goldcache-" });
  const db = join(dir, "x.sqlite");
  await Deno.writeTextFile(db, "bounded cache content");
  const entryOf = (n: number): GoldDigest => {
    const rows = Array.from({ length: 500 }, (_, i) => [n, i]);
    return {
      ok: true,
      columns: ["n", "i"],
      rowCount: 500,
      distinctRows: 500,
      sample: [[n, 0]],
      execMs: 1,
      digest: encodeDigest(digestRows(rows, 2)),
    };
  };
  try {
    // Each entry is ~21 KB of digest text: a 100 KB bound holds four of them.
    const bound = 100_000;
    const a = new GoldCache({ dir, engine: "engine A", memoryBytes: bound });
    await a.dbHash(db);
    for (let n = 0; n < 5; n++) a.record(db, `SELECT ${n}`, entryOf(n));
    await a.flush();
    assert(a.memoryUsed <= bound && a.memoryUsed > bound / 2, `held ${a.memoryUsed} bytes`);
    assertEquals(await a.peek(db, "SELECT 0"), null, "the oldest entry left memory");
    assertEquals(await a.peek(db, "SELECT 4"), entryOf(4));
    // Used again, SELECT 1 outlives SELECT 2 when a new entry needs room.
    assertEquals(await a.peek(db, "SELECT 1"), entryOf(1));
    a.record(db, "SELECT 5", entryOf(5));
    a.record(db, "SELECT 0", entryOf(0));
    await a.flush();
    assertEquals(await a.peek(db, "SELECT 2"), null);
    assertEquals(await a.peek(db, "SELECT 1"), entryOf(1));
    // Every entry was written through once (an evicted one executed again is not appended twice).
    const shard = [...Deno.readDirSync(dir)].find((e) => e.name.endsWith(".jsonl"))!.name;
    assertEquals((await Deno.readTextFile(join(dir, shard))).trim().split("\n").length, 6);
    const next = new GoldCache({ dir, engine: "engine A" });
    await next.dbHash(db);
    assertEquals(await next.peek(db, "SELECT 0"), entryOf(0));
    assertEquals(await next.peek(db, "SELECT 2"), entryOf(2));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the digest format is pinned: changing it must bump ENGINE_OPTIONS, or old cache entries would be served", () => {
  assertEquals(encodeDigest(digestRows([[1, "a", null, new Uint8Array([1, 2]), 2.5]], 5)), {
    width: 5,
    rows: "Onn8YPfcTkRlLeRqgxxw8A==",
    cells: "DVeNnI5W4XlAu6Cre+QU1lNg3kHAnGIL7yJCaJtKjdrCYYYQg91+EA==",
  });
  assert(ENGINE_OPTIONS.includes("digest=value-murmur128"), "this format's name is in the cache key");
});

Deno.test("set digests: order and duplicates ignored, distinct for distinct sets (no collision among 60K draws)", () => {
  const rand = rng(7);
  const seen = new Map<string, string>();
  for (let t = 0; t < 60_000; t++) {
    // Small sets of small integers: many near-identical sets, the hard case for an additive combination.
    const n = Math.floor(rand() * 5);
    const set = [...new Set(Array.from({ length: n }, () => Math.floor(rand() * 40)))].sort((a, b) => a - b);
    const rows = set.map((v) => [v]);
    const d = setDigest(digestRows(rows, 1).rows);
    assertEquals(d, setDigest(digestRows([...rows].reverse().concat(rows), 1).rows));
    const key = JSON.stringify(set);
    const before = seen.get(d);
    assert(before === undefined || before === key, `${key} and ${before} share a set digest`);
    seen.set(d, key);
  }
  assert(seen.size > 15_000, `${seen.size} distinct sets`);
  // Both empty: equal whatever the columns (EX), like digestExMatch.
  assertEquals(setDigest(digestRows([], 1).rows), setDigest(digestRows([], 3).rows));
  assertEquals(setDigest(digestRows([[1]], 1).rows).length, 32);
});

Deno.test("large results: duplicates dropped in first-seen order, all-distinct results kept whole", () => {
  const rand = rng(11);
  // Both ways of finding duplicates: one hash set (small results), buckets (from 65,536 rows).
  for (const size of [16, 17, 5_000, 65_535, 65_536, 120_000]) {
    // Few distinct values (many duplicates, int and real forms of one number among them), then all distinct.
    const dup = Array.from({ length: size }, () => [Math.floor(rand() * 300), rand() < 0.5 ? 1 : 1.0]);
    const distinct = Array.from({ length: size }, (_, i) => [i, `row ${i}`]);
    const same = Array.from({ length: size }, () => ["one row", null]);
    for (const rows of [dup, distinct, same]) {
      const seen = new Set<string>();
      const firsts = rows.filter((r) => {
        const key = JSON.stringify(r.map(cellKey));
        return !seen.has(key) && !!seen.add(key);
      });
      const d = digestRows(rows, 2);
      // The distinct rows digested in pieces below 65,536 rows (one hash set each): a row's hashes are its own.
      const pieces = Array.from(
        { length: Math.ceil(firsts.length / 50_000) },
        (_, i) => digestRows(firsts.slice(i * 50_000, (i + 1) * 50_000), 2),
      );
      const concat = (parts: Uint32Array[]) => {
        const out = new Uint32Array(parts.reduce((a, p) => a + p.length, 0));
        parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
        return out;
      };
      const want = {
        width: 2,
        rows: concat(pieces.map((p) => p.rows)),
        cells: concat(pieces.map((p) => p.cells)),
      };
      assertEquals(d.rows.length, firsts.length * 4);
      assertEquals(d.cells.length, firsts.length * 2 * 2);
      assertEquals(encodeDigest(d), encodeDigest(want));
      // Streamed one row at a time from a small buffer (it grows), as a server's rows arrive: the same digest.
      const builder = new DigestBuilder(2);
      for (const r of rows) builder.add(r);
      assertEquals(encodeDigest(builder.finish()), encodeDigest(want));
      assert(digestExMatch(d, want) && digestExMatch(want, d));
    }
  }
});

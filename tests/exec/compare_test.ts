import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";

const assertAlmostEquals = (a: number, b: number) => assert(Math.abs(a - b) < 1e-9, `${a} != ${b}`);
import { exMatch, rVes, softF1, timeRatio, vesReward } from "../../lib/exec/compare.ts";
import { SqlitePool } from "../../lib/exec/sqlite_pool.ts";

const r = (...rows: string[][]) => ({ rows });

Deno.test("EX: set semantics — order and duplicates ignored, column order matters", () => {
  assert(exMatch(r(["n1"], ["n2"]), r(["n2"], ["n1"])));
  assert(exMatch(r(["n1"], ["n1"], ["n2"]), r(["n2"], ["n1"])));
  assert(!exMatch(r(["n1", "sa"]), r(["sa", "n1"])));
  assert(exMatch(r(), r()), "both empty is correct");
  assert(!exMatch(r(), r(["z"])));
  assert(!exMatch(r(["n1"]), r(["n1", "n1"])), "different widths differ");
});

Deno.test("EX: values compare as Python does, through the worker's canonical encoding", async () => {
  const pool = new SqlitePool({ workers: 1 });
  const db = "data/sample/dev_databases/superhero/superhero.sqlite";
  const q = async (sql: string) => {
    const res = await pool.execute(db, sql);
    if (!res.ok) throw new Error(res.error);
    return res;
  };
  try {
    assert(exMatch(await q("SELECT 1"), await q("SELECT 1.0")), "1 == 1.0");
    assert(!exMatch(await q("SELECT '1'"), await q("SELECT 1")), "'1' != 1");
    assert(exMatch(await q("SELECT NULL"), await q("SELECT NULL")), "None == None");
    assert(!exMatch(await q("SELECT 0.1 + 0.2"), await q("SELECT 0.3")), "floats compare exactly");
    assert(exMatch(await q("SELECT -0.0"), await q("SELECT 0")), "-0.0 == 0");
    assert(!exMatch(await q("SELECT x'01'"), await q("SELECT '\x01'")), "bytes != str");
    // 2^63-1 as INTEGER vs the nearest double 2^63: Python compares int and float exactly.
    assert(!exMatch(await q("SELECT 9223372036854775807"), await q("SELECT 9223372036854775807.0")));
    assert(exMatch(await q("SELECT 9007199254740993"), await q("SELECT 9007199254740993")));
    assert(
      !exMatch(await q("SELECT 9007199254740993"), await q("SELECT 9007199254740992")),
      "beyond 2^53 stays exact",
    );
    const big = await q("SELECT 9007199254740993 AS v");
    assertEquals(big.sample, [[{ int: "9007199254740993" }]], "big integers are shown exactly, as integers");
  } finally {
    await pool.close();
  }
});

Deno.test("Soft-F1: mini-dev's row-by-position cell matching", () => {
  assertEquals(softF1(r(), r()), 1);
  assertEquals(softF1(r(["n1"]), r(["n1"])), 1);
  assertEquals(softF1(r(), r(["n1"])), 0);
  // One of two cells right in the only row: tp .5, fp .5, fn .5 → P = R = .5.
  assertAlmostEquals(softF1(r(["n1", "n9"]), r(["n1", "n2"])), 0.5);
  // Duplicates are dropped before pairing: [a, a, b] vs [a, b] is perfect.
  assertEquals(softF1(r(["sa"], ["sa"], ["sb"]), r(["sa"], ["sb"])), 1);
  // Order matters for Soft-F1 (paired by position) though not for EX.
  assertEquals(softF1(r(["sb"], ["sa"]), r(["sa"], ["sb"])), 0);
  // Extra predicted rows are false positives: tp 1, fp 1 → P .5, R 1 → F1 2/3.
  assertAlmostEquals(softF1(r(["sa"], ["sz"]), r(["sa"])), 2 / 3);
  // Missing rows are false negatives: tp 1, fn 1 → P 1, R .5 → 2/3.
  assertAlmostEquals(softF1(r(["sa"]), r(["sa"], ["sb"])), 2 / 3);
});

Deno.test("R-VES: reward buckets, 3-sigma cleaning and the score", () => {
  assertEquals([2, 1.5, 1, 0.7, 0.3, 0.1, 0].map(vesReward), [1.25, 1, 1, 0.75, 0.5, 0.25, 0]);
  assertEquals(timeRatio([2, 2, 2], [1, 1, 1]), 2, "σ = 0 keeps every ratio");
  // Twenty ratios of 1 and one of 100: the outlier lies beyond 3σ and is dropped.
  const gold = [...Array(20).fill(1), 100];
  const pred = Array(21).fill(1);
  assertEquals(timeRatio(gold, pred), 1);
  assertAlmostEquals(rVes([1.25, 1, 0])!, ((Math.sqrt(1.25) + 1 + 0) / 3) * 100);
  assertEquals(rVes([]), null);
});

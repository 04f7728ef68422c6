import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { sha256Hex } from "../../lib/util/hash.ts";
import { SqlitePool } from "../../lib/exec/sqlite_pool.ts";
import { workerArgs } from "../../lib/exec/worker_process.ts";

const SAMPLE_DB = "data/sample/dev_databases/superhero/superhero.sqlite";

/** A private copy, so a sandbox escape could not damage the bundled sample. */
async function copyDb(): Promise<{ dir: string; db: string }> {
  const dir = await Deno.makeTempDir({ prefix: "t2s-pool-" });
  const db = `${dir}/superhero.sqlite`;
  await Deno.copyFile(SAMPLE_DB, db);
  await Deno.chmod(db, 0o644);
  return { dir, db };
}

const HOSTILE = [
  "DROP TABLE superhero",
  "DELETE FROM superhero",
  "UPDATE superhero SET full_name = 'x'",
  "INSERT INTO colour (id, colour) VALUES (999, 'x')",
  "CREATE TABLE pwn (x)",
  "ATTACH DATABASE '{dir}/new.db' AS pwn",
  "VACUUM INTO '{dir}/copy.db'",
  "VACUUM",
  "PRAGMA writable_schema = ON",
  "PRAGMA journal_mode = DELETE",
  "SELECT load_extension('/tmp/evil.so')",
  "BEGIN IMMEDIATE",
  "REINDEX",
  "ANALYZE",
];

Deno.test("hostile SQL fails, leaves the database byte-identical, and the pool keeps working", async () => {
  const { dir, db } = await copyDb();
  const before = sha256Hex(await Deno.readFile(db));
  const pool = new SqlitePool({ workers: 2, timeoutS: 1 });
  try {
    for (const sql of HOSTILE) {
      const r = await pool.execute(db, sql.replace("{dir}", dir));
      assert(!r.ok, `${sql} must fail`);
    }
    // An endless recursive CTE hits the time limit; its worker is killed and replaced.
    const endless = await pool.execute(
      db,
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    );
    assertEquals(endless.ok ? "ok" : endless.kind, "timeout");
    // A huge cross join (750^3 rows) is stopped, never allowed to exhaust memory.
    const cross = await pool.execute(
      db,
      "SELECT a.id, b.id, c.id FROM superhero a, superhero b, superhero c",
    );
    assert(
      !cross.ok && (cross.kind === "timeout" || cross.kind === "too_large"),
      JSON.stringify(cross).slice(0, 200),
    );
    const fine = await pool.execute(db, "SELECT COUNT(*) FROM superhero");
    assert(fine.ok);
    assertEquals(fine.rows, [["n750"]]);
    assertEquals(sha256Hex(await Deno.readFile(db)), before);
    const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(files, ["superhero.sqlite"], "no file was created beside the database");
  } finally {
    await pool.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("rows returned over the byte cap are an error with the reason, never a silent truncation", async () => {
  const pool = new SqlitePool({ workers: 1, maxBytes: 1000 });
  try {
    const r = await pool.execute(SAMPLE_DB, "SELECT id FROM superhero");
    assert(!r.ok && r.kind === "too_large" && /1000 bytes/.test(r.error));
    // Duplicates do not count against the cap: comparison only needs the set.
    const dup = await pool.execute(SAMPLE_DB, "SELECT 1 FROM superhero");
    assert(dup.ok && dup.rows.length === 1 && dup.rowCount === 750);
  } finally {
    await pool.close();
  }
});

Deno.test("values survive the trip from the worker: REAL vs INTEGER, NULL, BLOB, 64-bit integers", async () => {
  const pool = new SqlitePool({ workers: 1 });
  try {
    const r = await pool.execute(
      SAMPLE_DB,
      "SELECT 1, 1.5, NULL, x'00ff', 9223372036854775807, -9223372036854775808, 'é'",
    );
    assert(r.ok);
    assertEquals(r.rows, [[
      "n1",
      "n1.5",
      "z",
      "b00ff",
      "n9223372036854775807",
      "n-9223372036854775808",
      "sé",
    ]]);
    assertEquals(r.sample, [[
      1,
      1.5,
      null,
      { blob: "00ff" },
      { int: "9223372036854775807" },
      { int: "-9223372036854775808" },
      "é",
    ]]);
    assertEquals(r.columns.length, 7);
  } finally {
    await pool.close();
  }
});

Deno.test("workers only read: read access to the database folders and nothing else, enforced", async () => {
  const args = workerArgs(["/data/a", "/data/b"]);
  assertEquals(args.filter((a) => a.startsWith("--allow") || a === "-A"), ["--allow-read=/data/a,/data/b"]);
  assert(args.includes("--no-prompt"), "a missing permission fails instead of asking");
  assert(args.some((a) => /^--v8-flags=--max-old-space-size=\d+$/.test(a)), "memory is bounded");
  // A worker started with those flags for another folder cannot open the sample database.
  const { dir } = await copyDb();
  const child = new Deno.Command(Deno.execPath(), {
    args: workerArgs([dir]),
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const writer = child.stdin.getWriter();
    const request = {
      id: 1,
      op: "exec",
      db: await Deno.realPath(SAMPLE_DB),
      sqls: ["SELECT 1"],
      maxBytes: 1e6,
      sampleRows: 1,
      timeoutS: 30,
      heapLimit: 1e8,
    };
    await writer.write(new TextEncoder().encode(JSON.stringify(request) + "\n"));
    await writer.close();
    const lines = (await new Response(child.stdout).text()).trim().split("\n").map((l) => JSON.parse(l));
    assert(lines[0].ready);
    const last = lines.at(-1);
    const error = last.error ?? last.result?.error;
    assertEquals(last.result?.ok ?? false, false);
    assert(/read access|NotCapable|permission/i.test(error), error);
  } finally {
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("statement rules follow Python: a second statement is an error, an empty one returns no rows", async () => {
  const pool = new SqlitePool({ workers: 1 });
  try {
    const two = await pool.execute(SAMPLE_DB, "SELECT 1; SELECT 2");
    assert(!two.ok && two.error === "You can only execute one statement at a time.");
    const empty = await pool.execute(SAMPLE_DB, "  -- nothing\n");
    assert(empty.ok && empty.rows.length === 0);
    const trailing = await pool.execute(SAMPLE_DB, "SELECT 1; -- done");
    assert(trailing.ok);
  } finally {
    await pool.close();
  }
});

Deno.test("executeEach runs statements in order, stops at the first failure, and times each on its own", async () => {
  const pool = new SqlitePool({ workers: 1, timeoutS: 3 });
  try {
    const both = await pool.executeEach(SAMPLE_DB, ["SELECT 1", "SELECT 2"]);
    assertEquals(both.map((r) => r.ok && r.rows), [[["n1"]], [["n2"]]]);
    const stopped = await pool.executeEach(SAMPLE_DB, ["SELECT nope FROM superhero", "SELECT 2"]);
    assertEquals(stopped.length, 1, "the gold query is not run after a failed prediction");
    assert(!stopped[0].ok && /no such column/.test(stopped[0].error));
    // A slow first statement (~0.35 s on a quiet machine, well under the 3 s limit even on a loaded one) then an
    // endless one: the second gets its own full 3 s, not what the first left over.
    const slow =
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 3000000) SELECT count(*) FROM c";
    const endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    const timed = await pool.executeEach(SAMPLE_DB, [slow, endless]);
    assertEquals(timed.length, 2);
    assert(timed[0].ok, JSON.stringify(timed[0]));
    const second = timed[1];
    assert(!second.ok && second.kind === "timeout", JSON.stringify(second));
    // Its own time, counted from when it started: the whole limit, whatever the first statement took.
    assert((second.execMs ?? 0) >= 2900 && second.ms >= timed[0].ms + 2900, JSON.stringify(timed));
    // The pool recovers from the killed worker.
    const after = await pool.execute(SAMPLE_DB, "SELECT 3");
    assert(after.ok);
  } finally {
    await pool.close();
  }
});

Deno.test("an error raised while rows are produced fails the query; it never reads as a short result", async () => {
  const pool = new SqlitePool({ workers: 1 });
  try {
    for (
      const sql of [
        "SELECT json('not json')",
        "SELECT sum(9223372036854775807) FROM superhero",
        "SELECT abs(-9223372036854775807 - 1)",
        // Four rows come out before the error: they must not be taken for the whole result.
        "SELECT id FROM superhero WHERE CASE WHEN id >= 5 THEN json('x') ELSE 1 END",
      ]
    ) {
      const r = await pool.execute(SAMPLE_DB, sql);
      assert(!r.ok && r.kind === "error", `${sql} → ${JSON.stringify(r).slice(0, 120)}`);
    }
    // Long values are compared by digest: equal stays equal, different stays different.
    const a = await pool.execute(SAMPLE_DB, "SELECT printf('%.*c', 2000, 'x')");
    const b = await pool.execute(SAMPLE_DB, "SELECT substr(printf('%.*c', 3000, 'x'), 1, 2000)");
    const c = await pool.execute(SAMPLE_DB, "SELECT printf('%.*c', 2001, 'x')");
    assert(a.ok && b.ok && c.ok);
    assertEquals(a.rows, b.rows);
    assert(JSON.stringify(a.rows) !== JSON.stringify(c.rows));
  } finally {
    await pool.close();
  }
});

Deno.test("digest: shape, sample and set digest only; a kept digest is scored without running the query again", async () => {
  const pool = new SqlitePool({ workers: 2, timeoutS: 10, maxBytes: 1024 });
  try {
    // Over the byte cap of `execute`: digest returns no rows, so no cap applies (as for a scored query).
    const big =
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000) SELECT x, x FROM c";
    const d = await pool.digest(SAMPLE_DB, big, { sampleRows: 3 });
    assert(d.ok);
    assertEquals([d.columns, d.rowCount, d.distinctRows, d.sample], [["x", "x"], 5000, 5000, [
      [1, 1],
      [2, 2],
      [3, 3],
    ]]);
    assert(!("rows" in d));
    assertEquals(d.set, (await pool.score(SAMPLE_DB, big, { gold: big, reuse: true })).goldSet);
    const failed = await pool.digest(SAMPLE_DB, "SELECT nope FROM superhero");
    assert(!failed.ok && failed.kind === "error" && /no such column/.test(failed.error));

    // random(): a second run would give another value, so an equal sample shows the kept digest was compared.
    const rnd = "SELECT random() AS r";
    const kept = await pool.digest(SAMPLE_DB, rnd, { keep: true });
    assert(kept.ok);
    const reused = await pool.score(SAMPLE_DB, rnd, { gold: "SELECT 1", reuse: true });
    assert(reused.pred.ok && !reused.match);
    assertEquals([reused.pred.sample, reused.pred.execMs], [kept.sample, kept.execMs]);
    // Taken once: scored again, it runs again.
    const again = await pool.score(SAMPLE_DB, rnd, { gold: null, reuse: true });
    assert(again.pred.ok);
    assert(JSON.stringify(again.pred.sample) !== JSON.stringify(kept.sample));
  } finally {
    await pool.close();
  }
});

/**
 * Hard bounds of the SQLite workers, enforced by the operating system: memory (a result past the limit fails its
 * own question and the pool goes on), disk (no query writes a file), parent death (no worker outlives its parent,
 * whatever kills it), and time (the limit measures SQLite's statement, not a busy parent).
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { parseMemory } from "../../lib/exec/pool_types.ts";
import { SqlitePool } from "../../lib/exec/sqlite_pool.ts";

const SAMPLE_DB =
  new URL("../../data/sample/dev_databases/superhero/superhero.sqlite", import.meta.url).pathname;
const POOL_URL = new URL("../../lib/exec/sqlite_pool.ts", import.meta.url).href;
const ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c";

/** Resident memory of a process in bytes (0 once it is gone). */
function rss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Whether a process exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    return !/State:\s+Z/.test(Deno.readTextFileSync(`/proc/${pid}/status`));
  } catch {
    return false;
  }
}

Deno.test("a zeroblob bomb fails its own question under the memory limit; the pool goes on", async () => {
  const limit = 1.5 * 1024 ** 3;
  const pool = new SqlitePool({ workers: 1, workerMemory: limit });
  try {
    for (
      const sql of [
        "SELECT zeroblob(400000000) FROM superhero",
        "SELECT zeroblob(400000000) FROM superhero LIMIT 4",
      ]
    ) {
      let peak = 0;
      const run = pool.score(SAMPLE_DB, sql, { gold: "SELECT 1" });
      const watch = setInterval(() => {
        for (const pid of pool.pids()) peak = Math.max(peak, rss(pid));
      }, 10);
      const out = await run;
      clearInterval(watch);
      assert(!out.pred.ok, `${sql} cannot fit`);
      assert(/out of memory|too large/i.test(out.pred.error), out.pred.error);
      assert(peak > 0 && peak < limit, `peak RSS ${peak} under the ${limit} limit`);
    }
    // A fresh worker answers the next question.
    const next = await pool.score(SAMPLE_DB, "SELECT COUNT(*) FROM superhero", { gold: "SELECT 750" });
    assert(next.pred.ok && next.match);
  } finally {
    await pool.close();
  }
});

Deno.test("no query writes a file: big sorts and groupings stay in memory", async () => {
  const pool = new SqlitePool({ workers: 1 });
  try {
    await pool.execute(SAMPLE_DB, "SELECT 1");
    const [pid] = pool.pids();
    const files = new Set<string>();
    const watch = setInterval(() => {
      try {
        for (const e of Deno.readDirSync(`/proc/${pid}/fd`)) {
          const target = Deno.readLinkSync(`/proc/${pid}/fd/${e.name}`);
          if (target.startsWith("/") && !target.startsWith("/dev/") && !target.endsWith("superhero.sqlite")) {
            files.add(target);
          }
        }
      } catch {
        // The fd closed while listed.
      }
    }, 5);
    const sort = await pool.execute(
      SAMPLE_DB,
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 1500000) " +
        "SELECT count(*) FROM (SELECT x, randomblob(64) b FROM c ORDER BY b)",
    );
    const group = await pool.execute(
      SAMPLE_DB,
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 1500000) " +
        "SELECT count(*) FROM (SELECT hex(randomblob(16)) k, count(*) FROM c GROUP BY k)",
    );
    clearInterval(watch);
    assert(sort.ok && sort.rows[0][0] === "n1500000", JSON.stringify(sort));
    assert(group.ok, JSON.stringify(group));
    // Deno's own files (its binary, caches) are opened at start; a spill file would be a deleted temp file.
    const spills = [...files].filter((f) =>
      / \(deleted\)$/.test(f) || /^\/(var\/)?tmp\//.test(f) || /etilqs/.test(f)
    );
    assertEquals(spills, []);
  } finally {
    await pool.close();
  }
});

async function parentDies(signal: "SIGKILL" | "SIGTERM"): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "t2s-orphans-" });
  const script = join(dir, "parent.ts");
  await Deno.writeTextFile(
    script,
    `import { SqlitePool } from ${JSON.stringify(POOL_URL)};
const pool = new SqlitePool({ workers: 2, timeoutS: 600 });
const a = pool.execute(${JSON.stringify(SAMPLE_DB)}, ${JSON.stringify(ENDLESS)});
const b = pool.score(${JSON.stringify(SAMPLE_DB)}, ${JSON.stringify(ENDLESS)}, { gold: "SELECT 1" });
await new Promise((r) => setTimeout(r, 1500));
console.log(JSON.stringify(pool.pids()));
await Promise.all([a, b]);
`,
  );
  const parent = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-lock", "--quiet", script],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = parent.stdout.getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    const pids = JSON.parse(text) as number[];
    assertEquals(pids.length, 2);
    // Both workers are busy in the endless query.
    await new Promise((r) => setTimeout(r, 300));
    for (const pid of pids) assert(alive(pid), `worker ${pid} runs before the parent dies`);
    parent.kill(signal);
    await parent.status;
    await new Promise((r) => setTimeout(r, 2000));
    assertEquals(pids.filter(alive), [], `no worker alive 2 s after the parent's ${signal}`);
    reader.releaseLock();
    await parent.stdout.cancel().catch(() => {});
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a parent killed by SIGKILL leaves no worker alive after 2 s", () => parentDies("SIGKILL"));
Deno.test("a parent killed by SIGTERM leaves no worker alive after 2 s", () => parentDies("SIGTERM"));

Deno.test("the time limit measures SQLite's statement: a busy parent causes no timeout, a long query does", async () => {
  const pool = new SqlitePool({ workers: 1, timeoutS: 1 });
  try {
    await pool.execute(SAMPLE_DB, "SELECT 1");
    // A fast query whose reply the parent reads 2.5 s late (its event loop blocked): not a timeout.
    const pending = pool.score(SAMPLE_DB, "SELECT COUNT(*) FROM superhero", { gold: "SELECT 750" });
    const until = performance.now() + 2500;
    while (performance.now() < until) { /* a busy parent */ }
    const fast = await pending;
    assert(fast.pred.ok && fast.match, JSON.stringify(fast.pred));
    assert(fast.pred.execMs < 1000);
    // An endless query is a timeout, killed soon after the limit; the gold query never runs.
    const t0 = performance.now();
    const slow = await pool.score(SAMPLE_DB, ENDLESS, { gold: "SELECT 1" });
    assert(!slow.pred.ok && slow.pred.kind === "timeout", JSON.stringify(slow.pred));
    assert(performance.now() - t0 < 10_000);
    assertEquals(slow.gold, null);
    // A gold query past the limit is the gold's timeout, after a prediction that ran.
    const gold = await pool.score(SAMPLE_DB, "SELECT 1", { gold: ENDLESS });
    assert(gold.pred.ok && gold.gold && !gold.gold.ok && gold.gold.kind === "timeout", JSON.stringify(gold));
  } finally {
    await pool.close();
  }
});

Deno.test("worker memory: sizes parse as bytes or binary units; a limit too small to start is refused", async () => {
  assertEquals(parseMemory("2G"), 2 * 1024 ** 3);
  assertEquals(parseMemory("512M"), 512 * 1024 ** 2);
  assertEquals(parseMemory("1.5GiB"), 1.5 * 1024 ** 3);
  assertEquals(parseMemory("3000000000"), 3_000_000_000);
  for (const bad of ["", "2X", "-1G", "G"]) {
    let threw = false;
    try {
      parseMemory(bad);
    } catch {
      threw = true;
    }
    assert(threw, `${JSON.stringify(bad)} is refused`);
  }
  let refused = false;
  try {
    new SqlitePool({ workerMemory: 512 * 1024 ** 2 });
  } catch (e) {
    refused = e instanceof RangeError;
  }
  assert(refused, "below 1 GiB a worker cannot start: refused up front");
  const cli = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      new URL("../../lib/cli/cli.ts", import.meta.url).pathname,
      "eval",
      "--worker-memory",
      "64M",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(cli.code, 2);
  assert(/--worker-memory: at least 1G/.test(new TextDecoder().decode(cli.stderr)));
});

/**
 * `deno task bench --only postgresql`: the BIRD-scale questions on PostgreSQL, ours against the official logic.
 *
 * - The BIRD-scale SQLite databases (`scale.ts`; `--quick`: the scoring benchmark's quick sizes) are loaded into a
 *   private PostgreSQL 15 server (`startPostgres`, stopped at the end even on failure) by `deno task db load`, as
 *   a user loads them; the load is timed and printed.
 * - The questions' gold and predictions are SQLite SQL. Kept: the questions whose gold runs on PostgreSQL
 *   unchanged (lower-case identifiers resolve; `strftime`, `julianday`, `SUM(x = 'F')`, `ROUND(real, n)`, an
 *   unaliased subquery in FROM do not); each prediction as it is (one that fails on PostgreSQL is a wrong answer
 *   for both sides). How many are kept, and why the rest are not, is printed.
 * - Contestants, each its own process tree timed from the outside with its peak RSS (`tree_run.ts`), alternating:
 *   ours (`deno task eval --dialect postgresql` with the read-only URL in `TEXT2SQL_DB_URL`, `--workers W`, a
 *   fresh gold cache), the official logic (`tests/parity/official_ex_dialects.py pairs --processes W --ex-only`:
 *   mini-dev's `evaluation_ex.py`, a multiprocessing pool of W, a new psycopg2 connection per pair) over the same
 *   server, and ours on the embedded PGlite (`--dialect postgresql` without a URL; its data built first, not
 *   timed). Every verdict that differs from the official one is printed.
 * - Before each contestant, whatever the previous one left running on the server is ended: the official script
 *   gives up on a query at its time limit (its thread is abandoned) but never cancels it, so the backend goes on
 *   until the role's own `statement_timeout`, using the cores the next contestant is timed on.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { BIRD_SEPARATOR } from "../data/mod.ts";
import { connectPostgres, ensurePgliteData } from "../db/mod.ts";
import { startPostgres } from "../util/mod.ts";
import { ensureScaleDatabase } from "./scale.ts";
import { QUICK_SCALE } from "./scoring_sets.ts";
import { denoDir, evalTree } from "./scoring_runs.ts";
import { runTree, type TreeRun } from "./tree_run.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const CLI = join(ROOT, "lib", "cli", "cli.ts");
const OFFICIAL = join(ROOT, "tests", "parity", "official_ex_dialects.py");
/** Ours/official target. */
const TARGET = 0.7;

/** Options of {@linkcode benchPostgres}. */
export interface PgBenchOptions {
  /** The scale set's quick sizes, one run. */
  quick?: boolean;
  /** Alternating runs per contestant (default 3; 1 with `quick`). */
  runs?: number;
  /** Workers of ours = processes of the official pool (default: the CPU count). */
  workers?: number;
}

/** The kept pairs, written as an official-format dataset and predictions file. */
interface PgPairs {
  dataset: string;
  predictions: string;
  dbRoot: string;
  count: number;
  dbIds: string[];
}

/** One contestant's run: time, memory, verdicts by dataset index (1 correct, 0 not). */
interface Outcome {
  run: TreeRun;
  verdicts: Map<number, number>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** `deno task db load` into the server as its user runs it; returns the seconds it took (from the outside). */
async function load(adminUrl: string, dbRoot: string, roPassword: string): Promise<number> {
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      CLI,
      "db",
      "load",
      "--dialect",
      "postgresql",
      "--db-root",
      dbRoot,
      "--target-db",
      "bird",
    ],
    env: { TEXT2SQL_DB_URL: adminUrl, TEXT2SQL_RO_PASSWORD: roPassword },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - t0) / 1000;
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ");
    throw new Error(`deno task db load failed (${out.code}): ${err}`);
  }
  for (const line of text.split("\n").slice(0, 2)) console.log(`  ${line}`);
  return seconds;
}

/** The questions whose gold runs on PostgreSQL unchanged, written into `dir`; the rest listed with the reason. */
async function keptPairs(
  roUrl: string,
  scale: { dataset: string; predictions: string; dbRoot: string },
  dir: string,
): Promise<PgPairs> {
  const questions = JSON.parse(await Deno.readTextFile(scale.dataset)) as Record<string, unknown>[];
  const preds = JSON.parse(await Deno.readTextFile(scale.predictions)) as Record<string, string>;
  const conn = await connectPostgres(roUrl);
  const kept: Record<string, unknown>[] = [];
  const keptPreds: Record<string, string> = {};
  const dropped: string[] = [];
  let predFails = 0;
  try {
    for (const [i, q] of questions.entries()) {
      const runs = async (sql: string) => {
        try {
          await conn.query(`SELECT count(*) FROM (${sql.trim().replace(/;\s*$/, "")}) AS t2s_probe`);
          return null;
        } catch (e) {
          return (e instanceof Error ? e.message : String(e)).split("\n")[0];
        }
      };
      const why = await runs(String(q.SQL));
      if (why !== null) {
        dropped.push(`${i} (${why})`);
        continue;
      }
      const pred = preds[String(i)] ?? "";
      if (await runs(pred.split(BIRD_SEPARATOR)[0])) predFails++;
      keptPreds[String(kept.length)] = pred;
      kept.push({ ...q, question_id: kept.length });
    }
  } finally {
    await conn.close();
  }
  console.log(
    `  kept ${kept.length} of ${questions.length} questions (gold runs on PostgreSQL unchanged; ${predFails} of ` +
      `their predictions fail there, a wrong answer for both sides); not kept: ${dropped.join("; ")}`,
  );
  const dataset = join(dir, "dev.json");
  const predictions = join(dir, "predict_dev.json");
  await Deno.writeTextFile(dataset, JSON.stringify(kept));
  await Deno.writeTextFile(predictions, JSON.stringify(keptPreds));
  const dbIds = [...new Set(kept.map((q) => String(q.db_id)))].sort();
  return { dataset, predictions, dbRoot: scale.dbRoot, count: kept.length, dbIds };
}

/** Ours: `deno task eval --dialect postgresql` (on the server when `url` is given, else on PGlite). */
async function runOurs(
  pairs: PgPairs,
  o: { workers: number; tmp: string; denoCache: string; url: string | null; pgliteDir: string | null },
): Promise<Outcome> {
  const fresh = await Deno.makeTempDir({ dir: o.tmp, prefix: "ours-" });
  const cache = join(fresh, "cache");
  if (o.pgliteDir) {
    // The PGlite data was built beforehand (not timed); the gold cache starts empty.
    await Deno.mkdir(join(cache, "text2sql"), { recursive: true });
    await Deno.symlink(o.pgliteDir, join(cache, "text2sql", "pglite"));
  }
  const run = await evalTree(pairs, {
    workers: o.workers,
    out: join(fresh, "run"),
    xdg: cache,
    denoCache: o.denoCache,
    extra: ["--dialect", "postgresql"],
    env: o.url ? { TEXT2SQL_DB_URL: o.url } : {},
  });
  const records = (await Deno.readTextFile(join(fresh, "run", "results.jsonl"))).split("\n").filter(Boolean)
    .map((line) => JSON.parse(line) as { index: number; status: string });
  await Deno.remove(fresh, { recursive: true });
  return { run, verdicts: new Map(records.map((r) => [r.index, r.status === "correct" ? 1 : 0])) };
}

/** The official logic: mini-dev's evaluation_ex.py with psycopg2, a pool of `workers` processes. */
async function runOfficial(pairs: PgPairs, workers: number, url: string): Promise<Outcome> {
  const run = await runTree("/usr/bin/python3", [
    OFFICIAL,
    "pairs",
    "--dialect",
    "postgresql",
    pairs.dataset,
    pairs.predictions,
    "--processes",
    String(workers),
    "--ex-only",
  ], { env: { T2S_PARITY_PG_URL: url } });
  const out = JSON.parse(run.stdout) as Record<string, [number, number | null]>;
  return { run, verdicts: new Map(Object.entries(out).map(([i, [ex]]) => [Number(i), ex])) };
}

/**
 * End the read-only role's backends (a query the previous contestant abandoned) and wait until they are gone, so
 * that each contestant is timed on an idle server. Returns how many were ended.
 */
async function quiesce(adminUrl: string): Promise<number> {
  const admin = await connectPostgres(adminUrl);
  try {
    const ended = await admin.query(
      "SELECT count(pg_terminate_backend(pid))::int FROM pg_stat_activity WHERE usename = 'text2sql_ro'",
    );
    for (let i = 0; i < 100; i++) {
      const left = await admin.query(
        "SELECT count(*)::int FROM pg_stat_activity WHERE usename = 'text2sql_ro'",
      );
      if (Number(left.rows[0][0]) === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    return Number(ended.rows[0][0]);
  } finally {
    await admin.close();
  }
}

const correct = (v: Map<number, number>) => [...v.values()].filter((x) => x === 1).length;

/** Verdicts of `ours` that differ from the official ones, one line each. */
function differences(label: string, ours: Map<number, number>, official: Map<number, number>): string[] {
  const out: string[] = [];
  for (const [i, ex] of official) {
    if ((ours.get(i) ?? 0) !== ex) {
      out.push(`${label}: question ${i}: ours ${ours.get(i) ?? "none"}, official ${ex}`);
    }
  }
  return out;
}

/** The PostgreSQL benchmark; prints the load time, the kept questions, the table and the target. */
export async function benchPostgres(options: PgBenchOptions = {}): Promise<void> {
  const quick = options.quick ?? false;
  const workers = options.workers ?? navigator.hardwareConcurrency ?? 2;
  const runs = options.runs ?? (quick ? 1 : 3);
  console.log(
    `postgresql: the BIRD-scale questions on PostgreSQL 15 (${quick ? "quick sizes" : "full scale"})`,
  );
  const scale = await ensureScaleDatabase({
    params: quick ? QUICK_SCALE : {},
    onStep: (line) => console.log(line),
  });
  const tmp = await Deno.makeTempDir({ prefix: "t2s-pg-bench-" });
  const server = await startPostgres();
  try {
    const roPassword = crypto.randomUUID().replaceAll("-", "");
    const loadS = await load(server.adminUrl, scale.dbRoot, roPassword);
    console.log(`  deno task db load into PostgreSQL ${server.version}: ${loadS.toFixed(1)} s`);
    const roUrl = `postgres://text2sql_ro:${roPassword}@${server.host}:${server.port}/bird`;
    const pairs = await keptPairs(roUrl, scale, tmp);
    // Built once into the user's cache (as `deno task eval` builds it) and reused; never timed. At full scale it
    // is not run: the quick sizes' 475K rows take ~67 s to build here (5.8M would take ~15 min), and every
    // PGlite worker holds a whole copy of the database in WebAssembly memory.
    let pgliteDir: string | null = null;
    if (quick) {
      const pglite = await ensurePgliteData({ dbRoot: scale.dbRoot, dbIds: pairs.dbIds });
      pgliteDir = dirname(pglite.path);
      console.log(
        `  PGlite data ${pglite.built ? "built" : "cached"}: ${pglite.path} (${
          pglite.seconds.toFixed(1)
        } s, ` +
          `not timed)`,
      );
    } else {
      console.log(
        "  PGlite: run at the quick sizes only (--quick): each worker holds the whole database in memory",
      );
    }
    const bench = { workers, tmp, denoCache: await denoDir() };
    const t = { ours: [] as number[], official: [] as number[], pglite: [] as number[] };
    const mb = { ours: [] as number[], official: [] as number[], pglite: [] as number[] };
    const differ = new Set<string>();
    let last: { ours?: Outcome; official?: Outcome; pglite?: Outcome } = {};
    for (let r = 0; r < runs; r++) {
      last = {};
      const order = (r % 2 ? ["official", "ours", "pglite"] : ["ours", "official", "pglite"])
        .filter((who) => who !== "pglite" || pgliteDir !== null);
      for (const who of order) {
        const ended = await quiesce(server.adminUrl);
        if (ended) console.log(`  ended ${ended} backend(s) left running by the previous contestant`);
        const o = who === "official" ? await runOfficial(pairs, workers, roUrl) : await runOurs(pairs, {
          ...bench,
          url: who === "ours" ? roUrl : null,
          pgliteDir: who === "pglite" ? pgliteDir : null,
        });
        last[who as keyof typeof last] = o;
        t[who as keyof typeof t].push(o.run.seconds);
        mb[who as keyof typeof mb].push(o.run.peakMb);
      }
      for (const l of differences("server", last.ours!.verdicts, last.official!.verdicts)) differ.add(l);
      if (last.pglite) {
        for (const l of differences("PGlite", last.pglite.verdicts, last.official!.verdicts)) differ.add(l);
      }
      console.log(
        `  postgresql run ${r + 1}/${runs}: ours ${t.ours.at(-1)!.toFixed(2)} s, official ` +
          `${t.official.at(-1)!.toFixed(2)} s` +
          (last.pglite ? `, PGlite ${t.pglite.at(-1)!.toFixed(2)} s` : ""),
      );
    }
    for (const l of differ) console.log(`  verdicts differ: ${l}`);
    const [o, f] = [median(t.ours), median(t.official)];
    const p = t.pglite.length ? median(t.pglite) : null;
    console.log(
      `\npostgresql head to head, ${workers} workers / processes, medians of ${runs} alternating run(s), wall ` +
        `time from outside (start-up included), peak RSS of each process tree`,
    );
    console.log(
      `${pairs.count} pairs: ours ${o.toFixed(2)} s (${Math.max(...mb.ours).toFixed(0)} MB), official ` +
        `${f.toFixed(2)} s (${Math.max(...mb.official).toFixed(0)} MB)` +
        (p === null ? "" : `, PGlite ${p.toFixed(2)} s (${Math.max(...mb.pglite).toFixed(0)} MB)`) +
        `; EX ours ${correct(last.ours!.verdicts)}, official ${correct(last.official!.verdicts)}` +
        (last.pglite ? `, PGlite ${correct(last.pglite.verdicts)}` : "") + `; load ${loadS.toFixed(1)} s`,
    );
    const ratio = o / f;
    console.log(
      `target: postgresql ours/official ${ratio.toFixed(2)}× (target ≤ ${TARGET.toFixed(2)}×) ` +
        `${ratio <= TARGET ? "PASS" : "MISS"}` +
        (p === null ? "" : `; PGlite/official ${(p / f).toFixed(2)}×`),
    );
  } finally {
    await server.stop();
    await Deno.remove(tmp, { recursive: true });
  }
}

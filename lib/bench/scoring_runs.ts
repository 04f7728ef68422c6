/**
 * The contestants of the scoring benchmark, one run each: ours (`deno task eval --predictions` as a user runs
 * it), the official per-pair logic (`tests/parity/official_ex.py`), and the floor (the `sqlite3` CLI).
 *
 * @module
 */
import { join } from "node:path";
import { BIRD_SEPARATOR } from "../data/mod.ts";
import type { Pairs } from "./scoring_sets.ts";
import { runTree } from "./tree_run.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

/** Deno's own cache folder: kept when a run gets a fresh `XDG_CACHE_HOME` (which Deno would otherwise use). */
export async function denoDir(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" }).output();
  return JSON.parse(new TextDecoder().decode(out.stdout)).denoDir;
}

/** `deno task eval --predictions` as a user runs it, into `out`, with the cache folder `xdg`; the tree's figures. */
export function evalTree(
  pairs: Pairs,
  options: {
    workers: number;
    out: string;
    xdg: string;
    denoCache: string;
    /** Further flags (`--dialect postgresql`). */
    extra?: string[];
    /** Further environment (`TEXT2SQL_DB_URL`). */
    env?: Record<string, string>;
  },
) {
  return runTree(Deno.execPath(), [
    "run",
    "-A",
    join(ROOT, "lib", "cli", "cli.ts"),
    "eval",
    "--dataset",
    pairs.dataset,
    "--db-root",
    pairs.dbRoot,
    "--predictions",
    pairs.predictions,
    "--workers",
    String(options.workers),
    "--out",
    options.out,
    "--quiet",
    ...(options.extra ?? []),
  ], { env: { ...options.env, XDG_CACHE_HOME: options.xdg, DENO_DIR: options.denoCache } });
}

/** `deno task eval --predictions` as a user runs it, with a fresh gold cache; returns the tree and its EX count. */
export async function runOurs(
  pairs: Pairs,
  options: { workers: number; tmp: string; denoCache: string },
) {
  const { workers, tmp, denoCache } = options;
  const fresh = await Deno.makeTempDir({ dir: tmp, prefix: "ours-" });
  const run = await evalTree(pairs, {
    workers,
    out: join(fresh, "run"),
    xdg: join(fresh, "cache"),
    denoCache,
  });
  const records = (await Deno.readTextFile(join(fresh, "run", "results.jsonl"))).split("\n").filter(Boolean)
    .map((line) => JSON.parse(line) as { index: number; status: string; error?: string | null });
  await Deno.remove(fresh, { recursive: true });
  const verdicts = new Map(records.map((r) => [r.index, r]));
  return { ...run, verdicts, correct: records.filter((r) => r.status === "correct").length };
}

/** The official logic with its own pool of `workers` processes. */
export async function runOfficial(pairs: Pairs, workers: number) {
  const run = await runTree("python3", [
    join(ROOT, "tests", "parity", "official_ex.py"),
    pairs.dataset,
    pairs.predictions,
    pairs.dbRoot,
    "--processes",
    String(workers),
  ]);
  const verdicts = JSON.parse(run.stdout) as Record<string, [number, number]>;
  return {
    ...run,
    verdicts: new Map(Object.entries(verdicts).map(([i, [ex]]) => [Number(i), ex])),
    correct: Object.values(verdicts).filter(([ex]) => ex === 1).length,
  };
}

/** The floor: each question's prediction then gold in the `sqlite3` CLI, `lanes` questions at a time. */
export async function runFloor(pairs: Pairs, lanes: number): Promise<number> {
  const questions = JSON.parse(await Deno.readTextFile(pairs.dataset)) as { db_id: string; SQL: string }[];
  const preds = JSON.parse(await Deno.readTextFile(pairs.predictions)) as Record<string, string>;
  const jobs: [string, string][] = [];
  questions.forEach((q, i) => {
    const db = join(pairs.dbRoot, q.db_id, `${q.db_id}.sqlite`);
    const pred = preds[String(i)]?.split(BIRD_SEPARATOR)[0];
    jobs.push([db, `${pred ?? ""}`], [db, q.SQL]);
  });
  let next = 0;
  const started = performance.now();
  const lane = async () => {
    while (next < jobs.length) {
      const j = next;
      next += 2;
      for (const [db, sql] of jobs.slice(j, j + 2)) {
        // Output to /dev/null as the issue measured it; an erroring prediction fails here as it does there.
        await new Deno.Command("sqlite3", { args: ["-readonly", db, sql], stdout: "null", stderr: "null" })
          .output();
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  return (performance.now() - started) / 1000;
}

/**
 * Building the BIRD-scale databases and keying them: the hash of the generator version, the sizes and the build
 * SQL names the cache folder; each database is built in its own worker thread, into a `.partial` folder renamed
 * into place when whole.
 *
 * @module
 */
import { join } from "node:path";
import { exists, sha256Hex, writeJsonAtomic } from "../util/mod.ts";
import { bankSql, forumSql } from "./scale_schema.ts";
import type { ScaleParams } from "./scale_types.ts";

/** Bump when the generated data, questions or predictions change: the cache key includes it. */
const GENERATOR_VERSION = 1;

/**
 * The cache key of the databases: generator version, parameters and the SQL that builds them. The questions are
 * not part of it: they are rewritten beside the databases whenever their text changes, at no rebuild.
 */
export function scaleHash(params: ScaleParams): string {
  return sha256Hex(JSON.stringify({
    v: GENERATOR_VERSION,
    params,
    bank: bankSql(params),
    forum: forumSql(params),
  })).slice(0, 16);
}

/** Run one database's SQL in a worker thread, so the two databases build in parallel. */
function buildInWorker(sql: string, path: string): Promise<void> {
  const source = `import { DatabaseSync } from "node:sqlite";
self.onmessage = (e) => {
  try {
    const db = new DatabaseSync(e.data.path);
    db.exec(e.data.sql);
    db.close();
    self.postMessage({ ok: true });
  } catch (err) {
    self.postMessage({ ok: false, message: String(err?.message ?? err) });
  }
};`;
  const url = `data:application/javascript,${encodeURIComponent(source)}`;
  const worker = new Worker(url, { type: "module" });
  return new Promise<void>((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<{ ok: boolean; message?: string }>) => {
      worker.terminate();
      if (e.data.ok) resolve();
      else reject(new Error(`${path}: ${e.data.message}`));
    };
    worker.onerror = (e) => {
      e.preventDefault();
      worker.terminate();
      reject(new Error(`${path}: ${e.message}`));
    };
    worker.postMessage({ sql, path });
  });
}

/** The databases of a build, each with the SQL that builds it. */
function databases(params: ScaleParams): [string, string][] {
  return [["bank_scale", bankSql(params)], ["forum_scale", forumSql(params)]];
}

/**
 * Build the databases of `params` into the folders `partial/dev_databases/<db_id>/` (as `<db_id>.sqlite`, both
 * in parallel threads), then write its `done.json` marker last.
 *
 * @returns Seconds since `started` (a `performance.now()` reading), as recorded in `done.json`.
 */
async function buildInto(partial: string, params: ScaleParams, started: number): Promise<number> {
  const dbs = databases(params);
  await Promise.all(
    dbs.map(([db, sql]) => buildInWorker(sql, join(partial, "dev_databases", db, `${db}.sqlite`))),
  );
  const buildSeconds = (performance.now() - started) / 1000;
  await writeJsonAtomic(join(partial, "done.json"), { version: GENERATOR_VERSION, params, buildSeconds });
  return buildSeconds;
}

/** Move a finished `partial` build to `dir`, unless another process finished the same build there first. */
async function moveIntoPlace(partial: string, dir: string): Promise<void> {
  try {
    await Deno.rename(partial, dir);
  } catch (e) {
    // Another process finished the same build first: theirs is as good as ours.
    if (!(await exists(join(dir, "done.json")))) throw e;
    await Deno.remove(partial, { recursive: true });
  }
}

/**
 * Build the databases of `params` into `dir` (its `done.json` marks it finished). Built beside its final place
 * and renamed when whole: a killed build leaves only a `.partial` folder, which a failed one removes.
 *
 * @returns The seconds the build took.
 */
export async function buildScaleDatabases(
  dir: string,
  params: ScaleParams,
  options: { onStep?: (line: string) => void } = {},
): Promise<number> {
  const started = performance.now();
  const partial = `${dir}.${crypto.randomUUID().slice(0, 8)}.partial`;
  try {
    for (const [db] of databases(params)) {
      await Deno.mkdir(join(partial, "dev_databases", db), { recursive: true });
    }
    options.onStep?.(`building ${dir} (${JSON.stringify(params)})`);
    const buildSeconds = await buildInto(partial, params, started);
    await moveIntoPlace(partial, dir);
    return buildSeconds;
  } catch (e) {
    await Deno.remove(partial, { recursive: true }).catch(() => {});
    throw e;
  }
}

/**
 * `deno task bench --only values`: the value index on the BIRD-scale databases (`scale.ts`; `--quick`: the
 * small build the scoring benchmark's quick mode uses). For each database: the index built from nothing (a
 * fresh cache folder) with its time and the process's peak RSS growth (sampled every 20 ms), its size, the
 * load from the cache, the searchable form's build, and the lookups of the dataset's questions (per question).
 * Baselines of the same run: the time to read the database file once (sha256, which the cache key needs).
 *
 * @module
 */
import { join } from "node:path";
import { fileSha256 } from "../util/mod.ts";
import { clearValueIndexMemo, ensureValueIndex, ValueMatcher } from "../values/mod.ts";
import { ensureScaleDatabase } from "./scale.ts";

/** Options of {@linkcode benchValues}. */
export interface ValuesBenchOptions {
  quick?: boolean;
}

const QUICK = { transactions: 300_000, accounts: 20_000, posts: 30_000, users: 10_000 };

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

/** Peak RSS above the starting RSS while `fn` runs. */
async function withPeak<T>(fn: () => Promise<T>): Promise<{ value: T; peak: number; seconds: number }> {
  const start = Deno.memoryUsage().rss;
  let peak = start;
  const timer = setInterval(() => peak = Math.max(peak, Deno.memoryUsage().rss), 20);
  const t0 = performance.now();
  try {
    const value = await fn();
    peak = Math.max(peak, Deno.memoryUsage().rss);
    return { value, peak: peak - start, seconds: (performance.now() - t0) / 1000 };
  } finally {
    clearInterval(timer);
  }
}

/**
 * Build, load and search the value index of each BIRD-scale database, printing one line each.
 *
 * @param options `quick`: the small build
 */
export async function benchValues(options: ValuesBenchOptions = {}): Promise<void> {
  const quick = options.quick ?? false;
  console.log(`values: the value index on the BIRD-scale databases (${quick ? "quick" : "full"} build)`);
  const scale = await ensureScaleDatabase({ params: quick ? QUICK : {} });
  const cacheDir = await Deno.makeTempDir({ prefix: "t2s-bench-values-" });
  const source = {
    dialect: "sqlite" as const,
    target: (root: string, id: string) => join(root, id, `${id}.sqlite`),
    catalog: () => Promise.reject(new Error("SQLite is read from its file")),
    execute: () => Promise.reject(new Error("SQLite is read from its file")),
    contentKey: () => Promise.resolve(null),
  };
  try {
    for (const dbId of [...new Set(scale.questions.map((q) => q.db_id))]) {
      const file = source.target(scale.dbRoot, dbId);
      const size = (await Deno.stat(file)).size;
      const t0 = performance.now();
      await fileSha256(file);
      const hashS = (performance.now() - t0) / 1000;
      clearValueIndexMemo();
      const built = await withPeak(() =>
        ensureValueIndex(source, { dbRoot: scale.dbRoot, dbId, cacheDir, quiet: true, silent: true })
      );
      const index = built.value;
      const values = index.columns.reduce((n, c) => n + c.values.length, 0);
      const free = index.columns.filter((c) => c.kind === "free_text").length;
      clearValueIndexMemo();
      const loaded = await withPeak(() =>
        ensureValueIndex(source, { dbRoot: scale.dbRoot, dbId, cacheDir, silent: true })
      );
      const matcher = await withPeak(() => Promise.resolve(new ValueMatcher(index)));
      const questions = scale.questions.filter((q) => q.db_id === dbId);
      const t1 = performance.now();
      let found = 0;
      for (const q of questions) found += matcher.value.match([q.question, q.evidence ?? ""]).length;
      const perQ = (performance.now() - t1) / Math.max(1, questions.length);
      console.log(
        `  ${dbId} (${
          mib(size)
        }): ${index.columns.length} text columns (${free} free text), ${values} values; ` +
          `build ${built.seconds.toFixed(2)} s (+${mib(built.peak)} RSS peak) = ${
            (built.seconds / hashS).toFixed(1)
          }× ` +
          `reading the file once (sha256 ${hashS.toFixed(2)} s); load from cache ${
            loaded.seconds.toFixed(2)
          } s; ` +
          `search form ${matcher.seconds.toFixed(2)} s (+${mib(matcher.peak)}); lookup ${
            perQ.toFixed(1)
          } ms per ` +
          `question (${questions.length} questions, ${found} matches)`,
      );
    }
  } finally {
    await Deno.remove(cacheDir, { recursive: true }).catch(() => {});
  }
}

/**
 * `deno task bench --only audit`: the gold audit's time against plain gold execution on the BIRD-scale set
 * (`scale.ts`; `--quick`: its small build). Plain gold execution is every gold query run once through the same
 * sandboxed pool at the same worker count, digested in the worker as an evaluation's gold pass does (no rows
 * cross the pipe); the audit is `runAudit` end to end (its pool, follow-up queries, `audit.jsonl`, summary and
 * page) into a fresh folder each run. Both start their own workers. Medians of alternating runs; target ≤ 1.5×.
 *
 * @module
 */
import { join } from "node:path";
import { runAudit } from "../audit/mod.ts";
import { loadDataset } from "../data/mod.ts";
import { openEngine } from "../exec/mod.ts";
import { ensureScaleDatabase } from "./scale.ts";

/** Options of {@linkcode benchAudit}. */
export interface AuditBenchOptions {
  /** The small BIRD-scale build and one run of each (default false: full build, 3 runs). */
  quick?: boolean;
  runs?: number;
  workers?: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Run the audit benchmark and print its line; returns the ratio (audit / plain gold execution). */
export async function benchAudit(options: AuditBenchOptions = {}): Promise<number> {
  const quick = options.quick ?? false;
  const runs = options.runs ?? (quick ? 1 : 3);
  const workers = options.workers ?? Math.min(8, Math.max(1, navigator.hardwareConcurrency ?? 2));
  const scale = await ensureScaleDatabase({
    params: quick ? { transactions: 300_000, accounts: 20_000, posts: 30_000, users: 10_000 } : {},
    onStep: (line) => console.log(line),
  });
  const dataset = await loadDataset(scale.dataset, { dbRoot: scale.dbRoot });
  const plain = async () => {
    const t0 = performance.now();
    const engine = await openEngine({ dialect: "sqlite", workers, timeoutS: 30 });
    try {
      const targets = dataset.examples.map((e) => engine.target(dataset.dbRoot, e.db_id));
      engine.allow([...new Set(targets)]);
      await Promise.all(dataset.examples.map((e, i) => engine.score(targets[i], e.sql, { gold: null })));
    } finally {
      await engine.close();
    }
    return (performance.now() - t0) / 1000;
  };
  const tmp = await Deno.makeTempDir({ prefix: "t2s-bench-audit-" });
  const audit = async (n: number) => {
    const t0 = performance.now();
    await runAudit({
      dataset: scale.dataset,
      dbRoot: scale.dbRoot,
      out: join(tmp, `a${n}`),
      workers,
      silent: true,
    });
    return (performance.now() - t0) / 1000;
  };
  const a: number[] = [], p: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      p.push(await plain());
      a.push(await audit(i));
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  const ratio = median(a) / median(p);
  console.log(
    `audit: ${dataset.examples.length} BIRD-scale questions${
      quick ? " (quick build)" : ""
    }, ${workers} workers: ` +
      `audit ${median(a).toFixed(2)} s / plain gold execution ${median(p).toFixed(2)} s = ${
        ratio.toFixed(2)
      }× ` +
      `(target ≤ 1.5×; median of ${runs})`,
  );
  return ratio;
}

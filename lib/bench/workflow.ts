/**
 * The workflow line of `deno task bench`: three models' predictions on the same questions, scored one after
 * another as the notebooks run them (one user's cache, so the gold results are executed for the first model and
 * served from the gold cache for the next two), against the official logic run three times (it executes every
 * gold query every time). The three prediction files are the bundled baseline and two variants of it (a third of
 * the answers replaced by the gold SQL, a fifth by a wrong constant query), so the verdicts differ per model.
 *
 * @module
 */
import { join } from "node:path";
import { BIRD_SEPARATOR } from "../data/mod.ts";
import { buildSet, type Pairs } from "./scoring_sets.ts";
import { denoDir, evalTree, runOfficial } from "./scoring_runs.ts";

/** Options of {@linkcode benchWorkflow}. */
export interface WorkflowBenchOptions {
  /** Workers of ours = processes of the official pool (default: the CPU count). */
  workers?: number;
  /** Alternating rounds (default 3; 1 with `quick`). */
  runs?: number;
  /** Small sizes, one round. */
  quick?: boolean;
}

/** The workflow figures: medians over the rounds of the three models' total time. */
export interface WorkflowFigures {
  models: number;
  pairs: number;
  ours: number;
  official: number;
  /** CPU seconds of the three process trees together (medians over the rounds). */
  oursCpu: number;
  officialCpu: number;
  /** EX counts per model, ours and official (they must agree). */
  correct: { ours: number[]; official: number[] };
}

/** The bundled baseline's answers and two variants of them, as three official-format predictions files. */
async function threeModels(pairs: Pairs, dir: string): Promise<string[]> {
  const preds = JSON.parse(await Deno.readTextFile(pairs.predictions)) as Record<string, string>;
  const questions = JSON.parse(await Deno.readTextFile(pairs.dataset)) as { SQL: string; db_id: string }[];
  const variant = (pick: (i: number, q: { SQL: string; db_id: string }) => string | null) =>
    Object.fromEntries(
      Object.entries(preds).map(([k, v]) => {
        const sql = pick(Number(k), questions[Number(k)]);
        return [k, sql === null ? v : `${sql}${BIRD_SEPARATOR}${questions[Number(k)].db_id}`];
      }),
    );
  const files = [
    pairs.predictions,
    join(dir, "predict_b.json"),
    join(dir, "predict_c.json"),
  ];
  await Deno.writeTextFile(files[1], JSON.stringify(variant((i, q) => (i % 3 === 0 ? `${q.SQL} ` : null))));
  await Deno.writeTextFile(files[2], JSON.stringify(variant((i) => (i % 5 === 0 ? "SELECT 1" : null))));
  return files;
}

/** Ours: the three files one after another through `deno task eval`, sharing one cache folder. */
async function oursRound(
  pairs: Pairs,
  files: string[],
  bench: { workers: number; dir: string; denoCache: string },
): Promise<{ seconds: number; cpuSeconds: number; correct: number[] }> {
  const cache = await Deno.makeTempDir({ dir: bench.dir, prefix: "cache-" });
  let seconds = 0;
  let cpuSeconds = 0;
  const correct: number[] = [];
  for (const [m, predictions] of files.entries()) {
    const out = join(cache, `run-${m}`);
    const run = await evalTree({ ...pairs, predictions }, {
      workers: bench.workers,
      out,
      xdg: join(cache, "xdg"),
      denoCache: bench.denoCache,
    });
    seconds += run.seconds;
    cpuSeconds += run.cpuSeconds;
    const summary = JSON.parse(await Deno.readTextFile(join(out, "summary.json"))) as { correct: number };
    correct.push(summary.correct);
  }
  await Deno.remove(cache, { recursive: true });
  return { seconds, cpuSeconds, correct };
}

/** The official logic on each of the three files. */
async function officialRound(pairs: Pairs, files: string[], workers: number) {
  let seconds = 0;
  let cpuSeconds = 0;
  const correct: number[] = [];
  for (const predictions of files) {
    const o = await runOfficial({ ...pairs, predictions }, workers);
    seconds += o.seconds;
    cpuSeconds += o.cpuSeconds;
    correct.push(o.correct);
  }
  return { seconds, cpuSeconds, correct };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

/** Run the workflow benchmark; prints its line and the target (≤ 0.6× the official script three times). */
export async function benchWorkflow(options: WorkflowBenchOptions = {}): Promise<WorkflowFigures> {
  const quick = options.quick ?? false;
  const workers = options.workers ?? navigator.hardwareConcurrency ?? 2;
  const runs = options.runs ?? (quick ? 1 : 3);
  const dir = await Deno.makeTempDir({ prefix: "t2s-bench-workflow-" });
  try {
    const pairs = await buildSet("superhero", dir, { quick, copies: quick ? 2 : 20 });
    const files = await threeModels(pairs, dir);
    const bench = { workers, dir, denoCache: await denoDir() };
    const ours: number[] = [];
    const official: number[] = [];
    const cpu = { ours: [] as number[], official: [] as number[] };
    let correct = { ours: [] as number[], official: [] as number[] };
    for (let r = 0; r < runs; r++) {
      // Alternating order, so neither side always runs on a warmer page cache.
      const first = r % 2 === 0;
      const o1 = first ? await oursRound(pairs, files, bench) : null;
      const off = await officialRound(pairs, files, workers);
      const o = o1 ?? await oursRound(pairs, files, bench);
      ours.push(o.seconds);
      official.push(off.seconds);
      cpu.ours.push(o.cpuSeconds);
      cpu.official.push(off.cpuSeconds);
      correct = { ours: o.correct, official: off.correct };
      console.log(
        `  workflow round ${r + 1}/${runs}: ours ${o.seconds.toFixed(2)} s, official ${
          off.seconds.toFixed(2)
        } s`,
      );
    }
    const figures = {
      models: files.length,
      pairs: pairs.count,
      ours: median(ours),
      official: median(official),
      oursCpu: median(cpu.ours),
      officialCpu: median(cpu.official),
      correct,
    };
    const ratio = figures.ours / figures.official;
    const agree = correct.ours.every((c, i) => c === correct.official[i]);
    console.log(
      `\nworkflow: ${files.length} models × ${pairs.count} pairs one after another (gold cached after the first), ` +
        `${workers} workers, medians of ${runs}: ours ${figures.ours.toFixed(2)} s, official ${
          figures.official.toFixed(2)
        } s, ${ratio.toFixed(2)}× (target ≤ 0.60×) ${ratio <= 0.6 ? "PASS" : "MISS"}; CPU ${
          figures.oursCpu.toFixed(2)
        } s vs ${figures.officialCpu.toFixed(2)} s, ${
          (figures.oursCpu / figures.officialCpu).toFixed(2)
        }×; EX per model ours ${correct.ours.join("/")} vs official ${correct.official.join("/")}${
          agree ? "" : " (DIFFER)"
        }`,
    );
    return figures;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

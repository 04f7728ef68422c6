/**
 * The head-to-head scoring benchmark: for each set, alternating runs of ours, the official logic and (on
 * `scale`) the floor; medians of the wall times, peak memory, EX counts, and every verdict that differs.
 *
 * @module
 */
import { join } from "node:path";
import { buildSet, type Pairs } from "./scoring_sets.ts";
import { denoDir, runFloor, runOfficial, runOurs } from "./scoring_runs.ts";
import { printFigures, type SetFigures } from "./scoring_table.ts";

export type { SetFigures } from "./scoring_table.ts";

/** Options of {@linkcode benchScoring}. */
export interface ScoringBenchOptions {
  /** Which sets: `superhero`, `trivial`, `scale` (default all three). */
  sets?: string[];
  /** Alternating runs per contestant (default 3). */
  runs?: number;
  /** Workers of ours = processes of the official pool = lanes of the floor (default: the CPU count). */
  workers?: number;
  /** Copies of the superhero questions (default 20: 2,580 pairs). */
  copies?: number;
  /** Trivial pairs (default 3,000). */
  trivial?: number;
  /** Small sizes everywhere, one run: for development. */
  quick?: boolean;
}

/** What every set's runs share. */
interface Bench {
  workers: number;
  runs: number;
  tmp: string;
  denoCache: string;
}

/** What the runs of one set gathered so far. */
interface SetRuns {
  t: { ours: number[]; official: number[]; floor: number[] };
  cpu: { ours: number[]; official: number[] };
  mb: { ours: number[]; official: number[] };
  correct: { ours: number; official: number };
  differ: Set<string>;
  where: string[];
  last: {
    ours?: Map<number, { status: string; error?: string | null }>;
    official?: Map<number, number>;
  };
}

function emptyRuns(): SetRuns {
  return {
    t: { ours: [], official: [], floor: [] },
    cpu: { ours: [], official: [] },
    mb: { ours: [], official: [] },
    correct: { ours: 0, official: 0 },
    differ: new Set(),
    where: [],
    last: {},
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** One run of ours: time, memory, EX count and verdicts into `acc`. */
async function runOursInto(acc: SetRuns, pairs: Pairs, bench: Bench): Promise<void> {
  const o = await runOurs(pairs, bench);
  acc.t.ours.push(o.seconds);
  acc.cpu.ours.push(o.cpuSeconds);
  acc.where.push(`ours: parent ${o.rootMb.toFixed(0)} MB, largest worker ${o.childMb.toFixed(0)} MB`);
  acc.mb.ours.push(o.peakMb);
  acc.correct.ours = o.correct;
  acc.last.ours = o.verdicts;
}

/** One run of the official logic: time, memory, EX count and verdicts into `acc`. */
async function runOfficialInto(acc: SetRuns, pairs: Pairs, bench: Bench): Promise<void> {
  const o = await runOfficial(pairs, bench.workers);
  acc.t.official.push(o.seconds);
  acc.cpu.official.push(o.cpuSeconds);
  acc.where.push(
    `official: parent ${o.rootMb.toFixed(0)} MB, largest pool process ${o.childMb.toFixed(0)} MB`,
  );
  acc.mb.official.push(o.peakMb);
  acc.correct.official = o.correct;
  acc.last.official = o.verdicts;
}

/** Name each verdict of the last runs that differs (an official timeout under load shows as ours 1, official 0). */
function noteDifferences(acc: SetRuns): void {
  for (const [i, ex] of acc.last.official ?? []) {
    const ours = acc.last.ours?.get(i);
    if ((ours?.status === "correct" ? 1 : 0) !== ex) {
      acc.differ.add(`question ${i}: ours ${ours?.status} ${ours?.error ?? ""}, official ${ex}`.trim());
    }
  }
}

/** Run `r` of set `name`: each contestant once, in alternating order. */
async function runRound(acc: SetRuns, set: { name: string; pairs: Pairs; r: number }, bench: Bench) {
  const { name, pairs, r } = set;
  // Alternating order, so neither side always runs on a warmer page cache.
  const order = r % 2 ? ["official", "ours", "floor"] : ["ours", "official", "floor"];
  for (const who of order) {
    if (who === "ours") await runOursInto(acc, pairs, bench);
    else if (who === "official") await runOfficialInto(acc, pairs, bench);
    else if (name === "scale") acc.t.floor.push(await runFloor(pairs, bench.workers));
  }
  noteDifferences(acc);
  const floor = name === "scale" ? `, floor ${acc.t.floor.at(-1)!.toFixed(2)} s` : "";
  console.log(
    `  ${name} run ${r + 1}/${bench.runs}: ours ${acc.t.ours.at(-1)!.toFixed(2)} s, official ` +
      `${acc.t.official.at(-1)!.toFixed(2)} s${floor}`,
  );
}

/** All runs of set `name`, its differing verdicts and memory printed; returns its figures. */
async function benchSet(name: string, pairs: Pairs, bench: Bench): Promise<SetFigures> {
  const acc = emptyRuns();
  for (let r = 0; r < bench.runs; r++) await runRound(acc, { name, pairs, r }, bench);
  for (const line of acc.differ) console.log(`  ${name}: verdicts differ on ${line}`);
  console.log(`  ${name}: peak RSS per process: ${[...new Set(acc.where)].join("; ")}`);
  return {
    name,
    pairs: pairs.count,
    ours: median(acc.t.ours),
    official: median(acc.t.official),
    oursCpu: median(acc.cpu.ours),
    officialCpu: median(acc.cpu.official),
    floor: acc.t.floor.length ? median(acc.t.floor) : null,
    oursMb: Math.max(...acc.mb.ours),
    officialMb: Math.max(...acc.mb.official),
    correct: acc.correct,
  };
}

/** The head-to-head scoring benchmark; prints a table and the targets with PASS/MISS, returns the figures. */
export async function benchScoring(options: ScoringBenchOptions = {}): Promise<SetFigures[]> {
  const quick = options.quick ?? false;
  const workers = options.workers ?? navigator.hardwareConcurrency ?? 2;
  const runs = options.runs ?? (quick ? 1 : 3);
  const sets = options.sets ?? ["superhero", "trivial", "scale"];
  const tmp = await Deno.makeTempDir({ prefix: "t2s-bench-" });
  const bench: Bench = { workers, runs, tmp, denoCache: await denoDir() };
  const figures: SetFigures[] = [];
  try {
    for (const name of sets) {
      const dir = join(tmp, name);
      await Deno.mkdir(dir);
      const pairs = await buildSet(name, dir, { quick, copies: options.copies, trivial: options.trivial });
      figures.push(await benchSet(name, pairs, bench));
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
  printFigures(figures, { workers, runs });
  return figures;
}

/**
 * The GRPO reward at throughput (`deno task bench --only reward`): `trainer/reward_bench.py` scores K = 16
 * completions per prompt (right, wrong, failing, slow, hostile and SQL-less, a realistic GRPO mix built from
 * each question's gold) through the trainer's `ExecutionReward` exactly as TRL's GRPOTrainer calls it, one call
 * per generation batch, against the floor: the same statements in plain Python `sqlite3` with as many processes.
 * Sets: `superhero` (the bundled sample, 256 prompts = 4,096 completions) and `scale` (the BIRD-scale databases
 * of `scale.ts`, 8 prompts = 128 completions, a 10 s statement limit: its slow statements take seconds each;
 * built on first use). Target: ≥ 0.8× the floor's throughput.
 *
 * @module
 */
import { join } from "node:path";
import { SAMPLE_DIR } from "../run/mod.ts";
import { ensureScaleDatabase } from "./scale.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

/** Options of {@linkcode benchReward}. */
export interface RewardBenchOptions {
  /** `superhero`, `scale` (default: superhero only; scale builds a 0.8 GB database on first use). */
  sets?: string[];
  /** Alternating runs of each side (default 3, 1 with `quick`). */
  runs?: number;
  /** Sandbox processes of ours = processes of the floor (default: the CPU count). */
  workers?: number;
  /** 64 prompts and one run. */
  quick?: boolean;
  /** The Python that runs the bench (default `python3`: the reward needs only the standard library). */
  python?: string;
}

/** One set's figures, as `reward_bench.py` prints them. */
export interface RewardFigures {
  completions: number;
  distinct_statements: number;
  steps: number;
  verdicts: Record<string, number>;
  ours: { seconds: number; per_s: number; p50_ms: number; p99_ms: number; start_s: number };
  floor: { seconds: number; per_s: number; p50_ms: number; p99_ms: number; start_s: number };
  throughput_vs_floor: number;
  verdicts_differ: number;
}

async function runSet(args: string[], python: string): Promise<RewardFigures> {
  const out = await new Deno.Command(python, {
    args: [join(ROOT, "trainer", "reward_bench.py"), ...args],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) throw new Error(`reward_bench.py failed (exit ${out.code}): ${text.slice(-400)}`);
  return JSON.parse(text.split("\n").at(-1)!) as RewardFigures;
}

/**
 * Runs the reward benchmark's sets and prints, per set, both sides' throughput, the p50/p99 latency of one
 * step's reward call and the ratio with PASS/MISS against the 0.8× target.
 *
 * @param options Sets, runs, workers.
 * @returns The figures per set.
 */
export async function benchReward(options: RewardBenchOptions = {}): Promise<Record<string, RewardFigures>> {
  const quick = options.quick ?? false;
  const workers = options.workers ?? navigator.hardwareConcurrency ?? 2;
  const runs = options.runs ?? (quick ? 1 : 3);
  const python = options.python ?? "python3";
  const figures: Record<string, RewardFigures> = {};
  console.log(`reward (GRPO, K = 16, 2 prompts per reward call, ${workers} processes each, ${runs} runs):`);
  for (const name of options.sets ?? ["superhero"]) {
    const common = ["--workers", String(workers), "--runs", String(runs), "--k", "16", "--per-step", "2"];
    let args: string[];
    if (name === "superhero") {
      args = [
        "--questions",
        join(SAMPLE_DIR, "dev.json"),
        "--db-root",
        join(SAMPLE_DIR, "dev_databases"),
        "--db-id",
        "superhero",
        "--prompts",
        quick ? "64" : "256",
        "--timeout",
        "2",
      ];
    } else if (name === "scale") {
      const scale = await ensureScaleDatabase();
      args = [
        "--questions",
        scale.dataset,
        "--db-root",
        scale.dbRoot,
        "--prompts",
        quick ? "4" : "8",
        "--timeout",
        "10",
      ];
    } else {
      throw new Error(`unknown reward set ${name} (superhero, scale)`);
    }
    const f = await runSet([...args, ...common], python);
    figures[name] = f;
    const verdicts = Object.entries(f.verdicts).map(([k, v]) => `${k} ${v}`).join(", ");
    console.log(
      `  ${name}: ${f.completions} completions (${f.distinct_statements} distinct statements; ${verdicts}) in ` +
        `${f.steps} reward calls`,
    );
    console.log(
      `    ours  ${f.ours.seconds.toFixed(2)} s, ${f.ours.per_s.toFixed(0)}/s, one call p50 ${
        f.ours.p50_ms.toFixed(1)
      } ms p99 ${f.ours.p99_ms.toFixed(1)} ms (pool start ${f.ours.start_s.toFixed(2)} s, once per training)`,
    );
    console.log(
      `    floor ${f.floor.seconds.toFixed(2)} s, ${f.floor.per_s.toFixed(0)}/s, one call p50 ${
        f.floor.p50_ms.toFixed(1)
      } ms p99 ${f.floor.p99_ms.toFixed(1)} ms`,
    );
    const verdict = f.throughput_vs_floor >= 0.8 ? "PASS" : "MISS";
    console.log(
      `    throughput ${f.throughput_vs_floor.toFixed(2)}× the floor's (target ≥ 0.8×: ${verdict}); ` +
        `${f.verdicts_differ} verdicts differ from plain sqlite3 (the sandbox's refusals of writes, ATTACH, ` +
        `settings; a timeout the floor calls an error)`,
    );
  }
  return figures;
}

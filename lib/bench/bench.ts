/**
 * `deno task bench`: performance measured as ratios against baselines run in the same script, on this machine.
 *
 * - scoring, head to head: `deno task eval --predictions` (a fresh gold cache each run, so nothing is skipped)
 *   against the official per-pair logic (`tests/parity/official_ex.py`: new connection, execute prediction then
 *   gold, fetch all, compare sets) with its own pool at the same worker count, each as its own process tree timed
 *   from the outside (start-up included: what a user waits for) with its peak memory (RSS summed over the tree,
 *   sampled every 50 ms). Sets: `superhero` (the 2,580 pairs of the bundled sample × 20, distinct SQL text),
 *   `trivial` (3,000 `SELECT n` pairs: per-question overhead), `scale` (the BIRD-scale questions of
 *   `scale.ts`, plus the floor: the same prediction and gold statements in the `sqlite3` CLI, as many in
 *   parallel as workers). Medians of `--runs` alternating runs.
 *   In `scoring.ts`, with its sets (`scoring_sets.ts`), contestants (`scoring_runs.ts`, through `tree_run.ts`)
 *   and table (`scoring_table.ts`).
 * - voting: self-consistency at K = 8 and 16 against the floor of its SQLite work; see `bench_voting.ts`.
 * - workflow: three models' predictions one after another, gold cached after the first, against the official
 *   script three times (`workflow.ts`).
 * - postgresql (only when asked for with `--only postgresql`): the BIRD-scale questions loaded into a private
 *   PostgreSQL 15 server, ours against mini-dev's psycopg2 logic at the same worker count, PGlite beside it; see
 *   `pg_bench.ts`.
 * - generation: see `bench_generation.ts`. download: see `bench_download.ts`. values (only when asked for with
 *   `--only values`): the value index on the BIRD-scale databases, see `bench_values.ts`.
 * - reward (only when asked for with `--only reward`): the GRPO execution reward as GRPOTrainer calls it,
 *   against plain `sqlite3` (`reward.ts`).
 *
 * @module
 */
import { benchScoring, type ScoringBenchOptions } from "./scoring.ts";
import type { RewardBenchOptions } from "./reward.ts";
import type { WorkflowBenchOptions } from "./workflow.ts";
import type { VotingBenchOptions } from "./bench_voting.ts";

/** Which benchmarks {@linkcode runBenchmarks} runs, and the scoring and voting benchmarks' options. */
export interface BenchmarkSelection {
  /** `scoring`, `workflow`, `voting`, `generation`, `download` (default: all five); `audit`, `postgresql`,
   * `values`, `reward` only when named. */
  only?: string[];
  scoring?: ScoringBenchOptions;
  workflow?: WorkflowBenchOptions;
  voting?: VotingBenchOptions;
  /** `--only audit`: the gold audit against plain gold execution (`audit_bench.ts`; not in the default set). */
  audit?: { quick?: boolean; runs?: number; workers?: number };
  /** `--only postgresql`: the BIRD-scale questions on PostgreSQL (`pg_bench.ts`; not in the default set). */
  postgresql?: { quick?: boolean; runs?: number; workers?: number };
  reward?: RewardBenchOptions;
}

/**
 * Runs the benchmarks asked for, in order (scoring, workflow, voting, audit, postgresql, generation, values,
 * download), each printing its figures.
 * The generation and download benchmarks load only when asked for (they build their fixtures on load).
 *
 * @param selection Which benchmarks, and the scoring benchmark's options.
 */
export async function runBenchmarks(selection: BenchmarkSelection = {}): Promise<void> {
  const only = new Set(selection.only ?? ["scoring", "workflow", "voting", "generation", "download"]);
  if (only.has("scoring")) await benchScoring(selection.scoring);
  if (only.has("workflow")) {
    console.log("");
    await (await import("./workflow.ts")).benchWorkflow(selection.workflow);
  }
  if (only.has("voting")) {
    console.log("");
    await (await import("./bench_voting.ts")).benchVoting(selection.voting);
  }
  if (only.has("audit")) {
    console.log("");
    await (await import("./audit_bench.ts")).benchAudit(selection.audit);
  }
  if (only.has("postgresql")) {
    console.log("");
    await (await import("./pg_bench.ts")).benchPostgres(selection.postgresql);
  }
  if (only.has("generation")) {
    console.log("");
    await (await import("./bench_generation.ts")).benchGeneration();
  }
  if (only.has("values")) {
    console.log("");
    await (await import("./bench_values.ts")).benchValues({ quick: selection.workflow?.quick });
  }
  if (only.has("download")) {
    console.log("");
    await (await import("./bench_download.ts")).benchDownload();
  }
  if (only.has("reward")) {
    console.log("");
    await (await import("./reward.ts")).benchReward(selection.reward);
  }
}

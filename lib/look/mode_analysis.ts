/**
 * Analysis of the inference modes, as plain rows (no Polars in the tables): an agent run's accuracy by the
 * turns it used, a voting run's first / majority / any per difficulty, and the modes of one model compared
 * pairwise with the paired test of `paired_test.ts` (exact McNemar and the paired bootstrap CI).
 *
 * ```ts
 * const runs = readRuns(["runs/greedy", "runs/maj8", "runs/agent"]);
 * accuracyByTurns(runs[2].records);
 * votingTable(runs[1].summary!);
 * compareModes(runs); // greedy vs maj@8, greedy vs agent
 * ```
 *
 * @module
 */
import { percent, runsFrame } from "./analysis.ts";
import { type BootstrapOptions, pairedTest, type PairedTestResult } from "./paired_test.ts";
import type { RunData } from "./run_data.ts";
import { describeMode } from "../run/mod.ts";
import type { ResultRecord, RunMode, Summary } from "../types.ts";

/** One row of {@linkcode accuracyByTurns}. */
export interface TurnsRow {
  /** Model calls the question used. */
  turns: number;
  total: number;
  correct: number;
  /** Percent, two decimals. */
  accuracy: number | null;
  /** Of these, questions cut at the turn limit (answered with their last query). */
  cut: number;
}

/**
 * Accuracy of an agent run by the number of turns each question used, ascending. Questions without a
 * trajectory (generation failures, other modes) are left out.
 *
 * @param records the run's records
 */
export function accuracyByTurns(records: readonly ResultRecord[]): TurnsRow[] {
  const rows = new Map<number, TurnsRow>();
  for (const r of records) {
    if (typeof r.turns !== "number") continue;
    const row = rows.get(r.turns) ?? { turns: r.turns, total: 0, correct: 0, accuracy: null, cut: 0 };
    row.total++;
    if (r.status === "correct") row.correct++;
    if (r.stop === "max_turns" || r.stop === "question_timeout") row.cut++;
    rows.set(r.turns, row);
  }
  return [...rows.values()]
    .sort((a, b) => a.turns - b.turns)
    .map((row) => ({ ...row, accuracy: percent(row.correct, row.total) }));
}

/** One row of {@linkcode votingTable}: a difficulty bucket or `total`. */
export interface VotingRow {
  difficulty: string;
  total: number;
  /** The first sample alone, %. */
  first: number | null;
  /** The voted answer, %. */
  majority: number | null;
  /** Some candidate right (the oracle), %. */
  any: number | null;
}

/**
 * A voting run's first / majority / any per difficulty and in total, from its `summary.json`, for a table or
 * a grouped bar chart.
 *
 * @param summary the run's summary
 * @throws {Error} when the run is not a voting run
 */
export function votingTable(summary: Summary): VotingRow[] {
  const v = summary.voting;
  if (!v) throw new Error("votingTable: this summary has no voting figures (not a --n K run)");
  const rows: VotingRow[] = Object.entries(v.by_difficulty).map(([difficulty, f]) => ({
    difficulty,
    total: f.total,
    first: f.first,
    majority: f.majority,
    any: f.any,
  }));
  rows.push({ difficulty: "total", total: summary.total, first: v.first, majority: v.majority, any: v.any });
  return rows;
}

/** The mode of a run, as its `run.json` records it (folders from before modes: single answer). */
export function modeOf(run: Pick<RunData, "info">): RunMode {
  return run.info.mode ?? { name: "single" };
}

/**
 * A run's mode in words (`voting over 8 samples`, `agent (at most 8 turns, 20 rows per result)`).
 *
 * @param run a run as read from disk
 */
export function describeModeOf(run: Pick<RunData, "info">): string {
  return describeMode(modeOf(run));
}

/** One comparison of {@linkcode compareModes}: the paired test and the two modes in words. */
export interface ModeComparison extends PairedTestResult {
  modeA: string;
  modeB: string;
}

/**
 * The modes of one model compared with the first run given (e.g. greedy vs maj@K, greedy vs agent) by the
 * paired test of `paired_test.ts`, on the questions both answered.
 *
 * @param runs two or more runs of one model over one dataset; the first is the baseline
 * @param options bootstrap resamples, seed, confidence
 * @throws {Error} with fewer than two runs or runs of different models
 */
export function compareModes(runs: readonly RunData[], options: BootstrapOptions = {}): ModeComparison[] {
  if (runs.length < 2) throw new Error("compareModes: give a baseline run and at least one other");
  const models = new Set(runs.map((r) => r.info.model ?? r.label));
  if (models.size > 1) {
    throw new Error(`compareModes: compares modes of one model, got ${[...models].join(", ")}`);
  }
  const df = runsFrame([...runs]);
  const [base, ...others] = runs;
  return others.map((other) => ({
    ...pairedTest(df, base.id, other.id, options),
    modeA: describeMode(modeOf(base)),
    modeB: describeMode(modeOf(other)),
  }));
}

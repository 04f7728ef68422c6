/**
 * The record stage: each finished question appended to the run log with the progress counted, and the run's
 * closing files (summary, official predictions, finished `run.json`), or, when the endpoint stopped the run,
 * a summary of how far it got.
 *
 * @module
 */
import { join } from "node:path";
import type { Progress } from "../util/mod.ts";
import { writeJsonAtomic } from "../util/mod.ts";
import { scrubDeep } from "../model/mod.ts";
import type { Example, ResultRecord, RunInfo, RunMode, Summary } from "../types.ts";
import { EndpointError, type EvalProgress } from "./options.ts";
import { predictionsFile, type ResultsWriter, RUN_FILES, summarize } from "./run_log.ts";
import { votingSummary } from "./voting.ts";

/** Where {@linkcode recorder} writes and counts. */
export interface RecordTarget {
  writer: ResultsWriter;
  /** The folder's records by dataset index, updated as questions finish. */
  records: Map<number, ResultRecord>;
  progress: Progress;
  onProgress?: (p: EvalProgress) => void;
  /** The run's scrubber (`runScrubber`): every record passes it before it is written. */
  scrub?: (text: string) => string;
}

/** A function that records one finished question: appended to `results.jsonl`, counted, reported. */
export function recorder(total: number, target: RecordTarget): (rec: ResultRecord) => Promise<void> {
  const state: EvalProgress = { done: 0, total, correct: 0, errors: 0 };
  return async (raw) => {
    const rec = target.scrub ? scrubDeep(raw, target.scrub) : raw;
    await target.writer.append(rec);
    target.records.set(rec.index, rec);
    state.done++;
    if (rec.status === "correct") state.correct++;
    const isError = rec.status !== "correct" && rec.status !== "wrong";
    if (isError) state.errors++;
    target.progress.tick({ error: isError });
    target.onProgress?.({ ...state });
  };
}

/** The selected questions' records (in selection order) and their summary. */
export function summarizeRun(
  examples: Example[],
  records: Map<number, ResultRecord>,
  options: { ves: boolean; mode: RunMode; hasModel: boolean },
): { selected: ResultRecord[]; summary: Summary } {
  const selected = examples.map((e) => records.get(e.index)).filter((r): r is ResultRecord => !!r);
  const costs = selected.map((r) => r.cost_usd).filter((c): c is number => typeof c === "number");
  const summary: Summary = summarize(selected, {
    ves: options.ves,
    costUsd: costs.length ? costs.reduce((a, b) => a + b, 0) : null,
    unfinished: examples.length - selected.length,
  });
  const mode = options.mode;
  if (mode.name === "voting" && options.hasModel) {
    summary.voting = votingSummary(
      selected.map((r) => ({
        difficulty: r.difficulty,
        candidates: (r.candidates ?? []).map((c) => ({ ...c, correct: c.correct === true })),
      })),
      mode.n,
    );
  }
  return { selected, summary };
}

/** Write a finished run's closing files: predictions, summary, and `run.json` with its finish time. */
export async function closeRun(
  dir: string,
  info: RunInfo,
  run: { selected: ResultRecord[]; summary: Summary },
) {
  await Promise.all([
    writeJsonAtomic(join(dir, RUN_FILES.predictions), predictionsFile(run.selected)),
    writeJsonAtomic(join(dir, RUN_FILES.summary), run.summary),
  ]);
  // Last: `finished_at` says the files before it are complete.
  await writeJsonAtomic(join(dir, RUN_FILES.info), { ...info, finished_at: new Date().toISOString() });
}

/** Why the endpoint stopped the run, and how far it got. */
export interface StopReport {
  where: string;
  maxFails: number;
  lastError: string;
  done: number;
  total: number;
}

/**
 * A run the endpoint stopped is not finished: no predictions file and no `finished_at`, but a summary that
 * says how far it got; then the one-line {@linkcode EndpointError}.
 */
export async function stopRun(dir: string, summary: Summary, stop: StopReport): Promise<never> {
  await writeJsonAtomic(join(dir, RUN_FILES.summary), summary);
  throw new EndpointError(
    `${stop.where}: ${stop.maxFails} questions in a row failed to generate, stopped (last error: ${stop.lastError}); ` +
      `${stop.done} of ${stop.total} questions are done and kept in ${dir}: ` +
      "rerun the same command to resume",
  );
}

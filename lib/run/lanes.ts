/**
 * The scheduling of a run: questions taken from one queue by parallel lanes, and the consecutive-failure stop
 * that keeps a dying endpoint from reading as a bad model.
 *
 * A generation failure is held back until an answer that arrived after it proves the endpoint alive (then it
 * is that question's own and is recorded); after `maxFails` held in a row nothing more is sent and they are
 * dropped, for the resume to ask again. Times are when the answer or the failure came, not when scoring ended,
 * so a slow SQL execution cannot reorder them; a cached answer proves nothing about the endpoint.
 *
 * @module
 */
import type { Example, ResultRecord } from "../types.ts";

/** How {@linkcode runLanes} schedules and records. */
export interface LaneOptions {
  /** Lanes to run at once (at most one per question). */
  lanes: number;
  /** Held-back failures in a row that stop the run; 0 never stops and holds nothing back. */
  maxFails: number;
  /** Score one question. */
  run: (ex: Example) => Promise<ResultRecord>;
  /** Record one finished question. */
  commit: (rec: ResultRecord) => Promise<void>;
  /** Called once when the run stops: cut short the questions in flight (they are asked again on resume). */
  onStop: () => void;
}

/** How the lanes ended: `stopped` is the last error when the failure stop triggered. */
export interface LanesOutcome {
  stopped: string | null;
}

interface Held {
  rec: ResultRecord;
  at: number;
}

/**
 * Score every question through the lanes, committing each record as the failure stop releases it. Throws the
 * first error a question or a commit threw (after every lane has ended).
 */
export async function runLanes(todo: readonly Example[], options: LaneOptions): Promise<LanesOutcome> {
  const { maxFails, commit } = options;
  const queue = [...todo];
  let failure: unknown = null;
  let streak: Held[] = [];
  let aliveAt = -Infinity;
  let stopped: string | null = null;

  /** A generation failure: recorded when an answer already came after it, held back otherwise. */
  const failed = async (rec: ResultRecord, at: number) => {
    if (stopped !== null) return;
    if (at < aliveAt) return await commit(rec);
    streak.push({ rec, at });
    if (streak.length < maxFails) return;
    stopped = rec.error ?? "unknown error";
    streak = [];
    options.onStop();
  };
  /** An answer: the endpoint was alive at `at`, so the failures held from before are the questions' own. */
  const answered = async (rec: ResultRecord, at: number) => {
    aliveAt = Math.max(aliveAt, at);
    const before = streak.filter((f) => f.at < at);
    streak = streak.filter((f) => f.at >= at);
    for (const f of before) await commit(f.rec);
    await commit(rec);
  };
  const settle = async (rec: ResultRecord, at: number) => {
    if (maxFails === 0 || rec.cached) await commit(rec);
    else if (rec.status === "generation_error") await failed(rec, at);
    else await answered(rec, at);
  };
  const lane = async () => {
    while (queue.length && failure === null && stopped === null) {
      const ex = queue.shift()!;
      try {
        const t0 = performance.now();
        const rec = await options.run(ex);
        await settle(rec, t0 + (rec.timings.generation_ms ?? 0));
      } catch (e) {
        failure = e;
      }
    }
  };

  await Promise.all(Array.from({ length: Math.min(options.lanes, Math.max(1, todo.length)) }, lane));
  if (failure !== null) throw failure;
  // Failures at the very end with no stop: they are the questions' own.
  if (stopped === null) { for (const f of streak) await commit(f.rec); }
  return { stopped };
}

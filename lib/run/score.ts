/**
 * The execute-and-compare stage: a question's SQL and its gold SQL run and compared in one worker (the gold
 * result from its cache when known), the R-VES timing of a correct answer, and, in voting mode, each
 * candidate's verdict for the analysis.
 *
 * @module
 */
import { type ExecErr, type ScoredOk, setDigestOf, timeRatio, vesReward } from "../exec/mod.ts";
import type { Example, ResultRecord, ResultShape, Status } from "../types.ts";
import { finish, type RunContext } from "./context.ts";
import { scoreCandidates } from "./voting.ts";

function shape(r: ScoredOk | ExecErr | null | undefined): ResultShape | null {
  if (!r || !r.ok) return null;
  return { columns: r.columns, rows: r.rowCount, distinct_rows: r.distinctRows, sample: r.sample };
}

/**
 * The gold result's set digest a record's scoring saw (null: the gold query failed), for `judgeCandidates`: kept
 * under the finished record, the one `judgeCandidates` is given (`finish` returns a copy).
 */
const goldSets = new WeakMap<ResultRecord, string | null>();

/** Execute the record's SQL and the question's gold SQL, compare them, and finish the record with its status. */
export async function executeAndCompare(
  rec: ResultRecord,
  ex: Example,
  ctx: RunContext,
): Promise<ResultRecord> {
  const { record, goldSet } = await compareWithGold(rec, ex, ctx);
  if (goldSet !== undefined) goldSets.set(record, goldSet);
  return record;
}

/** {@linkcode executeAndCompare}'s work: the finished record, and the gold set digest when the scoring saw one. */
async function compareWithGold(
  rec: ResultRecord,
  ex: Example,
  ctx: RunContext,
): Promise<{ record: ResultRecord; goldSet?: string | null }> {
  const db = ctx.pool.target(ctx.dbRoot, ex.db_id);
  // As the official script: the prediction first, and the gold query only when the prediction ran (a failed
  // prediction is wrong whatever the gold result). Both run and are compared in one worker, in one round trip; a
  // cached gold result travels as its digest, and is shown even for a failed prediction.
  const cached = await ctx.gold.peek(db, ex.sql) ?? await ctx.gold.running(db, ex.sql);
  const release = cached ? null : ctx.gold.start(db, ex.sql);
  // Voting: the answer was digested as a candidate, and its worker kept the digest: compared, not run again.
  const out = await ctx.pool.score(db, rec.sql!, {
    gold: cached && !cached.ok ? null : cached ?? ex.sql,
    reuse: ctx.mode.name === "voting",
  });
  release?.(out.goldExecuted ? out.gold : null);
  const goldSet = out.goldSet !== null ? out.goldSet : out.gold && !out.gold.ok ? null : undefined;
  const done = (status: Status, error: string | null) => ({ record: finish(rec, status, error), goldSet });
  const pred = out.pred;
  const goldRes = cached ?? out.gold;
  if (cached && pred.ok) ctx.gold.hits++;
  if (out.goldExecuted && out.gold) ctx.gold.record(db, ex.sql, out.gold);
  rec.pred = shape(pred);
  rec.timings.pred_ms = Math.round(pred.ms * 100) / 100;
  rec.gold = shape(goldRes);
  rec.timings.gold_ms = goldRes?.ok ? Math.round(goldRes.execMs * 100) / 100 : null;
  if (!pred.ok) return done(pred.kind === "timeout" ? "timeout" : "pred_error", pred.error);
  if (!goldRes) throw new Error("unreachable: a prediction that ran always gets its gold result");
  if (!goldRes.ok) return done("gold_error", `gold SQL failed: ${goldRes.error}`);
  rec.soft_f1 = out.softF1;
  if (!out.match) return done("wrong", null);
  if (ctx.ves) rec.ves_reward = await timeVes(ctx, db, { pred: rec.sql!, gold: ex.sql }, ctx.ves);
  return done("correct", null);
}

/**
 * R-VES reward: time pred and gold `reps` times each (never from cache) and reward the mean ratio. Each run goes
 * through `score` with no gold, so only its shape comes back: the timing is SQLite's own, and the rows of a
 * large result are not shipped to this process `reps` times over.
 */
async function timeVes(
  ctx: RunContext,
  db: string,
  sql: { pred: string; gold: string },
  reps: number,
): Promise<number> {
  const predMs: number[] = [];
  const goldMs: number[] = [];
  for (let i = 0; i < reps; i++) {
    const p = (await ctx.pool.score(db, sql.pred, { gold: null })).pred;
    const g = (await ctx.pool.score(db, sql.gold, { gold: null })).pred;
    if (!p.ok || !g.ok) return 0;
    predMs.push(p.execMs);
    goldMs.push(g.execMs);
  }
  return vesReward(timeRatio(goldMs, predMs));
}

/**
 * Voting mode: each candidate's verdict against gold, for the analysis figures only (the vote and the answer
 * are already fixed, and scored).
 */
export async function judgeCandidates(
  rec: ResultRecord,
  ex: Example,
  ctx: RunContext,
): Promise<ResultRecord> {
  if (!rec.candidates) return rec;
  // When every candidate failed nothing can be correct, and gold is not needed.
  const goldSet = rec.candidates.some((c) => c.digest !== null) ? await goldSetOf(rec, ex, ctx) : null;
  rec.candidates = scoreCandidates(rec.candidates, goldSet);
  return rec;
}

/**
 * The gold result's set digest (null when the gold query failed): the one the answer's scoring compared against,
 * else derived from the gold cache's digest, else the gold query digested in the engine (its rows stay there).
 */
async function goldSetOf(rec: ResultRecord, ex: Example, ctx: RunContext): Promise<string | null> {
  if (goldSets.has(rec)) return goldSets.get(rec)!;
  const db = ctx.pool.target(ctx.dbRoot, ex.db_id);
  const cached = await ctx.gold.peek(db, ex.sql);
  if (cached && !cached.ok) return null;
  if (cached?.digest) {
    try {
      return setDigestOf(cached.digest);
    } catch {
      // A malformed cached digest: digest the gold query instead.
    }
  }
  const gold = await ctx.pool.digest(db, ex.sql);
  return gold.ok ? gold.set : null;
}

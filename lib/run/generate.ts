/**
 * The generate and extract stages: where a question's SQL comes from. A model run asks through its mode's
 * strategy (single answer, self-consistency vote, agent tool loop), all behind one {@linkcode Generator}
 * signature; a predictions run looks the SQL up in the file.
 *
 * @module
 */
import { extractSql, sampleCompletions } from "../model/mod.ts";
import { promptHash } from "../prompt/mod.ts";
import type { ChatMessage, Example, ResultRecord, RunMode } from "../types.ts";
import { poolExecutor, runAgent } from "./agent.ts";
import { finish, type RunContext } from "./context.ts";
import { agentRecord, voteOnCompletions } from "./modes.ts";
import { outcomeOf } from "./voting.ts";

/**
 * A mode's strategy: ask the model for one question and fill in the record's completion, SQL, tokens, cost and
 * (where it knows better than the wall clock) generation time. Throws `GenerationError` after all retries.
 */
export type Generator = (rec: ResultRecord, messages: ChatMessage[], ctx: RunContext) => Promise<void>;

/** Cost of this run's requests: an answer served from the cache cost nothing this time. */
function costOf(
  ctx: RunContext,
  usage: { prompt: number; completion: number },
  cached: boolean,
): number | null {
  const cost = ctx.client!.costUsd(usage);
  return cost === null ? null : cached ? 0 : cost;
}

/** Single answer: one completion, its SQL extracted. */
const generateSingle: Generator = async (rec, messages, ctx) => {
  const c = await ctx.client!.complete(messages);
  rec.completion = c.texts[0] ?? "";
  rec.tokens = { prompt: c.usage.prompt, completion: c.usage.completion };
  rec.cached = c.cached;
  rec.cost_usd = costOf(ctx, c.usage, c.cached);
  rec.sql = extractSql(rec.completion);
};

/**
 * Self-consistency: K samples, each distinct SQL executed once and digested inside the engine (no candidate row
 * reaches this process), the vote over their set digests (gold is not among its inputs); the answer is what gets
 * scored, from the digest its worker kept (not executed again). Candidates are judged after scoring
 * (`score.ts`, `judgeCandidates`).
 */
const generateVoting: Generator = async (rec, messages, ctx) => {
  const k = (ctx.mode as { n: number }).n;
  const set = await sampleCompletions(messages, k, ctx.client!, {
    cache: ctx.client!.cache,
    state: ctx.sampling,
  });
  rec.timings.generation_ms = Math.round(set.ms);
  const db = ctx.pool.target(ctx.dbRoot, rec.db_id);
  const voted = await voteOnCompletions(
    set.texts,
    async (sql) => outcomeOf(await ctx.pool.digest(db, sql, { keep: true })),
  );
  rec.completion = voted.completion;
  rec.sql = voted.sql;
  rec.tokens = { prompt: set.usage.prompt, completion: set.usage.completion };
  rec.cached = set.cached;
  rec.cost_usd = costOf(ctx, set.usage, set.cached);
  Object.assign(rec, voted.fields);
};

/** Agent: the tool loop on the question's database (the sandboxed pool); its answer is what gets scored. */
const generateAgent: Generator = async (rec, messages, ctx) => {
  const mode = ctx.mode as { max_turns: number; tool_rows: number };
  const db = ctx.pool.target(ctx.dbRoot, rec.db_id);
  const run = await runAgent(messages, {
    chat: ctx.chat!,
    execute: poolExecutor(ctx.pool, db, { rows: mode.tool_rows }),
    scrub: ctx.client ? (text) => ctx.client!.scrub(text) : undefined,
  }, {
    maxTurns: mode.max_turns,
    toolRows: mode.tool_rows,
    where: ctx.where,
    questionTimeoutS: ctx.questionTimeoutS ?? null,
    dialect: ctx.pool.dialect,
  });
  const r = agentRecord(run);
  rec.completion = r.completion;
  rec.sql = r.sql;
  rec.tokens = r.tokens;
  rec.cached = r.cached;
  rec.cost_usd = costOf(ctx, r.tokens, r.cached);
  rec.timings.generation_ms = r.generation_ms;
  Object.assign(rec, r.fields);
};

/** Each mode's strategy at the generate stage. */
export const GENERATORS: Readonly<Record<RunMode["name"], Generator>> = {
  single: generateSingle,
  voting: generateVoting,
  agent: generateAgent,
};

/**
 * Ask the model through the run's mode. Returns the finished record when generation failed after all retries
 * (`generation_error`), null when the record now holds SQL to execute.
 */
export async function generate(
  rec: ResultRecord,
  ex: Example,
  ctx: RunContext,
): Promise<ResultRecord | null> {
  const messages = ctx.prompts!.get(ex.index)!;
  rec.prompt_hash = promptHash(messages);
  const t0 = performance.now();
  try {
    await GENERATORS[ctx.mode.name](rec, messages, ctx);
    rec.timings.generation_ms ??= Math.round(performance.now() - t0);
    return null;
  } catch (e) {
    // A failure after all retries (the model room's GenerationError); anything else is a bug and propagates.
    if ((e as Error).name !== "GenerationError") throw e;
    rec.timings.generation_ms = Math.round(performance.now() - t0);
    return finish(rec, "generation_error", (e as Error).message);
  }
}

/**
 * Take the question's SQL from the predictions file. Returns the finished record when there is none to run
 * (`pred_error`), null when the record now holds SQL to execute.
 */
export function usePrediction(rec: ResultRecord, ex: Example, ctx: RunContext): ResultRecord | null {
  const p = ctx.preds?.get(ex.index);
  if (!p) return finish(rec, "pred_error", "no prediction");
  if ("error" in p) return finish(rec, "pred_error", p.error);
  rec.sql = p.sql;
  // The official script runs a prediction on the database it names; a different one than the question's means
  // the predictions belong to another dataset or order, which must not pass silently.
  if (p.db !== null && p.db !== ex.db_id) {
    return finish(rec, "pred_error", `prediction names database ${p.db}, the question is on ${ex.db_id}`);
  }
  return null;
}

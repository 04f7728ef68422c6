/**
 * One question from dataset to record, its stages in order: its SQL generated and extracted (or looked up in
 * the predictions file), executed and compared with gold, and in voting mode its candidates judged. The
 * prompt was built before (`prompt_stage.ts`); recording is the run's (`record.ts`).
 *
 * @module
 */
import type { Example, ResultRecord } from "../types.ts";
import { newRecord, type RunContext } from "./context.ts";
import { generate, usePrediction } from "./generate.ts";
import { executeAndCompare, judgeCandidates } from "./score.ts";

/** Score one question: its finished record (a failed stage finishes it early with that stage's status). */
export async function runQuestion(ex: Example, ctx: RunContext): Promise<ResultRecord> {
  const rec = newRecord(ex, ctx);
  const stopped = ctx.client ? await generate(rec, ex, ctx) : usePrediction(rec, ex, ctx);
  const scored = stopped ?? await executeAndCompare(rec, ex, ctx);
  return await judgeCandidates(scored, ex, ctx);
}

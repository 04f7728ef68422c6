/**
 * What the stages of one question share: the run's context (pool, gold cache, model, mode) and the record each
 * stage fills in, from its blank form to its finished status.
 *
 * @module
 */
import type { Predictions } from "../data/mod.ts";
import type { GoldCache, SqlEngine } from "../exec/mod.ts";
import type { ModelClient, SamplingState, ToolChat } from "../model/mod.ts";
import type { PromptOptions } from "../prompt/mod.ts";
import type { ChatMessage, Example, ResultRecord, RunMode, Status } from "../types.ts";

/** Everything a question's stages read; built once per run. */
export interface RunContext {
  dbRoot: string;
  /** The messages of each question to ask, by dataset index (model runs only). */
  prompts: Map<number, ChatMessage[]> | null;
  pool: SqlEngine;
  gold: GoldCache;
  client: ModelClient | null;
  preds: Predictions | null;
  promptOptions: PromptOptions;
  /** Each selected database's schema as the prompt shows it, by db_id (model runs only). */
  schemas: Map<string, string>;
  /** Each question's own schema by dataset index (`--values`, `--link`), else undefined. */
  questionSchemas?: Map<number, string>;
  ves: number | null;
  mode: RunMode;
  /** Agent mode: the tool chat over the client (cached per turn). */
  chat: ToolChat | null;
  /** Voting: whether the endpoint honours `n`, learnt once for the run. */
  sampling: SamplingState;
  /** The endpoint as it may be shown. */
  where: string;
  /** Agent mode: wall-clock seconds per question, all turns and tool calls together (null: no budget). */
  questionTimeoutS?: number | null;
}

/** The record of a question before any stage ran: wrong until proven correct. */
export function newRecord(ex: Example, ctx: RunContext): ResultRecord {
  return {
    index: ex.index,
    question_id: ex.question_id,
    db_id: ex.db_id,
    difficulty: ex.difficulty,
    question: ex.question,
    evidence: ex.evidence,
    prompt_hash: null,
    completion: null,
    sql: null,
    gold_sql: ex.sql,
    status: "wrong",
    error: null,
    pred: null,
    gold: null,
    soft_f1: 0,
    ves_reward: ctx.ves ? 0 : null,
    timings: { generation_ms: null, pred_ms: null, gold_ms: null },
    tokens: null,
  };
}

/** The record as a stage leaves it: a copy with its final status and error. */
export function finish(rec: ResultRecord, status: Status, error: string | null): ResultRecord {
  return { ...rec, status, error };
}

/** What {@linkcode createContext} takes besides the selection and the model. */
export interface ContextParts {
  pool: SqlEngine;
  gold: GoldCache;
  promptOptions: PromptOptions;
  mode: RunMode;
  ves: number | null;
  /** Agent mode: wall-clock seconds per question (null: no budget). */
  questionTimeoutS?: number | null;
}

/** The run's context; its prompts are filled in by the prompt stage (model runs). */
export function createContext(
  selection: { dataset: { dbRoot: string }; predsFile: { entries: Predictions } | null },
  model: { client: ModelClient; publicUrl: string; chat: ToolChat | null } | null,
  parts: ContextParts,
): RunContext {
  return {
    ...parts,
    dbRoot: selection.dataset.dbRoot,
    prompts: null,
    schemas: new Map(),
    client: model?.client ?? null,
    preds: selection.predsFile?.entries ?? null,
    chat: model?.chat ?? null,
    sampling: { honoursN: null },
    where: model?.publicUrl ?? "the endpoint",
  };
}

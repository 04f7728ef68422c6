/**
 * `deno task cot`: an execution-verified chain-of-thought dataset. A teacher model is asked for step-by-step
 * reasoning toward each question's KNOWN gold SQL (the original tool's teacher prompt, fixed to use the
 * evaluation prompt renderer); the SQL at the end of the reasoning is extracted exactly as evaluation would
 * extract it from a student's answer, executed, and the example is KEPT only when its result equals the gold
 * result under BIRD's set semantics (the original demanded string equality, discarding correct reasoning that
 * writes the SQL differently).
 *
 * Output: `train.jsonl` / `test.jsonl` (same split as `sft`), each line `{"messages":[system, user, assistant]}`
 * with the reasoning system prompt of evaluation's `--reasoning` variant, the evaluation user prompt, and the
 * reasoning ending in a fenced ```sql block; `dataset.json` with counts, kept/rejected with reasons, options and
 * token statistics; `progress.jsonl`, one line per finished question, which makes a rerun with the same `--out`
 * skip finished questions (generation errors are retried).
 *
 * The answer's shape is `cot_answer.ts`, the progress log `cot_progress.ts`, the flags `lib/cli/cot.ts`.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { exMatch } from "../exec/mod.ts";
import type { SqlEngine } from "../exec/mod.ts";
import {
  GenerationError,
  ModelClient,
  type ModelClientOptions,
  type Provider,
  publicBaseUrl,
} from "../model/mod.ts";
import { buildTeacherMessages, teacherTemplateHash } from "../prompt/mod.ts";
import { createProgress, writeJsonAtomic } from "../util/mod.ts";
import type { ChatMessage, Example } from "../types.ts";
import {
  type BuildResult,
  closeBuildEngine,
  type CommonDatasetOptions,
  countReasons,
  datasetHeader,
  prepareBuild,
  type PreparedBuild,
  promptDoc,
  summarise,
  verifyGold,
  writeSplits,
} from "./dataset_build.ts";
import { type Conversation, conversationOf } from "./conversation.ts";
import { splitDoc } from "./sft_split.ts";
import { type RejectReason, teacherAnswer } from "./cot_answer.ts";
import {
  compactProgress,
  openProgressLog,
  type ProgressRecord,
  readProgress,
  requestKey,
} from "./cot_progress.ts";

/** Options of {@link buildCotDataset}. */
export interface CotOptions extends CommonDatasetOptions {
  /** Teacher model name. */
  model: string;
  /** Provider (`openai-compatible` implied by `baseUrl`). */
  provider?: Provider;
  /** OpenAI-compatible base URL. */
  baseUrl?: string;
  /** Requests in flight (default 8). */
  concurrency?: number;
  /** Seconds per API call (default: the client's). */
  requestTimeoutS?: number;
  /** Retries after the first attempt (default: the client's). */
  maxRetries?: number;
  /** Teacher temperature (default 0). */
  temperature?: number;
  /** Teacher `max_tokens` (default: the server's). */
  maxTokens?: number | null;
  /** Use the completion cache (default true). */
  cache?: boolean;
  /** Cache folder (default: the client's). */
  cacheDir?: string;
  /** Client knobs for tests (backoff, env, fetch). */
  clientOptions?: ModelClientOptions;
}

/** What {@link buildCotDataset} returns: the SFT result plus the rejected teacher answers. */
export interface CotResult extends BuildResult {
  /** Questions whose teacher answer was not kept, with the reason, sorted by index. */
  rejected: Omit<ProgressRecord, "key" | "answer" | "completion">[];
  /** API requests made by this run (0 when everything came from the cache or progress). */
  requests: number;
}

/**
 * Build the CoT dataset (see the module doc).
 *
 * @param options dataset, output folder, teacher model and client options, selection, prompt and split
 * @returns folder, statistics, dropped and rejected questions, per-conversation lengths
 * @throws {DatasetError} malformed dataset or missing databases; {@link StartupError} for a wrong model/key/URL
 */
export async function buildCotDataset(options: CotOptions): Promise<CotResult> {
  const build = await prepareBuild(options, { reasoning: true });
  const { engine } = build;
  let asked: { client: ModelClient; records: Map<number, ProgressRecord> };
  const dir = resolve(options.out);
  try {
    await Deno.mkdir(dir, { recursive: true });
    const gold = build.selected.examples.length > 0
      ? await verifyGold(build.selected, engine, { quiet: options.quiet, silent: options.silent })
      : new Map();
    const client = await openTeacher(options);
    const records = await askTeacher(build, {
      client,
      engine,
      gold,
      options,
      progressPath: join(dir, "progress.jsonl"),
    });
    asked = { client, records };
  } finally {
    await closeBuildEngine(engine, options);
  }
  const { conversations, rejected } = keptAndRejected(build, asked.records);
  const files = await writeSplits(dir, conversations, build.split.seed);
  const result = summarise(build.selected, conversations);
  const doc = {
    ...datasetHeader("cot", build.selected, options.dialect),
    teacher: { ...teacherIdentity(asked.client), template_hash: teacherTemplateHash(build.prompt) },
    prompt: promptDoc(build.prompt),
    assistant:
      "teacher reasoning ending in a ```sql block, kept when its SQL's result equals the gold result",
    evaluator: "bird-ex-set",
    split: splitDoc(build.split),
    counts: { ...result.stats.counts, rejected: rejected.length },
    rejected_by_reason: Object.fromEntries([...countReasons(rejected)].sort()),
    tokens: result.stats.tokens,
    files,
    dropped: result.dropped,
    rejected,
  };
  await writeJsonAtomic(join(dir, "dataset.json"), doc);
  return { dir, ...result, rejected, requests: asked.client.totals.requests };
}

/** The teacher's client (greedy by default, one completion per request). @throws {StartupError} */
function openTeacher(options: CotOptions): Promise<ModelClient> {
  return ModelClient.create({
    provider: options.provider,
    baseUrl: options.baseUrl,
    model: options.model,
    temperature: options.temperature ?? 0,
    maxTokens: options.maxTokens ?? null,
    n: 1,
    concurrency: options.concurrency ?? 8,
    requestTimeoutS: options.requestTimeoutS,
    maxRetries: options.maxRetries,
    cache: options.cache ?? true,
    cacheDir: options.cacheDir,
  }, options.clientOptions);
}

/** Who the teacher is, as recorded in dataset.json (the base URL without credentials). */
function teacherIdentity(client: ModelClient): Record<string, unknown> {
  return {
    model: client.model,
    provider: client.provider.provider,
    base_url: publicBaseUrl(client.provider.baseUrl),
    model_identity: client.identityLabel,
    sampling: client.sampling,
  };
}

/** What asking the teacher needs besides the prepared build. */
interface AskContext {
  client: ModelClient;
  engine: SqlEngine;
  gold: Map<number, { rows: string[][] }>;
  options: CotOptions;
  progressPath: string;
}

/** One question still to ask: its teacher messages and request key. */
interface Todo {
  e: Example;
  key: string;
  teacher: ChatMessage[];
}

/**
 * The record of every selected question: from `progress.jsonl` when a previous run finished it (generation
 * errors are asked again), else by asking the teacher and judging the answer; the log is compacted at the end.
 */
async function askTeacher(build: PreparedBuild, ctx: AskContext): Promise<Map<number, ProgressRecord>> {
  const previous = await readProgress(ctx.progressPath);
  const modelId = {
    model: ctx.client.model,
    provider: ctx.client.provider.provider,
    base_url: publicBaseUrl(ctx.client.provider.baseUrl),
    sampling: ctx.client.sampling,
  };
  const records = new Map<number, ProgressRecord>();
  const todo: Todo[] = [];
  for (const e of build.selected.examples) {
    const teacher = buildTeacherMessages(e, build.schemaOf(e), build.prompt);
    const key = requestKey(teacher, modelId);
    const done = previous.get(key);
    if (done && done.reason !== "generation_error") records.set(e.index, { ...done, index: e.index });
    else todo.push({ e, key, teacher });
  }
  await judgeAll(todo, records, build.selected.dataset.dbRoot, ctx);
  await compactProgress(ctx.progressPath, previous, records.values());
  return records;
}

/** Asks and judges `todo` concurrently, each record appended to the log as it finishes. */
async function judgeAll(
  todo: readonly Todo[],
  records: Map<number, ProgressRecord>,
  dbRoot: string,
  ctx: AskContext,
): Promise<void> {
  const progress = createProgress(todo.length, {
    label: "teacher",
    quiet: ctx.options.quiet,
    silent: ctx.options.silent,
  });
  const log = await openProgressLog(ctx.progressPath);
  let settled: PromiseSettledResult<void>[];
  try {
    // allSettled, not all: an unexpected failure must not close the log while other questions still append.
    settled = await Promise.allSettled(todo.map(async ({ e, key, teacher }) => {
      const rec = await judge({ e, key, teacher }, { ...ctx, gold: ctx.gold.get(e.index)!, dbRoot });
      records.set(e.index, rec);
      await log.append(rec);
      progress.tick({ error: rec.status !== "kept" });
    }));
  } finally {
    await log.close();
    progress.done();
  }
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}

/** The kept questions as conversations and the rejected ones (sorted by index), from their records. */
function keptAndRejected(
  build: PreparedBuild,
  records: Map<number, ProgressRecord>,
): { conversations: Conversation[]; rejected: CotResult["rejected"] } {
  const conversations: Conversation[] = [];
  const rejected: CotResult["rejected"] = [];
  for (const e of build.selected.examples) {
    const r = records.get(e.index)!;
    if (r.status === "kept") {
      conversations.push(
        conversationOf(e, build.schemaOf(e), build.prompt, build.split, r.answer!),
      );
    } else {
      const { key: _k, answer: _a, completion: _c, ...rest } = r;
      rejected.push(rest);
    }
  }
  rejected.sort((a, b) => a.index - b.index);
  return { conversations, rejected };
}

/** Ask the teacher, extract, execute and compare one question. Never throws for a question's own failure. */
async function judge(
  todo: Todo,
  ctx: { client: ModelClient; engine: SqlEngine; gold: { rows: string[][] }; dbRoot: string },
): Promise<ProgressRecord> {
  const { e, key, teacher } = todo;
  const { client, engine, gold } = ctx;
  const base = { key, index: e.index, question_id: e.question_id, db_id: e.db_id, question: e.question };
  const reject = (
    reason: RejectReason,
    error: string | null,
    completion: string | null,
    sql: string | null,
  ) => ({
    ...base,
    status: "rejected" as const,
    reason,
    error,
    completion,
    sql,
    answer: null,
  });
  let completion: string;
  try {
    completion = (await client.complete(teacher)).texts[0] ?? "";
  } catch (err) {
    if (err instanceof GenerationError) return reject("generation_error", err.reason, null, null);
    throw err;
  }
  const answer = teacherAnswer(completion);
  if (!answer.ok) return reject(answer.reason, answer.error, completion, null);
  const r = await engine.execute(engine.target(ctx.dbRoot, e.db_id), answer.sql);
  if (!r.ok) return reject("sql_error", `${r.kind}: ${r.error}`, completion, answer.sql);
  // An empty (or all-NULL) gold result cannot tell right SQL from wrong: `WHERE 0` would match it. Keep such an
  // example only when the teacher's SQL is the gold SQL itself, up to spacing, case and a trailing semicolon.
  // ("z" is every engine's cell key of NULL: result_digest.ts's cellKey.)
  if (
    gold.rows.every((row) => row.every((cell) => cell === "z")) &&
    normaliseSql(answer.sql) !== normaliseSql(e.sql)
  ) {
    return reject(
      "unverifiable",
      "the gold result is empty, so execution cannot verify a different SQL",
      completion,
      answer.sql,
    );
  }
  if (!exMatch(r, gold)) {
    return reject(
      "different_result",
      `${r.rows.length} distinct row(s), gold has ${gold.rows.length}`,
      completion,
      answer.sql,
    );
  }
  return {
    ...base,
    status: "kept",
    reason: null,
    error: null,
    completion,
    sql: answer.sql,
    answer: answer.answer,
  };
}

/** SQL compared loosely: whitespace runs, letter case and trailing semicolons do not matter. */
function normaliseSql(sql: string): string {
  return sql.replace(/;\s*$/, "").replace(/\s+/g, " ").trim().toLowerCase();
}

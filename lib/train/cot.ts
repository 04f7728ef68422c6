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
 * @module
 */

import { join, resolve } from "node:path";
import { exMatch } from "../exec/mod.ts";
import { dbPath } from "../data/mod.ts";
import {
  GenerationError,
  ModelClient,
  type ModelClientOptions,
  type Provider,
  publicBaseUrl,
} from "../model/mod.ts";
import { createProgress } from "../util/mod.ts";
import { buildTeacherMessages, promptHash, teacherTemplateHash } from "../prompt/mod.ts";
import {
  type BuildResult,
  type CommonDatasetOptions,
  countReasons,
  datasetHeader,
  openPool,
  prepareBuild,
  promptDoc,
  summarise,
  verifyGold,
  writeSplits,
} from "./dataset_build.ts";
import { type Conversation, conversationOf } from "./conversation.ts";
import { splitDoc } from "./sft_split.ts";
import { writeJsonAtomic, writeTextAtomic } from "../util/mod.ts";
import { canonicalJson, sha256Hex } from "../util/mod.ts";
import {
  chooseBlock,
  cleanSql,
  extractSql,
  findFences,
  looksLikeQuery,
  normaliseCompletion,
} from "../model/mod.ts";
import type { SqlitePool } from "../exec/mod.ts";
import type { ChatMessage, Example } from "../types.ts";

/** Why a teacher answer was not kept. */
export type RejectReason =
  | "generation_error"
  | "no_sql"
  | "no_reasoning"
  | "mentions_gold"
  | "sql_error"
  | "different_result"
  | "unverifiable";

/** The assistant turn made from a teacher answer, or why none can be. */
export type TeacherAnswer =
  | { ok: true; sql: string; answer: string }
  | { ok: false; reason: "no_sql" | "no_reasoning" | "mentions_gold"; error: string };

/** Reasoning shorter than this (characters before the final fence) is not reasoning. */
const MIN_REASONING_CHARS = 20;

/** Phrases by which a teacher's reasoning gives away that it was handed the answer. */
const GOLD_MENTION =
  /\bgold(en)?[\s-]+(sql|query|answer|statement|solution)\b|\b(given|provided|reference)\s+(sql|query)\b/i;

/**
 * Turn a teacher's completion into the assistant turn: `<think>` blocks and chat tokens removed, the reasoning
 * up to the final SQL block, then that SQL in a canonical ```sql fence (trailing prose after it dropped, so
 * every answer ENDS with the SQL). The block is the one `extractSql` picks, and the result is checked to extract
 * back to the same SQL, so what the student learns to write is what evaluation will read.
 *
 * @param completion the teacher's raw answer
 * @returns the SQL and the assistant text, or the reject reason
 */
export function teacherAnswer(completion: string): TeacherAnswer {
  const text = normaliseCompletion(completion);
  const block = chooseBlock(text, findFences(text));
  if (!block || !looksLikeQuery(block.content)) {
    return { ok: false, reason: "no_sql", error: "no fenced SQL query in the answer" };
  }
  const sql = cleanSql(block.content);
  const reasoning = text.slice(0, block.start).trimEnd();
  if (reasoning.replace(/\s+/g, " ").length < MIN_REASONING_CHARS) {
    return { ok: false, reason: "no_reasoning", error: "no reasoning before the SQL" };
  }
  // The student never sees the gold SQL: reasoning that cites it would teach it to refer to something absent.
  if (GOLD_MENTION.test(reasoning)) {
    return { ok: false, reason: "mentions_gold", error: "the reasoning refers to the gold SQL it was given" };
  }
  const answer = reasoning + "\n```sql\n" + sql + "\n```";
  if (extractSql(answer) !== sql) {
    return { ok: false, reason: "no_sql", error: "the final SQL is not the one extraction would pick" };
  }
  return { ok: true, sql, answer };
}

/** One line of `progress.jsonl`: a finished (or failed) question. */
export interface ProgressRecord {
  /** Identity of the request: teacher messages + model + sampling (see `requestKey`). */
  key: string;
  index: number;
  question_id: number | null;
  db_id: string;
  question: string;
  status: "kept" | "rejected";
  reason: RejectReason | null;
  error: string | null;
  /** The teacher's raw answer (null on a generation error). */
  completion: string | null;
  /** The extracted SQL, or null. */
  sql: string | null;
  /** The assistant turn when kept. */
  answer: string | null;
}

/**
 * The resume key of one question: the teacher messages and everything that changes the teacher's answer.
 *
 * @param teacher the teacher messages
 * @param model model, provider, base URL and sampling
 * @returns sha256 hex
 */
function requestKey(teacher: readonly ChatMessage[], model: Record<string, unknown>): string {
  return sha256Hex(canonicalJson({ prompt: promptHash(teacher), model }));
}

/**
 * Read `progress.jsonl`: the last record per key. A torn last line (a killed run) and foreign lines are skipped.
 *
 * @param path the file
 * @returns key → record
 */
export async function readProgress(path: string): Promise<Map<string, ProgressRecord>> {
  const out = new Map<string, ProgressRecord>();
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return out;
    throw e;
  }
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as ProgressRecord;
      if (typeof r.key === "string" && typeof r.index === "number") out.set(r.key, r);
    } catch {
      // A torn line from a killed run: that question is simply redone.
    }
  }
  return out;
}

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
  const { prompt, split, selected, schemas } = await prepareBuild(options, true);
  const dir = resolve(options.out);
  await Deno.mkdir(dir, { recursive: true });
  const progressPath = join(dir, "progress.jsonl");
  const pool = openPool(options);
  let records: Map<number, ProgressRecord>;
  let client: ModelClient | null = null;
  try {
    const gold = selected.examples.length > 0
      ? await verifyGold(selected, pool, { quiet: options.quiet, silent: options.silent })
      : new Map();
    client = await ModelClient.create({
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
    const modelId = {
      model: client.model,
      provider: client.provider.provider,
      base_url: publicBaseUrl(client.provider.baseUrl),
      sampling: client.sampling,
    };
    const previous = await readProgress(progressPath);
    records = new Map();
    const todo: { e: Example; key: string; teacher: ChatMessage[] }[] = [];
    for (const e of selected.examples) {
      const teacher = buildTeacherMessages(e, schemas.get(e.db_id)!, prompt);
      const key = requestKey(teacher, modelId);
      const done = previous.get(key);
      if (done && done.reason !== "generation_error") records.set(e.index, { ...done, index: e.index });
      else todo.push({ e, key, teacher });
    }
    const progress = createProgress(todo.length, {
      label: "teacher",
      quiet: options.quiet,
      silent: options.silent,
    });
    const log = await Deno.open(progressPath, { append: true, create: true });
    const encoder = new TextEncoder();
    // Lines are appended as each question finishes (a kill loses at most the line in flight), one at a time so
    // concurrent finishes never interleave bytes.
    let writes: Promise<void> = Promise.resolve();
    const append = (line: string) => {
      writes = writes.then(async () => {
        const bytes = encoder.encode(line);
        for (let off = 0; off < bytes.length;) off += await log.write(bytes.subarray(off));
      });
      return writes;
    };
    let settled: PromiseSettledResult<void>[];
    try {
      // allSettled, not all: an unexpected failure must not close the log while other questions still append.
      settled = await Promise.allSettled(todo.map(async ({ e, key, teacher }) => {
        const rec = await judge(e, key, teacher, client!, pool, gold.get(e.index)!, selected.dataset.dbRoot);
        records.set(e.index, rec);
        await append(JSON.stringify(rec) + "\n");
        progress.tick({ error: rec.status !== "kept" });
      }));
    } finally {
      await writes.catch(() => {});
      log.close();
      progress.done();
    }
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    // Compact the log: one record per question, in index order, so a finished run's folder is deterministic.
    const all = new Map(previous);
    for (const r of records.values()) all.set(r.key, r);
    const compact = [...all.values()].sort((a, b) => a.index - b.index || (a.key < b.key ? -1 : 1));
    await writeTextAtomic(progressPath, compact.map((r) => JSON.stringify(r) + "\n").join(""));
  } finally {
    await pool.close();
  }

  const conversations: Conversation[] = [];
  const rejected: CotResult["rejected"] = [];
  for (const e of selected.examples) {
    const r = records.get(e.index)!;
    if (r.status === "kept") {
      conversations.push(conversationOf(e, schemas.get(e.db_id)!, prompt, split, r.answer!));
    } else {
      const { key: _k, answer: _a, completion: _c, ...rest } = r;
      rejected.push(rest);
    }
  }
  rejected.sort((a, b) => a.index - b.index);
  const files = await writeSplits(dir, conversations, split.seed);
  const result = summarise(selected, conversations);
  const doc = {
    ...datasetHeader("cot", selected),
    teacher: {
      model: client!.model,
      provider: client!.provider.provider,
      base_url: publicBaseUrl(client!.provider.baseUrl),
      model_identity: client!.identityLabel,
      sampling: client!.sampling,
      template_hash: teacherTemplateHash(prompt),
    },
    prompt: promptDoc(prompt),
    assistant:
      "teacher reasoning ending in a ```sql block, kept when its SQL's result equals the gold result",
    evaluator: "bird-ex-set",
    split: splitDoc(split),
    counts: { ...result.stats.counts, rejected: rejected.length },
    rejected_by_reason: Object.fromEntries([...countReasons(rejected)].sort()),
    tokens: result.stats.tokens,
    files,
    dropped: result.dropped,
    rejected,
  };
  await writeJsonAtomic(join(dir, "dataset.json"), doc);
  return { dir, ...result, rejected, requests: client!.totals.requests };
}

/** Ask the teacher, extract, execute and compare one question. Never throws for a question's own failure. */
async function judge(
  e: Example,
  key: string,
  teacher: ChatMessage[],
  client: ModelClient,
  pool: SqlitePool,
  gold: { rows: string[][] },
  dbRoot: string,
): Promise<ProgressRecord> {
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
  const r = await pool.execute(dbPath(dbRoot, e.db_id), answer.sql);
  if (!r.ok) return reject("sql_error", `${r.kind}: ${r.error}`, completion, answer.sql);
  // An empty (or all-NULL) gold result cannot tell right SQL from wrong: `WHERE 0` would match it. Keep such an
  // example only when the teacher's SQL is the gold SQL itself, up to spacing, case and a trailing semicolon.
  // ("z" is the SQLite worker's cell key of NULL.)
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

/**
 * `deno task sft`: a supervised fine-tuning dataset in the chat "messages" JSONL format that TRL/transformers
 * read, one conversation per question: system prompt, the user prompt from the SAME renderer evaluation uses
 * (same options), and the gold SQL as the assistant turn.
 *
 * Output folder: `train.jsonl`, `test.jsonl` and `dataset.json` (counts, options, prompt template hash, token
 * statistics, dropped questions with their reason). Byte-identical for identical input: no timestamps, lines in
 * a fixed order that depends only on each example's content (so reordering the input changes nothing), and a
 * split decided per example by a hash of (seed, db_id, question) — or (seed, db_id) with `--group-by-db` — so
 * adding or reordering questions never moves another.
 *
 * The helpers for the split, selection and writing are shared with `cot.ts`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { isAbsolute, join, relative, resolve } from "node:path";
import {
  type Dataset,
  DatasetError,
  dbPath,
  loadDataset,
  missingDatabases,
  selectExamples,
} from "../data/mod.ts";
import {
  buildMessages,
  PROMPT_VERSION,
  type PromptOptions,
  resolvePromptOptions,
  schemaOptionsOf,
  systemPromptFor,
  templateHash,
} from "../prompt/mod.ts";
import { renderSchema, SchemaError } from "../prompt/mod.ts";
import { SqlitePool } from "../exec/mod.ts";
import { joinNegativeNumbers, numberFlag, UsageError } from "../util/mod.ts";
import { writeJsonAtomic, writeTextAtomic } from "../util/mod.ts";
import { canonicalJson, sha256Hex } from "../util/mod.ts";
import { createProgress } from "../util/mod.ts";
import { chatTokens, type LengthStats, lengthStats, messageTokens, TOKENIZER } from "./llama_tokens.ts";
import type { ChatMessage, Example } from "../types.ts";

/** Conversations longer than this many tokens are counted in dataset.json: the trainer's default max length. */
export const MAX_TRAIN_TOKENS = 4096;

/** How examples are split between train and test. */
export interface SplitOptions {
  /** Fraction of examples (or databases, with `groupByDb`) sent to test, in [0, 1]. Default 0.3. */
  testRatio: number;
  /** Seed of the split hash. Default 42. */
  seed: number;
  /** Split by database instead of by question: a database's questions all land on one side. */
  groupByDb: boolean;
}

/** Default split: the original tool's 70/30, seeded. */
export const DEFAULT_SPLIT: Readonly<SplitOptions> = Object.freeze({
  testRatio: 0.3,
  seed: 42,
  groupByDb: false,
});

/**
 * The side of one example: `test` when the hash of (seed, db_id, question) — or (seed, db_id) when grouping by
 * database — mapped to [0, 1) falls below `testRatio`. Depends on nothing else, so the split is stable under
 * reordering and additions; identical questions of one database always share a side (no train/test leak).
 *
 * @param example the example (`db_id` and `question` are read)
 * @param options split options
 * @returns `"train"` or `"test"`
 */
export function splitOf(
  example: Pick<Example, "db_id" | "question">,
  options: Partial<SplitOptions> = {},
): "train" | "test" {
  const o = { ...DEFAULT_SPLIT, ...options };
  const key = o.groupByDb ? [o.seed, example.db_id] : [o.seed, example.db_id, example.question];
  // 52 bits of the hash: exactly representable, uniform in [0, 1).
  const u = parseInt(sha256Hex(canonicalJson(key)).slice(0, 13), 16) / 2 ** 52;
  return u < o.testRatio ? "test" : "train";
}

/**
 * Sort key of an output line: a hash of the example's content, so line order is a deterministic shuffle
 * (databases mixed, as training wants) that does not depend on the input order.
 *
 * @param example the example
 * @param seed split seed
 * @returns hex key
 */
export function orderKey(
  example: Pick<Example, "db_id" | "question" | "evidence" | "sql">,
  seed: number,
): string {
  return sha256Hex(canonicalJson([seed, example.db_id, example.question, example.evidence, example.sql]));
}

/** A question left out of the dataset, and why. */
export interface Dropped {
  index: number;
  question_id: number | null;
  db_id: string;
  question: string;
  /**
   * `missing_database`, `empty_question`, `empty_sql`, `schema_error`, `gold_error` (SQL error, timeout or result
   * too large); CoT adds its own.
   */
  reason: string;
  /** Details (the error message), or null. */
  error: string | null;
}

/** One kept conversation with what the statistics need. */
export interface Conversation {
  example: Example;
  split: "train" | "test";
  messages: ChatMessage[];
  /** Tokens of system + user under the Llama 3 chat template. */
  promptTokens: number;
  /** Tokens of the assistant turn (content + end of turn). */
  answerTokens: number;
  /** Tokens of the whole conversation. */
  totalTokens: number;
  /** Fields written after `messages` on the JSONL line (`--format grpo`: db_id, gold_sql, db_path). */
  fields?: Record<string, string>;
}

/**
 * One JSONL line: `{"messages":[{"role":…,"content":…},…]}` with keys in that fixed order.
 *
 * @param messages the conversation
 * @returns the line, without newline
 */
export function jsonlLine(messages: readonly ChatMessage[], fields: Record<string, string> = {}): string {
  return JSON.stringify({ messages: messages.map((m) => ({ role: m.role, content: m.content })), ...fields });
}

/**
 * One GRPO prompt (`--format grpo`): the evaluation prompt without an answer, plus what the execution reward
 * needs: `db_id`, the gold SQL and the database's path relative to the database root (the trainer mounts the
 * root read-only and resolves the path inside it, so the file never names a host path).
 *
 * @param example the question
 * @param schema its database's rendered schema
 * @param options prompt and split options, and the database root
 * @returns the conversation, with its fields
 */
export function grpoPromptOf(
  example: Example,
  schema: string,
  options: { prompt: PromptOptions; split: SplitOptions; dbRoot: string },
): Conversation {
  const messages = buildMessages(example, schema, options.prompt);
  const dbFile = relative(resolve(options.dbRoot), resolve(dbPath(options.dbRoot, example.db_id)));
  return {
    example,
    split: splitOf(example, options.split),
    messages,
    ...conversationTokens(messages),
    fields: { db_id: example.db_id, gold_sql: example.sql.trim(), db_path: dbFile.split("\\").join("/") },
  };
}

/**
 * The token lengths of a conversation (prompt = system + user, answer = assistant, total = all).
 *
 * @param messages `[system, user, assistant]`
 * @returns token counts
 */
export function conversationTokens(
  messages: readonly ChatMessage[],
): { promptTokens: number; answerTokens: number; totalTokens: number } {
  // Prompt and answer counted apart and summed: tokenising the whole conversation again would redo the prompt.
  const promptTokens = chatTokens(messages.filter((m) => m.role !== "assistant"));
  let answerTokens = 0;
  for (const m of messages) if (m.role === "assistant") answerTokens += messageTokens(m);
  return { promptTokens, answerTokens, totalTokens: promptTokens + answerTokens };
}

/**
 * One kept conversation: the evaluation prompt (`[system, user]`) for the question, then `answer` as the
 * assistant turn, with its split side and token lengths.
 *
 * @param example the question
 * @param schema its database's rendered schema
 * @param prompt prompt options
 * @param split split options
 * @param answer the assistant turn's text
 * @returns the conversation
 */
export function conversationOf(
  example: Example,
  schema: string,
  prompt: PromptOptions,
  split: SplitOptions,
  answer: string,
): Conversation {
  const messages: ChatMessage[] = [
    ...buildMessages(example, schema, prompt),
    { role: "assistant", content: answer },
  ];
  return { example, split: splitOf(example, split), messages, ...conversationTokens(messages) };
}

/** Token statistics as written in dataset.json. */
export interface TokenSummary {
  tokenizer: { name: string; description: string; exact: boolean };
  prompt: LengthStats;
  answer: LengthStats;
  total: LengthStats;
  train_total: LengthStats;
  test_total: LengthStats;
  /** Conversations longer than {@link MAX_TRAIN_TOKENS} tokens (truncated by the trainer). */
  over_max_length: { max_length: number; count: number };
}

/**
 * Token statistics over kept conversations.
 *
 * @param conversations kept conversations
 * @returns the summary
 */
function tokenSummary(conversations: readonly Conversation[]): TokenSummary {
  const total = conversations.map((c) => c.totalTokens);
  return {
    tokenizer: { ...TOKENIZER },
    prompt: lengthStats(conversations.map((c) => c.promptTokens)),
    answer: lengthStats(conversations.map((c) => c.answerTokens)),
    total: lengthStats(total),
    train_total: lengthStats(conversations.filter((c) => c.split === "train").map((c) => c.totalTokens)),
    test_total: lengthStats(conversations.filter((c) => c.split === "test").map((c) => c.totalTokens)),
    over_max_length: {
      max_length: MAX_TRAIN_TOKENS,
      count: total.filter((n) => n > MAX_TRAIN_TOKENS).length,
    },
  };
}

/** A path for dataset.json: relative to the working directory when under it, so files do not leak home dirs. */
function displayPath(path: string): string {
  const rel = relative(Deno.cwd(), path);
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
}

/** Options shared by the SFT and CoT builders: which questions, which prompt, which split, where. */
export interface CommonDatasetOptions {
  /** A dataset JSON file or a BIRD-layout folder. */
  dataset: string;
  /** Folder of `<db_id>/<db_id>.sqlite` (default: the `*_databases/` folder beside the dataset). */
  dbRoot?: string;
  /** Output folder (created). */
  out: string;
  /** Only these databases (`--db`, repeatable). */
  db?: string[];
  /** The first N questions after `--db` filtering. */
  limit?: number;
  /** Prompt options (evidence, sample rows, descriptions); `reasoning` is decided by the builder. */
  prompt?: Partial<PromptOptions>;
  /** Split options. */
  split?: Partial<SplitOptions>;
  /** Drop (and record) questions whose database is missing instead of failing. */
  skipMissing?: boolean;
  /** Seconds per gold query (default 30). */
  timeoutS?: number;
  /** SQLite worker processes (default: CPU count, at most 8). */
  workers?: number;
  /** Line-mode progress (CI logs). */
  quiet?: boolean;
  /** No progress output at all (notebooks, tests). */
  silent?: boolean;
}

/** What both builders start from: the loaded dataset, the selected questions, and the dropped ones. */
export interface Selected {
  dataset: Dataset;
  examples: Example[];
  dropped: Dropped[];
  selection: { db: string[]; limit: number | null };
}

function dropped(e: Example, reason: string, error: string | null): Dropped {
  return { index: e.index, question_id: e.question_id, db_id: e.db_id, question: e.question, reason, error };
}

/** Move every selected example that `errorOf` gives an error for from `examples` to `dropped`, as `reason`. */
function dropFailing(selected: Selected, reason: string, errorOf: (e: Example) => string | undefined): void {
  selected.examples = selected.examples.filter((e) => {
    const error = errorOf(e);
    if (error === undefined) return true;
    selected.dropped.push(dropped(e, reason, error));
    return false;
  });
}

/** The first fields of a dataset.json: what kind of data, in which format, from which questions. */
export function datasetHeader(kind: "sft" | "cot", selected: Selected): Record<string, unknown> {
  return {
    kind,
    format: "messages",
    dataset: {
      path: displayPath(selected.dataset.path),
      sha256: selected.dataset.sha256,
      count: selected.dataset.examples.length,
    },
    db_root: displayPath(selected.dataset.dbRoot),
    selection: selected.selection,
  };
}

/**
 * Load the dataset, apply `--db`/`--limit`, and deal with missing databases: an error listing them (naming the
 * dataset file and the database root), or with `skipMissing` their questions dropped as `missing_database`.
 *
 * @param options common options
 * @returns the selection
 * @throws {DatasetError} for a malformed dataset or missing databases
 */
async function selectForBuild(options: CommonDatasetOptions): Promise<Selected> {
  const dataset = await loadDataset(options.dataset, { dbRoot: options.dbRoot });
  const selection = { db: [...(options.db ?? [])].sort(), limit: options.limit ?? null };
  const selected: Selected = {
    dataset,
    examples: selectExamples(dataset, selection),
    dropped: [],
    selection,
  };
  const missing = await missingDatabases(dataset, selected.examples);
  if (missing.length > 0) {
    if (!options.skipMissing) {
      throw new DatasetError(
        `${dataset.path}: ${missing.length} database(s) missing under ${dataset.dbRoot}: ${
          missing.slice(0, 20).join(", ")
        }${
          missing.length > 20 ? ", …" : ""
        } (leave them out with --db, or drop their questions with --skip-missing)`,
      );
    }
    const gone = new Set(missing);
    dropFailing(
      selected,
      "missing_database",
      (e) => gone.has(e.db_id) ? `${dbPath(dataset.dbRoot, e.db_id)} not found` : undefined,
    );
  }
  // A blank question or gold SQL would train the model on an empty prompt slot or an empty answer.
  selected.examples = selected.examples.filter((e) => {
    if (!e.question.trim()) selected.dropped.push(dropped(e, "empty_question", "the question is blank"));
    else if (!e.sql.trim()) selected.dropped.push(dropped(e, "empty_sql", "the gold SQL is blank"));
    else return true;
    return false;
  });
  return selected;
}

/** What both builders have once the questions are selected and their schemas rendered. */
export interface PreparedBuild {
  prompt: PromptOptions;
  split: SplitOptions;
  selected: Selected;
  /** db_id → rendered schema, for every database a selected question uses. */
  schemas: Map<string, string>;
}

/**
 * The start both builders share: resolve the prompt options (`reasoning` decided by the builder), check the
 * split, select the questions (`selectForBuild`) and render their schemas (`schemasFor`).
 *
 * @param options common options
 * @param reasoning the reasoning prompt variant (CoT) or the plain one (SFT)
 * @returns prompt, split, selection and schemas
 * @throws {UsageError} for split options out of range; {@link DatasetError} for a malformed dataset or missing databases
 */
export async function prepareBuild(
  options: CommonDatasetOptions,
  reasoning: boolean,
): Promise<PreparedBuild> {
  const prompt = resolvePromptOptions({ ...options.prompt, reasoning });
  const split = { ...DEFAULT_SPLIT, ...options.split };
  checkSplit(split);
  const selected = await selectForBuild(options);
  return { prompt, split, selected, schemas: schemasFor(selected, prompt) };
}

/**
 * The schema of each database used, rendered once; a database that cannot be read drops its questions
 * (`schema_error`) rather than failing the whole build.
 *
 * @param selected the selection (its `dropped` list grows)
 * @param prompt prompt options
 * @returns db_id → schema text, for the databases that rendered
 */
function schemasFor(selected: Selected, prompt: PromptOptions): Map<string, string> {
  const schemas = new Map<string, string>();
  const failed = new Map<string, string>();
  for (const id of [...new Set(selected.examples.map((e) => e.db_id))].sort()) {
    try {
      schemas.set(id, renderSchema(dbPath(selected.dataset.dbRoot, id), schemaOptionsOf(prompt)));
    } catch (e) {
      if (!(e instanceof SchemaError)) throw e;
      failed.set(id, e.message);
    }
  }
  if (failed.size > 0) dropFailing(selected, "schema_error", (e) => failed.get(e.db_id));
  return schemas;
}

/**
 * Run every selected gold query; questions whose gold SQL fails (error, timeout, too large) are dropped as
 * `gold_error`. Returns the successful results by example index (CoT compares against them).
 *
 * @param selected the selection (examples filtered, `dropped` grows)
 * @param pool the SQLite pool
 * @param options progress options
 * @returns index → gold result rows
 */
export async function verifyGold(
  selected: Selected,
  pool: SqlitePool,
  options: { quiet?: boolean; silent?: boolean; label?: string } = {},
): Promise<Map<number, { rows: string[][] }>> {
  const progress = createProgress(selected.examples.length, {
    label: options.label ?? "gold SQL",
    quiet: options.quiet,
    silent: options.silent,
  });
  const results = new Map<number, { rows: string[][] }>();
  const failures = new Map<number, string>();
  await Promise.all(selected.examples.map(async (e) => {
    const r = await pool.execute(dbPath(selected.dataset.dbRoot, e.db_id), e.sql);
    if (r.ok) results.set(e.index, { rows: r.rows });
    else failures.set(e.index, `${r.kind}: ${r.error}`);
    progress.tick({ error: !r.ok });
  }));
  progress.done();
  dropFailing(selected, "gold_error", (e) => failures.get(e.index));
  return results;
}

/**
 * Write `train.jsonl` and `test.jsonl` (each line `{"messages":[…]}`, sorted by {@link orderKey}) into `dir`,
 * atomically (temp file then rename), and return their line counts and sha256.
 *
 * @param dir output folder (created)
 * @param conversations kept conversations
 * @param seed split seed (for the order)
 * @returns per file: lines and sha256
 */
export async function writeSplits(
  dir: string,
  conversations: readonly Conversation[],
  seed: number,
): Promise<Record<string, { lines: number; sha256: string }>> {
  await Deno.mkdir(dir, { recursive: true });
  const keyed = conversations.map((c) => ({ c, key: orderKey(c.example, seed) }));
  keyed.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : a.c.example.index - b.c.example.index);
  const files: Record<string, { lines: number; sha256: string }> = {};
  for (const side of ["train", "test"] as const) {
    const lines = keyed.filter((k) => k.c.split === side).map((k) =>
      jsonlLine(k.c.messages, k.c.fields) + "\n"
    );
    const text = lines.join("");
    const name = `${side}.jsonl`;
    await writeTextAtomic(join(dir, name), text);
    files[name] = { lines: lines.length, sha256: sha256Hex(text) };
  }
  return files;
}

/**
 * The `prompt` record of a dataset.json: the student prompt's version, template hash, options and system text.
 *
 * @param prompt resolved prompt options
 * @returns the record
 */
export function promptDoc(prompt: PromptOptions): Record<string, unknown> {
  return {
    version: PROMPT_VERSION,
    template_hash: templateHash(prompt),
    options: prompt,
    system: systemPromptFor(prompt),
  };
}

/** Options of {@link buildSftDataset}. */
export interface SftOptions extends CommonDatasetOptions {
  /** Execute each gold query and drop the ones that fail (default true). */
  verify?: boolean;
  /**
   * `messages` (default): `[system, user, assistant = gold SQL]`; `grpo`: prompt-only `[system, user]` with
   * `db_id`, `gold_sql` and `db_path` (relative to the database root), for `"method": "grpo"`.
   */
  format?: "messages" | "grpo";
}

/** Per-conversation lengths, for a notebook's table and chart. */
export interface ConversationLength {
  index: number;
  db_id: string;
  split: "train" | "test";
  prompt_tokens: number;
  answer_tokens: number;
  total_tokens: number;
}

/** Counts and token statistics of a built dataset (as in dataset.json). */
export interface DatasetStats {
  counts: { selected: number; kept: number; dropped: number; train: number; test: number };
  tokens: TokenSummary;
}

/** What {@link buildSftDataset} returns. */
export interface BuildResult {
  /** The output folder. */
  dir: string;
  stats: DatasetStats;
  dropped: Dropped[];
  /** Per kept conversation, in output order (train then test). */
  lengths: ConversationLength[];
}

/**
 * Build the SFT dataset: select, verify gold SQL, render prompts, split, write the three files.
 *
 * @param options dataset, output folder, selection, prompt, split and execution options
 * @returns folder, statistics, dropped questions and per-conversation lengths
 * @throws {DatasetError} for a malformed dataset or missing databases (without `skipMissing`)
 */
export async function buildSftDataset(options: SftOptions): Promise<BuildResult> {
  const { prompt, split, selected, schemas } = await prepareBuild(options, false);
  const verify = options.verify ?? true;
  if (verify && selected.examples.length > 0) {
    const pool = openPool(options);
    try {
      await verifyGold(selected, pool, { quiet: options.quiet, silent: options.silent });
    } finally {
      await pool.close();
    }
  }
  const grpo = options.format === "grpo";
  const dbRoot = selected.dataset.dbRoot;
  const conversations = selected.examples.map((e) =>
    grpo
      ? grpoPromptOf(e, schemas.get(e.db_id)!, { prompt, split, dbRoot })
      : conversationOf(e, schemas.get(e.db_id)!, prompt, split, e.sql.trim())
  );
  const dir = resolve(options.out);
  const files = await writeSplits(dir, conversations, split.seed);
  const result = summarise(selected, conversations);
  const doc = {
    ...datasetHeader("sft", selected),
    ...(grpo
      ? {
        format: "grpo",
        // Relative to this folder, so the dataset moves with its databases and names no host path.
        db_root: relative(dir, resolve(dbRoot)) || ".",
        assistant: null,
        gold_sql: "gold SQL (trimmed), for the reward",
      }
      : { assistant: "gold SQL (trimmed)" }),
    prompt: promptDoc(prompt),
    split: splitDoc(split),
    gold_verified: verify,
    counts: result.stats.counts,
    tokens: result.stats.tokens,
    files,
    dropped: result.dropped,
  };
  await writeJsonAtomic(join(dir, "dataset.json"), doc);
  return { dir, ...result };
}

/**
 * The split description recorded in dataset.json.
 *
 * @param split split options
 * @returns the record
 */
export function splitDoc(split: SplitOptions): Record<string, unknown> {
  return {
    method: split.groupByDb
      ? "sha256(seed, db_id) < test_ratio"
      : "sha256(seed, db_id, question) < test_ratio",
    seed: split.seed,
    test_ratio: split.testRatio,
    group_by_db: split.groupByDb,
  };
}

/**
 * Counts, token statistics, dropped list (sorted by index) and lengths of kept conversations.
 *
 * @param selected the selection after all drops (a drop moves a question from `examples` to `dropped`, so the
 *   two together are every question selected)
 * @param conversations kept conversations
 * @returns stats, dropped and lengths
 */
export function summarise(
  selected: Selected,
  conversations: readonly Conversation[],
): Omit<BuildResult, "dir"> {
  const drops = [...selected.dropped].sort((a, b) => a.index - b.index);
  const train = conversations.filter((c) => c.split === "train").length;
  const lengths = ["train", "test"].flatMap((side) =>
    conversations.filter((c) => c.split === side).map((c) => ({
      index: c.example.index,
      db_id: c.example.db_id,
      split: c.split,
      prompt_tokens: c.promptTokens,
      answer_tokens: c.answerTokens,
      total_tokens: c.totalTokens,
    })).sort((a, b) => a.index - b.index)
  );
  return {
    stats: {
      counts: {
        selected: selected.examples.length + selected.dropped.length,
        kept: conversations.length,
        dropped: drops.length,
        train,
        test: conversations.length - train,
      },
      tokens: tokenSummary(conversations),
    },
    dropped: drops,
    lengths,
  };
}

/**
 * Reject split options out of range.
 *
 * @param split split options
 * @throws {UsageError} when the ratio is outside [0, 1] or the seed is not an integer
 */
function checkSplit(split: SplitOptions): void {
  if (!(split.testRatio >= 0 && split.testRatio <= 1)) {
    throw new UsageError(`--test-ratio must be between 0 and 1, got ${split.testRatio}`);
  }
  if (!Number.isInteger(split.seed)) throw new UsageError(`--seed must be an integer, got ${split.seed}`);
}

/**
 * The SQLite pool of a build: `workers` processes (default: the CPU count, at most 8, since each is a process),
 * `timeoutS` per query (default 30). The caller closes it.
 */
export function openPool(options: Pick<CommonDatasetOptions, "workers" | "timeoutS">): SqlitePool {
  return new SqlitePool({
    workers: options.workers ?? Math.min(8, Math.max(1, navigator.hardwareConcurrency ?? 2)),
    timeoutS: options.timeoutS ?? 30,
  });
}

/** The flags both `sft` and `cot` accept (parseArgs spec). */
export const COMMON_FLAGS = {
  dataset: { type: "string" },
  "db-root": { type: "string" },
  out: { type: "string" },
  db: { type: "string", multiple: true },
  limit: { type: "string" },
  "test-ratio": { type: "string" },
  seed: { type: "string" },
  "group-by-db": { type: "boolean" },
  "no-evidence": { type: "boolean" },
  "sample-rows": { type: "string" },
  descriptions: { type: "boolean" },
  "skip-missing": { type: "boolean" },
  timeout: { type: "string" },
  workers: { type: "string" },
  quiet: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * The common options from parsed flags (`--dataset` and `--out` required).
 *
 * @param values parseArgs values
 * @param usage the command's usage text (for the error)
 * @returns common options
 * @throws {UsageError} on a missing or bad flag
 */
export function commonOptionsFrom(values: Record<string, unknown>, usage: string): CommonDatasetOptions {
  const str = (k: string) => values[k] as string | undefined;
  if (!str("dataset")) throw new UsageError(`--dataset is required\n${usage}`);
  if (!str("out")) throw new UsageError(`--out is required\n${usage}`);
  return {
    dataset: str("dataset")!,
    dbRoot: str("db-root"),
    out: str("out")!,
    db: values.db as string[] | undefined,
    limit: numberFlag("limit", str("limit"), { integer: true, min: 0 }),
    prompt: {
      evidence: !values["no-evidence"],
      sampleRows: numberFlag("sample-rows", str("sample-rows"), { integer: true, min: 0 }) ?? 0,
      descriptions: Boolean(values.descriptions),
    },
    split: {
      testRatio: numberFlag("test-ratio", str("test-ratio"), { min: 0, max: 1 }) ?? DEFAULT_SPLIT.testRatio,
      seed: numberFlag("seed", str("seed"), { integer: true }) ?? DEFAULT_SPLIT.seed,
      groupByDb: Boolean(values["group-by-db"]),
    },
    skipMissing: Boolean(values["skip-missing"]),
    timeoutS: numberFlag("timeout", str("timeout"), { min: 0.001 }),
    workers: numberFlag("workers", str("workers"), { integer: true, min: 1 }),
    quiet: Boolean(values.quiet),
  };
}

const SFT_USAGE = `usage: deno task sft --dataset FILE|DIR --out DIR [--db-root DIR] [--db ID]... [--limit N]
         [--test-ratio 0.3] [--seed 42] [--group-by-db] [--no-evidence] [--sample-rows N] [--descriptions]
         [--skip-missing] [--no-verify] [--timeout S] [--workers N] [--format messages|grpo] [--quiet]
Writes DIR/train.jsonl, DIR/test.jsonl ({"messages":[system, user, assistant = gold SQL]}) and DIR/dataset.json.
--format grpo writes prompt-only rows {"messages":[system, user],"db_id","gold_sql","db_path"} for
"method": "grpo" (db_path is relative to the database root, which the trainer's grpo.db_root must name).
Gold SQL that fails to execute is dropped and recorded (--no-verify skips execution). A missing database is an
error unless --db leaves it out or --skip-missing drops (and records) its questions.`;

/**
 * `deno task sft`: parse flags, build, print a one-paragraph summary.
 *
 * @param argv flags after `sft`
 * @returns exit code (0 ok, 2 usage)
 */
export async function sftCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: joinNegativeNumbers(argv),
    strict: true,
    allowPositionals: false,
    options: { ...COMMON_FLAGS, "no-verify": { type: "boolean" }, format: { type: "string" } },
  });
  if (values.help) {
    console.log(SFT_USAGE);
    return 0;
  }
  const common = commonOptionsFrom(values, SFT_USAGE);
  const format = values.format ?? "messages";
  if (format !== "messages" && format !== "grpo") {
    throw new UsageError(`--format must be messages or grpo, got ${format}\n${SFT_USAGE}`);
  }
  const result = await buildSftDataset({ ...common, verify: !values["no-verify"], format });
  printSummary("sft", result);
  return buildExitCode("sft", result);
}

/**
 * Print the summary of a build to stdout.
 *
 * @param kind `sft` or `cot`
 * @param result the build result
 */
export function printSummary(kind: string, result: BuildResult): void {
  const c = result.stats.counts;
  const t = result.stats.tokens.total;
  console.log(
    `${kind}: ${c.kept} kept (${c.train} train / ${c.test} test), ${c.dropped} dropped of ${c.selected} selected`,
  );
  if (t.count > 0) {
    console.log(
      `tokens per conversation (${result.stats.tokens.tokenizer.name}): min ${t.min}, mean ${t.mean}, p50 ${t.p50}, p95 ${t.p95}, max ${t.max}`,
    );
  }
  printReasons("dropped", result.dropped);
  console.log(`wrote ${join(result.dir, "train.jsonl")}, test.jsonl, dataset.json`);
  if (c.kept > 0 && (c.train === 0 || c.test === 0)) {
    console.error(
      `warning: the ${c.train === 0 ? "train" : "test"} split is empty` +
        " (one database with --group-by-db, or --test-ratio 0 or 1); the trainer needs train examples," +
        " and evaluation loss needs test examples",
    );
  }
}

/**
 * How many of `items` have each reason, in first-seen order.
 *
 * @param items dropped or rejected questions
 * @returns reason → count
 */
export function countReasons(items: readonly { reason: string | null }[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { reason } of items) if (reason !== null) counts.set(reason, (counts.get(reason) ?? 0) + 1);
  return counts;
}

/** Print `label: reason n, …` for `items`, or nothing when there are none. */
export function printReasons(label: string, items: readonly { reason: string | null }[]): void {
  const counts = countReasons(items);
  if (counts.size > 0) console.log(`${label}: ${[...counts].map(([r, n]) => `${r} ${n}`).join(", ")}`);
}

/** The exit code of a build: 1 (with a one-line reason on stderr) when nothing at all was kept. */
export function buildExitCode(kind: string, result: BuildResult): number {
  if (result.stats.counts.kept > 0) return 0;
  console.error(
    `error: ${kind}: no example kept out of ${result.stats.counts.selected} selected; see dataset.json`,
  );
  return 1;
}

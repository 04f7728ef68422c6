/**
 * The steps the SFT and CoT builders share: open the dialect's engine (the one factory, `openEngine`), select the
 * questions (missing databases, blank ones dropped with their reason), render schemas through the engine, verify
 * the gold SQL on it, write the splits atomically, and summarise counts and token statistics for dataset.json.
 *
 * @module
 */

import { isAbsolute, join, relative } from "node:path";
import {
  type Dataset,
  DatasetError,
  dbPath,
  loadDataset,
  missingDatabases,
  selectExamples,
} from "../data/mod.ts";
import {
  perQuestionSchema,
  PROMPT_VERSION,
  type PromptOptions,
  resolvePromptOptions,
  SchemaError,
  schemaFor,
  schemaOptionsOf,
  systemPromptFor,
  templateHash,
} from "../prompt/mod.ts";
import { openEngine, type SqlEngine } from "../exec/mod.ts";
import { excludingFlags, loadAudit, type LoadedAudit, parseExclude } from "../audit/mod.ts";
import { QuestionSchemas } from "../values/mod.ts";
import { createProgress, redact, sha256Hex, writeTextAtomic } from "../util/mod.ts";
import type { Dialect, Example } from "../types.ts";
import { checkSplit, DEFAULT_SPLIT, orderKey, type SplitOptions } from "./sft_split.ts";
import { type Conversation, jsonlLine, type TokenSummary, tokenSummary } from "./conversation.ts";

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

/** A path for dataset.json: relative to the working directory when under it, so files do not leak home dirs. */
function displayPath(path: string): string {
  const rel = relative(Deno.cwd(), path);
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
}

/** Options shared by the SFT and CoT builders: which questions, which prompt, which split, where. */
export interface CommonDatasetOptions {
  /** A dataset JSON file or a BIRD-layout folder (for another dialect, that dialect's file: `mini_dev_postgresql.json`). */
  dataset: string;
  /**
   * Folder of `<db_id>/<db_id>.sqlite` and `<db_id>/database_description/` (default: the `*_databases/` folder
   * beside the dataset).
   */
  dbRoot?: string;
  /**
   * The SQL dialect (default `sqlite`): the prompts name it, the schema is its DDL read from the engine's catalog,
   * and the gold SQL runs on its engine. dataset.json records it when it is not `sqlite`.
   */
  dialect?: Dialect;
  /** A PostgreSQL or MySQL server holding the databases (else PostgreSQL is embedded, loaded from the files). */
  dbUrl?: string;
  /** An engine already open (tests, notebooks): used instead of opening one, and left open. */
  engine?: SqlEngine;
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
  /** The engine's parallel executions (default: CPU count, at most 8). */
  workers?: number;
  /** Line-mode progress (CI logs). */
  quiet?: boolean;
  /** No progress output at all (notebooks, tests). */
  silent?: boolean;
  /** An audit folder (`deno task audit`): questions with flags of the `exclude` kinds are left out. */
  audit?: string;
  /** Flag kinds to leave out (`kind` or `kind:error`; default `DEFAULT_EXCLUDE` of `lib/audit`). */
  exclude?: string[];
}

/** What both builders start from: the loaded dataset, the selected questions, and the dropped ones. */
export interface Selected {
  dataset: Dataset;
  examples: Example[];
  dropped: Dropped[];
  selection: { db: string[]; limit: number | null };
  /** The audit applied (`--audit`), or null. */
  audit?: { loaded: LoadedAudit; exclude: string[]; excluded: number; not_audited: number } | null;
}

function dropped(e: Example, reason: string, error: string | null): Dropped {
  // The error is the engine's text: it passes the secret model's scrubber (a server URL's credentials).
  const why = error === null ? null : redact(error, []);
  return {
    index: e.index,
    question_id: e.question_id,
    db_id: e.db_id,
    question: e.question,
    reason,
    error: why,
  };
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

/**
 * The first fields of a dataset.json: what kind of data, in which format and dialect (named only when it is not
 * `sqlite`, so SQLite datasets stay as they were), from which questions.
 */
export function datasetHeader(
  kind: "sft" | "cot",
  selected: Selected,
  dialect: Dialect = "sqlite",
): Record<string, unknown> {
  return {
    kind,
    format: "messages",
    ...(dialect === "sqlite" ? {} : { dialect }),
    dataset: {
      path: displayPath(selected.dataset.path),
      sha256: selected.dataset.sha256,
      count: selected.dataset.examples.length,
    },
    db_root: displayPath(selected.dataset.dbRoot),
    selection: selected.selection,
    ...(selected.audit
      ? {
        audit: {
          dir: displayPath(selected.audit.loaded.dir),
          exclude: selected.audit.exclude,
          excluded: selected.audit.excluded,
          not_audited: selected.audit.not_audited,
        },
      }
      : {}),
  };
}

/**
 * Load the dataset, apply `--db`/`--limit`, and deal with missing database files (a server holds its own
 * databases: those are checked by their catalog, in `schemasFor`): an error listing them (naming the dataset
 * file and the database root), or with `skipMissing` their questions dropped as `missing_database`.
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
    audit: null,
  };
  // A server holds its own databases; SQLite (and the embedded PostgreSQL loaded from them) reads the files.
  const fromFiles = !options.dbUrl && ((options.dialect ?? "sqlite") === "sqlite" || !options.engine);
  const missing = fromFiles ? await missingDatabases(dataset, selected.examples) : [];
  dropMissing(
    selected,
    new Map(missing.map((id) => [id, `${dbPath(dataset.dbRoot, id)} not found`])),
    options,
  );
  // A blank question or gold SQL would train the model on an empty prompt slot or an empty answer.
  selected.examples = selected.examples.filter((e) => {
    if (!e.question.trim()) selected.dropped.push(dropped(e, "empty_question", "the question is blank"));
    else if (!e.sql.trim()) selected.dropped.push(dropped(e, "empty_sql", "the gold SQL is blank"));
    else return true;
    return false;
  });
  if (options.audit) await applyAudit(selected, options.audit, options.exclude ?? parseExclude(undefined));
  return selected;
}

/**
 * Drop the questions of missing databases (`missing`: db_id → why) as `missing_database` when `skipMissing`;
 * else fail with one line listing them.
 *
 * @throws {DatasetError} naming the dataset file and where the databases were looked for
 */
function dropMissing(
  selected: Selected,
  missing: Map<string, string>,
  options: Pick<CommonDatasetOptions, "skipMissing" | "dialect" | "dbUrl">,
): void {
  if (missing.size === 0) return;
  if (!options.skipMissing) {
    const ids = [...missing.keys()].sort();
    const where = (options.dialect ?? "sqlite") !== "sqlite" && options.dbUrl
      ? `in the ${options.dialect} server`
      : `under ${selected.dataset.dbRoot}`;
    throw new DatasetError(
      `${selected.dataset.path}: ${ids.length} database(s) missing ${where}: ${ids.slice(0, 20).join(", ")}${
        ids.length > 20 ? ", …" : ""
      } (leave them out with --db, or drop their questions with --skip-missing)`,
    );
  }
  dropFailing(selected, "missing_database", (e) => missing.get(e.db_id));
}

/**
 * Leave out the questions whose audit carries a flag of the `exclude` kinds, as `audit` drops whose error names
 * each flag and its reason. Questions the audit did not cover are kept and counted.
 */
async function applyAudit(selected: Selected, dir: string, exclude: string[]): Promise<void> {
  const loaded = await loadAudit(dir, { datasetSha256: selected.dataset.sha256 });
  const before = selected.dropped.length;
  const notAudited = selected.examples.filter((e) => !loaded.records.has(e.index)).length;
  dropFailing(selected, "audit", (e) => {
    const flags = excludingFlags(loaded.records.get(e.index), exclude);
    return flags.length ? flags.map((f) => `${f.kind} (${f.severity}): ${f.detail}`).join("; ") : undefined;
  });
  selected.audit = { loaded, exclude, excluded: selected.dropped.length - before, not_audited: notAudited };
}

/** What both builders have once the questions are selected and their schemas rendered. */
export interface PreparedBuild {
  prompt: PromptOptions;
  split: SplitOptions;
  selected: Selected;
  /** db_id → rendered schema, for every database a selected question uses. */
  schemas: Map<string, string>;
  /**
   * A question's schema as its prompt shows it: its own (matched values, linking) when the prompt options ask for
   * them, else its database's from `schemas`.
   */
  schemaOf: (e: Example) => string;
  /** The dialect's engine (close it with {@link closeBuildEngine}). */
  engine: SqlEngine;
}

/**
 * The start both builders share: resolve the prompt options (`reasoning` decided by the builder, the dialect
 * from the options), check the split, select the questions (`selectForBuild`), open the dialect's engine
 * (`openBuildEngine`) and render their schemas through it (`schemasFor`). The caller closes the engine with
 * {@link closeBuildEngine}, also when this throws after opening it (it is then closed here).
 *
 * @param options common options
 * @param variant `reasoning`: the reasoning prompt variant (CoT) or the plain one (SFT)
 * @returns prompt, split, selection, schemas and the engine
 * @throws {UsageError} for split options out of range; {@link DatasetError} for a malformed dataset or missing databases
 */
export async function prepareBuild(
  options: CommonDatasetOptions,
  variant: { reasoning: boolean },
): Promise<PreparedBuild> {
  const dialect = options.dialect ?? "sqlite";
  if (options.engine && options.engine.dialect !== dialect) {
    throw new Error(`the engine given is ${options.engine.dialect}, the build's dialect ${dialect}`);
  }
  const prompt = resolvePromptOptions({ ...options.prompt, reasoning: variant.reasoning, dialect });
  const split = { ...DEFAULT_SPLIT, ...options.split };
  checkSplit(split);
  const selected = await selectForBuild(options);
  const engine = await openBuildEngine(options, selected, prompt);
  try {
    const schemas = await schemasFor(selected, prompt, { engine, options });
    const own = await questionSchemasFor(selected, prompt, { engine, options });
    return {
      prompt,
      split,
      selected,
      schemas,
      schemaOf: (e) => own?.get(e.index) ?? schemas.get(e.db_id)!,
      engine,
    };
  } catch (e) {
    await closeBuildEngine(engine, options);
    throw e;
  }
}

/**
 * The build's engine: the one given in `options.engine`, else the dialect's from `openEngine` (`workers` at most
 * 8 by default, since each may be a process; `timeoutS` 30 by default; enough display rows for the schema's
 * sample rows), allowed the selected databases.
 */
async function openBuildEngine(
  options: CommonDatasetOptions,
  selected: Selected,
  prompt: PromptOptions,
): Promise<SqlEngine> {
  const dbRoot = selected.dataset.dbRoot;
  const dbIds = [...new Set(selected.examples.map((e) => e.db_id))].sort();
  const engine = options.engine ?? await openEngine({
    dialect: options.dialect ?? "sqlite",
    dbUrl: options.dbUrl,
    dbRoot,
    dbIds,
    workers: options.workers ?? Math.min(8, Math.max(1, navigator.hardwareConcurrency ?? 2)),
    timeoutS: options.timeoutS ?? 30,
    sampleRows: Math.max(10, prompt.sampleRows),
  });
  engine.allow(dbIds.map((id) => engine.target(dbRoot, id)));
  return engine;
}

/**
 * Close a build's engine unless it was given (`options.engine`: its owner closes it).
 *
 * @param engine the build's engine
 * @param options the build's options
 */
export async function closeBuildEngine(engine: SqlEngine, options: CommonDatasetOptions): Promise<void> {
  if (engine !== options.engine) await engine.close();
}

/**
 * The schema of each database used, read once through the engine (`schemaFor`: SQLite's from the file as
 * before, a server's from its catalog in its dialect's DDL). A database a server does not hold is missing (an
 * error, or dropped as `missing_database` with `skipMissing`); one that cannot be read drops its questions
 * (`schema_error`) rather than failing the whole build.
 *
 * @param selected the selection (its `dropped` list grows)
 * @param prompt prompt options
 * @param ctx the engine and the build's options
 * @returns db_id → schema text, for the databases that rendered
 */
async function schemasFor(
  selected: Selected,
  prompt: PromptOptions,
  ctx: { engine: SqlEngine; options: CommonDatasetOptions },
): Promise<Map<string, string>> {
  const schemas = new Map<string, string>();
  const failed = new Map<string, string>();
  const missing = new Map<string, string>();
  for (const dbId of [...new Set(selected.examples.map((e) => e.db_id))].sort()) {
    try {
      schemas.set(
        dbId,
        await schemaFor(ctx.engine, { dbRoot: selected.dataset.dbRoot, dbId, ...schemaOptionsOf(prompt) }),
      );
    } catch (e) {
      if (!(e instanceof SchemaError)) throw e;
      (e.missing && ctx.engine.dialect !== "sqlite" ? missing : failed).set(dbId, e.message);
    }
  }
  dropMissing(selected, missing, ctx.options);
  if (failed.size > 0) dropFailing(selected, "schema_error", (e) => failed.get(e.db_id));
  return schemas;
}

/**
 * Each kept question's own schema when the prompt carries matched values or is linked (`QuestionSchemas`: each
 * database's value index built or loaded once), else undefined.
 */
async function questionSchemasFor(
  selected: Selected,
  prompt: PromptOptions,
  ctx: { engine: SqlEngine; options: CommonDatasetOptions },
): Promise<Map<number, string> | undefined> {
  if (!perQuestionSchema(prompt)) return undefined;
  const schemas = new QuestionSchemas(ctx.engine, {
    dbRoot: selected.dataset.dbRoot,
    prompt,
    quiet: ctx.options.quiet,
  });
  const out = new Map<number, string>();
  for (const e of selected.examples) out.set(e.index, (await schemas.of(e)).text);
  return out;
}

/**
 * Run every selected gold query on the dialect's engine; questions whose gold SQL fails (error, timeout, too
 * large) are dropped as `gold_error`. Returns the successful results by example index (CoT compares against them).
 *
 * @param selected the selection (examples filtered, `dropped` grows)
 * @param engine the build's engine
 * @param options progress options
 * @returns index → gold result rows
 */
export async function verifyGold(
  selected: Selected,
  engine: SqlEngine,
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
    const r = await engine.execute(engine.target(selected.dataset.dbRoot, e.db_id), e.sql);
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
 * The `prompt` record of a dataset.json: the student prompt's version, template hash, options (with the dialect
 * when it is not sqlite) and system text.
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

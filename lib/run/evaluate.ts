/**
 * One evaluation run: (generate →) extract → execute → compare, streaming each question's record to the run
 * log as it completes, resumable after a kill, and refusing to mix two different configurations in one folder.
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import { EVALUATOR, timeRatio, vesReward } from "../exec/mod.ts";
import {
  checkDatabases,
  DatasetError,
  dbPath,
  loadDataset,
  loadPredictions,
  type Predictions,
  selectExamples,
} from "../data/mod.ts";
import { GoldCache } from "../exec/mod.ts";
// Types only: the OpenAI client is loaded when a model is asked for, so scoring a predictions file starts fast.
import type { ModelClient, ModelClientOptions, ModelConfig, Provider } from "../model/mod.ts";
import { createProgress } from "../util/mod.ts";
import {
  buildMessages,
  PROMPT_VERSION,
  promptHash,
  type PromptOptions,
  resolvePromptOptions,
  templateHash,
} from "../prompt/mod.ts";
import {
  formatSummaryTable,
  predictionsFile,
  readResults,
  readRunInfo,
  ResultsWriter,
  RUN_FILES,
  summarize,
} from "./run_log.ts";
import { writeJsonAtomic } from "../util/mod.ts";
import { lockRun } from "./run_lock.ts";
import { renderSchema } from "../prompt/mod.ts";
import { extractSql } from "../model/mod.ts";
import { ENGINE_OPTIONS, type ExecErr, type ExecResult, type ScoredOk, SqlitePool } from "../exec/mod.ts";
import type {
  ChatMessage,
  Example,
  ResultRecord,
  ResultShape,
  RunInfo,
  RunMode,
  Status,
  Summary,
} from "../types.ts";
import { agentTemplateHash, buildAgentMessages, EXECUTE_SQL_TOOL } from "../prompt/mod.ts";
import { poolExecutor, runAgent } from "./agent.ts";
import { agentRecord, modeMismatch, resolveMode, voteOnCompletions } from "./modes.ts";
import {
  createToolChat,
  probeTools,
  sampleCompletions,
  type SamplingState,
  type ToolChat,
} from "../model/mod.ts";
import { outcomeOf, scoreCandidates, votingSummary } from "./voting.ts";

export { formatSummaryTable };

/** Where the bundled sample lives (independent of the current directory: notebooks run in `notebooks/`). */
export const SAMPLE_DIR: string = resolve(
  dirname(new URL(import.meta.url).pathname),
  "..",
  "..",
  "data",
  "sample",
);
/** The bundled official baseline predictions (gpt-3.5-turbo with evidence, BIRD's authors, 2023 dev release). */
export const SAMPLE_PREDICTIONS: string = join(
  SAMPLE_DIR,
  "predictions",
  "gpt-3.5-turbo-evidence",
  "predict_dev.json",
);

/** Progress of a run, for notebooks. */
export interface EvalProgress {
  done: number;
  total: number;
  correct: number;
  errors: number;
}

/** Everything a run can be asked to do (the CLI flags of `deno task eval`, in camelCase). */
export interface EvalOptions {
  /** Dataset JSON file or BIRD-layout folder (default: the bundled sample's dev.json). */
  dataset?: string;
  dbRoot?: string;
  db?: string[];
  limit?: number | null;
  /** An official-format predictions file to score instead of asking a model. */
  predictions?: string;
  model?: string;
  provider?: Provider;
  baseUrl?: string;
  concurrency?: number;
  requestTimeoutS?: number;
  /** Per-query time limit, seconds (default 30). */
  timeoutS?: number;
  workers?: number;
  /** Memory limit of each SQLite worker, bytes (default 2 GiB): a larger result fails its own question. */
  workerMemory?: number;
  temperature?: number;
  maxTokens?: number | null;
  /** Samples per question; K > 1 is self-consistency (the vote over execution results). */
  n?: number;
  /** Agent mode: the model may run queries through the `execute_sql` tool. */
  agent?: boolean;
  /** Model calls per question in agent mode (default 8). */
  maxTurns?: number;
  prompt?: Partial<PromptOptions>;
  /** R-VES with this many timed repetitions per correct question. */
  ves?: number | null;
  cache?: boolean;
  /** Completion cache folder (default `$XDG_CACHE_HOME/text2sql/completions`). */
  cacheDir?: string;
  /** Gold-result cache folder (default `$XDG_CACHE_HOME/text2sql/gold`). */
  goldCacheDir?: string;
  retryFailed?: boolean;
  out?: string;
  /** Progress as occasional lines (CI logs) instead of a terminal bar. */
  quiet?: boolean;
  /** No progress output at all (tests; notebooks that draw their own with `onProgress`). */
  silent?: boolean;
  /** USD per million tokens, for the cost line. */
  prices?: { prompt_per_mtok: number; completion_per_mtok: number };
  onProgress?: (p: EvalProgress) => void;
  /** Retry/backoff knobs of the model client (tests shorten the backoff). */
  clientOptions?: ModelClientOptions;
  /** Retries of a failing request after the first attempt (default 6). */
  maxRetries?: number;
  /** Stop after this many questions in a row fail to generate (default 5; 0 never stops). */
  maxConsecutiveFailures?: number;
  /** Follow symlinks in the database root that point outside it (recorded in `run.json`). */
  allowSymlinks?: boolean;
}

/** The endpoint kept failing: the run stopped early, its finished work kept; the message is one line. */
export class EndpointError extends Error {
  override name = "EndpointError";
}

/** What a finished run returns. */
export interface EvalResult {
  dir: string;
  summary: Summary;
  records: ResultRecord[];
  /** True when the bundled baseline predictions were scored because nothing else was asked for. */
  usedDefaults: boolean;
  /** Gold queries served from the cache vs executed in this call. */
  gold: { hits: number; misses: number };
}

/** A run folder holding a different configuration; the message lists the differences. */
export class RunMismatchError extends Error {
  override name = "RunMismatchError";
}

function timestamp(): string {
  return new Date().toISOString().replace(/[:]/g, "").replace(/\.\d+Z$/, "Z");
}

function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[._]+/, "").slice(0, 80) || "run";
}

function shape(r: ScoredOk | ExecErr | null | undefined): ResultShape | null {
  if (!r || !r.ok) return null;
  return { columns: r.columns, rows: r.rowCount, distinct_rows: r.distinctRows, sample: r.sample };
}

/** The fields that must match for `--out` to resume a run (dataset, selection, model, prompt, sampling). */
function fingerprint(info: RunInfo): Record<string, unknown> {
  return {
    "dataset sha256": info.dataset.sha256,
    "selection": { db: info.selection.db, limit: info.selection.limit },
    "predictions sha256": info.predictions_sha256 ?? null,
    "model": info.model,
    "provider": info.provider,
    "base URL": info.base_url,
    "prompt hash": info.prompt.hash,
    "sampling": info.sampling,
    "timeout": info.timeout_s,
    "R-VES repetitions": info.ves,
  };
}

function differences(a: RunInfo, b: RunInfo): string[] {
  const fa = fingerprint(a);
  const fb = fingerprint(b);
  return Object.keys(fa)
    .filter((k) => JSON.stringify(fa[k]) !== JSON.stringify(fb[k]))
    .map((k) => `${k}: ${JSON.stringify(fa[k])} (in folder) vs ${JSON.stringify(fb[k])} (now)`);
}

async function codeVersion(): Promise<string> {
  try {
    const out = await new Deno.Command("git", {
      args: ["rev-parse", "--short", "HEAD"],
      cwd: dirname(new URL(import.meta.url).pathname),
      stdout: "piped",
      stderr: "null",
    }).output();
    if (out.success) return new TextDecoder().decode(out.stdout).trim();
  } catch {
    // No git: a tarball install.
  }
  return "unknown";
}

/**
 * Run (or resume) an evaluation and write its run directory.
 *
 * With neither `model` nor `predictions` and no `dataset`, it scores the bundled official baseline predictions
 * on the bundled superhero sample.
 */
export async function runEvaluation(options: EvalOptions = {}): Promise<EvalResult> {
  let usedDefaults = false;
  let { dataset: datasetArg, predictions, db } = options;
  const onSample = !datasetArg || resolve(datasetArg) === join(SAMPLE_DIR, "dev.json") ||
    resolve(datasetArg) === SAMPLE_DIR;
  // Only the superhero database ships with the sample: select it unless the user chose, or has downloaded more.
  if (onSample && !db?.length && !options.dbRoot) db = ["superhero"];
  // A mistyped --dataset is "not found", whatever else is missing.
  if (datasetArg && !onSample && !(await Deno.stat(datasetArg).then(() => true, () => false))) {
    throw new DatasetError(`${datasetArg}: dataset not found`);
  }
  if (!options.model && !predictions) {
    if (!onSample) {
      throw new DatasetError(
        `${datasetArg}: nothing to score: give --model (with a provider or --base-url) or --predictions`,
      );
    }
    usedDefaults = true;
    predictions = SAMPLE_PREDICTIONS;
  }
  datasetArg ??= join(SAMPLE_DIR, "dev.json");
  const dataset = await loadDataset(datasetArg, { dbRoot: options.dbRoot });
  const examples = selectExamples(dataset, { db, limit: options.limit });
  const { missing, symlinks } = await checkDatabases(dataset, examples, {
    allowSymlinks: options.allowSymlinks,
  });
  if (missing.length) {
    throw new DatasetError(
      `${dataset.path}: missing database${missing.length > 1 ? "s" : ""} under ${dataset.dbRoot}: ${
        missing.join(", ")
      }` +
        " (download them with `deno task download`, or leave them out with --db)",
    );
  }
  const predsFile = predictions ? await loadPredictions(predictions) : null;
  const preds: Predictions | null = predsFile?.entries ?? null;
  if (preds) {
    const stray = [...preds.keys()].filter((i) => i >= dataset.examples.length);
    if (stray.length) {
      console.error(
        `warning: ${predictions}: ${stray.length} prediction(s) index no question of ${dataset.path} ` +
          `(e.g. ${stray.slice(0, 3).join(", ")}): are these predictions for another dataset?`,
      );
    }
    // Unanswered questions score as wrong: a file covering few of them gives a low number that looks real.
    const unanswered = examples.filter((e) => !preds.has(e.index)).length;
    if (unanswered > examples.length / 2) {
      console.error(
        `warning: ${predictions}: ${unanswered} of the ${examples.length} selected questions have no prediction ` +
          `and count as wrong`,
      );
    }
  }
  const promptOptions = resolvePromptOptions(options.prompt);
  const timeoutS = options.timeoutS ?? 30;
  const mode = runMode(options, !!options.model);
  const sampling = {
    temperature: options.temperature ?? 0,
    max_tokens: options.maxTokens ?? null,
    n: options.n ?? 1,
  };

  let client: ModelClient | null = null;
  // Written to run.json: never the credentials a self-hosted URL may carry.
  let publicUrl: string | null = null;
  if (options.model) {
    const config: ModelConfig = {
      provider: options.provider ?? (options.baseUrl ? "openai-compatible" : "openai"),
      baseUrl: options.baseUrl,
      model: options.model,
      temperature: sampling.temperature,
      maxTokens: sampling.max_tokens,
      // Voting asks for K per call, so its first sample shares the single-answer cache key.
      n: 1,
      concurrency: options.concurrency ?? 8,
      maxRetries: options.maxRetries,
      requestTimeoutS: options.requestTimeoutS ?? 120,
      cache: options.cache ?? true,
      cacheDir: options.cacheDir,
      prices: options.prices,
    };
    // Fails fast on a wrong key, model or URL, before anything is written.
    const models = await import("../model/mod.ts");
    client = await models.ModelClient.create(config, options.clientOptions);
    publicUrl = models.publicBaseUrl(client.provider.baseUrl);
  }
  const chat: ToolChat | null = client && mode.name === "agent"
    ? createToolChat(client, { cache: client.cache, where: publicUrl! })
    : null;

  // The agent is shown up to `tool_rows` rows of each result: the pool must keep that many.
  const sampleRows = mode.name === "agent" ? Math.max(10, mode.tool_rows) : undefined;
  const pool = new SqlitePool({
    workers: options.workers,
    timeoutS,
    workerMemory: options.workerMemory,
    sampleRows,
  });
  let releaseLock = () => {};
  pool.allow([...new Set(examples.map((e) => dbPath(dataset.dbRoot, e.db_id)))]);
  try {
    const info: RunInfo = {
      dataset: { path: dataset.path, sha256: dataset.sha256, count: dataset.examples.length },
      selection: { db: db ?? [], limit: options.limit ?? null, indices: examples.map((e) => e.index) },
      db_root: dataset.dbRoot,
      predictions: predictions ? resolve(predictions) : null,
      predictions_sha256: predsFile?.sha256 ?? null,
      model: options.model ?? null,
      provider: client ? client.provider.provider : null,
      base_url: publicUrl,
      model_identity: client ? client.identityLabel : null,
      prompt: {
        version: PROMPT_VERSION,
        hash: client
          ? (mode.name === "agent"
            ? agentTemplateHash(promptOptions, mode.tool_rows)
            : templateHash(promptOptions))
          : null,
        options: client ? { ...promptOptions } : {},
      },
      sampling: client ? sampling : { temperature: 0, max_tokens: null, n: 1 },
      evaluator: EVALUATOR,
      timeout_s: timeoutS,
      ves: options.ves ?? null,
      sqlite_version: await pool.sqliteVersion(),
      engine: ENGINE_OPTIONS,
      code_version: await codeVersion(),
      started_at: new Date().toISOString(),
      finished_at: null,
      mode,
      ...(symlinks.length ? { db_symlinks: symlinks } : {}),
    };
    const name = options.model ?? basename(dirname(resolve(predictions!)));
    const dir = resolve(options.out ?? join("runs", `${timestamp()}-${safeName(name)}`));
    try {
      await Deno.mkdir(dir, { recursive: true });
    } catch (e) {
      throw new DatasetError(`--out ${dir}: cannot create the run folder (${(e as Error).message})`);
    }
    // Held from before results.jsonl is read until its writer is closed: never two appenders.
    const lock = await lockRun(dir);
    releaseLock = () => lock.release();
    const previous = await readRunInfo(dir);
    if (previous) {
      const diff = differences(previous, info);
      const other = modeMismatch(previous.mode, mode);
      if (other) diff.unshift(other);
      if (diff.length) {
        throw new RunMismatchError(`${dir} holds a different run; not resuming: ${diff.join("; ")}`);
      }
      info.started_at = previous.started_at;
    }
    // Agent start-up, once the folder is known to fit: one (cached) turn proves the endpoint does tool calls
    // before anything is written.
    if (chat) await probeTools(chat, EXECUTE_SQL_TOOL, publicUrl!);
    await writeJsonAtomic(join(dir, RUN_FILES.info), info);

    const { records, intactBytes } = await readResults(dir);
    const todo = examples.filter((e) => {
      const r = records.get(e.index);
      return !r || (options.retryFailed && r.status === "generation_error");
    });
    const writer = await ResultsWriter.open(dir, intactBytes);
    const gold = new GoldCache({ dir: options.goldCacheDir });
    const progress = createProgress(todo.length, {
      label: options.model ?? "predictions",
      quiet: options.quiet ?? false,
      silent: options.silent ?? false,
    });
    const state: EvalProgress = { done: 0, total: todo.length, correct: 0, errors: 0 };
    const ctx: Ctx = {
      dbRoot: dataset.dbRoot,
      prompts: null,
      pool,
      gold,
      client,
      preds,
      promptOptions,
      ves: options.ves ?? null,
      mode,
      chat,
      sampling: { honoursN: null },
      where: publicUrl ?? "the endpoint",
    };

    if (client) {
      // Built once: the context check and the requests use the same messages.
      ctx.prompts = new Map(todo.map((ex) => [ex.index, messagesFor(ex, ctx)]));
      warnTooLong(client, todo, ctx.prompts);
    }
    const queue = [...todo];
    const lanes = client ? Math.max(1, (options.concurrency ?? 8) + pool.workers) : pool.workers * 2;
    let failure: unknown = null;
    const commit = async (rec: ResultRecord) => {
      await writer.append(rec);
      records.set(rec.index, rec);
      state.done++;
      if (rec.status === "correct") state.correct++;
      const isError = rec.status !== "correct" && rec.status !== "wrong";
      if (isError) state.errors++;
      progress.tick({ error: isError });
      options.onProgress?.({ ...state });
    };
    // A dying endpoint must not read as a bad model: generation failures are held back until an answer that
    // arrived after them proves the endpoint alive (then they are those questions' own); after `maxFails` held
    // in a row nothing more is sent and they are dropped, for the resume to ask again. Times are when the answer
    // or the last failure came, not when scoring ended, so a slow SQL execution cannot reorder them; a cached
    // answer proves nothing about the endpoint.
    const maxFails = client ? options.maxConsecutiveFailures ?? 5 : 0;
    let streak: { rec: ResultRecord; at: number }[] = [];
    let aliveAt = -Infinity;
    let stopped: string | null = null;
    const lane = async () => {
      while (queue.length && failure === null && stopped === null) {
        const ex = queue.shift()!;
        try {
          const t0 = performance.now();
          const rec = await scoreQuestion(ex, ctx);
          const at = t0 + (rec.timings.generation_ms ?? 0);
          if (maxFails === 0 || rec.cached) {
            await commit(rec);
          } else if (rec.status === "generation_error") {
            if (stopped !== null) continue;
            if (at < aliveAt) {
              await commit(rec);
              continue;
            }
            streak.push({ rec, at });
            if (streak.length >= maxFails) {
              stopped = rec.error ?? "unknown error";
              streak = [];
              // Questions in flight would only wait out their retries: cut them short (asked again on resume).
              client!.stop();
            }
          } else {
            aliveAt = Math.max(aliveAt, at);
            const before = streak.filter((f) => f.at < at);
            streak = streak.filter((f) => f.at >= at);
            for (const f of before) await commit(f.rec);
            await commit(rec);
          }
        } catch (e) {
          failure = e;
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(lanes, Math.max(1, todo.length)) }, lane));
      // Failures at the very end with no stop: they are the questions' own.
      if (failure === null && stopped === null) { for (const f of streak) await commit(f.rec); }
    } finally {
      progress.done();
      await writer.close();
      await gold.flush();
    }
    if (failure !== null) throw failure;

    const selected = examples.map((e) => records.get(e.index)).filter((r): r is ResultRecord => !!r);
    const costs = selected.map((r) => r.cost_usd).filter((c): c is number => typeof c === "number");
    const summary: Summary = summarize(selected, {
      ves: !!options.ves,
      costUsd: costs.length ? costs.reduce((a, b) => a + b, 0) : null,
      unfinished: examples.length - selected.length,
    });
    if (mode.name === "voting" && client) {
      summary.voting = votingSummary(
        selected.map((r) => ({
          difficulty: r.difficulty,
          candidates: (r.candidates ?? []).map((c) => ({ ...c, correct: c.correct === true })),
        })),
        mode.n,
      );
    }
    if (stopped !== null) {
      // Not finished: no predictions file and no finished_at, but a summary that says how far it got.
      await writeJsonAtomic(join(dir, RUN_FILES.summary), summary);
      throw new EndpointError(
        `${publicUrl}: ${maxFails} questions in a row failed to generate, stopped (last error: ${stopped}); ` +
          `${selected.length} of ${examples.length} questions are done and kept in ${dir}: ` +
          "rerun the same command to resume",
      );
    }
    await writeJsonAtomic(join(dir, RUN_FILES.predictions), predictionsFile(selected));
    await writeJsonAtomic(join(dir, RUN_FILES.summary), summary);
    await writeJsonAtomic(join(dir, RUN_FILES.info), { ...info, finished_at: new Date().toISOString() });
    return { dir, summary, records: selected, usedDefaults, gold: { hits: gold.hits, misses: gold.misses } };
  } finally {
    await pool.close();
    releaseLock();
  }
}

interface Ctx {
  dbRoot: string;
  /** The messages of each question to ask, by dataset index (model runs only). */
  prompts: Map<number, ChatMessage[]> | null;
  pool: SqlitePool;
  gold: GoldCache;
  client: ModelClient | null;
  preds: Predictions | null;
  promptOptions: PromptOptions;
  ves: number | null;
  mode: RunMode;
  /** Agent mode: the tool chat over the client (cached per turn). */
  chat: ToolChat | null;
  /** Voting: whether the endpoint honours `n`, learnt once for the run. */
  sampling: SamplingState;
  /** The endpoint as it may be shown. */
  where: string;
}

/**
 * The mode the options ask for (its warnings printed); a predictions run is always single-answer and refuses
 * the model-only mode flags.
 */
function runMode(options: EvalOptions, hasModel: boolean): RunMode {
  if (!hasModel) {
    if (options.agent || (options.n ?? 1) > 1) {
      throw new DatasetError(
        `${options.agent ? "--agent" : "--n"} needs --model: a predictions file has one answer`,
      );
    }
    return { name: "single" };
  }
  const { mode, warnings } = resolveMode({
    n: options.n,
    agent: options.agent,
    maxTurns: options.maxTurns,
    temperature: options.temperature,
  });
  for (const w of warnings) console.error(w);
  return mode;
}

function messagesFor(ex: Example, ctx: Ctx): ChatMessage[] {
  const schema = renderSchema(dbPath(ctx.dbRoot, ex.db_id), {
    sampleRows: ctx.promptOptions.sampleRows,
    descriptions: ctx.promptOptions.descriptions,
  });
  // The agent's user turn is the same renderer's; only its system prompt adds the tool.
  return ctx.mode.name === "agent"
    ? buildAgentMessages(ex, schema, ctx.promptOptions)
    : buildMessages(ex, schema, ctx.promptOptions);
}

/**
 * Flag, before any paid request, the questions whose prompt (estimated) would overflow the model's context
 * window. They are still sent: the estimate is a heuristic, and a server that refuses a prompt answers 400,
 * which is recorded as that question's `generation_error` without retries.
 */
function warnTooLong(client: ModelClient, todo: Example[], prompts: Map<number, ChatMessage[]>): void {
  const over = client.checkContext(todo.map((ex) => prompts.get(ex.index)!));
  if (!over.length) return;
  const list = over.slice(0, 10).map((o) => `#${todo[o.index].index} (~${o.estimatedPromptTokens} tokens)`);
  console.error(
    `warning: ${over.length} prompt(s) may exceed ${client.model}'s context window of ${
      over[0].contextWindow
    } tokens ` +
      `(estimate, ${over[0].reservedTokens} reserved for the answer): ${list.join(", ")}${
        over.length > 10 ? ", …" : ""
      }`,
  );
}

/** Cost of this run's requests: an answer served from the cache cost nothing this time. */
function costOf(ctx: Ctx, usage: { prompt: number; completion: number }, cached: boolean): number | null {
  const cost = ctx.client!.costUsd(usage);
  return cost === null ? null : cached ? 0 : cost;
}

/** Single answer: one completion, its SQL extracted. */
async function generateSingle(rec: ResultRecord, messages: ChatMessage[], ctx: Ctx): Promise<void> {
  const c = await ctx.client!.complete(messages);
  rec.completion = c.texts[0] ?? "";
  rec.tokens = { prompt: c.usage.prompt, completion: c.usage.completion };
  rec.cached = c.cached;
  rec.cost_usd = costOf(ctx, c.usage, c.cached);
  rec.sql = extractSql(rec.completion);
}

/**
 * Self-consistency: K samples, each distinct SQL executed once through the pool, the vote over their results
 * (gold is not among its inputs); the answer is what gets scored. Candidates are scored after, in
 * {@linkcode scoreQuestion}.
 */
async function generateVoting(rec: ResultRecord, messages: ChatMessage[], ctx: Ctx): Promise<void> {
  const k = (ctx.mode as { n: number }).n;
  const set = await sampleCompletions(messages, k, ctx.client!, {
    cache: ctx.client!.cache,
    state: ctx.sampling,
  });
  rec.timings.generation_ms = Math.round(set.ms);
  const db = dbPath(ctx.dbRoot, rec.db_id);
  const voted = await voteOnCompletions(set.texts, async (sql) => outcomeOf(await ctx.pool.execute(db, sql)));
  rec.completion = voted.completion;
  rec.sql = voted.sql;
  rec.tokens = { prompt: set.usage.prompt, completion: set.usage.completion };
  rec.cached = set.cached;
  rec.cost_usd = costOf(ctx, set.usage, set.cached);
  Object.assign(rec, voted.fields);
}

/** Agent: the tool loop on the question's database (the sandboxed pool); its answer is what gets scored. */
async function generateAgent(rec: ResultRecord, messages: ChatMessage[], ctx: Ctx): Promise<void> {
  const mode = ctx.mode as { max_turns: number; tool_rows: number };
  const db = dbPath(ctx.dbRoot, rec.db_id);
  const run = await runAgent(messages, {
    chat: ctx.chat!,
    execute: poolExecutor(ctx.pool, db, { rows: mode.tool_rows }),
  }, { maxTurns: mode.max_turns, toolRows: mode.tool_rows, where: ctx.where });
  const r = agentRecord(run);
  rec.completion = r.completion;
  rec.sql = r.sql;
  rec.tokens = r.tokens;
  rec.cached = r.cached;
  rec.cost_usd = costOf(ctx, r.tokens, r.cached);
  rec.timings.generation_ms = r.generation_ms;
  Object.assign(rec, r.fields);
}

/**
 * One question scored; in voting mode each candidate then gets its verdict against gold, for the analysis
 * figures only (the vote and the answer are already fixed).
 */
async function scoreQuestion(ex: Example, ctx: Ctx): Promise<ResultRecord> {
  const rec = await scoreExample(ex, ctx);
  if (!rec.candidates) return rec;
  const db = dbPath(ctx.dbRoot, ex.db_id);
  // Candidates' digests are `voting.ts` result digests of their rows, so gold is executed for its rows here too
  // (the gold cache holds the worker's compare form instead). When every candidate failed nothing can be correct.
  let gold: ExecResult | null = null;
  if (rec.candidates.some((c) => c.digest !== null)) gold = await ctx.pool.execute(db, ex.sql);
  const goldOutcome = gold ? outcomeOf(gold) : null;
  rec.candidates = scoreCandidates(rec.candidates, goldOutcome?.ok ? goldOutcome.digest : null);
  return rec;
}

/** Generate (or look up) the SQL of one question, execute it and the gold SQL, and compare. */
async function scoreExample(ex: Example, ctx: Ctx): Promise<ResultRecord> {
  const rec: ResultRecord = {
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
  const db = dbPath(ctx.dbRoot, ex.db_id);
  const finish = (status: Status, error: string | null): ResultRecord => ({ ...rec, status, error });

  if (ctx.client) {
    const messages = ctx.prompts!.get(ex.index)!;
    rec.prompt_hash = promptHash(messages);
    const t0 = performance.now();
    try {
      if (ctx.mode.name === "voting") await generateVoting(rec, messages, ctx);
      else if (ctx.mode.name === "agent") await generateAgent(rec, messages, ctx);
      else await generateSingle(rec, messages, ctx);
      rec.timings.generation_ms ??= Math.round(performance.now() - t0);
    } catch (e) {
      // A failure after all retries (models.ts GenerationError); anything else is a bug and propagates.
      if ((e as Error).name !== "GenerationError") throw e;
      rec.timings.generation_ms = Math.round(performance.now() - t0);
      return finish("generation_error", (e as Error).message);
    }
  } else {
    const p = ctx.preds?.get(ex.index);
    if (!p) return finish("pred_error", "no prediction");
    if ("error" in p) return finish("pred_error", p.error);
    rec.sql = p.sql;
    // The official script runs a prediction on the database it names; a different one than the question's means
    // the predictions belong to another dataset or order, which must not pass silently.
    if (p.db !== null && p.db !== ex.db_id) {
      return finish("pred_error", `prediction names database ${p.db}, the question is on ${ex.db_id}`);
    }
  }

  // As the official script: the prediction first, and the gold query only when the prediction ran (a failed
  // prediction is wrong whatever the gold result). Both run and are compared in one worker, in one round trip; a
  // cached gold result travels as its digest, and is shown even for a failed prediction.
  const cached = await ctx.gold.peek(db, ex.sql);
  const out = await ctx.pool.score(db, rec.sql!, { gold: cached && !cached.ok ? null : cached ?? ex.sql });
  const pred = out.pred;
  const goldRes = cached ?? out.gold;
  if (cached && pred.ok) ctx.gold.hits++;
  if (out.goldExecuted && out.gold) ctx.gold.record(db, ex.sql, out.gold);
  rec.pred = shape(pred);
  rec.timings.pred_ms = Math.round(pred.ms * 100) / 100;
  rec.gold = shape(goldRes);
  rec.timings.gold_ms = goldRes?.ok ? Math.round(goldRes.execMs * 100) / 100 : null;
  if (!pred.ok) return finish(pred.kind === "timeout" ? "timeout" : "pred_error", pred.error);
  if (!goldRes) throw new Error("unreachable: a prediction that ran always gets its gold result");
  if (!goldRes.ok) return finish("gold_error", `gold SQL failed: ${goldRes.error}`);
  rec.soft_f1 = out.softF1;
  if (!out.match) return finish("wrong", null);
  if (ctx.ves) rec.ves_reward = await timeVes(ctx, db, rec.sql!, ex.sql, ctx.ves);
  return finish("correct", null);
}

/** R-VES reward: time pred and gold `reps` times each (never from cache) and reward the mean ratio. */
async function timeVes(
  ctx: Ctx,
  db: string,
  predSql: string,
  goldSql: string,
  reps: number,
): Promise<number> {
  const predMs: number[] = [];
  const goldMs: number[] = [];
  for (let i = 0; i < reps; i++) {
    const p = await ctx.pool.execute(db, predSql);
    const g = await ctx.pool.execute(db, goldSql);
    if (!p.ok || !g.ok) return 0;
    predMs.push(p.execMs);
    goldMs.push(g.execMs);
  }
  return vesReward(timeRatio(goldMs, predMs));
}

/**
 * One evaluation run: (generate →) extract → execute → compare, streaming each question's record to the run
 * log as it completes, resumable after a kill, and refusing to mix two different configurations in one folder.
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import { EVALUATOR, exMatch, softF1, timeRatio, vesReward } from "./compare.ts";
import {
  DatasetError,
  dbPath,
  loadDataset,
  loadPredictions,
  missingDatabases,
  type Predictions,
  selectExamples,
} from "./dataset.ts";
import { GoldCache } from "./gold_cache.ts";
// Types only: the OpenAI client is loaded when a model is asked for, so scoring a predictions file starts fast.
import type { ModelClient, ModelClientOptions, ModelConfig, Provider } from "./models.ts";
import { createProgress } from "./progress.ts";
import {
  buildMessages,
  PROMPT_VERSION,
  promptHash,
  type PromptOptions,
  resolvePromptOptions,
  templateHash,
} from "./prompts.ts";
import {
  formatSummaryTable,
  predictionsFile,
  readResults,
  readRunInfo,
  ResultsWriter,
  RUN_FILES,
  summarize,
} from "./run_log.ts";
import { writeJsonAtomic } from "./files.ts";
import { renderSchema } from "./schema.ts";
import { extractSql } from "./sql_extract.ts";
import { type ExecResult, SqlitePool } from "./sqlite_pool.ts";
import type { ChatMessage, Example, ResultRecord, ResultShape, RunInfo, Status, Summary } from "./types.ts";

export { formatSummaryTable };

/** Where the bundled sample lives (independent of the current directory: notebooks run in `notebooks/`). */
export const SAMPLE_DIR: string = resolve(dirname(new URL(import.meta.url).pathname), "..", "data", "sample");
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
  temperature?: number;
  maxTokens?: number | null;
  n?: number;
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

function shape(r: ExecResult | null | undefined): ResultShape | null {
  if (!r || !r.ok) return null;
  return { columns: r.columns, rows: r.rowCount, distinct_rows: r.rows.length, sample: r.sample };
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
  const missing = await missingDatabases(dataset, examples);
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
      n: sampling.n,
      concurrency: options.concurrency ?? 8,
      requestTimeoutS: options.requestTimeoutS ?? 120,
      cache: options.cache ?? true,
      cacheDir: options.cacheDir,
      prices: options.prices,
    };
    // Fails fast on a wrong key, model or URL, before anything is written.
    const models = await import("./models.ts");
    client = await models.ModelClient.create(config, options.clientOptions);
    publicUrl = models.publicBaseUrl(client.provider.baseUrl);
  }

  const pool = new SqlitePool({ workers: options.workers, timeoutS });
  let releaseLock = async () => {};
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
        hash: client ? templateHash(promptOptions) : null,
        options: client ? { ...promptOptions } : {},
      },
      sampling: client ? sampling : { temperature: 0, max_tokens: null, n: 1 },
      evaluator: EVALUATOR,
      timeout_s: timeoutS,
      ves: options.ves ?? null,
      sqlite_version: await pool.sqliteVersion(),
      code_version: await codeVersion(),
      started_at: new Date().toISOString(),
      finished_at: null,
    };
    const name = options.model ?? basename(dirname(resolve(predictions!)));
    const dir = resolve(options.out ?? join("runs", `${timestamp()}-${safeName(name)}`));
    try {
      await Deno.mkdir(dir, { recursive: true });
    } catch (e) {
      throw new DatasetError(`--out ${dir}: cannot create the run folder (${(e as Error).message})`);
    }
    releaseLock = await lockRun(dir);
    const previous = await readRunInfo(dir);
    if (previous) {
      const diff = differences(previous, info);
      if (diff.length) {
        throw new RunMismatchError(`${dir} holds a different run; not resuming: ${diff.join("; ")}`);
      }
      info.started_at = previous.started_at;
    }
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
    };

    if (client) {
      // Built once: the context check and the requests use the same messages.
      ctx.prompts = new Map(todo.map((ex) => [ex.index, messagesFor(ex, ctx)]));
      warnTooLong(client, todo, ctx.prompts);
    }
    const queue = [...todo];
    const lanes = client ? Math.max(1, (options.concurrency ?? 8) + pool.workers) : pool.workers * 2;
    let failure: unknown = null;
    const lane = async () => {
      while (queue.length && failure === null) {
        const ex = queue.shift()!;
        try {
          const rec = await scoreExample(ex, ctx);
          await writer.append(rec);
          records.set(ex.index, rec);
          state.done++;
          if (rec.status === "correct") state.correct++;
          const isError = rec.status !== "correct" && rec.status !== "wrong";
          if (isError) state.errors++;
          progress.tick({ error: isError });
          options.onProgress?.({ ...state });
        } catch (e) {
          failure = e;
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(lanes, Math.max(1, todo.length)) }, lane));
    } finally {
      progress.done();
      await writer.close();
      await gold.flush();
    }
    if (failure !== null) throw failure;

    const selected = examples.map((e) => records.get(e.index)!);
    const costs = selected.map((r) => r.cost_usd).filter((c): c is number => typeof c === "number");
    const summary = summarize(selected, {
      ves: !!options.ves,
      costUsd: costs.length ? costs.reduce((a, b) => a + b, 0) : null,
    });
    await writeJsonAtomic(join(dir, RUN_FILES.predictions), predictionsFile(selected));
    await writeJsonAtomic(join(dir, RUN_FILES.summary), summary);
    await writeJsonAtomic(join(dir, RUN_FILES.info), { ...info, finished_at: new Date().toISOString() });
    return { dir, summary, records: selected, usedDefaults, gold: { hits: gold.hits, misses: gold.misses } };
  } finally {
    await pool.close();
    await releaseLock();
  }
}

/**
 * Take `<dir>/.lock` for this process: two runs appending to one `results.jsonl` would interleave and corrupt it.
 * A lock left by a process that no longer exists (killed) is taken over. Returns the release function.
 */
async function lockRun(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, ".lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await Deno.writeTextFile(path, String(Deno.pid), { createNew: true });
      return async () => {
        await Deno.remove(path).catch(() => {});
      };
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      const pid = Number((await Deno.readTextFile(path).catch(() => "")).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== Deno.pid && processAlive(pid)) {
        throw new RunMismatchError(
          `${dir} is being written by another run (pid ${pid}); wait for it or use another --out`,
        );
      }
      await Deno.remove(path).catch(() => {});
    }
  }
  throw new RunMismatchError(`${dir}: cannot take the run lock ${path}`);
}

function processAlive(pid: number): boolean {
  try {
    // SIGCONT is harmless to a running process; an error means there is no such process.
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
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
}

function messagesFor(ex: Example, ctx: Ctx): ChatMessage[] {
  const schema = renderSchema(dbPath(ctx.dbRoot, ex.db_id), {
    sampleRows: ctx.promptOptions.sampleRows,
    descriptions: ctx.promptOptions.descriptions,
  });
  return buildMessages(ex, schema, ctx.promptOptions);
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
      const c = await ctx.client.complete(messages);
      rec.timings.generation_ms = Math.round(performance.now() - t0);
      rec.completion = c.texts[0] ?? "";
      if (c.texts.length > 1) rec.completions = c.texts;
      rec.tokens = { prompt: c.usage.prompt, completion: c.usage.completion };
      rec.cached = c.cached;
      // Cost is money this run spent: an answer served from the cache cost nothing this time.
      rec.cost_usd = c.cached
        ? (ctx.client.costUsd(c.usage) === null ? null : 0)
        : ctx.client.costUsd(c.usage);
      rec.sql = extractSql(rec.completion);
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
  // prediction is wrong whatever the gold result). Both go to one worker in one round trip unless the gold result
  // is cached; a cached gold result is shown even for a failed prediction.
  let pred: ExecResult;
  let goldRes = await ctx.gold.peek(db, ex.sql);
  if (goldRes) {
    pred = await ctx.pool.execute(db, rec.sql!);
    if (pred.ok) ctx.gold.hits++;
  } else {
    const results = await ctx.pool.executeEach(db, [rec.sql!, ex.sql]);
    pred = results[0];
    if (results[1]) {
      goldRes = results[1];
      await ctx.gold.record(db, ex.sql, goldRes);
    }
  }
  rec.pred = shape(pred);
  rec.timings.pred_ms = Math.round(pred.ms * 100) / 100;
  rec.gold = shape(goldRes);
  rec.timings.gold_ms = goldRes?.ok ? Math.round(goldRes.execMs * 100) / 100 : null;
  if (!pred.ok) return finish(pred.kind === "timeout" ? "timeout" : "pred_error", pred.error);
  if (!goldRes) throw new Error("unreachable: a prediction that ran always gets its gold result");
  if (!goldRes.ok) return finish("gold_error", `gold SQL failed: ${goldRes.error}`);
  rec.soft_f1 = softF1(pred, goldRes);
  if (!exMatch(pred, goldRes)) return finish("wrong", null);
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

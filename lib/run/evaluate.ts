/**
 * One evaluation run as its stages, top to bottom: select the questions, open the model and the run folder
 * (refusing to mix two configurations, resuming after a kill), build the prompts, then, through parallel lanes,
 * each question generated, extracted, executed and compared (`question.ts`) and its record streamed to the run
 * log as it completes (`record.ts`), and last the run's closing files.
 *
 * @module
 */
import { join } from "node:path";
import { type EngineInfo, GoldCache, type SqlEngine } from "../exec/mod.ts";
import { probeTools, scrubDeep } from "../model/mod.ts";
import { executeSqlTool, resolvePromptOptions } from "../prompt/mod.ts";
import type { Example, ResultRecord } from "../types.ts";
import { createProgress, writeJsonAtomic } from "../util/mod.ts";
import { createContext, type RunContext } from "./context.ts";
import { DEFAULT_QUESTION_TIMEOUT_S } from "./agent.ts";
import { type LanesOutcome, runLanes } from "./lanes.ts";
import type { EvalOptions, EvalResult, ReuseCounts } from "./options.ts";
import { buildPrompts, prepareQuestionSchemas, prepareSchemas } from "./prompt_stage.ts";
import { runQuestion } from "./question.ts";
import { closeRun, recorder, stopRun, summarizeRun } from "./record.ts";
import { checkResume, claimFolder, describeRun, pendingWork, runDir } from "./run_folder.ts";
import { formatSummaryTable, openResultsWriter, RUN_FILES } from "./run_log.ts";
import { type OpenModel, openModel, openPool, runMode, runScrubber, selectQuestions } from "./setup.ts";

export { formatSummaryTable };
export {
  EndpointError,
  type EvalOptions,
  type EvalProgress,
  type EvalResult,
  type ReuseCounts,
  RunMismatchError,
  SAMPLE_DIR,
  SAMPLE_PREDICTIONS,
} from "./options.ts";

/**
 * Run (or resume) an evaluation and write its run directory.
 *
 * With neither `model` nor `predictions` and no `dataset`, it scores the bundled official baseline predictions
 * on the bundled superhero sample.
 */
export async function runEvaluation(options: EvalOptions = {}): Promise<EvalResult> {
  const selection = await selectQuestions(options);
  // The prompt names the run's dialect and renders its schema in it (nothing is added for SQLite).
  const promptOptions = resolvePromptOptions({ ...options.prompt, dialect: options.dialect ?? "sqlite" });
  const mode = runMode(options);
  const model = await openModel(options, mode);
  const pool = await openPool(selection, mode, options);
  // The engine has registered its server URL's credentials: the scrubber knows them with the model's.
  const scrub = runScrubber(model);
  let releaseLock = () => {};
  try {
    const described = await describeRun(selection, model, { mode, promptOptions, pool, options });
    // run.json passes the run's one scrubber like every record.
    const info = scrub ? scrubDeep(described, scrub) : described;
    const dir = runDir(selection, options);
    const lock = await claimFolder(dir);
    releaseLock = () => lock.release();
    await checkResume(dir, info);
    // Agent start-up, once the folder is known to fit: one (cached) turn proves the endpoint does tool calls
    // before anything is written.
    if (model?.chat) await probeTools(model.chat, executeSqlTool(pool.dialect), model.publicUrl);
    await writeJsonAtomic(join(dir, RUN_FILES.info), info);

    const pending = await pendingWork(dir, selection.examples, { retryFailed: options.retryFailed });
    const gold = goldCacheFor(pool, info.engine_info, options);
    const ctx = createContext(selection, model, {
      pool,
      gold,
      promptOptions,
      mode,
      ves: options.ves ?? null,
      questionTimeoutS: mode.name === "agent" ? options.questionTimeoutS ?? DEFAULT_QUESTION_TIMEOUT_S : null,
    });
    const scored = { fresh: 0, cached: 0 };
    const { stopped } = await scoreAll(pending, ctx, { dir, model, options, scored, scrub });
    // Nothing more to execute: the workers stop while the closing files are written.
    pool.close().catch(() => {});

    const { examples } = selection;
    const run = summarizeRun(examples, pending.records, { ves: !!options.ves, mode, hasModel: !!model });
    const engine = info.engine_info;
    if (engine && engine.dialect !== "sqlite") run.summary.engine = engineLabel(engine);
    if (stopped !== null) {
      const maxFails = options.maxConsecutiveFailures ?? 5;
      const stop = { where: model!.publicUrl, maxFails, lastError: stopped, done: run.selected.length };
      await stopRun(dir, run.summary, { ...stop, total: examples.length });
    }
    await closeRun(dir, info, run);
    const { hits, misses } = gold;
    const { summary, selected } = run;
    const reuse: ReuseCounts = {
      fromLog: selected.length - scored.fresh,
      fromCache: scored.cached,
      fresh: scored.fresh - scored.cached,
    };
    return {
      dir,
      summary,
      records: selected,
      usedDefaults: selection.usedDefaults,
      gold: { hits, misses },
      reuse,
    };
  } finally {
    await pool.close();
    releaseLock();
  }
}

/** The engine as the summary line names it: `postgresql (PGlite 18.6)`, `mysql (server 10.11.19-MariaDB)`. */
function engineLabel(e: EngineInfo): string {
  const version = e.version.replace(/\s*\(PGlite\)$/, "");
  return `${e.dialect} (${e.engine === "pglite" ? "PGlite" : "server"} ${version})`;
}

/**
 * Questions in flight per worker when scoring a predictions file: enough that quick questions reach a worker in
 * batches (its pipeline, `worker_pool.ts`), one write for many.
 */
const PREDICTION_LANES_PER_WORKER = 16;

/**
 * The gold cache for the run's engine: SQLite keys entries by the database file's hash (its default); another
 * engine by the content key it knows (a database loaded by `deno task db load`), and its semantics and version.
 */
function goldCacheFor(engine: SqlEngine, info: EngineInfo | undefined, options: EvalOptions): GoldCache {
  if (engine.dialect === "sqlite" || !info) return new GoldCache({ dir: options.goldCacheDir });
  return new GoldCache({
    dir: options.goldCacheDir,
    engine: `${info.semantics} ${info.engine}=${info.version}`,
    contentKey: (target) => engine.contentKey(target),
  });
}

/**
 * The questions still to do through the lanes: prompts built (model runs), each question run and its record
 * appended as the failure stop releases it, counted in `scored` (and those answered from the completion cache);
 * the writer closed and the gold cache flushed whatever happens.
 */
async function scoreAll(
  pending: { todo: Example[]; records: Map<number, ResultRecord>; intactBytes: number },
  ctx: RunContext,
  { dir, model, options, scored, scrub }: {
    dir: string;
    model: OpenModel | null;
    options: EvalOptions;
    scored: { fresh: number; cached: number };
    scrub: ((text: string) => string) | undefined;
  },
): Promise<LanesOutcome> {
  const { todo, records } = pending;
  const writer = await openResultsWriter(dir, pending.intactBytes);
  const progress = createProgress(todo.length, {
    label: options.model ?? "predictions",
    quiet: options.quiet ?? false,
    // Nothing to do (a finished run resumed): no "0/0 100%" line; the caller says what was reused.
    silent: (options.silent ?? false) || todo.length === 0,
  });
  const record = recorder(todo.length, {
    writer,
    records,
    progress,
    onProgress: options.onProgress,
    scrub,
  });
  const commit = async (rec: ResultRecord) => {
    scored.fresh++;
    if (rec.cached) scored.cached++;
    await record(rec);
  };
  // Built once: the context check and the requests use the same messages.
  if (model) {
    ctx.schemas = await prepareSchemas(todo.map((e) => e.db_id), ctx.pool, ctx);
    ctx.questionSchemas = await prepareQuestionSchemas(todo, ctx.pool, {
      ...ctx,
      quiet: options.quiet,
      silent: options.silent,
    });
    ctx.prompts = buildPrompts(todo, model.client, ctx);
  }
  try {
    return await runLanes(todo, {
      lanes: model
        ? Math.max(1, (options.concurrency ?? 8) + ctx.pool.workers)
        : ctx.pool.workers * PREDICTION_LANES_PER_WORKER,
      maxFails: model ? options.maxConsecutiveFailures ?? 5 : 0,
      run: (ex) => runQuestion(ex, ctx),
      commit,
      onStop: () => model!.client.stop(),
    });
  } finally {
    progress.done();
    await writer.close();
    await ctx.gold.flush();
  }
}

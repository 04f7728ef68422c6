/**
 * `02`'s steps: the evaluations it performs (the bundled baseline, then each model), their `runEvaluation` options
 * in the mode the Parameters cell names, and a run with an in-place progress line that counts resumed questions.
 *
 * @module
 */
import { basename, join } from "node:path";
import {
  type EvalOptions,
  type EvalProgress,
  type EvalResult,
  type ReuseCounts,
  runEvaluation,
} from "../run/mod.ts";
import { type Provider, PROVIDERS } from "../model/mod.ts";
import { sha256Hex } from "../util/mod.ts";
import { createNotebookProgress } from "./display.ts";
import { BASELINE_LABEL, type EvalMode, NotebookParamError, type NotebookParams } from "./params.ts";
import { notebookRunsDir, runFolderName } from "./selection.ts";
import { notebookStep } from "./stop.ts";

/** One evaluation `02` performs: a display label and its output folder. */
export interface EvalTarget {
  /** {@linkcode BASELINE_LABEL} for the bundled predictions, else the model name. */
  label: string;
  /** The model, or undefined for the bundled predictions. */
  model: string | undefined;
  /** The bundled predictions file, when `model` is undefined. */
  predictions: string | undefined;
  /**
   * Output folder: `<runsDir>/notebooks/<name>`, the name saying what defines the run ({@linkcode runFolderName}:
   * model, mode, dialect, selection), so a changed parameter picks the run that fits; also how `06` finds them.
   */
  out: string;
}

/** Whether two files have the same bytes (false when either cannot be read). */
function sameContent(a: string, b: string): boolean {
  try {
    const hash = (file: string) => sha256Hex(Deno.readFileSync(file));
    return hash(a) === hash(b);
  } catch {
    return false;
  }
}

/**
 * The evaluations `02` performs: the bundled official baseline (a reference that needs no API), then each model.
 *
 * The baseline predictions are SQLite SQL keyed by position in BIRD dev (2024-06-27), so they are scored only in
 * the `sqlite` dialect and when the dataset is that very file: the bundled sample, or an official download with the
 * same bytes.
 *
 * @param params Notebook parameters.
 * @returns Targets in order.
 */
export function evalTargets(params: NotebookParams): EvalTarget[] {
  const targets: EvalTarget[] = [];
  const runs = notebookRunsDir(params.runsDir);
  const file = params.dataset.endsWith(".json") ? params.dataset : join(params.dataset, "dev.json");
  const baseline = file === params.sampleDataset || sameContent(file, params.sampleDataset);
  if (baseline && params.dialect === "sqlite") {
    targets.push({
      label: BASELINE_LABEL,
      model: undefined,
      predictions: params.samplePredictions,
      out: join(runs, runFolderName(BASELINE_LABEL, { ...params, mode: { name: "single" }, values: 0 })),
    });
  }
  for (const model of params.models) {
    targets.push({
      label: model,
      model,
      predictions: undefined,
      out: join(runs, runFolderName(model, params)),
    });
  }
  return targets;
}

/** The `runEvaluation` options that select a mode (none for one answer). */
function modeOptions(mode: EvalMode): Partial<EvalOptions> {
  if (mode.name === "voting") return { n: mode.n, temperature: mode.temperature };
  if (mode.name === "agent") return { agent: true, maxTurns: mode.maxTurns };
  return {};
}

/**
 * The `runEvaluation` options for one of `02`'s targets: the dataset selection and endpoint from the parameters, a
 * fixed `out` folder (so rerunning resumes), and no terminal output (the notebook shows its own progress).
 *
 * @param params Notebook parameters.
 * @param target One of {@linkcode evalTargets}.
 * @param onProgress Progress callback, e.g. a notebook progress display.
 * @returns Options for `runEvaluation`.
 * @throws {NotebookParamError} For an unknown `TEXT2SQL_PROVIDER`.
 */
export function evalOptionsFor(
  params: NotebookParams,
  target: EvalTarget,
  onProgress?: (p: EvalProgress) => void,
): EvalOptions {
  const provider = params.provider;
  if (provider !== undefined && !(PROVIDERS as readonly string[]).includes(provider)) {
    throw new NotebookParamError(
      `PROVIDER (TEXT2SQL_PROVIDER) must be one of ${PROVIDERS.join(", ")}, got ${provider}: ` +
        "fix it in the Parameters cell",
    );
  }
  const options: EvalOptions = {
    // SQLite, or PostgreSQL/MySQL: a server from TEXT2SQL_DB_URL, else (PostgreSQL) an embedded one.
    ...(params.dialect === "sqlite" ? {} : { dialect: params.dialect, dbUrl: params.dbUrl }),
    dataset: params.dataset,
    dbRoot: params.dbRoot,
    db: params.db,
    limit: params.limit,
    out: target.out,
    // The notebook draws its own progress (onProgress); nothing goes to the Jupyter server's log.
    silent: true,
    onProgress,
  };
  if (target.model !== undefined) {
    return {
      ...options,
      model: target.model,
      baseUrl: params.baseUrl,
      provider: provider as Provider | undefined,
      ...modeOptions(params.mode),
      ...(params.values > 0 ? { prompt: { values: params.values } } : {}),
    };
  }
  return { ...options, predictions: target.predictions };
}

/** One finished evaluation of `02`, with where its answers came from (`reuse`). */
export interface NotebookEvalResult extends EvalResult {
  label: string;
}

/**
 * What one evaluation reused, in words: `129 from the run log, 0 from the completion cache, 0 asked the model`
 * (a predictions run: `… scored from the predictions file`).
 *
 * @param reuse The counts of the run.
 * @param model Whether the run asked a model.
 */
export function reuseText(reuse: ReuseCounts, model: boolean): string {
  return `${reuse.fromLog} from the run log, ${reuse.fromCache} from the completion cache, ${reuse.fresh} ` +
    (model ? "asked the model" : "scored from the predictions file");
}

/**
 * Runs (or resumes) one of `02`'s evaluations with an in-place progress line that ends by saying where the answers
 * came from: the run log (finished earlier), the completion cache, or new requests to the model.
 *
 * @param params Notebook parameters.
 * @param target One of {@linkcode evalTargets}.
 * @returns The run's result and its counts.
 * @throws {NotebookStop} For an error a user can fix (missing key, dead endpoint, a folder holding another run):
 *   one line naming the Parameters-cell fix; the notebook stops there.
 */
export function evaluateInNotebook(params: NotebookParams, target: EvalTarget): Promise<NotebookEvalResult> {
  return notebookStep(async () => {
    const progress = createNotebookProgress(`evaluate ${target.label}`);
    const onProgress = (p: EvalProgress) => {
      void progress.update(p.done, p.total, `${p.correct} correct, ${p.errors} errors`);
    };
    const result = await runEvaluation(evalOptionsFor(params, target, onProgress));
    const selected = result.records.length;
    const accuracy = result.summary.accuracy === null
      ? "no accuracy"
      : `${result.summary.accuracy.toFixed(2)}%`;
    await progress.update(selected, selected);
    await progress.finish(
      `${reuseText(result.reuse, target.model !== undefined)} · ${accuracy} → ${basename(result.dir)}`,
    );
    return { ...result, label: target.label };
  });
}

/**
 * `02`'s summary of its evaluations, one row per run: the model, its questions and EX, where the answers came
 * from (`from_run_log`, `from_cache`, `new`: asked the model or, for predictions, scored from the file), and the
 * run folder's name (its full path is in the progress line above).
 *
 * @param results What {@linkcode evaluateInNotebook} returned, in order.
 */
export function evaluationRows(results: NotebookEvalResult[]): Record<string, unknown>[] {
  return results.map((r) => ({
    model: r.label,
    questions: r.summary.total,
    accuracy: r.summary.accuracy,
    from_run_log: r.reuse.fromLog,
    from_cache: r.reuse.fromCache,
    new: r.reuse.fresh,
    run: basename(r.dir),
  }));
}

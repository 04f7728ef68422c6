/**
 * `02`'s steps: the evaluations it performs (the bundled baseline, then each model), their `runEvaluation` options
 * in the mode the Parameters cell names, and a run with an in-place progress line that counts resumed questions.
 *
 * @module
 */
import { join } from "node:path";
import { type EvalOptions, type EvalProgress, type EvalResult, runEvaluation } from "../run/mod.ts";
import { type Provider, PROVIDERS } from "../model/mod.ts";
import { sha256Hex } from "../util/mod.ts";
import { createNotebookProgress } from "./display.ts";
import { BASELINE_LABEL, type EvalMode, NotebookParamError, type NotebookParams } from "./params.ts";
import { notebookRunsDir, runSlug } from "./selection.ts";

/** One evaluation `02` performs: a display label and its fixed output folder. */
export interface EvalTarget {
  /** {@linkcode BASELINE_LABEL} for the bundled predictions, else the model name. */
  label: string;
  /** The model, or undefined for the bundled predictions. */
  model: string | undefined;
  /** The bundled predictions file, when `model` is undefined. */
  predictions: string | undefined;
  /**
   * Output folder: `<runsDir>/notebooks/<slug>`, with `-maj<K>` or `-agent<T>` added in those modes; also how `06`
   * finds the notebook's runs.
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
 * The baseline predictions are keyed by position in BIRD dev (2024-06-27), so they are scored only when the
 * dataset is that very file: the bundled sample, or an official download with the same bytes.
 *
 * @param params Notebook parameters.
 * @returns Targets in order.
 */
export function evalTargets(params: NotebookParams): EvalTarget[] {
  const targets: EvalTarget[] = [];
  const file = params.dataset.endsWith(".json") ? params.dataset : join(params.dataset, "dev.json");
  if (file === params.sampleDataset || sameContent(file, params.sampleDataset)) {
    targets.push({
      label: BASELINE_LABEL,
      model: undefined,
      predictions: params.samplePredictions,
      out: join(notebookRunsDir(params.runsDir), BASELINE_LABEL),
    });
  }
  for (const model of params.models) {
    targets.push({
      label: model,
      model,
      predictions: undefined,
      // Prompts with matched values are another run (`-values<K>`): a run folder holds one prompt.
      out: join(
        notebookRunsDir(params.runsDir),
        runSlug(model) + modeSuffix(params.mode) + (params.values > 0 ? `-values${params.values}` : ""),
      ),
    });
  }
  return targets;
}

/**
 * The run folder's suffix for a mode: none for one answer (the folders `02` always made), `-maj<K>` and
 * `-agent<T>` otherwise, since a run folder holds one mode and the modes of one model are compared side by side.
 */
function modeSuffix(mode: EvalMode): string {
  if (mode.name === "voting") return `-maj${mode.n}`;
  if (mode.name === "agent") return `-agent${mode.maxTurns}`;
  return "";
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
    throw new NotebookParamError(`TEXT2SQL_PROVIDER must be one of ${PROVIDERS.join(", ")}, got ${provider}`);
  }
  const options: EvalOptions = {
    dataset: params.dataset,
    dbRoot: params.dbRoot,
    db: params.db,
    limit: params.limit,
    out: target.out,
    quiet: true,
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

/** One finished evaluation of `02`, with how much of it came from its run folder. */
export interface NotebookEvalResult extends EvalResult {
  label: string;
  /** Questions read back from the run's `results.jsonl` (finished earlier). */
  resumed: number;
  /** Questions scored in this call. */
  fresh: number;
}

/**
 * Runs (or resumes) one of `02`'s evaluations with an in-place progress line that counts the questions already in
 * the run log, so a rerun reads "129 of 129 from the run log, 0 new" rather than "0 done".
 *
 * @param params Notebook parameters.
 * @param target One of {@linkcode evalTargets}.
 * @returns The run's result and its resumed/new counts.
 */
export async function evaluateInNotebook(
  params: NotebookParams,
  target: EvalTarget,
): Promise<NotebookEvalResult> {
  const progress = createNotebookProgress(`evaluate ${target.label}`);
  let fresh = 0;
  // The run reports only the questions it still has to do; the others were read back from its run log.
  const onProgress = (p: EvalProgress) => {
    fresh = p.done;
    void progress.update(p.done, p.total, `${p.correct} correct, ${p.errors} errors`);
  };
  const result = await runEvaluation(evalOptionsFor(params, target, onProgress));
  const selected = result.records.length;
  const resumed = selected - fresh;
  const accuracy = result.summary.accuracy === null
    ? "no accuracy"
    : `${result.summary.accuracy.toFixed(2)}%`;
  await progress.update(selected, selected);
  await progress.finish(
    `${resumed} of ${selected} from the run log, ${fresh} new · ${accuracy} → ${result.dir}`,
  );
  return { ...result, label: target.label, resumed, fresh };
}

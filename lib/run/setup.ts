/**
 * The select stage and what a run opens before its first question: the options resolved against their
 * defaults (the bundled sample), the dataset loaded and its questions selected, the mode, the model client and
 * the SQLite pool.
 *
 * @module
 */
import { join, resolve } from "node:path";
import {
  checkDatabases,
  type Dataset,
  DatasetError,
  loadDataset,
  loadPredictions,
  type PredictionsFile,
  selectExamples,
} from "../data/mod.ts";
import { openEngine, type SqlEngine } from "../exec/mod.ts";
// Types only: the OpenAI client is loaded when a model is asked for, so scoring a predictions file starts fast.
import type { ModelClient, ModelConfig, ToolChat } from "../model/mod.ts";
import { createToolChat } from "../model/mod.ts";
import { redact, registeredSecrets } from "../util/mod.ts";
import type { Example, RunInfo, RunMode } from "../types.ts";
import { resolveMode } from "./modes.ts";
import { type EvalOptions, SAMPLE_DIR, SAMPLE_PREDICTIONS } from "./options.ts";

/** The questions a run scores and where their answers come from. */
export interface Selection {
  dataset: Dataset;
  examples: Example[];
  /** The databases asked for (the sample's default included). */
  db: string[] | undefined;
  /** The predictions file scored, when no model is asked. */
  predictions: string | undefined;
  predsFile: PredictionsFile | null;
  /** Symlinks followed out of the database root (`--allow-symlinks`). */
  symlinks: { path: string; target: string }[];
  /** True when the bundled baseline predictions were chosen because nothing else was asked for. */
  usedDefaults: boolean;
}

/**
 * Load the dataset and select its questions; with neither model, predictions nor dataset, the bundled
 * baseline predictions on the bundled sample.
 */
export async function selectQuestions(options: EvalOptions): Promise<Selection> {
  let usedDefaults = false;
  let { dataset: datasetArg, predictions, db } = options;
  const onSample = !datasetArg || resolve(datasetArg) === join(SAMPLE_DIR, "dev.json") ||
    resolve(datasetArg) === SAMPLE_DIR;
  // Only the superhero database ships with the sample: select it unless the user chose, or has downloaded more.
  if (onSample && !db?.length && !options.dbRoot) db = ["superhero"];
  // A mistyped --dataset is "not found", whatever else is missing.
  // lstat: a symlink loop or a dangling link exists, and loadDataset names what is wrong with it.
  if (datasetArg && !onSample && !(await Deno.lstat(datasetArg).then(() => true, () => false))) {
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
  // A server holds its own databases; SQLite (and the embedded PostgreSQL loaded from them) reads the files.
  const { missing, symlinks } = options.dbUrl
    ? { missing: [], symlinks: [] }
    : await checkDatabases(dataset, examples, { allowSymlinks: options.allowSymlinks });
  if (missing.length) {
    throw new DatasetError(
      `${dataset.path}: missing database${missing.length > 1 ? "s" : ""} under ${dataset.dbRoot}: ${
        missing.join(", ")
      }` +
        " (download them with `deno task download`, or leave them out with --db)",
    );
  }
  const predsFile = predictions ? await loadPredictions(predictions) : null;
  if (predsFile) warnPredictions(predictions!, predsFile, { dataset, examples });
  return { dataset, examples, db, predictions, predsFile, symlinks, usedDefaults };
}

/** Warn of a predictions file that looks like another dataset's, or that answers too few questions. */
function warnPredictions(
  predictions: string,
  file: PredictionsFile,
  { dataset, examples }: { dataset: Dataset; examples: Example[] },
): void {
  const preds = file.entries;
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

/**
 * The mode the options ask for (its warnings printed); a predictions run is always single-answer and refuses
 * the model-only mode flags.
 */
export function runMode(options: EvalOptions): RunMode {
  if (!options.model) {
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

/** The sampling parameters asked for, as `run.json` records them. */
export function samplingOf(options: EvalOptions): RunInfo["sampling"] {
  return { temperature: options.temperature ?? 0, max_tokens: options.maxTokens ?? null, n: options.n ?? 1 };
}

/** The model a run asks: its client, its URL as it may be shown, and the agent's tool chat. */
export interface OpenModel {
  client: ModelClient;
  /** Written to run.json and messages: never the credentials a self-hosted URL may carry. */
  publicUrl: string;
  chat: ToolChat | null;
}

/** Open the model client; fails fast on a wrong key, model or URL, before anything is written. */
export async function openModel(options: EvalOptions, mode: RunMode): Promise<OpenModel | null> {
  if (!options.model) return null;
  const sampling = samplingOf(options);
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
    requestTimeoutS: options.requestTimeoutS,
    retryBudgetS: options.retryBudgetS,
    cache: options.cache ?? true,
    cacheDir: options.cacheDir,
    prices: options.prices,
  };
  const models = await import("../model/mod.ts");
  const client = await models.ModelClient.create(config, options.clientOptions);
  const publicUrl = models.publicBaseUrl(client.provider.baseUrl);
  const chat = mode.name === "agent"
    ? createToolChat(client, { cache: client.cache, where: publicUrl })
    : null;
  return { client, publicUrl, chat };
}

/** The run's engine for its dialect, allowed only the selected questions' databases. */
export async function openPool(
  selection: Selection,
  mode: RunMode,
  options: EvalOptions,
): Promise<SqlEngine> {
  // The agent is shown up to `tool_rows` rows of each result, and a server's schema shows `--sample-rows` rows
  // of each table from the engine's display sample: the pool must keep that many.
  const wanted = Math.max(mode.name === "agent" ? mode.tool_rows : 0, options.prompt?.sampleRows ?? 0);
  const sampleRows = wanted > 10 ? wanted : undefined;
  const { dataset, examples } = selection;
  const dbIds = [...new Set(examples.map((e) => e.db_id))];
  const engine = await openEngine({
    dialect: options.dialect,
    dbUrl: options.dbUrl,
    dbRoot: dataset.dbRoot,
    dbIds,
    workers: options.workers,
    timeoutS: options.timeoutS ?? 30,
    workerMemory: options.workerMemory,
    sampleRows,
  });
  engine.allow(dbIds.map((id) => engine.target(dataset.dbRoot, id)));
  // Workers start while the run folder is read and run.json written.
  engine.warm();
  return engine;
}

/**
 * The run's one scrubber, which every record and `run.json` pass: the model client's (its key, its base URL's
 * credentials and every registered credential, such as a database server URL's), or, scoring a predictions
 * file, the registered credentials alone; none when a predictions run holds no credential at all. Called once
 * the engine is open (it registers its server URL's credentials).
 *
 * @param model the run's model, or null
 */
export function runScrubber(model: OpenModel | null): ((text: string) => string) | undefined {
  if (model) return (text) => model.client.scrub(text);
  return registeredSecrets().length ? (text) => redact(text, []) : undefined;
}

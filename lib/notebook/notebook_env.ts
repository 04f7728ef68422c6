/**
 * Notebook parameters, and the few helpers the notebooks in `notebooks/` call beyond the rest of `lib/`. Each
 * notebook starts with a "Parameters" code cell of plain assignments (`MODELS = [...]`) that users edit and rerun;
 * the next cell passes them to {@linkcode notebookParams}. An environment variable, when set, wins over the cell
 * (the headless test and CI set them to their local servers). The logic lives here, under `deno check`, because
 * notebooks are not type-checked: each notebook cell is a few calls.
 *
 * | cell value | variable | meaning | default |
 * |---|---|---|---|
 * | `DOWNLOAD` | `TEXT2SQL_DOWNLOAD` | `dev`, `train` or `mini-dev`: the set `01` downloads (official URL unless overridden) | none: `01` uses the bundled sample and says so |
 * | | `TEXT2SQL_BIRD_URL_DEV` (`_TRAIN`, `_MINI_DEV`) | a mirror or local server for that set (read by `lib/data/download.ts`); setting the dev one alone also selects `dev` | the official URL |
 * | `DATA_DIR` | `TEXT2SQL_DATA_DIR` | where `01` puts downloads | `<repo>/data` |
 * | `DATASET` | `TEXT2SQL_DATASET` | the dataset `02`–`04` use (file or folder) | dev downloaded by `01` when there, else the bundled sample |
 * | `DB_ROOT` | `TEXT2SQL_DB_ROOT` | databases folder | the `*_databases/` beside the dataset |
 * | `DB` | `TEXT2SQL_DB` | `db_id`s to select (comma list in the variable; empty: all) | `superhero` on the bundled sample, every database otherwise |
 * | `LIMIT` | `TEXT2SQL_LIMIT` | first N questions after `DB` | all |
 * | `MODELS` | `TEXT2SQL_MODELS` | models `02` evaluates (comma list in the variable) | none: only the bundled baseline predictions |
 * | `BASE_URL` | `TEXT2SQL_BASE_URL` | OpenAI-compatible endpoint (vLLM, Ollama, a test server) | the provider's |
 * | `PROVIDER` | `TEXT2SQL_PROVIDER` | `llama-api`, `together`, `openai`, `openai-compatible` | implied by the base URL |
 * | `TEACHER_MODEL` | `TEXT2SQL_TEACHER_MODEL` | the teacher of `04` (chain-of-thought) | the first of `MODELS` |
 * | `RUNS_DIR` | `TEXT2SQL_RUNS_DIR` | where runs and built datasets go | `<repo>/runs` |
 * | `REPORTS_DIR` | `TEXT2SQL_REPORTS_DIR` | where `06` writes its report | `<repo>/reports` |
 * | `TRAIN` | `TEXT2SQL_TRAIN` | `true` (`run` in the variable) makes `05` really launch the trainer | dry run |
 * | `TRAIN_CONFIG` | `TEXT2SQL_TRAIN_CONFIG` | trainer config file for `05` | the trainer's default |
 * | `METRICS` | `TEXT2SQL_METRICS` | a recorded metrics stream `05` charts when not training | {@linkcode SAMPLE_METRICS} |
 *
 * API keys are never parameters here: the model client reads `LLAMA_API_KEY`, `TOGETHER_API_KEY` and
 * `OPENAI_API_KEY` from the environment itself.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
  type DatasetName,
  datasetSpec,
  downloadDataset,
  DownloadError,
  type DownloadProgress,
  type DownloadResult,
  type VerificationSummary,
  VERIFIED_MARKER,
} from "../data/mod.ts";
import { type EvalOptions, type EvalProgress, type EvalResult, runEvaluation } from "../run/mod.ts";
import { loadDataset, selectExamples } from "../data/mod.ts";
import { buildCotDataset, type CotOptions, type CotResult } from "../train/mod.ts";
import { type Provider, PROVIDERS } from "../model/mod.ts";
import { lossCurveChart } from "../look/mod.ts";
import { createNotebookProgress, displayBundle, inNotebook } from "./display.ts";
import { exists } from "../util/mod.ts";
import { sha256Hex } from "../util/mod.ts";
import { DIFFICULTIES } from "../run/mod.ts";
import {
  buildTrainCommand,
  DEFAULT_TRAIN_CONFIG,
  detectRuntime,
  loadTrainConfig,
  type MetricLine,
  preflight,
  readMetrics as readTrainerMetrics,
  runTraining,
  systemProbe,
  type TrainConfig,
  TrainerError,
  type TrainPlan,
  validateDataset,
} from "../train/mod.ts";

/** The repository root (the folder above `lib/`), so defaults do not depend on the kernel's working folder. */
export const REPO_ROOT: string = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");

/** Every parameter a notebook may take, parsed and with defaults applied. */
export interface NotebookParams {
  /** Which BIRD set `01` downloads, or null to use the bundled sample. */
  download: DatasetName | null;
  /** The archive URL that replaces the official one for `download` (from its environment variable), if any. */
  downloadUrl: string | null;
  /** Download destination (absolute). */
  dataDir: string;
  /** Dataset file or folder for `02`–`04` (absolute). */
  dataset: string;
  /** Databases folder, when set explicitly (absolute). */
  dbRoot: string | undefined;
  /** `db_id`s to select; empty selects all. */
  db: string[];
  /** First N questions after `db` filtering. */
  limit: number | undefined;
  /** Models to evaluate; empty means the bundled baseline only. */
  models: string[];
  /** OpenAI-compatible base URL. */
  baseUrl: string | undefined;
  /** Provider name. */
  provider: string | undefined;
  /** Teacher model for chain-of-thought data. */
  teacherModel: string | undefined;
  /** Folder for runs and built datasets (absolute). */
  runsDir: string;
  /** Folder for reports (absolute). */
  reportsDir: string;
  /** True when `05` must launch real training rather than a dry run. */
  trainRun: boolean;
  /** Trainer config file (absolute), when set. */
  trainConfig: string | undefined;
  /** Recorded metrics stream (absolute). */
  metrics: string;
  /** The bundled sample's dataset file (absolute). */
  sampleDataset: string;
  /** The bundled baseline predictions (absolute). */
  samplePredictions: string;
}

/** A parameter with a value that cannot be used; the message names the variable. */
export class NotebookParamError extends Error {
  override name = "NotebookParamError";
}

function path(value: string | undefined, fallback: string): string {
  const v = value?.trim();
  if (!v) return fallback;
  // Relative values are taken from the repository root: the kernel runs in notebooks/, users think from the root.
  return isAbsolute(v) ? v : resolve(REPO_ROOT, v);
}

function list(value: string | undefined): string[] {
  return (value ?? "").split(",").map((s) => s.trim()).filter((s) => s.length > 0);
}

function optional(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v ? v : undefined;
}

/**
 * The values of a notebook's "Parameters" cell, by the names the cell uses in camelCase. `null`, `undefined` and
 * `""` mean "the default".
 */
export interface CellParams {
  download?: string | null;
  dataDir?: string | null;
  dataset?: string | null;
  dbRoot?: string | null;
  /** `db_id`s; an empty list selects every database. */
  db?: string[] | null;
  limit?: number | null;
  models?: string[] | null;
  baseUrl?: string | null;
  provider?: string | null;
  teacherModel?: string | null;
  runsDir?: string | null;
  reportsDir?: string | null;
  train?: boolean | null;
  trainConfig?: string | null;
  metrics?: string | null;
}

/**
 * The metrics stream `05` replays when it does not train: a real run of `trainer/train.py`, but of a tiny random
 * model on CPU (recorded by `trainer/smoke_test.py --cpu --steps 40`; see `trainer/README.md`). The chart's title
 * says so (see {@linkcode metricsLabel}).
 */
export const SAMPLE_METRICS: string = join(REPO_ROOT, "trainer", "fixtures", "metrics_cpu_tiny.jsonl");

/** What the bundled metrics streams are, by file name, for the chart's title (their start lines do not say). */
const KNOWN_STREAMS: Record<string, string> = {
  "metrics_cpu_tiny.jsonl":
    "a real trainer run, but of a tiny random 2-layer Llama on CPU, 8 conversations, " +
    "40 steps: it shows the pipeline, not an 8B model's loss",
};

/** The cell's value as the text an environment variable would hold, so both go through one parser. */
function cellText(value: string | number | boolean | string[] | null | undefined): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (Array.isArray(value)) return value.join(",");
  return String(value);
}

/**
 * The notebook parameters: the Parameters cell's values, each replaced by its environment variable when that is
 * set, with defaults applied.
 *
 * @param cell Values of the notebook's Parameters cell (default: none).
 * @param env Variables to read (default: this process's environment).
 * @returns The parameters with defaults applied; paths absolute.
 * @throws {NotebookParamError} When a value is malformed (e.g. a non-numeric limit); the message names the variable.
 */
export function notebookParams(
  cell: CellParams = {},
  env: Record<string, string> = Deno.env.toObject(),
): NotebookParams {
  // A set variable wins, even when empty (`TEXT2SQL_DB=` selects every database); else the cell's value.
  const get = (name: string, value: Parameters<typeof cellText>[0]) =>
    env[`TEXT2SQL_${name}`] ?? cellText(value);
  // A dev mirror URL alone means "download dev from there": the CI archive server sets only that.
  const downloadName = optional(get("DOWNLOAD", cell.download)) ??
    (optional(env.TEXT2SQL_BIRD_URL_DEV) ? "dev" : undefined);
  let download: DatasetName | null = null;
  if (downloadName !== undefined) {
    try {
      download = datasetSpec(downloadName).name;
    } catch {
      throw new NotebookParamError(
        `DOWNLOAD (TEXT2SQL_DOWNLOAD) must be dev, train or mini-dev, got ${downloadName}`,
      );
    }
  }
  const downloadUrl = download === null ? null : optional(env[datasetSpec(download).envVar]) ?? null;
  if (downloadUrl !== null && !/^https?:\/\//.test(downloadUrl)) {
    throw new NotebookParamError(
      `${datasetSpec(download!).envVar} must be an http(s) URL, got ${downloadUrl}`,
    );
  }
  const limitText = optional(get("LIMIT", cell.limit));
  const limit = limitText === undefined ? undefined : Number(limitText);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
    throw new NotebookParamError(`LIMIT (TEXT2SQL_LIMIT) must be a positive integer, got ${limitText}`);
  }
  const baseUrl = optional(get("BASE_URL", cell.baseUrl));
  if (baseUrl !== undefined && !/^https?:\/\//.test(baseUrl)) {
    throw new NotebookParamError(`BASE_URL (TEXT2SQL_BASE_URL) must be an http(s) URL, got ${baseUrl}`);
  }
  const models = list(get("MODELS", cell.models));
  const sampleDataset = join(REPO_ROOT, "data", "sample", "dev.json");
  const dataDir = path(get("DATA_DIR", cell.dataDir), join(REPO_ROOT, "data"));
  const dataset = path(get("DATASET", cell.dataset), downloadedDev(dataDir) ?? sampleDataset);
  const dbText = get("DB", cell.db);
  const dbRootText = optional(get("DB_ROOT", cell.dbRoot));
  const trainText = get("TRAIN", cell.train)?.trim();
  return {
    download,
    downloadUrl,
    dataDir,
    dataset,
    dbRoot: dbRootText ? path(dbRootText, "") : undefined,
    // `superhero` is the only database the sample ships; any other dataset has its databases beside it.
    db: dbText === undefined ? (onSample(dataset, sampleDataset) ? ["superhero"] : []) : list(dbText),
    limit,
    models,
    baseUrl,
    provider: optional(get("PROVIDER", cell.provider)),
    teacherModel: optional(get("TEACHER_MODEL", cell.teacherModel)) ?? models[0],
    runsDir: path(get("RUNS_DIR", cell.runsDir), join(REPO_ROOT, "runs")),
    reportsDir: path(get("REPORTS_DIR", cell.reportsDir), join(REPO_ROOT, "reports")),
    trainRun: trainText === "run" || trainText === "true",
    trainConfig: optional(get("TRAIN_CONFIG", cell.trainConfig))
      ? path(get("TRAIN_CONFIG", cell.trainConfig), "")
      : undefined,
    metrics: path(get("METRICS", cell.metrics), SAMPLE_METRICS),
    sampleDataset,
    samplePredictions: join(
      REPO_ROOT,
      "data",
      "sample",
      "predictions",
      BASELINE_LABEL,
      "predict_dev.json",
    ),
  };
}

/** The dev set `01` downloaded and verified under `dataDir`, if there is one: then `02` uses it by default. */
function downloadedDev(dataDir: string): string | undefined {
  const spec = datasetSpec("dev");
  const folder = join(dataDir, spec.folder);
  try {
    Deno.statSync(join(folder, VERIFIED_MARKER));
    return join(folder, spec.questions);
  } catch {
    return undefined;
  }
}

function onSample(dataset: string, sampleDataset: string): boolean {
  return dataset === sampleDataset || dataset === dirname(sampleDataset);
}

/**
 * A folder-safe name for a run label (a model id such as `meta-llama/Llama-3.3-70B-Instruct`).
 *
 * Fixed names, not timestamps: rerunning a notebook cell resumes the same run instead of starting a new one.
 *
 * @param label Model or predictions name.
 * @returns Letters, digits, `.`, `_` and `-` only, case kept so the folder reads as the model's name.
 */
export function runSlug(label: string): string {
  const slug = label.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[-.]+|-+$/g, "");
  return slug || "run";
}

/** One evaluation `02` performs: a display label and its fixed output folder. */
export interface EvalTarget {
  /** {@linkcode BASELINE_LABEL} for the bundled predictions, else the model name. */
  label: string;
  /** The model, or undefined for the bundled predictions. */
  model: string | undefined;
  /** The bundled predictions file, when `model` is undefined. */
  predictions: string | undefined;
  /** Output folder: `<runsDir>/notebooks/<slug>`; also how `06` finds the notebook's runs. */
  out: string;
}

/**
 * The folder under `runsDir` that holds the runs `02` makes, one per model named as the model, so that `06` finds
 * them among other runs and every table, chart and report calls a run by one name.
 *
 * @param runsDir The runs folder of the parameters.
 */
export function notebookRunsDir(runsDir: string): string {
  return join(runsDir, "notebooks");
}

/**
 * The name of the bundled baseline's run: the name BIRD's authors gave their predictions folder
 * (`data/sample/predictions/<name>/predict_dev.json`), which is also how `lib/look/analysis.ts` labels them.
 */
export const BASELINE_LABEL = "gpt-3.5-turbo-evidence";

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
      out: join(notebookRunsDir(params.runsDir), runSlug(model)),
    });
  }
  return targets;
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
    };
  }
  return { ...options, predictions: target.predictions };
}

/**
 * The notebook's run folders under `runsDir` that hold a finished summary: the baseline first (the reference the
 * others are compared with), then by name.
 *
 * @param runsDir Folder to scan.
 * @returns Absolute run folders under {@linkcode notebookRunsDir} that hold `summary.json`.
 */
export async function notebookRuns(runsDir: string): Promise<string[]> {
  const dir = notebookRunsDir(runsDir);
  const found: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isDirectory) continue;
      // An interrupted run without a summary is not comparable yet.
      if (await exists(join(dir, entry.name, "summary.json"))) found.push(join(dir, entry.name));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const baseline = join(dir, BASELINE_LABEL);
  return found.sort((a, b) => Number(b === baseline) - Number(a === baseline) || a.localeCompare(b));
}

/** The questions a notebook will work on, as {@linkcode describeSelection} found them. */
export interface SelectionSummary {
  /** The dataset file. */
  dataset: string;
  questions: number;
  databases: number;
  /** One line for the notebook, e.g. `1534 questions on 11 databases (all of data/dev_20240627/dev.json)`. */
  line: string;
}

/**
 * What the parameters select, counted before anything runs, so a notebook says "1534 questions on 11 databases"
 * rather than silently scoring a subset.
 *
 * @param params Notebook parameters (`dataset`, `dbRoot`, `db`, `limit`).
 * @returns The counts and the line to print.
 * @throws {DatasetError} For an unreadable dataset or a `db` no question uses.
 */
export async function describeSelection(params: NotebookParams): Promise<SelectionSummary> {
  const dataset = await loadDataset(params.dataset, { dbRoot: params.dbRoot });
  const examples = selectExamples(dataset, { db: params.db, limit: params.limit });
  const databases = new Set(examples.map((e) => e.db_id)).size;
  const filters = [
    params.db.length ? `DB ${params.db.join(", ")}` : "",
    params.limit !== undefined ? `first ${params.limit}` : "",
  ].filter(Boolean);
  const of = filters.length ? `${filters.join(", ")} of` : "all of";
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  return {
    dataset: dataset.path,
    questions: examples.length,
    databases,
    line: `${plural(examples.length, "question")} on ${plural(databases, "database")} ` +
      `(${of} ${dataset.path}, ${dataset.examples.length} questions)`,
  };
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

/**
 * A two-column table of the parameters a notebook uses, for its first output: what it will do, and from where.
 *
 * @param params Notebook parameters.
 * @param keys Which parameters to show.
 * @returns Rows `{parameter, value}` (render with `console.table` or a DataFrame).
 */
export function paramRows(
  params: NotebookParams,
  keys: (keyof NotebookParams)[],
): { parameter: string; value: string }[] {
  return keys.map((key) => {
    const value = params[key];
    const text = Array.isArray(value)
      ? (value.length ? value.join(", ") : "(none)")
      : value === undefined || value === null
      ? "(default)"
      : String(value);
    return { parameter: key, value: text };
  });
}

/** The data `01` made ready: a verified download, or the bundled sample. */
export interface PreparedData {
  source: "download" | "sample";
  /** One sentence for the notebook: where the data came from and what later notebooks will use. */
  note: string;
  /** The questions file. */
  datasetFile: string;
  /** The databases folder. */
  dbRoot: string;
  /** Questions per difficulty and per database (of the databases present). */
  summary: VerificationSummary;
  /** The download's own report, when `source` is `download`. */
  download?: DownloadResult;
  /** Why a requested download failed (the sample is used instead), when it did. */
  failed?: string;
}

/**
 * What `01` does: download and verify the set named by the parameters (a second call finds it verified and makes
 * no request), or, when none is named, check the bundled sample.
 *
 * @param params Notebook parameters (`download`, `downloadUrl`, `dataDir`).
 * @param options Progress callback for the download.
 * @returns Where the data is, and its summary.
 */
export async function prepareData(
  params: NotebookParams,
  options: { onProgress?: (progress: DownloadProgress) => void; retries?: number; stallTimeoutMs?: number } =
    {},
): Promise<PreparedData> {
  if (params.download !== null) {
    let result: DownloadResult;
    try {
      result = await downloadDataset(params.download, {
        dest: params.dataDir,
        url: params.downloadUrl ?? undefined,
        onProgress: options.onProgress,
        // A notebook waits a bounded time, not the CLI's patient minutes: a few quick retries, then one line.
        retries: options.retries ?? 2,
        stallTimeoutMs: options.stallTimeoutMs ?? 20_000,
      });
    } catch (error) {
      if (!(error instanceof DownloadError)) throw error;
      const sample = await sampleData(params.sampleDataset);
      return {
        ...sample,
        failed: error.message,
        note:
          `Download of BIRD ${params.download} failed: ${error.message}. Using the bundled sample instead; ` +
          `run this cell again when the network is back (a partial download resumes).`,
      };
    }
    return {
      source: "download",
      note:
        `${
          result.fetched ? "Downloaded" : "Found (already verified, nothing fetched)"
        } BIRD ${result.dataset} ` +
        `from ${result.url} into ${result.folder}.`,
      datasetFile: result.questionsPath,
      dbRoot: result.dbRoot,
      summary: result.verification,
      download: result,
    };
  }
  return await sampleData(params.sampleDataset);
}

/**
 * The bundled sample's summary: its questions whose database ships here (only `superhero`; BIRD's other dev
 * databases come with `deno task download dev`), each database checked with `PRAGMA quick_check`.
 *
 * @param datasetFile The sample's `dev.json`.
 */
export async function sampleData(datasetFile: string): Promise<PreparedData> {
  const dbRoot = join(datasetFile, "..", "dev_databases");
  const questions = JSON.parse(await Deno.readTextFile(datasetFile)) as {
    db_id: string;
    difficulty?: string;
  }[];
  const present = new Map<string, number>();
  const byDifficulty: Record<string, number> = {};
  let count = 0;
  for (const q of questions) {
    const file = join(dbRoot, q.db_id, `${q.db_id}.sqlite`);
    if (!present.has(file)) {
      present.set(file, await Deno.stat(file).then((s) => s.size, () => -1));
    }
    if (present.get(file)! < 0) continue;
    count++;
    const bucket = q.difficulty || "unknown";
    byDifficulty[bucket] = (byDifficulty[bucket] ?? 0) + 1;
  }
  const perDatabase = [];
  for (const [file, bytes] of present) {
    if (bytes < 0) continue;
    const db = new DatabaseSync(file, { readOnly: true });
    try {
      const check = db.prepare("PRAGMA quick_check").all().map((row) => String(Object.values(row)[0])).join(
        "; ",
      );
      if (check !== "ok") throw new Error(`${file}: PRAGMA quick_check failed: ${check}`);
    } finally {
      db.close();
    }
    const dbId = file.split("/").at(-2)!;
    perDatabase.push({ db_id: dbId, questions: questions.filter((q) => q.db_id === dbId).length, bytes });
  }
  return {
    source: "sample",
    note:
      `No download requested (TEXT2SQL_DOWNLOAD and TEXT2SQL_BIRD_URL_DEV unset): using the bundled sample ` +
      `${datasetFile}, whose only database is ${perDatabase.map((d) => d.db_id).join(", ")} ` +
      `(${count} of its ${questions.length} questions).`,
    datasetFile,
    dbRoot,
    summary: { questions: count, databases: perDatabase.length, byDifficulty, perDatabase, quickCheck: "ok" },
  };
}

/**
 * A verification summary as rows for two small tables (render with `pl.DataFrame(rows)`).
 *
 * @param summary From {@linkcode prepareData}.
 * @returns Questions per difficulty (plus `total`), and per database with its size in MB.
 */
export function summaryRows(summary: VerificationSummary): {
  difficulty: { difficulty: string; questions: number }[];
  databases: { db_id: string; questions: number; size_mb: number }[];
} {
  const order: readonly string[] = DIFFICULTIES;
  const rank = (d: string) => (order.indexOf(d) + order.length + 1) % (order.length + 1);
  const buckets = Object.keys(summary.byDifficulty).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  return {
    difficulty: [
      ...buckets.map((difficulty) => ({ difficulty, questions: summary.byDifficulty[difficulty] })),
      { difficulty: "total", questions: summary.questions },
    ],
    databases: summary.perDatabase.map((d) => ({
      db_id: d.db_id,
      questions: d.questions,
      size_mb: Math.round(d.bytes / 1e4) / 100,
    })),
  };
}

// ---------------------------------------------------------------------------------------------------------
// 03 / 04: training datasets

/**
 * Where `03` and `04` write their datasets: fixed folders under `runsDir`, so rerunning rewrites the same files
 * (byte-identical for the same input) and `04` resumes its teacher calls from `progress.jsonl`.
 *
 * @param params Notebook parameters.
 * @param kind `sft` or `cot`.
 */
export function datasetDir(params: NotebookParams, kind: "sft" | "cot"): string {
  return join(params.runsDir, "datasets", kind);
}

/** The lengths a dataset builder reports per kept conversation (`BuildResult.lengths` of `lib/train/sft.ts`). */
export interface LengthRow {
  split: string;
  prompt_tokens: number;
  answer_tokens: number;
  total_tokens: number;
}

/**
 * Summary statistics of the lengths per split and part, for a small table.
 *
 * @param rows Per-conversation lengths.
 * @returns One row per split (train, test, all) with count, mean, p50, p95 and max of prompt and total tokens.
 */
export function lengthSummaryRows(rows: LengthRow[]): Record<string, string | number>[] {
  const stats = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const at = (q: number) =>
      sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0;
    const mean = sorted.length ? sorted.reduce((s, v) => s + v, 0) / sorted.length : 0;
    return { mean: Math.round(mean), p50: at(0.5), p95: at(0.95), max: sorted.at(-1) ?? 0 };
  };
  return ["train", "test", "all"].map((split) => {
    const sel = split === "all" ? rows : rows.filter((r) => r.split === split);
    const p = stats(sel.map((r) => r.prompt_tokens));
    const t = stats(sel.map((r) => r.total_tokens));
    return {
      split,
      conversations: sel.length,
      prompt_mean: p.mean,
      prompt_p95: p.p95,
      prompt_max: p.max,
      total_mean: t.mean,
      total_p95: t.p95,
      total_max: t.max,
    };
  });
}

// ---------------------------------------------------------------------------------------------------------
// 05: the trainer

/** What `05` will train: the config, the dataset and the resolved command. */
export interface NotebookTrainPlan {
  configPath: string;
  config: TrainConfig;
  datasetDir: string;
  counts: { train: number; test: number };
  plan: TrainPlan;
}

/**
 * Validates the trainer config and the dataset and builds the training command, as `deno task train --dry-run`
 * does (no engine, GPU or token is checked). The dataset is `03`'s output when it exists, else the trainer's
 * bundled sample; the run folder is `<runsDir>/train/<config name>` (fixed, so a rerun resumes its checkpoints).
 *
 * @param params Notebook parameters (`trainConfig`, `runsDir`).
 * @returns The plan.
 * @throws {TrainerError} For an invalid config or dataset.
 */
export async function notebookTrainPlan(params: NotebookParams): Promise<NotebookTrainPlan> {
  const configPath = params.trainConfig ?? DEFAULT_TRAIN_CONFIG;
  const config = await loadTrainConfig(configPath);
  const sft = datasetDir(params, "sft");
  const fromSft = await exists(join(sft, "train.jsonl"));
  const dir = fromSft ? sft : config.dataset_dir ?? sft;
  const counts = await validateDataset(dir);
  const runtime = params.trainRun ? await detectRuntime() ?? "docker" : "docker";
  const plan = buildTrainCommand(config, {
    runtime,
    configPath,
    datasetDir: dir,
    outDir: join(params.runsDir, "train", runSlug(config.name)),
  });
  return { configPath, config, datasetDir: dir, counts, plan };
}

/**
 * A config flattened to `{setting, value}` rows (`lora.r`, `training.learning_rate`, …) for a table.
 *
 * @param config A validated config.
 */
export function configRows(config: TrainConfig): { setting: string; value: string }[] {
  const rows: { setting: string; value: string }[] = [];
  const walk = (prefix: string, value: unknown) => {
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(prefix ? `${prefix}.${k}` : k, v);
    } else rows.push({ setting: prefix, value: Array.isArray(value) ? value.join(", ") : String(value) });
  };
  walk("", config);
  return rows;
}

/**
 * Runs the training for real: checks the engine, GPU and token (`preflight`), builds the image when missing,
 * then streams metrics to `onMetric` as they come.
 *
 * @param p The plan from {@linkcode notebookTrainPlan}.
 * @param onMetric Called per metric line (the live chart).
 * @returns The metric lines; throws when the trainer fails.
 */
export async function trainInNotebook(
  p: NotebookTrainPlan,
  onMetric: (m: MetricLine) => void,
): Promise<MetricLine[]> {
  await preflight(p.config, p.plan.runtime);
  await Deno.mkdir(p.plan.outDir, { recursive: true });
  await Deno.mkdir(p.plan.hfCache, { recursive: true });
  if (
    p.plan.build && p.plan.image &&
    !(await systemProbe(p.plan.runtime, ["image", "inspect", p.plan.image])).ok
  ) {
    const built = await new Deno.Command(p.plan.build[0], { args: p.plan.build.slice(1) }).spawn().status;
    if (!built.success) throw new TrainerError(`image build failed (exit ${built.code})`, 1);
  }
  const result = await runTraining(p.plan, { onMetric });
  if (result.code !== 0) {
    throw new TrainerError(`the trainer exited with code ${result.code} (see ${result.logPath})`, 1);
  }
  return result.metrics;
}

/**
 * Feeds a recorded metrics stream through the same callback a live run uses, so the live chart is exercised
 * without a GPU (the CI path of `05`).
 *
 * @param file A metrics JSONL file (e.g. `trainer/fixtures/metrics_cpu_tiny.jsonl`).
 * @param onMetric Called per metric line, in order.
 * @returns The metric lines.
 */
export async function replayMetrics(file: string, onMetric: (m: MetricLine) => void): Promise<MetricLine[]> {
  const metrics = await readTrainerMetrics(file);
  for (const m of metrics) onMetric(m);
  return metrics;
}

/** A loss chart that redraws in place as metrics arrive; see {@linkcode liveLossChart}. */
export interface LiveLossChart {
  /** Adds a metric line; redraws at most about once a second. */
  onMetric(m: MetricLine): void;
  /** Draws the final chart and waits for pending redraws. */
  finish(): Promise<void>;
  /** The metric lines so far. */
  readonly metrics: MetricLine[];
}

/**
 * A training-loss chart (`lossCurveChart` of `lib/look/charts.ts`) shown once and updated in place through a Jupyter
 * `display_id`, so a long run shows one chart that grows rather than hundreds. Outside a notebook nothing is drawn.
 *
 * @param title Chart title.
 * @param options `intervalMs` between redraws (default 1000).
 */
export function liveLossChart(title = "Training loss", options: { intervalMs?: number } = {}): LiveLossChart {
  // Through display.ts's backend, so `setDisplayBackend` reaches this chart like every other display.
  const inKernel = inNotebook();
  const displayId = `t2s-loss-${crypto.randomUUID()}`;
  const metrics: MetricLine[] = [];
  const interval = options.intervalMs ?? 1000;
  let shown = false;
  let last = -Infinity;
  let chain = Promise.resolve();
  const draw = () => {
    last = performance.now();
    const html = lossCurveChart(metrics, { title });
    const update = shown;
    shown = true;
    const text = `[chart: ${title}, ${metrics.filter((m) => m.type === "train").length} steps]`;
    chain = chain.then(async () => {
      await displayBundle({ "text/html": html, "text/plain": text }, { display_id: displayId, update });
    });
  };
  return {
    metrics,
    onMetric(m) {
      metrics.push(m);
      if (inKernel && performance.now() - last >= interval) draw();
    },
    async finish() {
      if (inKernel) draw();
      await chain;
    },
  };
}

/**
 * Metric lines of one type as table rows with the columns that matter for it.
 *
 * @param metrics Lines from a run or a replay.
 * @param type `eval` (step, epoch, eval_loss) or `train` (step, epoch, loss, lr, grad_norm, tokens_per_s, gpu_mem_gb).
 * @param last Keep only the last N rows.
 */
export function metricRows(
  metrics: MetricLine[],
  type: "train" | "eval",
  last?: number,
): Record<string, unknown>[] {
  const columns = type === "eval"
    ? ["step", "epoch", "eval_loss"]
    : ["step", "epoch", "loss", "lr", "grad_norm", "tokens_per_s", "gpu_mem_gb"];
  const rows = metrics.filter((m) => m.type === type).map((m) =>
    Object.fromEntries(columns.map((c) => [c, m[c] ?? null]))
  );
  return last === undefined ? rows : rows.slice(-last);
}

/** Lines in a file (0 when it does not exist yet). */
async function lineCount(file: string): Promise<number> {
  try {
    const text = await Deno.readTextFile(file);
    return text.split("\n").filter((l) => l.trim()).length;
  } catch {
    return 0;
  }
}

/**
 * Builds `04`'s chain-of-thought dataset with an in-place progress line in the notebook. The builder reports its
 * progress only to the terminal (the Jupyter server's log), but it appends one line to `progress.jsonl` per
 * finished question, so the notebook counts those lines twice a second.
 *
 * @param options The builder's options (`out` is its folder).
 * @param selected How many questions are selected (from {@linkcode describeSelection}), for the bar's total.
 * @returns The builder's result.
 */
export async function cotInNotebook(options: CotOptions, selected: number): Promise<CotResult> {
  const log = join(resolve(options.out), "progress.jsonl");
  const before = await lineCount(log);
  const progress = createNotebookProgress(`teacher ${options.model}`);
  let polling = Promise.resolve();
  const timer = setInterval(() => {
    polling = polling.then(async () => {
      const fresh = Math.max(0, (await lineCount(log)) - before);
      await progress.update(fresh, undefined, `new answers, of ${selected} questions selected`);
    });
  }, 500);
  try {
    const cot = await buildCotDataset({ ...options, quiet: true });
    clearInterval(timer);
    await polling;
    await progress.update(Math.max(0, (await lineCount(log)) - before), undefined);
    await progress.finish(
      `${cot.requests} teacher requests for ${selected} questions (the others from progress.jsonl or the cache)`,
    );
    return cot;
  } finally {
    clearInterval(timer);
  }
}

/**
 * A training conversation for display: each turn as `--- role` and its text, with the user turn's schema cut to
 * its first `schemaChars` characters so the question at its end stays in view.
 *
 * @param messages The conversation's messages (a line of `train.jsonl`).
 * @param options `schemaChars` kept of the schema (default 600).
 * @returns One text per turn, to print one by one.
 */
export function previewConversation(
  messages: { role: string; content: string }[],
  options: { schemaChars?: number } = {},
): string[] {
  const keep = options.schemaChars ?? 600;
  return messages.map((m) => {
    let text = m.content;
    const schema = text.match(/^-- DB Schema: ([\s\S]*?)(?=\n\n-- (External Knowledge|Question): )/);
    if (m.role === "user" && schema && schema[1].length > keep) {
      const cut = schema[1].length - keep;
      text = `-- DB Schema: ${schema[1].slice(0, keep)}\n… (${cut} more characters of schema)` +
        text.slice(schema[0].length);
    }
    return `--- ${m.role}\n${text}`;
  });
}

/**
 * What a recorded metrics stream is, for the title of the chart that replays it: the `note` of its `start` line
 * when the recording says what it is (e.g. illustrative values), else the model, method and size it records.
 *
 * @param file A metrics JSONL file.
 * @returns A short description naming the file.
 */
export function metricsLabel(file: string): string {
  let start: Record<string, unknown> = {};
  try {
    const first = Deno.readTextFileSync(file).split("\n").find((l) => l.trim()) ?? "{}";
    start = JSON.parse(first) as Record<string, unknown>;
  } catch {
    // An unreadable file is reported by the replay itself; the title only names it.
  }
  const name = basename(file);
  const known = dirname(file) === dirname(SAMPLE_METRICS) ? KNOWN_STREAMS[name] : undefined;
  if (known) return `${name} (${known})`;
  if (start.type !== "start") return name;
  if (typeof start.note === "string" && start.note) return `${name} (${start.note})`;
  const parts = [start.base_model, start.method, start.train_examples && `${start.train_examples} examples`]
    .filter((p) => typeof p === "string" || typeof p === "number");
  return parts.length ? `${name} (a recorded run: ${parts.join(", ")})` : name;
}

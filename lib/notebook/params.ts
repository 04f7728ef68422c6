/**
 * Notebook parameters. The steps the notebooks call live beside this file (`selection.ts`, `data_steps.ts`, `eval_steps.ts`, `dataset_steps.ts`, `train_steps.ts`). Each
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
 * | `MODE` | `TEXT2SQL_MODE` | how `02` asks each model: `single` (one answer), `voting K` (K samples at temperature 0.8, the answer voted by execution result), `agent` or `agent T` (the model may query the database, at most T turns, default 8) | `single` |
 * | `DIALECT` | `TEXT2SQL_DIALECT` | the SQL dialect of `02`'s runs: `sqlite`, `postgresql` or `mysql` (its run folders are named by it) | `sqlite` |
 * | | `TEXT2SQL_DB_URL` | the PostgreSQL or MySQL server holding the databases (`deno task db load`); environment only, as it may hold a password | PostgreSQL: an embedded one; MySQL: none |
 * | `VALUES` | `TEXT2SQL_VALUES` | matched database values per column in `02`'s prompts (`--values K`: the value index, each question's own schema) | 0: none |
 * | `PROVIDER` | `TEXT2SQL_PROVIDER` | `llama-api`, `together`, `openai`, `openai-compatible` | implied by the base URL |
 * | `TEACHER_MODEL` | `TEXT2SQL_TEACHER_MODEL` | the teacher of `04` (chain-of-thought) | the first of `MODELS` |
 * | `RUNS_DIR` | `TEXT2SQL_RUNS_DIR` | where runs and built datasets go | `<repo>/runs` |
 * | `REPORTS_DIR` | `TEXT2SQL_REPORTS_DIR` | where `06` writes its report | `<repo>/reports` |
 * | `TRAIN` | `TEXT2SQL_TRAIN` | `true` (`run` in the variable) makes `05` really launch the trainer | dry run |
 * | `TRAIN_CONFIG` | `TEXT2SQL_TRAIN_CONFIG` | trainer config file for `05` | the trainer's default |
 * | `METRICS` | `TEXT2SQL_METRICS` | a recorded metrics stream `05` charts when not training (`trainer/fixtures/metrics_grpo_cpu_tiny.jsonl`: a GRPO one, with the reward charts) | {@linkcode SAMPLE_METRICS} |
 *
 * API keys are never parameters here: the model client reads `LLAMA_API_KEY`, `TOGETHER_API_KEY` and
 * `OPENAI_API_KEY` from the environment itself.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { type DatasetName, datasetSpec, VERIFIED_MARKER } from "../data/mod.ts";
import { type Dialect, parseDialect } from "../exec/mod.ts";
import { clearStop, NotebookStop, recordStop } from "./stop.ts";

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
  /** How `02` asks each model (see {@linkcode parseEvalMode}). */
  mode: EvalMode;
  /** The SQL dialect `02` evaluates in (`sqlite` unless `DIALECT` says otherwise). */
  dialect: Dialect;
  /**
   * A PostgreSQL or MySQL server holding the databases, from `TEXT2SQL_DB_URL` only: a URL may carry a password,
   * and a Parameters cell is saved into the notebook file. Never shown.
   */
  dbUrl: string | undefined;
  /** Matched values per column in `02`'s prompts (`--values K`); 0: none. */
  values: number;
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

/**
 * A parameter with a value that cannot be used; the message names the parameter and its variable. A
 * {@linkcode NotebookStop}: one line in the notebook, no stack trace, and the cells below stay silent.
 */
export class NotebookParamError extends NotebookStop {
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
  /** `single`, `voting K` or `agent [T]`. */
  mode?: string | null;
  /** `sqlite`, `postgresql` or `mysql`. */
  dialect?: string | null;
  /** Matched values per column in the prompt (`--values K`); 0 or null: none. */
  values?: number | null;
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
 *   It also stops the notebook (see `stop.ts`) until this runs again.
 */
export function notebookParams(
  cell: CellParams = {},
  env: Record<string, string> = Deno.env.toObject(),
): NotebookParams {
  // The setup cell of every notebook calls this first: a new pass through the notebook starts unstopped.
  clearStop();
  try {
    return parseParams(cell, env);
  } catch (error) {
    if (error instanceof NotebookParamError) {
      throw recordStop(new NotebookParamError(`${error.message}: fix it in the Parameters cell`));
    }
    throw error;
  }
}

function parseParams(cell: CellParams, env: Record<string, string>): NotebookParams {
  // A set variable wins, even when empty (`TEXT2SQL_DB=` selects every database); else the cell's value.
  const get: Lookup = (name, value) => env[`TEXT2SQL_${name}`] ?? cellText(value);
  const models = list(get("MODELS", cell.models));
  const sampleDataset = join(REPO_ROOT, "data", "sample", "dev.json");
  const dataDir = path(get("DATA_DIR", cell.dataDir), join(REPO_ROOT, "data"));
  const dataset = path(get("DATASET", cell.dataset), downloadedDev(dataDir) ?? sampleDataset);
  const dbText = get("DB", cell.db);
  const dbRootText = optional(get("DB_ROOT", cell.dbRoot));
  const trainText = get("TRAIN", cell.train)?.trim();
  const trainConfig = optional(get("TRAIN_CONFIG", cell.trainConfig));
  return {
    ...downloadParams(get("DOWNLOAD", cell.download), env),
    dataDir,
    dataset,
    dbRoot: dbRootText ? path(dbRootText, "") : undefined,
    // `superhero` is the only database the sample ships; any other dataset has its databases beside it.
    db: dbText === undefined ? (onSample(dataset, sampleDataset) ? ["superhero"] : []) : list(dbText),
    limit: positiveLimit(optional(get("LIMIT", cell.limit))),
    models,
    baseUrl: httpUrl(optional(get("BASE_URL", cell.baseUrl)), "BASE_URL (TEXT2SQL_BASE_URL)"),
    provider: optional(get("PROVIDER", cell.provider)),
    mode: parseEvalMode(get("MODE", cell.mode)),
    dialect: dialectParam(optional(get("DIALECT", cell.dialect))),
    dbUrl: optional(env.TEXT2SQL_DB_URL),
    values: valuesParam(optional(get("VALUES", cell.values))),
    teacherModel: optional(get("TEACHER_MODEL", cell.teacherModel)) ?? models[0],
    runsDir: path(get("RUNS_DIR", cell.runsDir), join(REPO_ROOT, "runs")),
    reportsDir: path(get("REPORTS_DIR", cell.reportsDir), join(REPO_ROOT, "reports")),
    trainRun: trainText === "run" || trainText === "true",
    trainConfig: trainConfig ? path(trainConfig, "") : undefined,
    metrics: path(get("METRICS", cell.metrics), SAMPLE_METRICS),
    sampleDataset,
    samplePredictions: join(REPO_ROOT, "data", "sample", "predictions", BASELINE_LABEL, "predict_dev.json"),
  };
}

/** A parameter's text: its `TEXT2SQL_<name>` variable when set, else the cell's value as text. */
type Lookup = (name: string, value: Parameters<typeof cellText>[0]) => string | undefined;

/** `value` unchanged when it is an http(s) URL (or unset); else the error naming `what`. */
function httpUrl(value: string | undefined, what: string): string | undefined {
  if (value !== undefined && !/^https?:\/\//.test(value)) {
    throw new NotebookParamError(`${what} must be an http(s) URL, got ${value}`);
  }
  return value;
}

/** `DIALECT` checked, `sqlite` when unset. */
function dialectParam(text: string | undefined): Dialect {
  try {
    return text === undefined ? "sqlite" : parseDialect(text);
  } catch {
    throw new NotebookParamError(
      `DIALECT (TEXT2SQL_DIALECT) must be "sqlite", "postgresql" or "mysql", got ${JSON.stringify(text)}`,
    );
  }
}

/** `VALUES` as a non-negative integer (0 when unset). */
function valuesParam(text: string | undefined): number {
  const k = text === undefined ? 0 : Number(text);
  if (!Number.isInteger(k) || k < 0) {
    throw new NotebookParamError(`VALUES (TEXT2SQL_VALUES) must be a non-negative integer, got ${text}`);
  }
  return k;
}

/** `LIMIT` as a positive integer, or undefined when unset. */
function positiveLimit(text: string | undefined): number | undefined {
  const limit = text === undefined ? undefined : Number(text);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
    throw new NotebookParamError(`LIMIT (TEXT2SQL_LIMIT) must be a positive integer, got ${text}`);
  }
  return limit;
}

/** The set `01` downloads (from `DOWNLOAD`, or `dev` when only a dev mirror URL is set) and its mirror URL. */
function downloadParams(
  text: string | undefined,
  env: Record<string, string>,
): Pick<NotebookParams, "download" | "downloadUrl"> {
  // A dev mirror URL alone means "download dev from there": the CI archive server sets only that.
  const name = optional(text) ?? (optional(env.TEXT2SQL_BIRD_URL_DEV) ? "dev" : undefined);
  if (name === undefined) return { download: null, downloadUrl: null };
  let download: DatasetName;
  try {
    download = datasetSpec(name).name;
  } catch {
    throw new NotebookParamError(`DOWNLOAD (TEXT2SQL_DOWNLOAD) must be dev, train or mini-dev, got ${name}`);
  }
  const { envVar } = datasetSpec(download);
  return { download, downloadUrl: httpUrl(optional(env[envVar]), envVar) ?? null };
}

/** How `02` asks each model: one answer, a vote over K samples, or the agent with a turn limit. */
export type EvalMode =
  | { name: "single" }
  | { name: "voting"; n: number; temperature: number }
  | { name: "agent"; maxTurns: number };

/** The temperature of a voting run: samples at temperature 0 would all be the same answer. */
export const VOTING_TEMPERATURE = 0.8;

/** Turns an agent run allows when `MODE` names none (the CLI's default). */
export const AGENT_TURNS = 8;

/**
 * The `MODE` parameter: `single` (or empty), `voting K` with K ≥ 2, `agent` or `agent T` with T ≥ 1.
 *
 * @param text The cell's value or `TEXT2SQL_MODE`.
 * @returns The mode, with voting's temperature and the agent's default turns applied.
 * @throws {NotebookParamError} For any other text; the message names the variable and the forms allowed.
 */
export function parseEvalMode(text: string | undefined): EvalMode {
  const [name, count, ...rest] = (text ?? "").trim().toLowerCase().split(/\s+/);
  const k = count === undefined ? undefined : Number(count);
  const whole = (min: number) => k !== undefined && Number.isInteger(k) && k >= min;
  if (rest.length === 0) {
    if ((name === "" || name === "single") && count === undefined) return { name: "single" };
    if (name === "voting" && whole(2)) return { name: "voting", n: k!, temperature: VOTING_TEMPERATURE };
    if (name === "agent" && (count === undefined || whole(1))) {
      return { name: "agent", maxTurns: k ?? AGENT_TURNS };
    }
  }
  throw new NotebookParamError(
    `MODE (TEXT2SQL_MODE) must be "single", "voting K" (K ≥ 2) or "agent [T]" (T ≥ 1), got ${
      JSON.stringify(text)
    }`,
  );
}

/**
 * A mode in a few words, for the parameters table: `single`, `voting 8 (temperature 0.8)`, `agent (at most 8 turns)`.
 *
 * @param mode From {@linkcode parseEvalMode}.
 */
export function describeEvalMode(mode: EvalMode): string {
  if (mode.name === "voting") return `voting ${mode.n} (temperature ${mode.temperature})`;
  if (mode.name === "agent") return `agent (at most ${mode.maxTurns} turns)`;
  return "single";
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
 * The name of the bundled baseline's run: the name BIRD's authors gave their predictions folder
 * (`data/sample/predictions/<name>/predict_dev.json`), which is also how `lib/look/analysis.ts` labels them.
 */
export const BASELINE_LABEL = "gpt-3.5-turbo-evidence";

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
    // A server URL may carry a password: said to be set, never shown.
    if (key === "dbUrl") {
      return { parameter: key, value: params.dbUrl ? "(set from TEXT2SQL_DB_URL)" : "(none)" };
    }
    const value = params[key];
    const text = Array.isArray(value)
      ? (value.length ? value.join(", ") : "(none)")
      : value === undefined || value === null
      ? "(default)"
      : typeof value === "object"
      ? describeEvalMode(value)
      : String(value);
    return { parameter: key, value: text };
  });
}

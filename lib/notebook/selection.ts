/**
 * What the notebooks work on and where their runs go: the questions the parameters select, counted before anything
 * runs, the fixed run folder names, and the finished runs `06` lists.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { checkDatabases, loadDataset, selectExamples } from "../data/mod.ts";
import { exists, sha256Hex } from "../util/mod.ts";
import { BASELINE_LABEL, type EvalMode, type NotebookParams } from "./params.ts";
import { notebookStep, NotebookStop } from "./stop.ts";

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

/** Databases named in a run folder's name at most; more are counted and hashed. */
const NAMED_DBS = 3;

/**
 * The part of a run folder's name that says which questions it holds: the dataset when it is not the bundled
 * sample (its folder's name), the databases (`all`, up to three names joined by `+`, else `<k>dbs-<hash>`), and
 * `first<N>` for a limit. E.g. `superhero-first30`, `dev_20240627-all`.
 *
 * @param params Notebook parameters (`dataset`, `db`, `limit`, `sampleDataset`).
 */
export function selectionName(
  params: Pick<NotebookParams, "dataset" | "db" | "limit" | "sampleDataset">,
): string {
  const parts: string[] = [];
  const onSample = params.dataset === params.sampleDataset ||
    params.dataset === dirname(params.sampleDataset);
  if (!onSample) {
    parts.push(
      runSlug(/\.json$/i.test(params.dataset) ? basename(dirname(params.dataset)) : basename(params.dataset)),
    );
  }
  const dbs = [...new Set(params.db)].sort();
  if (dbs.length === 0) parts.push("all");
  else if (dbs.length <= NAMED_DBS) parts.push(dbs.map(runSlug).join("+"));
  else parts.push(`${dbs.length}dbs-${sha256Hex(new TextEncoder().encode(dbs.join(","))).slice(0, 8)}`);
  if (params.limit !== undefined) parts.push(`first${params.limit}`);
  return parts.join("-");
}

/** The part of a run folder's name for a mode: none for one answer, `-maj<K>`, `-agent<T>`. */
export function modeSuffix(mode: EvalMode): string {
  if (mode.name === "voting") return `-maj${mode.n}`;
  if (mode.name === "agent") return `-agent${mode.maxTurns}`;
  return "";
}

/**
 * The name of a notebook run's folder: what defines the run, so that changing `LIMIT`, `DB`, `MODE` or `DIALECT`
 * in the Parameters cell starts (or resumes) the run that fits instead of refusing a folder that holds another:
 * `<model>[-maj<K>|-agent<T>][-values<K>][-<dialect>]-<selection>` ({@linkcode selectionName}); the dialect only
 * when it is not `sqlite`, the mode only when it is not one answer, the matched values only when `VALUES` asks. E.g. `gold-model-superhero-first30`,
 * `Llama-3.3-70B-Instruct-maj8-postgresql-all`.
 *
 * @param label The model, or the predictions' name.
 * @param params Notebook parameters (`mode` applies to models only: pass `single` for predictions).
 */
export function runFolderName(
  label: string,
  params: Pick<NotebookParams, "dataset" | "db" | "limit" | "sampleDataset" | "mode" | "dialect" | "values">,
): string {
  // Prompts with matched values are another run (`-values<K>`): a run folder holds one prompt.
  const values = params.values > 0 ? `-values${params.values}` : "";
  const dialect = params.dialect === "sqlite" ? "" : `-${params.dialect}`;
  return `${runSlug(label)}${modeSuffix(params.mode)}${values}${dialect}-${selectionName(params)}`;
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
  const isBaseline = (path: string) => basename(path).startsWith(`${BASELINE_LABEL}-`);
  return found.sort((a, b) => Number(isBaseline(b)) - Number(isBaseline(a)) || a.localeCompare(b));
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
 * @throws {NotebookStop} For an unreadable dataset, a `DB` no question uses (the line lists the databases there
 *   are), or a selected database that is missing: one line naming the Parameters-cell fix.
 */
export function describeSelection(params: NotebookParams): Promise<SelectionSummary> {
  return notebookStep(() => selectionOf(params));
}

async function selectionOf(params: NotebookParams): Promise<SelectionSummary> {
  const dataset = await loadDataset(params.dataset, { dbRoot: params.dbRoot });
  const known = [...new Set(dataset.examples.map((e) => e.db_id))].sort();
  const unknown = params.db.filter((d) => !known.includes(d));
  if (unknown.length) {
    const some = known.length > 12
      ? `${known.slice(0, 12).join(", ")}, … (${known.length} in all)`
      : known.join(", ");
    throw new NotebookStop(
      `DB names ${
        unknown.join(", ")
      }, which no question of ${dataset.path} uses: set DB in the Parameters cell ` +
        `to some of ${some}, or to null for the default`,
    );
  }
  const examples = selectExamples(dataset, { db: params.db, limit: params.limit });
  const { missing } = await checkDatabases(dataset, examples);
  if (missing.length) {
    throw new NotebookStop(
      `the database${missing.length > 1 ? "s" : ""} ${missing.join(", ")} ${
        missing.length > 1 ? "are" : "is"
      } ` +
        `missing under ${dataset.dbRoot}: run 01_download.ipynb to fetch them, or leave ` +
        `${missing.length > 1 ? "them" : "it"} out with DB in the Parameters cell (e.g. DB = ["${
          known.find((k) => !missing.includes(k)) ?? "superhero"
        }"])`,
    );
  }
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

/**
 * What the notebooks work on and where their runs go: the questions the parameters select, counted before anything
 * runs, the fixed run folder names, and the finished runs `06` lists.
 *
 * @module
 */
import { join } from "node:path";
import { loadDataset, selectExamples } from "../data/mod.ts";
import { exists } from "../util/mod.ts";
import { BASELINE_LABEL, type NotebookParams } from "./params.ts";

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

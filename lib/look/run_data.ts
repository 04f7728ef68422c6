/**
 * Reading run folders from disk: `run.json`, `results.jsonl` (last record per question wins, a torn line
 * skipped) and `summary.json`, with run ids and model labels made unique among runs loaded together. No Polars:
 * the report reads runs before it loads the native addon.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { parseResults } from "../run/mod.ts";
import type { ResultRecord, RunInfo, Summary } from "../types.ts";
import { READ_LIMITS, readTextSafeSync, UnsafeFileError } from "../util/mod.ts";

/** One run directory as read from disk. */
export interface RunData {
  /** The directory as given. */
  dir: string;
  /** Run id: the directory's name, made unique among the runs loaded together. */
  id: string;
  /** Model label: `run.json` model, else the predictions file's name; made unique among the runs loaded together. */
  label: string;
  /** `run.json`. */
  info: RunInfo;
  /** One record per question (the last one when a question was retried), in the order first seen. */
  records: ResultRecord[];
  /** `summary.json`, or null while the run has none yet. */
  summary: Summary | null;
  /** True when the last line of `results.jsonl` was half-written and skipped. */
  torn: boolean;
}

/** Reads and parses a JSON file, naming the file in any error. */
function readJson<T>(path: string): T {
  let text: string;
  try {
    text = readTextSafeSync(path, { maxBytes: READ_LIMITS.smallJson, what: "run file" });
  } catch (e) {
    if (e instanceof UnsafeFileError && e.kind === "missing") throw new Error(`missing ${path}`);
    throw e;
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`invalid JSON in ${path}: ${(e as Error).message}`);
  }
}

/** The name a predictions file goes by: its folder for `…/<name>/predict_dev.json`, else its file name. */
function predictionsName(path: string): string {
  const file = basename(path);
  if (/^predict_\w+\.json$/.test(file)) return basename(dirname(path));
  return file.replace(/\.json$/, "");
}

/**
 * Reads one run directory: `run.json` (required), `results.jsonl` (a torn last line is skipped; when a question
 * appears more than once, as after `--retry-failed`, its last record wins) and `summary.json` (null if absent).
 * Throws a one-line error naming the directory when it is missing or not a run.
 */
export function readRun(dir: string): RunData {
  let stat: Deno.FileInfo;
  try {
    stat = Deno.statSync(dir);
  } catch {
    throw new Error(`run directory not found: ${dir}`);
  }
  if (!stat.isDirectory) throw new Error(`not a directory: ${dir}`);
  let info: RunInfo;
  try {
    info = readJson<RunInfo>(join(dir, "run.json"));
  } catch (e) {
    throw new Error(`not a run directory: ${dir} (${(e as Error).message})`);
  }
  if (typeof info !== "object" || info === null || !info.dataset) {
    throw new Error(`not a run directory: ${dir} (run.json has no dataset)`);
  }
  let records: ResultRecord[] = [];
  let torn = false;
  const resultsPath = join(dir, "results.jsonl");
  try {
    const parsed = parseResults(
      readTextSafeSync(resultsPath, { maxBytes: READ_LIMITS.runLog, what: "run log" }),
      resultsPath,
    );
    torn = parsed.torn;
    records = [...parsed.records.values()];
  } catch (e) {
    if (!(e instanceof UnsafeFileError && e.kind === "missing")) throw e;
  }
  let summary: Summary | null = null;
  try {
    summary = readJson<Summary>(join(dir, "summary.json"));
  } catch (e) {
    if (!(e as Error).message.startsWith("missing ")) throw e;
  }
  const label = info.model ?? (info.predictions ? predictionsName(info.predictions) : basename(dir));
  return { dir, id: basename(dir.replace(/\/+$/, "")) || dir, label, info, records, summary, torn };
}

/** Makes names unique in order: the first keeps its name, later ones get ` #2`, ` #3`… */
function dedupe(names: string[]): string[] {
  const seen = new Map<string, number>();
  const used = new Set(names);
  return names.map((name) => {
    const k = (seen.get(name) ?? 0) + 1;
    seen.set(name, k);
    if (k === 1) return name;
    let n = k, candidate = `${name} #${n}`;
    while (used.has(candidate)) candidate = `${name} #${++n}`;
    used.add(candidate);
    return candidate;
  });
}

/** Reads many run directories, with run ids and model labels made unique across them (see {@link readRun}). */
export function readRuns(dirs: string[]): RunData[] {
  const runs = dirs.map(readRun);
  const ids = dedupe(runs.map((r) => r.id));
  const labels = dedupe(runs.map((r) => r.label));
  return runs.map((r, i) => ({ ...r, id: ids[i], label: labels[i] }));
}

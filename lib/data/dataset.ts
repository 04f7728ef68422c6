/**
 * Loading and validating BIRD-format datasets (dev, mini-dev, train, or any folder in that layout) and
 * predictions files in the official `predict_dev.json` format.
 *
 * @module
 */
import { basename, dirname, join, relative, resolve } from "node:path";
import { exists, READ_LIMITS, readFileSafe, UnsafeFileError } from "../util/mod.ts";
import { sha256Hex } from "../util/mod.ts";
import type { Example } from "../types.ts";

/** A loaded dataset: its file, content hash, database root and normalised questions. */
export interface Dataset {
  /** Absolute path of the JSON file. */
  path: string;
  /** sha256 (hex) of the file's bytes. */
  sha256: string;
  /** Folder holding `<db_id>/<db_id>.sqlite`. */
  dbRoot: string;
  examples: Example[];
}

/** A dataset or predictions file that cannot be used; the message names the file and the entry. */
export class DatasetError extends Error {
  override name = "DatasetError";
}

/** File names tried, in order, when a dataset is given as a folder. */
const DATASET_FILES = ["dev.json", "mini_dev_sqlite.json", "mini_dev.json", "train.json", "test.json"];

/** The separator of the official predictions format: `"<sql>\t----- bird -----\t<db_id>"`. */
export const BIRD_SEPARATOR = "\t----- bird -----\t";

/** Resolve a dataset argument (a JSON file or a BIRD-layout folder) to its JSON file. */
export async function resolveDatasetFile(pathOrFolder: string): Promise<string> {
  const abs = resolve(pathOrFolder);
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(abs);
  } catch (e) {
    // A symlink loop exists (lstat sees it) but cannot be followed: say so, not "not found".
    const loop = await Deno.lstat(abs).then((s) => s.isSymlink, () => false);
    if (loop) {
      throw new DatasetError(
        `${pathOrFolder}: dataset is a symlink that cannot be followed (${
          (e as Error).message.split(":")[0]
        })`,
      );
    }
    throw new DatasetError(`${pathOrFolder}: dataset not found`);
  }
  if (info.isFile) return abs;
  if (!info.isDirectory) {
    const kind = info.isFifo
      ? "a FIFO"
      : info.isCharDevice
      ? "a character device"
      : info.isBlockDevice
      ? "a block device"
      : info.isSocket
      ? "a socket"
      : "not a regular file";
    throw new DatasetError(`${pathOrFolder}: dataset is ${kind}, not a JSON file or a folder`);
  }
  for (const name of DATASET_FILES) {
    if (await exists(join(abs, name))) return join(abs, name);
  }
  throw new DatasetError(
    `${pathOrFolder}: no dataset file in folder (looked for ${DATASET_FILES.join(", ")})`,
  );
}

/**
 * The default database root: the `*_databases/` folder beside the dataset file (`dev_databases/`,
 * `train_databases/`), else `dev_databases/` when several or none exist.
 */
export async function defaultDbRoot(datasetFile: string): Promise<string> {
  const dir = dirname(datasetFile);
  const stem = basename(datasetFile).replace(/\.json$/, "").replace(/_sqlite$/, "");
  const preferred = [`${stem}_databases`, "dev_databases", "train_databases"];
  for (const name of preferred) if (await exists(join(dir, name))) return join(dir, name);
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory && e.name.endsWith("_databases")) return join(dir, e.name);
  }
  return join(dir, `${stem}_databases`);
}

/** Path of a database in BIRD layout: `<dbRoot>/<db_id>/<db_id>.sqlite`. */
export function dbPath(dbRoot: string, dbId: string): string {
  return join(dbRoot, dbId, `${dbId}.sqlite`);
}

/** Validate and normalise a parsed dataset array. Pure; `file` only names the source in errors. */
export function parseDataset(data: unknown, file: string): Example[] {
  if (!Array.isArray(data)) throw new DatasetError(`${file}: expected a JSON array of questions`);
  return data.map((raw, index) => {
    const where = `${file}: entry ${index}`;
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
      throw new DatasetError(`${where}: not an object`);
    }
    const q = raw as Record<string, unknown>;
    const sql = q.SQL ?? q.query;
    for (const [field, value] of [["db_id", q.db_id], ["question", q.question], ["SQL", sql]] as const) {
      if (typeof value !== "string") {
        throw new DatasetError(
          `${where}: field ${field === "SQL" ? "SQL (or query)" : field} missing or not a string`,
        );
      }
    }
    if (!/^[A-Za-z0-9_\-.]+$/.test(q.db_id as string) || (q.db_id as string).includes("..")) {
      throw new DatasetError(`${where}: db_id ${JSON.stringify(q.db_id)} is not a plain name`);
    }
    if (q.evidence !== undefined && q.evidence !== null && typeof q.evidence !== "string") {
      throw new DatasetError(`${where}: evidence is not a string`);
    }
    if (q.difficulty !== undefined && typeof q.difficulty !== "string") {
      throw new DatasetError(`${where}: difficulty is not a string`);
    }
    const qid = q.question_id;
    if (qid !== undefined && qid !== null && !Number.isInteger(qid)) {
      throw new DatasetError(`${where}: question_id is not an integer`);
    }
    return {
      index,
      question_id: (qid as number | undefined) ?? null,
      db_id: q.db_id as string,
      question: q.question as string,
      evidence: (q.evidence as string | undefined | null) ?? "",
      sql: sql as string,
      difficulty: (q.difficulty as string | undefined) ?? "unknown",
    };
  });
}

/**
 * Load a dataset from a JSON file or a BIRD-layout folder.
 *
 * @throws {DatasetError} naming the file and the bad entry.
 */
export async function loadDataset(pathOrFolder: string, options: { dbRoot?: string } = {}): Promise<Dataset> {
  const path = await resolveDatasetFile(pathOrFolder);
  let bytes: Uint8Array;
  try {
    bytes = await readFileSafe(path, { maxBytes: READ_LIMITS.dataset, what: "dataset" });
  } catch (e) {
    throw new DatasetError(
      e instanceof UnsafeFileError ? e.message : `${path}: cannot read (${(e as Error).message})`,
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new DatasetError(`${path}: malformed JSON (${(e as Error).message})`);
  }
  const examples = parseDataset(data, path);
  const dbRoot = options.dbRoot ? resolve(options.dbRoot) : await defaultDbRoot(path);
  return { path, sha256: sha256Hex(bytes), dbRoot, examples };
}

/** Which questions to take: `--db` filters (repeatable), then `--limit` takes the first N. */
export interface Selection {
  db?: string[];
  limit?: number | null;
}

/** Apply `--db` then `--limit`, keeping dataset order. */
export function selectExamples(dataset: Dataset, selection: Selection = {}): Example[] {
  let out = dataset.examples;
  if (selection.db?.length) {
    const known = new Set(out.map((e) => e.db_id));
    const unknown = selection.db.filter((d) => !known.has(d));
    if (unknown.length) {
      throw new DatasetError(`${dataset.path}: no question uses database ${unknown.join(", ")}`);
    }
    const want = new Set(selection.db);
    out = out.filter((e) => want.has(e.db_id));
  }
  if (selection.limit !== undefined && selection.limit !== null) out = out.slice(0, selection.limit);
  return out;
}

/** Databases used by `examples` whose `.sqlite` file is missing under the dataset's root. */
export async function missingDatabases(dataset: Dataset, examples: Example[]): Promise<string[]> {
  const ids = [...new Set(examples.map((e) => e.db_id))];
  const missing: string[] = [];
  for (const id of ids) if (!(await exists(dbPath(dataset.dbRoot, id)))) missing.push(id);
  return missing.sort();
}

/** What {@linkcode checkDatabases} found. */
export interface DatabaseCheck {
  /** db_ids whose `.sqlite` file does not exist, sorted. */
  missing: string[];
  /** Symlinks pointing outside the root that were allowed (`allowSymlinks`), with their real targets. */
  symlinks: { path: string; target: string }[];
}

/**
 * Check the databases used by `examples` before anything opens them: a missing file is listed; a directory, a
 * device such as `/dev/zero` or a FIFO (opening which would hang) is refused at once, naming it; a symlink in
 * the root (the db folder or the file) whose target lies outside the root is refused unless `allowSymlinks`,
 * and then reported back so the run log can say so.
 *
 * @throws {DatasetError} naming the offending path.
 */
export async function checkDatabases(
  dataset: Dataset,
  examples: Example[],
  options: { allowSymlinks?: boolean } = {},
): Promise<DatabaseCheck> {
  const root = await Deno.realPath(dataset.dbRoot).catch(() => resolve(dataset.dbRoot));
  const inside = (p: string) => {
    const rel = relative(root, p);
    return rel !== "" && !rel.startsWith("..") && !rel.startsWith("/");
  };
  const missing: string[] = [];
  const symlinks: DatabaseCheck["symlinks"] = [];
  for (const id of [...new Set(examples.map((e) => e.db_id))]) {
    const file = dbPath(dataset.dbRoot, id);
    let absent = false;
    for (const path of [join(dataset.dbRoot, id), file]) {
      let info: Deno.FileInfo;
      try {
        info = await Deno.lstat(path);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) {
          absent = true;
          break;
        }
        throw new DatasetError(`${path}: cannot be read (${(e as Error).message})`);
      }
      if (!info.isSymlink) continue;
      let target: string;
      try {
        target = await Deno.realPath(path);
      } catch {
        throw new DatasetError(`${path}: a symlink to nothing (its target does not exist)`);
      }
      if (inside(target)) continue;
      if (!options.allowSymlinks) {
        throw new DatasetError(
          `${path}: a symlink pointing outside the database root ${root} (to ${target}); refused, ` +
            "pass --allow-symlinks to follow it",
        );
      }
      if (!symlinks.some((s) => s.path === path)) symlinks.push({ path, target });
    }
    if (absent) {
      missing.push(id);
      continue;
    }
    const info = await Deno.stat(file);
    if (info.isDirectory) throw new DatasetError(`${file}: is a directory, not a SQLite database file`);
    if (!info.isFile) {
      throw new DatasetError(`${file}: not a regular file (a device, FIFO or socket); refused`);
    }
  }
  return { missing: missing.sort(), symlinks };
}

/** Official predictions: dataset index → SQL (or an error when the entry is unusable). */
export type Predictions = Map<number, { sql: string; db: string | null } | { error: string }>;

/**
 * Parse an official predictions file's content: `{"<index>": "<sql>\t----- bird -----\t<db_id>"}`.
 * A non-string value is kept as an error for that question (scored `pred_error`), not a file error.
 */
export function parsePredictions(data: unknown, file: string): Predictions {
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new DatasetError(
      `${file}: expected a JSON object {"<index>": "<sql>\\t----- bird -----\\t<db_id>"}`,
    );
  }
  const out: Predictions = new Map();
  // Only canonical indices: "0717" next to "717" would otherwise silently replace it.
  const bad = Object.keys(data).filter((key) => !/^(0|[1-9]\d*)$/.test(key));
  if (bad.length) {
    const shown = bad.slice(0, 5).map((k) => JSON.stringify(k)).join(", ");
    throw new DatasetError(
      `${file}: ${bad.length > 1 ? "keys" : "key"} ${shown}${
        bad.length > 5 ? ` and ${bad.length - 5} more` : ""
      } ` +
        `${bad.length > 1 ? "are not question indices" : "is not a question index"} ` +
        "(a non-negative integer without leading zeros, sign, spaces or decimals)",
    );
  }
  for (const [key, value] of Object.entries(data as Record<string, unknown>)) {
    if (typeof value !== "string") {
      out.set(Number(key), { error: `prediction ${key} is not a string` });
      continue;
    }
    // The official evaluator splits on the separator and takes the SQL before it.
    const cut = value.indexOf(BIRD_SEPARATOR);
    out.set(
      Number(key),
      cut >= 0
        ? { sql: value.slice(0, cut), db: value.slice(cut + BIRD_SEPARATOR.length).trim() || null }
        : { sql: value, db: null },
    );
  }
  return out;
}

/** A predictions file as read: its entries and the sha256 of its bytes (recorded in `run.json`). */
export interface PredictionsFile {
  sha256: string;
  entries: Predictions;
}

/** Read and parse a predictions file (read once: the hash comes from the same bytes). */
export async function loadPredictions(path: string): Promise<PredictionsFile> {
  let bytes: Uint8Array;
  try {
    // Never blocks on a FIFO nor reads /dev/zero: refused by name at once (lib/util/files.ts).
    bytes = await readFileSafe(path, { maxBytes: READ_LIMITS.predictions, what: "predictions file" });
  } catch (e) {
    if (e instanceof UnsafeFileError && e.kind === "folder") {
      throw new DatasetError(
        `${path}: is a folder; give the predictions file itself (e.g. ${path}/predict_dev.json)`,
      );
    }
    throw new DatasetError(e instanceof UnsafeFileError ? e.message : `${path}: predictions file not found`);
  }
  let data: unknown;
  try {
    data = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new DatasetError(`${path}: malformed JSON (${(e as Error).message})`);
  }
  return { sha256: sha256Hex(bytes), entries: parsePredictions(data, path) };
}

/** Render one prediction in the official format. */
export function formatPrediction(sql: string, dbId: string): string {
  return `${sql}${BIRD_SEPARATOR}${dbId}`;
}

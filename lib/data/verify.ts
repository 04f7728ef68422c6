/**
 * Verification of an extracted dataset folder: the questions and schema files parse, every `db_id` has its
 * `.sqlite`, and each database opens read-only and passes `PRAGMA quick_check`; and the summary's rendering.
 *
 * @module
 */
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { exists } from "../util/mod.ts";
import { readJsonStrict } from "./archive_files.ts";
import { type DatasetSpec, DownloadError } from "./bird_archives.ts";
import { formatBytes, Meter, type OnProgress } from "./download_progress.ts";
import { message } from "./archive_error.ts";

/** Databases and questions found by the verification pass. */
export interface VerificationSummary {
  /** Questions in the questions file. */
  questions: number;
  /** Distinct `db_id`s, each checked. */
  databases: number;
  /** Questions per difficulty (`unknown` when absent, as in TRAIN). */
  byDifficulty: Record<string, number>;
  /** Per database: questions and file size. */
  perDatabase: { db_id: string; questions: number; bytes: number }[];
  /** The `PRAGMA quick_check` result of every database ("ok"). */
  quickCheck: "ok";
}

/** What {@link checkDataset} found: the summary, and the sha256 of the JSON files it read, for the marker. */
export interface CheckedDataset {
  summary: VerificationSummary;
  /** By path relative to the folder: the questions and schema files, hashed from the bytes parsed. */
  jsonSha256: Record<string, string>;
}

/** The questions file's counts, as {@link readQuestions} gives them. */
export interface QuestionCounts {
  questions: number;
  byDifficulty: Record<string, number>;
  /** Questions per `db_id`. */
  perDb: Map<string, number>;
  /** sha256 of the questions and schema files, by path relative to the folder. */
  jsonSha256: Record<string, string>;
}

/**
 * Checks a dataset folder: the questions and schema files parse, every `db_id` has `<dbRoot>/<db>/<db>.sqlite`,
 * and each database opens read-only and passes `PRAGMA quick_check`.
 *
 * @param folder The dataset folder (e.g. `data/dev_20240627`).
 * @param spec Which layout to expect.
 * @param onProgress Progress callback (phase `verify`, counting databases).
 * @returns The summary, and the hashes of the JSON files parsed, so the marker need not read them again.
 * @throws {DownloadError} naming the missing databases or the file that failed.
 */
export async function checkDataset(
  folder: string,
  spec: DatasetSpec,
  onProgress?: OnProgress,
): Promise<CheckedDataset> {
  const { questions, byDifficulty, perDb, jsonSha256 } = await readQuestions(folder, spec);
  const dbRoot = join(folder, spec.dbRoot);
  await refuseMissing(dbRoot, [...perDb.keys()]);

  const meter = new Meter("verify", spec.folder, onProgress);
  const perDatabase = [];
  let checked = 0;
  for (const [dbId, count] of [...perDb].sort(([a], [b]) => a.localeCompare(b))) {
    const path = join(dbRoot, dbId, `${dbId}.sqlite`);
    const result = quickCheck(path);
    if (result !== "ok") {
      throw new DownloadError(`${path}: PRAGMA quick_check failed: ${result.slice(0, 200)}`);
    }
    perDatabase.push({ db_id: dbId, questions: count, bytes: (await Deno.stat(path)).size });
    meter.update(++checked, perDb.size);
  }
  meter.finish(checked, perDb.size);
  return {
    summary: { questions, databases: perDb.size, byDifficulty, perDatabase, quickCheck: "ok" },
    jsonSha256,
  };
}

/** Every database named, before any is opened: the error lists all that are missing at once. */
async function refuseMissing(dbRoot: string, dbIds: string[]): Promise<void> {
  const missing = [];
  for (const dbId of dbIds) {
    if (!(await exists(join(dbRoot, dbId, `${dbId}.sqlite`)))) missing.push(dbId);
  }
  if (missing.length === 0) return;
  throw new DownloadError(
    `${dbRoot}: missing database${missing.length > 1 ? "s" : ""} ${
      missing.map((id) => `${id}/${id}.sqlite`).join(", ")
    }`,
  );
}

/** The `PRAGMA quick_check` result of a database opened read-only, rows joined with "; " ("ok" when whole). */
function quickCheck(path: string): string {
  try {
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      const rows = db.prepare("PRAGMA quick_check").all() as Record<string, unknown>[];
      return rows.map((row) => String(Object.values(row)[0])).join("; ");
    } finally {
      db.close();
    }
  } catch (error) {
    throw new DownloadError(`${path}: cannot be opened as SQLite (${message(error)})`, { cause: error });
  }
}

/**
 * Parses the questions file (and checks that the schema file parses): counts per difficulty and database, and
 * the sha256 of both files.
 *
 * @param folder The dataset folder.
 * @param spec Where its questions and schema files are.
 * @throws {DownloadError} naming the file, or the question without a `db_id`.
 */
export async function readQuestions(folder: string, spec: DatasetSpec): Promise<QuestionCounts> {
  const questionsPath = join(folder, spec.questions);
  const read = await readJsonStrict(questionsPath);
  const questions = read.value;
  if (!Array.isArray(questions)) {
    throw new DownloadError(`${questionsPath}: expected a JSON array of questions`);
  }
  const jsonSha256 = {
    [spec.questions]: read.sha256,
    [spec.tables]: (await readJsonStrict(join(folder, spec.tables))).sha256,
  };

  const byDifficulty: Record<string, number> = {};
  const perDb = new Map<string, number>();
  for (const [index, question] of questions.entries()) {
    const dbId = (question as { db_id?: unknown })?.db_id;
    if (typeof dbId !== "string" || dbId === "") {
      throw new DownloadError(`${questionsPath}: question ${index} has no db_id`);
    }
    const difficulty = (question as { difficulty?: unknown }).difficulty;
    const bucket = typeof difficulty === "string" && difficulty !== "" ? difficulty : "unknown";
    byDifficulty[bucket] = (byDifficulty[bucket] ?? 0) + 1;
    perDb.set(dbId, (perDb.get(dbId) ?? 0) + 1);
  }
  return { questions: questions.length, byDifficulty, perDb, jsonSha256 };
}

const DIFFICULTY_ORDER = ["simple", "moderate", "challenging"];

/**
 * Renders a verification summary as plain-text tables: questions per difficulty, then per database.
 *
 * @param summary {@link DownloadResult.verification}.
 * @param title First line, e.g. the dataset folder.
 */
export function formatSummary(summary: VerificationSummary, title = "dataset"): string {
  const buckets = Object.keys(summary.byDifficulty).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const lines = [
    `${title}: ${summary.questions} questions, ${summary.databases} database${
      summary.databases === 1 ? "" : "s"
    } ` +
    `(all pass PRAGMA quick_check)`,
    "",
    table(["difficulty", "questions"], [
      ...buckets.map((bucket) => [bucket, String(summary.byDifficulty[bucket])]),
      ["total", String(summary.questions)],
    ]),
    "",
    table(
      ["database", "questions", "size"],
      summary.perDatabase.map((db) => [db.db_id, String(db.questions), formatBytes(db.bytes)]),
    ),
  ];
  return lines.join("\n");
}

function rank(bucket: string): number {
  const index = DIFFICULTY_ORDER.indexOf(bucket);
  return index === -1 ? DIFFICULTY_ORDER.length : index;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => row[i].length)));
  // Numbers right-aligned, names left-aligned.
  const line = (row: string[]) =>
    row.map((cell, i) => i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

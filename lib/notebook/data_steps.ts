/**
 * `01`'s step: download and verify the BIRD set the parameters name, or check the bundled sample, and its
 * summary as table rows.
 *
 * @module
 */
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
  downloadDataset,
  DownloadError,
  type DownloadProgress,
  type DownloadResult,
  type VerificationSummary,
} from "../data/mod.ts";
import { DIFFICULTIES } from "../run/mod.ts";
import type { NotebookParams } from "./params.ts";

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

/** Runs `PRAGMA quick_check` on a database file; throws naming the file when it is not `ok`. */
function quickCheck(file: string): void {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    const check = db.prepare("PRAGMA quick_check").all().map((row) => String(Object.values(row)[0])).join(
      "; ",
    );
    if (check !== "ok") throw new Error(`${file}: PRAGMA quick_check failed: ${check}`);
  } finally {
    db.close();
  }
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
    quickCheck(file);
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

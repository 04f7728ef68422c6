/**
 * What a download remembers: the verification marker in a dataset folder (its summary and every file's size,
 * the JSON files' sha256) that tells a later run the folder is still whole or what changed, and
 * `downloads/manifest.json`, the sha256 of each archive that once extracted cleanly.
 *
 * @module
 */
import { join } from "node:path";
import { fileSha256, writeJsonAtomic } from "../util/mod.ts";
import { fileSize, readJson } from "./archive_files.ts";
import { type DatasetName, type DatasetSpec, DownloadError } from "./bird_archives.ts";
import type { OnProgress } from "./download_progress.ts";
import { checkDataset, type CheckedDataset, readQuestions, type VerificationSummary } from "./verify.ts";
import { message } from "./archive_error.ts";

/** Name of the file that marks a dataset folder as complete and verified. */
export const VERIFIED_MARKER = ".text2sql-verified.json";

/** The verification marker's content. */
export interface Marker {
  dataset: DatasetName;
  url: string | null;
  archive: string;
  sha256: string | null;
  verified_at: string;
  summary: VerificationSummary;
  /**
   * Every file of the folder when it was verified, by path relative to it with `/` separators: its size, and
   * the sha256 of the JSON files (questions and schema, a few MB). Lets a later run tell that the dataset is
   * still whole without reading the databases. Absent from markers written before it was recorded.
   */
  files?: Record<string, RecordedFile>;
}

interface RecordedFile {
  bytes: number;
  sha256?: string;
}

interface ManifestRecord {
  url: string;
  sha256: string;
  bytes: number;
  recorded_at: string;
}

interface Manifest {
  archives: Record<string, ManifestRecord>;
}

/**
 * The marker of a dataset folder, `null` when absent, torn, or without a summary (not one this code wrote).
 *
 * @param folder The dataset folder.
 */
export async function readMarker(folder: string): Promise<Marker | null> {
  const marker = await readJson<Marker>(join(folder, VERIFIED_MARKER));
  return marker?.summary?.perDatabase ? marker : null;
}

/**
 * Records the files of a folder whose marker was written before files were recorded, so later runs check sizes
 * and hashes. A read-only data folder keeps the old marker and is checked against its summary each time.
 *
 * @param folder The dataset folder.
 * @param spec Its layout.
 * @param marker Its marker, as {@link readMarker} read it.
 */
export async function completeMarker(folder: string, spec: DatasetSpec, marker: Marker): Promise<void> {
  if (marker.files) return;
  const files = await recordFiles(folder, spec, marker.summary);
  await writeJsonAtomic(join(folder, VERIFIED_MARKER), { ...marker, files } satisfies Marker)
    .catch(() => undefined);
}

/**
 * Writes the marker of a folder that just passed {@link checkDataset}.
 *
 * @param folder The dataset folder.
 * @param spec Its layout.
 * @param source Where it came from (`null`s for a folder adopted without an archive), and what was checked.
 */
export async function writeMarker(
  folder: string,
  spec: DatasetSpec,
  source: { url: string | null; sha256: string | null; checked: CheckedDataset },
): Promise<void> {
  await writeJsonAtomic(
    join(folder, VERIFIED_MARKER),
    {
      dataset: spec.name,
      url: source.url,
      archive: spec.archive,
      sha256: source.sha256,
      verified_at: new Date().toISOString(),
      summary: source.checked.summary,
      files: await recordFiles(folder, spec, source.checked.summary, source.checked.jsonSha256),
    } satisfies Marker,
  );
}

/**
 * Verifies a folder found without a marker (e.g. unpacked by hand) and writes its marker; refuses it otherwise.
 *
 * @param folder The dataset folder.
 * @param spec Its layout.
 * @param onProgress Progress of the `verify` phase.
 * @throws {DownloadError} when the folder is not a complete dataset.
 */
export async function adopt(
  folder: string,
  spec: DatasetSpec,
  onProgress?: OnProgress,
): Promise<VerificationSummary> {
  let checked: CheckedDataset;
  try {
    checked = await checkDataset(folder, spec, onProgress);
  } catch (error) {
    throw new DownloadError(
      `${folder} exists but is not a complete dataset (${message(error)}); move it away and run again`,
      { cause: error },
    );
  }
  await writeMarker(folder, spec, { url: null, sha256: null, checked });
  return checked.summary;
}

/**
 * Records every file of a verified folder for {@link findDamage}: its size, and the sha256 of the JSON files
 * (taken from `knownSha256` for those verification already read). The questions file, the schema file and
 * each database are recorded even when reached through a symlink.
 */
async function recordFiles(
  folder: string,
  spec: DatasetSpec,
  summary: VerificationSummary,
  knownSha256: Record<string, string> = {},
): Promise<Record<string, RecordedFile>> {
  const required = [
    spec.questions,
    spec.tables,
    ...summary.perDatabase.map(({ db_id }) => `${spec.dbRoot}/${db_id}/${db_id}.sqlite`),
  ];
  const files: Record<string, RecordedFile> = {};
  for (const rel of [...required, ...(await listFiles(folder))].sort()) {
    if (rel === VERIFIED_MARKER || rel in files) continue;
    const path = join(folder, rel);
    const bytes = await fileSize(path);
    if (bytes === null) continue; // a dangling symlink: not part of the dataset
    if (!rel.toLowerCase().endsWith(".json")) files[rel] = { bytes };
    else files[rel] = { bytes, sha256: knownSha256[rel] ?? await fileSha256(path) };
  }
  return files;
}

/** Files under `dir` (symlinks to files included, symlinked folders not followed), relative, `/`-separated. */
async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(join(dir, prefix))) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory) out.push(...(await listFiles(dir, rel)));
    else out.push(rel);
  }
  return out;
}

/**
 * What is missing or changed in a folder since its marker was written, as a few words naming the first file
 * (and how many more); `null` when every recorded file is there with its size and hash. A marker written
 * before files were recorded is checked against its summary instead: the questions file must give the same
 * counts and each database must have the size it had.
 *
 * @param folder The dataset folder.
 * @param spec Its layout.
 * @param marker Its marker.
 */
export async function findDamage(folder: string, spec: DatasetSpec, marker: Marker): Promise<string | null> {
  const problems = await changedFiles(folder, recordedFiles(spec, marker));
  if (!marker.files && problems.length === 0) {
    const changed = await changedQuestions(folder, spec, marker.summary);
    if (changed !== null) problems.push(changed);
  }
  if (problems.length === 0) return null;
  return problems[0] + (problems.length > 1 ? ` and ${problems.length - 1} more` : "");
}

/** The files a marker vouches for; an old marker's databases, with the sizes of its summary. */
function recordedFiles(spec: DatasetSpec, marker: Marker): Record<string, RecordedFile> {
  return marker.files ?? Object.fromEntries(
    marker.summary.perDatabase.map((
      { db_id, bytes },
    ) => [`${spec.dbRoot}/${db_id}/${db_id}.sqlite`, { bytes }]),
  );
}

/** One line per recorded file that is missing or has another size or sha256. */
async function changedFiles(folder: string, files: Record<string, RecordedFile>): Promise<string[]> {
  const problems: string[] = [];
  for (const [rel, recorded] of Object.entries(files)) {
    const path = join(folder, rel);
    const bytes = await fileSize(path);
    if (bytes === null) problems.push(`${rel} is missing`);
    else if (bytes !== recorded.bytes) problems.push(`${rel} is ${bytes} bytes, not ${recorded.bytes}`);
    else if (recorded.sha256 && (await fileSha256(path)) !== recorded.sha256) {
      problems.push(`${rel} has changed (sha256)`);
    }
  }
  return problems;
}

/** For an old marker: whether the questions file still gives the summary's counts (a line when not). */
async function changedQuestions(
  folder: string,
  spec: DatasetSpec,
  summary: VerificationSummary,
): Promise<string | null> {
  try {
    const { questions, perDb } = await readQuestions(folder, spec);
    const expected = summary.perDatabase.map(({ db_id, questions }) => `${db_id}:${questions}`);
    const found = [...perDb].map(([dbId, count]) => `${dbId}:${count}`);
    if (questions !== summary.questions || expected.sort().join() !== found.sort().join()) {
      return `${spec.questions} has changed (its questions differ from the summary)`;
    }
    return null;
  } catch (error) {
    return message(error).replace(`${folder}/`, "");
  }
}

/** `downloads/manifest.json`: the sha256 each archive had when it first extracted cleanly. */
export class ArchiveManifest {
  readonly #path: string;
  readonly #manifest: Manifest;

  private constructor(path: string, manifest: Manifest) {
    this.#path = path;
    this.#manifest = manifest;
  }

  /**
   * The manifest in `downloads`, empty when there is none yet.
   *
   * @param downloads The downloads folder.
   */
  static async read(downloads: string): Promise<ArchiveManifest> {
    const path = join(downloads, "manifest.json");
    return new ArchiveManifest(path, (await readJson<Manifest>(path)) ?? { archives: {} });
  }

  /** True when `archive` has a recorded sha256. */
  has(archive: string): boolean {
    return archive in this.#manifest.archives;
  }

  /**
   * Refuses an archive whose sha256 differs from the one recorded.
   *
   * @throws {DownloadError} naming the archive, both hashes and the way out.
   */
  check(archive: string, archivePath: string, sha256: string): void {
    const recorded = this.#manifest.archives[archive];
    if (!recorded || recorded.sha256 === sha256) return;
    throw new DownloadError(
      `${archivePath}: sha256 ${sha256} differs from ${recorded.sha256} recorded in ${this.#path} on ` +
        `${recorded.recorded_at}: the archive is corrupt or changed upstream (delete the archive to fetch it ` +
        `again, or its manifest entry to accept it)`,
    );
  }

  /** Records an archive whose CRCs passed (never before, so the manifest never pins a corrupt download). */
  async record(archive: string, entry: { url: string; sha256: string; archivePath: string }): Promise<void> {
    this.#manifest.archives[archive] = {
      url: entry.url,
      sha256: entry.sha256,
      bytes: (await Deno.stat(entry.archivePath)).size,
      recorded_at: new Date().toISOString(),
    };
    await writeJsonAtomic(this.#path, this.#manifest);
  }
}

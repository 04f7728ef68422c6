/**
 * Extraction of a downloaded BIRD archive into a temporary folder: the outer zip, then each nested zip beside
 * itself (CRC-32 checked by `zip_stream.ts`), a corrupt archive deleted so the next run fetches it again, and
 * the temporary folders a killed run left behind.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { exists } from "../util/mod.ts";
import { DownloadError } from "./bird_archives.ts";
import { Meter, type OnProgress } from "./download_progress.ts";
import { ArchiveError } from "./archive_error.ts";
import type { ExtractResult } from "./zip_stream.ts";

/** Progress, log and cancellation of an extraction. */
export interface ExtractionOptions {
  onProgress?: OnProgress;
  log: (line: string) => void;
  signal?: AbortSignal;
}

/**
 * {@link extractNested}, deleting the archive when it is corrupt or unreadable: extracting the same bytes again
 * cannot succeed, so the next run fetches a fresh copy. An unsafe archive is intact, only hostile, and is kept;
 * so is one whose nested zip failed (it passed the outer CRC: a fresh copy would hold the same bytes).
 *
 * @param archivePath The downloaded archive.
 * @param tmp The temporary folder it goes into.
 * @param options Progress, log and abort signal.
 */
export async function extractOrDiscard(
  archivePath: string,
  tmp: string,
  options: ExtractionOptions,
): Promise<void> {
  try {
    await extractNested(archivePath, tmp, options);
  } catch (error) {
    if (!(error instanceof ArchiveError) || error.kind === "unsafe" || error.archive !== archivePath) {
      throw error;
    }
    await Deno.remove(archivePath).catch(() => undefined);
    throw new ArchiveError(
      `${error.message}; the archive was deleted so the next run downloads it again`,
      error.kind,
      error.archive,
      error.entry,
      { cause: error },
    );
  }
}

/**
 * The dataset folder an extraction staged in `tmp`.
 *
 * @param tmp The temporary folder the archive went into.
 * @param folder The top-level folder the archive must hold.
 * @param archivePath The archive, named in the error.
 * @throws {DownloadError} listing what the archive held instead.
 */
export async function stagedFolder(tmp: string, folder: string, archivePath: string): Promise<string> {
  const staged = join(tmp, folder);
  if (await exists(staged)) return staged;
  const top = [];
  for await (const entry of Deno.readDir(tmp)) top.push(entry.name);
  throw new DownloadError(
    `${archivePath}: expected a top-level folder ${folder}/ but found ${top.join(", ") || "nothing"}`,
  );
}

/**
 * Removes `.tmp-<name>-*` folders left by a run that was killed mid-extraction.
 *
 * @param dest The folder that holds the dataset folders.
 * @param name The dataset name.
 */
export async function removeStaleTemps(dest: string, name: string): Promise<void> {
  for await (const entry of Deno.readDir(dest)) {
    if (entry.isDirectory && entry.name.startsWith(`.tmp-${name}-`)) {
      await Deno.remove(join(dest, entry.name), { recursive: true }).catch(() => undefined);
    }
  }
}

/** Extracts the outer archive into `tmp`, then every `.zip` it held beside itself, deleting the inner zip. */
async function extractNested(archivePath: string, tmp: string, options: ExtractionOptions): Promise<void> {
  options.log(`extracting ${archivePath}`);
  const outer = await extractWithProgress(archivePath, tmp, options);
  for (const rel of outer.files.filter((file) => file.toLowerCase().endsWith(".zip"))) {
    const inner = join(tmp, rel);
    options.log(`extracting nested ${rel}`);
    try {
      await extractWithProgress(inner, dirname(inner), options);
    } catch (error) {
      if (!(error instanceof ArchiveError)) throw error;
      // The staged path is gone once the temporary folder is removed: name the archive the user has.
      const shown = `${archivePath} › ${rel}`;
      throw new ArchiveError(error.message.replace(inner, shown), error.kind, shown, error.entry, {
        cause: error,
      });
    }
    await Deno.remove(inner);
  }
}

async function extractWithProgress(
  zipPath: string,
  destDir: string,
  options: ExtractionOptions,
): Promise<ExtractResult> {
  const meter = new Meter("extract", basename(zipPath), options.onProgress);
  let total = 0;
  let done = 0;
  // zip.js is loaded only when an archive is extracted (a run that scores never pays for it).
  const { extractZip } = await import("./zip_stream.ts");
  const result = await extractZip(zipPath, destDir, {
    signal: options.signal,
    onStart: (bytes) => total = bytes,
    onBytes: (n) => meter.update(done += n, total),
  });
  meter.finish(result.bytes, result.declaredBytes);
  return result;
}

/**
 * BIRD archives: resumable download, sha256 manifest, streaming extraction (outer zip, then the nested
 * databases zip), an atomic finish and a verification pass.
 *
 * `deno task download dev|train|mini-dev [--dest data] [--url URL] [--quiet] [--remove-archive]` calls
 * {@link downloadCommand}; notebooks call {@link downloadDataset}. Layout produced (the contract in
 * ARCHITECTURE.md): `<dest>/dev_20240627/{dev.json, dev_tables.json, dev_databases/…}`,
 * `<dest>/train/{train.json, train_tables.json, train_databases/…}`, `<dest>/minidev/MINIDEV/…`; archives and
 * `manifest.json` under `<dest>/downloads/`.
 *
 * Environment variables (the notebook in CI points them at a local server): `TEXT2SQL_BIRD_URL_DEV`,
 * `TEXT2SQL_BIRD_URL_TRAIN`, `TEXT2SQL_BIRD_URL_MINI_DEV` replace the official URL of that dataset; an explicit
 * `--url` / `url` option wins over them.
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import { basename, dirname, join, relative, resolve } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
import { exists, fileSha256, writeJsonAtomic } from "../util/mod.ts";
import { sha256Hex } from "../util/mod.ts";
import { ArchiveError, extractZip, message } from "./zip_stream.ts";

/** The datasets this command knows. */
export type DatasetName = "dev" | "train" | "mini-dev";

/** Where a dataset comes from and how its archive is laid out. */
export interface DatasetSpec {
  name: DatasetName;
  /** Official URL. */
  url: string;
  /** Environment variable that replaces the official URL. */
  envVar: string;
  /** File name of the archive under `<dest>/downloads/`. */
  archive: string;
  /** Top-level folder of the archive, which becomes `<dest>/<folder>`. */
  folder: string;
  /** Questions file, relative to the folder. */
  questions: string;
  /** Schema file, relative to the folder. */
  tables: string;
  /** Databases folder (`<db>/<db>.sqlite`), relative to the folder. */
  dbRoot: string;
}

const BIRD_BASE = "https://bird-bench.oss-cn-beijing.aliyuncs.com";

/** The official BIRD archives and their layouts. */
const DATASETS: Readonly<Record<DatasetName, DatasetSpec>> = {
  dev: {
    name: "dev",
    url: `${BIRD_BASE}/dev.zip`,
    envVar: "TEXT2SQL_BIRD_URL_DEV",
    archive: "dev.zip",
    folder: "dev_20240627",
    questions: "dev.json",
    tables: "dev_tables.json",
    dbRoot: "dev_databases",
  },
  train: {
    name: "train",
    url: `${BIRD_BASE}/train.zip`,
    envVar: "TEXT2SQL_BIRD_URL_TRAIN",
    archive: "train.zip",
    folder: "train",
    questions: "train.json",
    tables: "train_tables.json",
    dbRoot: "train_databases",
  },
  "mini-dev": {
    name: "mini-dev",
    url: `${BIRD_BASE}/minidev.zip`,
    envVar: "TEXT2SQL_BIRD_URL_MINI_DEV",
    archive: "minidev.zip",
    folder: "minidev",
    questions: "MINIDEV/mini_dev_sqlite.json",
    tables: "MINIDEV/dev_tables.json",
    dbRoot: "MINIDEV/dev_databases",
  },
};

/** Name of the file that marks a dataset folder as complete and verified. */
export const VERIFIED_MARKER = ".text2sql-verified.json";

/** One progress report; `done`/`total` are bytes, except in the `verify` phase where they count databases. */
export interface DownloadProgress {
  phase: "download" | "hash" | "extract" | "verify";
  /** What is being worked on (archive or entry name). */
  label: string;
  done: number;
  /** `null` when the server did not say how big the file is. */
  total: number | null;
  /** Units per second over this phase so far (for `download`, bytes fetched in this run only). */
  rate: number;
  /** Seconds left at the current rate, `null` when unknown. */
  etaSeconds: number | null;
}

/** Options of {@link downloadDataset}. */
export interface DownloadOptions {
  /** Folder that receives the dataset folder and `downloads/`; default `data`. */
  dest?: string;
  /** Archive URL; default from the dataset's environment variable, then the official URL. */
  url?: string;
  /** Progress reports, about ten per second at most per phase, plus each phase's last one. */
  onProgress?: (progress: DownloadProgress) => void;
  /** Informational lines (what is being done); nothing is printed by default. */
  log?: (line: string) => void;
  /** Attempts in a row that may fail without receiving a byte before giving up; default 6. */
  retries?: number;
  /** First backoff delay in ms, doubled after each failed attempt (capped at 30 s); default 1000. */
  retryDelayMs?: number;
  /** An attempt that receives nothing for this long is aborted and retried; default 60 000 ms. */
  stallTimeoutMs?: number;
  /** Keep the archive under `<dest>/downloads/` after a successful extraction; default true. */
  keepArchive?: boolean;
  /** Cancels the download or extraction (the temporary folder is removed). */
  signal?: AbortSignal;
}

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

/** What {@link downloadDataset} did and where the dataset is. */
export interface DownloadResult {
  dataset: DatasetName;
  /** `<dest>/<folder>`, absolute. */
  folder: string;
  /** The questions file (e.g. `dev.json`). */
  questionsPath: string;
  /** The schema file (e.g. `dev_tables.json`). */
  tablesPath: string;
  /** The databases folder (the `--db-root` of `deno task eval`). */
  dbRoot: string;
  /** Where the archive is (or was, when not kept). */
  archivePath: string;
  /** sha256 of the archive, `null` for a folder adopted without one. */
  sha256: string | null;
  url: string;
  /** `true` when bytes were requested from the network in this call. */
  fetched: boolean;
  /** Bytes received from the network in this call. */
  bytesFetched: number;
  /** `true` when this call extracted the archive. */
  extracted: boolean;
  /**
   * What this call found missing or changed in a dataset verified before (one line), which is why it extracted
   * the archive again; `null` otherwise.
   */
  repaired: string | null;
  verification: VerificationSummary;
}

/** A failure of the download command; its message is one line naming the URL or file. */
export class DownloadError extends Error {
  /** @param message One line naming the URL or file. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DownloadError";
  }
}

interface Marker {
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
 * Resolves a dataset name as typed on the command line (`mini-dev`, `minidev`, `mini_dev` are one dataset).
 *
 * @param name The name given.
 * @throws {DownloadError} for an unknown name.
 */
export function datasetSpec(name: string): DatasetSpec {
  const key = name.toLowerCase().replace(/[_]/g, "-").replace(/^minidev$/, "mini-dev");
  if (key in DATASETS) return DATASETS[key as DatasetName];
  throw new DownloadError(`unknown dataset "${name}": expected dev, train or mini-dev`);
}

/**
 * Downloads, extracts and verifies one BIRD dataset, doing nothing (and making no request) when it is already
 * there, verified and unchanged: every file the marker records still has its size, and the JSON files their
 * sha256 (the databases are not read again). A verified folder that lost or changed a file since is extracted
 * again from the kept archive (its sha256 checked against the manifest), or downloaded again when the archive
 * was removed; it is replaced only once the new copy passed verification.
 *
 * Steps: the archive streams to `<dest>/downloads/<archive>.part` (HTTP range resume, retries with exponential
 * backoff, size checked against Content-Length / Content-Range), is renamed to `<archive>`, and its sha256 is
 * checked against `<dest>/downloads/manifest.json` (recorded at the first successful extraction). It is then
 * extracted, CRC-32 checked, into `<dest>/.tmp-<name>-<random>/`, the nested `*_databases.zip` likewise, the
 * result verified (every `db_id` has its `.sqlite`, which opens read-only and passes `PRAGMA quick_check`), a
 * marker written and the folder renamed into place. On any failure the temporary folder is removed; a corrupt
 * archive is deleted so the next run fetches it again.
 *
 * A dataset folder that exists without the marker (e.g. unpacked by hand) is verified in place and adopted when
 * it passes, and refused otherwise.
 *
 * @example In a notebook, with an in-place progress line:
 * ```ts
 * const result = await downloadDataset("dev", {
 *   dest: "../../data",
 *   onProgress: (p) => Deno.jupyter.display({ "text/plain": formatProgress(p) }, { raw: true, display_id: "dl", update: seen }),
 * });
 * ```
 * (`seen` being false for the first call, true after; the URL comes from `TEXT2SQL_BIRD_URL_DEV` when set.)
 *
 * @param which `dev`, `train` or `mini-dev`.
 * @param options Destination, URL, progress callback, retries.
 * @throws {DownloadError} or {ArchiveError}, with a one-line message naming the URL, archive, entry or file.
 */
export async function downloadDataset(
  which: DatasetName | string,
  options: DownloadOptions = {},
): Promise<DownloadResult> {
  const spec = datasetSpec(which);
  const dest = resolve(options.dest ?? "data");
  const url = options.url ?? Deno.env.get(spec.envVar) ?? spec.url;
  const log = options.log ?? (() => {});
  const folder = join(dest, spec.folder);
  const downloads = join(dest, "downloads");
  const archivePath = join(downloads, spec.archive);
  const paths = {
    dataset: spec.name,
    folder,
    questionsPath: join(folder, spec.questions),
    tablesPath: join(folder, spec.tables),
    dbRoot: join(folder, spec.dbRoot),
    archivePath,
    url,
  };

  /** The result of a call that found the dataset in place and extracted nothing. */
  const untouched = (sha256: string | null, verification: VerificationSummary): DownloadResult => ({
    ...paths,
    sha256,
    fetched: false,
    bytesFetched: 0,
    extracted: false,
    repaired: null,
    verification,
  });

  const markerPath = join(folder, VERIFIED_MARKER);
  const marker = await readJson<Marker>(markerPath);
  // A marker without a summary is not one this code wrote: treated as absent, like a torn one.
  const verified = marker?.summary?.perDatabase ? marker : null;
  // The marker only says the folder was whole once: a file deleted or truncated since must not pass as
  // verified. Sizes and the JSON files' hashes are cheap; the databases are not read.
  const damage = verified ? await findDamage(folder, spec, verified) : null;
  if (verified && damage === null) {
    if (!verified.files) {
      // Written before files were recorded: record them now so later runs check sizes and hashes. A
      // read-only data folder keeps the old marker and is checked against its summary each time.
      const files = await recordFiles(folder, spec, verified.summary);
      await writeJsonAtomic(markerPath, { ...verified, files } satisfies Marker).catch(() => undefined);
    }
    log(`${folder} is already downloaded and verified (${VERIFIED_MARKER}, files unchanged); nothing to do`);
    return untouched(verified.sha256, verified.summary);
  }
  if (damage !== null) {
    // The lines that follow say where from: the kept archive (checked against the manifest) or the URL.
    log(`${folder} has changed since it was verified (${damage}); extracting it again`);
  } else if (await exists(folder)) {
    log(`${folder} exists without ${VERIFIED_MARKER}: verifying it in place`);
    return untouched(null, await adopt(folder, spec, options.onProgress));
  }

  await Deno.mkdir(downloads, { recursive: true });
  const manifestPath = join(downloads, "manifest.json");
  const manifest = (await readJson<Manifest>(manifestPath)) ?? { archives: {} };
  const recorded = manifest.archives[spec.archive];

  let sha256: string;
  let fetched = false;
  let bytesFetched = 0;
  if (await exists(archivePath)) {
    log(`using ${archivePath}, downloaded before`);
    sha256 = await hashWithProgress(archivePath, options.onProgress);
  } else {
    log(`downloading ${url} to ${archivePath}`);
    const got = await fetchArchive(url, archivePath, options);
    sha256 = got.sha256;
    fetched = got.requests > 0;
    bytesFetched = got.bytesFetched;
  }
  if (recorded && recorded.sha256 !== sha256) {
    throw new DownloadError(
      `${archivePath}: sha256 ${sha256} differs from ${recorded.sha256} recorded in ${manifestPath} on ` +
        `${recorded.recorded_at}: the archive is corrupt or changed upstream (delete the archive to fetch it ` +
        `again, or its manifest entry to accept it)`,
    );
  }

  await removeStaleTemps(dest, spec.name);
  const tmp = join(dest, `.tmp-${spec.name}-${crypto.randomUUID().slice(0, 8)}`);
  let verification: VerificationSummary;
  try {
    await extractOrDiscard(archivePath, tmp, options, log);
    const staged = join(tmp, spec.folder);
    if (!(await exists(staged))) {
      const top = [];
      for await (const entry of Deno.readDir(tmp)) top.push(entry.name);
      throw new DownloadError(
        `${archivePath}: expected a top-level folder ${spec.folder}/ but found ${
          top.join(", ") || "nothing"
        }`,
      );
    }
    if (!recorded) {
      // Recorded only once the CRCs passed, so the manifest never pins a corrupt download.
      manifest.archives[spec.archive] = {
        url,
        sha256,
        bytes: (await Deno.stat(archivePath)).size,
        recorded_at: new Date().toISOString(),
      };
      await writeJsonAtomic(manifestPath, manifest);
    }
    log(`verifying ${spec.folder}`);
    const checked = await checkDataset(staged, spec, options.onProgress);
    verification = checked.summary;
    await writeMarker(staged, spec, { url, sha256 }, checked);
    // The damaged folder is moved aside only now, into the temporary folder removed below: a repair that
    // fails leaves it with its marker, so the next run finds the damage again instead of a missing folder.
    if (damage !== null) await Deno.rename(folder, join(tmp, `${spec.folder}.damaged`));
    await Deno.rename(staged, folder);
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => undefined);
  }
  if (options.keepArchive === false) await Deno.remove(archivePath).catch(() => undefined);
  log(`${spec.name} ready in ${folder}`);
  return { ...paths, sha256, fetched, bytesFetched, extracted: true, repaired: damage, verification };
}

/** Verifies a folder found without a marker (e.g. unpacked by hand) and writes its marker; refuses it otherwise. */
async function adopt(
  folder: string,
  spec: DatasetSpec,
  onProgress?: (progress: DownloadProgress) => void,
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
  await writeMarker(folder, spec, { url: null, sha256: null }, checked);
  return checked.summary;
}

/**
 * {@link extractNested}, deleting the archive when it is corrupt or unreadable: extracting the same bytes again
 * cannot succeed, so the next run fetches a fresh copy. An unsafe archive is intact, only hostile, and is kept;
 * so is one whose nested zip failed (it passed the outer CRC: a fresh copy would hold the same bytes).
 */
async function extractOrDiscard(
  archivePath: string,
  tmp: string,
  options: DownloadOptions,
  log: (line: string) => void,
): Promise<void> {
  try {
    await extractNested(archivePath, tmp, options, log);
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

/** Writes the marker of a folder that just passed {@link checkDataset}. */
async function writeMarker(
  folder: string,
  spec: DatasetSpec,
  source: { url: string | null; sha256: string | null },
  checked: CheckedDataset,
): Promise<void> {
  await writeJsonAtomic(
    join(folder, VERIFIED_MARKER),
    {
      dataset: spec.name,
      url: source.url,
      archive: spec.archive,
      sha256: source.sha256,
      verified_at: new Date().toISOString(),
      summary: checked.summary,
      files: await recordFiles(folder, spec, checked.summary, checked.jsonSha256),
    } satisfies Marker,
  );
}

/** Extracts the outer archive into `tmp`, then every `.zip` it held beside itself, deleting the inner zip. */
async function extractNested(
  archivePath: string,
  tmp: string,
  options: DownloadOptions,
  log: (line: string) => void,
): Promise<void> {
  log(`extracting ${archivePath}`);
  const outer = await extractWithProgress(archivePath, tmp, options);
  for (const rel of outer.files.filter((file) => file.toLowerCase().endsWith(".zip"))) {
    const inner = join(tmp, rel);
    log(`extracting nested ${rel}`);
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

async function extractWithProgress(zipPath: string, destDir: string, options: DownloadOptions) {
  const meter = new Meter("extract", basename(zipPath), options.onProgress);
  let total = 0;
  let done = 0;
  const result = await extractZip(zipPath, destDir, {
    signal: options.signal,
    onStart: (bytes) => total = bytes,
    onBytes: (n) => meter.update(done += n, total),
  });
  meter.finish(result.bytes, result.declaredBytes);
  return result;
}

// ---------------------------------------------------------------------------------------------------------
// HTTP

interface PartMeta {
  url: string;
  /** ETag or Last-Modified of the response the .part started from, sent back as If-Range. */
  validator: string | null;
  total: number | null;
}

/** What {@link fetchArchive} did. */
interface FetchResult {
  sha256: string;
  /** Size of the finished archive. */
  bytes: number;
  /** Bytes received in this call (a resumed download receives only the rest). */
  bytesFetched: number;
  /** HTTP requests made. */
  requests: number;
}

/**
 * Streams `url` to `<archivePath>.part`, resuming from its size with a `Range` request (guarded by `If-Range`
 * so a file changed upstream restarts from zero), retrying with exponential backoff, and renames it to
 * `archivePath` once its size matches Content-Length / Content-Range. The sha256 is computed on the way
 * (the bytes already on disk are hashed from the file, never fetched again).
 *
 * @param url Where to fetch from.
 * @param archivePath Where the complete archive goes.
 * @param options Retries, backoff, stall timeout, progress and abort signal.
 * @throws {DownloadError} naming the URL when the server refuses or the retries run out.
 */
async function fetchArchive(
  url: string,
  archivePath: string,
  options: Omit<DownloadOptions, "dest" | "url" | "keepArchive"> = {},
): Promise<FetchResult> {
  const retries = options.retries ?? 6;
  const baseDelay = options.retryDelayMs ?? 1000;
  const stallTimeout = options.stallTimeoutMs ?? 60_000;
  const partPath = `${archivePath}.part`;
  const metaPath = `${partPath}.json`;
  let meta = await readJson<PartMeta>(metaPath);
  if (meta?.url !== url && (await exists(partPath))) {
    // A .part from another URL is another file: resuming would splice two archives.
    await Deno.remove(partPath);
    meta = null;
  }
  await Deno.mkdir(dirname(archivePath), { recursive: true });

  let hash = createHash("sha256");
  let hashed = 0;
  let requests = 0;
  let bytesFetched = 0;
  let failures = 0;
  const meter = new Meter("download", basename(archivePath), options.onProgress);

  const restart = async () => {
    await Deno.writeFile(partPath, new Uint8Array());
    hash = createHash("sha256");
    hashed = 0;
  };
  const fail = async (reason: string) => {
    failures++;
    if (failures > retries) {
      throw new DownloadError(`${url}: ${reason} (gave up after ${failures} attempts; run again to resume)`);
    }
    const delay = Math.min(30_000, baseDelay * 2 ** (failures - 1)) * (0.5 + Math.random() / 2);
    options.log?.(
      `${url}: ${reason}; retrying in ${(delay / 1000).toFixed(1)} s (${failures} of ${retries})`,
    );
    await sleep(delay, options.signal);
  };

  while (true) {
    options.signal?.throwIfAborted();
    const size = (await fileSize(partPath)) ?? 0;
    if (hashed !== size) {
      hash = createHash("sha256");
      hashed = await hashFileInto(partPath, hash);
    }
    if (meta?.total != null && size === meta.total) break;
    if (meta?.total != null && size > meta.total) {
      await restart();
      continue;
    }

    // Byte offsets only mean something on the raw file: no transparent decompression.
    const headers = new Headers({ "Accept-Encoding": "identity" });
    if (size > 0) {
      headers.set("Range", `bytes=${size}-`);
      if (meta?.validator) headers.set("If-Range", meta.validator);
    }
    const attempt = new AbortController();
    const signal = options.signal ? AbortSignal.any([attempt.signal, options.signal]) : attempt.signal;
    let stalled = false;
    const arm = () => setTimeout(() => (stalled = true, attempt.abort()), stallTimeout);
    let timer = arm();
    const resetTimer = () => {
      clearTimeout(timer);
      timer = arm();
    };
    let response: Response;
    try {
      requests++;
      response = await fetch(url, { headers, signal });
    } catch (error) {
      clearTimeout(timer);
      options.signal?.throwIfAborted();
      // A name that does not resolve (offline, or a typo) will not resolve in a minute either: no retries.
      const reason = `${message(error)}${
        error instanceof Error && error.cause ? ` (${message(error.cause)})` : ""
      }`;
      if (!stalled && /dns error|failed to lookup address|name or service not known/i.test(reason)) {
        throw new DownloadError(`${url}: cannot resolve ${new URL(url).hostname} (offline?): ${reason}`);
      }
      await fail(stalled ? `no response in ${stallTimeout / 1000} s` : reason);
      continue;
    }

    /** A response whose body is not wanted: drop it, and its stall timer with it. */
    const discard = async () => {
      await response.body?.cancel();
      clearTimeout(timer);
    };

    if (response.status === 416 && size > 0) {
      await discard();
      const total = parseContentRange(response.headers.get("content-range"))?.total ?? null;
      if (total === size) {
        meta = { url, validator: meta?.validator ?? null, total };
        break;
      }
      await restart();
      continue;
    }
    if (!response.ok) {
      await discard();
      const reason = `HTTP ${response.status} ${response.statusText}`.trim();
      if (response.status >= 500 || [408, 425, 429].includes(response.status)) {
        await fail(reason);
        continue;
      }
      throw new DownloadError(`${url}: ${reason}`);
    }

    let total: number | null;
    if (response.status === 206) {
      const range = parseContentRange(response.headers.get("content-range"));
      if (!range || range.start !== size) {
        await discard();
        await restart();
        await fail(`server answered range ${response.headers.get("content-range")} to bytes=${size}-`);
        continue;
      }
      total = range.total;
    } else {
      // 200: the server ignored the range, or If-Range said the file changed: start over.
      if (size > 0) await restart();
      const length = response.headers.get("content-length");
      total = length !== null && /^\d+$/.test(length) ? Number(length) : null;
    }
    meta = { url, validator: response.headers.get("etag") ?? response.headers.get("last-modified"), total };
    await writeJsonAtomic(metaPath, meta);

    const start = hashed;
    let position = hashed;
    const file = await Deno.open(partPath, { write: true, create: true });
    let streamError: unknown = null;
    try {
      await file.seek(position, Deno.SeekMode.Start);
      for await (const chunk of response.body ?? new ReadableStream<Uint8Array>()) {
        resetTimer();
        let written = 0;
        while (written < chunk.length) written += await file.write(chunk.subarray(written));
        hash.update(chunk);
        position += chunk.length;
        hashed = position;
        bytesFetched += chunk.length;
        meter.update(position, total, bytesFetched);
      }
    } catch (error) {
      streamError = error;
    } finally {
      clearTimeout(timer);
      file.close();
    }
    if (position > start) failures = 0; // progress was made: only consecutive empty attempts count
    if (streamError !== null) {
      options.signal?.throwIfAborted();
      await fail(
        stalled ? `no data for ${stallTimeout / 1000} s` : `connection lost (${message(streamError)})`,
      );
      continue;
    }
    if (total !== null && position !== total) {
      if (position > total) await restart();
      await fail(`received ${position} of ${total} bytes`);
      continue;
    }
    if (total === null) meta = { ...meta, total: position };
    break;
  }

  const bytes = (await fileSize(partPath)) ?? 0;
  if (meta?.total != null && bytes !== meta.total) {
    throw new DownloadError(
      `${partPath}: size ${bytes} differs from the ${meta.total} bytes announced by ${url}`,
    );
  }
  meter.finish(bytes, bytes, bytesFetched);
  await Deno.rename(partPath, archivePath);
  await Deno.remove(metaPath).catch(() => undefined);
  return { sha256: hash.digest("hex"), bytes, bytesFetched, requests };
}

/** `bytes 100-199/1000` gives start 100, total 1000; the unsatisfied form `bytes *\/1000` gives start NaN. */
function parseContentRange(header: string | null): { start: number; total: number | null } | null {
  const match = header?.match(/^bytes\s+(?:(\d+)-\d+|\*)\/(\d+|\*)$/i);
  if (!match) return null;
  return {
    start: match[1] === undefined ? NaN : Number(match[1]),
    total: match[2] === "*" ? null : Number(match[2]),
  };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

// ---------------------------------------------------------------------------------------------------------
// Verification

/** What {@link checkDataset} found: the summary, and the sha256 of the JSON files it read, for the marker. */
interface CheckedDataset {
  summary: VerificationSummary;
  /** By path relative to the folder: the questions and schema files, hashed from the bytes parsed. */
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
async function checkDataset(
  folder: string,
  spec: DatasetSpec,
  onProgress?: (progress: DownloadProgress) => void,
): Promise<CheckedDataset> {
  const { questions, byDifficulty, perDb, jsonSha256 } = await readQuestions(folder, spec);

  const dbRoot = join(folder, spec.dbRoot);
  const missing = [];
  for (const dbId of perDb.keys()) {
    if (!(await exists(join(dbRoot, dbId, `${dbId}.sqlite`)))) missing.push(dbId);
  }
  if (missing.length > 0) {
    throw new DownloadError(
      `${dbRoot}: missing database${missing.length > 1 ? "s" : ""} ${
        missing.map((id) => `${id}/${id}.sqlite`).join(", ")
      }`,
    );
  }

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
 */
async function readQuestions(folder: string, spec: DatasetSpec) {
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
 */
async function findDamage(folder: string, spec: DatasetSpec, marker: Marker): Promise<string | null> {
  const problems: string[] = [];
  const files: Record<string, RecordedFile> = marker.files ?? Object.fromEntries(
    marker.summary.perDatabase.map((
      { db_id, bytes },
    ) => [`${spec.dbRoot}/${db_id}/${db_id}.sqlite`, { bytes }]),
  );
  for (const [rel, recorded] of Object.entries(files)) {
    const path = join(folder, rel);
    const bytes = await fileSize(path);
    if (bytes === null) problems.push(`${rel} is missing`);
    else if (bytes !== recorded.bytes) problems.push(`${rel} is ${bytes} bytes, not ${recorded.bytes}`);
    else if (recorded.sha256 && (await fileSha256(path)) !== recorded.sha256) {
      problems.push(`${rel} has changed (sha256)`);
    }
  }
  if (!marker.files && problems.length === 0) {
    try {
      const { questions, perDb } = await readQuestions(folder, spec);
      const expected = marker.summary.perDatabase.map(({ db_id, questions }) => `${db_id}:${questions}`);
      const found = [...perDb].map(([dbId, count]) => `${dbId}:${count}`);
      if (questions !== marker.summary.questions || expected.sort().join() !== found.sort().join()) {
        problems.push(`${spec.questions} has changed (its questions differ from the summary)`);
      }
    } catch (error) {
      problems.push(message(error).replace(`${folder}/`, ""));
    }
  }
  if (problems.length === 0) return null;
  return problems[0] + (problems.length > 1 ? ` and ${problems.length - 1} more` : "");
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

// ---------------------------------------------------------------------------------------------------------
// Progress

/** Rate-limits progress reports and computes rate and ETA. */
class Meter {
  #phase: DownloadProgress["phase"];
  #label: string;
  #onProgress?: (progress: DownloadProgress) => void;
  #start = performance.now();
  #last = 0;

  constructor(phase: DownloadProgress["phase"], label: string, onProgress?: (p: DownloadProgress) => void) {
    this.#phase = phase;
    this.#label = label;
    this.#onProgress = onProgress;
  }

  /** `moved` is what counts toward the rate when it differs from `done` (a resumed download). */
  update(done: number, total: number | null, moved = done, force = false): void {
    if (!this.#onProgress) return;
    const now = performance.now();
    if (!force && now - this.#last < 100) return;
    this.#last = now;
    const seconds = (now - this.#start) / 1000;
    const rate = seconds > 0 ? moved / seconds : 0;
    const etaSeconds = total !== null && rate > 0 ? Math.max(0, (total - done) / rate) : null;
    this.#onProgress({ phase: this.#phase, label: this.#label, done, total, rate, etaSeconds });
  }

  finish(done: number, total: number | null, moved = done): void {
    this.update(done, total, moved, true);
  }
}

/** Progress and log output for a terminal, see {@link terminalProgress}. */
interface TerminalOutput {
  /** Pass as the `onProgress` option. */
  onProgress: (progress: DownloadProgress) => void;
  /** Pass as the `log` option: prints a line above the bar, which is redrawn below it. */
  log: (line: string) => void;
}

/**
 * A progress bar redrawn in place on stderr (`download dev.zip [####....] 42.0%  1.2/2.9 GB  12.3 MB/s  ETA
 * 2:21`), and a logger that prints above it. The bar is drawn only when stderr is a terminal; log lines are
 * printed either way.
 */
function terminalProgress(): TerminalOutput {
  const tty = Deno.stderr.isTerminal();
  const encoder = new TextEncoder();
  const write = (text: string) => Deno.stderr.writeSync(encoder.encode(text));
  let openLine: string | null = null;
  let openKey = "";
  let finishedKey = "";
  return {
    onProgress: (progress) => {
      if (!tty) return;
      const key = `${progress.phase}:${progress.label}`;
      const finished = progress.total !== null && progress.done >= progress.total;
      // A phase reports its end once more when it finishes: draw it once.
      if (finished && key === finishedKey) return;
      const line = formatProgress(progress);
      write(`${openLine !== null && openKey !== key ? "\n" : ""}\r\x1b[2K${line}${finished ? "\n" : ""}`);
      openLine = finished ? null : line;
      openKey = key;
      if (finished) finishedKey = key;
    },
    log: (line) => {
      if (openLine === null) return write(`${line}\n`);
      write(`\r\x1b[2K${line}\n${openLine}`);
    },
  };
}

/**
 * One line describing a progress report, for terminals and notebooks.
 *
 * @param progress A report from the `onProgress` option.
 */
export function formatProgress(progress: DownloadProgress): string {
  const bytes = progress.phase !== "verify";
  const amount = (n: number) => bytes ? formatBytes(n) : String(n);
  const parts = [`${progress.phase} ${progress.label}`];
  if (progress.total !== null && progress.total > 0) {
    const fraction = Math.min(1, progress.done / progress.total);
    const width = 24;
    const filled = Math.round(fraction * width);
    parts.push(
      `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${(fraction * 100).toFixed(1).padStart(5)}%`,
    );
    parts.push(`${amount(progress.done)}/${amount(progress.total)}`);
  } else {
    parts.push(amount(progress.done));
  }
  if (progress.rate > 0) {
    parts.push(bytes ? `${formatBytes(progress.rate)}/s` : `${progress.rate.toFixed(1)}/s`);
  }
  if (progress.etaSeconds !== null && progress.total !== null && progress.done < progress.total) {
    parts.push(`ETA ${formatDuration(progress.etaSeconds)}`);
  }
  return parts.join("  ");
}

function formatBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (x: number) => String(x).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

// ---------------------------------------------------------------------------------------------------------
// Files

async function fileSize(path: string): Promise<number | null> {
  try {
    return (await Deno.stat(path)).size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

async function readJson<T>(path: string): Promise<T | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    // A torn marker or meta file (killed mid-write) is treated as absent, which redoes the work safely.
    return null;
  }
}

/** Reads and parses a JSON file the dataset needs, with the sha256 of the bytes parsed. */
async function readJsonStrict(path: string): Promise<{ value: unknown; sha256: string }> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new DownloadError(`${path}: ${error instanceof Deno.errors.NotFound ? "missing" : message(error)}`);
  }
  try {
    // ignoreBOM keeps a byte-order mark, as Deno.readTextFile does: JSON.parse refuses it.
    return {
      value: JSON.parse(new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes)),
      sha256: sha256Hex(bytes),
    };
  } catch (error) {
    throw new DownloadError(`${path}: invalid JSON (${message(error)})`);
  }
}

/** Feeds a file into `hash` (a resumed download's prefix, which the bytes still to come continue); its size. */
async function hashFileInto(path: string, hash: Hash): Promise<number> {
  using file = await Deno.open(path, { read: true });
  let total = 0;
  for await (const chunk of file.readable) {
    hash.update(chunk);
    total += chunk.length;
  }
  return total;
}

/** {@link fileSha256} reported as the `hash` phase: a kept multi-GB archive takes a while to hash. */
async function hashWithProgress(path: string, onProgress?: (p: DownloadProgress) => void): Promise<string> {
  const size = (await fileSize(path)) ?? 0;
  const meter = new Meter("hash", basename(path), onProgress);
  let done = 0;
  const sha256 = await fileSha256(path, (n) => meter.update(done += n, size));
  meter.finish(size, size);
  return sha256;
}

/** Removes `.tmp-<name>-*` folders left by a run that was killed mid-extraction. */
async function removeStaleTemps(dest: string, name: string): Promise<void> {
  for await (const entry of Deno.readDir(dest)) {
    if (entry.isDirectory && entry.name.startsWith(`.tmp-${name}-`)) {
      await Deno.remove(join(dest, entry.name), { recursive: true }).catch(() => undefined);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// CLI

const USAGE =
  `usage: deno task download dev|train|mini-dev [--dest data] [--url URL] [--quiet] [--remove-archive]

  --dest DIR         folder for the dataset and downloads/ (default: data)
  --url URL          archive URL (default: $TEXT2SQL_BIRD_URL_DEV / _TRAIN / _MINI_DEV, then the official one)
  --quiet            no progress bar and no log lines; the summary table is still printed
  --remove-archive   delete the archive once extracted (its sha256 stays in downloads/manifest.json)`;

/**
 * `deno task download` entry point: parses `argv` (the arguments after `download`), runs
 * {@link downloadDataset} with a terminal progress bar on stderr (only when stderr is a TTY and without
 * `--quiet`) and prints the verification summary on stdout.
 *
 * @param argv e.g. `["dev", "--dest", "data"]`.
 * @returns The exit code: 0 done, 1 failed (one line on stderr), 2 usage error.
 */
export async function downloadCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        dest: { type: "string", default: "data" },
        url: { type: "string" },
        quiet: { type: "boolean", short: "q", default: false },
        "remove-archive": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    console.error(`download: ${message(error)}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(`download: expected exactly one dataset, got ${positionals.length}\n${USAGE}`);
    return 2;
  }
  let spec: DatasetSpec;
  try {
    spec = datasetSpec(positionals[0]);
  } catch (error) {
    console.error(`download: ${message(error)}\n${USAGE}`);
    return 2;
  }
  const quiet = values.quiet;
  const terminal = quiet ? undefined : terminalProgress();
  try {
    const result = await downloadDataset(spec.name, {
      dest: values.dest,
      url: values.url,
      keepArchive: !values["remove-archive"],
      onProgress: terminal?.onProgress,
      log: terminal?.log,
    });
    const shown = relative(Deno.cwd(), result.folder);
    console.log(formatSummary(result.verification, shown.startsWith("..") ? result.folder : shown));
    if (!quiet) {
      console.error(`questions: ${result.questionsPath}\ndatabases: ${result.dbRoot}`);
    }
    return 0;
  } catch (error) {
    console.error(`download ${spec.name}: ${message(error)}`);
    return 1;
  }
}

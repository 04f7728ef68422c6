/**
 * BIRD archives: resumable download, sha256 manifest, streaming extraction (outer zip, then the nested
 * databases zip), an atomic finish and a verification pass. This file is the order of those steps; each step
 * lives in its own file (`http_fetch.ts`, `extract.ts`, `verify.ts`, `manifest.ts`).
 *
 * `deno task download dev|train|mini-dev [--dest data] [--url URL] [--quiet] [--remove-archive]`
 * (`lib/cli/download.ts`) and notebooks call {@link downloadDataset}. Layout produced (the contract in
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

import { join, resolve } from "node:path";
import { exists } from "../util/mod.ts";
import { hashWithProgress } from "./archive_files.ts";
import { type DatasetName, type DatasetSpec, datasetSpec } from "./bird_archives.ts";
import { extractOrDiscard, removeStaleTemps, stagedFolder } from "./extract.ts";
import { fetchArchive, type FetchOptions } from "./http_fetch.ts";
import {
  adopt,
  ArchiveManifest,
  completeMarker,
  findDamage,
  readMarker,
  VERIFIED_MARKER,
  writeMarker,
} from "./manifest.ts";
import { checkDataset, type VerificationSummary } from "./verify.ts";

/** Options of {@link downloadDataset}. */
export interface DownloadOptions extends FetchOptions {
  /** Folder that receives the dataset folder and `downloads/`; default `data`. */
  dest?: string;
  /** Archive URL; default from the dataset's environment variable, then the official URL. */
  url?: string;
  /** Keep the archive under `<dest>/downloads/` after a successful extraction; default true. */
  keepArchive?: boolean;
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

/** The paths of one call, fixed before any step runs. */
type Paths = Pick<
  DownloadResult,
  "dataset" | "folder" | "questionsPath" | "tablesPath" | "dbRoot" | "archivePath" | "url"
>;

/** The archive's sha256 and what fetching it took. */
type Obtained = Pick<DownloadResult, "sha256" | "fetched" | "bytesFetched"> & { sha256: string };

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
 *   dest: "../data",
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
  const paths = pathsOf(spec, dest, options.url ?? Deno.env.get(spec.envVar) ?? spec.url);
  const log = options.log ?? (() => {});
  const untouched = (sha256: string | null, verification: VerificationSummary): DownloadResult => ({
    ...paths,
    sha256,
    fetched: false,
    bytesFetched: 0,
    extracted: false,
    repaired: null,
    verification,
  });

  const verified = await readMarker(paths.folder);
  // The marker only says the folder was whole once: a file deleted or truncated since must not pass as
  // verified. Sizes and the JSON files' hashes are cheap; the databases are not read.
  const damage = verified ? await findDamage(paths.folder, spec, verified) : null;
  if (verified && damage === null) {
    await completeMarker(paths.folder, spec, verified);
    log(
      `${paths.folder} is already downloaded and verified (${VERIFIED_MARKER}, files unchanged); nothing to do`,
    );
    return untouched(verified.sha256, verified.summary);
  }
  if (damage !== null) {
    // The lines that follow say where from: the kept archive (checked against the manifest) or the URL.
    log(`${paths.folder} has changed since it was verified (${damage}); extracting it again`);
  } else if (await exists(paths.folder)) {
    log(`${paths.folder} exists without ${VERIFIED_MARKER}: verifying it in place`);
    return untouched(null, await adopt(paths.folder, spec, options.onProgress));
  }

  const downloads = join(dest, "downloads");
  await Deno.mkdir(downloads, { recursive: true });
  const manifest = await ArchiveManifest.read(downloads);
  const known = manifest.has(spec.archive);
  const obtained = await obtainArchive(paths, options, log);
  manifest.check(spec.archive, paths.archivePath, obtained.sha256);

  await removeStaleTemps(dest, spec.name);
  const verification = await installFromArchive(spec, dest, {
    paths,
    sha256: obtained.sha256,
    // Recorded only once the CRCs passed, so the manifest never pins a corrupt download.
    record: known ? undefined : () => manifest.record(spec.archive, { ...paths, sha256: obtained.sha256 }),
    damaged: damage !== null,
    options,
    log,
  });
  if (options.keepArchive === false) await Deno.remove(paths.archivePath).catch(() => undefined);
  log(`${spec.name} ready in ${paths.folder}`);
  return { ...paths, ...obtained, extracted: true, repaired: damage, verification };
}

function pathsOf(spec: DatasetSpec, dest: string, url: string): Paths {
  const folder = join(dest, spec.folder);
  return {
    dataset: spec.name,
    folder,
    questionsPath: join(folder, spec.questions),
    tablesPath: join(folder, spec.tables),
    dbRoot: join(folder, spec.dbRoot),
    archivePath: join(dest, "downloads", spec.archive),
    url,
  };
}

/** The archive kept from before (hashed again), or fetched now. */
async function obtainArchive(
  paths: Paths,
  options: DownloadOptions,
  log: (line: string) => void,
): Promise<Obtained> {
  if (await exists(paths.archivePath)) {
    log(`using ${paths.archivePath}, downloaded before`);
    return {
      sha256: await hashWithProgress(paths.archivePath, options.onProgress),
      fetched: false,
      bytesFetched: 0,
    };
  }
  log(`downloading ${paths.url} to ${paths.archivePath}`);
  const got = await fetchArchive(paths.url, paths.archivePath, options);
  return { sha256: got.sha256, fetched: got.requests > 0, bytesFetched: got.bytesFetched };
}

/** What {@link installFromArchive} needs besides the layout. */
interface Install {
  paths: Paths;
  sha256: string;
  /** Records the archive in the manifest, once the CRCs passed; absent when it is recorded already. */
  record?: () => Promise<void>;
  /** True when a verified folder is in the way, to be replaced once the new copy passed. */
  damaged: boolean;
  options: DownloadOptions;
  log: (line: string) => void;
}

/**
 * Extracts the archive into a temporary folder, verifies and marks the copy, then renames it into place;
 * the temporary folder is removed whatever happens.
 */
async function installFromArchive(
  spec: DatasetSpec,
  dest: string,
  step: Install,
): Promise<VerificationSummary> {
  const { paths, options, log } = step;
  const tmp = join(dest, `.tmp-${spec.name}-${crypto.randomUUID().slice(0, 8)}`);
  try {
    await extractOrDiscard(paths.archivePath, tmp, {
      onProgress: options.onProgress,
      signal: options.signal,
      log,
    });
    const staged = await stagedFolder(tmp, spec.folder, paths.archivePath);
    await step.record?.();
    log(`verifying ${spec.folder}`);
    const checked = await checkDataset(staged, spec, options.onProgress);
    await writeMarker(staged, spec, { url: paths.url, sha256: step.sha256, checked });
    // The damaged folder is moved aside only now, into the temporary folder removed below: a repair that
    // fails leaves it with its marker, so the next run finds the damage again instead of a missing folder.
    if (step.damaged) await Deno.rename(paths.folder, join(tmp, `${spec.folder}.damaged`));
    await Deno.rename(staged, paths.folder);
    return checked.summary;
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => undefined);
  }
}

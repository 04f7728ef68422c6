/**
 * The embedded default for PostgreSQL: a PGlite data folder holding the converted BIRD databases, built once by
 * the same loader as a server load (same DDL, same values, same verification, same manifest and read-only role)
 * and cached as the tarball PGlite's `dumpDataDir("gzip")` writes, under `<cacheRoot()>/pglite/`, keyed by the
 * source files' sha256, the loader version and the PGlite version. A worker opens it with
 * `new PGlite({ loadDataDir: new Blob([await Deno.readFile(path)]) })` (or {@linkcode openPglite}).
 *
 * @module
 */
import { join } from "node:path";
import { cacheRoot, exists, fileSha256, sha256Hex } from "../util/mod.ts";
import { openPglite } from "./connect.ts";
import { type LoadReport, loadSqliteDatabases } from "./load.ts";
import { LOADER_VERSION } from "./manifest.ts";
import { ensureReadOnlyRole } from "./roles.ts";
import { listDbIds, sqlitePath } from "./sqlite_source.ts";

/** The PGlite package version the data folder is made with (its format follows PGlite's PostgreSQL). */
export const PGLITE_VERSION = "0.5.16";

/** Options of {@linkcode ensurePgliteData}. */
export interface PgliteDataOptions {
  dbRoot: string;
  /** Databases to include (default: all under `dbRoot`). */
  dbIds?: string[];
  /** Cache folder (default `<cacheRoot()>/pglite`). */
  cacheDir?: string;
  /** Rebuild even when cached. */
  rebuild?: boolean;
  log?: (line: string) => void;
}

/** The cached data folder. */
export interface PgliteData {
  /** The `.tar.gz` to pass as `loadDataDir`. */
  path: string;
  /** The cache key (sha256 hex). */
  key: string;
  /** True when this call built it. */
  built: boolean;
  /** The load report when built. */
  report: LoadReport | null;
  seconds: number;
}

/** The cache key of a set of source databases. */
export async function pgliteDataKey(dbRoot: string, dbIds: string[]): Promise<string> {
  const sources: [string, string][] = [];
  for (const id of [...dbIds].sort()) sources.push([id, await fileSha256(sqlitePath(dbRoot, id))]);
  return sha256Hex(JSON.stringify({ loader: LOADER_VERSION, pglite: PGLITE_VERSION, sources }));
}

/** Build (or find cached) the PGlite data folder for these BIRD databases. */
export async function ensurePgliteData(options: PgliteDataOptions): Promise<PgliteData> {
  const t0 = performance.now();
  const dbIds = options.dbIds?.length ? options.dbIds : listDbIds(options.dbRoot);
  const key = await pgliteDataKey(options.dbRoot, dbIds);
  const dir = options.cacheDir ?? join(cacheRoot(), "pglite");
  const path = join(dir, `${key.slice(0, 32)}.tar.gz`);
  if (!options.rebuild && await exists(path)) {
    return { path, key, built: false, report: null, seconds: (performance.now() - t0) / 1000 };
  }
  const conn = await openPglite();
  let report: LoadReport;
  try {
    report = await loadSqliteDatabases(conn, {
      dialect: "postgresql",
      dbRoot: options.dbRoot,
      dbIds,
      log: options.log,
    });
    // No login from outside: the role is what a worker `SET ROLE`s to.
    await ensureReadOnlyRole(conn, "postgresql", {
      name: "text2sql_ro",
      database: "postgres",
      tables: report.tables.map((t) => t.tableName),
      password: null,
      statementTimeoutS: 60,
    });
    await conn.exec("CHECKPOINT");
    const blob = await conn.db.dumpDataDir("gzip");
    await Deno.mkdir(dir, { recursive: true });
    const tmp = `${path}.${crypto.randomUUID()}.tmp`;
    await Deno.writeFile(tmp, new Uint8Array(await blob.arrayBuffer()));
    await Deno.rename(tmp, path);
  } finally {
    await conn.close();
  }
  return { path, key, built: true, report, seconds: (performance.now() - t0) / 1000 };
}

/** Open a cached PGlite data folder (every value as text, like {@linkcode openPglite}). */
export async function openPgliteData(path: string): ReturnType<typeof openPglite> {
  return await openPglite({ loadDataDir: new Blob([await Deno.readFile(path)]) });
}

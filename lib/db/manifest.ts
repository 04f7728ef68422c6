/**
 * The manifest the loader writes into the target database, one row per loaded table, so that engines can list
 * a BIRD database's tables (`db_id`) and key the gold cache by content (`source_sha256` + `checksum` +
 * `loader_version`), and so that a rerun knows what is done. PostgreSQL: `text2sql.loaded`; MySQL (no schemas
 * inside a database): `text2sql_loaded` in the target database.
 *
 * A row is written with `status = 'loading'` before its table is created and set to `done` only after the
 * table's data is committed and verified: a load that dies half-way leaves `loading` rows, which a rerun reloads.
 *
 * @module
 */
import type { DbConnection } from "./connect.ts";
import type { LoadDialect } from "./names.ts";

/** The loader's version, part of the manifest and of the PGlite cache key: bump when loaded content changes. */
export const LOADER_VERSION = "1";

/** The manifest table's qualified name in `dialect`. */
export function manifestTable(dialect: LoadDialect): string {
  return dialect === "postgresql" ? "text2sql.loaded" : "text2sql_loaded";
}

/** A manifest row. */
export interface ManifestRow {
  dbId: string;
  /** The table's name in the target (`hero_power`). */
  tableName: string;
  /** The table's name in the SQLite file. */
  sourceTable: string;
  sourceSha256: string;
  rows: number;
  /** The verified checksum of the table's values (`rows:hex`). */
  checksum: string;
  status: "loading" | "done";
  /** JSON: `[[source column, target column, type], …]`. */
  columns: string;
  /** JSON array of the conversion notes. */
  notes: string;
  loaderVersion: string;
}

/** Create the manifest table if missing. */
export async function ensureManifest(conn: DbConnection, dialect: LoadDialect): Promise<void> {
  if (dialect === "postgresql") {
    await conn.exec(`CREATE SCHEMA IF NOT EXISTS text2sql;
CREATE TABLE IF NOT EXISTS text2sql.loaded (
  db_id text NOT NULL, table_name text NOT NULL, source_table text NOT NULL, source_sha256 text NOT NULL,
  rows bigint NOT NULL, checksum text NOT NULL, status text NOT NULL, columns text NOT NULL, notes text NOT NULL,
  loaded_at timestamptz NOT NULL DEFAULT now(), loader_version text NOT NULL, PRIMARY KEY (table_name))`);
  } else {
    await conn.exec(`CREATE TABLE IF NOT EXISTS text2sql_loaded (
  db_id VARCHAR(255) NOT NULL, table_name VARCHAR(64) NOT NULL, source_table VARCHAR(255) NOT NULL,
  source_sha256 CHAR(64) NOT NULL, \`rows\` BIGINT NOT NULL, checksum VARCHAR(64) NOT NULL,
  status VARCHAR(16) NOT NULL, columns LONGTEXT NOT NULL, notes LONGTEXT NOT NULL,
  loaded_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), loader_version VARCHAR(32) NOT NULL,
  PRIMARY KEY (table_name)) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
  }
}

/** Every manifest row (empty when the table does not exist yet). */
export async function readManifest(conn: DbConnection, dialect: LoadDialect): Promise<ManifestRow[]> {
  const rowsCol = dialect === "mysql" ? "`rows`" : "rows";
  let r;
  try {
    r = await conn.query(
      `SELECT db_id, table_name, source_table, source_sha256, ${rowsCol}, checksum, status, columns, notes, ` +
        `loader_version FROM ${manifestTable(dialect)} ORDER BY db_id, table_name`,
    );
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "42P01" || code === "3F000" || code === "ER_NO_SUCH_TABLE") return [];
    throw e;
  }
  return r.rows.map((x) => ({
    dbId: x[0]!,
    tableName: x[1]!,
    sourceTable: x[2]!,
    sourceSha256: x[3]!,
    rows: Number(x[4]),
    checksum: x[5]!,
    status: x[6] as "loading" | "done",
    columns: x[7]!,
    notes: x[8]!,
    loaderVersion: x[9]!,
  }));
}

/** Insert or replace a manifest row (its `loaded_at` is the server's now). */
export async function writeManifest(
  conn: DbConnection,
  dialect: LoadDialect,
  row: ManifestRow,
): Promise<void> {
  const values = [
    row.dbId,
    row.tableName,
    row.sourceTable,
    row.sourceSha256,
    String(row.rows),
    row.checksum,
    row.status,
    row.columns,
    row.notes,
    row.loaderVersion,
  ];
  if (dialect === "postgresql") {
    await conn.query(
      `INSERT INTO text2sql.loaded (db_id, table_name, source_table, source_sha256, rows, checksum, status, columns,
  notes, loader_version, loaded_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10, now())
  ON CONFLICT (table_name) DO UPDATE SET db_id = EXCLUDED.db_id, source_table = EXCLUDED.source_table,
  source_sha256 = EXCLUDED.source_sha256, rows = EXCLUDED.rows, checksum = EXCLUDED.checksum,
  status = EXCLUDED.status, columns = EXCLUDED.columns, notes = EXCLUDED.notes,
  loader_version = EXCLUDED.loader_version, loaded_at = now()`,
      values,
    );
  } else {
    await conn.query(
      "REPLACE INTO text2sql_loaded (db_id, table_name, source_table, source_sha256, `rows`, checksum, status, " +
        "columns, notes, loader_version, loaded_at) VALUES (?,?,?,?,?,?,?,?,?,?, CURRENT_TIMESTAMP(6))",
      values,
    );
  }
}
